/**
 * The state of one CWMP session as the session engine keeps it between HTTP exchanges, and the
 * shapes the engine takes and returns. The HTTP layer stores `SessionState` objects (by cookie and
 * by TCP connection) and hands them back to the engine; it never changes them itself.
 */
import type { CpeRequest, CwmpVersion, EventStruct, ParameterValueStruct } from '../../cwmp/types.ts';
import type { CodecError } from '../../cwmp/errors.ts';
import type { ParsedEnvelope } from '../../cwmp/codec.ts';
import type {
  DeviceIdentity,
  DeviceWrite,
  JsonObject,
  NewFaultRecord,
  ParameterDelete,
  ParameterWrite,
  SessionOutcome,
  Task,
  TaskUpdate,
} from '../../store/types.ts';

/**
 * - `cpe-requests`: after the InformResponse; the CPE may send its own requests.
 * - `acs-requests`: the CPE sent its empty POST; the ACS sends one task RPC per HTTP response.
 * - `ended`: 204 sent (or the session was aborted); the state must be dropped.
 */
export type SessionPhase = 'cpe-requests' | 'acs-requests' | 'ended';

/** The RPC the ACS sent and waits an answer for. */
export interface InflightRpc {
  /** cwmp:ID of the request. */
  id: string;
  task: Task;
  request: CpeRequest;
  /** Handler-private state (multi-step tasks). */
  step: JsonObject;
  sentAt: number;
}

/** Writes collected during the session, committed in one transaction at the end (or at a checkpoint). */
export interface CommitBuffer {
  parameters: ParameterWrite[];
  deletes: ParameterDelete[];
  taskUpdates: Map<string, TaskUpdate>;
  faults: NewFaultRecord[];
  /** Task notices to publish once the writes are committed. */
  taskNotices: Map<string, Task>;
}

export interface SessionState {
  /** Random id: cookie value, lock owner, and prefix of the cwmp:IDs we send. */
  readonly id: string;
  readonly deviceId: string;
  readonly identity: DeviceIdentity;
  /** Version of every message the ACS sends in this session. */
  readonly version: CwmpVersion;
  readonly remoteAddress: string | null;
  readonly startedAt: number;
  readonly events: EventStruct[];
  lastActivityAt: number;
  lockRefreshedAt: number;
  phase: SessionPhase;
  /** HoldRequests=true was in the ACS's last message: the CPE must not send a request now. */
  holdNext: boolean;
  /** Tasks still to consider in this session, in queue order. */
  queue: Task[];
  /** Tasks (by id) whose RPC was accepted and that wait for a TransferComplete/DUStateChangeComplete. */
  awaiting: Map<string, Task>;
  inflight: InflightRpc | null;
  buffer: CommitBuffer;
  deviceWrite: DeviceWrite;
  rpcCount: number;
  seq: number;
  /** Ids of tasks already seen this session (so a task enqueued during the session is added once). */
  seenTasks: Set<string>;
  /** The Inform's ParameterList (for provisioning hooks). */
  readonly informParameters: ParameterValueStruct[];
  /** Ids of the tasks provisioning planned in this session. */
  planned: Set<string>;
  /** Provisioning planned something invalid: do not ask it again in this session. */
  planningStopped: boolean;
  /** The device row is known to exist in the store (a planned task can reference it). */
  deviceStored: boolean;
}

/** One HTTP POST as the engine sees it. */
export interface EngineRequest {
  body: string | Uint8Array;
  contentType?: string;
  contentEncoding?: string;
  remoteAddress: string | null;
}

/** The result of decoding a POST body. */
export type Decoded =
  | { kind: 'empty' }
  | { kind: 'message'; envelope: ParsedEnvelope }
  | { kind: 'invalid'; error: CodecError };

/** Something the engine wants the application to know (events, logs, webhooks). */
export type EngineNotice =
  | { type: 'session-started'; sessionId: string; deviceId: string; remoteAddress: string | null; events: EventStruct[] }
  | { type: 'session-ended'; sessionId: string; deviceId: string; remoteAddress: string | null; outcome: SessionOutcome; recordId: string | null; detail: string | null }
  | { type: 'task'; task: Task }
  | { type: 'cpe-request'; deviceId: string; method: string; detail: JsonObject }
  | { type: 'fault'; deviceId: string | null; code: number; detail: string };

export interface EngineReply {
  /** 403: provisioning refused the device (zero-touch policy). */
  status: 200 | 204 | 403 | 503;
  headers: Record<string, string>;
  /** '' for 204/503. */
  body: string;
  /** The session after the exchange; null when there is none (ended, refused, or never started). */
  session: SessionState | null;
  notices: EngineNotice[];
}
