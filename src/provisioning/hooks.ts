/**
 * The narrow interface between the CWMP session engine (src/acs/session/engine.ts) and
 * provisioning (presets, zero-touch, rollouts, history, webhooks).
 *
 * The engine stays the only thing that speaks CWMP: provisioning never builds an RPC itself. When
 * the engine has no queued task left in a session it asks `nextTask`; the answer is ordinary task
 * JSON (src/acs/tasks/schema.ts), which the engine stores as a task of the device (so every RPC the
 * planner causes is visible in the task list, with its result or fault) and runs exactly like an
 * operator's task. When that task gets its answer, `taskFinished` tells provisioning how it ended,
 * and the engine asks `nextTask` again; `null` ends the session. All hooks are optional and must
 * never throw (an implementation catches its own errors and logs them).
 *
 * What the engine calls, and where:
 * - `informReceived(view)`: after the Inform was accepted and the session lock taken, before the
 *   InformResponse. May answer `refuse` (zero-touch policy for unknown devices): the engine then
 *   answers HTTP 403, stores nothing and releases the lock.
 * - `cpeRequest(view, request, task)`: after the engine handled a CPE request (TransferComplete,
 *   AutonomousTransferComplete, RequestDownload), with the task a TransferComplete completed.
 * - `nextTask(view)`: when the queue is empty in the `acs-requests` phase.
 * - `taskFinished(view, outcome)`: after a task run in this session got its answer (done, failed,
 *   or accepted and awaiting a TransferComplete).
 * - `sessionEnded(view, outcome)`: after the session's final commit (or abort).
 */
import type { TaskPayload } from '../acs/tasks/schema.ts';
import type { AcsRequest, EventStruct, ParameterValueStruct } from '../cwmp/types.ts';
import type {
  DeviceContact,
  DeviceIdentity,
  JsonObject,
  ParameterDelete,
  ParameterSelection,
  ParameterWrite,
  SessionOutcome,
  StoredParameter,
  Task,
} from '../store/types.ts';

/** What a hook sees of a session. */
export interface SessionView {
  readonly sessionId: string;
  readonly deviceId: string;
  readonly identity: DeviceIdentity;
  readonly events: readonly EventStruct[];
  readonly informParameters: readonly ParameterValueStruct[];
  readonly cwmpVersion: string;
  readonly remoteAddress: string | null;
  /** What the Inform tells about the device besides its identity, as the session will store it. */
  readonly contact?: Readonly<DeviceContact>;
  /** What the ACS knows about the device's parameters: the store plus this session's uncommitted answers. */
  parameters(selection?: ParameterSelection): Promise<StoredParameter[]>;
  /** Buffers a fault record into the session's commit (e.g. a value the device accepted but did not apply). */
  recordFault(fault: { code: string; message: string; detail: JsonObject | null; taskId?: string | null }): void;
}

export type InformDecision =
  | {
      action: 'accept';
      /**
       * The device's row is in the store (the hook read it, or registered a first-contact device):
       * tasks may reference it at once, without first committing the session's writes to create it.
       */
      deviceStored?: boolean;
    }
  | { action: 'refuse'; reason: string };

/** A task provisioning wants the engine to run now. */
export interface PlannedTask {
  payload: TaskPayload;
  /** Default 1: a planner step is never retried by the engine (the planner decides again next session). */
  maxAttempts?: number;
}

/** How a task run in the session ended. */
export interface TaskOutcome {
  /** The task as it is after the answer (status done/failed, or running while awaiting a TransferComplete). */
  task: Task;
  /** The CPE's SOAP fault, when it answered with one. */
  fault?: {
    faultCode: number;
    faultString: string;
    setParameterValuesFaults: { parameterName: string; faultCode: number; faultString: string }[];
  };
}

/** See the module comment. */
export interface SessionHooks {
  informReceived?(view: SessionView): Promise<InformDecision>;
  cpeRequest?(view: SessionView, request: AcsRequest, task: Task | null): Promise<void>;
  nextTask?(view: SessionView): Promise<PlannedTask | null>;
  taskFinished?(view: SessionView, outcome: TaskOutcome): Promise<void>;
  sessionEnded?(view: SessionView, outcome: SessionOutcome): Promise<void>;
}

/**
 * Overlays a session's buffered (uncommitted) writes on the stored parameters, as the engine's
 * commit would apply them: deletes first, then writes in order (a write's `undefined` fields keep
 * what is there). The engine uses this to implement `SessionView.parameters`.
 * @returns the parameters, sorted by name, restricted to `selection`.
 */
export function overlayParameters(
  stored: readonly StoredParameter[],
  deletes: readonly ParameterDelete[],
  writes: readonly ParameterWrite[],
  selection: ParameterSelection = {},
  at = '',
): StoredParameter[] {
  // Runs at every planning step of every session: no closures, one lookup set for the names.
  const prefix = selection.prefix;
  const names = selection.names === undefined ? undefined : new Set(selection.names);
  const map = new Map<string, StoredParameter>();
  for (const p of stored) map.set(p.name, p);
  for (const d of deletes) {
    if (map.size === 0) break;
    const keep = d.except && d.except.length > 0 ? new Set(d.except) : null;
    // deleting the entry just visited is safe while iterating a Map
    for (const name of map.keys()) if (name.startsWith(d.prefix) && !(keep && keep.has(name))) map.delete(name);
  }
  for (const w of writes) {
    if (!selected(w.name, prefix, names)) continue;
    const cur = map.get(w.name);
    map.set(w.name, {
      name: w.name,
      value: w.value !== undefined ? w.value : (cur?.value ?? null),
      type: w.type !== undefined ? w.type : (cur?.type ?? null),
      writable: w.writable !== undefined ? w.writable : (cur?.writable ?? null),
      notification: w.notification !== undefined ? w.notification : (cur?.notification ?? null),
      accessList: w.accessList !== undefined ? w.accessList : (cur?.accessList ?? null),
      object: cur ? cur.object : w.name.endsWith('.'),
      updatedAt: at || (cur?.updatedAt ?? at),
    });
  }
  const out: StoredParameter[] = [];
  for (const p of map.values()) if (selected(p.name, prefix, names)) out.push(p);
  return out.sort(byName);
}

/** True when `name` is in the selection (under `prefix` when given, among `names` when given). */
function selected(name: string, prefix: string | undefined, names: ReadonlySet<string> | undefined): boolean {
  return (prefix === undefined || name.startsWith(prefix)) && (names === undefined || names.has(name));
}

function byName(a: StoredParameter, b: StoredParameter): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
