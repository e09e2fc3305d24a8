/**
 * Task handlers: how each task type becomes CPE RPCs and how the CPE's answers become a task
 * result and inventory writes. Pure functions of (payload, response, stored knowledge); the session
 * engine does the I/O and the bookkeeping (attempts, retries, commits).
 */
import type {
  CpeRequest,
  CpeResponse,
  CwmpVersion,
  ParameterValueStruct,
  SetParameterAttributesStruct,
  XsdType,
} from '../../cwmp/types.ts';
import { isXsdType } from '../../cwmp/values.ts';
import type { JsonObject, JsonValue, ParameterDelete, ParameterWrite, StoredParameter, Task } from '../../store/types.ts';
import type { TaskPayload, TaskType } from './schema.ts';

/** What a handler may read about the device while building a request. */
export interface HandlerContext {
  deviceId: string;
  version: CwmpVersion;
  /** Stored parameters by exact name (loaded lazily by the engine for the names a handler asks). */
  storedParameters(names: string[]): Promise<Map<string, StoredParameter>>;
  /** Stored parameters under a prefix. */
  storedSubtree(prefix: string): Promise<StoredParameter[]>;
}

/** A CPE-originated completion the task waits for (the RPC response only said "started"). */
export type AwaitedCompletion = 'TransferComplete' | 'DUStateChangeComplete';

/** What happens after a CPE response. */
export type StepOutcome =
  | {
      kind: 'done';
      result: JsonValue;
      writes?: ParameterWrite[];
      deletes?: ParameterDelete[];
      /** Commit right away: the effect on the device is not idempotent (reboot, AddObject...). */
      checkpoint?: boolean;
    }
  /** Another RPC is needed for the same task (multi-step tasks: refresh). */
  | { kind: 'continue'; request: CpeRequest; step: JsonObject; writes?: ParameterWrite[] }
  /** The CPE accepted; the outcome arrives later in a TransferComplete/DUStateChangeComplete. */
  | { kind: 'await'; result: JsonObject; awaiting: AwaitedCompletion; commandKey: string };

export interface StartedRequest {
  request: CpeRequest;
  /** Handler-private state carried to `onResponse` (e.g. the step of a refresh). */
  step: JsonObject;
}

interface Handler<P extends TaskPayload> {
  start(payload: P, task: Task, ctx: HandlerContext): Promise<StartedRequest>;
  /** `response.method` is already checked to be the expected response of `step`'s request. */
  onResponse(payload: P, response: CpeResponse, step: JsonObject, task: Task, ctx: HandlerContext): Promise<StepOutcome>;
}

/** TR-069 limits CommandKey to 32 characters. */
const COMMAND_KEY_MAX = 32;

/** The CommandKey the ACS uses for a task: the operator's, else one derived from the task id. */
export function commandKeyOf(payload: { commandKey?: string }, task: Task): string {
  return payload.commandKey ?? `sb-task-${task.id}`.slice(0, COMMAND_KEY_MAX);
}

const UINT_MAX = 4294967295;
const INT_MIN = -2147483648;

/** Picks the xsd type to send for an SPV value: explicit, else the stored type, else from the JSON type. */
export function spvType(value: string | number | boolean, explicit: XsdType | undefined, stored: StoredParameter | undefined): XsdType {
  if (explicit) return explicit;
  if (stored?.type && isXsdType(stored.type)) return stored.type;
  if (typeof value === 'boolean') return 'boolean';
  if (typeof value === 'number' && Number.isInteger(value)) {
    if (value >= 0 && value <= UINT_MAX) return 'unsignedInt';
    if (value >= INT_MIN && value < 0) return 'int';
    return 'long';
  }
  return 'string';
}

/** Text of a JSON value for the wire: booleans per the stored convention ("1"/"0" vs "true"/"false"). */
export function spvText(value: string | number | boolean, type: XsdType, stored: StoredParameter | undefined): string {
  if (typeof value === 'boolean') {
    const digits = stored?.value === '0' || stored?.value === '1';
    return digits ? (value ? '1' : '0') : value ? 'true' : 'false';
  }
  if (typeof value === 'number' && type === 'boolean') return value ? '1' : '0';
  return String(value);
}

function valueWrites(list: ParameterValueStruct[]): ParameterWrite[] {
  return list.map((p) => ({ name: p.name, value: p.value, type: p.rawType ?? (p.untyped ? null : p.type) }));
}

function parentsOf(name: string): string[] {
  const out: string[] = [];
  let i = name.indexOf('.');
  while (i >= 0 && i < name.length - 1) {
    out.push(name.slice(0, i + 1));
    i = name.indexOf('.', i + 1);
  }
  return out;
}

const handlers: { [K in TaskType]: Handler<Extract<TaskPayload, { type: K }>> } = {
  getParameterValues: {
    async start(p) {
      return { request: { method: 'GetParameterValues', parameterNames: p.names }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'GetParameterValuesResponse') throw new Error('unexpected response');
      return {
        kind: 'done',
        result: { parameters: r.parameterList.map((x) => ({ name: x.name, value: x.value, type: x.rawType ?? x.type })) },
        writes: valueWrites(r.parameterList),
      };
    },
  },

  setParameterValues: {
    async start(p, _task, ctx) {
      // The stored parameter only matters for a value without an explicit type, or a non-string
      // value (boolean/number spelling): a preset giving typed strings costs no read.
      const needed = p.parameters.filter((x) => x.type === undefined || typeof x.value !== 'string').map((x) => x.name);
      const stored = needed.length > 0 ? await ctx.storedParameters(needed) : new Map<string, StoredParameter>();
      const parameterList: ParameterValueStruct[] = p.parameters.map((x) => {
        const s = stored.get(x.name);
        const type = spvType(x.value, x.type, s);
        return { name: x.name, value: spvText(x.value, type, s), type };
      });
      return { request: { method: 'SetParameterValues', parameterList, parameterKey: p.parameterKey ?? '' }, step: { sent: parameterList as unknown as JsonValue } };
    },
    async onResponse(_p, r, step) {
      if (r.method !== 'SetParameterValuesResponse') throw new Error('unexpected response');
      const sent = step.sent as unknown as ParameterValueStruct[];
      return {
        kind: 'done',
        result: { status: r.status },
        writes: sent.map((x) => ({ name: x.name, value: x.value, type: x.type })),
      };
    },
  },

  getParameterNames: {
    async start(p) {
      return { request: { method: 'GetParameterNames', parameterPath: p.path, nextLevel: p.nextLevel }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'GetParameterNamesResponse') throw new Error('unexpected response');
      return {
        kind: 'done',
        result: { parameters: r.parameterList.map((x) => ({ name: x.name, writable: x.writable })) },
        writes: r.parameterList.map((x) => ({ name: x.name, writable: x.writable })),
      };
    },
  },

  getParameterAttributes: {
    async start(p) {
      return { request: { method: 'GetParameterAttributes', parameterNames: p.names }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'GetParameterAttributesResponse') throw new Error('unexpected response');
      return {
        kind: 'done',
        result: { parameters: r.parameterList.map((x) => ({ name: x.name, notification: x.notification, accessList: x.accessList })) },
        writes: r.parameterList.map((x) => ({ name: x.name, notification: x.notification, accessList: x.accessList })),
      };
    },
  },

  setParameterAttributes: {
    async start(p) {
      const parameterList: SetParameterAttributesStruct[] = p.parameters.map((x) => ({
        name: x.name,
        notificationChange: x.notification !== undefined,
        notification: (x.notification ?? 0) as SetParameterAttributesStruct['notification'],
        accessListChange: x.accessList !== undefined,
        accessList: x.accessList ?? [],
      }));
      return { request: { method: 'SetParameterAttributes', parameterList }, step: {} };
    },
    async onResponse(p, r, _step, _task, ctx) {
      if (r.method !== 'SetParameterAttributesResponse') throw new Error('unexpected response');
      const writes: ParameterWrite[] = [];
      for (const x of p.parameters) {
        const attrs: Pick<ParameterWrite, 'notification' | 'accessList'> = {};
        if (x.notification !== undefined) attrs.notification = x.notification;
        if (x.accessList !== undefined) attrs.accessList = x.accessList;
        if (x.name.endsWith('.')) {
          // a partial path sets the attributes of every parameter below it
          for (const s of await ctx.storedSubtree(x.name)) if (!s.object) writes.push({ name: s.name, ...attrs });
        } else writes.push({ name: x.name, ...attrs });
      }
      return { kind: 'done', result: {}, writes };
    },
  },

  addObject: {
    async start(p) {
      return { request: { method: 'AddObject', objectName: p.objectName, parameterKey: p.parameterKey ?? '' }, step: {} };
    },
    async onResponse(p, r) {
      if (r.method !== 'AddObjectResponse') throw new Error('unexpected response');
      return {
        kind: 'done',
        result: { instanceNumber: r.instanceNumber, status: r.status },
        writes: [{ name: `${p.objectName}${r.instanceNumber}.`, writable: true }],
        checkpoint: true,
      };
    },
  },

  deleteObject: {
    async start(p) {
      return { request: { method: 'DeleteObject', objectName: p.objectName, parameterKey: p.parameterKey ?? '' }, step: {} };
    },
    async onResponse(p, r) {
      if (r.method !== 'DeleteObjectResponse') throw new Error('unexpected response');
      return { kind: 'done', result: { status: r.status }, deletes: [{ prefix: p.objectName }], checkpoint: true };
    },
  },

  reboot: {
    async start(p, task) {
      return { request: { method: 'Reboot', commandKey: commandKeyOf(p, task) }, step: {} };
    },
    async onResponse(p, r, _s, task) {
      if (r.method !== 'RebootResponse') throw new Error('unexpected response');
      return { kind: 'done', result: { commandKey: commandKeyOf(p, task) }, checkpoint: true };
    },
  },

  factoryReset: {
    async start() {
      return { request: { method: 'FactoryReset' }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'FactoryResetResponse') throw new Error('unexpected response');
      return { kind: 'done', result: {}, checkpoint: true };
    },
  },

  download: {
    async start(p, task) {
      return {
        request: {
          method: 'Download',
          commandKey: commandKeyOf(p, task),
          fileType: p.fileType,
          url: p.url,
          username: p.username ?? '',
          password: p.password ?? '',
          fileSize: p.fileSize ?? 0,
          targetFileName: p.targetFileName ?? '',
          delaySeconds: p.delaySeconds ?? 0,
          successURL: p.successUrl ?? '',
          failureURL: p.failureUrl ?? '',
        },
        step: {},
      };
    },
    async onResponse(p, r, _s, task) {
      if (r.method !== 'DownloadResponse') throw new Error('unexpected response');
      const commandKey = commandKeyOf(p, task);
      const result = { status: r.status, startTime: r.startTime, completeTime: r.completeTime, commandKey };
      if (r.status === 1) return { kind: 'await', result, awaiting: 'TransferComplete', commandKey };
      return { kind: 'done', result, checkpoint: true };
    },
  },

  upload: {
    async start(p, task) {
      return {
        request: {
          method: 'Upload',
          commandKey: commandKeyOf(p, task),
          fileType: p.fileType,
          url: p.url,
          username: p.username ?? '',
          password: p.password ?? '',
          delaySeconds: p.delaySeconds ?? 0,
        },
        step: {},
      };
    },
    async onResponse(p, r, _s, task) {
      if (r.method !== 'UploadResponse') throw new Error('unexpected response');
      const commandKey = commandKeyOf(p, task);
      const result = { status: r.status, startTime: r.startTime, completeTime: r.completeTime, commandKey };
      if (r.status === 1) return { kind: 'await', result, awaiting: 'TransferComplete', commandKey };
      return { kind: 'done', result, checkpoint: true };
    },
  },

  scheduleInform: {
    async start(p, task) {
      return { request: { method: 'ScheduleInform', delaySeconds: p.delaySeconds, commandKey: commandKeyOf(p, task) }, step: {} };
    },
    async onResponse(p, r, _s, task) {
      if (r.method !== 'ScheduleInformResponse') throw new Error('unexpected response');
      return { kind: 'done', result: { commandKey: commandKeyOf(p, task) } };
    },
  },

  getRPCMethods: {
    async start() {
      return { request: { method: 'GetRPCMethods' }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'GetRPCMethodsResponse') throw new Error('unexpected response');
      return { kind: 'done', result: { methods: r.methodList } };
    },
  },

  refresh: {
    async start(p) {
      return { request: { method: 'GetParameterNames', parameterPath: p.path, nextLevel: false }, step: { phase: 'names' } };
    },
    async onResponse(p, r, step) {
      if (step.phase === 'names') {
        if (r.method !== 'GetParameterNamesResponse') throw new Error('unexpected response');
        const names = r.parameterList.map((x) => x.name);
        const writes: ParameterWrite[] = r.parameterList.map((x) => ({ name: x.name, writable: x.writable }));
        const leaves = names.filter((n) => !n.endsWith('.'));
        const keep = new Set(names);
        // the ancestors of the reported nodes stay too (a GPN of "A.B." does not list "A.")
        for (const n of names) for (const a of parentsOf(n)) keep.add(a);
        const nextStep: JsonObject = { phase: 'values', names: [...keep] };
        if (leaves.length === 0) {
          return { kind: 'done', result: { parameters: 0 }, writes, deletes: [{ prefix: p.path, except: [...keep] }] };
        }
        // GPV of the partial path returns every leaf below it in one message; the whole tree ("")
        // is asked by names because some CPEs refuse an empty name.
        const request: CpeRequest = { method: 'GetParameterValues', parameterNames: p.path === '' ? leaves : [p.path] };
        return { kind: 'continue', request, step: nextStep, writes };
      }
      if (r.method !== 'GetParameterValuesResponse') throw new Error('unexpected response');
      const keep = new Set(step.names as string[]);
      for (const v of r.parameterList) keep.add(v.name);
      return {
        kind: 'done',
        result: { parameters: r.parameterList.length },
        writes: valueWrites(r.parameterList),
        deletes: [{ prefix: p.path, except: [...keep] }],
      };
    },
  },

  scheduleDownload: {
    async start(p, task) {
      return {
        request: {
          method: 'ScheduleDownload',
          commandKey: commandKeyOf(p, task),
          fileType: p.fileType,
          url: p.url,
          username: p.username ?? '',
          password: p.password ?? '',
          fileSize: p.fileSize ?? 0,
          targetFileName: p.targetFileName ?? '',
          timeWindowList: p.timeWindows.map((w) => ({
            windowStart: w.windowStart,
            windowEnd: w.windowEnd,
            windowMode: w.windowMode,
            userMessage: w.userMessage ?? '',
            maxRetries: w.maxRetries ?? 0,
          })),
        },
        step: {},
      };
    },
    async onResponse(p, r, _s, task) {
      if (r.method !== 'ScheduleDownloadResponse') throw new Error('unexpected response');
      const commandKey = commandKeyOf(p, task);
      return { kind: 'await', result: { commandKey }, awaiting: 'TransferComplete', commandKey };
    },
  },

  cancelTransfer: {
    async start(p) {
      return { request: { method: 'CancelTransfer', commandKey: p.commandKey }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'CancelTransferResponse') throw new Error('unexpected response');
      return { kind: 'done', result: {} };
    },
  },

  getQueuedTransfers: {
    async start() {
      return { request: { method: 'GetQueuedTransfers' }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'GetQueuedTransfersResponse') throw new Error('unexpected response');
      return { kind: 'done', result: { transfers: r.transferList.map((t) => ({ commandKey: t.commandKey, state: t.state })) } };
    },
  },

  getAllQueuedTransfers: {
    async start() {
      return { request: { method: 'GetAllQueuedTransfers' }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'GetAllQueuedTransfersResponse') throw new Error('unexpected response');
      return { kind: 'done', result: { transfers: r.transferList.map((t) => ({ ...t })) } };
    },
  },

  changeDUState: {
    async start(p, task) {
      return { request: { method: 'ChangeDUState', operations: p.operations, commandKey: commandKeyOf(p, task) }, step: {} };
    },
    async onResponse(p, r, _s, task) {
      if (r.method !== 'ChangeDUStateResponse') throw new Error('unexpected response');
      const commandKey = commandKeyOf(p, task);
      return { kind: 'await', result: { commandKey }, awaiting: 'DUStateChangeComplete', commandKey };
    },
  },

  setVouchers: {
    async start(p) {
      return { request: { method: 'SetVouchers', voucherList: p.vouchers }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'SetVouchersResponse') throw new Error('unexpected response');
      return { kind: 'done', result: {} };
    },
  },

  getOptions: {
    async start(p) {
      return { request: { method: 'GetOptions', optionName: p.optionName }, step: {} };
    },
    async onResponse(_p, r) {
      if (r.method !== 'GetOptionsResponse') throw new Error('unexpected response');
      return { kind: 'done', result: { options: r.optionList.map((o) => ({ ...o })) as unknown as JsonValue } };
    },
  },
};

/**
 * Builds the first RPC of a task.
 * Returns the request and the handler's step state; throws for a payload that is not a task
 * (the engine validates stored payloads before calling this).
 */
export async function startTask(payload: TaskPayload, task: Task, ctx: HandlerContext): Promise<StartedRequest> {
  const h = handlers[payload.type] as Handler<TaskPayload>;
  return h.start(payload, task, ctx);
}

/**
 * Interprets the CPE's (non-fault) response to a task's RPC.
 * Returns the outcome; throws Error('unexpected response') when the method does not fit the step.
 */
export async function continueTask(payload: TaskPayload, response: CpeResponse, step: JsonObject, task: Task, ctx: HandlerContext): Promise<StepOutcome> {
  const h = handlers[payload.type] as Handler<TaskPayload>;
  return h.onResponse(payload, response, step, task, ctx);
}

/** The response method expected for a request (`GetParameterValues` -> `GetParameterValuesResponse`). */
export function expectedResponse(request: CpeRequest): CpeResponse['method'] {
  return `${request.method}Response` as CpeResponse['method'];
}
