/**
 * The connection request gate: concurrent requests for one device send once, in one process
 * (SQLite) and across two "instances" (two cluster links) on PostgreSQL.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import { findTestDatabase } from '../../store/postgres/test-server.ts';
import { openStore, type Store } from '../../store/index.ts';
import type { ConnectionRequestResult } from '../connection-request.ts';
import { openClusterLink } from './context.ts';
import { ConnectionRequestGate, connectionRequestClaimKey } from './cr-gate.ts';

const SEND_MS = 60;

/** A send that counts its calls and answers `status` after SEND_MS. */
function counter(status: ConnectionRequestResult['status'] = 'ok') {
  const c = {
    calls: 0,
    send: async (): Promise<ConnectionRequestResult> => {
      c.calls++;
      await new Promise((r) => setTimeout(r, SEND_MS));
      return { status, transport: 'http', detail: `answered ${status}` };
    },
  };
  return c;
}

describe('ConnectionRequestGate in one process (SQLite store)', () => {
  const store = openSqliteStore({ file: ':memory:' });
  after(() => store.close());

  it('two concurrent requests for one device send once; the second gets the outcome, marked deduplicated', async () => {
    const gate = new ConnectionRequestGate({ store, settleMs: 200 });
    const c = counter('ok');
    const [a, b] = await Promise.all([gate.run('dev-1', c.send), gate.run('dev-1', c.send)]);
    assert.equal(c.calls, 1);
    const dedup = [a, b].filter((r) => r.deduplicated === true);
    assert.equal(dedup.length, 1, JSON.stringify([a, b]));
    assert.equal(dedup[0].status, 'ok');
    assert.equal(dedup[0].transport, 'http');
    assert.match(dedup[0].detail, /^deduplicated: .*answered ok/);
    assert.equal(gate.stats.sent, 1);
    assert.equal(gate.stats.deduplicated, 1);
  });

  it('other devices are not held up, and after the settle window the device can be asked again', async () => {
    const gate = new ConnectionRequestGate({ store, settleMs: 100 });
    const c = counter('ok');
    await Promise.all([gate.run('dev-2', c.send), gate.run('dev-3', c.send)]);
    assert.equal(c.calls, 2);
    // within the window: the last outcome, nothing sent
    const again = await gate.run('dev-2', c.send);
    assert.equal(again.deduplicated, true);
    assert.equal(c.calls, 2);
    await new Promise((r) => setTimeout(r, 150));
    const later = await gate.run('dev-2', c.send);
    assert.equal(later.deduplicated, undefined);
    assert.equal(c.calls, 3);
  });

  it('a failed request releases its claim at once (a retry goes out)', async () => {
    const gate = new ConnectionRequestGate({ store, settleMs: 10_000 });
    const c = counter('unreachable');
    const first = await gate.run('dev-4', c.send);
    assert.equal(first.status, 'unreachable');
    const second = await gate.run('dev-4', c.send);
    assert.equal(second.deduplicated, undefined);
    assert.equal(c.calls, 2);
  });

  it('a throwing send is an error result, and the claim is released', async () => {
    const gate = new ConnectionRequestGate({ store });
    const r = await gate.run('dev-5', async () => {
      throw new Error('boom');
    });
    assert.equal(r.status, 'error');
    assert.match(r.detail, /boom/);
    const lock = await store.acquireSessionLock(connectionRequestClaimKey('dev-5'), 'probe', 1000);
    assert.equal(lock.acquired, true);
  });

  it('a claim ends after its settle time', async () => {
    const gate = new ConnectionRequestGate({ store, settleMs: 50 });
    await gate.run('dev-7', counter('ok').send);
    const held = await store.acquireSessionLock(connectionRequestClaimKey('dev-7'), 'probe', 1000);
    assert.equal(held.acquired, false, 'claimed during the settle time');
    await new Promise((r) => setTimeout(r, 120));
    assert.equal((await store.acquireSessionLock(connectionRequestClaimKey('dev-7'), 'probe', 1000)).acquired, true);
    assert.equal(await store.releaseSessionLock(connectionRequestClaimKey('dev-7'), 'probe'), true);
    await gate.close();
  });

  it('the claim ends once the woken device\'s session is recorded (its last contact), not after the settle time', async () => {
    const gate = new ConnectionRequestGate({ store, settleMs: 20_000 });
    const device = await store.createDevice({ manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'WATCH0001' });
    const c = counter('ok');
    await gate.run(device.id, c.send);
    assert.equal((await gate.run(device.id, c.send)).deduplicated, true, 'no session yet: deduplicated');
    const at = new Date().toISOString();
    await store.commitSession({ at, device: { id: device.id, manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'WATCH0001', lastContact: at } });
    const end = Date.now() + 3000;
    while (gate.stats.endedBySession === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.equal(gate.stats.endedBySession, 1);
    await new Promise((r) => setTimeout(r, 50));
    const again = await gate.run(device.id, c.send);
    assert.equal(again.deduplicated, undefined, 'the session is over: sent again');
    assert.equal(c.calls, 2);
    await gate.close();
  });

  it('the claim does not take the device session lock itself', async () => {
    const gate = new ConnectionRequestGate({ store, settleMs: 5_000 });
    await gate.run('dev-6', counter('ok').send);
    const lock = await store.acquireSessionLock('dev-6', 'session-1', 1000);
    assert.equal(lock.acquired, true);
  });
});

const db = await findTestDatabase();

describe('ConnectionRequestGate across instances (PostgreSQL)', { skip: db.kind === 'unavailable' && !process.env.CI ? db.reason : false }, () => {
  let store: Store;
  const schema = `crgate_${randomBytes(4).toString('hex')}`;
  const namespace = `crg_${randomBytes(4).toString('hex')}`;
  const closers: (() => Promise<void>)[] = [];

  async function instance(settleMs = 500): Promise<ConnectionRequestGate> {
    assert.equal(db.kind, 'ready', db.kind === 'unavailable' ? db.reason : '');
    if (db.kind !== 'ready') throw new Error('no database');
    // each "instance" has its own store object and link, as separate processes would
    const own = await openStore({ kind: 'postgres', url: db.url, schema, createSchema: true });
    const link = await openClusterLink({ url: db.url, store: own, namespace });
    const gate = new ConnectionRequestGate({ store: own, settleMs, deferPollMs: 100 });
    closers.push(async () => {
      await gate.close();
      await link.close();
      await own.close();
    });
    return gate;
  }

  after(async () => {
    for (const c of closers.reverse()) await c();
    if (db.kind === 'ready') {
      const { default: pg } = await import('pg');
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });

  it('two instances asked at once for one device send once; the loser answers with the winner\'s outcome', async () => {
    if (db.kind !== 'ready') assert.fail(db.reason);
    const [a, b] = [await instance(), await instance()];
    store = (await openStore({ kind: 'postgres', url: db.url, schema })) as Store;
    closers.push(() => store.close());
    const c = counter('ok');
    const [ra, rb] = await Promise.all([a.run('pg-dev-1', c.send), b.run('pg-dev-1', c.send)]);
    assert.equal(c.calls, 1);
    const dedup = [ra, rb].filter((r) => r.deduplicated === true);
    assert.equal(dedup.length, 1, JSON.stringify([ra, rb]));
    assert.match(dedup[0].detail, /answered ok/, 'the outcome travelled over LISTEN/NOTIFY');

    // a device in session on some instance is not woken
    const lock = await store.acquireSessionLock('pg-dev-2', 'some-session', 5_000);
    assert.equal(lock.acquired, true);
    const inSession = await a.run('pg-dev-2', c.send);
    assert.equal(inSession.transport, 'session');
    assert.equal(inSession.status, 'ok');
    assert.match(inSession.detail, /in session on another ACS instance/);
    assert.equal(c.calls, 1);
    await store.releaseSessionLock('pg-dev-2', 'some-session');
    const woken = await b.run('pg-dev-2', c.send);
    assert.equal(woken.transport, 'http');
    assert.equal(c.calls, 2);
  });

  it('a task queued while the device is in session elsewhere: the device is woken once that session is over', async () => {
    if (db.kind !== 'ready') assert.fail(db.reason);
    const [a, b] = [await instance(), await instance()];
    const device = await store.createDevice({ manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'DEFER0001' });
    await store.createTask({ deviceId: device.id, payload: { type: 'reboot' } });
    const lock = await store.acquireSessionLock(device.id, 'session-elsewhere', 10_000);
    assert.equal(lock.acquired, true);
    const c = counter('ok');
    const [ra, rb] = await Promise.all([a.run(device.id, c.send), b.run(device.id, c.send)]);
    assert.deepEqual([ra.transport, rb.transport], ['session', 'session']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(c.calls, 0, 'nothing sent during the session');
    await store.releaseSessionLock(device.id, 'session-elsewhere');
    const end = Date.now() + 5000;
    while (c.calls === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(c.calls, 1, 'woken once after the session, by one of the two instances');
    assert.equal(a.stats.deferredWakes + b.stats.deferredWakes, 2, 'both looked; the claim let one send');
  });

  it('settled claims are deleted, not left to expire (no rows pile up)', async () => {
    if (db.kind !== 'ready') assert.fail(db.reason);
    const a = await instance();
    await a.run('pg-dev-3', counter('ok').send);
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const count = async () => (await c.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${schema}.session_locks WHERE device_id = 'cr:pg-dev-3'`)).rows[0].n;
      assert.equal(await count(), 1, 'claimed during the settle time');
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(await count(), 0);
    } finally {
      await c.end();
    }
  });

  it('the claim ends as soon as the woken device\'s session starts (whichever instance runs it), not after the settle time', async () => {
    if (db.kind !== 'ready') assert.fail(db.reason);
    const a = await instance(20_000);
    const { default: pg } = await import('pg');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const count = async () => (await c.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${schema}.session_locks WHERE device_id = 'cr:pg-dev-4'`)).rows[0].n;
      await a.run('pg-dev-4', counter('ok').send);
      assert.equal(await count(), 1);
      // the device connects (to any instance): its session lock appears
      assert.equal((await store.acquireSessionLock('pg-dev-4', 'its-session', 5_000)).acquired, true);
      const end = Date.now() + 3000;
      while ((await count()) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await count(), 0, 'claim deleted when the session started');
      assert.equal(a.stats.endedBySession, 1);
      await store.releaseSessionLock('pg-dev-4', 'its-session');
      // the session is over: a new request goes out at once (no 20 s settle)
      const c2 = counter('ok');
      const again = await a.run('pg-dev-4', c2.send);
      assert.equal(again.deduplicated, undefined);
      assert.equal(c2.calls, 1);
    } finally {
      await c.end();
    }
  });
});
