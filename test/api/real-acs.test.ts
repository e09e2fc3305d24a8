/**
 * The REST API mounted by the real ACS core (`startAcs`) on 127.0.0.1:0, with a real CPE agent
 * (src/cpe) that answers connection requests: a task created through the API with
 * `connectionRequest=true&wait=` travels through the connection request, a CWMP session and back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startAcs, type Acs } from '../../src/acs/app.ts';
import { CpeAgent } from '../../src/cpe/agent.ts';
import { ConnectionRequestServer } from '../../src/cpe/connection-request-server.ts';
import { RealScheduler } from '../../src/cpe/scheduler.ts';
import { loadProfile } from '../../src/datamodel/model.ts';

const API_TOKEN = 'sb_real-acs-test-token-0123456789abcdefghijkl';
const CR_USER = 'cruser';
const CR_PASS = 'crpass-real';

describe('REST API on the real ACS core with a real CPE agent', () => {
  let dataDir: string;
  let acs: Acs;
  let crServer: ConnectionRequestServer;
  let agent: CpeAgent;
  let deviceId: string;

  const api = async (method: string, path: string, body?: unknown, token = API_TOKEN) => {
    const res = await fetch(`${acs.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { [k: string]: unknown } };
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sb-api-real-'));
    acs = await startAcs({
      dataDir,
      cwmpPort: 0,
      httpPort: 0,
      host: '127.0.0.1',
      apiToken: API_TOKEN,
      logger: pino({ level: 'silent' }),
      connectionRequest: { username: CR_USER, password: CR_PASS, timeoutMs: 3000 },
    });
    crServer = new ConnectionRequestServer({ listenHost: '127.0.0.1' });
    await crServer.listen();
    agent = new CpeAgent(
      {
        profile: loadProfile('GXP2140'),
        serial: '000B82C0FFEE',
        provisioning: { acsUrl: acs.cwmpUrl, connectionRequestUsername: CR_USER, connectionRequestPassword: CR_PASS },
        crRateLimit: { burst: 1000, windowMs: 1000 },
        rebootDurationMs: 30,
        responseTimeoutMs: 5000,
      },
      { scheduler: new RealScheduler(), random: Math.random, connectionRequests: crServer },
    );
    const first = agent.nextSession();
    agent.start();
    await first; // the BOOTSTRAP session: the device is now in the inventory
  });

  after(async () => {
    await agent?.stop();
    await crServer?.close();
    await acs?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('lists the device that informed, with its connection request URL and no password', async () => {
    const res = await api('GET', '/api/devices?q=C0FFEE');
    assert.equal(res.status, 200);
    assert.equal(res.body.total, 1);
    const device = (res.body.devices as Record<string, unknown>[])[0];
    deviceId = String(device.id);
    assert.match(deviceId, /^000B82-.+-000B82C0FFEE$/);
    assert.match(String(device.connectionRequestUrl), /^http:\/\/127\.0\.0\.1:\d+\//);
    assert.ok(!JSON.stringify(res.body).includes(CR_PASS));
    const anonymous = await fetch(`${acs.apiUrl}/api/devices`);
    assert.equal(anonymous.status, 401);
  });

  it('creates a task with connectionRequest+wait and answers 200 with the CPE result', async () => {
    const started = Date.now();
    const res = await api('POST', `/api/devices/${encodeURIComponent(deviceId)}/tasks?connectionRequest=true&wait=15000`, {
      type: 'getParameterValues',
      names: ['Device.DeviceInfo.SoftwareVersion', 'Device.ManagementServer.PeriodicInformInterval'],
    });
    const elapsed = Date.now() - started;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const task = res.body.task as { status: string; result: unknown; connectionRequest: boolean };
    assert.equal(task.status, 'done');
    assert.equal(task.connectionRequest, true);
    assert.equal((res.body.connectionRequest as { status: string }).status, 'ok');
    assert.match(JSON.stringify(task.result), /Device\.DeviceInfo\.SoftwareVersion/);
    assert.ok(elapsed < 15000);
    if (process.env.SB_PRINT_FIGURES) console.log(`connectionRequest+wait round trip: ${elapsed} ms`);
    // The values are in the inventory now.
    const params = await api('GET', `/api/devices/${encodeURIComponent(deviceId)}/parameters?prefix=Device.DeviceInfo.`);
    const names = (params.body.parameters as { name: string }[]).map((p) => p.name);
    assert.ok(names.includes('Device.DeviceInfo.SoftwareVersion'));
  });

  it('shows the sessions (bootstrap, then the connection request) and the audit entry', async () => {
    const events = await api('GET', `/api/devices/${encodeURIComponent(deviceId)}/events`);
    assert.equal(events.status, 200);
    const codes = (events.body.sessions as { events: { eventCode: string }[] }[]).flatMap((s) => s.events.map((e) => e.eventCode));
    assert.ok(codes.includes('0 BOOTSTRAP'), codes.join());
    assert.ok(codes.includes('6 CONNECTION REQUEST'), codes.join());
    const audit = await api('GET', '/api/audit?action=task.create');
    const entries = audit.body.entries as { actor: string; target: string }[];
    assert.equal(entries.length, 1);
    assert.deepEqual([entries[0].actor, entries[0].target], ['bootstrap', deviceId]);
  });

  it('answers 202 with the pending task when no session comes within the wait, then cancels it', async () => {
    const res = await api('POST', `/api/devices/${encodeURIComponent(deviceId)}/tasks?wait=100`, { type: 'getRPCMethods' });
    assert.equal(res.status, 202);
    assert.equal((res.body.task as { status: string }).status, 'pending');
    const cancel = await api('DELETE', `/api/tasks/${(res.body.task as { id: string }).id}`);
    assert.equal(cancel.status, 200);
    assert.equal((cancel.body as { status: string }).status, 'cancelled');
  });
});
