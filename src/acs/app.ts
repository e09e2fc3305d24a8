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
 *   code `invalid_task`), stores it (throws `StoreError` `not_found` for an unknown device: devices
 *   exist once their first session committed, or when pre-registered with `store.createDevice`),
 *   emits `task`. If the device is in session right now the task joins that session's queue (and a
 *   requested connection request is skipped: result `{ status: 'ok', transport: 'session' }`);
 *   otherwise, when `options.connectionRequest` is true, a connection request is sent and its result
 *   returned. The task runs at the device's next session, after the tasks queued before it.
 * - `cancelTask(id)` cancels a pending/running task (emits `task`); a task already finished is
 *   returned unchanged; null when unknown.
 * - `waitForTask(id, { timeoutMs, signal })` resolves with the task once it is done/failed/cancelled,
 *   or with its current state when the timeout passes or the signal aborts (never rejects; check
 *   `status`); null for an unknown task.
 * - `connectionRequest(deviceId)` asks the CPE to open a session now (HTTP Digest/Basic with the
 *   device's connection request credentials or the configured defaults; more transports, e.g. UDP,
 *   plug into the ConnectionRequester). Never throws: see ConnectionRequestResult.status.
 * - `events` (EventEmitter): `task` (Task, after every status change), `session` (SessionNotice, at
 *   start and end), `device` (device id, after a session commit changed its inventory).
 * - `activeSessions()`, `isInSession(deviceId)` for dashboards.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino, { type Logger } from 'pino';
import { FINAL_TASK_STATUSES, StoreError, type Store, type Task, type JsonObject, type SessionOutcome } from '../store/types.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { isPostgresUrl, openStore } from '../store/index.ts';
import { startTaskRelay } from './cluster/task-relay.ts';
import { ConnectionRequester, HttpConnectionRequestTransport, type ConnectionRequestResult } from './connection-request.ts';
import { ConnectionRequestGate } from './cluster/cr-gate.ts';
import { clusterOf } from './cluster/context.ts';
import { clusterSessionWatcher } from './cluster/session-watch.ts';
import { sessionWatcherFromEvents } from './nat/requester.ts';
import { SessionEngine, type EngineOptions } from './session/engine.ts';
import type { EngineNotice } from './session/state.ts';
import { CwmpService, type CwmpServiceOptions } from './http/cwmp-server.ts';
import { CpeAuthenticator, type CpeAuthConfig } from './http/cpe-auth.ts';
import { CwmpListenerThread, type ThreadListener } from './http/listener-thread.ts';
import { createListenerServer } from './http/listener-common.mjs';
import { validateTaskPayload } from './tasks/schema.ts';
import { startNat, type NatOptions, type NatService } from './nat/index.ts';
import { startProvisioning, type Provisioning } from '../provisioning/runtime.ts';
import { attachWebConsole } from '../console/server/index.ts';
import { hashToken } from '../api/auth.ts';

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
  /** Provisioning routes (presets, files, rollouts...) and the public /files route, when provisioning runs. */
  provisioning?: Provisioning['apiOptions'];
}


// ---------------------------------------------------------------------------------------------
// startAcs
// ---------------------------------------------------------------------------------------------

export interface AcsTlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /** Port of the HTTPS CWMP listener. Default 7548; 0 = ephemeral. */
  port?: number;
}

export interface AcsOptions {
  /** Where the SQLite database and the API token file live. Default `./data`. */
  dataDir?: string;
  /** An already open store (tests, other backends); default SQLite in dataDir. Closed by `close()`. */
  store?: Store;
  /**
   * A PostgreSQL URL (`postgres://user:pass@host:port/db`): the store is opened there instead of
   * SQLite, and this instance joins the other ACS instances on that database (task events relayed
   * over LISTEN/NOTIFY, session locks kept). Ignored when `store` is given, except that the task
   * relay still uses it. Throws at start for another kind of URL.
   */
  database?: string;
  /** SQLite page cache bound (MiB, default 64); SQLite only. */
  sqliteCacheMiB?: number;
  /** Multi-instance knobs (only used with a PostgreSQL database). */
  cluster?: {
    /** LISTEN/NOTIFY channel namespace (default `switchboard`); instances must agree. */
    namespace?: string;
    /** `waitForTask` also re-reads the task this often (ms, default 1000), in case a NOTIFY was lost. */
    taskPollMs?: number;
  };
  /** CWMP over HTTP. Default 7547; 0 = ephemeral; null = no plain HTTP listener. */
  cwmpPort?: number | null;
  /** REST API (and console). Default 7557; 0 = ephemeral; null = none. */
  httpPort?: number | null;
  /** Listen address. Default `0.0.0.0`. */
  host?: string;
  /** HTTPS CWMP listener, when given. */
  tls?: AcsTlsOptions;
  /**
   * Run the CWMP listeners (HTTP and HTTPS) on a worker thread of their own (http/listener-thread.ts):
   * the thread does the HTTP work, the main thread the sessions; false serves CWMP from the main
   * thread's event loop. Default: true on SQLite, false on PostgreSQL. Measured (README, Performance):
   * with SQLite a busy ACS's event loop is what limits it, and the thread freed it (boot storm +10%);
   * with PostgreSQL a session waits on database round trips and processes are added for scale, and
   * the thread's two extra hops per request cost 16-19% at 16 sessions in flight.
   */
  cwmpThread?: boolean;
  /**
   * The bootstrap admin API token. When absent, the token in `<dataDir>/api-token` is used, or a new
   * one is generated, written there (mode 0600) and returned once as `generatedApiToken`.
   * Only its SHA-256 is stored.
   */
  apiToken?: string;
  /** CPE authentication. Default none. */
  cpeAuth?: CpeAuthConfig;
  /** Credentials for connection requests to devices without their own. */
  connectionRequest?: { username?: string; password?: string; timeoutMs?: number };
  logger?: Logger;
  /** Session layer knobs (idle timeout, concurrency bound...). */
  sessions?: Pick<CwmpServiceOptions, 'idleTimeoutMs' | 'maxSessions' | 'busyRetryAfterSeconds' | 'supersedeIdleMs' | 'maxRequestBytes'>;
  /** Session engine knobs (retry policy, versions, provisioning `hooks`...). */
  engine?: Omit<EngineOptions, 'store' | 'logger'>;
  /**
   * This process is the only ACS on the store (default true for SQLite, false with a PostgreSQL
   * `database` or store): locks left by a killed predecessor are cleared at start. Set false when
   * several ACS processes share a store (shared locks then expire after their ttl instead).
   */
  exclusiveStore?: boolean;
  /**
   * NAT traversal (TR-111, src/acs/nat): a STUN server, UDP connection requests when HTTP cannot
   * reach a device (the result says which `path` woke it), STUN provisioning, gateway association.
   * Off when absent (the CLI turns it on: --stun-port, --stun-provision...).
   */
  nat?: NatOptions | false;
  /**
   * Provisioning (src/provisioning: presets, files, variables, rollouts, webhooks, zero-touch):
   * on by default, its tables in `<dataDir>/switchboard.sqlite` and files in `<dataDir>/files`, or,
   * with a PostgreSQL `database`, both in that database (shared by every instance on it);
   * `false` turns it off. `fileBaseUrl` is the HTTP port's URL as devices reach it (default: the
   * API URL, which says 127.0.0.1 when listening on all addresses).
   */
  provisioning?: false | { fileBaseUrl?: string; rolloutTickMs?: number };
}

/** A running ACS. */
export interface Acs extends AcsControl {
  /** `http://host:port/` of the CWMP HTTP listener, or '' when disabled. */
  readonly cwmpUrl: string;
  /** `https://host:port/` of the CWMP HTTPS listener, when enabled. */
  readonly cwmpsUrl: string | null;
  /** `http://host:port` of the REST API listener, when enabled. */
  readonly apiUrl: string | null;
  /** The bootstrap API token when it was generated by this start (print it once). */
  readonly generatedApiToken: string | null;
  /** The NAT part (STUN bindings, path-choosing requester), when `nat` was given. */
  readonly nat: NatService | null;
  /** Whether the CWMP listeners run on a thread of their own (`AcsOptions.cwmpThread`). */
  readonly cwmpThread: boolean;
  readonly logger: Logger;
  /** Stops accepting sessions, ends the open ones (committing them), closes listeners and the store. */
  close(): Promise<void>;
}

/** Log paths pino must never print (device and CPE credentials, tokens). */
export const LOG_REDACT_PATHS = [
  'password',
  '*.password',
  'acsPassword',
  '*.acsPassword',
  'connectionRequestPassword',
  '*.connectionRequestPassword',
  'credentials',
  '*.credentials',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
];

/** The file holding the generated bootstrap token. */
export const API_TOKEN_FILE = 'api-token';
const BOOTSTRAP_TOKEN_NAME = 'bootstrap';
/** ensureApiToken's tries when instances starting at once keep taking the name first. */
const MAX_TOKEN_ATTEMPTS = 3;
/** waitForTask's database re-read period on a shared store. */
const DEFAULT_TASK_POLL_MS = 1000;

/** `bootstrap` or `bootstrap-<n>`: the names ensureApiToken gives. */
function isBootstrapName(name: string): boolean {
  return name === BOOTSTRAP_TOKEN_NAME || new RegExp(`^${BOOTSTRAP_TOKEN_NAME}-[0-9]+$`).test(name);
}

/**
 * Makes sure the bootstrap admin token exists in the store (by hash). A token not seen before
 * revokes the earlier bootstrap tokens and is stored as `bootstrap`, or `bootstrap-<n>` when that
 * name is taken (by a revoked one).
 * Returns the token and whether it was generated now. Throws when the token file cannot be written.
 */
export async function ensureApiToken(store: Store, dataDir: string, explicit?: string): Promise<{ token: string; generated: boolean }> {
  let token = explicit;
  let generated = false;
  if (!token) {
    const file = join(dataDir, API_TOKEN_FILE);
    if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
    if (!token) {
      token = `sb_${randomBytes(32).toString('base64url')}`;
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      generated = true;
    }
  }
  const hash = hashToken(token);
  for (let attempt = 1; !(await store.findApiTokenByHash(hash)); attempt++) {
    // A different bootstrap token than last time replaces it: the old one is revoked, and the new
    // one gets a name of its own (token names are unique: they are the audit actor).
    const existing = await store.listApiTokens();
    const taken = new Set(existing.map((t) => t.name));
    for (const t of existing) {
      // never this token: another instance starting at the same moment may have just stored it
      if (t.revokedAt === null && t.hash !== hash && isBootstrapName(t.name)) await store.revokeApiToken(t.id);
    }
    let name = BOOTSTRAP_TOKEN_NAME;
    for (let n = 2; taken.has(name); n++) name = `${BOOTSTRAP_TOKEN_NAME}-${n}`;
    try {
      await store.createApiToken({ name, role: 'admin', hash });
    } catch (err) {
      // Instances sharing a database that start together race here: the other one stored this
      // token (or took the name) first. Look again.
      if (!(err instanceof StoreError && err.code === 'conflict') || attempt >= MAX_TOKEN_ATTEMPTS) throw err;
    }
  }
  return { token, generated };
}

function listen(server: http.Server | https.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server | https.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

interface ApiInstance {
  listen(opts: { port: number; host: string }): Promise<string>;
  close(): Promise<unknown>;
  server: http.Server;
}

/** Loads src/api/index.ts if it exists (the API is another part, built in parallel). */
async function loadApiBuilder(): Promise<((o: ApiBuildOptions) => Promise<ApiInstance> | ApiInstance) | null> {
  const file = new URL('../api/index.ts', import.meta.url);
  if (!existsSync(file)) return null;
  const mod = (await import(pathToFileURL(file.pathname).href)) as { buildApi?: (o: ApiBuildOptions) => Promise<ApiInstance> | ApiInstance };
  return mod.buildApi ?? null;
}

/**
 * Starts the ACS: store, session engine, CWMP listener(s), connection requester, REST API.
 * Returns the running `Acs`. Throws when a port cannot be bound or the store cannot be opened
 * (whatever was started is closed again).
 */
export async function startAcs(options: AcsOptions = {}): Promise<Acs> {
  const logger = options.logger ?? pino({ level: 'info', redact: { paths: LOG_REDACT_PATHS, censor: '[secret]' } });
  const host = options.host ?? '0.0.0.0';
  const dataDir = options.dataDir ?? './data';
  if (options.database !== undefined && !isPostgresUrl(options.database)) {
    throw new Error(`database must be a postgres:// URL, got ${JSON.stringify(options.database.replace(/\/\/[^@/]*@/, '//***@'))}`);
  }
  const store = options.store ?? (options.database ? await openStore({ kind: 'postgres', url: options.database }) : openSqliteStore({ dataDir, cacheMiB: options.sqliteCacheMiB }));
  const shared = options.database !== undefined || store.name.startsWith('postgres');
  const closers: (() => Promise<void>)[] = [async () => store.close()];
  let generatedTokenFile: string | null = null;
  const closeAll = async () => {
    for (const c of closers.reverse()) await c().catch((err: unknown) => logger.error({ err }, 'error while closing'));
  };
  try {
    if (options.exclusiveStore ?? !shared) {
      const cleared = await store.clearSessionLocks();
      if (cleared > 0) logger.warn({ cleared }, 'cleared session locks left by a previous run');
    }
    const { token, generated } = await ensureApiToken(store, dataDir, options.apiToken);
    if (generated) generatedTokenFile = join(dataDir, API_TOKEN_FILE);
    const events = new EventEmitter<AcsEventMap>();
    events.setMaxListeners(0);
    const engineLogger = logger.child({ part: 'session' });
    let provisioning: Provisioning | null = null;
    if (options.provisioning !== false) {
      // With a PostgreSQL database, provisioning (tables and file content) lives there too.
      const prov = await startProvisioning({
        store,
        dataDir,
        database: options.database,
        namespace: options.cluster?.namespace,
        fileBaseUrl: options.provisioning?.fileBaseUrl,
        rolloutTickMs: options.provisioning?.rolloutTickMs,
        logger: logger.child({ part: 'provisioning' }),
      });
      closers.push(() => prov.close());
      provisioning = prov;
    }
    const engine = new SessionEngine({ ...options.engine, hooks: options.engine?.hooks ?? provisioning?.service, store, logger: engineLogger });
    const auth = new CpeAuthenticator(options.cpeAuth ?? { mode: 'none' }, store);
    if (options.database) {
      const relay = await startTaskRelay({
        url: options.database,
        store,
        events,
        namespace: options.cluster?.namespace,
        onError: (err) => logger.warn({ err }, 'cluster task relay'),
      });
      closers.push(() => relay.close());
    }
    const taskPollMs = shared ? (options.cluster?.taskPollMs ?? DEFAULT_TASK_POLL_MS) : null;
    const publish = (notices: EngineNotice[]) => {
      for (const n of notices) {
        if (n.type === 'task') events.emit('task', n.task);
        else if (n.type === 'session-started') events.emit('session', { deviceId: n.deviceId, phase: 'started', remoteAddress: n.remoteAddress });
        else if (n.type === 'session-ended') {
          events.emit('session', { deviceId: n.deviceId, phase: 'ended', remoteAddress: n.remoteAddress, outcome: n.outcome, sessionId: n.recordId });
          events.emit('device', n.deviceId);
        } else if (n.type === 'cpe-request') logger.info({ deviceId: n.deviceId, method: n.method, detail: n.detail }, 'CPE request');
      }
    };
    const service = new CwmpService({ ...options.sessions, engine, auth, logger: engineLogger, onNotices: publish });
    // Connection requests sent once: a claim per device ends when the device's session starts,
    // seen at once through this instance's session events (and the database on a shared store) -
    // a claim outliving a short session would swallow the next request.
    // One gate and one watcher per instance, for the HTTP-only requester and the NAT one alike.
    const link = clusterOf(store);
    const localSessions = sessionWatcherFromEvents(events);
    const watchSession = link ? clusterSessionWatcher(localSessions, link) : localSessions;
    const gate = new ConnectionRequestGate({
      store,
      link,
      watchSession,
      onError: (err) => logger.warn({ err: err.message }, 'connection request claim'),
    });
    closers.push(() => gate.close());
    const requester = new ConnectionRequester(
      store,
      [new HttpConnectionRequestTransport({ timeoutMs: options.connectionRequest?.timeoutMs })],
      { defaultUsername: options.connectionRequest?.username ?? null, defaultPassword: options.connectionRequest?.password ?? null, gate },
    );
    // NAT traversal: with it, connection requests try HTTP, then a signed UDP datagram from the
    // STUN server's socket (src/acs/nat/requester.ts); without it, HTTP only.
    let nat: NatService | null = null;
    if (options.nat) {
      nat = await startNat(
        {
          store,
          events,
          enqueueTask: (deviceId, payload, opts) => acs.enqueueTask(deviceId, payload, opts),
          http: new HttpConnectionRequestTransport({ timeoutMs: options.connectionRequest?.timeoutMs }),
          defaultCredentials: { username: options.connectionRequest?.username ?? null, password: options.connectionRequest?.password ?? null },
          logger: logger.child({ part: 'nat' }),
          gate,
          watchSession,
        },
        options.nat,
      );
      const started = nat;
      closers.push(() => started.close());
    }
    const wake = (deviceId: string): Promise<ConnectionRequestResult> => (nat ? nat.request(deviceId) : requester.request(deviceId));

    // CWMP listeners
    // the CPE keeps one connection for the whole session: keep it open as long as a session lives
    const timeouts = { keepAliveTimeoutMs: service.idleTimeoutMs, headersTimeoutMs: service.idleTimeoutMs + 5_000, requestTimeoutMs: 120_000 };
    const cwmpPort = options.cwmpPort === undefined ? 7547 : options.cwmpPort;
    const listeners: ThreadListener[] = [];
    if (cwmpPort !== null) listeners.push({ port: cwmpPort, host });
    if (options.tls) listeners.push({ port: options.tls.port ?? 7548, host, tls: { cert: options.tls.cert, key: options.tls.key } });
    const cwmpThread = (options.cwmpThread ?? !shared) && listeners.length > 0;
    let ports: number[] = [];
    if (cwmpThread) {
      const thread = await CwmpListenerThread.start({ listeners, handle: service.handleRequest, timeouts, maxRequestBytes: service.maxRequestBytes, logger: logger.child({ part: 'cwmp' }) });
      closers.push(() => thread.close());
      ports = thread.ports;
    } else {
      for (const l of listeners) {
        const server = createListenerServer(l, service.handle, timeouts);
        ports.push(await listen(server, l.port, host));
        closers.push(() => closeServer(server));
      }
    }
    let cwmpUrl = '';
    let cwmpsUrl: string | null = null;
    for (const [i, l] of listeners.entries()) {
      if (l.tls) cwmpsUrl = `https://${urlHost(host)}:${ports[i]}/`;
      else cwmpUrl = `http://${urlHost(host)}:${ports[i]}/`;
    }
    // ends sessions before the listeners close (closers run in reverse order)
    closers.push(() => service.closeAll('ACS shutting down'));

    const acs: Acs = {
      store,
      events,
      cwmpUrl,
      cwmpsUrl,
      apiUrl: null,
      generatedApiToken: generated ? token : null,
      nat,
      cwmpThread,
      logger,
      async enqueueTask(deviceId, payload, opts = {}) {
        const valid = validateTaskPayload(payload);
        const task = await store.createTask({
          deviceId,
          payload: valid as unknown as JsonObject & { type: string },
          maxAttempts: opts.maxAttempts,
          expiresAt: opts.expiresAt ?? null,
          connectionRequest: opts.connectionRequest ?? false,
        });
        events.emit('task', task);
        if (service.enqueue(deviceId, task)) {
          return opts.connectionRequest ? { task, connectionRequest: { status: 'ok', transport: 'session', detail: 'the device is in session; the task runs in it' } } : { task };
        }
        if (!opts.connectionRequest) return { task };
        return { task, connectionRequest: await wake(deviceId) };
      },
      async cancelTask(taskId) {
        const task = await store.cancelTask(taskId);
        if (task) events.emit('task', task);
        return task;
      },
      async waitForTask(taskId, { timeoutMs, signal }) {
        return new Promise<Task | null>((resolve) => {
          let settled = false;
          const finish = async (t?: Task | null) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (poller) clearInterval(poller);
            events.off('task', onTask);
            signal?.removeEventListener('abort', onAbort);
            resolve(t !== undefined ? t : await store.getTask(taskId).catch(() => null));
          };
          const onTask = (t: Task) => {
            if (t.id === taskId && FINAL_TASK_STATUSES.includes(t.status)) void finish(t);
          };
          const onAbort = () => void finish();
          const timer = setTimeout(() => void finish(), timeoutMs);
          // another instance may run the session: its NOTIFY may be lost, the database is not
          const poller =
            taskPollMs === null
              ? null
              : setInterval(() => {
                  store.getTask(taskId).then(
                    (t) => {
                      if (t && FINAL_TASK_STATUSES.includes(t.status)) void finish(t);
                    },
                    () => undefined,
                  );
                }, taskPollMs);
          events.on('task', onTask);
          signal?.addEventListener('abort', onAbort);
          if (signal?.aborted) {
            void finish();
            return;
          }
          // it may already be final (subscribe first, then read: no gap)
          store.getTask(taskId).then(
            (t) => {
              if (!t || FINAL_TASK_STATUSES.includes(t.status)) void finish(t);
            },
            () => void finish(null),
          );
        });
      },
      async connectionRequest(deviceId) {
        if (service.sessionOf(deviceId)) return { status: 'ok', transport: 'session', detail: 'the device is in session now' };
        return wake(deviceId);
      },
      activeSessions: () => service.activeSessions(),
      isInSession: (deviceId) => service.sessionOf(deviceId) !== null,
      async close() {
        await closeAll();
      },
    };

    // REST API
    const httpPort = options.httpPort === undefined ? 7557 : options.httpPort;
    if (httpPort !== null) {
      const build = await loadApiBuilder();
      let apiUrl: string;
      if (build) {
        const api = await build({ store, acs, logger: logger.child({ part: 'api' }), ...(provisioning ? { provisioning: provisioning.apiOptions } : {}) });
        // The web console (users and login, live events, overview, the app at `/`): src/console.
        closers.push(await attachWebConsole(api, { store, acs, dataDir, logger: logger.child({ part: 'console' }) }));
        await api.listen({ port: httpPort, host });
        closers.push(async () => void (await api.close()));
        const port = (api.server.address() as AddressInfo | null)?.port ?? httpPort;
        apiUrl = `http://${urlHost(host)}:${port}`;
      } else {
        const server = http.createServer((_req, res) => {
          const body = JSON.stringify({ code: 'api_unavailable', message: 'the REST API is not part of this build yet' });
          res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
        const port = await listen(server, httpPort, host);
        closers.push(() => closeServer(server));
        apiUrl = `http://${urlHost(host)}:${port}`;
      }
      (acs as { apiUrl: string | null }).apiUrl = apiUrl;
    }
    provisioning?.bind(acs, { apiUrl: acs.apiUrl, cwmpUrl: cwmpUrl || cwmpsUrl });
    logger.info({ cwmpUrl: cwmpUrl || null, cwmpsUrl, apiUrl: acs.apiUrl, store: store.name, cpeAuth: auth.mode }, 'ACS started');
    return acs;
  } catch (err) {
    // a token nobody has seen must not stay valid: the next start generates and prints a new one
    if (generatedTokenFile) {
      const hash = hashToken(readFileSync(generatedTokenFile, 'utf8').trim());
      const stored = await store.findApiTokenByHash(hash).catch(() => null);
      if (stored) await store.revokeApiToken(stored.id).catch(() => null);
      rmSync(generatedTokenFile, { force: true });
    }
    await closeAll();
    if (err instanceof StoreError) throw new Error(`store: ${err.message}`, { cause: err });
    throw err;
  }
}
