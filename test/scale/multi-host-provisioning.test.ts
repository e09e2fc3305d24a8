/**
 * Issue #8: two ACS instances on ONE PostgreSQL database, each with its OWN empty data directory
 * (two hosts), behave as one ACS for provisioning.
 *
 * - A preset and a firmware file go in through instance A's REST API. B serves the file A stored
 *   (bytes, ETag, byte range), from the database. A device in session with instance B, which read
 *   the (then empty) preset list in an earlier session, is provisioned by the new preset: the
 *   change reached B (LISTEN/NOTIFY) and the preset is read from the shared database.
 * - A firmware rollout with `maxConcurrent: 1`, both instances running its tick and kicking: one
 *   device on each instance, and at no moment are both downloading (their download intervals in
 *   the rollout do not overlap, and sampled counts never exceed 1); both end upgraded.
 *
 * Needs PostgreSQL: SWITCHBOARD_TEST_DATABASE_URL, or scripts/pg-test-server.sh. Skipped with the
 * reason when none can be had (a failure under CI, which provides one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import { CpeAgent } from '../../src/cpe/agent.ts';
import { ConnectionRequestServer } from '../../src/cpe/connection-request-server.ts';
import { buildFirmwareImage } from '../../src/cpe/firmware.ts';
import { RealScheduler } from '../../src/cpe/scheduler.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { openStore } from '../../src/store/index.ts';
import { findTestDatabase } from '../../src/store/postgres/test-server.ts';
import { until } from '../helpers/until.ts';

const TOKEN = 'sb_multi-host-provisioning-0123456789abcdef';
const CR_USER = 'cr';
const CR_PASS = 'cr-pass-multi-host';
const MS = 'Device.ManagementServer.';
const INTERVAL_BY_PRESET = '777';
const NEW_VERSION = '1.0.10.0';
/** Firmware payload: over two 256 KiB content chunks, so serving it streams several chunk rows. */
const PAYLOAD_BYTES = 600_000;
const ROLLOUT_WAIT_MS = 20_000;
const SAMPLE_MS = 20;

test('two ACS hosts on one PostgreSQL database share presets, files and rollout limits', { timeout: 60_000 }, async (t) => {
  const db = await findTestDatabase();
  if (db.kind === 'unavailable') {
    if (process.env.CI) assert.fail(db.reason);
    t.skip(db.reason);
    return;
  }
  // a database of its own, dropped at the end
  const dbName = `sb_mhp_${process.pid}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const u = new URL(db.url);
  u.pathname = `/${dbName}`;
  const database = u.toString();
  const namespace = `mhp_${randomBytes(4).toString('hex')}`;
  const dirs: string[] = [];
  const instances: Acs[] = [];
  const agents: CpeAgent[] = [];
  const crServer = new ConnectionRequestServer({ listenHost: '127.0.0.1' });
  let sampling = false;
  let sampler: Promise<void> = Promise.resolve();
  try {
    // the core schema is migrated once here; both instances then start at the same time
    await (await openStore({ kind: 'postgres', url: database })).close();
    await crServer.listen();
    const started = await Promise.all(
      ['a', 'b'].map((name) => {
        const dataDir = mkdtempSync(join(tmpdir(), `sb-mhp-${name}-`));
        dirs.push(dataDir);
        return startAcs({
          database,
          dataDir,
          cwmpPort: 0,
          httpPort: 0,
          host: '127.0.0.1',
          apiToken: TOKEN,
          cluster: { namespace },
          logger: pino({ level: 'silent' }),
          connectionRequest: { username: CR_USER, password: CR_PASS, timeoutMs: 3000 },
          provisioning: { rolloutTickMs: 100 },
        });
      }),
    );
    instances.push(...started);
    const [a, b] = started;
    const api = async (acs: Acs, method: string, path: string, body?: object | Buffer, type = 'application/json') => {
      const res = await fetch(`${acs.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': type }) },
        body: body === undefined ? undefined : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const agentOn = (acs: Acs, serial: string) => {
      const agent = new CpeAgent(
        {
          profile: loadProfile('HT502'),
          serial,
          provisioning: { acsUrl: acs.cwmpUrl, connectionRequestUsername: CR_USER, connectionRequestPassword: CR_PASS },
          crRateLimit: { burst: 1000, windowMs: 1000 },
          rebootDurationMs: 30,
          responseTimeoutMs: 5000,
        },
        { scheduler: new RealScheduler(), random: Math.random, connectionRequests: crServer },
      );
      agents.push(agent);
      return agent;
    };

    // --- One device boots on each instance while no preset exists: B reads (and may cache) the
    // empty preset list. ---
    const onB = agentOn(b, '000B82F00001');
    const onA = agentOn(a, '000B82F00002');
    const ids = ['000B82-HT502-000B82F00001', '000B82-HT502-000B82F00002'];
    for (const agent of [onB, onA]) {
      const boot = agent.nextSession();
      agent.start();
      assert.equal((await boot).ok, true);
      assert.notEqual(agent.model.getValue(`${MS}PeriodicInformInterval`), INTERVAL_BY_PRESET);
    }

    // --- Through A: a preset and a firmware file. ---
    const preset = await api(a, 'POST', '/api/presets', {
      name: 'interval',
      precondition: { productClass: ['HT502'] },
      triggers: ['always'],
      desired: { parameters: [{ name: `${MS}PeriodicInformInterval`, value: Number(INTERVAL_BY_PRESET) }] },
    });
    assert.equal(preset.status, 201, JSON.stringify(preset.body));
    const image = buildFirmwareImage({ model: 'HT502', version: NEW_VERSION, payload: randomBytes(PAYLOAD_BYTES) });
    const up = await api(a, 'POST', `/api/files?name=ht502fw.bin&fileType=${encodeURIComponent('1 Firmware Upgrade Image')}`, image, 'application/octet-stream');
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const fileId = up.body.id as string;
    const sha256 = createHash('sha256').update(image).digest('hex');
    assert.equal(up.body.sha256, sha256);

    // --- B serves A's file: same bytes and ETag, ranges too; nothing in either data directory. ---
    const whole = await fetch(`${b.apiUrl}/files/${fileId}/ht502fw.bin`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('etag'), `"${sha256}"`);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(image), 'B serves the bytes uploaded to A');
    const start = 262_000;
    const end = 263_000;
    const part = await fetch(`${b.apiUrl}/files/${fileId}/ht502fw.bin`, { headers: { range: `bytes=${start}-${end}` } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(image.subarray(start, end + 1)), 'a range across a chunk boundary');
    for (const dir of dirs) assert.deepEqual(readdirSync(dir).filter((f) => f === 'files'), [], `no file content in ${dir}`);

    // --- A rollout (made through B) with one download at a time, one device on each instance. Both
    // instances tick and kick; each device's session (B's device on B, A's on A) applies the preset
    // and claims the download slot. ---
    const created = await api(b, 'POST', '/api/rollouts', {
      name: 'one at a time',
      fileId,
      target: { ids },
      stages: [{ percent: 100 }],
      maxConcurrent: 1,
      failureThreshold: { count: 1 },
      kick: true,
      downloadTimeoutSeconds: 30,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const rolloutId = (created.body.rollout as { id: string }).id;
    let maxDownloading = 0;
    sampling = true;
    sampler = (async () => {
      while (sampling) {
        const p = await api(a, 'GET', `/api/rollouts/${rolloutId}`);
        maxDownloading = Math.max(maxDownloading, (p.body.counts as { downloading: number }).downloading);
        await new Promise((r) => setTimeout(r, SAMPLE_MS));
      }
    })();
    const done = await until('rollout completion', ROLLOUT_WAIT_MS, async () => {
      const p = await api(a, 'GET', `/api/rollouts/${rolloutId}`);
      return (p.body.rollout as { state: string }).state === 'completed' ? p.body : null;
    }).catch(async (err: unknown) => {
      const state = await api(a, 'GET', `/api/rollouts/${rolloutId}/devices`);
      throw new Error(`${(err as Error).message}; devices: ${JSON.stringify(state.body.devices)}`);
    });
    sampling = false;
    await sampler;
    assert.deepEqual(done.counts, { pending: 0, downloading: 0, succeeded: 2, failed: 0, skipped: 0 });
    assert.equal(maxDownloading, 1, 'never two devices downloading at once');
    const devices = (await api(b, 'GET', `/api/rollouts/${rolloutId}/devices`)).body.devices as { deviceId: string; startedAt: string; finishedAt: string }[];
    const [first, next] = [...devices].sort((x, y) => Date.parse(x.startedAt) - Date.parse(y.startedAt));
    assert.ok(Date.parse(next.startedAt) >= Date.parse(first.finishedAt), `download intervals overlap: ${JSON.stringify(devices)}`);
    for (const agent of [onA, onB]) assert.equal(agent.model.getValue('Device.DeviceInfo.SoftwareVersion'), NEW_VERSION);
    // B's device, woken by the rollout, was provisioned in its session on B by the preset made on A
    assert.equal(onB.model.getValue(`${MS}PeriodicInformInterval`), INTERVAL_BY_PRESET, "B applied A's preset");
    assert.equal(onA.model.getValue(`${MS}PeriodicInformInterval`), INTERVAL_BY_PRESET);
  } finally {
    sampling = false;
    await sampler.catch(() => undefined);
    for (const agent of agents) await agent.stop();
    await crServer.close();
    for (const acs of instances) await acs.close().catch(() => undefined);
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  }
});
