/**
 * The CWMP session engine of the ACS: (session state, decoded HTTP POST) -> (HTTP reply, new state,
 * notices). No sockets: the HTTP listener (src/acs/http/) only maps requests to sessions, and tests
 * drive the engine with XML strings.
 *
 * Flow (TR-069 §3.7): Inform -> InformResponse; then the CPE's own requests (TransferComplete,
 * AutonomousTransferComplete, GetRPCMethods, RequestDownload, Kicked, DUStateChangeComplete,
 * AutonomousDUStateChangeComplete), each answered; the CPE's empty POST; then the queued tasks, one
 * RPC per HTTP response, each CPE response updating task and inventory; 204 at the end, and one
 * store transaction with everything the session learned.
 *
 * Rules the engine enforces, and the fault it answers when a CPE breaks them:
 * - 8000 Method not supported: an unknown method, a method of another CWMP version, or a CPE-side
 *   method (e.g. Reboot) or ACS response sent as a request.
 * - 8001 Request denied: a CPE request in the POST right after a message with HoldRequests=true.
 * - 8002 Internal error: the store failed while starting the session (the CPE retries the session).
 * - 8003 Invalid arguments: unparsable XML, a message the schema forbids, a first message that is
 *   not an Inform, an Inform without OUI/SerialNumber, a response when no request is outstanding.
 * - 8004 Resources exceeded: body too large, too deeply nested, too many items.
 * - 8005 Retry request: the store failed while recording a CPE request (e.g. TransferComplete):
 *   the CPE must send it again later, nothing is lost.
 * - 8006 ACS version incompatible: a 1.4 CPE whose SupportedCWMPVersions shares no version with us.
 *
 * Decisions:
 * - An Inform always starts a new session (field-robustness.md: stale cookies, CPEs that restart
 *   their session after their own timeout): a second Inform on a live session closes the old one as
 *   `aborted` (its in-flight task counts a failed attempt) instead of being refused.
 * - One session per device: the store's session lock. A second concurrent Inform for a device whose
 *   lock is held answers HTTP 503 with Retry-After (TR-069 has no "busy" fault for an Inform; a 503
 *   is a failed session for the CPE, which retries with its back-off; the holder is either live or
 *   expires within the lock TTL).
 * - HoldRequests=true is sent only in an InformResponse, when a task flagged `connectionRequest`
 *   (an operator is waiting) is due and the Inform carries no event that obliges the CPE to send a
 *   request in this session (7, 9, 10, 11, 12, M Download...). The CPE then goes straight to its
 *   empty POST; its own optional requests wait for the next session.
 * - A CPE request that arrives while an ACS request is outstanding is answered; the outstanding
 *   request stays outstanding (each direction has its own request/response pair).
 * - `0 BOOTSTRAP` means factory state: the stored parameter tree is dropped and rebuilt.
 *
 * Provisioning plugs in through `EngineOptions.hooks` (the contract is src/provisioning/hooks.ts):
 * the engine asks `informReceived` before answering the Inform (a refusal answers HTTP 403 and
 * stores nothing), tells `cpeRequest` about CPE requests, asks `nextTask` whenever its queue is
 * empty (the planned task is stored as a task of the device, default maxAttempts 1, and run like
 * any other; at most `maxPlannedTasks` per session), tells `taskFinished` about every answer, and
 * `sessionEnded` after the final commit. A hook that throws is logged and treated as absent.
 */
import { randomUUID } from 'node:crypto';
import { buildEnvelope, parseEnvelope, type ParsedEnvelope } from '../../cwmp/codec.ts';
import { decodeHttpBody } from '../../cwmp/encoding.ts';
import { CodecError, isCodecError } from '../../cwmp/errors.ts';
import { makeFault } from '../../cwmp/faults.ts';
import { EventCode } from '../../cwmp/events.ts';
import { methodsInVersion } from '../../cwmp/messages.ts';
import type {
  AcsRequest,
  AcsResponse,
  CpeRequest,
  CpeResponse,
  CwmpHeader,
  CwmpMessage,
  CwmpVersion,
  DUStateChangeComplete,
  Inform,
  SoapFault,
  TransferComplete,
} from '../../cwmp/types.ts';
import {
  makeDeviceId,
  type DeviceWrite,
  type JsonObject,
  type NewFaultRecord,
  type ParameterDelete,
  type ParameterWrite,
  type SessionOutcome,
  type Store,
  type StoredParameter,
  type Task,
  type TaskUpdate,
} from '../../store/types.ts';
import { continueTask, expectedResponse, startTask, type HandlerContext } from '../tasks/handlers.ts';
import { overlayParameters, type SessionHooks, type SessionView, type TaskOutcome } from '../../provisioning/hooks.ts';
import { DEFAULT_RETRY_POLICY, isTransientCpeFault, retryDelayMs, type RetryPolicy } from '../tasks/retry.ts';
import { validateTaskPayload, type TaskPayload } from '../tasks/schema.ts';
import type { CommitBuffer, Decoded, EngineNotice, EngineReply, EngineRequest, SessionState } from './state.ts';

/** Minimal logger shape (pino's). */
export interface EngineLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silentLogger: EngineLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface EngineOptions {
  store: Store;
  /** ms clock (tests fake it). */
  clock?: () => number;
  logger?: EngineLogger;
  retry?: RetryPolicy;
  /** How long an accepted Download/Upload/ChangeDUState may wait for its completion report. Default 24 h. */
  completionTimeoutMs?: number;
  /** Session lock TTL; refreshed while the session is active. Default 120 s. */
  lockTtlMs?: number;
  /** Seconds in the Retry-After of a 503 for a device already in session. Default 10. */
  busyRetryAfterSeconds?: number;
  /** CWMP versions the ACS speaks (for SupportedCWMPVersions negotiation). Default 1.0-1.4. */
  versions?: readonly CwmpVersion[];
  /** Largest accepted body (bytes, after decompression). Default 4 MiB. */
  maxBodyBytes?: number;
  /** Provisioning (see the module comment). */
  hooks?: SessionHooks;
  /** Bound on the tasks `hooks.nextTask` may plan in one session. Default 100. */
  maxPlannedTasks?: number;
}

const ALL_VERSIONS: readonly CwmpVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];
const DEFAULT_COMPLETION_TIMEOUT_MS = 24 * 3600 * 1000;
const DEFAULT_LOCK_TTL_MS = 120_000;
const DEFAULT_BUSY_RETRY_AFTER_S = 10;
const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

/** Methods a CPE may call on the ACS. */
const ACS_METHODS = new Set([
  'Inform',
  'GetRPCMethods',
  'TransferComplete',
  'AutonomousTransferComplete',
  'RequestDownload',
  'Kicked',
  'DUStateChangeComplete',
  'AutonomousDUStateChangeComplete',
]);

/** Events that oblige the CPE to call an ACS method in the same session (so requests must not be held). */
const EVENTS_WITH_CPE_REQUEST = new Set<string>([
  EventCode.TRANSFER_COMPLETE,
  EventCode.REQUEST_DOWNLOAD,
  EventCode.AUTONOMOUS_TRANSFER_COMPLETE,
  EventCode.DU_STATE_CHANGE_COMPLETE,
  EventCode.AUTONOMOUS_DU_STATE_CHANGE_COMPLETE,
  EventCode.M_DOWNLOAD,
  EventCode.M_UPLOAD,
  EventCode.M_SCHEDULE_DOWNLOAD,
  EventCode.M_CHANGE_DU_STATE,
]);

const XML_HEADERS = { 'content-type': 'text/xml; charset="utf-8"' } as const;

/** Where an Inform's parameters land on the device record (path below the root object). */
const INFORM_DEVICE_FIELDS = new Map<string, 'softwareVersion' | 'hardwareVersion' | 'connectionRequestUrl' | 'udpConnectionRequestAddress'>([
  ['DeviceInfo.SoftwareVersion', 'softwareVersion'],
  ['DeviceInfo.HardwareVersion', 'hardwareVersion'],
  ['ManagementServer.ConnectionRequestURL', 'connectionRequestUrl'],
  ['ManagementServer.UDPConnectionRequestAddress', 'udpConnectionRequestAddress'],
]);
const DATA_MODEL_ROOTS = ['InternetGatewayDevice.', 'Device.'] as const;

/** The device record field an Inform parameter fills, if any (one Map lookup, no regex per parameter). */
function informDeviceField(name: string) {
  for (const root of DATA_MODEL_ROOTS) if (name.startsWith(root)) return INFORM_DEVICE_FIELDS.get(name.slice(root.length));
  return undefined;
}

/**
 * A task handler's view of its session's device: the stored parameters, with the writes buffered in
 * this session on top (they are newer). A class rather than an object of closures: handlers get it
 * at every step of every task, and each closure costs its creation (and, under tsx, its naming).
 */
class SessionHandlerContext implements HandlerContext {
  readonly deviceId: string;
  readonly version: CwmpVersion;

  constructor(
    private readonly store: Store,
    private readonly session: SessionState,
  ) {
    this.deviceId = session.deviceId;
    this.version = session.version;
  }

  async storedParameters(names: string[]): Promise<Map<string, StoredParameter>> {
    const stored = await this.store.getParameters(this.deviceId, { names });
    const map = new Map(stored.map((p) => [p.name, p]));
    for (const n of names) {
      const p = this.pending(n);
      if (p) map.set(n, { ...map.get(n), ...p });
    }
    return map;
  }

  storedSubtree(prefix: string): Promise<StoredParameter[]> {
    return this.store.getParameters(this.deviceId, { prefix });
  }

  /** The latest typed write of `name` buffered in this session, as a stored parameter. */
  private pending(name: string): StoredParameter | undefined {
    const writes = this.session.buffer.parameters;
    for (let i = writes.length - 1; i >= 0; i--) {
      const w = writes[i];
      if (w.name === name && w.type !== undefined) {
        return { name, value: w.value ?? null, type: w.type ?? null, writable: null, notification: null, accessList: null, object: false, updatedAt: '' };
      }
    }
    return undefined;
  }
}

/** The last timestamp formatted, and its text: a session formats the same millisecond many times. */
const lastIso = { ms: Number.NaN, text: '' };

/** `ms` as an ISO 8601 timestamp (UTC, milliseconds). */
function iso(ms: number): string {
  if (ms !== lastIso.ms) {
    lastIso.text = new Date(ms).toISOString();
    lastIso.ms = ms;
  }
  return lastIso.text;
}

function emptyBuffer(): CommitBuffer {
  return { parameters: [], deletes: [], taskUpdates: new Map(), faults: [], taskNotices: new Map() };
}

/** A failure of a task attempt, before the retry decision. */
interface AttemptFailure {
  faultCode: number | null;
  faultString: string;
  /** Retrying later may succeed. */
  transient: boolean;
  detail?: JsonObject;
}

/** Returns the Inform of a decoded POST, if it is one (the HTTP layer authenticates it first). */
export function informOf(decoded: Decoded): Inform | null {
  return decoded.kind === 'message' && decoded.envelope.body?.method === 'Inform' ? decoded.envelope.body : null;
}

/** The device id an Inform designates (`OUI-ProductClass-SerialNumber`). */
export function informDeviceId(inform: Inform): string {
  return makeDeviceId(inform.deviceId);
}

/**
 * Picks the version for a session: the highest version both sides support when the CPE announced
 * SupportedCWMPVersions (1.4), else the version of the Inform's namespace/headers.
 * Returns null when the CPE announced versions and none is ours (fault 8006).
 */
export function negotiateVersion(envelope: ParsedEnvelope, ours: readonly CwmpVersion[]): { version: CwmpVersion; useHeader: boolean } | null {
  const announced = envelope.header.supportedCwmpVersions;
  if (announced === undefined) {
    return { version: ours.includes(envelope.version) ? envelope.version : ours[ours.length - 1], useHeader: false };
  }
  const theirs = new Set(announced.split(',').map((v) => v.trim()));
  const common = ours.filter((v) => theirs.has(v));
  if (common.length === 0) return null;
  return { version: common[common.length - 1], useHeader: true };
}

/** See the module comment. */
export class SessionEngine {
  private readonly store: Store;
  private readonly clock: () => number;
  private readonly log: EngineLogger;
  private readonly retry: RetryPolicy;
  private readonly completionTimeoutMs: number;
  private readonly lockTtlMs: number;
  private readonly busyRetryAfter: number;
  private readonly versions: readonly CwmpVersion[];
  private readonly maxBodyBytes: number;
  private readonly hooks: SessionHooks;
  private readonly maxPlanned: number;
  private readonly views = new WeakMap<SessionState, SessionView>();
  private readonly contexts = new WeakMap<SessionState, SessionHandlerContext>();

  constructor(options: EngineOptions) {
    this.store = options.store;
    this.clock = options.clock ?? Date.now;
    this.log = options.logger ?? silentLogger;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.completionTimeoutMs = options.completionTimeoutMs ?? DEFAULT_COMPLETION_TIMEOUT_MS;
    this.lockTtlMs = options.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
    this.busyRetryAfter = options.busyRetryAfterSeconds ?? DEFAULT_BUSY_RETRY_AFTER_S;
    this.versions = options.versions ?? ALL_VERSIONS;
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.hooks = options.hooks ?? {};
    this.maxPlanned = options.maxPlannedTasks ?? 100;
  }

  // ------------------------------------------------------------------------------------------
  // Entry points
  // ------------------------------------------------------------------------------------------

  /** Decodes a POST body (gzip, charsets, SOAP). Never throws: bad input becomes `invalid`. */
  decode(req: Pick<EngineRequest, 'body' | 'contentType' | 'contentEncoding'>): Decoded {
    try {
      const text =
        typeof req.body === 'string'
          ? req.body
          : decodeHttpBody(req.body, { contentEncoding: req.contentEncoding, contentType: req.contentType }, { maxBytes: this.maxBodyBytes });
      const envelope = parseEnvelope(text, { maxBytes: this.maxBodyBytes });
      if (envelope.body === null) return { kind: 'empty' };
      return { kind: 'message', envelope };
    } catch (err) {
      if (isCodecError(err)) return { kind: 'invalid', error: err };
      return { kind: 'invalid', error: new CodecError('MALFORMED_XML', err instanceof Error ? err.message : String(err)) };
    }
  }

  /** decode + handle, for callers without authentication (tests, trusted setups). */
  async exchange(session: SessionState | null, req: EngineRequest): Promise<EngineReply> {
    return this.handle(session, this.decode(req), { remoteAddress: req.remoteAddress });
  }

  /**
   * Handles one decoded POST. `session` is the session this POST belongs to (by cookie or TCP
   * connection), or null. For an Inform, `session` (if any) is closed as superseded first.
   * Returns the HTTP reply and the session to keep (null = drop it). Never throws: store failures
   * become 8002/8005 faults or logged errors.
   */
  async handle(session: SessionState | null, decoded: Decoded, meta: { remoteAddress: string | null }): Promise<EngineReply> {
    const notices: EngineNotice[] = [];
    try {
      const live = session && session.phase !== 'ended' ? session : null;
      if (decoded.kind === 'invalid') return this.invalidReply(live, decoded.error, notices);
      if (decoded.kind === 'message' && decoded.envelope.body?.method === 'Inform') {
        if (live) notices.push(...(await this.end(live, 'aborted', 'superseded by a new Inform')));
        return await this.startSession(decoded.envelope, meta.remoteAddress, notices);
      }
      if (!live) {
        if (decoded.kind === 'empty') {
          this.log.warn({ remoteAddress: meta.remoteAddress }, 'empty POST outside a session (lost cookie or connection?): answered 204');
          return { status: 204, headers: {}, body: '', session: null, notices };
        }
        const env = decoded.envelope;
        return this.faultReply(null, env.version, env.header.id, 8003, 'no session: the first message of a session must be an Inform', notices);
      }
      live.lastActivityAt = this.clock();
      await this.refreshLock(live);
      const held = live.holdNext;
      live.holdNext = false;
      if (decoded.kind === 'empty') return await this.onEmptyPost(live, notices);
      return await this.onMessage(live, decoded.envelope, held, notices);
    } catch (err) {
      // A bug or an unexpected store error: answer 8002 and keep the session so the CPE can go on.
      this.log.error({ err, sessionId: session?.id }, 'session engine error');
      const live = session && session.phase !== 'ended' ? session : null;
      const version = live?.version ?? (decoded.kind === 'message' ? decoded.envelope.version : '1.0');
      return this.faultReply(live, version, undefined, 8002, 'internal error', notices);
    }
  }

  /**
   * Ends a session that did not finish normally (idle timeout, connection closed, shutdown,
   * superseded): fails its in-flight task attempt, commits what it learned, releases the lock.
   * Returns the notices to publish. Never throws.
   */
  async end(session: SessionState, outcome: Exclude<SessionOutcome, 'completed' | 'rejected'>, detail: string): Promise<EngineNotice[]> {
    if (session.phase === 'ended') return [];
    const notices: EngineNotice[] = [];
    if (session.inflight) {
      const code = outcome === 'timeout' ? 'session_timeout' : 'session_aborted';
      this.failAttempt(session, session.inflight.task, { faultCode: null, faultString: `no response to ${session.inflight.request.method}: ${detail}`, transient: true });
      this.addFault(session, { taskId: session.inflight.task.id, source: 'session', code, message: detail, detail: { method: session.inflight.request.method } });
      session.inflight = null;
    }
    await this.finish(session, outcome, detail, notices);
    return notices;
  }

  /**
   * Adds a task created while the device is in session, so that it runs in this session.
   * Returns false when the session can no longer take it (ended).
   */
  enqueue(session: SessionState, task: Task): boolean {
    if (session.phase === 'ended' || session.seenTasks.has(task.id)) return false;
    session.seenTasks.add(task.id);
    session.queue.push(task);
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Session start
  // ------------------------------------------------------------------------------------------

  private async startSession(env: ParsedEnvelope, remoteAddress: string | null, notices: EngineNotice[]): Promise<EngineReply> {
    const inform = env.body as Inform;
    const id = inform.deviceId;
    if (!id.oui || !id.serialNumber) {
      return this.faultReply(null, env.version, env.header.id, 8003, 'Inform DeviceId needs OUI and SerialNumber', notices);
    }
    const negotiated = negotiateVersion(env, this.versions);
    if (!negotiated) {
      this.log.warn({ supported: env.header.supportedCwmpVersions }, 'CPE supports no CWMP version of ours');
      return this.faultReply(null, env.version, env.header.id, 8006, `ACS supports CWMP ${this.versions.join(',')}`, notices);
    }
    const deviceId = informDeviceId(inform);
    // 32 hex digits (cookie format); randomUUID draws from a cached entropy pool, randomBytes(16)
    // costs a call into OpenSSL per session
    const sessionId = randomUUID().replaceAll('-', '');
    const now = this.clock();
    let tasks: Task[];
    try {
      const lock = await this.store.acquireSessionLock(deviceId, sessionId, this.lockTtlMs);
      if (!lock.acquired) {
        this.log.info({ deviceId, holder: lock.holder }, 'device already in session: 503');
        return { status: 503, headers: { 'retry-after': String(this.busyRetryAfter) }, body: '', session: null, notices };
      }
      try {
        tasks = await this.store.tasksToRun(deviceId);
      } catch (err) {
        await this.store.releaseSessionLock(deviceId, sessionId).catch(() => false);
        throw err;
      }
    } catch (err) {
      this.log.error({ err, deviceId }, 'store failure at session start');
      return this.faultReply(null, env.version, env.header.id, 8002, 'internal error: storage unavailable', notices);
    }

    const eventCodes = new Set(inform.event.map((e) => e.eventCode));
    const at = iso(now);
    const deviceWrite: DeviceWrite = {
      id: deviceId,
      manufacturer: id.manufacturer,
      oui: id.oui,
      productClass: id.productClass,
      serialNumber: id.serialNumber,
      lastContact: at,
      sourceAddress: remoteAddress,
      cwmpVersion: negotiated.version,
    };
    if (eventCodes.has(EventCode.BOOT)) deviceWrite.lastBoot = at;
    if (eventCodes.has(EventCode.BOOTSTRAP)) deviceWrite.lastBootstrap = at;
    for (const p of inform.parameterList) {
      const field = informDeviceField(p.name);
      if (field) deviceWrite[field] = p.value;
    }

    const session: SessionState = {
      id: sessionId,
      deviceId,
      identity: { manufacturer: id.manufacturer, oui: id.oui, productClass: id.productClass, serialNumber: id.serialNumber },
      version: negotiated.version,
      remoteAddress,
      startedAt: now,
      events: inform.event,
      lastActivityAt: now,
      lockRefreshedAt: now,
      phase: 'cpe-requests',
      holdNext: false,
      queue: [],
      awaiting: new Map(),
      inflight: null,
      buffer: emptyBuffer(),
      deviceWrite,
      rpcCount: 0,
      seq: 0,
      seenTasks: new Set(),
      informParameters: inform.parameterList,
      planned: new Set(),
      planningStopped: false,
      deviceStored: tasks.length > 0,
    };
    // A factory-fresh device: what we knew about its parameters no longer holds.
    if (eventCodes.has(EventCode.BOOTSTRAP)) this.bufferDelete(session, { prefix: '' });
    this.bufferWrites(
      session,
      inform.parameterList.map((p) => ({ name: p.name, value: p.value, type: p.rawType ?? (p.untyped ? null : p.type) })),
    );
    for (const t of tasks) {
      session.seenTasks.add(t.id);
      if (t.status === 'running' && awaitedCompletion(t) !== null) session.awaiting.set(t.id, t);
      else session.queue.push(t);
    }
    this.expireAwaiting(session);

    const decision = await this.callHook('informReceived', () => this.hooks.informReceived?.(this.viewOf(session)));
    if (decision && decision.action === 'refuse') {
      this.log.info({ deviceId, reason: decision.reason }, 'provisioning refused the device: 403');
      await this.store.releaseSessionLock(deviceId, sessionId).catch(() => false);
      session.phase = 'ended';
      return { status: 403, headers: {}, body: '', session: null, notices };
    }
    // provisioning registered the device (or saw its row): a planned task needs no checkpoint first
    if (decision?.action === 'accept' && decision.deviceStored === true) session.deviceStored = true;

    const holdRequests =
      [...eventCodes].every((c) => !EVENTS_WITH_CPE_REQUEST.has(c)) &&
      session.queue.some((t) => t.connectionRequest && t.status === 'pending' && (t.nextAttemptAt === null || Date.parse(t.nextAttemptAt) <= now));
    const header: CwmpHeader = {};
    if (env.header.id !== undefined) header.id = env.header.id;
    if (holdRequests) header.holdRequests = true;
    // UseCWMPVersion exists only in the 1.4 schema: the InformResponse that carries it is built as 1.4
    // (same namespace as 1.2/1.3); later messages use the negotiated version.
    if (negotiated.useHeader) header.useCwmpVersion = negotiated.version;
    const body = buildEnvelope({ header, body: { method: 'InformResponse', maxEnvelopes: 1 } }, { version: negotiated.useHeader ? '1.4' : negotiated.version });
    session.holdNext = holdRequests;
    notices.push({ type: 'session-started', sessionId, deviceId, remoteAddress, events: inform.event });
    this.log.debug({ deviceId, sessionId, events: inform.event.map((e) => e.eventCode), version: negotiated.version }, 'session started');
    return { status: 200, headers: { ...XML_HEADERS }, body, session, notices };
  }

  // ------------------------------------------------------------------------------------------
  // In-session messages
  // ------------------------------------------------------------------------------------------

  private async onEmptyPost(session: SessionState, notices: EngineNotice[]): Promise<EngineReply> {
    if (session.inflight) {
      const { task, request } = session.inflight;
      session.inflight = null;
      const after = this.failAttempt(session, task, { faultCode: null, faultString: `CPE sent an empty POST instead of the ${expectedResponse(request)}`, transient: true });
      await this.taskAnswered(session, after);
    }
    session.phase = 'acs-requests';
    return this.nextRpc(session, notices);
  }

  private async onMessage(session: SessionState, env: ParsedEnvelope, held: boolean, notices: EngineNotice[]): Promise<EngineReply> {
    const msg = env.body as CwmpMessage;
    const method = msg.method;
    if (method === 'Fault' || (method.endsWith('Response') && !ACS_METHODS.has(method))) {
      if (!session.inflight) {
        return this.faultReply(session, session.version, env.header.id, 8003, `unexpected ${method}: no ACS request is outstanding`, notices);
      }
      return this.onResponse(session, env, notices);
    }
    if (!ACS_METHODS.has(method)) {
      return this.faultReply(session, session.version, env.header.id, 8000, `${method} is not a method of the ACS`, notices);
    }
    if (held) {
      return this.faultReply(session, session.version, env.header.id, 8001, 'HoldRequests was true: send this request later', notices);
    }
    return this.onCpeRequest(session, env, notices);
  }

  private async onCpeRequest(session: SessionState, env: ParsedEnvelope, notices: EngineNotice[]): Promise<EngineReply> {
    const msg = env.body as CwmpMessage;
    const v = session.version;
    let response: AcsResponse;
    let completed: Task | null = null;
    switch (msg.method) {
      case 'GetRPCMethods':
        response = { method: 'GetRPCMethodsResponse', methodList: methodsInVersion(v).filter((m) => ACS_METHODS.has(m)) };
        break;
      case 'TransferComplete':
        completed = this.onTransferComplete(session, msg);
        response = { method: 'TransferCompleteResponse' };
        break;
      case 'AutonomousTransferComplete':
        notices.push({
          type: 'cpe-request',
          deviceId: session.deviceId,
          method: msg.method,
          detail: { transferURL: msg.transferURL, isDownload: msg.isDownload, fileType: msg.fileType, faultCode: msg.faultStruct.faultCode, faultString: msg.faultStruct.faultString },
        });
        if (msg.faultStruct.faultCode !== 0) {
          this.addFault(session, { taskId: null, source: 'cpe', code: String(msg.faultStruct.faultCode), message: msg.faultStruct.faultString, detail: { method: msg.method, transferURL: msg.transferURL } });
        }
        response = { method: 'AutonomousTransferCompleteResponse' };
        break;
      case 'RequestDownload':
        notices.push({ type: 'cpe-request', deviceId: session.deviceId, method: msg.method, detail: { fileType: msg.fileType, args: msg.fileTypeArg.map((a) => ({ name: a.name, value: a.value })) } });
        response = { method: 'RequestDownloadResponse' };
        break;
      case 'Kicked':
        notices.push({ type: 'cpe-request', deviceId: session.deviceId, method: msg.method, detail: { command: msg.command, referer: msg.referer, arg: msg.arg, next: msg.next } });
        // No web portal flow of our own: send the browser where the CPE wanted it to go next.
        response = { method: 'KickedResponse', nextURL: msg.next };
        break;
      case 'DUStateChangeComplete':
        completed = this.onDuStateChangeComplete(session, msg);
        response = { method: 'DUStateChangeCompleteResponse' };
        break;
      case 'AutonomousDUStateChangeComplete':
        notices.push({
          type: 'cpe-request',
          deviceId: session.deviceId,
          method: msg.method,
          detail: { results: msg.results.map((r) => ({ uuid: r.uuid, operation: r.operationPerformed, state: r.currentState, faultCode: r.fault.faultCode })) },
        });
        response = { method: 'AutonomousDUStateChangeCompleteResponse' };
        break;
      default:
        return this.faultReply(session, v, env.header.id, 8000, `${msg.method} is not a method of the ACS`, notices);
    }
    if (msg.method !== 'GetRPCMethods') {
      await this.callHook('cpeRequest', () => this.hooks.cpeRequest?.(this.viewOf(session), msg as AcsRequest, completed));
    }
    // CPE requests are acknowledged only once recorded: if the store fails, 8005 makes the CPE resend.
    if (msg.method !== 'GetRPCMethods') {
      try {
        await this.checkpoint(session, notices);
      } catch (err) {
        this.log.error({ err, deviceId: session.deviceId, method: msg.method }, 'could not record a CPE request: 8005');
        return this.faultReply(session, v, env.header.id, 8005, 'could not record the request now; send it again', notices);
      }
    }
    return this.messageReply(session, response, env.header.id, notices);
  }

  private onTransferComplete(session: SessionState, msg: TransferComplete): Task | null {
    const task = [...session.awaiting.values()].find((t) => awaitedCompletion(t) === 'TransferComplete' && awaitedCommandKey(t) === msg.commandKey);
    const ok = msg.faultStruct.faultCode === 0;
    if (!ok) {
      this.addFault(session, { taskId: task?.id ?? null, source: 'cpe', code: String(msg.faultStruct.faultCode), message: msg.faultStruct.faultString, detail: { method: 'TransferComplete', commandKey: msg.commandKey } });
    }
    if (!task) {
      this.log.info({ deviceId: session.deviceId, commandKey: msg.commandKey }, 'TransferComplete for no waiting task');
      return null;
    }
    session.awaiting.delete(task.id);
    const transfer = { faultCode: msg.faultStruct.faultCode, faultString: msg.faultStruct.faultString, startTime: msg.startTime, completeTime: msg.completeTime };
    const result = { ...withoutAwaiting(task.result), transfer };
    if (ok) return this.finishTask(session, task, { status: 'done', result });
    return this.finishTask(session, task, { status: 'failed', result, faultCode: msg.faultStruct.faultCode, faultString: msg.faultStruct.faultString });
  }

  private onDuStateChangeComplete(session: SessionState, msg: DUStateChangeComplete): Task | null {
    const task = [...session.awaiting.values()].find((t) => awaitedCompletion(t) === 'DUStateChangeComplete' && awaitedCommandKey(t) === msg.commandKey);
    const failedOp = msg.results.find((r) => r.fault.faultCode !== 0);
    if (failedOp) {
      this.addFault(session, { taskId: task?.id ?? null, source: 'cpe', code: String(failedOp.fault.faultCode), message: failedOp.fault.faultString, detail: { method: 'DUStateChangeComplete', uuid: failedOp.uuid } });
    }
    if (!task) return null;
    session.awaiting.delete(task.id);
    const results = msg.results.map((r) => ({ uuid: r.uuid, deploymentUnitRef: r.deploymentUnitRef, version: r.version, currentState: r.currentState, resolved: r.resolved, faultCode: r.fault.faultCode, faultString: r.fault.faultString }));
    const result = { ...withoutAwaiting(task.result), results };
    if (!failedOp) return this.finishTask(session, task, { status: 'done', result });
    return this.finishTask(session, task, { status: 'failed', result, faultCode: failedOp.fault.faultCode, faultString: failedOp.fault.faultString });
  }

  private async onResponse(session: SessionState, env: ParsedEnvelope, notices: EngineNotice[]): Promise<EngineReply> {
    const inflight = session.inflight!;
    const { task, request } = inflight;
    session.inflight = null;
    const msg = env.body as CpeResponse | SoapFault;
    if (env.header.id !== undefined && env.header.id !== inflight.id) {
      const after = this.failAttempt(session, task, { faultCode: null, faultString: `response ID ${env.header.id} does not match request ID ${inflight.id}`, transient: true });
      await this.taskAnswered(session, after);
      return this.nextRpc(session, notices);
    }
    if (msg.method === 'Fault') {
      const spv = msg.setParameterValuesFaults.map((f) => ({ name: f.parameterName, faultCode: f.faultCode, faultString: f.faultString }));
      const detail: JsonObject = { method: request.method };
      if (spv.length) detail.setParameterValuesFaults = spv;
      this.addFault(session, { taskId: task.id, source: 'cpe', code: String(msg.faultCode), message: msg.faultString, detail });
      const after = this.failAttempt(session, task, { faultCode: msg.faultCode, faultString: msg.faultString, transient: isTransientCpeFault(msg.faultCode), detail });
      await this.taskAnswered(session, after, {
        faultCode: msg.faultCode,
        faultString: msg.faultString,
        setParameterValuesFaults: msg.setParameterValuesFaults.map((f) => ({ parameterName: f.parameterName, faultCode: f.faultCode, faultString: f.faultString })),
      });
      return this.nextRpc(session, notices);
    }
    if (msg.method !== expectedResponse(request)) {
      const after = this.failAttempt(session, task, { faultCode: null, faultString: `expected ${expectedResponse(request)}, got ${msg.method}`, transient: true });
      await this.taskAnswered(session, after);
      return this.nextRpc(session, notices);
    }
    let payload: TaskPayload;
    try {
      payload = validateTaskPayload(task.payload);
      const outcome = await continueTask(payload, msg, inflight.step, task, this.handlerContext(session));
      if (outcome.kind === 'continue') {
        if (outcome.writes) this.bufferWrites(session, outcome.writes);
        return (await this.sendRpc(session, task, outcome.request, outcome.step, true, notices)) ?? (await this.nextRpc(session, notices));
      }
      if (outcome.kind === 'done') {
        if (outcome.deletes) for (const d of outcome.deletes) this.bufferDelete(session, d);
        if (outcome.writes) this.bufferWrites(session, outcome.writes);
        const after = this.finishTask(session, task, { status: 'done', result: outcome.result });
        if (outcome.checkpoint) await this.checkpointQuietly(session, notices);
        await this.taskAnswered(session, after);
        return this.nextRpc(session, notices);
      }
      // await: accepted, completion reported later
      const result: JsonObject = { ...outcome.result, awaiting: outcome.awaiting, commandKey: outcome.commandKey };
      const updated = this.updateTask(session, task, { result });
      session.awaiting.set(task.id, updated);
      await this.checkpointQuietly(session, notices);
      await this.taskAnswered(session, updated);
      return this.nextRpc(session, notices);
    } catch (err) {
      this.log.warn({ err, taskId: task.id }, 'could not interpret a CPE response');
      const after = this.failAttempt(session, task, { faultCode: null, faultString: `could not interpret ${msg.method}: ${err instanceof Error ? err.message : String(err)}`, transient: false });
      await this.taskAnswered(session, after);
      return this.nextRpc(session, notices);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Task queue
  // ------------------------------------------------------------------------------------------

  /** Sends the next runnable task's RPC, or ends the session with 204. */
  private async nextRpc(session: SessionState, notices: EngineNotice[]): Promise<EngineReply> {
    const now = this.clock();
    for (;;) {
      if (session.queue.length === 0) {
        const planned = await this.planNext(session, notices);
        if (!planned) break;
        // stored running for this RPC (see planNext): neither read back nor marked running again
        const reply = await this.startAndSend(session, planned.task, planned.payload, notices, true);
        if (reply) return reply;
        continue;
      }
      const queued = session.queue.shift()!;
      // The operator may have cancelled it since the session started.
      const task = (await this.store.getTask(queued.id)) ?? null;
      if (!task || (task.status !== 'pending' && task.status !== 'running')) continue;
      if (task.expiresAt !== null && Date.parse(task.expiresAt) <= now) {
        this.finishTask(session, task, { status: 'failed', faultCode: null, faultString: `expired at ${task.expiresAt} before it could run` });
        continue;
      }
      if (task.nextAttemptAt !== null && Date.parse(task.nextAttemptAt) > now) continue;
      if (task.attempts >= task.maxAttempts) {
        this.finishTask(session, task, { status: 'failed', faultString: task.faultString ?? `no result after ${task.attempts} attempts` });
        continue;
      }
      let payload: TaskPayload;
      try {
        payload = validateTaskPayload(task.payload);
      } catch (err) {
        this.finishTask(session, task, { status: 'failed', faultCode: null, faultString: `invalid task: ${err instanceof Error ? err.message : String(err)}` });
        continue;
      }
      const reply = await this.startAndSend(session, task, payload, notices, false);
      if (reply) return reply;
    }
    return this.completeSession(session, notices);
  }

  /**
   * Builds the first RPC of `task` and sends it (`storedRunning`: see sendRpc). Returns null when
   * it cannot be built or sent (the task is failed and the queue goes on).
   */
  private async startAndSend(session: SessionState, task: Task, payload: TaskPayload, notices: EngineNotice[], storedRunning: boolean): Promise<EngineReply | null> {
    let started;
    try {
      started = await startTask(payload, task, this.handlerContext(session));
    } catch (err) {
      this.finishTask(session, task, { status: 'failed', faultCode: null, faultString: `could not build the request: ${err instanceof Error ? err.message : String(err)}` });
      return null;
    }
    return this.sendRpc(session, task, started.request, started.step, false, notices, storedRunning);
  }

  /**
   * Builds and sends one RPC of `task` (first or later step). Marks the task running (persisted at
   * once, so the API sees it and a crash leaves a visible orphan) unless `storedRunning` (planNext
   * stored it so). Returns null when the message cannot be built for this CPE (the task fails
   * permanently).
   */
  private async sendRpc(
    session: SessionState,
    task: Task,
    request: CpeRequest,
    step: JsonObject,
    laterStep: boolean,
    notices: EngineNotice[],
    storedRunning = false,
  ): Promise<EngineReply | null> {
    session.seq += 1;
    const id = `${session.id.slice(0, 8)}.${session.seq}`;
    let body: string;
    try {
      body = buildEnvelope({ header: { id }, body: request }, { version: session.version });
    } catch (err) {
      const reason = err instanceof CodecError ? err.message : String(err);
      this.finishTask(session, task, { status: 'failed', faultCode: null, faultString: `cannot send ${request.method} in CWMP ${session.version}: ${reason}` });
      return null;
    }
    const now = this.clock();
    let running = task;
    if (!storedRunning) {
      const update: Omit<TaskUpdate, 'id'> = { status: 'running', nextAttemptAt: null };
      // One attempt per task per session: later steps of a multi-step task do not count again.
      if (!laterStep) update.attempts = task.attempts + 1;
      if (task.startedAt === null) update.startedAt = iso(now);
      running = this.updateTask(session, task, update);
      try {
        await this.store.updateTasks([{ id: task.id, ...update }]);
        notices.push({ type: 'task', task: running });
      } catch (err) {
        // Not fatal: the session commit carries the same update.
        this.log.warn({ err, taskId: task.id }, 'could not mark task running');
      }
    }
    session.inflight = { id, task: running, request, step, sentAt: now };
    session.rpcCount += 1;
    return { status: 200, headers: { ...XML_HEADERS }, body, session, notices };
  }

  /** Records a failed attempt: retry later (pending with back-off) or fail for good. */
  private failAttempt(session: SessionState, task: Task, failure: AttemptFailure): Task {
    const attempts = Math.max(task.attempts, 1);
    const retry = failure.transient && attempts < task.maxAttempts;
    let after: Task;
    if (retry) {
      const next = this.clock() + retryDelayMs(attempts, this.retry);
      after = this.updateTask(session, task, { status: 'pending', faultCode: failure.faultCode, faultString: failure.faultString, nextAttemptAt: iso(next) });
    } else {
      const reason = failure.transient ? `${failure.faultString} (gave up after ${attempts} attempts)` : failure.faultString;
      after = this.finishTask(session, task, { status: 'failed', faultCode: failure.faultCode, faultString: reason });
    }
    this.log.info({ deviceId: session.deviceId, taskId: task.id, type: task.type, faultCode: failure.faultCode, reason: failure.faultString, retry }, 'task attempt failed');
    return after;
  }

  private finishTask(session: SessionState, task: Task, update: Omit<TaskUpdate, 'id' | 'finishedAt'>): Task {
    return this.updateTask(session, task, { ...update, finishedAt: iso(this.clock()), nextAttemptAt: null });
  }

  /** Buffers a task update and returns the task as it will be once committed. */
  private updateTask(session: SessionState, task: Task, update: Omit<TaskUpdate, 'id'>): Task {
    const merged = { ...(session.buffer.taskUpdates.get(task.id) ?? { id: task.id }), ...update };
    session.buffer.taskUpdates.set(task.id, merged);
    const next: Task = { ...task };
    for (const [k, v] of Object.entries(update)) if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
    session.buffer.taskNotices.set(task.id, next);
    return next;
  }

  /** Fails tasks that waited too long for their TransferComplete/DUStateChangeComplete. */
  private expireAwaiting(session: SessionState): void {
    const now = this.clock();
    for (const t of [...session.awaiting.values()]) {
      const since = t.startedAt ? Date.parse(t.startedAt) : now;
      const expired = (t.expiresAt !== null && Date.parse(t.expiresAt) <= now) || now - since > this.completionTimeoutMs;
      if (expired) {
        session.awaiting.delete(t.id);
        this.finishTask(session, t, { status: 'failed', faultCode: null, faultString: `no ${awaitedCompletion(t)} received in time` });
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Ending and committing
  // ------------------------------------------------------------------------------------------

  private async completeSession(session: SessionState, notices: EngineNotice[]): Promise<EngineReply> {
    await this.finish(session, 'completed', null, notices);
    return { status: 204, headers: {}, body: '', session: null, notices };
  }

  private async finish(session: SessionState, outcome: SessionOutcome, detail: string | null, notices: EngineNotice[]): Promise<void> {
    session.phase = 'ended';
    const now = this.clock();
    let recordId: string | null = null;
    try {
      const res = await this.store.commitSession({
        ...this.commitBody(session),
        session: {
          deviceId: session.deviceId,
          startedAt: iso(session.startedAt),
          endedAt: iso(now),
          events: session.events.map((e) => ({ eventCode: e.eventCode, commandKey: e.commandKey })),
          remoteAddress: session.remoteAddress,
          cwmpVersion: session.version,
          outcome,
          rpcCount: session.rpcCount,
          detail,
        },
        releaseLock: { owner: session.id },
      });
      recordId = res.sessionId;
      this.releaseNotices(session, notices);
    } catch (err) {
      this.log.error({ err, deviceId: session.deviceId, sessionId: session.id }, 'session commit failed; its changes are lost, queued tasks stay queued');
      await this.store.releaseSessionLock(session.deviceId, session.id).catch(() => false);
    }
    session.buffer = emptyBuffer();
    notices.push({ type: 'session-ended', sessionId: session.id, deviceId: session.deviceId, remoteAddress: session.remoteAddress, outcome, recordId, detail });
    await this.callHook('sessionEnded', () => this.hooks.sessionEnded?.(this.viewOf(session), outcome));
  }

  // ------------------------------------------------------------------------------------------
  // Provisioning hooks
  // ------------------------------------------------------------------------------------------

  /** Runs a hook; a hook that throws is logged and treated as if it returned nothing. */
  private async callHook<T>(name: string, fn: () => Promise<T> | undefined): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.log.error({ err, hook: name }, 'provisioning hook failed');
      return undefined;
    }
  }

  /** The provisioning view of a session (one per session). */
  private viewOf(session: SessionState): SessionView {
    let view = this.views.get(session);
    if (!view) {
      view = {
        sessionId: session.id,
        deviceId: session.deviceId,
        identity: session.identity,
        events: session.events,
        informParameters: session.informParameters,
        cwmpVersion: session.version,
        remoteAddress: session.remoteAddress,
        contact: session.deviceWrite,
        parameters: async (selection = {}) => {
          // a buffered wipe of the whole tree (0 BOOTSTRAP) hides every stored row: do not read them
          const wiped = session.buffer.deletes.some((d) => d.prefix === '' && !d.except?.length);
          const stored = wiped ? [] : await this.store.getParameters(session.deviceId, selection);
          return overlayParameters(stored, session.buffer.deletes, session.buffer.parameters, selection, iso(this.clock()));
        },
        recordFault: (f) => this.addFault(session, { taskId: f.taskId ?? null, source: 'acs', code: f.code, message: f.message, detail: f.detail }),
      };
      this.views.set(session, view);
    }
    return view;
  }

  private async taskAnswered(session: SessionState, task: Task, fault?: TaskOutcome['fault']): Promise<void> {
    if (!this.hooks.taskFinished) return;
    const outcome: TaskOutcome & { planned: boolean } = { task, planned: session.planned.has(task.id) };
    if (fault) outcome.fault = fault;
    await this.callHook('taskFinished', () => this.hooks.taskFinished?.(this.viewOf(session), outcome));
  }

  /**
   * Asks provisioning for the next task when the queue is empty and stores it, already running:
   * it is sent at once (nextRpc), which saves marking it so in a write of its own (a boot storm
   * plans two tasks for every device). Returns the task and its payload, or null.
   */
  private async planNext(session: SessionState, notices: EngineNotice[]): Promise<{ task: Task; payload: TaskPayload } | null> {
    if (!this.hooks.nextTask || session.planningStopped || session.planned.size >= this.maxPlanned) return null;
    const planned = await this.callHook('nextTask', () => this.hooks.nextTask?.(this.viewOf(session)));
    if (!planned) return null;
    let payload: TaskPayload;
    try {
      payload = validateTaskPayload(planned.payload);
    } catch (err) {
      this.log.error({ err, deviceId: session.deviceId }, 'provisioning planned an invalid task; planning stops for this session');
      session.planningStopped = true;
      return null;
    }
    try {
      // a task references its device: a first-contact device must be stored first
      if (!session.deviceStored) {
        await this.checkpoint(session, notices, true);
        session.deviceStored = true;
      }
      const task = await this.store.createTask({
        deviceId: session.deviceId,
        payload: payload as unknown as JsonObject & { type: string },
        maxAttempts: planned.maxAttempts ?? 1,
        running: { at: iso(this.clock()) },
      });
      session.planned.add(task.id);
      session.seenTasks.add(task.id);
      notices.push({ type: 'task', task });
      return { task, payload };
    } catch (err) {
      this.log.error({ err, deviceId: session.deviceId }, 'could not store a planned task');
      return null;
    }
  }

  private commitBody(session: SessionState) {
    const b = session.buffer;
    return {
      at: iso(this.clock()),
      device: session.deviceWrite,
      parameters: b.parameters,
      parameterDeletes: b.deletes,
      taskUpdates: [...b.taskUpdates.values()],
      faults: b.faults,
    };
  }

  /** Commits the buffered writes now (no session record, lock kept). Throws on store failure. */
  private async checkpoint(session: SessionState, notices: EngineNotice[], force = false): Promise<void> {
    const b = session.buffer;
    if (!force && b.parameters.length === 0 && b.deletes.length === 0 && b.taskUpdates.size === 0 && b.faults.length === 0) return;
    await this.store.commitSession(this.commitBody(session));
    this.releaseNotices(session, notices);
    session.buffer = emptyBuffer();
  }

  /** A checkpoint whose failure is not fatal: the final commit will carry the same writes. */
  private async checkpointQuietly(session: SessionState, notices: EngineNotice[]): Promise<void> {
    try {
      await this.checkpoint(session, notices);
    } catch (err) {
      this.log.warn({ err, deviceId: session.deviceId }, 'checkpoint failed; writes kept for the session commit');
    }
  }

  private releaseNotices(session: SessionState, notices: EngineNotice[]): void {
    for (const task of session.buffer.taskNotices.values()) notices.push({ type: 'task', task });
  }

  private async refreshLock(session: SessionState): Promise<void> {
    const now = this.clock();
    if (now - session.lockRefreshedAt < this.lockTtlMs / 2) return;
    session.lockRefreshedAt = now;
    try {
      if (!(await this.store.refreshSessionLock(session.deviceId, session.id, this.lockTtlMs))) {
        this.log.warn({ deviceId: session.deviceId, sessionId: session.id }, 'session lock lost (expired and taken over)');
      }
    } catch (err) {
      this.log.warn({ err, deviceId: session.deviceId }, 'could not refresh session lock');
    }
  }

  // ------------------------------------------------------------------------------------------
  // Buffers and helpers
  // ------------------------------------------------------------------------------------------

  private bufferWrites(session: SessionState, writes: ParameterWrite[]): void {
    for (const w of writes) session.buffer.parameters.push(w);
  }

  /** Buffers a sub-tree delete; earlier buffered writes inside it are dropped (the store applies deletes first). */
  private bufferDelete(session: SessionState, d: ParameterDelete): void {
    const keep = d.except ? new Set(d.except) : null;
    session.buffer.parameters = session.buffer.parameters.filter((w) => !w.name.startsWith(d.prefix) || (keep !== null && keep.has(w.name)));
    session.buffer.deletes.push(d);
  }

  private addFault(session: SessionState, f: Omit<NewFaultRecord, 'deviceId' | 'at'>): void {
    session.buffer.faults.push({ ...f, deviceId: session.deviceId, at: iso(this.clock()) });
  }

  /** What task handlers may read of the session's device (one per session, see SessionHandlerContext). */
  private handlerContext(session: SessionState): HandlerContext {
    let ctx = this.contexts.get(session);
    if (!ctx) {
      ctx = new SessionHandlerContext(this.store, session);
      this.contexts.set(session, ctx);
    }
    return ctx;
  }

  private messageReply(session: SessionState, body: AcsResponse, requestId: string | undefined, notices: EngineNotice[]): EngineReply {
    const header: CwmpHeader = {};
    if (requestId !== undefined) header.id = requestId;
    const xml = buildEnvelope({ header, body }, { version: session.version });
    return { status: 200, headers: { ...XML_HEADERS }, body: xml, session, notices };
  }

  private faultReply(session: SessionState | null, version: CwmpVersion, requestId: string | undefined, code: number, text: string, notices: EngineNotice[]): EngineReply {
    const header: CwmpHeader = {};
    if (requestId !== undefined && requestId.length > 0) header.id = requestId;
    notices.push({ type: 'fault', deviceId: session?.deviceId ?? null, code, detail: text });
    this.log.info({ deviceId: session?.deviceId, faultCode: code, reason: text }, 'ACS fault to CPE');
    let xml: string;
    try {
      xml = buildEnvelope({ header, body: makeFault(code, text) }, { version });
    } catch {
      // e.g. an ID the schema refuses: answer without it rather than not at all
      xml = buildEnvelope({ header: {}, body: makeFault(code, text) }, { version });
    }
    return { status: 200, headers: { ...XML_HEADERS }, body: xml, session, notices };
  }

  private invalidReply(session: SessionState | null, error: CodecError, notices: EngineNotice[]): EngineReply {
    const version = session?.version ?? '1.0';
    const tooBig = error.code === 'TOO_LARGE' || error.code === 'TOO_DEEP' || error.code === 'TOO_MANY_ITEMS';
    const code = tooBig ? 8004 : error.code === 'UNKNOWN_METHOD' ? 8000 : 8003;
    if (session) session.holdNext = false;
    return this.faultReply(session, version, undefined, code, error.message.slice(0, 200), notices);
  }
}

/** The completion a running task waits for, from its stored result. */
function awaitedCompletion(task: Task): 'TransferComplete' | 'DUStateChangeComplete' | null {
  const r = task.result;
  if (r && typeof r === 'object' && !Array.isArray(r)) {
    const a = (r as JsonObject).awaiting;
    if (a === 'TransferComplete' || a === 'DUStateChangeComplete') return a;
  }
  return null;
}

function awaitedCommandKey(task: Task): string | null {
  const r = task.result as JsonObject | null;
  return r && typeof r.commandKey === 'string' ? r.commandKey : null;
}

function withoutAwaiting(result: Task['result']): JsonObject {
  if (!result || typeof result !== 'object' || Array.isArray(result)) return {};
  const { awaiting: _awaiting, ...rest } = result as JsonObject;
  return rest;
}
