/**
 * The session engine's side of the provisioning hook contract (src/provisioning/hooks.ts), with a
 * recording fake provisioning.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ScriptedCpe, makeEngine, informMessage, deviceIdOf, methodOf, param } from './engine-harness.ts';
import type { SessionHooks, PlannedTask, TaskOutcome } from '../../src/provisioning/hooks.ts';
import type { JsonObject, Store } from '../../src/store/types.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

const DEV = deviceIdOf('SN0001');

function recorder(plan: PlannedTask[] = [], overrides: Partial<SessionHooks> = {}) {
  const calls: string[] = [];
  const outcomes: (TaskOutcome & { planned?: boolean })[] = [];
  const hooks: SessionHooks = {
    async informReceived(view) {
      calls.push(`inform ${view.deviceId} ${view.events.map((e) => e.eventCode).join(',')} params=${view.informParameters.length}`);
      return { action: 'accept' };
    },
    async cpeRequest(_view, request, task) {
      calls.push(`cpe ${request.method} task=${task?.status ?? 'none'}`);
    },
    async nextTask() {
      const next = plan.shift() ?? null;
      calls.push(`next ${next ? next.payload.type : 'null'}`);
      return next;
    },
    async taskFinished(_view, outcome) {
      outcomes.push(outcome);
      calls.push(`finished ${outcome.task.type} ${outcome.task.status}${outcome.fault ? ` fault=${outcome.fault.faultCode}` : ''}`);
    },
    async sessionEnded(_view, outcome) {
      calls.push(`ended ${outcome}`);
    },
    ...overrides,
  };
  return { hooks, calls, outcomes };
}

describe('provisioning hooks', () => {
  it('are called in order; planned tasks are stored (maxAttempts 1) and run after the queue, even on first contact', async () => {
    const { hooks, calls, outcomes } = recorder([
      { payload: { type: 'setParameterValues', parameters: [{ name: 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval', value: 600 }] } },
      { payload: { type: 'getRPCMethods' }, maxAttempts: 2 },
    ]);
    const { engine, store } = makeEngine({ hooks });
    const cpe = new ScriptedCpe(engine);
    let ex = await cpe.informAndEmpty({ events: ['0 BOOTSTRAP', '1 BOOT'] });
    assert.equal(methodOf(ex), 'SetParameterValues');
    ex = await cpe.answer(ex, { method: 'SetParameterValuesResponse', status: 0 });
    assert.equal(methodOf(ex), 'GetRPCMethods');
    ex = await cpe.send({ method: 'Fault', faultcode: 'Server', faultstring: 'CWMP fault', faultCode: 9000, faultString: 'Method not supported', setParameterValuesFaults: [] }, { id: ex.parsed!.header.id });
    assert.equal(methodOf(ex), '204');
    assert.deepEqual(calls, [
      'inform 000B82-HT502-SN0001 0 BOOTSTRAP,1 BOOT params=4',
      'next setParameterValues',
      'finished setParameterValues done',
      'next getRPCMethods',
      'finished getRPCMethods failed fault=9000',
      'next null',
      'ended completed',
    ]);
    assert.ok(outcomes.every((o) => o.planned === true));
    const { tasks } = await store.listTasks({ deviceId: DEV });
    assert.deepEqual(tasks.map((t) => [t.type, t.status, t.maxAttempts]), [['setParameterValues', 'done', 1], ['getRPCMethods', 'failed', 2]]);
    const [interval] = await store.getParameters(DEV, { names: ['InternetGatewayDevice.ManagementServer.PeriodicInformInterval'] });
    assert.equal(interval.value, '600');
    await cpe.assertAllValid();
  });

  it('a planned task is stored running (attempt 1) when its RPC goes out, with no separate running write or re-read', async () => {
    const { hooks } = recorder([{ payload: { type: 'getParameterValues', names: ['InternetGatewayDevice.DeviceInfo.UpTime'] } }]);
    const base = openSqliteStore({ file: ':memory:' });
    const storeCalls: string[] = [];
    // counts the store calls the engine makes for tasks (Object.create: the store's own state is shared)
    const store: Store = Object.create(base, {
      updateTasks: { value: (u: Parameters<Store['updateTasks']>[0]) => (storeCalls.push(`updateTasks ${u.map((x) => x.status).join(',')}`), base.updateTasks(u)) },
      getTask: { value: (id: string) => (storeCalls.push('getTask'), base.getTask(id)) },
    });
    const { engine, clock } = makeEngine({ hooks }, store);
    const cpe = new ScriptedCpe(engine);
    let ex = await cpe.informAndEmpty({ events: ['0 BOOTSTRAP', '1 BOOT'] });
    assert.equal(methodOf(ex), 'GetParameterValues');
    const [task] = (await base.listTasks({ deviceId: DEV })).tasks;
    assert.deepEqual([task.status, task.attempts, task.startedAt], ['running', 1, new Date(clock.now()).toISOString()]);
    const taskNotices = ex.reply.notices.filter((n) => n.type === 'task');
    assert.deepEqual(taskNotices.map((n) => (n.type === 'task' ? n.task.status : '')), ['running'], 'one notice, the task as stored');
    ex = await cpe.answer(ex, { method: 'GetParameterValuesResponse', parameterList: [param('InternetGatewayDevice.DeviceInfo.UpTime', '7', 'unsignedInt')] });
    assert.equal(methodOf(ex), '204');
    assert.deepEqual(storeCalls, [], 'neither read back nor marked running in a write of its own');
    const done = await base.getTask(task.id);
    assert.deepEqual([done?.status, done?.attempts], ['done', 1]);
    await cpe.assertAllValid();
  });

  it('a task the operator queues while a planned one is being stored runs after it, not before (the planned one is stored running)', async () => {
    const { hooks } = recorder([{ payload: { type: 'getParameterValues', names: ['InternetGatewayDevice.DeviceInfo.UpTime'] } }]);
    const base = openSqliteStore({ file: ':memory:' });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let storing!: () => void;
    const planning = new Promise<void>((r) => (storing = r));
    const store: Store = Object.create(base, {
      createTask: {
        value: async (input: Parameters<Store['createTask']>[0]) => {
          if (input.running) {
            storing();
            await gate;
          }
          return base.createTask(input);
        },
      },
    });
    const { engine } = makeEngine({ hooks }, store);
    const cpe = new ScriptedCpe(engine);
    const first = cpe.informAndEmpty();
    await planning;
    const operator = await base.createTask({ deviceId: DEV, payload: { type: 'getRPCMethods' } });
    assert.ok(cpe.session && engine.enqueue(cpe.session, operator));
    release();
    let ex = await first;
    assert.equal(methodOf(ex), 'GetParameterValues', 'the planned task, stored running, goes first');
    ex = await cpe.answer(ex, { method: 'GetParameterValuesResponse', parameterList: [param('InternetGatewayDevice.DeviceInfo.UpTime', '7', 'unsignedInt')] });
    assert.equal(methodOf(ex), 'GetRPCMethods');
    ex = await cpe.answer(ex, { method: 'GetRPCMethodsResponse', methodList: ['Inform', 'GetRPCMethods'] });
    assert.equal(methodOf(ex), '204');
    const { tasks } = await base.listTasks({ deviceId: DEV });
    assert.deepEqual(tasks.map((t) => [t.type, t.status, t.attempts]).sort(), [['getParameterValues', 'done', 1], ['getRPCMethods', 'done', 1]]);
  });

  it('a planned task whose RPC cannot be built for the CPE fails at once and the session goes on', async () => {
    // ScheduleDownload exists from CWMP 1.2 on: a 1.0 CPE cannot be sent one
    const { hooks } = recorder([
      { payload: { type: 'scheduleDownload', fileType: '1 Firmware Upgrade Image', url: 'http://f/fw.bin', timeWindows: [{ windowStart: 0, windowEnd: 3600, windowMode: '1 At Any Time' }] } },
      { payload: { type: 'getRPCMethods' } },
    ]);
    const { engine, store } = makeEngine({ hooks });
    const cpe = new ScriptedCpe(engine, { version: '1.0' });
    let ex = await cpe.informAndEmpty();
    assert.equal(methodOf(ex), 'GetRPCMethods');
    ex = await cpe.answer(ex, { method: 'GetRPCMethodsResponse', methodList: ['Inform', 'GetRPCMethods'] });
    assert.equal(methodOf(ex), '204');
    const { tasks } = await store.listTasks({ deviceId: DEV });
    const byType = new Map(tasks.map((t) => [t.type, t]));
    assert.equal(byType.get('scheduleDownload')?.status, 'failed');
    assert.match(byType.get('scheduleDownload')?.faultString ?? '', /cannot send ScheduleDownload in CWMP 1\.0/);
    assert.equal(byType.get('getRPCMethods')?.status, 'done');
  });

  it('a refused Inform gets 403, stores nothing and frees the lock', async () => {
    const { hooks, calls } = recorder([], { informReceived: async () => ({ action: 'refuse', reason: 'unknown device' }) });
    const { engine, store } = makeEngine({ hooks });
    const cpe = new ScriptedCpe(engine);
    const ex = await cpe.send(informMessage());
    assert.equal(ex.reply.status, 403);
    assert.equal(cpe.session, null);
    assert.equal(await store.getDevice(DEV), null);
    assert.deepEqual(await store.acquireSessionLock(DEV, 'x', 1000), { acquired: true });
    assert.deepEqual(calls, []);
  });

  it('cpeRequest sees the task a TransferComplete completed; the view overlays uncommitted answers; recordFault is stored', async () => {
    const seen: string[] = [];
    const { hooks, calls } = recorder([], {
      async nextTask(view) {
        const [up] = await view.parameters({ names: ['InternetGatewayDevice.DeviceInfo.UpTime'] });
        seen.push(up?.value ?? 'none');
        if (seen.length === 1) view.recordFault({ code: 'config_drift', message: 'value not applied', detail: { name: 'X' } });
        return null;
      },
    });
    const { engine, store } = makeEngine({ hooks });
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    await cpe.informAndEmpty();
    await store.createTask({ deviceId: DEV, payload: { type: 'download', fileType: '3 Vendor Configuration File', url: 'http://f/c.xml', commandKey: 'cfg' } });
    await store.createTask({ deviceId: DEV, payload: { type: 'getParameterValues', names: ['InternetGatewayDevice.DeviceInfo.UpTime'] } });
    let ex = await cpe.informAndEmpty();
    ex = await cpe.answer(ex, { method: 'DownloadResponse', status: 1, startTime: '0001-01-01T00:00:00Z', completeTime: '0001-01-01T00:00:00Z' });
    ex = await cpe.answer(ex, { method: 'GetParameterValuesResponse', parameterList: [param('InternetGatewayDevice.DeviceInfo.UpTime', '99', 'unsignedInt')] });
    assert.equal(methodOf(ex), '204');
    assert.deepEqual(seen.slice(1), ['99'], 'the GPV answer is visible before the session commit');
    await cpe.send(informMessage({ events: ['7 TRANSFER COMPLETE', ['M Download', 'cfg']] }));
    await cpe.send({ method: 'TransferComplete', commandKey: 'cfg', faultStruct: { faultCode: 0, faultString: '' }, startTime: '2025-06-01T10:00:00Z', completeTime: '2025-06-01T10:00:01Z' });
    assert.ok(calls.includes('cpe TransferComplete task=done'));
    const { faults } = await store.listFaults({ deviceId: DEV });
    assert.ok(faults.some((f) => f.code === 'config_drift' && f.source === 'acs' && (f.detail as JsonObject).name === 'X'));
    await cpe.assertAllValid();
  });

  it('a hook that throws is logged and the session goes on', async () => {
    const errors: string[] = [];
    const { hooks } = recorder([], {
      informReceived: async () => {
        throw new Error('planner bug');
      },
      nextTask: async () => {
        throw new Error('planner bug 2');
      },
    });
    const { engine } = makeEngine({ hooks, logger: { debug() {}, info() {}, warn() {}, error: (o: object) => errors.push(String((o as { hook?: string }).hook)) } });
    const cpe = new ScriptedCpe(engine);
    assert.equal(methodOf(await cpe.informAndEmpty()), '204');
    assert.deepEqual(errors, ['informReceived', 'nextTask']);
    await cpe.assertAllValid();
  });

  it('an invalid planned task stops planning for the session; the bound on planned tasks holds', async () => {
    let asked = 0;
    const { hooks } = recorder([], {
      nextTask: async () => {
        asked++;
        return { payload: { type: 'reboot', bogus: 1 } as never };
      },
    });
    const { engine } = makeEngine({ hooks });
    const cpe = new ScriptedCpe(engine);
    assert.equal(methodOf(await cpe.informAndEmpty()), '204');
    assert.equal(asked, 1);
    const endless = recorder([], { nextTask: async () => ({ payload: { type: 'getRPCMethods' } }) });
    const e2 = makeEngine({ hooks: endless.hooks, maxPlannedTasks: 3 });
    const cpe2 = new ScriptedCpe(e2.engine);
    let ex = await cpe2.informAndEmpty();
    let rpcs = 0;
    while (methodOf(ex) === 'GetRPCMethods') {
      rpcs++;
      ex = await cpe2.answer(ex, { method: 'GetRPCMethodsResponse', methodList: ['Inform'] });
    }
    assert.equal(rpcs, 3);
    await cpe2.assertAllValid();
  });
});
