import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { StoreError } from '../types.ts';
import { PgNotifier, type NotificationMeta } from './notify.ts';
import { findTestDatabase } from './test-server.ts';

const db = await findTestDatabase();

interface TestChannels {
  [channel: string]: { id: string | null } | { n: number } | string;
  'preset.changed': { id: string | null };
  counter: { n: number };
  text: string;
}

/** Resolves with the next `count` messages a subscription receives (rejects after `ms`). */
function collect<P>(count: number, ms = 5000) {
  const got: { payload: P; meta: NotificationMeta }[] = [];
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const handler = (payload: P, meta: NotificationMeta) => {
    got.push({ payload, meta });
    if (got.length === count) done();
  };
  const wait = async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`got ${got.length}/${count} notifications`)), ms);
    });
    try {
      await Promise.race([finished, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return got;
  };
  return { handler, wait, got };
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (db.kind === 'unavailable') {
  if (process.env.CI) test('PostgreSQL LISTEN/NOTIFY', () => assert.fail(db.reason));
  else test('PostgreSQL LISTEN/NOTIFY', { skip: db.reason }, () => undefined);
} else {
  const url = db.url;
  let run = 0;
  /** A namespace of its own per test, so parallel test runs on one server never hear each other. */
  const ns = () => `t${process.pid}_${Date.now().toString(36)}_${++run}`;

  describe('PgNotifier (LISTEN/NOTIFY)', () => {
    it('delivers typed JSON payloads to other processes and to the publisher, telling which is which', async () => {
      const namespace = ns();
      const a = await PgNotifier.connect<TestChannels>(url, { namespace });
      const b = await PgNotifier.connect<TestChannels>(url, { namespace });
      try {
        const atB = collect<{ id: string | null }>(2);
        const atA = collect<{ id: string | null }>(1);
        await b.subscribe('preset.changed', atB.handler);
        await a.subscribe('preset.changed', atA.handler);
        await a.publish('preset.changed', { id: 'p1' });
        await b.publish('preset.changed', { id: null });
        const gotB = await atB.wait();
        assert.deepEqual(gotB.map((g) => g.payload), [{ id: 'p1' }, { id: null }]);
        assert.deepEqual(gotB.map((g) => g.meta.fromSelf), [false, true]);
        assert.equal(gotB[0].meta.origin, a.origin);
        await atA.wait();
        await pause(100);
        assert.deepEqual(atA.got.map((g) => [g.payload, g.meta.fromSelf]), [[{ id: 'p1' }, true], [{ id: null }, false]]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('keeps channels and namespaces apart, and stops after unsubscribing', async () => {
      const n1 = ns();
      const a = await PgNotifier.connect<TestChannels>(url, { namespace: n1 });
      const other = await PgNotifier.connect<TestChannels>(url, { namespace: ns() });
      try {
        const counter = collect<{ n: number }>(1);
        const text = collect<string>(1);
        const stranger = collect<{ n: number }>(1);
        const stop = await a.subscribe('counter', counter.handler);
        await a.subscribe('text', text.handler);
        await other.subscribe('counter', stranger.handler);
        await a.publish('counter', { n: 1 });
        await a.publish('text', 'hello');
        assert.deepEqual((await counter.wait()).map((g) => g.payload), [{ n: 1 }]);
        assert.deepEqual((await text.wait()).map((g) => g.payload), ['hello']);
        await stop();
        await a.publish('counter', { n: 2 });
        await a.publish('text', 'again');
        await pause(200);
        assert.equal(counter.got.length, 1);
        assert.equal(text.got.length, 2);
        assert.equal(stranger.got.length, 0);
      } finally {
        await Promise.all([a.close(), other.close()]);
      }
    });

    it('notifyStatement() delivers with the transaction commit and never after a rollback', async () => {
      const namespace = ns();
      const n = await PgNotifier.connect<TestChannels>(url, { namespace });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const got = collect<{ n: number }>(1);
        await n.subscribe('counter', got.handler);
        await client.query('BEGIN');
        const rolled = n.notifyStatement('counter', { n: 1 });
        await client.query(rolled.text, rolled.values);
        await client.query('ROLLBACK');
        await client.query('BEGIN');
        const kept = n.notifyStatement('counter', { n: 2 });
        await client.query(kept.text, kept.values);
        await pause(150);
        assert.equal(got.got.length, 0, 'nothing before COMMIT');
        await client.query('COMMIT');
        assert.deepEqual((await got.wait()).map((g) => g.payload), [{ n: 2 }]);
        await pause(100);
        assert.equal(got.got.length, 1);
      } finally {
        await client.end();
        await n.close();
      }
    });

    it('refuses payloads too large for NOTIFY and bad channel names', async () => {
      const n = await PgNotifier.connect<TestChannels>(url, { namespace: ns() });
      try {
        const isInvalid = (err: unknown) => err instanceof StoreError && err.code === 'invalid';
        await assert.rejects(n.publish('text', 'x'.repeat(8000)), isInvalid);
        await assert.rejects(n.publish('bad"name', 'x'), isInvalid);
        await assert.rejects(n.subscribe('x'.repeat(70), () => undefined), isInvalid);
        await n.publish('text', 'x'.repeat(7000));
      } finally {
        await n.close();
      }
      await assert.rejects(PgNotifier.connect(url, { namespace: 'Bad-NS' }), (err: unknown) => err instanceof StoreError && err.code === 'invalid');
    });

    it('reconnects after the server drops the listening connection and listens again', async () => {
      const namespace = ns();
      const appName = `sb-notify-${process.pid}-${run}`;
      let reconnects = 0;
      const errors: Error[] = [];
      const listener = await PgNotifier.connect<TestChannels>(url, {
        namespace,
        applicationName: appName,
        reconnectMinMs: 50,
        onReconnect: () => reconnects++,
        onError: (e) => errors.push(e),
      });
      const publisher = await PgNotifier.connect<TestChannels>(url, { namespace });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        const got = collect<{ n: number }>(2, 8000);
        await listener.subscribe('counter', got.handler);
        await publisher.publish('counter', { n: 1 });
        await pause(100);
        const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [appName]);
        assert.ok((rowCount ?? 0) >= 1);
        // Subscribing while the connection is being re-established must still take effect.
        const late = collect<string>(1, 8000);
        await listener.subscribe('text', late.handler);
        for (let i = 0; i < 100 && reconnects === 0; i++) await pause(50);
        assert.equal(reconnects, 1);
        assert.equal(listener.connected, true);
        assert.ok(errors.length >= 1, 'the drop was reported');
        await publisher.publish('counter', { n: 2 });
        await publisher.publish('text', 'after reconnect');
        assert.deepEqual((await got.wait()).map((g) => g.payload), [{ n: 1 }, { n: 2 }]);
        assert.deepEqual((await late.wait()).map((g) => g.payload), ['after reconnect']);
      } finally {
        await admin.end();
        await Promise.all([listener.close(), publisher.close()]);
      }
    });

    it('reports a malformed message and a throwing handler without stopping the others', async () => {
      const namespace = ns();
      const errors: Error[] = [];
      const n = await PgNotifier.connect<TestChannels>(url, { namespace, onError: (e) => errors.push(e) });
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      try {
        const got = collect<{ n: number }>(1);
        await n.subscribe('counter', () => {
          throw new Error('handler bug');
        });
        await n.subscribe('counter', got.handler);
        await admin.query('SELECT pg_notify($1, $2)', [n.channelName('counter'), 'not json']);
        await n.publish('counter', { n: 7 });
        assert.deepEqual((await got.wait()).map((g) => g.payload), [{ n: 7 }]);
        assert.ok(errors.some((e) => /malformed notification/.test(e.message)));
        assert.ok(errors.some((e) => e.message === 'handler bug'));
      } finally {
        await admin.end();
        await n.close();
      }
    });
  });
}
