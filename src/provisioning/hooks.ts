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
  const map = new Map(stored.map((p) => [p.name, p]));
  for (const d of deletes) {
    const keep = d.except ? new Set(d.except) : null;
    for (const name of [...map.keys()]) if (name.startsWith(d.prefix) && !(keep && keep.has(name))) map.delete(name);
  }
  const wanted = (name: string) =>
    (selection.prefix === undefined || name.startsWith(selection.prefix)) && (selection.names === undefined || selection.names.includes(name));
  for (const w of writes) {
    if (!wanted(w.name)) continue;
    const cur = map.get(w.name) ?? {
      name: w.name,
      value: null,
      type: null,
      writable: null,
      notification: null,
      accessList: null,
      object: w.name.endsWith('.'),
      updatedAt: at,
    };
    map.set(w.name, {
      ...cur,
      value: w.value !== undefined ? w.value : cur.value,
      type: w.type !== undefined ? w.type : cur.type,
      writable: w.writable !== undefined ? w.writable : cur.writable,
      notification: w.notification !== undefined ? w.notification : cur.notification,
      accessList: w.accessList !== undefined ? w.accessList : cur.accessList,
      updatedAt: at || cur.updatedAt,
    });
  }
  return [...map.values()].filter((p) => wanted(p.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
