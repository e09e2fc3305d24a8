/**
 * Session engine: queued tasks of every type, run one RPC per HTTP response, with their results,
 * inventory updates, CPE faults, retries with back-off, expiry, cancellation and completions that
 * arrive in later sessions. Every ACS message is validated against the BBF schema.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptedCpe, makeEngine, informMessage, deviceIdOf, methodOf, param, type Exchange } from './engine-harness.ts';
import type { CpeRequest, CpeResponse, CwmpMessage, SoapFault } from '../../src/cwmp/types.ts';
import type { JsonObject, Store, Task } from '../../src/store/types.ts';
import { TASK_TYPES, type TaskPayload } from '../../src/acs/tasks/schema.ts';

const DEV = deviceIdOf('SN0001');
const UNKNOWN = '0001-01-01T00:00:00Z';
const TIME = '2025-06-01T10:00:05Z';

function request(ex: Exchange): CpeRequest {
  const body = ex.parsed?.body;
  assert.ok(body, `expected an ACS request, got ${ex.reply.status} ${ex.reply.body}`);
  return body as CpeRequest;
}

function cpeFault(code: number, text: string, spv: SoapFault['setParameterValuesFaults'] = []): SoapFault {
  return { method: 'Fault', faultcode: code === 9005 || code === 9003 || code === 9007 ? 'Client' : 'Server', faultstring: 'CWMP fault', faultCode: code, faultString: text, setParameterValuesFaults: spv };
}

async function seedDevice(cpe: ScriptedCpe, extraParams: ReturnType<typeof param>[] = []): Promise<void> {
  const base = informMessage().parameterList;
  assert.equal(methodOf(await cpe.informAndEmpty({ parameters: [...base, ...extraParams] })), '204');
}

interface TaskCase {
  payload: TaskPayload;
  /** The RPC(s) expected and the CPE's answer to each. */
  steps: { expect: (req: CpeRequest) => void; respond: (req: CpeRequest) => CpeResponse }[];
  check: (task: Task, store: Store) => Promise<void>;
  version?: '1.0' | '1.2';
  /** The task stays running waiting for a completion report. */
  awaits?: boolean;
}

const cases: Record<TaskPayload['type'], TaskCase> = {
  getParameterValues: {
    payload: { type: 'getParameterValues', names: ['InternetGatewayDevice.DeviceInfo.'] },
    steps: [{
      expect: (r) => assert.deepEqual(r, { method: 'GetParameterValues', parameterNames: ['InternetGatewayDevice.DeviceInfo.'] }),
      respond: () => ({ method: 'GetParameterValuesResponse', parameterList: [param('InternetGatewayDevice.DeviceInfo.UpTime', '345', 'unsignedInt'), param('InternetGatewayDevice.DeviceInfo.SoftwareVersion', '1.0.3.10')] }),
    }],
    async check(task, store) {
      assert.deepEqual(task.result, { parameters: [{ name: 'InternetGatewayDevice.DeviceInfo.UpTime', value: '345', type: 'unsignedInt' }, { name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', value: '1.0.3.10', type: 'string' }] });
      const [up] = await store.getParameters(DEV, { names: ['InternetGatewayDevice.DeviceInfo.UpTime'] });
      assert.equal(up.value, '345');
      assert.equal(up.type, 'unsignedInt');
    },
  },
  setParameterValues: {
    payload: { type: 'setParameterValues', parameters: [{ name: 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval', value: 600 }, { name: 'InternetGatewayDevice.X_GS.Enable', value: true }, { name: 'InternetGatewayDevice.X_GS.Name', value: 'lobby', type: 'string' }], parameterKey: 'pk-1' },
    steps: [{
      expect: (r) => {
        assert.equal(r.method, 'SetParameterValues');
        if (r.method !== 'SetParameterValues') return;
        assert.equal(r.parameterKey, 'pk-1');
        // the stored type of PeriodicInformInterval (unsignedInt) wins; booleans follow the stored "1/0" style
        assert.deepEqual(r.parameterList, [
          { name: 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval', value: '600', type: 'unsignedInt' },
          { name: 'InternetGatewayDevice.X_GS.Enable', value: '1', type: 'boolean' },
          { name: 'InternetGatewayDevice.X_GS.Name', value: 'lobby', type: 'string' },
        ]);
      },
      respond: () => ({ method: 'SetParameterValuesResponse', status: 0 }),
    }],
    async check(task, store) {
      assert.deepEqual(task.result, { status: 0 });
      const ps = await store.getParameters(DEV, { names: ['InternetGatewayDevice.ManagementServer.PeriodicInformInterval', 'InternetGatewayDevice.X_GS.Enable'] });
      assert.deepEqual(ps.map((p) => p.value), ['600', '1']);
    },
  },
  getParameterNames: {
    payload: { type: 'getParameterNames', path: 'InternetGatewayDevice.Services.', nextLevel: true },
    steps: [{
      expect: (r) => assert.deepEqual(r, { method: 'GetParameterNames', parameterPath: 'InternetGatewayDevice.Services.', nextLevel: true }),
      respond: () => ({ method: 'GetParameterNamesResponse', parameterList: [{ name: 'InternetGatewayDevice.Services.VoiceService.', writable: false }, { name: 'InternetGatewayDevice.Services.VoiceServiceNumberOfEntries', writable: false }] }),
    }],
    async check(task, store) {
      const ps = await store.getParameters(DEV, { prefix: 'InternetGatewayDevice.Services.' });
      assert.deepEqual(ps.map((p) => [p.name, p.writable, p.object]), [['InternetGatewayDevice.Services.VoiceService.', false, true], ['InternetGatewayDevice.Services.VoiceServiceNumberOfEntries', false, false]]);
      assert.equal((task.result as { parameters: unknown[] }).parameters.length, 2);
    },
  },
  getParameterAttributes: {
    payload: { type: 'getParameterAttributes', names: ['InternetGatewayDevice.DeviceInfo.SoftwareVersion'] },
    steps: [{
      expect: (r) => assert.equal(r.method, 'GetParameterAttributes'),
      respond: () => ({ method: 'GetParameterAttributesResponse', parameterList: [{ name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', notification: 2, accessList: ['Subscriber'] }] }),
    }],
    async check(_task, store) {
      const [p] = await store.getParameters(DEV, { names: ['InternetGatewayDevice.DeviceInfo.SoftwareVersion'] });
      assert.equal(p.notification, 2);
      assert.deepEqual(p.accessList, ['Subscriber']);
      assert.equal(p.value, '1.0.3.10', 'attributes do not erase the value');
    },
  },
  setParameterAttributes: {
    payload: { type: 'setParameterAttributes', parameters: [{ name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', notification: 1 }, { name: 'InternetGatewayDevice.ManagementServer.', accessList: [] }] },
    steps: [{
      expect: (r) => {
        assert.equal(r.method, 'SetParameterAttributes');
        if (r.method !== 'SetParameterAttributes') return;
        assert.deepEqual(r.parameterList[0], { name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', notificationChange: true, notification: 1, accessListChange: false, accessList: [] });
        assert.equal(r.parameterList[1].notificationChange, false);
        assert.equal(r.parameterList[1].accessListChange, true);
      },
      respond: () => ({ method: 'SetParameterAttributesResponse' }),
    }],
    async check(_task, store) {
      const [sw] = await store.getParameters(DEV, { names: ['InternetGatewayDevice.DeviceInfo.SoftwareVersion'] });
      assert.equal(sw.notification, 1);
      const ms = await store.getParameters(DEV, { prefix: 'InternetGatewayDevice.ManagementServer.' });
      assert.ok(ms.length > 0);
      for (const p of ms) assert.deepEqual(p.accessList, [], `${p.name} gets the access list of its partial path`);
    },
  },
  addObject: {
    payload: { type: 'addObject', objectName: 'InternetGatewayDevice.Services.VoiceService.1.VoiceProfile.', parameterKey: 'pk-add' },
    steps: [{
      expect: (r) => assert.deepEqual(r, { method: 'AddObject', objectName: 'InternetGatewayDevice.Services.VoiceService.1.VoiceProfile.', parameterKey: 'pk-add' }),
      respond: () => ({ method: 'AddObjectResponse', instanceNumber: 3, status: 0 }),
    }],
    async check(task, store) {
      assert.deepEqual(task.result, { instanceNumber: 3, status: 0 });
      const [node] = await store.getParameters(DEV, { names: ['InternetGatewayDevice.Services.VoiceService.1.VoiceProfile.3.'] });
      assert.equal(node.object, true);
    },
  },
  deleteObject: {
    payload: { type: 'deleteObject', objectName: 'InternetGatewayDevice.X_GS.Line.2.' },
    steps: [{
      expect: (r) => assert.deepEqual(r, { method: 'DeleteObject', objectName: 'InternetGatewayDevice.X_GS.Line.2.', parameterKey: '' }),
      respond: () => ({ method: 'DeleteObjectResponse', status: 0 }),
    }],
    async check(_task, store) {
      const names = (await store.getParameters(DEV, { prefix: 'InternetGatewayDevice.X_GS.Line.' })).map((p) => p.name);
      assert.deepEqual(names, ['InternetGatewayDevice.X_GS.Line.1.Name']);
    },
  },
  reboot: {
    payload: { type: 'reboot', commandKey: 'rb-1' },
    steps: [{ expect: (r) => assert.deepEqual(r, { method: 'Reboot', commandKey: 'rb-1' }), respond: () => ({ method: 'RebootResponse' }) }],
    async check(task) {
      assert.deepEqual(task.result, { commandKey: 'rb-1' });
    },
  },
  factoryReset: {
    payload: { type: 'factoryReset' },
    steps: [{ expect: (r) => assert.deepEqual(r, { method: 'FactoryReset' }), respond: () => ({ method: 'FactoryResetResponse' }) }],
    async check(task) {
      assert.deepEqual(task.result, {});
    },
  },
  download: {
    payload: { type: 'download', fileType: '1 Firmware Upgrade Image', url: 'http://files.example/fw.bin', fileSize: 1234, username: 'u', password: 'p' },
    steps: [{
      expect: (r) => {
        assert.equal(r.method, 'Download');
        if (r.method !== 'Download') return;
        assert.equal(r.url, 'http://files.example/fw.bin');
        assert.equal(r.fileSize, 1234);
        assert.match(r.commandKey, /^sb-task-\d+$/);
      },
      respond: () => ({ method: 'DownloadResponse', status: 0, startTime: TIME, completeTime: TIME }),
    }],
    async check(task) {
      assert.equal((task.result as JsonObject).status, 0);
    },
  },
  upload: {
    payload: { type: 'upload', fileType: '2 Vendor Log File', url: 'http://files.example/up/', commandKey: 'up1' },
    steps: [{ expect: (r) => assert.equal(r.method, 'Upload'), respond: () => ({ method: 'UploadResponse', status: 0, startTime: TIME, completeTime: TIME }) }],
    async check(task) {
      assert.equal((task.result as JsonObject).commandKey, 'up1');
    },
  },
  scheduleInform: {
    payload: { type: 'scheduleInform', delaySeconds: 30, commandKey: 'si' },
    steps: [{ expect: (r) => assert.deepEqual(r, { method: 'ScheduleInform', delaySeconds: 30, commandKey: 'si' }), respond: () => ({ method: 'ScheduleInformResponse' }) }],
    async check() {},
  },
  getRPCMethods: {
    payload: { type: 'getRPCMethods' },
    steps: [{ expect: (r) => assert.deepEqual(r, { method: 'GetRPCMethods' }), respond: () => ({ method: 'GetRPCMethodsResponse', methodList: ['GetRPCMethods', 'Reboot'] }) }],
    async check(task) {
      assert.deepEqual(task.result, { methods: ['GetRPCMethods', 'Reboot'] });
    },
  },
  refresh: {
    payload: { type: 'refresh', path: 'InternetGatewayDevice.X_GS.' },
    steps: [
      {
        expect: (r) => assert.deepEqual(r, { method: 'GetParameterNames', parameterPath: 'InternetGatewayDevice.X_GS.', nextLevel: false }),
        respond: () => ({
          method: 'GetParameterNamesResponse',
          parameterList: [
            { name: 'InternetGatewayDevice.X_GS.', writable: false },
            { name: 'InternetGatewayDevice.X_GS.Line.', writable: true },
            { name: 'InternetGatewayDevice.X_GS.Line.1.', writable: true },
            { name: 'InternetGatewayDevice.X_GS.Line.1.Name', writable: true },
            { name: 'InternetGatewayDevice.X_GS.Codec', writable: true },
          ],
        }),
      },
      {
        expect: (r) => assert.deepEqual(r, { method: 'GetParameterValues', parameterNames: ['InternetGatewayDevice.X_GS.'] }),
        respond: () => ({ method: 'GetParameterValuesResponse', parameterList: [param('InternetGatewayDevice.X_GS.Line.1.Name', 'front desk'), param('InternetGatewayDevice.X_GS.Codec', 'PCMU')] }),
      },
    ],
    async check(task, store) {
      assert.deepEqual(task.result, { parameters: 2 });
      const ps = await store.getParameters(DEV, { prefix: 'InternetGatewayDevice.X_GS.' });
      // Line.2 (no longer reported) is gone; new nodes are there with values and writability
      assert.deepEqual(ps.map((p) => [p.name, p.value, p.writable]), [
        ['InternetGatewayDevice.X_GS.', null, false],
        ['InternetGatewayDevice.X_GS.Codec', 'PCMU', true],
        ['InternetGatewayDevice.X_GS.Line.', null, true],
        ['InternetGatewayDevice.X_GS.Line.1.', null, true],
        ['InternetGatewayDevice.X_GS.Line.1.Name', 'front desk', true],
      ]);
      assert.equal(task.attempts, 1, 'the two RPCs of a refresh are one attempt');
    },
  },
  scheduleDownload: {
    version: '1.2',
    payload: { type: 'scheduleDownload', fileType: '1 Firmware Upgrade Image', url: 'http://files.example/fw.bin', commandKey: 'sd1', timeWindows: [{ windowStart: 0, windowEnd: 3600, windowMode: '1 At Any Time' }] },
    steps: [{ expect: (r) => assert.equal(r.method, 'ScheduleDownload'), respond: () => ({ method: 'ScheduleDownloadResponse' }) }],
    awaits: true,
    async check(task) {
      assert.equal((task.result as JsonObject).awaiting, 'TransferComplete');
    },
  },
  cancelTransfer: {
    version: '1.2',
    payload: { type: 'cancelTransfer', commandKey: 'sd1' },
    steps: [{ expect: (r) => assert.deepEqual(r, { method: 'CancelTransfer', commandKey: 'sd1' }), respond: () => ({ method: 'CancelTransferResponse' }) }],
    async check() {},
  },
  getQueuedTransfers: {
    payload: { type: 'getQueuedTransfers' },
    steps: [{ expect: (r) => assert.equal(r.method, 'GetQueuedTransfers'), respond: () => ({ method: 'GetQueuedTransfersResponse', transferList: [{ commandKey: 'a', state: 2 }] }) }],
    async check(task) {
      assert.deepEqual(task.result, { transfers: [{ commandKey: 'a', state: 2 }] });
    },
  },
  getAllQueuedTransfers: {
    version: '1.2',
    payload: { type: 'getAllQueuedTransfers' },
    steps: [{
      expect: (r) => assert.equal(r.method, 'GetAllQueuedTransfers'),
      respond: () => ({ method: 'GetAllQueuedTransfersResponse', transferList: [{ commandKey: 'a', state: 1, isDownload: true, fileType: '1 Firmware Upgrade Image', fileSize: 5, targetFileName: '' }] }),
    }],
    async check(task) {
      assert.equal((task.result as { transfers: JsonObject[] }).transfers[0].isDownload, true);
    },
  },
  changeDUState: {
    version: '1.2',
    payload: { type: 'changeDUState', operations: [{ op: 'Install', url: 'http://files.example/app.ipk', uuid: '6ba7b810-9dad-11d1-80b4-00c04fd430c8' }], commandKey: 'du1' },
    steps: [{ expect: (r) => assert.equal(r.method, 'ChangeDUState'), respond: () => ({ method: 'ChangeDUStateResponse' }) }],
    awaits: true,
    async check(task) {
      assert.equal((task.result as JsonObject).awaiting, 'DUStateChangeComplete');
    },
  },
  setVouchers: {
    payload: { type: 'setVouchers', vouchers: ['dm91Y2hlcg=='] },
    steps: [{ expect: (r) => assert.deepEqual(r, { method: 'SetVouchers', voucherList: ['dm91Y2hlcg=='] }), respond: () => ({ method: 'SetVouchersResponse' }) }],
    async check() {},
  },
  getOptions: {
    payload: { type: 'getOptions', optionName: '' },
    steps: [{
      expect: (r) => assert.deepEqual(r, { method: 'GetOptions', optionName: '' }),
      respond: () => ({ method: 'GetOptionsResponse', optionList: [{ optionName: 'X', voucherSN: '1', state: 1, mode: 0, startDate: TIME, isTransferable: false }] }),
    }],
    async check(task) {
      assert.equal((task.result as { options: JsonObject[] }).options[0].optionName, 'X');
    },
  },
};

describe('task types', () => {
  it('every task type of the schema has a case here', () => {
    assert.deepEqual(Object.keys(cases).sort(), [...TASK_TYPES].sort());
  });

  for (const [type, c] of Object.entries(cases)) {
    it(`${type}: runs at the next session, stores the result and updates the inventory`, async () => {
      const { engine, store } = makeEngine();
      const cpe = new ScriptedCpe(engine, { version: c.version ?? '1.0' });
      await seedDevice(cpe, [
        param('InternetGatewayDevice.X_GS.Enable', '0', 'boolean'),
        param('InternetGatewayDevice.X_GS.Line.1.Name', 'one'),
        param('InternetGatewayDevice.X_GS.Line.2.Name', 'two'),
      ]);
      const task = await store.createTask({ deviceId: DEV, payload: c.payload });
      let ex = await cpe.informAndEmpty({ events: ['2 PERIODIC'] });
      for (const step of c.steps) {
        const req = request(ex);
        step.expect(req);
        ex = await cpe.answer(ex, step.respond(req) as CwmpMessage);
      }
      assert.equal(methodOf(ex), '204');
      const after = await store.getTask(task.id);
      assert.ok(after);
      assert.equal(after.status, c.awaits ? 'running' : 'done');
      assert.equal(after.attempts, 1);
      assert.ok(after.startedAt);
      if (!c.awaits) assert.ok(after.finishedAt);
      await c.check(after, store);
      const taskNotices = cpe.notices.filter((n) => n.type === 'task').map((n) => (n.type === 'task' ? n.task.status : ''));
      // one `running` notice per RPC sent, then the final state
      const expected = [...c.steps.map(() => 'running'), c.awaits ? 'running' : 'done'];
      assert.deepEqual(taskNotices, expected);
      await cpe.assertAllValid();
    });
  }
});

describe('task queue behaviour', () => {
  it('runs tasks in queue order, one RPC per HTTP response', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    await store.createTask({ deviceId: DEV, payload: { type: 'reboot' } });
    let ex = await cpe.informAndEmpty();
    assert.equal(methodOf(ex), 'GetRPCMethods');
    ex = await cpe.answer(ex, { method: 'GetRPCMethodsResponse', methodList: ['Inform'] });
    assert.equal(methodOf(ex), 'Reboot');
    ex = await cpe.answer(ex, { method: 'RebootResponse' });
    assert.equal(methodOf(ex), '204');
    await cpe.assertAllValid();
  });

  it('a permanent CPE fault fails the task with the fault, records it, and the queue goes on', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const bad = await store.createTask({ deviceId: DEV, payload: { type: 'setParameterValues', parameters: [{ name: 'InternetGatewayDevice.Nope', value: 'x' }] } });
    const good = await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    let ex = await cpe.informAndEmpty();
    assert.equal(methodOf(ex), 'SetParameterValues');
    ex = await cpe.answer(ex, cpeFault(9003, 'Invalid arguments', [{ parameterName: 'InternetGatewayDevice.Nope', faultCode: 9005, faultString: 'Invalid parameter name' }]));
    assert.equal(methodOf(ex), 'GetRPCMethods');
    ex = await cpe.answer(ex, { method: 'GetRPCMethodsResponse', methodList: ['Inform'] });
    assert.equal(methodOf(ex), '204');
    const f = await store.getTask(bad.id);
    assert.equal(f?.status, 'failed');
    assert.equal(f?.faultCode, 9003);
    assert.equal(f?.faultString, 'Invalid arguments');
    assert.equal((await store.getTask(good.id))?.status, 'done');
    const { faults } = await store.listFaults({ taskId: bad.id });
    assert.equal(faults.length, 1);
    assert.deepEqual((faults[0].detail as JsonObject).setParameterValuesFaults, [{ name: 'InternetGatewayDevice.Nope', faultCode: 9005, faultString: 'Invalid parameter name' }]);
    // the stored value was not changed by the failed SPV
    assert.deepEqual(await store.getParameters(DEV, { names: ['InternetGatewayDevice.Nope'] }), []);
    await cpe.assertAllValid();
  });

  it('a transient fault retries at a later session with back-off, then gives up after maxAttempts', async () => {
    const { engine, store, clock } = makeEngine({ retry: { baseMs: 60_000, maxMs: 600_000 } });
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'reboot' }, maxAttempts: 2 });
    let ex = await cpe.informAndEmpty();
    assert.equal(methodOf(await cpe.answer(ex, cpeFault(9002, 'busy'))), '204');
    let after = await store.getTask(t.id);
    assert.equal(after?.status, 'pending');
    assert.equal(after?.attempts, 1);
    assert.equal(after?.faultCode, 9002);
    assert.equal(after?.nextAttemptAt, new Date(clock.ms + 60_000).toISOString());
    // not due yet: the next session does not send it
    clock.advance(30_000);
    assert.equal(methodOf(await cpe.informAndEmpty()), '204');
    clock.advance(31_000);
    ex = await cpe.informAndEmpty();
    assert.equal(methodOf(ex), 'Reboot');
    assert.equal(methodOf(await cpe.answer(ex, cpeFault(9002, 'still busy'))), '204');
    after = await store.getTask(t.id);
    assert.equal(after?.status, 'failed');
    assert.equal(after?.attempts, 2);
    assert.match(after?.faultString ?? '', /still busy \(gave up after 2 attempts\)/);
    await cpe.assertAllValid();
  });

  it('a CPE that answers with the wrong method, a wrong ID or an empty POST fails that attempt, not the device', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const a = await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    const b = await store.createTask({ deviceId: DEV, payload: { type: 'factoryReset' } });
    const c = await store.createTask({ deviceId: DEV, payload: { type: 'scheduleInform', delaySeconds: 5 } });
    const d = await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    let ex = await cpe.informAndEmpty();
    ex = await cpe.answer(ex, { method: 'RebootResponse' }); // wrong method for a
    assert.equal(methodOf(ex), 'FactoryReset');
    ex = await cpe.send({ method: 'FactoryResetResponse' }, { id: 'not-the-id' }); // wrong ID for b
    assert.equal(methodOf(ex), 'ScheduleInform');
    ex = await cpe.send(null); // empty POST instead of c's response
    assert.equal(methodOf(ex), 'GetRPCMethods');
    ex = await cpe.answer(ex, { method: 'GetRPCMethodsResponse', methodList: ['Inform'] });
    assert.equal(methodOf(ex), '204');
    for (const [t, reason] of [[a, /expected GetRPCMethodsResponse, got RebootResponse/], [b, /does not match request ID/], [c, /empty POST/]] as const) {
      const s = await store.getTask(t.id);
      assert.equal(s?.status, 'pending', `${t.type} is retried later`);
      assert.match(s?.faultString ?? '', reason);
    }
    assert.equal((await store.getTask(d.id))?.status, 'done');
    await cpe.assertAllValid();
  });

  it('a CPE request while an ACS request is outstanding is answered; the outstanding request stays', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    const rpc = await cpe.informAndEmpty();
    assert.equal(methodOf(await cpe.send({ method: 'GetRPCMethods' })), 'GetRPCMethodsResponse');
    assert.equal(methodOf(await cpe.answer(rpc, { method: 'GetRPCMethodsResponse', methodList: ['Inform'] })), '204');
    assert.equal((await store.getTask(t.id))?.status, 'done');
    await cpe.assertAllValid();
  });

  it('an idle timeout fails the in-flight attempt (retried later) and records the session as timed out', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    await cpe.informAndEmpty();
    const notices = await engine.end(cpe.session!, 'timeout', 'no message for 30 s');
    assert.ok(notices.some((n) => n.type === 'session-ended' && n.outcome === 'timeout'));
    const s = await store.getTask(t.id);
    assert.equal(s?.status, 'pending');
    assert.equal(s?.attempts, 1);
    assert.match(s?.faultString ?? '', /no response to GetRPCMethods/);
    const { sessions } = await store.listSessions({ deviceId: DEV });
    assert.equal(sessions[0].outcome, 'timeout');
    const { faults } = await store.listFaults({ deviceId: DEV });
    assert.equal(faults[0].code, 'session_timeout');
    // the lock is free again
    assert.deepEqual(await store.acquireSessionLock(DEV, 'x', 1000), { acquired: true });
    await cpe.assertAllValid();
  });

  it('a task left running by a dead session runs again at the next session', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    await store.updateTasks([{ id: t.id, status: 'running', attempts: 1, startedAt: '2025-06-01T09:00:00.000Z' }]);
    const ex = await cpe.informAndEmpty();
    assert.equal(methodOf(ex), 'GetRPCMethods');
    await cpe.answer(ex, { method: 'GetRPCMethodsResponse', methodList: ['Inform'] });
    const s = await store.getTask(t.id);
    assert.equal(s?.status, 'done');
    assert.equal(s?.attempts, 2);
    assert.equal(s?.startedAt, '2025-06-01T09:00:00.000Z');
    await cpe.assertAllValid();
  });

  it('expired and cancelled tasks are not sent', async () => {
    const { engine, store, clock } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const expired = await store.createTask({ deviceId: DEV, payload: { type: 'reboot' }, expiresAt: new Date(clock.ms - 1).toISOString() });
    const cancelled = await store.createTask({ deviceId: DEV, payload: { type: 'reboot' } });
    await store.cancelTask(cancelled.id);
    assert.equal(methodOf(await cpe.informAndEmpty()), '204');
    const e = await store.getTask(expired.id);
    assert.equal(e?.status, 'failed');
    assert.match(e?.faultString ?? '', /expired/);
    assert.equal((await store.getTask(cancelled.id))?.status, 'cancelled');
    await cpe.assertAllValid();
  });

  it('a task cancelled after the session loaded it is skipped', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'reboot' } });
    await cpe.send(informMessage());
    await store.cancelTask(t.id);
    assert.equal(methodOf(await cpe.send(null)), '204');
    assert.equal((await store.getTask(t.id))?.status, 'cancelled');
    await cpe.assertAllValid();
  });

  it('a task enqueued while the device is in session runs in that session', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    await cpe.send(informMessage());
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    assert.equal(engine.enqueue(cpe.session!, t), true);
    assert.equal(engine.enqueue(cpe.session!, t), false, 'added once');
    const ex = await cpe.send(null);
    assert.equal(methodOf(ex), 'GetRPCMethods');
    await cpe.assertAllValid();
  });

  it('a method the session version lacks fails the task without sending anything', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.0' });
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'changeDUState', operations: [{ op: 'Uninstall', uuid: 'u' }] } });
    assert.equal(methodOf(await cpe.informAndEmpty()), '204');
    const s = await store.getTask(t.id);
    assert.equal(s?.status, 'failed');
    assert.match(s?.faultString ?? '', /cannot send ChangeDUState in CWMP 1\.0/);
    assert.equal(s?.attempts, 0);
    await cpe.assertAllValid();
  });

  it('Download with status 1 waits; TransferComplete in a later session finishes it (or fails it with the fault)', async () => {
    const { engine, store } = makeEngine();
    // "4 Tone File" exists from CWMP 1.1 on
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    await seedDevice(cpe);
    const ok = await store.createTask({ deviceId: DEV, payload: { type: 'download', fileType: '1 Firmware Upgrade Image', url: 'http://f/fw.bin', commandKey: 'fw-ok' } });
    const bad = await store.createTask({ deviceId: DEV, payload: { type: 'download', fileType: '4 Tone File', url: 'http://f/tone.bin', commandKey: 'tone' } });
    let ex = await cpe.informAndEmpty();
    ex = await cpe.answer(ex, { method: 'DownloadResponse', status: 1, startTime: UNKNOWN, completeTime: UNKNOWN });
    ex = await cpe.answer(ex, { method: 'DownloadResponse', status: 1, startTime: UNKNOWN, completeTime: UNKNOWN });
    assert.equal(methodOf(ex), '204');
    assert.equal((await store.getTask(ok.id))?.status, 'running');
    // a periodic session in between does not resend the downloads
    assert.equal(methodOf(await cpe.informAndEmpty({ events: ['2 PERIODIC'] })), '204');
    // TransferComplete without the 7 TRANSFER COMPLETE event, two sessions later
    await cpe.send(informMessage({ events: ['1 BOOT'] }));
    const times = { startTime: TIME, completeTime: TIME };
    assert.equal(methodOf(await cpe.send({ method: 'TransferComplete', commandKey: 'fw-ok', faultStruct: { faultCode: 0, faultString: '' }, ...times })), 'TransferCompleteResponse');
    assert.equal(methodOf(await cpe.send({ method: 'TransferComplete', commandKey: 'tone', faultStruct: { faultCode: 9016, faultString: 'no such file' }, ...times })), 'TransferCompleteResponse');
    assert.equal(methodOf(await cpe.send(null)), '204');
    const o = await store.getTask(ok.id);
    assert.equal(o?.status, 'done');
    assert.equal((o?.result as JsonObject).awaiting, undefined);
    const b = await store.getTask(bad.id);
    assert.equal(b?.status, 'failed');
    assert.equal(b?.faultCode, 9016);
    await cpe.assertAllValid();
  });

  it('ChangeDUState waits for DUStateChangeComplete', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'changeDUState', operations: [{ op: 'Uninstall', uuid: '6ba7b810-9dad-11d1-80b4-00c04fd430c8' }], commandKey: 'du' } });
    const ex = await cpe.informAndEmpty();
    await cpe.answer(ex, { method: 'ChangeDUStateResponse' });
    await cpe.send(informMessage({ events: ['11 DU STATE CHANGE COMPLETE', ['M ChangeDUState', 'du']] }));
    const result = {
      uuid: '6ba7b810-9dad-11d1-80b4-00c04fd430c8', deploymentUnitRef: '', version: '', currentState: 'Uninstalled', resolved: true,
      executionUnitRefList: '', startTime: TIME, completeTime: TIME, fault: { faultCode: 0, faultString: '' },
    };
    assert.equal(methodOf(await cpe.send({ method: 'DUStateChangeComplete', results: [result], commandKey: 'du' })), 'DUStateChangeCompleteResponse');
    const s = await store.getTask(t.id);
    assert.equal(s?.status, 'done');
    assert.equal(((s?.result as JsonObject).results as JsonObject[])[0].currentState, 'Uninstalled');
    await cpe.assertAllValid();
  });

  it('a Download whose completion never comes fails after the completion timeout', async () => {
    const { engine, store, clock } = makeEngine({ completionTimeoutMs: 3_600_000 });
    const cpe = new ScriptedCpe(engine);
    await seedDevice(cpe);
    const t = await store.createTask({ deviceId: DEV, payload: { type: 'download', fileType: '1 Firmware Upgrade Image', url: 'http://f/fw.bin' } });
    const ex = await cpe.informAndEmpty();
    await cpe.answer(ex, { method: 'DownloadResponse', status: 1, startTime: UNKNOWN, completeTime: UNKNOWN });
    clock.advance(3_600_001);
    await cpe.informAndEmpty();
    const s = await store.getTask(t.id);
    assert.equal(s?.status, 'failed');
    assert.match(s?.faultString ?? '', /no TransferComplete received in time/);
    await cpe.assertAllValid();
  });
});
