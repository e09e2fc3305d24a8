/**
 * Shared NAT bindings (PostgreSQL) and the UDP relay between instances: newest binding wins with
 * its holder; a send for a binding held elsewhere is relayed to the holder's socket; a silent
 * holder makes the sender fall back to its own socket.
 * Needs PostgreSQL: skipped with the reason when none can be had, a failure under CI.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { findTestDatabase } from '../../store/postgres/test-server.ts';
import { openStore, type Store } from '../../store/index.ts';
import { openClusterLink, type ClusterLink } from '../cluster/context.ts';
import type { NatBindingRecord } from './binding-table.ts';
import { startNatRelay } from './cluster-relay.ts';
import { openPgNatBindingTable } from './pg-binding-table.ts';
import type { DatagramSender } from './udp-transport.ts';

const db = await findTestDatabase();

function record(deviceId: string, port: number, refreshedAt: string): NatBindingRecord {
  return {
    deviceId,
    username: deviceId,
    address: '198.51.100.7',
    port,
    family: 'IPv4',
    firstSeenAt: '2026-01-01T00:00:00.000Z',
    refreshedAt,
    changedAt: refreshedAt,
    integrity: true,
    connectionRequestBinding: true,
  };
}

/** A local socket stand-in that records what it sent. */
function recorder(): DatagramSender & { sent: { data: string; port: number; address: string }[] } {
  const sent: { data: string; port: number; address: string }[] = [];
  return {
    sent,
    async send(data, port, address) {
      sent.push({ data: Buffer.from(data).toString('latin1'), port, address });
    },
  };
}

describe('shared NAT bindings and the UDP relay (PostgreSQL)', { skip: db.kind === 'unavailable' && !process.env.CI ? db.reason : false }, () => {
  const schema = `natpg_${randomBytes(3).toString('hex')}`;
  const namespace = `natpg_${randomBytes(3).toString('hex')}`;
  const stores: Store[] = [];
  const links: ClusterLink[] = [];

  /** One "instance": its own store object and cluster link. */
  async function instance(): Promise<ClusterLink> {
    if (db.kind !== 'ready') throw new Error(db.kind === 'unavailable' ? db.reason : '');
    const store = await openStore({ kind: 'postgres', url: db.url, schema, createSchema: true });
    stores.push(store);
    const link = await openClusterLink({ url: db.url, store, namespace });
    links.push(link);
    return link;
  }

  before(() => {
    if (db.kind !== 'ready') assert.fail(db.kind === 'unavailable' ? db.reason : '');
  });

  after(async () => {
    for (const l of links) await l.close();
    for (const s of stores) await s.close();
    if (db.kind !== 'ready') return;
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('keeps the newest binding with the instance that received it; a late older write does not take it back', async () => {
    const [a, b] = [await instance(), await instance()];
    // both migrate at once: one applies, the other finds it done
    const [ta, tb] = await Promise.all([
      openPgNatBindingTable({ pool: a.pool(), schema: a.schema, instance: a.origin }),
      openPgNatBindingTable({ pool: b.pool(), schema: b.schema, instance: b.origin }),
    ]);
    await ta.save([record('dev-1', 4001, '2026-01-01T00:01:00.000Z'), record('dev-2', 4002, '2026-01-01T00:01:00.000Z')]);
    assert.equal((await tb.get('dev-1'))?.holder, a.origin);
    // the device's keep-alives now reach instance B
    await tb.save([record('dev-1', 5001, '2026-01-01T00:02:00.000Z')]);
    // instance A's batch of older refreshes lands late
    await ta.save([record('dev-1', 4001, '2026-01-01T00:01:30.000Z')]);
    const now = await ta.get('dev-1');
    assert.equal(now?.port, 5001);
    assert.equal(now?.holder, b.origin);
    assert.equal(now?.refreshedAt, '2026-01-01T00:02:00.000Z');
    assert.equal((await tb.load()).length, 2);
    assert.equal(await ta.delete('dev-2'), true);
    assert.equal(await tb.get('dev-2'), undefined);
  });

  it('relays a send to the holder, which sends from its own socket; a silent holder means a local send', async () => {
    const [a, b] = [await instance(), await instance()];
    const socketA = recorder();
    const socketB = recorder();
    const relayA = await startNatRelay({ link: a, local: socketA });
    const relayB = await startNatRelay({ link: b, local: socketB, ackTimeoutMs: 300 });
    try {
      const note = await relayB.sender.send('GET wake', 7070, '203.0.113.9', a.origin);
      assert.match(String(note), /relayed to the instance holding the binding/);
      assert.deepEqual(socketA.sent, [{ data: 'GET wake', port: 7070, address: '203.0.113.9' }]);
      assert.equal(socketB.sent.length, 0);
      assert.equal(relayA.stats.served, 1);
      assert.equal(relayB.stats.relayed, 1);
      // a binding of this very instance, or none: sent locally
      await relayB.sender.send('GET mine', 7071, '203.0.113.9', b.origin);
      await relayB.sender.send('GET none', 7072, '203.0.113.9');
      assert.deepEqual(socketB.sent.map((x) => x.port), [7071, 7072]);
      // the holder is gone: the sender falls back to its own socket and says so
      await relayA.close();
      const fallback = await relayB.sender.send('GET late', 7073, '203.0.113.9', a.origin);
      assert.match(String(fallback), /did not send it/);
      assert.deepEqual(socketB.sent.map((x) => x.port), [7071, 7072, 7073]);
      assert.equal(socketA.sent.length, 1);
      assert.equal(relayB.stats.fellBack, 1);
    } finally {
      await relayA.close();
      await relayB.close();
    }
  });
});
