/**
 * The ACS composition root: opens the store, starts the CWMP listener(s), the connection requester,
 * and mounts the REST API (src/api/index.ts, if present) on the HTTP port.
 *
 * ## The `acs` object given to the REST API
 *
 * `src/api/index.ts` exports `buildApi(options: ApiBuildOptions): Promise<FastifyInstance> | FastifyInstance`
 * (a Fastify instance that is NOT yet listening); `startAcs` calls it with `{ store, acs, logger }`,
 * then `listen()`s it on `httpPort` and `close()`s it on shutdown. Until that file exists the HTTP
 * port answers 503 `{ code: 'api_unavailable', message }`.
 *
 * API authentication uses the store's tokens only: `startAcs` makes sure a bootstrap admin token
 * exists (its SHA-256 hash stored under the name `bootstrap`), so the API needs no token option.
 *
 * `acs: AcsControl`:
 * - `enqueueTask(deviceId, payload, options?)` validates the task JSON (throws `TaskValidationError`,
 *   code `invalid_task`), stores it (throws `StoreError` `not_found` for an unknown device), emits
 *   `task`, and when `options.connectionRequest` is true sends a connection request and returns its
 *   result. The task runs at the device's next session.
 * - `cancelTask(id)` cancels a pending/running task (emits `task`).
 * - `waitForTask(id, { timeoutMs })` resolves with the task once it is done/failed/cancelled, or with
 *   its current state when the timeout passes (never rejects on timeout; check `status`).
 * - `connectionRequest(deviceId)` asks the CPE to open a session now.
 * - `events` (EventEmitter): `task` (Task, after every status change), `session` (SessionNotice, at
 *   start and end), `device` (device id, after a session commit changed its inventory).
 * - `activeSessions()`, `isInSession(deviceId)` for dashboards.
 */
import type { EventEmitter } from 'node:events';
import type { Store, Task, JsonObject } from '../store/types.ts';
import type { ConnectionRequestResult } from './connection-request.ts';
import type { SessionOutcome } from '../store/types.ts';

export interface EnqueueOptions {
  /** Send a connection request right after queuing (default false). */
  connectionRequest?: boolean;
  /** Default 3. */
  maxAttempts?: number;
  /** ISO timestamp after which the task fails as expired. */
  expiresAt?: string | null;
}

export interface EnqueueResult {
  task: Task;
  /** Present when a connection request was asked for. */
  connectionRequest?: ConnectionRequestResult;
}

/** Emitted on `events` as `session`. */
export interface SessionNotice {
  deviceId: string;
  phase: 'started' | 'ended';
  remoteAddress: string | null;
  /** For `ended`. */
  outcome?: SessionOutcome;
  /** For `ended`: the stored SessionRecord id. */
  sessionId?: string | null;
}

/** Typed event map for `AcsControl.events`. */
export interface AcsEventMap {
  task: [task: Task];
  session: [notice: SessionNotice];
  device: [deviceId: string];
}

/** What the REST API (and tests) use to act on devices. */
export interface AcsControl {
  readonly store: Store;
  readonly events: EventEmitter<AcsEventMap>;
  /** e.g. `http://127.0.0.1:7547/`. */
  readonly cwmpUrl: string;
  enqueueTask(deviceId: string, payload: unknown, options?: EnqueueOptions): Promise<EnqueueResult>;
  cancelTask(taskId: string): Promise<Task | null>;
  waitForTask(taskId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<Task | null>;
  connectionRequest(deviceId: string): Promise<ConnectionRequestResult>;
  activeSessions(): number;
  isInSession(deviceId: string): boolean;
}

/** Options of `buildApi` in src/api/index.ts. */
export interface ApiBuildOptions {
  store: Store;
  acs: AcsControl;
  /** A pino logger (child named `api`). */
  logger?: unknown;
}

export type { JsonObject };
