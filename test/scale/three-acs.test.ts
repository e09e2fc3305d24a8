/**
 * Issue #8 part 2: three ACS processes on one PostgreSQL database behave as one ACS.
 *
 * Three ACS child processes (test/scale/acs-child.ts) share a fresh database; a fleet of simulated
 * devices (src/cpe/fleet.ts) reaches them through a round-robin TCP proxy, so consecutive sessions
 * of one device land on different instances. Tasks are queued through every instance with a
 * connection request, awaited through instance 0 (waitForTask across instances), and one instance
 * is SIGKILLed while they run. Checks: every task ends done; no device's stored sessions overlap;
 * every instance served sessions; two simultaneous Informs of one device to two instances get one
 * session and one 503.
 *
 * Needs PostgreSQL: SWITCHBOARD_TEST_DATABASE_URL, or scripts/pg-test-server.sh. Skipped with the
 * reason when none can be had (a failure under CI, which provides one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BenchChild } from '../../bench/lib/child.ts';
import { Fleet, fleetSerial } from '../../src/cpe/fleet.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { findTestDatabase } from '../../src/store/postgres/test-server.ts';
import { openStore, type SessionRecord, type Store } from '../../src/store/index.ts';
import type { ScaleAcsConfig, ScaleAcsInfo } from './acs-child.ts';
import { RoundRobinProxy } from './proxy.ts';
import { informSession } from './cwmp-client.ts';
import { until } from '../helpers/until.ts';

const CHILD = new URL('./acs-child.ts', import.meta.url);
const INSTANCES = 3;
const DEVICES = 30;
const MODELS = ['HT502', 'GXP2140'];
const SERIAL_BASE = 0x5c0000;
/** A killed instance's session locks expire after this long (ms). */
const LOCK_TTL_MS = 4000;
const DEVICE_WAIT_MS = 90_000;
const TASK_WAIT_MS = 120_000;

function deviceIdOf(i: number): string {
  const p = loadProfile(MODELS[i % MODELS.length]);
  return `${p.oui}-${p.productClass}-${fleetSerial(SERIAL_BASE, i)}`;
}

async function allSessions(store: Store, deviceId: string): Promise<SessionRecord[]> {
  const out: SessionRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listSessions({ deviceId, limit: 500, cursor });
    out.push(...page.sessions);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

test('three ACS processes on one PostgreSQL database behave as one ACS', { timeout: 300_000 }, async (t) => {
  const db = await findTestDatabase();
  if (db.kind === 'unavailable') {
    if (process.env.CI) assert.fail(db.reason);
    t.skip(db.reason);
    return;
  }
  // a database of its own: nothing shared with other test files, dropped at the end
  const dbName = `sb_scale_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(db.url);
  url.pathname = `/${dbName}`;
  const dbUrl = url.toString();
  const dirs: string[] = [];
  const children: BenchChild<ScaleAcsInfo>[] = [];
  let fleet: Fleet | null = null;
  let proxy: RoundRobinProxy | null = null;
  let store: Store | null = null;
  try {
    // the schema is migrated once here; the instances find it ready
    store = await openStore({ kind: 'postgres', url: dbUrl });
    const namespace = `scale_${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < INSTANCES; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'sb-scale-'));
      dirs.push(dir);
      const config: ScaleAcsConfig = { database: dbUrl, dataDir: dir, namespace, lockTtlMs: LOCK_TTL_MS };
      children.push(await BenchChild.start<ScaleAcsInfo>(CHILD, { args: [JSON.stringify(config)] }));
    }
    const backends = children.map((c) => {
      const u = new URL(c.info.cwmpUrl);
      return { host: u.hostname, port: Number(u.port) };
    });

    // The cross-process session lock: one device, two instances, at the same moment.
    const lockSerial = 'SCALELOCK0001';
    const informs = await Promise.all([informSession(children[0].info.cwmpUrl, lockSerial, null, true), informSession(children[1].info.cwmpUrl, lockSerial, null, true)]);
    const statuses = informs.map((i) => i.status);
    assert.deepEqual([...statuses].sort(), [200, 503], `simultaneous Informs of one device on two instances: ${statuses.join(', ')}`);

    proxy = new RoundRobinProxy(backends);
    const acsUrl = await proxy.listen();
    fleet = new Fleet({ acsUrl, count: DEVICES, models: MODELS, connPort: 0, host: '127.0.0.1', serialBase: SERIAL_BASE, spreadMs: 3000, periodicInterval: 15, concurrency: 16, shareConnections: false });
    await fleet.start();
    const ids = Array.from({ length: DEVICES }, (_, i) => deviceIdOf(i));
    await until('every device to have had a session', DEVICE_WAIT_MS, async () => {
      const found = await Promise.all(ids.map((id) => store!.getDevice(id)));
      return found.every((d) => d !== null);
    });

    // Tasks queued through every instance, round robin, each with a connection request.
    const queued: { id: string; via: number }[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const via = i % INSTANCES;
      const r = await children[via].call<{ id: string }>('enqueue', {
        deviceId: ids[i],
        payload: { type: 'getParameterValues', names: ['Device.DeviceInfo.SoftwareVersion'] },
        connectionRequest: true,
      });
      queued.push({ id: r.id, via });
    }
    // ...and one instance dies while they run
    children[2].proc.kill('SIGKILL');

    const results = await Promise.all(queued.map((q) => children[0].call<string | null>('wait', { id: q.id, timeoutMs: TASK_WAIT_MS })));
    const notDone = queued.filter((_, i) => results[i] !== 'done').map((q, i) => `${q.id}:${results[i]}`);
    assert.deepEqual(notDone, [], 'every queued task ends done (also those queued through the killed instance)');
    for (const q of queued) assert.equal((await store.getTask(q.id))?.status, 'done');

    // every instance served sessions through the proxy
    for (let i = 0; i < INSTANCES; i++) assert.ok(proxy.connections[i] > 0, `instance ${i} served no connection`);

    // no device ever had two sessions at once
    let sessions = 0;
    for (const id of ids) {
      const list = (await allSessions(store, id)).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
      sessions += list.length;
      for (let k = 1; k < list.length; k++) {
        const prev = list[k - 1];
        assert.ok(prev.endedAt !== null, `session ${prev.id} has no end`);
        assert.ok(list[k].startedAt >= prev.endedAt!, `${id}: session ${list[k].id} starts ${list[k].startedAt} before ${prev.id} ended ${prev.endedAt}`);
      }
    }
    assert.ok(sessions >= DEVICES * 2, `expected a boot and a task session per device, got ${sessions} sessions`);
  } finally {
    await fleet?.stop().catch(() => undefined);
    await proxy?.close().catch(() => undefined);
    for (const c of children) {
      if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    }
    await store?.close().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
