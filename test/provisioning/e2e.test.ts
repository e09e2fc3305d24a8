/**
 * End to end with the project's own CPE agent: the real ACS (`startAcs`, CWMP over HTTP on
 * 127.0.0.1:0) with provisioning plugged into its session engine, the REST API with the
 * provisioning routes, and two brand-new simulated devices (GXP2140, HT502) that boot against it.
 * Presets and the CSV of SIP accounts go in through the REST API.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import { buildApi } from '../../src/api/index.ts';
import { CpeAgent } from '../../src/cpe/agent.ts';
import { ConnectionRequestServer } from '../../src/cpe/connection-request-server.ts';
import { RealScheduler } from '../../src/cpe/scheduler.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { openProvisioning, type Provisioning } from '../../src/provisioning/runtime.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildFirmwareImage } from '../../src/cpe/firmware.ts';
import { verifyWebhookSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../src/provisioning/webhooks.ts';
import { ACCOUNTS_CSV, MS, VOICE_PRESET, VP } from './fixtures.ts';
import { until } from '../helpers/until.ts';

const TOKEN = 'sb_provisioning-e2e-token-0123456789abcdefgh';
const CR_USER = 'cr';
const CR_PASS = 'cr-pass-e2e';

describe('end to end: a new GXP2140 and HT502 boot against an ACS with presets and a CSV of SIP accounts', () => {
  let dir: string;
  let store: Store;
  let acs: Acs;
  let apiUrl: string;
  let crServer: ConnectionRequestServer;
  const agents: CpeAgent[] = [];

  const call = async (method: string, path: string, body?: string | object, type = 'application/json') => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': type }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-prov-e2e-'));
    store = openSqliteStore({ dataDir: dir });
    // startAcs runs provisioning itself: hooks in the engine, routes in the API, files on the HTTP port.
    acs = await startAcs({
      dataDir: dir,
      store,
      cwmpPort: 0,
      httpPort: 0,
      host: '127.0.0.1',
      apiToken: TOKEN,
      logger: pino({ level: 'silent' }),
      connectionRequest: { username: CR_USER, password: CR_PASS, timeoutMs: 3000 },
    });
    apiUrl = acs.apiUrl!;
    crServer = new ConnectionRequestServer({ listenHost: '127.0.0.1' });
    await crServer.listen();

    const imported = await call('POST', '/api/variables/import', ACCOUNTS_CSV, 'text/csv');
    assert.equal(imported.status, 200, JSON.stringify(imported.body));
    const preset = await call('POST', '/api/presets', VOICE_PRESET);
    assert.equal(preset.status, 201, JSON.stringify(preset.body));
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await crServer?.close();
    await acs?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function agentFor(model: string, serial: string): CpeAgent {
    const agent = new CpeAgent(
      {
        profile: loadProfile(model),
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
  }

  for (const [model, serial, users] of [
    ['GXP2140', '000B82002140', ['2140001', '2140002', '2140003']],
    ['HT502', '000B82000502', ['5020001', '5020002']],
  ] as const) {
    it(`${model}: first session provisions accounts, attributes and interval; the second sends no SetParameterValues`, async () => {
      const agent = agentFor(model, serial);
      const first = agent.nextSession();
      agent.start();
      const r1 = await first;
      assert.equal(r1.ok, true, JSON.stringify(r1));
      const m = agent.model;
      users.forEach((user, i) => {
        const n = i + 1;
        assert.equal(m.getValue(`${VP}${n}.Line.1.SIP.AuthUserName`), user, `account ${n}`);
        assert.equal(m.getValue(`${VP}${n}.Line.1.DirectoryNumber`), user);
        assert.equal(m.getValue(`${VP}${n}.Line.1.SIP.URI`), `${user}@sip.example.net`);
        assert.equal(m.getValue(`${VP}${n}.Line.1.Enable`), 'Enabled');
        assert.equal(m.getParameterAttributes([`${VP}${n}.Line.1.Enable`])[0].notification, 2, 'active notification');
      });
      assert.equal(m.getValue(`${VP}1.Line.1.SIP.AuthPassword`), model === 'HT502' ? 'pw-x' : 'pw-a');
      assert.equal(m.getValue(`${MS}PeriodicInformInterval`), '600');
      assert.equal(m.getValue(`${MS}PeriodicInformEnable`), 'true');
      assert.equal(m.getParameterAttributes([`${MS}PeriodicInformInterval`])[0].notification, 1);
      if (model === 'HT502') assert.equal(m.listInstances(VP).length, 2, 'the HT502 has no third account to fill');

      const deviceId = `000B82-${model}-${serial}`;
      const spvTasks = async () => (await store.listTasks({ deviceId, type: 'setParameterValues', limit: 100 })).tasks;
      assert.equal((await spvTasks()).length, 1, 'one batched SetParameterValues in the first session');
      assert.equal((await spvTasks())[0].status, 'done');

      // Second session, asked by a connection request: nothing differs, so nothing is set.
      const second = agent.nextSession();
      const cr = await acs.connectionRequest(deviceId);
      assert.equal(cr.status, 'ok', JSON.stringify(cr));
      const r2 = await second;
      assert.equal(r2.ok, true);
      assert.equal((await spvTasks()).length, 1, 'no SetParameterValues in the second session');
      const sessions = (await store.listSessions({ deviceId })).sessions;
      assert.equal(sessions.length, 2);
      assert.equal(sessions[0].rpcCount, 0, 'the second session sent no RPC at all');
      assert.ok(sessions[1].rpcCount >= 4 && sessions[1].rpcCount <= 7, `first session: ${sessions[1].rpcCount} RPCs`);
      const faults = (await store.listFaults({ deviceId })).faults;
      assert.deepEqual(faults, []);
      const dry = await call('GET', `/api/devices/${encodeURIComponent(deviceId)}/provisioning/dry-run`);
      assert.deepEqual((dry.body.changes as { set: unknown[] }).set, []);
    });
  }
});

describe('end to end: a firmware rollout kicks real agents, which download, verify, reboot and report', () => {
  let dir: string;
  let store: Store;
  let prov: Provisioning;
  let acs: Acs;
  let api: FastifyInstance;
  let apiUrl: string;
  let crServer: ConnectionRequestServer;
  let receiver: Server;
  const received: { body: string; ts: string; sig: string }[] = [];
  const agents: CpeAgent[] = [];
  const SECRET = 'e2e-webhook-secret-0123';

  const call = async (method: string, path: string, body?: object | Buffer, type = 'application/json') => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': type }) },
      body: body === undefined ? undefined : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-prov-e2e-ro-'));
    store = openSqliteStore({ dataDir: dir });
    prov = openProvisioning({ store, dataDir: dir, rolloutTickMs: 100, webhooks: { baseDelayMs: 50, pollMs: 50 } });
    acs = await startAcs({
      dataDir: dir,
      store,
      cwmpPort: 0,
      httpPort: null,
      host: '127.0.0.1',
      apiToken: TOKEN,
      logger: pino({ level: 'silent' }),
      connectionRequest: { username: CR_USER, password: CR_PASS, timeoutMs: 3000 },
      // composed by hand here (openProvisioning + bind), as an embedding application would
      provisioning: false,
      engine: { hooks: prov.service },
    });
    api = await buildApi({ store, acs, provisioning: prov.apiOptions });
    await api.listen({ host: '127.0.0.1', port: 0 });
    apiUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    prov.bind(acs, { apiUrl, cwmpUrl: acs.cwmpUrl });
    crServer = new ConnectionRequestServer({ listenHost: '127.0.0.1' });
    await crServer.listen();
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ body, ts: String(req.headers[TIMESTAMP_HEADER]), sig: String(req.headers[SIGNATURE_HEADER]) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hook = await call('POST', '/api/webhooks', { name: 'ops', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`, secret: SECRET, events: ['rollout.finished', 'transfer.complete', 'device.registered'] });
    assert.equal(hook.status, 201);
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await crServer?.close();
    await api?.close();
    await acs?.close();
    await prov?.close();
    await new Promise((r) => receiver?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('upgrades the good devices, fails the one that rejects the image, and reports by webhook', async () => {
    const scheduler = new RealScheduler();
    const otherKey = generateKeyPairSync('ed25519').publicKey;
    const serials = ['000B82E00001', '000B82E00002', '000B82E00003', '000B82E00004', '000B82E00005'];
    for (const [i, serial] of serials.entries()) {
      const agent = new CpeAgent(
        {
          profile: loadProfile('HT502'),
          serial,
          provisioning: { acsUrl: acs.cwmpUrl, connectionRequestUsername: CR_USER, connectionRequestPassword: CR_PASS },
          crRateLimit: { burst: 1000, windowMs: 1000 },
          rebootDurationMs: 30,
          responseTimeoutMs: 5000,
        },
        // the last device trusts another firmware signing key: the image is bad for it
        { scheduler, random: Math.random, connectionRequests: crServer, ...(i === serials.length - 1 ? { firmwareKey: otherKey } : {}) },
      );
      agents.push(agent);
      const first = agent.nextSession();
      agent.start();
      await first;
    }
    const image = buildFirmwareImage({ model: 'HT502', version: '1.0.10.0' });
    const up = await call('POST', `/api/files?name=ht502fw.bin&fileType=${encodeURIComponent('1 Firmware Upgrade Image')}`, image, 'application/octet-stream');
    assert.equal(up.status, 201);
    const created = await call('POST', '/api/rollouts', {
      name: 'HT502 to 1.0.10.0',
      fileId: up.body.id,
      target: { ids: serials.map((s) => `000B82-HT502-${s}`) },
      stages: [{ name: 'all', percent: 100 }],
      maxConcurrent: 2,
      failureThreshold: { count: 2 },
      kick: true,
      downloadTimeoutSeconds: 60,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = (created.body.rollout as { id: string }).id;
    const done = await until('rollout completion', 30_000, async () => {
      const p = await call('GET', `/api/rollouts/${id}`);
      return (p.body.rollout as { state: string }).state === 'completed' ? p.body : null;
    }, 50);
    assert.deepEqual(done.counts, { pending: 0, downloading: 0, succeeded: 4, failed: 1, skipped: 0 });
    const devices = (await call('GET', `/api/rollouts/${id}/devices`)).body.devices as { deviceId: string; state: string; faultCode: number | null }[];
    const failed = devices.filter((d) => d.state === 'failed');
    assert.deepEqual(failed.map((d) => [d.deviceId, d.faultCode]), [['000B82-HT502-000B82E00005', 9019]]);
    for (const [i, a] of agents.entries()) {
      assert.equal(a.model.getValue('Device.DeviceInfo.SoftwareVersion'), i === agents.length - 1 ? '1.0.3.10' : '1.0.10.0');
    }
    const events = await until('webhook deliveries', 10_000, async () => {
      const list = received.map((r) => JSON.parse(r.body) as { event: string; data: Record<string, unknown> });
      return list.some((e) => e.event === 'rollout.finished') && list.filter((e) => e.event === 'transfer.complete').length >= 5 ? list : null;
    }, 50);
    for (const r of received) assert.equal(verifyWebhookSignature(SECRET, r.ts, r.body, r.sig), true);
    assert.equal(events.filter((e) => e.event === 'device.registered').length, 5);
    const fin = events.find((e) => e.event === 'rollout.finished')!;
    assert.deepEqual([fin.data.state, (fin.data.counts as { failed: number }).failed], ['completed', 1]);
    const tc = events.filter((e) => e.event === 'transfer.complete').map((e) => e.data.faultCode).sort();
    assert.deepEqual(tc, [0, 0, 0, 0, 9019]);
  });
});
