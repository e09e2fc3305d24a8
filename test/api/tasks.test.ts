import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { enc, seedDevice, setup, type Harness } from './helpers.ts';

/** Every task shape of the issue, as an operator would send it. */
const TASK_EXAMPLES = [
  { type: 'getParameterValues', names: ['Device.DeviceInfo.SoftwareVersion', 'Device.ManagementServer.'] },
  { type: 'setParameterValues', parameters: [{ name: 'Device.ManagementServer.PeriodicInformInterval', value: 300, type: 'unsignedInt' }], parameterKey: 'k1' },
  { type: 'getParameterNames', path: 'Device.', nextLevel: true },
  { type: 'getParameterAttributes', names: ['Device.DeviceInfo.'] },
  { type: 'setParameterAttributes', parameters: [{ name: 'Device.DeviceInfo.SoftwareVersion', notification: 2 }] },
  { type: 'addObject', objectName: 'Device.Services.VoiceService.1.VoiceProfile.', parameterKey: 'k2' },
  { type: 'deleteObject', objectName: 'Device.Services.VoiceService.1.VoiceProfile.2.' },
  { type: 'reboot', commandKey: 'maintenance' },
  { type: 'factoryReset' },
  { type: 'download', fileType: '1 Firmware Upgrade Image', url: 'http://files.example.net/ht50x.bin', fileSize: 4096 },
  { type: 'upload', fileType: '3 Vendor Configuration File', url: 'http://files.example.net/upload' },
  { type: 'scheduleInform', delaySeconds: 30, commandKey: 'later' },
  { type: 'getRPCMethods' },
  { type: 'refresh', path: 'Device.ManagementServer.' },
];

describe('POST /api/devices/{id}/tasks', () => {
  let h: Harness;
  let id: string;
  let url: string;
  before(async () => {
    h = await setup({ maxWaitMs: 5000 });
    id = await seedDevice(h.store, { productClass: 'HT502', serialNumber: 'T1' });
    url = `/api/devices/${enc(id)}/tasks`;
  });
  after(() => h.close());

  it('queues every task type of the issue (202, pending, payload kept, Location header)', async () => {
    for (const body of TASK_EXAMPLES) {
      const res = await h.call('POST', url, { token: h.tokens.operator, body });
      assert.equal(res.statusCode, 202, `${body.type}: ${res.body}`);
      const { task, connectionRequest } = res.json();
      assert.equal(task.status, 'pending');
      assert.equal(task.type, body.type);
      assert.deepEqual(task.payload, body);
      assert.equal(task.deviceId, id);
      assert.equal(connectionRequest, undefined);
      assert.equal(res.headers.location, `/api/tasks/${task.id}`);
      assert.equal((await h.store.getTask(task.id))?.type, body.type);
    }
    assert.equal(h.acs.connectionRequests.length, 0);
  });

  it('passes maxAttempts and expiresAt through', async () => {
    const res = await h.call('POST', `${url}?maxAttempts=5&expiresAt=${encodeURIComponent('2030-01-01T01:00:00+01:00')}`, { body: { type: 'reboot' } });
    assert.equal(res.statusCode, 202);
    assert.equal(res.json().task.maxAttempts, 5);
    assert.equal(res.json().task.expiresAt, '2030-01-01T00:00:00.000Z');
  });

  it('answers 400 MALFORMED_JSON for bad and empty JSON, with the parser reason', async () => {
    const bad = await h.call('POST', url, { payload: '{"type": "reboot",' });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'MALFORMED_JSON');
    assert.match(bad.json().message, /^The request body is not valid JSON: .*JSON/);
    // An empty body is no body: the task check says what is missing.
    const empty = await h.call('POST', url, { payload: '' });
    assert.equal(empty.statusCode, 400);
    assert.equal(empty.json().code, 'INVALID_TASK');
    assert.match(empty.json().message, /must be an object/);
    const poisoned = await h.call('POST', url, { payload: '{"type":"reboot","__proto__":{"admin":true}}' });
    assert.equal(poisoned.statusCode, 400);
    assert.match(poisoned.json().message, /__proto__/);
  });

  it('answers 415 for a non-JSON body', async () => {
    const res = await h.call('POST', url, { payload: 'type=reboot', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.statusCode, 415);
    assert.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 400 INVALID_TASK naming the field: unknown type, missing field, extra field, bad value', async () => {
    const cases: [unknown, RegExp][] = [
      [{ type: 'explode' }, /\/type: must be one of getParameterValues/],
      [{ names: ['Device.'] }, /\/type: must be one of/],
      [{ type: 'getParameterValues' }, /\/names: Expected required property/],
      [{ type: 'getParameterValues', names: [] }, /\/names: .*length/],
      [{ type: 'setParameterValues', parameters: [{ value: '1' }] }, /\/parameters\/0\/name: Expected required property/],
      [{ type: 'reboot', force: true }, /\/force: Unexpected property/],
      [{ type: 'scheduleInform', delaySeconds: 0 }, /\/delaySeconds/],
      [{ type: 'getParameterNames', path: 'Device.', nextLevel: 'yes' }, /\/nextLevel: Expected boolean/],
      [{ type: 'download', fileType: '1 Firmware Upgrade Image', url: 'not a url' }, /\/url/],
      [[{ type: 'reboot' }], /must be an object/],
    ];
    for (const [body, message] of cases) {
      const res = await h.call('POST', url, { token: h.tokens.operator, body });
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json().code, 'INVALID_TASK', JSON.stringify(body));
      assert.match(res.json().message, message, JSON.stringify(body));
      assert.ok(Array.isArray(res.json().details.issues));
    }
  });

  it('answers 404 DEVICE_NOT_FOUND for an unknown device', async () => {
    const res = await h.call('POST', `/api/devices/${enc('000B82-HT502-GONE')}/tasks`, { body: { type: 'reboot' } });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().code, 'DEVICE_NOT_FOUND');
  });

  it('answers 413 PAYLOAD_TOO_LARGE above the body limit', async () => {
    const small = await setup({ bodyLimit: 1024 });
    try {
      const dev = await seedDevice(small.store, { productClass: 'HT502', serialNumber: 'BIG' });
      const names = Array.from({ length: 100 }, (_, i) => `Device.X.Param${i}`);
      const res = await small.call('POST', `/api/devices/${enc(dev)}/tasks`, { body: { type: 'getParameterValues', names } });
      assert.equal(res.statusCode, 413);
      assert.equal(res.json().code, 'PAYLOAD_TOO_LARGE');
      assert.match(res.json().message, /1024 bytes/);
    } finally {
      await small.close();
    }
  });

  it('with connectionRequest and wait: 200 with the finished task when the device answers in time', async () => {
    h.acs.mode = 'answers';
    h.acs.resultFor = (task) => (task.type === 'getParameterValues' ? { parameters: [{ name: 'Device.DeviceInfo.SoftwareVersion', value: '1.0.3.10', type: 'string' }] } : null);
    const started = Date.now();
    const res = await h.call('POST', `${url}?connectionRequest=true&wait=3000`, { token: h.tokens.operator, body: { type: 'getParameterValues', names: ['Device.DeviceInfo.SoftwareVersion'] } });
    const elapsed = Date.now() - started;
    assert.equal(res.statusCode, 200, res.body);
    const { task, connectionRequest } = res.json();
    assert.equal(task.status, 'done');
    assert.equal(task.connectionRequest, true);
    assert.deepEqual(task.result, { parameters: [{ name: 'Device.DeviceInfo.SoftwareVersion', value: '1.0.3.10', type: 'string' }] });
    assert.equal(connectionRequest.status, 'ok');
    assert.ok(elapsed < 2500, `answered after ${elapsed} ms, the task finished after ~20 ms`);
    assert.deepEqual(h.acs.connectionRequests.slice(-1), [id]);
  });

  it('with connectionRequest and wait: 202 with the pending task after the wait when the device stays silent', async () => {
    h.acs.mode = 'silent';
    try {
      const started = Date.now();
      const res = await h.call('POST', `${url}?connectionRequest=true&wait=150`, { body: { type: 'reboot' } });
      const elapsed = Date.now() - started;
      assert.equal(res.statusCode, 202);
      assert.equal(res.json().task.status, 'pending');
      assert.equal(res.json().connectionRequest.status, 'ok');
      assert.ok(elapsed >= 140, `gave up after ${elapsed} ms, before the wait`);
    } finally {
      h.acs.mode = 'answers';
    }
  });

  it('with connectionRequest and wait: an immediate 202 carrying the CR result when the device is unreachable', async () => {
    h.acs.connectionRequestResult = { status: 'unreachable', transport: 'http', detail: 'connect ECONNREFUSED 192.0.2.1:7547' };
    try {
      const started = Date.now();
      const res = await h.call('POST', `${url}?connectionRequest=true&wait=3000`, { body: { type: 'reboot' } });
      const elapsed = Date.now() - started;
      assert.equal(res.statusCode, 202);
      assert.equal(res.json().task.status, 'pending');
      assert.deepEqual(res.json().connectionRequest, { status: 'unreachable', transport: 'http', detail: 'connect ECONNREFUSED 192.0.2.1:7547' });
      assert.ok(elapsed < 2000, `answered after ${elapsed} ms instead of at once`);
    } finally {
      h.acs.connectionRequestResult = { status: 'ok', transport: 'http', httpStatus: 200, detail: 'ok' };
    }
  });

  it('says when the connection request was deduplicated (another caller had just asked)', async () => {
    h.acs.connectionRequestResult = { status: 'ok', transport: 'http', httpStatus: 200, detail: 'deduplicated: the CPE accepted the request', deduplicated: true };
    try {
      const res = await h.call('POST', `${url}?connectionRequest=true`, { body: { type: 'reboot' } });
      assert.equal(res.statusCode, 202);
      assert.equal(res.json().connectionRequest.deduplicated, true);
      assert.match(res.json().connectionRequest.detail, /^deduplicated:/);
    } finally {
      h.acs.connectionRequestResult = { status: 'ok', transport: 'http', httpStatus: 200, detail: 'ok' };
    }
  });

  it('refuses a wait above the configured maximum (400 naming wait)', async () => {
    const res = await h.call('POST', `${url}?wait=999999`, { body: { type: 'reboot' } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /\/wait/);
  });

  it('stops waiting when the client disconnects', async () => {
    h.acs.mode = 'silent';
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { port } = h.app.server.address() as AddressInfo;
      const before = h.acs.abortedWaits;
      const waitsBefore = h.acs.waitsStarted;
      await new Promise<void>((resolve) => {
        const req = httpRequest({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `${url}?wait=4000`,
          headers: { authorization: `Bearer ${h.tokens.operator}`, 'content-type': 'application/json' },
        });
        req.on('error', () => resolve());
        req.end(JSON.stringify({ type: 'reboot' }));
        // disconnect once the server is waiting (a loaded machine may take a while to get there)
        const started = Date.now();
        const poll = setInterval(() => {
          if (h.acs.waitsStarted > waitsBefore || Date.now() - started > 3000) {
            clearInterval(poll);
            req.destroy();
            resolve();
          }
        }, 5);
      });
      const deadline = Date.now() + 2000;
      while (h.acs.abortedWaits === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.acs.abortedWaits, before + 1);
    } finally {
      h.acs.mode = 'answers';
    }
  });
});

describe('task listing, reading and cancelling', () => {
  let h: Harness;
  let id: string;
  let other: string;
  before(async () => {
    h = await setup();
    id = await seedDevice(h.store, { productClass: 'HT502', serialNumber: 'L1' });
    other = await seedDevice(h.store, { productClass: 'HT814', serialNumber: 'L2' });
    for (let i = 0; i < 5; i++) await h.call('POST', `/api/devices/${enc(id)}/tasks`, { body: { type: 'scheduleInform', delaySeconds: i + 1 } });
    await h.call('POST', `/api/devices/${enc(other)}/tasks`, { body: { type: 'getRPCMethods' } });
  });
  after(() => h.close());

  it("lists a device's tasks newest first with pagination and a status filter", async () => {
    const p1 = (await h.call('GET', `/api/devices/${enc(id)}/tasks?limit=3`, { token: h.tokens.viewer })).json();
    assert.equal(p1.tasks.length, 3);
    assert.deepEqual(p1.tasks.map((t: { payload: { delaySeconds: number } }) => t.payload.delaySeconds), [5, 4, 3]);
    const p2 = (await h.call('GET', `/api/devices/${enc(id)}/tasks?limit=3&cursor=${encodeURIComponent(p1.nextCursor)}`)).json();
    assert.deepEqual(p2.tasks.map((t: { payload: { delaySeconds: number } }) => t.payload.delaySeconds), [2, 1]);
    assert.equal(p2.nextCursor, null);
    const asc = (await h.call('GET', `/api/devices/${enc(id)}/tasks?order=asc&limit=1`)).json();
    assert.equal(asc.tasks[0].payload.delaySeconds, 1);
    const done = (await h.call('GET', `/api/devices/${enc(id)}/tasks?status=done`)).json();
    assert.equal(done.tasks.length, 0);
    const pending = (await h.call('GET', `/api/devices/${enc(id)}/tasks?status=pending&status=running`)).json();
    assert.equal(pending.tasks.length, 5);
    const bad = await h.call('GET', `/api/devices/${enc(id)}/tasks?status=sleeping`);
    assert.equal(bad.statusCode, 400);
    const unknown = await h.call('GET', `/api/devices/${enc('000B82-X-Y')}/tasks`);
    assert.equal(unknown.statusCode, 404);
  });

  it('lists tasks of every device, filtered by device and type', async () => {
    const all = (await h.call('GET', '/api/tasks', { token: h.tokens.viewer })).json();
    assert.equal(all.tasks.length, 6);
    const byType = (await h.call('GET', '/api/tasks?type=getRPCMethods')).json();
    assert.deepEqual(byType.tasks.map((t: { deviceId: string }) => t.deviceId), [other]);
    const byDevice = (await h.call('GET', `/api/tasks?deviceId=${enc(other)}`)).json();
    assert.equal(byDevice.tasks.length, 1);
  });

  it('reads one task, 404 for an unknown id', async () => {
    const list = (await h.call('GET', `/api/devices/${enc(other)}/tasks`)).json();
    const res = await h.call('GET', `/api/tasks/${list.tasks[0].id}`, { token: h.tokens.viewer });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().type, 'getRPCMethods');
    const missing = await h.call('GET', '/api/tasks/424242');
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { code: 'TASK_NOT_FOUND', message: 'No task has the id "424242".' });
  });

  it('cancels a pending task (idempotent), refuses a finished one with 409', async () => {
    const created = (await h.call('POST', `/api/devices/${enc(id)}/tasks`, { body: { type: 'factoryReset' } })).json().task;
    const res = await h.call('DELETE', `/api/tasks/${created.id}`, { token: h.tokens.operator });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().status, 'cancelled');
    assert.equal((await h.store.getTask(created.id))?.status, 'cancelled');
    const again = await h.call('DELETE', `/api/tasks/${created.id}`, { token: h.tokens.operator });
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().status, 'cancelled');

    const finished = (await h.call('POST', `/api/devices/${enc(other)}/tasks`, { body: { type: 'reboot' } })).json().task;
    await h.acs.runSession(other);
    const refused = await h.call('DELETE', `/api/tasks/${finished.id}`, { token: h.tokens.operator });
    assert.equal(refused.statusCode, 409);
    assert.equal(refused.json().code, 'TASK_ALREADY_FINISHED');
    assert.match(refused.json().message, /status "done"/);
    const unknown = await h.call('DELETE', '/api/tasks/424242', { token: h.tokens.operator });
    assert.equal(unknown.statusCode, 404);
  });

  it('hides secrets inside tasks unless an admin asks, and redacts them in the audit log', async () => {
    const body = {
      type: 'setParameterValues',
      parameters: [
        { name: 'Device.ManagementServer.ConnectionRequestPassword', value: 'new-cr-SECRET' },
        { name: 'Device.ManagementServer.PeriodicInformInterval', value: 600 },
      ],
    };
    const res = await h.call('POST', `/api/devices/${enc(id)}/tasks`, { token: h.tokens.operator, body });
    assert.equal(res.statusCode, 202);
    assert.ok(!res.body.includes('new-cr-SECRET'));
    const task = res.json().task;
    assert.equal(task.payload.parameters[0].value, '[redacted]');
    assert.equal(task.payload.parameters[1].value, 600);
    // Stored in clear (the ACS must send it).
    assert.equal(((await h.store.getTask(task.id))?.payload as typeof body).parameters[0].value, 'new-cr-SECRET');
    for (const listUrl of [`/api/devices/${enc(id)}/tasks`, '/api/tasks', `/api/tasks/${task.id}`]) {
      const read = await h.call('GET', listUrl, { token: h.tokens.viewer });
      assert.equal(read.statusCode, 200);
      assert.ok(!read.body.includes('new-cr-SECRET'), listUrl);
    }
    const dl = await h.call('POST', `/api/devices/${enc(id)}/tasks`, {
      body: { type: 'download', fileType: '1 Firmware Upgrade Image', url: 'https://files.example.net/fw.bin', username: 'fw', password: 'file-SECRET' },
    });
    assert.ok(!dl.body.includes('file-SECRET'));
    const admin = await h.call('GET', `/api/tasks/${task.id}?includeSecrets=true`);
    assert.equal(admin.json().payload.parameters[0].value, 'new-cr-SECRET');
    const viewer = await h.call('GET', `/api/tasks/${task.id}?includeSecrets=true`, { token: h.tokens.viewer });
    assert.equal(viewer.statusCode, 403);
    const audit = await h.store.listAudit({ limit: 1000 });
    const text = JSON.stringify(audit.entries);
    assert.ok(!text.includes('new-cr-SECRET') && !text.includes('file-SECRET'));
    assert.ok(audit.entries.some((e) => e.action === 'secrets.read' && e.target === task.id));
  });
});
