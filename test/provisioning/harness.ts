/**
 * A session driver for provisioning tests, independent of the HTTP layer: it runs a CWMP session
 * the way the session engine does (Inform, CPE requests, queued tasks, then `nextTask` until null,
 * one commit), with the ACS's real task handlers (src/acs/tasks/handlers.ts) and a simulated device
 * built on the CPE's real data model and RPC handler (src/datamodel, src/cpe/rpc-handler.ts).
 * It exercises the hook contract of src/provisioning/hooks.ts exactly as the engine calls it.
 *
 * The simulated device downloads files over HTTP for real (from the ACS's public file route),
 * verifies firmware images with the CPE's verifier, reboots with the new SoftwareVersion and
 * reports TransferComplete in its next session.
 */
import type { KeyObject } from 'node:crypto';
import { continueTask, expectedResponse, startTask, type HandlerContext } from '../../src/acs/tasks/handlers.ts';
import { validateTaskPayload } from '../../src/acs/tasks/schema.ts';
import { CwmpFaultError } from '../../src/cwmp/faults.ts';
import type { AcsRequest, CpeRequest, CpeResponse, EventStruct, ParameterValueStruct, SoapFault } from '../../src/cwmp/types.ts';
import { handleRpc, type RpcContext } from '../../src/cpe/rpc-handler.ts';
import { verifyFirmwareImage } from '../../src/cpe/firmware.ts';
import type { TransferRecord } from '../../src/cpe/transfers.ts';
import { DeviceModel, loadProfile } from '../../src/datamodel/model.ts';
import { overlayParameters, type SessionHooks, type SessionView } from '../../src/provisioning/hooks.ts';
import {
  makeDeviceId,
  type DeviceWrite,
  type JsonObject,
  type NewFaultRecord,
  type ParameterDelete,
  type ParameterWrite,
  type Store,
  type StoredParameter,
  type Task,
  type TaskUpdate,
} from '../../src/store/types.ts';

/** A simulated Grandstream device: the CPE's data model and RPC handler. */
export class SimDevice {
  readonly model: DeviceModel;
  readonly serial: string;
  readonly productClass: string;
  /** Events for the next Inform. */
  pending: EventStruct[] = [{ eventCode: '0 BOOTSTRAP', commandKey: '' }, { eventCode: '1 BOOT', commandKey: '' }];
  /** TransferCompletes to report in the next session. */
  completes: AcsRequest[] = [];
  /** A RequestDownload to send in the next session. */
  requestDownload: string | null = null;
  readonly transfers: TransferRecord[] = [];
  /** Every RPC method received, per session (tests count SetParameterValues). */
  readonly sessions: string[][] = [];
  /** Downloads in progress (awaited by `settle`). */
  private work: Promise<void>[] = [];
  /** Make the device refuse writes of these parameters with this fault. */
  refuse = new Map<string, { code: number; message: string }>();

  constructor(
    model: string,
    serial: string,
    /** Key the device verifies firmware with (default: the project's simulated-device key). */
    public firmwareKey?: KeyObject,
  ) {
    this.model = DeviceModel.create(loadProfile(model), { serialNumber: serial });
    this.serial = serial;
    this.productClass = this.model.profile.productClass;
  }

  get id(): string {
    return makeDeviceId({ oui: this.model.profile.oui, productClass: this.productClass, serialNumber: this.serial });
  }

  get root(): string {
    return this.model.root;
  }

  value(name: string): string | undefined {
    return this.model.getValue(name);
  }

  softwareVersion(): string {
    return this.value(`${this.root}.DeviceInfo.SoftwareVersion`) ?? '';
  }

  /** Waits for downloads started by the last session. */
  async settle(): Promise<void> {
    const w = this.work;
    this.work = [];
    await Promise.all(w);
  }

  /** Answers one ACS request (faults as SoapFault). */
  rpc(req: CpeRequest): CpeResponse | SoapFault {
    const ctx: RpcContext = {
      model: this.model,
      now: () => Date.now(),
      persist: () => undefined,
      transfers: this.transfers,
      transferQueued: (t) => this.work.push(this.runTransfer(t)),
      scheduleInform: () => undefined,
      rebootAfterSession: () => this.pending.push({ eventCode: '1 BOOT', commandKey: '' }, { eventCode: 'M Reboot', commandKey: '' }),
      factoryResetAfterSession: () => undefined,
    };
    try {
      if (req.method === 'SetParameterValues') {
        const bad = req.parameterList.filter((p) => this.refuse.has(p.name));
        if (bad.length > 0) {
          return {
            method: 'Fault',
            faultcode: 'Client',
            faultstring: 'CWMP fault',
            faultCode: 9003,
            faultString: 'Invalid arguments',
            setParameterValuesFaults: bad.map((p) => ({ parameterName: p.name, faultCode: this.refuse.get(p.name)!.code, faultString: this.refuse.get(p.name)!.message })),
          };
        }
      }
      return handleRpc(ctx, req);
    } catch (err) {
      if (err instanceof CwmpFaultError) {
        return err.fault;
      }
      throw err;
    }
  }

  private async runTransfer(t: TransferRecord): Promise<void> {
    const start = new Date().toISOString();
    let faultCode = 0;
    let faultString = '';
    let newVersion: string | null = null;
    try {
      // No keep-alive: an idle pooled socket would hold the test process open after the server closed.
      const headers: Record<string, string> = { connection: 'close' };
      if (t.username) headers.authorization = `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`;
      const res = await fetch(t.url, { headers });
      if (res.status !== 200) throw Object.assign(new Error(`HTTP ${res.status}`), { faultCode: 9016 });
      const body = Buffer.from(await res.arrayBuffer());
      if (t.fileType.startsWith('1')) {
        try {
          newVersion = verifyFirmwareImage(body, { model: this.productClass, publicKey: this.firmwareKey, expectedFileSize: t.fileSize }).header.version;
        } catch (err) {
          throw Object.assign(err as Error, { faultCode: (err as { faultCode?: number }).faultCode ?? 9018 });
        }
      } else if (t.fileType.startsWith('3')) {
        this.model.applyConfigFile(body.toString('utf8'));
      }
    } catch (err) {
      faultCode = (err as { faultCode?: number }).faultCode ?? 9010;
      faultString = (err as Error).message;
    }
    const i = this.transfers.indexOf(t);
    if (i >= 0) this.transfers.splice(i, 1);
    if (newVersion !== null && faultCode === 0) {
      this.model.setLocal(`${this.root}.DeviceInfo.SoftwareVersion`, newVersion);
      this.pending.push({ eventCode: '1 BOOT', commandKey: '' });
    }
    this.pending.push({ eventCode: '7 TRANSFER COMPLETE', commandKey: '' }, { eventCode: 'M Download', commandKey: t.commandKey });
    this.completes.push({ method: 'TransferComplete', commandKey: t.commandKey, faultStruct: { faultCode, faultString }, startTime: start, completeTime: new Date().toISOString() });
  }

  /** Builds the next Inform's content and clears the pending events. */
  takeInform(): { events: EventStruct[]; parameters: ParameterValueStruct[] } {
    const events = this.pending.length > 0 ? this.pending : [{ eventCode: '2 PERIODIC', commandKey: '' }];
    this.pending = [];
    const parameters = this.model.informParameters();
    this.model.markNotificationsDelivered(parameters);
    return { events, parameters };
  }
}

export interface SessionLog {
  refused: boolean;
  /** RPC methods the ACS sent. */
  rpcs: string[];
  tasks: Task[];
  faults: NewFaultRecord[];
}

function iso(): string {
  return new Date().toISOString();
}

/** Runs sessions like the engine, calling the hooks. */
export class HarnessEngine {
  constructor(
    readonly store: Store,
    readonly hooks: SessionHooks,
  ) {}

  async session(device: SimDevice, extraEvents: string[] = []): Promise<SessionLog> {
    const { events: evs, parameters } = device.takeInform();
    const events = [...evs, ...extraEvents.map((e) => ({ eventCode: e, commandKey: '' }))];
    const identity = { manufacturer: 'Grandstream', oui: device.model.profile.oui, productClass: device.productClass, serialNumber: device.serial };
    const deviceId = device.id;
    const sessionId = `s-${Math.random().toString(16).slice(2)}`;
    const writes: ParameterWrite[] = [];
    const deletes: ParameterDelete[] = [];
    const faults: NewFaultRecord[] = [];
    const taskUpdates = new Map<string, TaskUpdate>();
    const log: SessionLog = { refused: false, rpcs: [], tasks: [], faults };
    device.sessions.push(log.rpcs);
    const view: SessionView = {
      sessionId,
      deviceId,
      identity,
      events,
      informParameters: parameters,
      cwmpVersion: '1.0',
      remoteAddress: '127.0.0.1',
      parameters: async (selection = {}) => overlayParameters(await this.store.getParameters(deviceId, selection), deletes, writes, selection),
      recordFault: (f) => faults.push({ deviceId, taskId: f.taskId ?? null, source: 'acs', code: f.code, message: f.message, detail: f.detail, at: iso() }),
    };
    const decision = (await this.hooks.informReceived?.(view)) ?? { action: 'accept' };
    if (decision.action === 'refuse') {
      log.refused = true;
      return log;
    }
    const codes = new Set(events.map((e) => e.eventCode));
    if (codes.has('0 BOOTSTRAP')) deletes.push({ prefix: '' });
    for (const p of parameters) writes.push({ name: p.name, value: p.value, type: p.type });
    const deviceWrite: DeviceWrite = { id: deviceId, ...identity, lastContact: iso(), cwmpVersion: '1.0' };
    const sv = parameters.find((p) => p.name.endsWith('.DeviceInfo.SoftwareVersion'));
    if (sv) deviceWrite.softwareVersion = sv.value;

    const ctx: HandlerContext = {
      deviceId,
      version: '1.0',
      storedParameters: async (names) => new Map((await view.parameters({ names })).map((p) => [p.name, p])),
      storedSubtree: (prefix) => view.parameters({ prefix }),
    };
    const finish = (task: Task, update: Omit<TaskUpdate, 'id'>): Task => {
      const merged = { ...(taskUpdates.get(task.id) ?? { id: task.id }), ...update };
      taskUpdates.set(task.id, merged);
      const next = { ...task } as Task & Record<string, unknown>;
      for (const [k, v] of Object.entries(update)) if (v !== undefined) (next as Record<string, unknown>)[k] = v;
      return next;
    };

    // CPE requests: TransferComplete, RequestDownload
    const awaiting = (await this.store.tasksToRun(deviceId)).filter((t) => t.status === 'running' && (t.result as JsonObject | null)?.awaiting === 'TransferComplete');
    for (const req of device.completes.splice(0)) {
      if (req.method !== 'TransferComplete') continue;
      const task = awaiting.find((t) => (t.result as JsonObject).commandKey === req.commandKey) ?? null;
      let done: Task | null = null;
      if (task) {
        const ok = req.faultStruct.faultCode === 0;
        done = finish(task, ok ? { status: 'done', finishedAt: iso() } : { status: 'failed', faultCode: req.faultStruct.faultCode, faultString: req.faultStruct.faultString, finishedAt: iso() });
      }
      if (req.faultStruct.faultCode !== 0) faults.push({ deviceId, taskId: task?.id ?? null, source: 'cpe', code: String(req.faultStruct.faultCode), message: req.faultStruct.faultString, detail: { method: 'TransferComplete' }, at: iso() });
      await this.hooks.cpeRequest?.(view, req, done);
    }
    if (device.requestDownload) {
      await this.hooks.cpeRequest?.(view, { method: 'RequestDownload', fileType: device.requestDownload, fileTypeArg: [] }, null);
      device.requestDownload = null;
    }

    const run = async (task: Task, planned: boolean): Promise<void> => {
      const payload = validateTaskPayload(task.payload);
      const started = await startTask(payload, task, ctx);
      let request: CpeRequest = started.request;
      let step = started.step;
      for (;;) {
        log.rpcs.push(request.method);
        const response = device.rpc(request);
        if (response.method === 'Fault') {
          const detail: JsonObject = { method: request.method };
          if (response.setParameterValuesFaults.length) detail.setParameterValuesFaults = response.setParameterValuesFaults.map((f) => ({ name: f.parameterName, faultCode: f.faultCode, faultString: f.faultString }));
          faults.push({ deviceId, taskId: task.id, source: 'cpe', code: String(response.faultCode), message: response.faultString, detail, at: iso() });
          const failed = finish(task, { status: 'failed', attempts: 1, faultCode: response.faultCode, faultString: response.faultString, finishedAt: iso() });
          log.tasks.push(failed);
          await this.hooks.taskFinished?.(view, { task: failed, fault: { faultCode: response.faultCode, faultString: response.faultString, setParameterValuesFaults: response.setParameterValuesFaults }, planned } as never);
          return;
        }
        if (response.method !== expectedResponse(request)) throw new Error(`unexpected ${response.method}`);
        const outcome = await continueTask(payload, response, step, task, ctx);
        if (outcome.kind === 'continue') {
          if (outcome.writes) writes.push(...outcome.writes);
          request = outcome.request;
          step = outcome.step;
          continue;
        }
        if (outcome.kind === 'await') {
          const t = finish(task, { status: 'running', attempts: 1, result: { ...outcome.result, awaiting: outcome.awaiting, commandKey: outcome.commandKey } });
          log.tasks.push(t);
          await this.hooks.taskFinished?.(view, { task: t, planned } as never);
          return;
        }
        for (const d of outcome.deletes ?? []) deletes.push(d);
        writes.push(...(outcome.writes ?? []));
        const t = finish(task, { status: 'done', attempts: 1, result: outcome.result, finishedAt: iso() });
        log.tasks.push(t);
        await this.hooks.taskFinished?.(view, { task: t, planned } as never);
        return;
      }
    };

    // Operator tasks first, then the planner until it has nothing left.
    for (const t of await this.store.tasksToRun(deviceId)) if (t.status === 'pending') await run(t, false);
    for (let guard = 0; guard < 100; guard++) {
      const planned = await this.hooks.nextTask?.(view);
      if (!planned) break;
      // The store needs the device before a task can reference it.
      if (!(await this.store.getDevice(deviceId))) await this.store.commitSession({ at: iso(), device: deviceWrite });
      const task = await this.store.createTask({ deviceId, payload: planned.payload as unknown as JsonObject & { type: string }, maxAttempts: planned.maxAttempts ?? 1 });
      await run(task, true);
    }
    await this.store.commitSession({
      at: iso(),
      device: deviceWrite,
      parameters: writes,
      parameterDeletes: deletes,
      taskUpdates: [...taskUpdates.values()],
      faults,
      session: { deviceId, startedAt: iso(), endedAt: iso(), events, remoteAddress: '127.0.0.1', cwmpVersion: '1.0', outcome: 'completed', rpcCount: log.rpcs.length, detail: null },
    });
    await this.hooks.sessionEnded?.(view, 'completed');
    return log;
  }
}

/** The stored parameter of a device (test helper). */
export async function stored(store: Store, deviceId: string, name: string): Promise<StoredParameter | undefined> {
  return (await store.getParameters(deviceId, { names: [name] }))[0];
}
