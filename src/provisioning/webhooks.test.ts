/**
 * Webhook dispatchers of several ACS instances sharing one provisioning store: each delivery is
 * sent once (claimed with a lease), not once per instance.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openSqliteProvisioningStore, type SqliteProvisioningStore } from '../store/provisioning/sqlite.ts';
import { WebhookDispatcher } from './webhooks.ts';

describe('webhook dispatchers on a shared store', () => {
  let store: SqliteProvisioningStore;
  let server: http.Server;
  let url: string;
  const received: string[] = [];
  before(async () => {
    store = openSqliteProvisioningStore({ file: ':memory:' });
    server = http.createServer((req, res) => {
      received.push(String(req.headers['x-switchboard-delivery']));
      req.resume();
      // answer a little later, so that both dispatchers are draining at the same time
      setTimeout(() => res.writeHead(204).end(), 20);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await store.close();
  });

  it('sends each delivery once when two instances drain together', async () => {
    await store.createWebhook({ name: 'h', url, secret: 's'.repeat(16), events: ['fault'], enabled: true });
    const a = new WebhookDispatcher({ store });
    const b = new WebhookDispatcher({ store });
    for (let i = 0; i < 6; i++) await a.publish('fault', { n: i });
    await Promise.all([a.drain(), b.drain(), a.drain(), b.drain()]);
    assert.equal(received.length, 6);
    assert.equal(new Set(received).size, 6, 'no delivery sent twice');
    const page = await store.listDeliveries({ status: 'delivered' });
    assert.equal(page.items.length, 6);
    assert.ok(page.items.every((d) => d.nextAttemptAt === null && d.attempts === 1), 'the outcome replaced the lease');
  });
});
