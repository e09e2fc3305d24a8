/**
 * Webhooks against a local receiver (127.0.0.1:0): signature, headers, retries with back-off after
 * failures, giving up, the delivery log, subscriptions.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { openSqliteProvisioningStore, type SqliteProvisioningStore } from '../../src/store/provisioning/sqlite.ts';
import {
  DELIVERY_HEADER,
  EVENT_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  verifyWebhookSignature,
  WebhookDispatcher,
  webhookRetryDelayMs,
} from '../../src/provisioning/webhooks.ts';
import type { Task } from '../../src/store/types.ts';
import { makeFixture } from './fixtures.ts';
import { markRelayed } from '../../src/acs/cluster/relayed.ts';

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A receiver that answers `failures` requests with 500, then 204. */
class Receiver {
  received: Received[] = [];
  failures = 0;
  private server!: Server;
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body, at: Date.now() });
        if (this.failures > 0) {
          this.failures--;
          res.writeHead(500).end('try later');
        } else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  stop(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

async function waitFor<T>(probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const SECRET = 'a-very-secret-signing-key';

describe('webhooks', () => {
  let rx: Receiver;
  let store: SqliteProvisioningStore;
  let dispatcher: WebhookDispatcher;
  before(async () => {
    rx = new Receiver();
    await rx.start();
  });
  after(() => rx.stop());
  beforeEach(async () => {
    await dispatcher?.stop();
    await store?.close();
    rx.received = [];
    rx.failures = 0;
    store = openSqliteProvisioningStore({ file: ':memory:' });
    dispatcher = new WebhookDispatcher({ store, baseDelayMs: 40, maxDelayMs: 200, pollMs: 15, timeoutMs: 2000 });
    dispatcher.start();
  });
  after(async () => {
    await dispatcher.stop();
    await store.close();
  });

  it('POSTs a signed JSON body that the receiver can verify', async () => {
    const hook = await store.createWebhook({ name: 'ops', url: rx.url, secret: SECRET, events: ['device.booted'], enabled: true });
    const [d] = await dispatcher.publish('device.booted', { deviceId: 'X-1' });
    const got = await waitFor(() => rx.received[0]);
    assert.equal(got.headers['content-type'], 'application/json');
    assert.equal(got.headers[EVENT_HEADER], 'device.booted');
    const body = JSON.parse(got.body) as { id: string; event: string; webhookId: string; data: { deviceId: string } };
    assert.deepEqual([body.event, body.webhookId, body.data.deviceId], ['device.booted', hook.id, 'X-1']);
    assert.equal(got.headers[DELIVERY_HEADER], body.id);
    const ts = String(got.headers[TIMESTAMP_HEADER]);
    const sig = String(got.headers[SIGNATURE_HEADER]);
    assert.match(sig, /^sha256=[0-9a-f]{64}$/);
    assert.equal(verifyWebhookSignature(SECRET, ts, got.body, sig), true);
    assert.equal(verifyWebhookSignature('wrong-secret-wrong-secret', ts, got.body, sig), false, 'another secret does not verify');
    assert.equal(verifyWebhookSignature(SECRET, ts, got.body.replace('X-1', 'X-2'), sig), false, 'a changed body does not verify');
    assert.equal(verifyWebhookSignature(SECRET, ts, got.body, sig, (Number(ts) + 3600) * 1000), false, 'an old timestamp is refused');
    const stored = await waitFor(async () => ((await store.getDelivery(d.id))?.status === 'delivered' ? store.getDelivery(d.id) : null));
    assert.equal(stored!.attempts, 1);
    assert.equal(stored!.lastStatusCode, 204);
  });

  it('retries with back-off after failures, with the same delivery id, and logs the attempts', async () => {
    await store.createWebhook({ name: 'flaky', url: rx.url, secret: SECRET, events: ['*'], enabled: true });
    rx.failures = 2;
    const [d] = await dispatcher.publish('fault', { deviceId: 'X-2', code: '9002' });
    const done = await waitFor(async () => {
      const x = await store.getDelivery(d.id);
      return x?.status === 'delivered' ? x : null;
    });
    assert.equal(done.attempts, 3);
    assert.equal(rx.received.length, 3);
    const ids = new Set(rx.received.map((r) => r.headers[DELIVERY_HEADER]));
    assert.equal(ids.size, 1, 'receivers can deduplicate by delivery id');
    // the gaps grow: ~40 ms then ~80 ms
    const gap1 = rx.received[1].at - rx.received[0].at;
    const gap2 = rx.received[2].at - rx.received[1].at;
    assert.ok(gap1 >= 35, `first retry after ${gap1} ms`);
    assert.ok(gap2 >= 70, `second retry after ${gap2} ms`);
    for (const r of rx.received) assert.equal(verifyWebhookSignature(SECRET, String(r.headers[TIMESTAMP_HEADER]), r.body, String(r.headers[SIGNATURE_HEADER])), true);
    assert.deepEqual([webhookRetryDelayMs(1, 40, 200), webhookRetryDelayMs(2, 40, 200), webhookRetryDelayMs(5, 40, 200)], [40, 80, 200]);
  });

  it('gives up after maxAttempts and keeps the error in the log', async () => {
    const hook = await store.createWebhook({ name: 'down', url: rx.url, secret: SECRET, events: ['fault'], enabled: true, maxAttempts: 2 });
    rx.failures = 10;
    const [d] = await dispatcher.publish('fault', { n: 1 });
    const failed = await waitFor(async () => {
      const x = await store.getDelivery(d.id);
      return x?.status === 'failed' ? x : null;
    });
    assert.deepEqual([failed.attempts, failed.lastStatusCode, failed.lastError], [2, 500, 'HTTP 500']);
    const log = await store.listDeliveries({ webhookId: hook.id });
    assert.equal(log.items.length, 1);
  });

  it('records connection failures as errors and retries them', async () => {
    const closed = new Receiver();
    await closed.start();
    const url = closed.url;
    await closed.stop();
    await store.createWebhook({ name: 'nowhere', url, secret: SECRET, events: ['fault'], enabled: true, maxAttempts: 2 });
    const [d] = await dispatcher.publish('fault', {});
    const failed = await waitFor(async () => {
      const x = await store.getDelivery(d.id);
      return x?.status === 'failed' ? x : null;
    });
    assert.equal(failed.attempts, 2);
    assert.match(failed.lastError ?? '', /ECONNREFUSED/);
  });

  it('delivers only subscribed events to enabled webhooks; a test ping reaches a disabled one', async () => {
    const on = await store.createWebhook({ name: 'on', url: rx.url, secret: SECRET, events: ['task.done'], enabled: true });
    const off = await store.createWebhook({ name: 'off', url: rx.url, secret: SECRET, events: ['*'], enabled: false });
    assert.deepEqual(await dispatcher.publish('task.failed', {}), []);
    assert.equal((await dispatcher.publish('task.done', {})).length, 1);
    assert.equal((await dispatcher.publish('ping', {}, off.id)).length, 1);
    await waitFor(() => rx.received.length === 2);
    assert.deepEqual(rx.received.map((r) => r.headers[EVENT_HEADER]).sort(), ['ping', 'task.done']);
    assert.ok(on);
  });
});

describe('webhooks fed by the ACS and provisioning events', () => {
  it('turns finished tasks into task.done / task.failed (+ fault) deliveries, once per status, not for relayed ones', async () => {
    const rx = new Receiver();
    await rx.start();
    const f = makeFixture({ webhooks: { baseDelayMs: 20, pollMs: 10 } });
    try {
      await f.p.createWebhook({ name: 'all', url: rx.url, secret: SECRET, events: ['*'], enabled: true });
      const acsEvents = new EventEmitter<{ task: [task: Task] }>();
      f.service.attach(acsEvents);
      f.service.start({ rolloutTickMs: 1000 });
      const base: Task = {
        id: '7', deviceId: 'D', type: 'reboot', payload: { type: 'reboot' }, status: 'running', result: null, faultCode: null, faultString: null,
        attempts: 1, maxAttempts: 3, nextAttemptAt: null, expiresAt: null, createdAt: '', startedAt: null, finishedAt: null, connectionRequest: false,
      };
      acsEvents.emit('task', base);
      acsEvents.emit('task', { ...base, status: 'done' });
      acsEvents.emit('task', { ...base, status: 'done' });
      acsEvents.emit('task', { ...base, id: '8', status: 'failed', faultCode: 9001, faultString: 'Request denied' });
      // relayed from another instance (it sends the webhooks for its own changes): nothing here
      acsEvents.emit('task', markRelayed({ ...base, id: '9', status: 'done' }));
      acsEvents.emit('task', markRelayed({ ...base, id: '10', status: 'failed', faultCode: 9002, faultString: 'Internal error' }));
      await waitFor(() => rx.received.length >= 3);
      await new Promise((r) => setTimeout(r, 100));
      const events = rx.received.map((r) => JSON.parse(r.body) as { event: string; data: { taskId: string } });
      assert.deepEqual(events.map((e) => `${e.event}:${e.data.taskId}`).sort(), ['fault:8', 'task.done:7', 'task.failed:8']);
    } finally {
      await f.close();
      await rx.stop();
    }
  });
});
