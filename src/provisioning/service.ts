/**
 * The provisioning service: implements the session hooks (hooks.ts) with the planner, zero-touch
 * bootstrap records, rollouts, configuration/firmware downloads, parameter history and webhooks,
 * and offers the operations the REST API plugin (src/api-provisioning/) exposes.
 *
 * One instance per ACS process. Per live session it keeps a small context (the device's desired
 * state computed once at the first `nextTask`, the planner's session state, the RPC in flight);
 * everything that must survive the session is written to the provisioning store at once.
 *
 * Hooks never throw: a failure is logged and the session goes on without provisioning (the device
 * is then provisioned at its next session), because a store hiccup must not fail a CWMP session.
 */
import { EventEmitter } from 'node:events';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { TaskPayload } from '../acs/tasks/schema.ts';
import { isRelayedTask } from '../acs/cluster/relayed.ts';
import type { AcsRequest, ParameterValueStruct } from '../cwmp/types.ts';
import {
  StoreError,
  type Device,
  type DeviceIdentity,
  type JsonObject,
  type JsonValue,
  type SessionOutcome,
  type Store,
  type StoredParameter,
  type Task,
} from '../store/types.ts';
import type {
  BootstrapRecord,
  DeviceMemoryEntry,
  DeviceMemoryKind,
  FileRecord,
  Preset,
  PresetSpec,
  ProvisioningStore,
  RolloutCounts,
  Rollout,
  UnknownDevicePolicy,
  WebhookEvent,
} from '../store/provisioning/types.ts';
import {
  resolveDesired,
  selectPresets,
  type Contribution,
  type DesiredSource,
  type DesiredValue,
  type PresetSelection,
  type ResolvedDesired,
} from './desired.ts';
import { cachedProvisioningStore, type CachedProvisioningStore } from './cache.ts';
import { CONFIG_FILE_TYPE, FIRMWARE_FILE_TYPE, FileLibrary } from './files.ts';
import { filterParameterNames, type DeviceFacts } from './filter.ts';
import type { InformDecision, PlannedTask, SessionHooks, SessionView, TaskOutcome } from './hooks.ts';
import {
  analyze,
  applyStepResult,
  emptyMemory,
  knownStateFrom,
  newPlanSession,
  nextStep,
  stepPayload,
  type Analysis,
  type KnownState,
  type PlanSession,
  type PlanStep,
  type PlannerMemory,
  type StepEffects,
  type StepResult,
} from './planner.ts';
import { downloadPayload, rolloutIdOfCommandKey, RolloutManager } from './rollouts.ts';
import { isTemplate, normaliseMac, type TemplateContext } from './template.ts';
import { compareVersions } from './version.ts';
import { subscribed, WebhookDispatcher, type WebhookDispatcherOptions } from './webhooks.ts';

/** Tag carried by devices the unknown-device policy quarantined: nothing is pushed to them. */
export const QUARANTINE_TAG = 'quarantine';
export const UNKNOWN_DEVICE_POLICY_SETTING = 'unknownDevicePolicy';
/** Weight of the bootstrap record's values: above every preset. */
const BOOTSTRAP_WEIGHT = Number.MAX_SAFE_INTEGER;
/** A download reported neither done nor failed after this long may be sent again. */
const PENDING_DOWNLOAD_TTL_MS = 3_600_000;
/** Session contexts older than this are dropped (the engine normally ends them). */
const SESSION_CONTEXT_TTL_MS = 3_600_000;
/** How often stale session contexts are looked for (not at every Inform: a storm has hundreds live). */
const STALE_SWEEP_INTERVAL_MS = 60_000;
/** ManagementServer parameters whose value the ACS must expect as the device's credentials after a write. */
const CREDENTIAL_FIELDS: ReadonlyMap<string, 'acsUsername' | 'acsPassword' | 'connectionRequestUsername' | 'connectionRequestPassword'> = new Map([
  ['ManagementServer.Username', 'acsUsername'],
  ['ManagementServer.Password', 'acsPassword'],
  ['ManagementServer.ConnectionRequestUsername', 'connectionRequestUsername'],
  ['ManagementServer.ConnectionRequestPassword', 'connectionRequestPassword'],
]);
const CONFIG_KEY_PREFIX = 'cfg:';
const FIRMWARE_KEY_PREFIX = 'fw:';
const TASK_NOTICE_MEMORY = 2000;
const DOT = '.'.charCodeAt(0);
/** Device memory a `0 BOOTSTRAP` forgets (the device lost what the ACS set, secrets included). */
const FORGOTTEN_AT_BOOTSTRAP: ReadonlySet<DeviceMemoryKind> = new Set(['applied', 'refused', 'bootstrap', 'config-file', 'firmware']);

export interface ProvisioningLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}
const silent: ProvisioningLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ProvisioningServiceOptions {
  store: Store;
  provisioning: ProvisioningStore;
  /** Data directory; files go to `<dataDir>/files`. */
  dataDir: string;
  /** Base URL devices download files from (the HTTP/API port as devices reach it). */
  fileBaseUrl: string;
  /** This ACS's CWMP URL: a bootstrap record naming another URL moves the device there. */
  acsUrl?: string;
  now?: () => number;
  logger?: ProvisioningLogger;
  /** AcsControl.connectionRequest, for rollout kicks. */
  connectionRequest?: (deviceId: string) => Promise<unknown>;
  webhooks?: Omit<WebhookDispatcherOptions, 'store' | 'now' | 'logger'>;
  maxFileBytes?: number;
  /**
   * The file library to use (e.g. one keeping content in a shared database); default a library
   * keeping content under `<dataDir>/files`.
   */
  files?: FileLibrary;
}

/** The part of the ACS's event emitter provisioning listens to (AcsControl.events fits). */
export interface TaskEvents {
  on(event: 'task', listener: (task: Task) => void): unknown;
  off(event: 'task', listener: (task: Task) => void): unknown;
}

/** Events of the service (webhooks are fed from them). */
export type ProvisioningEventMap = { [E in WebhookEvent]: [data: JsonObject] };

/** What is in flight from the planner side in a session. */
type Inflight =
  | { kind: 'step'; step: PlanStep; payload: TaskPayload }
  | { kind: 'rollout'; rolloutId: string; payload: TaskPayload }
  | { kind: 'firmware'; file: FileRecord; payload: TaskPayload }
  | { kind: 'config'; file: FileRecord; payload: TaskPayload };

interface SessionContext {
  sessionId: string;
  deviceId: string;
  identity: DeviceIdentity;
  /**
   * The device as read at the Inform (and after this service's own tag changes): read once per
   * session rather than again by every planning step (a measurable share of a periodic session).
   */
  device: Device | null;
  events: Set<string>;
  /** The Inform's values (the engine's list, not copied: neither side changes it). */
  informParameters: readonly ParameterValueStruct[];
  createdAt: number;
  quarantined: boolean;
  memory: PlannerMemory;
  rawMemory: DeviceMemoryEntry[];
  desired: ResolvedDesired | null;
  selections: PresetSelection[];
  /** The device's bootstrap record (its variables always feed templates). */
  bootstrapRecord: BootstrapRecord | null;
  /** The record when its values still have to be applied. */
  bootstrap: BootstrapRecord | null;
  plan: PlanSession;
  inflight: Inflight | null;
  requestedFirmware: boolean;
  downloadsDone: boolean;
  /** Download kinds already considered in this session (`config`, `firmware`). */
  considered: Set<string>;
  finished: boolean;
  changed: number;
  parameterKey: string;
}

/** The result of a dry run for one device. */
export interface DryRunReport {
  deviceId: string;
  presets: { id: string; name: string; weight: number; applies: boolean; reasons: string[] }[];
  bootstrap: { key: string; revision: number; pending: boolean } | null;
  quarantined: boolean;
  changes: {
    set: { name: string; from: string | null; to: string; preset: string; secret: boolean }[];
    read: string[];
    attributes: { name: string; from: { notification: number | null; accessList: string[] | null } | null; to: { notification?: number; accessList?: string[] }; preset: string }[];
    addObjects: { table: string; count: number }[];
    deleteObjects: string[];
    discover: string[];
    downloads: { kind: 'firmware' | 'config'; fileId: string; fileName: string; version: string | null; reason: string }[];
    tags: { add: string[]; remove: string[] };
  };
  unchanged: number;
  skipped: { name: string; reason: string }[];
  issues: string[];
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The root object (`Device` / `InternetGatewayDevice`) a device uses, from names it reported. */
export function rootOf(names: Iterable<string>): string {
  for (const n of names) {
    const first = n.slice(0, n.indexOf('.'));
    if (first === 'Device' || first === 'InternetGatewayDevice') return first;
  }
  return 'Device';
}

/**
 * Keys a device's variables and bootstrap record may be stored under, most specific first.
 * @param mac `normaliseMac(serialNumber)` when the caller has it already.
 */
export function deviceKeys(deviceId: string, serialNumber: string, mac = normaliseMac(serialNumber)): string[] {
  const keys = deviceId === serialNumber ? [deviceId] : [deviceId, serialNumber];
  if (mac && !keys.includes(mac)) keys.push(mac);
  return keys;
}

/** Normalises a variable or bootstrap key: a MAC becomes 12 upper-case hex digits, anything else is trimmed. */
export function normaliseKey(key: string): string {
  const k = key.trim();
  return normaliseMac(k) ?? k;
}

function memoryFrom(entries: DeviceMemoryEntry[]): PlannerMemory {
  const m = emptyMemory();
  for (const e of entries) {
    if (e.kind === 'applied') m.applied.set(e.name, e.hash);
    else if (e.kind === 'refused') {
      const d = e.detail ?? {};
      m.refused.set(e.name, { hash: e.hash, faultCode: typeof d.faultCode === 'number' ? d.faultCode : null, faultString: typeof d.faultString === 'string' ? d.faultString : '' });
    }
  }
  return m;
}

/** See the module comment. */
export class ProvisioningService implements SessionHooks {
  readonly store: Store;
  /** The provisioning store as given, behind the caching view of cache.ts (use it like the store). */
  readonly provisioning: ProvisioningStore;
  /** The caching view's controls (stats; `caching` false when the store cannot notify changes). */
  readonly cache: CachedProvisioningStore;
  readonly files: FileLibrary;
  readonly rollouts: RolloutManager;
  readonly webhooks: WebhookDispatcher;
  readonly events = new EventEmitter<ProvisioningEventMap>();
  private baseUrl: string;
  private acsUrl: string | null;
  private readonly now: () => number;
  private readonly log: ProvisioningLogger;
  private readonly sessions = new Map<string, SessionContext>();
  private readonly seenTaskNotices = new Set<string>();
  private detach: (() => void) | null = null;
  /** When `dropStaleSessions` looks again (ms). */
  private nextStaleSweep = 0;

  constructor(options: ProvisioningServiceOptions) {
    this.store = options.store;
    // Presets, webhooks and whether rollouts / bootstrap records exist are read by every session:
    // kept in memory, dropped on every change (cache.ts). Everything below uses the cached view.
    this.cache = cachedProvisioningStore(options.provisioning);
    this.provisioning = this.cache.store;
    this.now = options.now ?? Date.now;
    this.log = options.logger ?? silent;
    this.baseUrl = options.fileBaseUrl;
    this.acsUrl = options.acsUrl ?? null;
    this.files = options.files ?? new FileLibrary({ store: this.provisioning, dir: join(options.dataDir, 'files'), maxBytes: options.maxFileBytes });
    this.webhooks = new WebhookDispatcher({ store: this.provisioning, now: this.now, logger: this.log, ...options.webhooks });
    this.rollouts = new RolloutManager({
      store: options.store,
      provisioning: this.provisioning,
      fileBaseUrl: options.fileBaseUrl,
      now: this.now,
      connectionRequest: options.connectionRequest,
      logger: this.log,
      onFinished: (r, counts) => this.emitRolloutFinished(r, counts),
    });
  }

  /** Base URL of the public file route (devices download from `<base>/files/...`). */
  get fileBaseUrl(): string {
    return this.baseUrl;
  }

  /** Changes the file base URL (e.g. once the HTTP port is known after listening on port 0). */
  setFileBaseUrl(url: string): void {
    this.baseUrl = url;
    this.rollouts.setFileBaseUrl(url);
  }

  /** Sets this ACS's CWMP URL (known once the listener is bound). */
  setAcsUrl(url: string): void {
    this.acsUrl = url;
  }

  /** Starts the webhook worker and the rollout ticker. */
  start(options: { rolloutTickMs?: number } = {}): void {
    this.webhooks.start();
    this.rollouts.start(options.rolloutTickMs);
  }

  /** Stops the background work (the stores are closed by their owner). */
  async stop(): Promise<void> {
    this.detach?.();
    this.cache.detach();
    await this.rollouts.stop();
    await this.webhooks.stop();
  }

  /**
   * Feeds task results of the ACS (operator tasks included) to webhooks: `task.done`,
   * `task.failed` and, for CPE faults, `fault`. Returns nothing; call the returned detach on stop.
   */
  attach(events: TaskEvents): void {
    const onTask = (task: Task) => {
      if (task.status !== 'done' && task.status !== 'failed') return;
      // a change relayed from another instance: that instance sends the webhooks (once per cluster)
      if (isRelayedTask(task)) return;
      // every planner task ends here: nothing to do (not even remembering it) when no one takes the events
      if (!this.wants(task.status === 'done' ? 'task.done' : 'task.failed') && !(task.status === 'failed' && this.wants('fault'))) return;
      const key = `${task.id}:${task.status}`;
      if (this.seenTaskNotices.has(key)) return;
      this.seenTaskNotices.add(key);
      if (this.seenTaskNotices.size > TASK_NOTICE_MEMORY) this.seenTaskNotices.delete(this.seenTaskNotices.values().next().value!);
      const data: JsonObject = { deviceId: task.deviceId, taskId: task.id, type: task.type, status: task.status, faultCode: task.faultCode, faultString: task.faultString };
      this.emit(task.status === 'done' ? 'task.done' : 'task.failed', data);
      if (task.status === 'failed' && task.faultCode !== null) this.emit('fault', { ...data, source: 'cpe', code: String(task.faultCode), message: task.faultString ?? '' });
    };
    events.on('task', onTask);
    this.detach = () => events.off('task', onTask);
  }

  /**
   * True when an event would reach someone: a listener of `events`, or a webhook subscribed to it
   * (or the webhook list is not in memory: then it may). Callers skip building events nobody
   * takes (a boot storm emits several per device, usually to no one).
   */
  private wants(event: WebhookEvent): boolean {
    if (this.events.listenerCount(event) > 0) return true;
    const hooks = this.cache.cachedWebhooks();
    return hooks === undefined || hooks.some((h) => subscribed(h, event));
  }

  /** Emits a provisioning event (to listeners and webhooks). Never throws. */
  emit(event: WebhookEvent, data: JsonObject): void {
    if (!this.wants(event)) return;
    try {
      this.events.emit(event, data);
    } catch (err) {
      this.log.warn({ err, event }, 'provisioning event listener failed');
    }
    this.webhooks.publish(event, data).catch((err: unknown) => this.log.warn({ err, event }, 'could not queue webhook deliveries'));
  }

  private emitRolloutFinished(r: Rollout, counts: RolloutCounts): void {
    this.emit('rollout.finished', { rolloutId: r.id, name: r.name, state: r.state, reason: r.reason, counts: { ...counts } });
  }

  // -------------------------------------------------------------------------------------------
  // Hooks
  // -------------------------------------------------------------------------------------------

  async informReceived(view: SessionView): Promise<InformDecision> {
    this.dropStaleSessions();
    try {
      return await this.onInform(view);
    } catch (err) {
      this.log.error({ err, deviceId: view.deviceId }, 'provisioning: inform handling failed; session goes on without provisioning');
      return { action: 'accept' };
    }
  }

  private async onInform(view: SessionView): Promise<InformDecision> {
    const now = this.now();
    const events = new Set(view.events.map((e) => e.eventCode));
    let device = await this.store.getDevice(view.deviceId);
    // the cached store answers from memory while no bootstrap record exists
    const record = await this.provisioning.findBootstrap(deviceKeys(view.deviceId, view.identity.serialNumber));
    // Registered at this Inform: the ACS holds nothing about it yet (no read of stored values).
    let registered = false;
    if (!device) {
      const policy = (await this.provisioning.getSetting<UnknownDevicePolicy>(UNKNOWN_DEVICE_POLICY_SETTING)) ?? 'accept';
      if (!record && policy === 'refuse') {
        this.log.warn({ deviceId: view.deviceId, remoteAddress: view.remoteAddress }, 'unknown device refused (policy "refuse")');
        return { action: 'refuse', reason: 'unknown device: the ACS accepts only pre-registered devices or devices with a bootstrap record' };
      }
      const tags = [...(record?.tags ?? [])];
      if (!record && policy === 'quarantine') tags.push(QUARANTINE_TAG);
      try {
        device = await this.store.createDevice({ ...view.identity, tags, contact: view.contact });
        registered = true;
      } catch (err) {
        if (!(err instanceof StoreError && err.code === 'conflict')) throw err;
        device = await this.store.getDevice(view.deviceId);
      }
      if (this.wants('device.registered')) {
        this.emit('device.registered', { deviceId: view.deviceId, ...view.identity, remoteAddress: view.remoteAddress, quarantined: tags.includes(QUARANTINE_TAG), bootstrapRecord: record?.key ?? null });
      }
    }
    // Read before anything below may change it (nothing else writes a device's memory while its
    // session holds the lock): a BOOTSTRAP then deletes only when there is something to forget,
    // which a storm of new devices never has (a write saved per device).
    let rawMemory = await this.provisioning.getDeviceMemory(view.deviceId);
    if (events.has('0 BOOTSTRAP')) {
      // Factory state: the device lost what the ACS set, including write-only secrets.
      if (rawMemory.some(lostAtBootstrap)) {
        await this.provisioning.deleteDeviceMemory(view.deviceId, [...FORGOTTEN_AT_BOOTSTRAP]);
        rawMemory = rawMemory.filter((e) => !lostAtBootstrap(e));
      }
      this.emit('device.bootstrapped', { deviceId: view.deviceId });
    }
    if (events.has('1 BOOT') && this.wants('device.booted')) this.emit('device.booted', { deviceId: view.deviceId, softwareVersion: this.informValue(view.informParameters, 'DeviceInfo.SoftwareVersion') });
    if (record && device) {
      const missing = record.tags.filter((t) => !device!.tags.includes(t));
      if (missing.length > 0) device = (await this.store.updateDevice(view.deviceId, { tags: [...device.tags, ...missing] })) ?? device;
    }
    await this.recordHistory(view, events, now, registered);
    // Never in a session before (registered now, or pre-registered and silent until now): the
    // planner knows none of its values (see PlanSession.neverSeen).
    const neverSeen = registered || (device !== null && device.firstContact === null);
    await this.rollouts.onInform(view.deviceId, this.informValue(view.informParameters, 'DeviceInfo.SoftwareVersion'), events.has('1 BOOT'));
    const bootstrapPending = record !== null && !rawMemory.some((e) => e.kind === 'bootstrap' && e.name === record.key && e.hash === String(record.revision));
    this.sessions.set(view.sessionId, {
      sessionId: view.sessionId,
      deviceId: view.deviceId,
      identity: view.identity,
      device,
      events,
      informParameters: view.informParameters,
      createdAt: now,
      quarantined: device?.tags.includes(QUARANTINE_TAG) ?? false,
      memory: memoryFrom(rawMemory),
      rawMemory,
      desired: null,
      selections: [],
      bootstrapRecord: record,
      bootstrap: bootstrapPending ? record : null,
      plan: newPlanSession({ neverSeen }),
      inflight: null,
      requestedFirmware: false,
      downloadsDone: false,
      considered: new Set(),
      finished: false,
      changed: 0,
      parameterKey: '',
    });
    return { action: 'accept', deviceStored: device !== null };
  }

  /** The value of `<root>.<suffix>` (root: one name without dots) in an Inform's list, or null. */
  private informValue(list: readonly ParameterValueStruct[], suffix: string): string | null {
    for (const x of list) {
      const dot = x.name.length - suffix.length - 1;
      // `.suffix` at the end, and that dot the name's first one (the root has none)
      if (dot >= 0 && x.name.endsWith(suffix) && x.name.charCodeAt(dot) === DOT && x.name.indexOf('.') === dot) return x.value;
    }
    return null;
  }

  /** Records Inform values that changed (every value of an Inform carrying 4 VALUE CHANGE). */
  private async recordHistory(view: SessionView, events: Set<string>, now: number, registered: boolean): Promise<void> {
    const valueChange = events.has('4 VALUE CHANGE');
    if (view.informParameters.length === 0) return;
    // A device registered at this Inform has nothing stored: no read (every value is a first sight).
    if (registered && !valueChange) return;
    const names = view.informParameters.map((p) => p.name);
    const stored = new Map(registered ? [] : (await this.store.getParameters(view.deviceId, { names })).map((p) => [p.name, p.value]));
    const changed = view.informParameters.filter((p) => {
      const prev = stored.get(p.name) ?? null;
      // A value seen for the first time is a change only when the device says so (4 VALUE CHANGE).
      return prev === null ? valueChange && !this.isForcedInform(p.name) : prev !== p.value;
    });
    if (changed.length === 0) return;
    const at = iso(now);
    await this.provisioning.appendHistory(
      changed.map((p) => ({ deviceId: view.deviceId, name: p.name, value: p.value, previous: stored.get(p.name) ?? null, source: valueChange ? ('value-change' as const) : ('inform' as const), at })),
    );
    if (valueChange && this.wants('parameter.changed')) {
      this.emit('parameter.changed', {
        deviceId: view.deviceId,
        changes: changed.map((p) => ({ name: p.name, value: p.value, previous: stored.get(p.name) ?? null })),
      });
    }
  }

  /** Forced-inform parameters are in every Inform: a first sight of them is not a change. */
  private isForcedInform(name: string): boolean {
    return /\.(DeviceInfo\.(SoftwareVersion|HardwareVersion|ProvisioningCode|SpecVersion)|ManagementServer\.(ConnectionRequestURL|ParameterKey|AliasBasedAddressing)|DeviceSummary|LAN\.IPAddress)$/.test(name) || name === 'Device.DeviceSummary';
  }

  async cpeRequest(view: SessionView, request: AcsRequest, task: Task | null): Promise<void> {
    try {
      const ctx = this.sessions.get(view.sessionId);
      if (request.method === 'RequestDownload') {
        if (ctx && request.fileType.startsWith('1')) ctx.requestedFirmware = true;
        return;
      }
      if (request.method === 'TransferComplete') {
        await this.onTransferComplete(view, ctx ?? null, request.commandKey, request.faultStruct.faultCode, request.faultStruct.faultString, task);
        this.emit('transfer.complete', {
          deviceId: view.deviceId,
          commandKey: request.commandKey,
          faultCode: request.faultStruct.faultCode,
          faultString: request.faultStruct.faultString,
          startTime: request.startTime,
          completeTime: request.completeTime,
          taskId: task?.id ?? null,
        });
        if (request.faultStruct.faultCode !== 0) {
          this.emit('fault', { deviceId: view.deviceId, source: 'cpe', code: String(request.faultStruct.faultCode), message: request.faultStruct.faultString, commandKey: request.commandKey });
        }
        return;
      }
      if (request.method === 'AutonomousTransferComplete') {
        this.emit('transfer.complete', {
          deviceId: view.deviceId,
          autonomous: true,
          transferURL: request.transferURL,
          fileType: request.fileType,
          faultCode: request.faultStruct.faultCode,
          faultString: request.faultStruct.faultString,
        });
      }
    } catch (err) {
      this.log.error({ err, deviceId: view.deviceId, method: request.method }, 'provisioning: CPE request handling failed');
    }
  }

  private async onTransferComplete(view: SessionView, ctx: SessionContext | null, commandKey: string, faultCode: number, faultString: string, _task: Task | null): Promise<void> {
    const reported = this.informValue(view.informParameters, 'DeviceInfo.SoftwareVersion');
    const rebooted = view.events.some((e) => e.eventCode === '1 BOOT');
    const rolloutId = rolloutIdOfCommandKey(commandKey);
    if (rolloutId) {
      await this.rollouts.onTransferComplete(rolloutId, view.deviceId, faultCode, faultString, reported, rebooted);
      return;
    }
    const kind: DeviceMemoryKind | null = commandKey.startsWith(CONFIG_KEY_PREFIX) ? 'config-file' : commandKey.startsWith(FIRMWARE_KEY_PREFIX) ? 'firmware' : null;
    if (!kind) return;
    const fileId = commandKey.slice(kind === 'config-file' ? CONFIG_KEY_PREFIX.length : FIRMWARE_KEY_PREFIX.length);
    const entries = await this.provisioning.getDeviceMemory(view.deviceId, [kind]);
    const entry = entries.find((e) => e.name === fileId);
    if (!entry) return;
    const state = faultCode === 0 ? 'done' : 'refused';
    const detail: JsonObject = { ...(entry.detail ?? {}), state, faultCode, faultString, at: iso(this.now()) };
    await this.provisioning.putDeviceMemory([{ ...entry, detail, at: iso(this.now()) }]);
    if (ctx) {
      const i = ctx.rawMemory.findIndex((e) => e.kind === kind && e.name === fileId);
      if (i >= 0) ctx.rawMemory[i] = { ...entry, detail };
    }
  }

  async nextTask(view: SessionView): Promise<PlannedTask | null> {
    const ctx = this.sessions.get(view.sessionId);
    if (!ctx || ctx.finished || ctx.quarantined) return null;
    try {
      const planned = await this.plan(view, ctx);
      if (!planned) ctx.finished = true;
      return planned;
    } catch (err) {
      this.log.error({ err, deviceId: view.deviceId }, 'provisioning: planning failed; nothing more in this session');
      ctx.finished = true;
      return null;
    }
  }

  private async plan(view: SessionView, ctx: SessionContext): Promise<PlannedTask | null> {
    if (!ctx.desired) await this.prepareDesired(view, ctx);
    const desired = ctx.desired!;
    const known = await this.loadKnown(view, desired);
    const { step, effects } = nextStep(desired, known, ctx.memory, ctx.plan);
    await this.persistEffects(view, ctx, effects);
    if (step) {
      const payload = stepPayload(step, ctx.parameterKey);
      ctx.inflight = { kind: 'step', step, payload };
      return { payload, maxAttempts: 1 };
    }
    if (ctx.downloadsDone) return null;
    const download = await this.planDownloads(view, ctx, desired);
    if (download) return download;
    ctx.downloadsDone = true;
    return null;
  }

  /**
   * Loads what the planner needs to know: the desired names and the tables' sub-trees (instances,
   * keys and instance values are all under a table's path). The planner looks up nothing else
   * (KnownState.get of desired names, table keys and instance values; instances of tables), so the
   * parents of desired names are not read: this runs at every planning step of a session.
   */
  private async loadKnown(view: SessionView, desired: ResolvedDesired): Promise<KnownState> {
    const { names, subtrees } = knownQueryOf(desired);
    const lists: StoredParameter[][] = [names.length > 0 ? await view.parameters({ names }) : []];
    for (const p of subtrees) lists.push(await view.parameters({ prefix: p }));
    return knownStateFrom(lists.length === 1 ? lists[0] : lists.flat());
  }

  /** Computes the session's desired state (once) and applies its tag changes. */
  private async prepareDesired(view: SessionView, ctx: SessionContext): Promise<void> {
    const device = ctx.device;
    const presets = await this.provisioning.listPresets();
    const built = await this.buildDesired({
      deviceId: view.deviceId,
      identity: view.identity,
      device,
      events: [...ctx.events],
      // bound, not an arrow: nothing is created per session unless a precondition reads a parameter
      lookup: lookupInSession.bind(null, view),
      rootHint: ctx.informParameters.map((p) => p.name),
      memory: ctx.rawMemory,
      presets,
      bootstrapRecord: ctx.bootstrapRecord,
      bootstrap: ctx.bootstrap,
      explain: false,
    });
    ctx.desired = built.desired;
    ctx.selections = built.selections;
    ctx.parameterKey = built.parameterKey;
    for (const s of built.selections) {
      if (s.applies && s.bySchedule) {
        await this.provisioning.putDeviceMemory([{ deviceId: view.deviceId, kind: 'preset-run', name: s.preset.id, hash: String(s.preset.revision), detail: null, at: iso(this.now()) }]);
      }
    }
    if (device && (built.desired.tagsAdd.size > 0 || built.desired.tagsRemove.size > 0)) {
      const tags = new Set(device.tags);
      for (const t of built.desired.tagsAdd) tags.add(t);
      for (const t of built.desired.tagsRemove) tags.delete(t);
      if (tags.size !== device.tags.length || [...tags].some((t) => !device.tags.includes(t))) {
        ctx.device = (await this.store.updateDevice(view.deviceId, { tags: [...tags] })) ?? ctx.device;
      }
    }
    if (built.desired.issues.length > 0) {
      this.log.info({ deviceId: view.deviceId, issues: built.desired.issues.map(issueText) }, 'provisioning: desired state has issues');
    }
  }

  /** What a device should have (shared by sessions and dry runs). */
  async buildDesired(input: {
    deviceId: string;
    identity: DeviceIdentity;
    device: Device | null;
    /** Inform events; null = consider every trigger fired. */
    events: string[] | null;
    lookup: (names: string[]) => Promise<Map<string, string | null>>;
    rootHint: string[];
    memory: DeviceMemoryEntry[];
    presets: Preset[];
    /** The device's record, whose variables feed templates. */
    bootstrapRecord: BootstrapRecord | null;
    /** The record when its values are still to be applied. */
    bootstrap: BootstrapRecord | null;
    /** False: presets that do not apply get no detailed reasons (a session reads none). Default true. */
    explain?: boolean;
  }): Promise<{ desired: ResolvedDesired; selections: PresetSelection[]; parameterKey: string }> {
    const wanted = new Set<string>();
    for (const p of input.presets) for (const n of filterNamesOf(p)) wanted.add(n);
    const values = wanted.size > 0 ? await input.lookup([...wanted]) : new Map<string, string | null>();
    const facts: DeviceFacts = {
      id: input.deviceId,
      oui: input.identity.oui,
      productClass: input.identity.productClass,
      manufacturer: input.identity.manufacturer,
      serialNumber: input.identity.serialNumber,
      softwareVersion: input.device?.softwareVersion ?? null,
      tags: input.device?.tags ?? [],
      parameter: values.size === 0 ? noParameter : (n) => values.get(n) ?? undefined,
    };
    const lastRuns = new Map(input.memory.filter((e) => e.kind === 'preset-run').map((e) => [e.name, Date.parse(e.at)]));
    const selections = selectPresets(input.presets, { facts, events: input.events, nowMs: this.now(), lastScheduledRun: lastRuns, explain: input.explain ?? true });
    const contributions: Contribution[] = selections
      .filter((s) => s.applies)
      .map((s) => ({ source: { kind: 'preset', id: s.preset.id, name: s.preset.name, revision: s.preset.revision }, weight: s.preset.weight, spec: s.preset.desired }));
    if (input.bootstrap) contributions.push(this.bootstrapContribution(input.bootstrap, rootOf(input.rootHint)));
    // The variables are read only when a template will use them (a query per session saved otherwise).
    const mac = normaliseMac(input.identity.serialNumber);
    const variables = contributions.some((c) => hasTemplates(c.spec)) ? await this.variablesFor(input.deviceId, input.identity.serialNumber, input.bootstrapRecord, mac) : {};
    const ctx: TemplateContext = {
      variables,
      device: {
        id: input.deviceId,
        serialNumber: input.identity.serialNumber,
        oui: input.identity.oui,
        productClass: input.identity.productClass,
        manufacturer: input.identity.manufacturer,
        softwareVersion: input.device?.softwareVersion ?? null,
        hardwareVersion: input.device?.hardwareVersion ?? null,
        mac,
      },
    };
    const desired = resolveDesired(contributions, ctx);
    const keySource = contributions.map((c) => `${c.source.kind}:${c.source.id}:${c.source.revision}`).sort().join('|');
    const parameterKey = contributions.length > 0 ? parameterKeyOf(keySource) : '';
    return { desired, selections, parameterKey };
  }

  /** The bootstrap record as a contribution above every preset. */
  private bootstrapContribution(record: BootstrapRecord, root: string): Contribution {
    const ms = `${root}.ManagementServer.`;
    const parameters: NonNullable<PresetSpec['desired']['parameters']> = [];
    if (record.acsUrl && record.acsUrl !== this.acsUrl) parameters.push({ name: `${ms}URL`, value: record.acsUrl });
    if (record.acsUsername) parameters.push({ name: `${ms}Username`, value: record.acsUsername });
    if (record.acsPassword) parameters.push({ name: `${ms}Password`, value: record.acsPassword, secret: true });
    if (record.connectionRequestUsername) parameters.push({ name: `${ms}ConnectionRequestUsername`, value: record.connectionRequestUsername });
    if (record.connectionRequestPassword) parameters.push({ name: `${ms}ConnectionRequestPassword`, value: record.connectionRequestPassword, secret: true });
    if (record.periodicInformInterval) {
      parameters.push({ name: `${ms}PeriodicInformEnable`, value: true });
      parameters.push({ name: `${ms}PeriodicInformInterval`, value: record.periodicInformInterval });
    }
    const source: DesiredSource = { kind: 'bootstrap', id: record.key, name: `bootstrap ${record.key}`, revision: record.revision };
    return { source, weight: BOOTSTRAP_WEIGHT, spec: { parameters, tags: { add: record.tags } } };
  }

  /**
   * A device's variables: bootstrap record < MAC row < serial row < device-id row.
   * @param mac `normaliseMac(serialNumber)` when the caller has it already.
   */
  async variablesFor(deviceId: string, serialNumber: string, bootstrap: BootstrapRecord | null, mac = normaliseMac(serialNumber)): Promise<Record<string, string>> {
    const keys = deviceKeys(deviceId, serialNumber, mac);
    const sets = await this.provisioning.getVariables(keys);
    const out: Record<string, string> = { ...(bootstrap?.variables ?? {}) };
    for (const key of [...keys].reverse()) {
      const s = sets.find((x) => x.key === key);
      if (s) Object.assign(out, s.variables);
    }
    return out;
  }

  /** Config file, rollout firmware, preset firmware, requested firmware: at most one per call. */
  private async planDownloads(view: SessionView, ctx: SessionContext, desired: ResolvedDesired): Promise<PlannedTask | null> {
    const device = ctx.device;
    const version = this.informValue(ctx.informParameters, 'DeviceInfo.SoftwareVersion') ?? device?.softwareVersion ?? null;
    // 1. Vendor configuration file.
    if (desired.configFile && !ctx.considered.has('config')) {
      ctx.considered.add('config');
      const file = await this.provisioning.getFile(desired.configFile.fileId);
      if (file && this.downloadWanted(ctx, 'config-file', file)) {
        const payload = downloadPayload(file, this.fileBaseUrl, `${CONFIG_KEY_PREFIX}${file.id}`);
        await this.rememberDownload(view.deviceId, ctx, 'config-file', file, payload.commandKey!);
        ctx.inflight = { kind: 'config', file, payload };
        return { payload, maxAttempts: 1 };
      }
    }
    // 2. A rollout covering the device decides its firmware.
    const identity = { id: view.deviceId, oui: view.identity.oui, productClass: view.identity.productClass, softwareVersion: version };
    const fromRollout = await this.rollouts.planDownload(identity, ctx.requestedFirmware);
    if (fromRollout) {
      ctx.inflight = { kind: 'rollout', rolloutId: fromRollout.rollout.id, payload: fromRollout.payload };
      ctx.requestedFirmware = false;
      return { payload: fromRollout.payload, maxAttempts: 1 };
    }
    const inRollout = (await this.provisioning.rolloutsOfDevice(view.deviceId)).some((e) => e.device.state === 'pending' || e.device.state === 'downloading');
    if (inRollout) return null;
    // 3. The firmware version presets ask for.
    if (desired.firmware && version !== null && !ctx.considered.has('firmware')) {
      ctx.considered.add('firmware');
      const c = compareVersions(version, desired.firmware.version);
      if (c < 0 || (c > 0 && desired.firmware.allowDowngrade)) {
        const file = desired.firmware.fileId
          ? await this.provisioning.getFile(desired.firmware.fileId)
          : await this.newestFirmware(view.identity, (v) => compareVersions(v, desired.firmware!.version) === 0);
        if (file && this.downloadWanted(ctx, 'firmware', file)) return this.firmwareTask(view, ctx, file);
      }
    }
    // 4. The device asked for firmware (RequestDownload "1 Firmware Upgrade Image").
    if (ctx.requestedFirmware) {
      ctx.requestedFirmware = false;
      const file = await this.newestFirmware(view.identity, (v) => version === null || compareVersions(v, version) > 0);
      if (file && this.downloadWanted(ctx, 'firmware', file)) return this.firmwareTask(view, ctx, file);
      this.log.info({ deviceId: view.deviceId, version }, 'RequestDownload: no newer firmware for this device');
    }
    return null;
  }

  private async firmwareTask(view: SessionView, ctx: SessionContext, file: FileRecord): Promise<PlannedTask> {
    const payload = downloadPayload(file, this.fileBaseUrl, `${FIRMWARE_KEY_PREFIX}${file.id}`);
    await this.rememberDownload(view.deviceId, ctx, 'firmware', file, payload.commandKey!);
    ctx.inflight = { kind: 'firmware', file, payload };
    return { payload, maxAttempts: 1 };
  }

  /** The newest firmware file for the device's OUI and product class whose version passes `accept`. */
  async newestFirmware(identity: Pick<DeviceIdentity, 'oui' | 'productClass'>, accept: (version: string) => boolean): Promise<FileRecord | null> {
    let best: FileRecord | null = null;
    let cursor: string | undefined;
    do {
      const page = await this.provisioning.listFiles({ fileType: FIRMWARE_FILE_TYPE, limit: 1000, cursor });
      for (const f of page.items) {
        if (f.version === null || !accept(f.version)) continue;
        if (f.productClass !== null && f.productClass.toLowerCase() !== identity.productClass.toLowerCase()) continue;
        if (f.oui !== null && f.oui.toUpperCase() !== identity.oui.toUpperCase()) continue;
        if (!best || compareVersions(f.version, best.version!) > 0 || (compareVersions(f.version, best.version!) === 0 && f.createdAt > best.createdAt)) best = f;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return best;
  }

  /** False when the same content is applied, refused, or still in flight. */
  private downloadWanted(ctx: SessionContext, kind: 'config-file' | 'firmware', file: FileRecord): boolean {
    const e = ctx.rawMemory.find((m) => m.kind === kind && m.name === file.id);
    if (!e || e.hash !== file.sha256) return true;
    const state = e.detail?.state;
    if (state === 'done' || state === 'refused') return false;
    return this.now() - Date.parse(e.at) > PENDING_DOWNLOAD_TTL_MS;
  }

  private async rememberDownload(deviceId: string, ctx: SessionContext, kind: 'config-file' | 'firmware', file: FileRecord, commandKey: string): Promise<void> {
    const entry: DeviceMemoryEntry = { deviceId, kind, name: file.id, hash: file.sha256, detail: { state: 'pending', commandKey, version: file.version }, at: iso(this.now()) };
    await this.provisioning.putDeviceMemory([entry]);
    ctx.rawMemory = [...ctx.rawMemory.filter((m) => !(m.kind === kind && m.name === file.id)), entry];
  }

  async taskFinished(view: SessionView, outcome: TaskOutcome & { planned?: boolean }): Promise<void> {
    const ctx = this.sessions.get(view.sessionId);
    if (!ctx || !ctx.inflight) return;
    const mine = outcome.planned ?? JSON.stringify(outcome.task.payload) === JSON.stringify(ctx.inflight.payload);
    if (!mine) return;
    const inflight = ctx.inflight;
    ctx.inflight = null;
    try {
      const task = outcome.task;
      const failed = task.status === 'failed';
      switch (inflight.kind) {
        case 'step': {
          const result: StepResult = failed
            ? {
                ok: false,
                faultCode: outcome.fault?.faultCode ?? task.faultCode,
                faultString: outcome.fault?.faultString ?? task.faultString ?? 'failed',
                parameterFaults: (outcome.fault?.setParameterValuesFaults ?? []).map((f) => ({ name: f.parameterName, faultCode: f.faultCode, faultString: f.faultString })),
              }
            : { ok: true, result: task.result };
          const effects = applyStepResult(inflight.step, result, ctx.plan);
          await this.persistEffects(view, ctx, effects);
          if (!failed && inflight.step.kind === 'set-values') {
            ctx.changed += inflight.step.values.length;
            await this.afterSet(view, ctx, inflight.step.values);
          }
          return;
        }
        case 'rollout': {
          if (failed) await this.rollouts.onDownloadAnswer(inflight.rolloutId, view.deviceId, false, `Download refused: ${task.faultString ?? 'failed'}`, task.faultCode);
          else {
            await this.rollouts.setTask(inflight.rolloutId, view.deviceId, task.id);
            const awaiting = (task.result as JsonObject | null)?.awaiting === 'TransferComplete';
            await this.rollouts.onDownloadAnswer(inflight.rolloutId, view.deviceId, true, awaiting ? 'accepted; waiting for TransferComplete' : 'completed', null);
          }
          return;
        }
        case 'firmware':
        case 'config': {
          if (!failed) return;
          const kind = inflight.kind === 'config' ? 'config-file' : 'firmware';
          const entry: DeviceMemoryEntry = {
            deviceId: view.deviceId,
            kind,
            name: inflight.file.id,
            hash: inflight.file.sha256,
            detail: { state: 'refused', faultCode: task.faultCode, faultString: task.faultString },
            at: iso(this.now()),
          };
          await this.provisioning.putDeviceMemory([entry]);
          return;
        }
      }
    } catch (err) {
      this.log.error({ err, deviceId: view.deviceId }, 'provisioning: could not record a task outcome');
    }
  }

  /** Credentials and bootstrap bookkeeping after a successful SetParameterValues. */
  private async afterSet(view: SessionView, ctx: SessionContext, values: readonly { name: string; desired: DesiredValue }[]): Promise<void> {
    let creds: Record<string, string> | null = null;
    for (const v of values) {
      const field = CREDENTIAL_FIELDS.get(v.name.slice(v.name.indexOf('.') + 1));
      if (field !== undefined) (creds ??= {})[field] = String(v.desired.value);
    }
    // The device now authenticates with these: the ACS must expect them from the next session on.
    if (creds !== null) await this.store.updateDevice(view.deviceId, { credentials: creds });
    const record = ctx.bootstrap;
    if (record && values.some((v) => v.desired.source.kind === 'bootstrap')) {
      const desired = ctx.desired!;
      const all = [...desired.values.values()].filter((d) => d.source.kind === 'bootstrap');
      const done = all.every((d) => ctx.memory.applied.has(d.name) || values.some((v) => v.name === d.name));
      if (done) {
        const at = iso(this.now());
        await this.provisioning.putDeviceMemory([{ deviceId: view.deviceId, kind: 'bootstrap', name: record.key, hash: String(record.revision), detail: null, at }]);
        await this.provisioning.markBootstrapApplied(record.key, view.deviceId, at);
        this.log.info({ deviceId: view.deviceId, key: record.key, moved: record.acsUrl !== null && record.acsUrl !== this.acsUrl }, 'zero-touch record applied');
      }
    }
  }

  private async persistEffects(view: SessionView, ctx: SessionContext, effects: StepEffects): Promise<void> {
    if (effects.memory.length > 0) {
      const at = iso(this.now());
      const entries: DeviceMemoryEntry[] = effects.memory.map((m) =>
        m.kind === 'applied'
          ? { deviceId: view.deviceId, kind: 'applied', name: m.name, hash: m.hash, detail: null, at }
          : {
              deviceId: view.deviceId,
              kind: 'refused',
              name: m.name,
              hash: m.hash,
              detail: { faultCode: m.faultCode, faultString: m.faultString, source: m.source.name, sourceKind: m.source.kind, revision: m.source.revision },
              at,
            },
      );
      await this.provisioning.putDeviceMemory(entries);
      for (const m of effects.memory) {
        if (m.kind === 'applied') ctx.memory.applied.set(m.name, m.hash);
        else {
          ctx.memory.refused.set(m.name, { hash: m.hash, faultCode: m.faultCode, faultString: m.faultString });
          this.emit('fault', { deviceId: view.deviceId, source: 'provisioning', code: m.faultCode === null ? 'refused' : String(m.faultCode), message: `${m.name}: ${m.faultString}`, preset: m.source.name });
        }
      }
    }
    for (const f of effects.faults) view.recordFault({ code: f.code, message: f.message, detail: f.detail });
  }

  async sessionEnded(view: SessionView, outcome: SessionOutcome): Promise<void> {
    const ctx = this.sessions.get(view.sessionId);
    this.sessions.delete(view.sessionId);
    if (!ctx) return;
    if (ctx.changed > 0 && outcome === 'completed' && this.wants('provisioning.applied')) {
      this.emit('provisioning.applied', {
        deviceId: view.deviceId,
        parameters: ctx.changed,
        presets: ctx.selections.filter((s) => s.applies).map((s) => s.preset.name),
      });
    }
  }

  private dropStaleSessions(): void {
    const now = this.now();
    if (now < this.nextStaleSweep) return;
    this.nextStaleSweep = now + STALE_SWEEP_INTERVAL_MS;
    const limit = now - SESSION_CONTEXT_TTL_MS;
    for (const [id, ctx] of this.sessions) if (ctx.createdAt < limit) this.sessions.delete(id);
  }

  /** Live session contexts (tests, dashboards). */
  get activeContexts(): number {
    return this.sessions.size;
  }

  // -------------------------------------------------------------------------------------------
  // Dry run
  // -------------------------------------------------------------------------------------------

  /**
   * What the presets would change on a device, from what the ACS knows (no RPC is sent).
   * @param options.events Inform events to assume (default: every trigger fires).
   * @param options.presets unsaved presets to evaluate instead of the stored ones.
   * @returns the report, or null when the device is unknown.
   */
  async dryRun(deviceId: string, options: { events?: string[] | null; presets?: Preset[] } = {}): Promise<DryRunReport | null> {
    const device = await this.store.getDevice(deviceId);
    if (!device) return null;
    const params = await this.store.getParameters(deviceId);
    const memoryEntries = await this.provisioning.getDeviceMemory(deviceId);
    const record = await this.provisioning.findBootstrap(deviceKeys(deviceId, device.serialNumber));
    const bootstrapPending = record !== null && !memoryEntries.some((e) => e.kind === 'bootstrap' && e.name === record.key && e.hash === String(record.revision));
    const byName = new Map(params.map((p) => [p.name, p.value]));
    const built = await this.buildDesired({
      deviceId,
      identity: device,
      device,
      events: options.events ?? null,
      lookup: async (names) => new Map(names.map((n) => [n, byName.get(n) ?? null])),
      rootHint: params.map((p) => p.name),
      memory: memoryEntries,
      presets: options.presets ?? (await this.provisioning.listPresets()),
      bootstrapRecord: record,
      bootstrap: bootstrapPending ? record : null,
    });
    const memory = memoryFrom(memoryEntries);
    const analysis = analyze(built.desired, knownStateFrom(params), memory, newPlanSession());
    const report = this.report(deviceId, device, built.desired, built.selections, analysis);
    report.bootstrap = record ? { key: record.key, revision: record.revision, pending: bootstrapPending } : null;
    report.quarantined = device.tags.includes(QUARANTINE_TAG);
    report.changes.downloads = await this.predictDownloads(device, built.desired, memoryEntries);
    return report;
  }

  private report(deviceId: string, device: Device, desired: ResolvedDesired, selections: PresetSelection[], a: Analysis): DryRunReport {
    const changes: DryRunReport['changes'] = {
      set: [],
      read: a.toRead,
      attributes: [],
      addObjects: [],
      deleteObjects: [],
      discover: a.tables.filter((t) => !t.enumerated).map((t) => t.path),
      downloads: [],
      tags: {
        add: [...desired.tagsAdd].filter((t) => !device.tags.includes(t)),
        remove: [...desired.tagsRemove].filter((t) => device.tags.includes(t)),
      },
    };
    const skipped: DryRunReport['skipped'] = [];
    let unchanged = 0;
    for (const v of a.values) {
      if (v.status === 'equal') unchanged++;
      else if (v.status === 'differs' || v.status === 'unknown') {
        if (v.status === 'differs') changes.set.push({ name: v.name, from: v.desired.secret ? null : v.current, to: v.desired.secret ? '[secret]' : String(v.desired.value), preset: v.desired.source.name, secret: v.desired.secret });
      } else {
        const r = v.status === 'refused' ? `refused before: ${a.values.length > 0 ? (v.current ?? '') : ''}` : 'the device has no such parameter';
        skipped.push({ name: v.name, reason: v.status === 'refused' ? r.replace(/: $/, '') : r });
      }
    }
    for (const at of a.attributes) {
      if (at.status === 'equal') unchanged++;
      else if (at.status === 'differs' || at.status === 'unknown') {
        changes.attributes.push({ name: at.name, from: at.current, to: { notification: at.desired.notification, accessList: at.desired.accessList }, preset: at.desired.source.name });
      } else skipped.push({ name: at.name, reason: at.status === 'refused' ? 'attribute refused before' : 'the device has no such parameter' });
    }
    for (const t of a.tables) {
      const n = t.assignments.filter((x) => x.instance === null).length;
      if (n > 0) changes.addObjects.push({ table: t.path, count: n });
      for (const i of t.toDelete) changes.deleteObjects.push(`${t.path}${i}.`);
      for (const s of t.skipped) skipped.push({ name: `${t.path}[${s.index}]`, reason: s.reason });
    }
    return {
      deviceId,
      presets: selections.map((s) => ({ id: s.preset.id, name: s.preset.name, weight: s.preset.weight, applies: s.applies, reasons: s.reasons })),
      bootstrap: null,
      quarantined: false,
      changes,
      unchanged,
      skipped,
      issues: desired.issues.map(issueText),
    };
  }

  private async predictDownloads(device: Device, desired: ResolvedDesired, memory: DeviceMemoryEntry[]): Promise<DryRunReport['changes']['downloads']> {
    const out: DryRunReport['changes']['downloads'] = [];
    const applied = (kind: string, f: FileRecord) => memory.some((m) => m.kind === kind && m.name === f.id && m.hash === f.sha256 && (m.detail?.state === 'done' || m.detail?.state === 'refused'));
    if (desired.configFile) {
      const f = await this.provisioning.getFile(desired.configFile.fileId);
      if (f && !applied('config-file', f)) out.push({ kind: 'config', fileId: f.id, fileName: f.name, version: f.version, reason: `preset ${desired.configFile.source.name}` });
    }
    const rollouts = await this.provisioning.rolloutsOfDevice(device.id);
    const active = rollouts.find((e) => e.device.state === 'pending' || e.device.state === 'downloading');
    if (active) {
      const f = await this.provisioning.getFile(active.rollout.fileId);
      if (f) out.push({ kind: 'firmware', fileId: f.id, fileName: f.name, version: f.version, reason: `rollout ${active.rollout.name} (${active.device.state}, stage ${active.device.stage + 1})` });
    } else if (desired.firmware && device.softwareVersion) {
      const c = compareVersions(device.softwareVersion, desired.firmware.version);
      if (c < 0 || (c > 0 && desired.firmware.allowDowngrade)) {
        const f = desired.firmware.fileId
          ? await this.provisioning.getFile(desired.firmware.fileId)
          : await this.newestFirmware(device, (v) => compareVersions(v, desired.firmware!.version) === 0);
        if (f && !applied('firmware', f)) out.push({ kind: 'firmware', fileId: f.id, fileName: f.name, version: f.version, reason: `preset ${desired.firmware.source.name}: runs ${device.softwareVersion}` });
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Operator helpers used by the API
  // -------------------------------------------------------------------------------------------

  /** Files referenced by presets or open rollouts (they must not be deleted). */
  async fileUsers(fileId: string): Promise<string[]> {
    const users: string[] = [];
    for (const p of await this.provisioning.listPresets()) {
      if (p.desired.firmware?.fileId === fileId || p.desired.configFile?.fileId === fileId) users.push(`preset ${p.name}`);
    }
    const open = await this.provisioning.listRollouts({ states: ['running', 'paused'], limit: 1000 });
    for (const r of open.items) if (r.fileId === fileId) users.push(`rollout ${r.name}`);
    return users;
  }

  /** Checks the file references of a preset. @returns problems (empty when fine). */
  async presetFileProblems(spec: PresetSpec): Promise<{ path: string; message: string }[]> {
    const problems: { path: string; message: string }[] = [];
    const fw = spec.desired.firmware?.fileId;
    if (fw) {
      const f = await this.provisioning.getFile(fw);
      if (!f) problems.push({ path: '/desired/firmware/fileId', message: `no file has the id "${fw}"` });
      else if (!f.fileType.startsWith('1')) problems.push({ path: '/desired/firmware/fileId', message: `file "${fw}" is a "${f.fileType}", not a "${FIRMWARE_FILE_TYPE}"` });
    }
    const cfg = spec.desired.configFile?.fileId;
    if (cfg) {
      const f = await this.provisioning.getFile(cfg);
      if (!f) problems.push({ path: '/desired/configFile/fileId', message: `no file has the id "${cfg}"` });
      else if (!f.fileType.startsWith('3')) problems.push({ path: '/desired/configFile/fileId', message: `file "${cfg}" is a "${f.fileType}", not a "${CONFIG_FILE_TYPE}"` });
    }
    return problems;
  }

  /** The unknown-device policy. */
  async unknownDevicePolicy(): Promise<UnknownDevicePolicy> {
    return (await this.provisioning.getSetting<UnknownDevicePolicy>(UNKNOWN_DEVICE_POLICY_SETTING)) ?? 'accept';
  }

  async setUnknownDevicePolicy(policy: UnknownDevicePolicy): Promise<void> {
    await this.provisioning.putSetting(UNKNOWN_DEVICE_POLICY_SETTING, policy);
  }

  /** A JSON view of a device's planner memory (secrets are hashes already). */
  async deviceMemory(deviceId: string): Promise<JsonValue> {
    const entries = await this.provisioning.getDeviceMemory(deviceId);
    return entries.map((e) => ({ kind: e.kind, name: e.name, detail: e.detail, at: e.at }));
  }
}

/** What `loadKnown` reads for a desired state: names, and table sub-trees read whole. */
interface KnownQuery {
  names: string[];
  subtrees: string[];
}

/** Per desired state (fixed for a session, which plans several steps from it). */
const knownQueries = new WeakMap<ResolvedDesired, KnownQuery>();

/** The names and sub-trees the planner needs known for `desired` (computed once per desired state). */
function knownQueryOf(desired: ResolvedDesired): KnownQuery {
  let q = knownQueries.get(desired);
  if (q === undefined) {
    // Sub-trees read once: a table inside another one read anyway adds nothing.
    const prefixes = desired.objects.map((o) => o.path).sort((a, b) => a.length - b.length);
    const subtrees = prefixes.filter((p, i) => !prefixes.slice(0, i).some((r) => p.startsWith(r)));
    const names = new Set<string>();
    for (const n of desired.values.keys()) if (!coveredBy(subtrees, n)) names.add(n);
    for (const n of desired.attributes.keys()) if (!coveredBy(subtrees, n)) names.add(n);
    // read-only from here on: the same array is handed to every read of the session
    q = { names: [...names], subtrees };
    knownQueries.set(desired, q);
  }
  return q;
}

/** True when `name` is under one of `subtrees`. */
function coveredBy(subtrees: readonly string[], name: string): boolean {
  for (const t of subtrees) if (name.startsWith(t)) return true;
  return false;
}

/** True for memory a `0 BOOTSTRAP` forgets. */
function lostAtBootstrap(e: DeviceMemoryEntry): boolean {
  return FORGOTTEN_AT_BOOTSTRAP.has(e.kind);
}

/** Values of `names` as the session knows them (`buildDesired`'s lookup, bound to a session view). */
async function lookupInSession(view: SessionView, names: string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (const p of await view.parameters({ names })) out.set(p.name, p.value);
  return out;
}

/** `DeviceFacts.parameter` when no precondition reads a parameter. */
function noParameter(): undefined {
  return undefined;
}

/** Parameter names each preset's precondition reads (presets come from the cache: the same objects every session). */
const filterNamesOfPreset = new WeakMap<Preset, string[]>();

function filterNamesOf(preset: Preset): string[] {
  let names = filterNamesOfPreset.get(preset);
  if (names === undefined) {
    names = filterParameterNames(preset.precondition);
    filterNamesOfPreset.set(preset, names);
  }
  return names;
}

/** ParameterKeys by their source text (the same few preset combinations for a whole fleet). */
const PARAMETER_KEY_MEMO_LIMIT = 1024;
const parameterKeys = new Map<string, string>();

/** The ParameterKey the planner's writes carry: `sb-` + 12 hex digits of SHA-256 of the sources (revisions included). */
function parameterKeyOf(keySource: string): string {
  let key = parameterKeys.get(keySource);
  if (key === undefined) {
    key = `sb-${createHash('sha256').update(keySource).digest('hex').slice(0, 12)}`;
    if (parameterKeys.size >= PARAMETER_KEY_MEMO_LIMIT) parameterKeys.clear();
    parameterKeys.set(keySource, key);
  }
  return key;
}

/** Whether a desired spec holds templates, per spec object (presets come from the cache: the same objects every session). */
const templatesIn = new WeakMap<PresetSpec['desired'], boolean>();

/** True when a value of `spec` (parameters, object instances) is a template. */
function hasTemplates(spec: PresetSpec['desired']): boolean {
  let found = templatesIn.get(spec);
  if (found === undefined) {
    const values: unknown[] = [...(spec.parameters ?? []).map((p) => p.value), ...(spec.objects ?? []).flatMap((o) => o.instances.flatMap((i) => Object.values(i.values)))];
    found = values.some((v) => typeof v === 'string' && isTemplate(v));
    templatesIn.set(spec, found);
  }
  return found;
}

function issueText(i: ResolvedDesired['issues'][number]): string {
  switch (i.kind) {
    case 'unresolved':
      return `${i.name}: no value for ${i.missing.join(', ')} (from ${i.source.name}); left unchanged`;
    case 'template-error':
      return `${i.name}: ${i.message} (from ${i.source.name})`;
    case 'overridden':
      return `${i.name}: ${i.winner.name} overrides ${i.loser.name}`;
  }
}

