/**
 * The whole NAT chain in one process on 127.0.0.1, for machines where the namespace test cannot
 * run (not root): the real ACS (`startAcs` with `nat`: STUN on an ephemeral port, provisioning
 * `all`) and a real CPE agent whose HTTP Connection Request listener is closed (so HTTP is refused),
 * wired through the REST API. No NAT here: what it proves is the wiring (provisioning -> STUN binding
 * -> UDP request from the STUN socket -> session -> task, path reported by the API), not traversal.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import { CpeAgent } from '../../src/cpe/agent.ts';
import { ConnectionRequestServer } from '../../src/cpe/connection-request-server.ts';
import { RealScheduler } from '../../src/cpe/scheduler.ts';
import { UdpConnectionRequestEndpoint } from '../../src/cpe/udp-endpoint.ts';
import { loadProfile } from '../../src/datamodel/model.ts';
import { until } from '../helpers/until.ts';

const TOKEN = 'sb_loopback_nat_token';
const CR = { username: 'lb-cr', password: 'lb-cr-secret' };
const PROVISION_MS = 30_000;

describe('NAT wiring end to end on loopback (real ACS, real CPE agent)', () => {
  let dir: string;
  let acs: Acs;
  let agent: CpeAgent;
  let crServer: ConnectionRequestServer;
  let udp: UdpConnectionRequestEndpoint;
  const logs: { at: number; message: string }[] = [];
  let deviceId: string;

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await fetch(`${acs.apiUrl}/api${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-nat-lb-'));
    acs = await startAcs({
      dataDir: dir,
      host: '127.0.0.1',
      cwmpPort: 0,
      httpPort: 0,
      apiToken: TOKEN,
      connectionRequest: CR,
      logger: pino({ level: 'silent' }),
      provisioning: false,
      nat: { stun: { host: '127.0.0.1', port: 0, secret: 'loopback-secret' }, provisioning: { mode: 'all' }, confirmMs: 2000 },
    });
    crServer = new ConnectionRequestServer({ listenHost: '127.0.0.1', port: 0 });
    await crServer.listen();
    udp = new UdpConnectionRequestEndpoint({ listenHost: '127.0.0.1' });
    await udp.start();
    agent = new CpeAgent(
      {
        profile: loadProfile('GXP2170'),
        serial: '000B82F00D01',
        provisioning: { acsUrl: acs.cwmpUrl, connectionRequestUsername: CR.username, connectionRequestPassword: CR.password, periodicInformEnable: true, periodicInformInterval: 1 },
        crRateLimit: { burst: 100, windowMs: 1000 },
        gateway: { oui: 'ABCDEF', productClass: 'LoopGW', serialNumber: 'LG1' },
      },
      { scheduler: new RealScheduler(), random: Math.random, connectionRequests: crServer, udp, log: (_s, _l, message) => logs.push({ at: Date.now(), message }) },
    );
    const first = agent.nextSession();
    agent.start();
    await first;
    const v = (p: string): string => agent.model.getValue(`Device.${p}`) ?? '';
    deviceId = `${v('DeviceInfo.ManufacturerOUI')}-${v('DeviceInfo.ProductClass')}-${v('DeviceInfo.SerialNumber')}`;
  });

  after(async () => {
    await agent?.stop();
    await udp?.close();
    await crServer?.close().catch(() => undefined);
    await acs?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('STUN provisioned, binding recorded; HTTP refused, UDP wakes the agent, the task runs, the API says path udp', async () => {
    const stun = acs.nat?.stun;
    assert.ok(stun);
    await until('the STUN binding', PROVISION_MS, async () => stun.record(deviceId));
    assert.equal(stun.record(deviceId)?.integrity, true);
    assert.equal(stun.record(deviceId)?.port, udp.port);
    const gw = await until('GatewayInfo at the ACS', PROVISION_MS, async () => {
      const r = await api('GET', `/devices/${encodeURIComponent(deviceId)}/gateway`);
      return (r.body.gateway as { id: string } | null)?.id;
    });
    assert.equal(gw, 'ABCDEF-LoopGW-LG1');
    // Quiet: no periodic informs during the measurement.
    const quiet = await api('POST', `/devices/${encodeURIComponent(deviceId)}/tasks?wait=15000`, {
      type: 'setParameterValues',
      parameters: [{ name: 'Device.ManagementServer.PeriodicInformEnable', value: false }],
    });
    assert.equal((quiet.body.task as { status: string }).status, 'done');
    await until('the agent to be idle', 10_000, async () => !agent.isInSession);
    // HTTP now refused: the listener is gone but the URL stays.
    await crServer.close();
    const t0 = Date.now();
    const r = await api('POST', `/devices/${encodeURIComponent(deviceId)}/tasks?connectionRequest=true&wait=10000`, { type: 'getParameterValues', names: ['Device.DeviceInfo.SoftwareVersion'] });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const cr = r.body.connectionRequest as { path: string; confirmed: boolean; attempts: { transport: string; status: string }[] };
    assert.equal(cr.path, 'udp');
    assert.equal(cr.confirmed, true);
    assert.deepEqual(cr.attempts.map((a) => [a.transport, a.status]), [
      ['http', 'unreachable'],
      ['udp', 'ok'],
    ]);
    assert.equal((r.body.task as { status: string }).status, 'done');
    assert.ok(logs.some((l) => l.at >= t0 && l.message === 'connection request (udp)'));
    // Provisioning converged: each of its tasks was queued once, not after every session.
    const tasks = (await acs.store.listTasks({ deviceId, limit: 100 })).tasks;
    const stunSpv = tasks.filter((t) => t.type === 'setParameterValues' && t.payload.parameterKey === 'switchboard-stun');
    assert.equal(stunSpv.length, 1);
    assert.equal(tasks.filter((t) => t.type === 'setParameterAttributes').length, 1);
    assert.ok(tasks.filter((t) => t.type === 'getParameterValues').length <= 2, 'one GPV from provisioning, one from this test');
    assert.ok(tasks.every((t) => t.status === 'done'), JSON.stringify(tasks.map((t) => [t.type, t.status])));
  });
});
