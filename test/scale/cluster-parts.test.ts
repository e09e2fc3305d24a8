/**
 * Issue #8: the parts that used to be per instance, across three ACS processes on one PostgreSQL
 * database (test/scale/acs-child.ts, REST API + console + NAT on each):
 * 1. the three start at once on an empty database: one first admin user, all three up;
 * 2. a console user created through instance A logs in through instance B;
 * 3. one connection request asked of two instances at the same moment reaches the device once
 *    (counted at the device), the loser answers `deduplicated`; a device in session on one
 *    instance is not woken through another (the answer says so);
 * 4. a STUN binding learned by instance A lets instance B wake the device over UDP: B relays the
 *    datagram to A, which sends it from its STUN socket, and the device (a real CPE agent whose
 *    HTTP connection request listener is closed) opens a session.
 *
 * Needs PostgreSQL: SWITCHBOARD_TEST_DATABASE_URL, or scripts/pg-test-server.sh. Skipped with the
 * reason when none can be had (a failure under CI, which provides one).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BenchChild } from '../../bench/lib/child.ts';
import { CpeAgent } from '../../src/cpe/agent.ts';
import { ConnectionRequestServer } from '../../src/cpe/connection-request-server.ts';
import { RealScheduler } from '../../src/cpe/scheduler.ts';
import { UdpConnectionRequestEndpoint } from '../../src/cpe/udp-endpoint.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import type { ConnectionRequestResult } from '../../src/acs/connection-request.ts';
import { findTestDatabase } from '../../src/store/postgres/test-server.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import type { ScaleAcsConfig, ScaleAcsInfo } from './acs-child.ts';
import { informSession } from './cwmp-client.ts';
import { until } from '../helpers/until.ts';
import { takeSseEvents, type SseEvent } from '../helpers/sse.ts';

const CHILD = new URL('./acs-child.ts', import.meta.url);
const INSTANCES = 3;
const ADMIN_PASSWORD = 'cluster-admin-password-1';
const CR = { username: 'cl-cr', password: 'cl-cr-secret' };
/** The counting device answers a connection request this late, so that both requests overlap. */
const DEVICE_ANSWER_MS = 200;
const PROVISION_MS = 30_000;

const db = await findTestDatabase();
const skip = db.kind === 'unavailable' && !process.env.CI ? db.reason : false;

/** Reads a server-sent event stream until `done(events)` or `ms`; resolves what came. */
async function readEvents(url: string, token: string, done: (events: SseEvent[]) => boolean, ms: number, opened?: () => void): Promise<SseEvent[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
    if (res.status !== 200) throw new Error(`${url}: HTTP ${res.status}`);
    const reader = res.body!.getReader();
    let buffer = '';
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      const before = events.length;
      buffer = takeSseEvents(buffer + Buffer.from(value).toString('utf8'), events);
      if (events.slice(before).some((e) => e.event === 'hello')) opened?.();
      if (done(events)) break;
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

describe('cluster: users, connection requests and NAT bindings across three ACS processes', { skip, timeout: 120_000 }, () => {
  let admin: pg.Client;
  let dbName = '';
  let store: Store;
  const dirs: string[] = [];
  const children: BenchChild<ScaleAcsInfo>[] = [];

  const api = async (i: number, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${children[i].info.apiUrl}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  before(async () => {
    if (db.kind !== 'ready') assert.fail(db.kind === 'unavailable' ? db.reason : 'no database');
    dbName = `sb_cluster_${process.pid}_${randomBytes(3).toString('hex')}`;
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    const url = new URL(db.url);
    url.pathname = `/${dbName}`;
    const dbUrl = url.toString();
    const namespace = `cl_${randomBytes(4).toString('hex')}`;
    // All three at once on an empty database: core, console and NAT migrations and the first admin race.
    const started = await Promise.all(
      Array.from({ length: INSTANCES }, () => {
        const dir = mkdtempSync(join(tmpdir(), 'sb-cluster-'));
        dirs.push(dir);
        const config: ScaleAcsConfig = {
          database: dbUrl,
          dataDir: dir,
          namespace,
          api: true,
          connectionRequest: CR,
          nat: { stun: { host: '127.0.0.1', port: 0, secret: 'cluster-secret' }, provisioning: { mode: 'all' }, confirmMs: 3000 },
        };
        return BenchChild.start<ScaleAcsInfo>(CHILD, { args: [JSON.stringify(config)], env: { ...process.env, SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD } });
      }),
    );
    children.push(...started);
    store = await openStore({ kind: 'postgres', url: dbUrl });
  });

  after(async () => {
    await Promise.all(children.map((c) => c.stop().catch(() => c.proc.kill('SIGKILL'))));
    await store?.close().catch(() => undefined);
    if (admin) {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
      await admin.end().catch(() => undefined);
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('three instances started together on an empty database made one first admin', async () => {
    const url = new URL(db.kind === 'ready' ? db.url : '');
    url.pathname = `/${dbName}`;
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    try {
      const { rows } = await c.query<{ username: string; role: string }>('SELECT username, role FROM console_users');
      assert.deepEqual(rows, [{ username: 'admin', role: 'admin' }]);
    } finally {
      await c.end();
    }
    // on PostgreSQL the CWMP listener stays on the main event loop by default (see AcsOptions.cwmpThread)
    assert.deepEqual(children.map((ch) => ch.info.cwmpThread), [false, false, false]);
  });

  it('a user created through instance A logs in through instance B (and C sees the session)', async () => {
    const login = await api(0, 'POST', '/api/session', null, { username: 'admin', password: ADMIN_PASSWORD });
    assert.equal(login.status, 201, JSON.stringify(login.body));
    const adminToken = login.body.token as string;
    const created = await api(0, 'POST', '/api/users', adminToken, { username: 'operator1', role: 'operator', password: 'operator-password-1' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const other = await api(1, 'POST', '/api/session', null, { username: 'Operator1', password: 'operator-password-1' });
    assert.equal(other.status, 201, JSON.stringify(other.body));
    const who = await api(2, 'GET', '/api/session', other.body.token as string);
    assert.equal(who.status, 200, JSON.stringify(who.body));
    assert.equal((who.body.user as { username: string }).username, 'operator1');
    // the name is taken for every instance
    const again = await api(2, 'POST', '/api/users', adminToken, { username: 'operator1', role: 'viewer', password: 'another-password-1' });
    assert.equal(again.status, 409);
    // logout through C ends the session for A too
    assert.equal((await api(2, 'DELETE', '/api/session', other.body.token as string)).status, 204);
    assert.equal((await api(0, 'GET', '/api/session', other.body.token as string)).status, 401);
  });

  it('failed logins spread over the instances meet one limit (the throttle is in the database)', async () => {
    // 5 failures (the default limit) through instances 0 and 1; the next try through instance 2 is refused
    for (let i = 0; i < 5; i++) {
      const r = await api(i % 2, 'POST', '/api/session', null, { username: 'ghost', password: `wrong-password-${i}` });
      assert.equal(r.status, 401, JSON.stringify(r.body));
    }
    const refused = await api(2, 'POST', '/api/session', null, { username: 'ghost', password: 'wrong-password-x' });
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'TOO_MANY_ATTEMPTS');
  });

  it('the overview of any instance counts the whole fleet, by model (statistics aggregated by PostgreSQL)', async () => {
    assert.equal((await informSession(children[0].info.cwmpUrl, 'CLUSTERSTAT01', 'http://127.0.0.1:9/cr')).status, 200);
    assert.equal((await informSession(children[2].info.cwmpUrl, 'CLUSTERSTAT02', 'http://127.0.0.1:9/cr')).status, 200);
    // instance 1 served neither session, and computes its overview now (first call: nothing cached)
    const overview = await api(1, 'GET', '/api/overview?hours=1', 'scale-test-token');
    assert.equal(overview.status, 200, JSON.stringify(overview.body));
    const devices = overview.body.devices as { total: number; online: number };
    assert.equal(devices.total, 2);
    assert.equal(devices.online, 2);
    const models = overview.body.models as { productClass: string; total: number }[];
    assert.deepEqual(models.map((m) => [m.productClass, m.total]), [['GXP2140', 2]], 'per-model numbers (the Store-interface fallback has none)');
    const informs = overview.body.informs as { buckets: { informs: number }[] };
    assert.equal(informs.buckets.reduce((n, x) => n + x.informs, 0), 2);
  });

  it('a console on instance B sees the sessions instance A runs: the device\'s stream and the fleet activity', async () => {
    const serial = 'CLUSTERFEED01';
    const id = `000B82-GXP2140-${serial}`;
    let opened = 0;
    let deviceStream!: Promise<SseEvent[]>;
    let activityStream!: Promise<SseEvent[]>;
    const whenOpened = new Promise<void>((resolve) => {
      const check = () => (++opened === 2 ? resolve() : undefined);
      deviceStream = readEvents(`${children[1].info.apiUrl}/api/events/stream?device=${id}`, 'scale-test-token', (ev) => ev.some((e) => e.event === 'device') && ev.some((e) => e.event === 'session' && (e.data as { phase: string }).phase === 'ended'), 20_000, check);
      activityStream = readEvents(
        `${children[2].info.apiUrl}/api/events/stream`,
        'scale-test-token',
        (ev) => ev.some((e) => e.event === 'activity' && (e.data as { sessionsStarted: number }).sessionsStarted > 0),
        20_000,
        check,
      );
    });
    // a stream that fails or ends before its hello fails the test instead of leaving it waiting
    await Promise.race([whenOpened, Promise.all([deviceStream, activityStream])]);
    // the watch leases travel by NOTIFY: give them a moment to reach instance 0
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await informSession(children[0].info.cwmpUrl, serial, 'http://127.0.0.1:9/cr')).status, 200);
    const [dev, act] = await Promise.all([deviceStream, activityStream]);
    const phases = dev.filter((e) => e.event === 'session').map((e) => (e.data as { phase: string; deviceId: string }).phase);
    assert.deepEqual(phases, ['started', 'ended'], JSON.stringify(dev));
    assert.ok(dev.some((e) => e.event === 'device'), 'the inventory change');
    assert.ok(
      act.some((e) => e.event === 'activity' && (e.data as { sessionsStarted: number }).sessionsStarted > 0),
      `activity on instance 2 counts instance 0's session: ${JSON.stringify(act.filter((e) => e.event === 'activity').map((e) => e.data))}`,
    );
  });

  it('one connection request asked of two instances at once is sent once; a device in session is not woken', async () => {
    let hits = 0;
    const device = http.createServer((_req, res) => {
      hits++;
      setTimeout(() => res.writeHead(200).end(), DEVICE_ANSWER_MS);
    });
    await new Promise<void>((resolve) => device.listen(0, '127.0.0.1', resolve));
    try {
      const crUrl = `http://127.0.0.1:${(device.address() as AddressInfo).port}/cr`;
      const serial = 'CLUSTERCR0001';
      assert.equal((await informSession(children[0].info.cwmpUrl, serial, crUrl)).status, 200);
      const id = `000B82-GXP2140-${serial}`;
      await until('the device to be stored', 10_000, async () => (await store.getDevice(id))?.connectionRequestUrl === crUrl);

      const [r1, r2] = await Promise.all([children[1].call<ConnectionRequestResult>('cr', { deviceId: id }), children[2].call<ConnectionRequestResult>('cr', { deviceId: id })]);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(hits, 1, `requests at the device: ${hits}; answers ${JSON.stringify([r1, r2])}`);
      assert.deepEqual([r1.status, r2.status], ['ok', 'ok']);
      const dedup = [r1, r2].filter((r) => r.deduplicated === true);
      assert.equal(dedup.length, 1, JSON.stringify([r1, r2]));
      assert.match(dedup[0].detail, /^deduplicated/);

      // in session on instance 0: instance 1 says so and sends nothing
      const open = await informSession(children[0].info.cwmpUrl, serial, crUrl, true);
      assert.equal(open.status, 200);
      const during = await children[1].call<ConnectionRequestResult>('cr', { deviceId: id });
      assert.equal(during.transport, 'session', JSON.stringify(during));
      assert.match(during.detail, /in session on another ACS instance/);
      assert.equal(hits, 1);
      // 204, or 200 with the STUN provisioning the NAT part queued after the first session
      assert.ok([200, 204].includes(await open.finish()));
    } finally {
      device.close();
    }
  });

  it('a binding learned by instance A lets instance B wake the device over UDP (sent from A\'s STUN socket)', async () => {
    const crServer = new ConnectionRequestServer({ listenHost: '127.0.0.1', port: 0 });
    await crServer.listen();
    const udp = new UdpConnectionRequestEndpoint({ listenHost: '127.0.0.1' });
    await udp.start();
    const logs: string[] = [];
    const agent = new CpeAgent(
      {
        profile: loadProfile('GXP2170'),
        serial: '000B82C1A5E1',
        provisioning: { acsUrl: children[0].info.cwmpUrl, connectionRequestUsername: CR.username, connectionRequestPassword: CR.password, periodicInformEnable: true, periodicInformInterval: 1 },
        crRateLimit: { burst: 100, windowMs: 1000 },
      },
      { scheduler: new RealScheduler(), random: Math.random, connectionRequests: crServer, udp, log: (_s, _l, message) => logs.push(message) },
    );
    try {
      const first = agent.nextSession();
      agent.start();
      await first;
      const v = (p: string): string => agent.model.getValue(`Device.${p}`) ?? '';
      const deviceId = `${v('DeviceInfo.ManufacturerOUI')}-${v('DeviceInfo.ProductClass')}-${v('DeviceInfo.SerialNumber')}`;
      // instance 0 provisions STUN (its own port): the agent's Binding Requests reach instance 0 only
      const url = new URL(db.kind === 'ready' ? db.url : '');
      url.pathname = `/${dbName}`;
      const c = new pg.Client({ connectionString: url.toString() });
      await c.connect();
      try {
        const binding = await until('the shared binding row', PROVISION_MS, async () => {
          const r = await c.query<{ holder: string; port: number }>('SELECT holder, port FROM nat_bindings WHERE device_id = $1', [deviceId]).catch(() => null);
          return r?.rows[0] ?? null;
        });
        assert.equal(binding.port, udp.port, 'the binding is the agent\'s UDP connection request port');
        // every instance's API shows it (read from the shared table)
        const seen = await api(2, 'GET', `/api/devices/${encodeURIComponent(deviceId)}/nat`, 'scale-test-token');
        assert.equal(seen.status, 200, JSON.stringify(seen.body));
        assert.equal((seen.body.binding as { port: number; holder: string } | null)?.port, udp.port);
      } finally {
        await c.end();
      }
      // quiet the agent (no periodic sessions), then refuse HTTP: only UDP can wake it
      const quiet = await children[0].call<{ id: string }>('enqueue', {
        deviceId,
        payload: { type: 'setParameterValues', parameters: [{ name: 'Device.ManagementServer.PeriodicInformEnable', value: false }] },
      });
      assert.equal(await children[0].call('wait', { id: quiet.id, timeoutMs: 15_000 }), 'done');
      await until('the agent to be idle', 10_000, async () => !agent.isInSession);
      await crServer.close();
      const before0 = await children[0].call<{ relay: { served: number } | null }>('nat');
      const woke = agent.nextSession();
      const r = await children[1].call<ConnectionRequestResult & { path: string | null; confirmed: boolean | null; attempts: { transport: string; status: string }[] }>('cr', { deviceId });
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.equal(r.path, 'udp', JSON.stringify(r));
      assert.match(r.detail, /relayed to the instance holding the binding/, r.detail);
      assert.equal(r.confirmed, true, 'instance B saw the session start on instance A');
      await woke;
      const after0 = await children[0].call<{ relay: { served: number } | null }>('nat');
      assert.ok((after0.relay?.served ?? 0) > (before0.relay?.served ?? 0), 'instance A sent the datagram for B');
    } finally {
      await agent.stop();
      await udp.close();
      await crServer.close().catch(() => undefined);
    }
  });
});
