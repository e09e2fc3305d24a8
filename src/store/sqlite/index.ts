/**
 * The embedded SQLite backend of `Store` (better-sqlite3 12).
 *
 * Raw SQL, not Kysely: better-sqlite3 is synchronous and its prepared statements are the fastest
 * path SQLite offers; Kysely would add an async layer and a query compilation per call on the hot
 * path of a boot storm (one commit per session), and it would not make the PostgreSQL backend
 * free either (upserts, JSON columns, locks and numeric comparisons differ per dialect). The two
 * backends are kept equivalent by the shared contract suite (src/store/contract.ts), not by a
 * shared query builder.
 *
 * Durability: WAL journal + `synchronous=NORMAL`. In WAL mode a commit appends the transaction to
 * the -wal file with write(2) before returning, so a killed process (SIGKILL, crash) loses nothing
 * that was committed; only an OS crash or power cut can lose the last transactions (NORMAL skips the
 * fsync per commit, which FULL would pay on every session of a boot storm). Pass
 * `synchronous: 'FULL'` to survive power cuts at that cost.
 *
 * Session locks live in memory, not in a table: a SQLite store is used by ONE ACS process (the CLI
 * refuses several workers on SQLite, and `startAcs` clears every lock at start anyway, so a lock
 * row never protected anything across processes), and a lock is only meaningful while its holder
 * runs. Keeping them in a Map saves each session an upsert and a delete with their savepoints and
 * its own group-commit round trip before the InformResponse (sessions bench profile). The
 * PostgreSQL store keeps them in its table: several instances share it.
 *
 * Group commit: the hot-path writes (session commits, task updates) are queued and
 * flushed together on the next turn of the event loop, in ONE transaction, the writes straight one
 * after the other; when one throws, the transaction is rolled back and the batch replayed with one
 * savepoint per write, so that a failing write rolls back alone and rejects its own promise (see
 * `flush`). Each promise resolves only after the shared COMMIT, so durability is unchanged; a boot
 * storm then pays one WAL commit per batch of sessions instead of one per write (engine-level boot
 * storm on the loaded 2-core VM: about 430 sessions/s with group commit vs 215-320 without;
 * `groupCommit: false` turns it off). In-memory caches (recent rows, known devices) only ever hold
 * committed state: what a write taught them is forgotten when it rolls back. Savepoint statement
 * journals are kept in memory (`temp_store = MEMORY`), and WAL checkpoints run on a worker thread
 * (checkpointer.ts), so a COMMIT on the event loop only appends to the log.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { migrate } from './migrations.ts';
import { RecentMap } from './recent.ts';
import { BackgroundCheckpointer } from './checkpointer.ts';
import { openWalDatabase } from './wal.ts';
import { isoParam, MAX_CHAR } from '../params.ts';
import { buildDeviceQuery, canDrive, DRIVER_PROBE_SQL, numericOrNull, type DeviceQueryPlan } from './device-query.ts';
import { decodeCursor, encodeCursor, normaliseTags, pageLimit } from '../cursor.ts';
import {
  DEFAULT_TASK_MAX_ATTEMPTS,
  StoreError,
  type ApiRole,
  type ApiToken,
  type AuditEntry,
  type AuditPage,
  type AuditQuery,
  type Device,
  type DeviceContact,
  type DevicePage,
  type DevicePatch,
  type DeviceQuery,
  type DeviceWrite,
  type FaultPage,
  type FaultQuery,
  type FaultRecord,
  type FaultSource,
  type IsoTimestamp,
  type JsonObject,
  type JsonValue,
  type LockResult,
  type NewApiToken,
  type NewAuditEntry,
  type NewDevice,
  type NewFaultRecord,
  type NewSessionRecord,
  type NewTask,
  type ParameterDelete,
  type ParameterSelection,
  type ParameterWrite,
  type SessionCommit,
  type SessionCommitResult,
  type SessionOutcome,
  type SessionPage,
  type SessionQuery,
  type SessionRecord,
  type Store,
  type StoredParameter,
  type Task,
  type TaskPage,
  type TaskQuery,
  type TaskStatus,
  type TaskUpdate,
} from '../types.ts';

export interface SqliteStoreOptions {
  /** Directory of the database (created if missing); the file is `switchboard.sqlite`. */
  dataDir?: string;
  /** Exact database file path (wins over dataDir); `:memory:` for tests. */
  file?: string;
  /** Default NORMAL (see the module comment). */
  synchronous?: 'NORMAL' | 'FULL';
  /** Clock in ms, for lock expiry and default timestamps (tests may fake it). */
  now?: () => number;
  /** Group commit of hot-path writes (default true); false = one transaction per write. */
  groupCommit?: boolean;
  /** Most memory SQLite's page cache may take (MiB, default 64): the part of the ACS's memory that grows with the database. */
  cacheMiB?: number;
  /**
   * WAL checkpoints on a worker thread (checkpointer.ts) instead of inside the COMMITs of the
   * store's connection. Default for a file: started after the 100th group commit (a store that
   * writes little, as most in tests do, never starts a thread); `false` keeps SQLite's automatic
   * checkpoint. Ignored for `:memory:`.
   */
  checkpointWorker?: false | CheckpointWorkerOptions;
  /** Called with the text of every statement the connection runs (better-sqlite3 `verbose`): diagnostics and tests. */
  verbose?: (sql: string) => void;
}

export interface CheckpointWorkerOptions {
  /** Group commits before the worker starts (0 = when the store opens); default 100. */
  afterCommits?: number;
  /** How often the worker checkpoints (ms); default 200. */
  intervalMs?: number;
}

/** A write waiting for the next group commit. */
interface QueuedWrite {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What one queued write gave. */
type WriteOutcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The default database file name inside the data directory. */
export const SQLITE_FILE_NAME = 'switchboard.sqlite';

// Rows as SQLite returns them -------------------------------------------------------------------

interface DeviceRow {
  id: string;
  manufacturer: string;
  oui: string;
  product_class: string;
  serial_number: string;
  first_contact: string | null;
  last_contact: string | null;
  last_boot: string | null;
  last_bootstrap: string | null;
  source_address: string | null;
  software_version: string | null;
  hardware_version: string | null;
  connection_request_url: string | null;
  udp_connection_request_address: string | null;
  cwmp_version: string | null;
  tags: string;
  acs_username: string | null;
  acs_password: string | null;
  cr_username: string | null;
  cr_password: string | null;
}

/** Every column of `devices` (the INSERT of `createDevice` binds a whole DeviceRow). */
const DEVICE_COLUMNS = Object.keys({
  id: 1, manufacturer: 1, oui: 1, product_class: 1, serial_number: 1, first_contact: 1, last_contact: 1, last_boot: 1,
  last_bootstrap: 1, source_address: 1, software_version: 1, hardware_version: 1, connection_request_url: 1,
  udp_connection_request_address: 1, cwmp_version: 1, tags: 1, acs_username: 1, acs_password: 1, cr_username: 1, cr_password: 1,
} satisfies Record<keyof DeviceRow, 1>);

interface ParameterRow {
  name: string;
  value: string | null;
  type: string | null;
  writable: number | null;
  notification: number | null;
  access_list: string | null;
  object: number;
  updated_at: string;
}

interface TaskRow {
  id: number;
  device_id: string;
  type: string;
  payload: string;
  status: string;
  result: string | null;
  fault_code: number | null;
  fault_string: string | null;
  attempts: number;
  max_attempts: number;
  next_attempt_at: string | null;
  expires_at: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  connection_request: number;
}

interface SessionRow {
  id: number;
  device_id: string;
  started_at: string;
  ended_at: string | null;
  events: string;
  remote_address: string | null;
  cwmp_version: string | null;
  outcome: string;
  rpc_count: number;
  detail: string | null;
}

interface FaultRow {
  id: number;
  device_id: string;
  task_id: string | null;
  source: string;
  code: string;
  message: string;
  detail: string | null;
  at: string;
}

interface TokenRow {
  id: number;
  name: string;
  role: string;
  hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  detail: string | null;
}

function rowToDevice(r: DeviceRow): Device {
  return {
    id: r.id,
    manufacturer: r.manufacturer,
    oui: r.oui,
    productClass: r.product_class,
    serialNumber: r.serial_number,
    firstContact: r.first_contact,
    lastContact: r.last_contact,
    lastBoot: r.last_boot,
    lastBootstrap: r.last_bootstrap,
    sourceAddress: r.source_address,
    softwareVersion: r.software_version,
    hardwareVersion: r.hardware_version,
    connectionRequestUrl: r.connection_request_url,
    udpConnectionRequestAddress: r.udp_connection_request_address,
    cwmpVersion: r.cwmp_version,
    tags: JSON.parse(r.tags) as string[],
    credentials: {
      acsUsername: r.acs_username,
      acsPassword: r.acs_password,
      connectionRequestUsername: r.cr_username,
      connectionRequestPassword: r.cr_password,
    },
  };
}

function rowToParameter(r: ParameterRow): StoredParameter {
  return {
    name: r.name,
    value: r.value,
    type: r.type,
    writable: r.writable === null ? null : r.writable === 1,
    notification: r.notification,
    accessList: r.access_list === null ? null : (JSON.parse(r.access_list) as string[]),
    object: r.object === 1,
    updatedAt: r.updated_at,
  };
}

function parseJson(text: string | null): JsonValue | null {
  return text === null ? null : (JSON.parse(text) as JsonValue);
}

function rowToTask(r: TaskRow): Task {
  return {
    id: String(r.id),
    deviceId: r.device_id,
    type: r.type,
    payload: JSON.parse(r.payload) as JsonObject,
    status: r.status as TaskStatus,
    result: parseJson(r.result),
    faultCode: r.fault_code,
    faultString: r.fault_string,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    connectionRequest: r.connection_request === 1,
  };
}

function rowToSession(r: SessionRow): SessionRecord {
  return {
    id: String(r.id),
    deviceId: r.device_id,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    events: JSON.parse(r.events) as SessionRecord['events'],
    remoteAddress: r.remote_address,
    cwmpVersion: r.cwmp_version,
    outcome: r.outcome as SessionOutcome,
    rpcCount: r.rpc_count,
    detail: r.detail,
  };
}

function rowToFault(r: FaultRow): FaultRecord {
  return {
    id: String(r.id),
    deviceId: r.device_id,
    taskId: r.task_id,
    source: r.source as FaultSource,
    code: r.code,
    message: r.message,
    detail: parseJson(r.detail),
    at: r.at,
  };
}

function rowToToken(r: TokenRow): ApiToken {
  return {
    id: String(r.id),
    name: r.name,
    role: r.role as ApiRole,
    hash: r.hash,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

function rowToAudit(r: AuditRow): AuditEntry {
  return { id: String(r.id), at: r.at, actor: r.actor, action: r.action, target: r.target, detail: parseJson(r.detail) };
}

/** Parses a numeric id given as text; non-numeric ids simply match nothing. */
function numericId(id: string): number | null {
  return /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : null;
}

function json(value: JsonValue | undefined | null): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'running', 'done', 'failed', 'cancelled'];

/** Column of each optional DeviceWrite field. */
const DEVICE_WRITE_COLUMNS = {
  lastContact: 'last_contact',
  lastBoot: 'last_boot',
  lastBootstrap: 'last_bootstrap',
  sourceAddress: 'source_address',
  softwareVersion: 'software_version',
  hardwareVersion: 'hardware_version',
  connectionRequestUrl: 'connection_request_url',
  udpConnectionRequestAddress: 'udp_connection_request_address',
  cwmpVersion: 'cwmp_version',
} as const satisfies Partial<Record<keyof DeviceWrite, string>>;
type DeviceWriteField = keyof typeof DEVICE_WRITE_COLUMNS;
const DEVICE_WRITE_FIELDS = Object.keys(DEVICE_WRITE_COLUMNS) as DeviceWriteField[];

/** The DeviceWrite fields' columns of a row, from `contact` (null where it gives none). */
function contactColumns(contact: DeviceContact): Pick<DeviceRow, (typeof DEVICE_WRITE_COLUMNS)[DeviceWriteField]> {
  const columns: Partial<Record<(typeof DEVICE_WRITE_COLUMNS)[DeviceWriteField], string | null>> = {};
  for (const f of DEVICE_WRITE_FIELDS) columns[DEVICE_WRITE_COLUMNS[f]] = contact[f] ?? null;
  return columns as Pick<DeviceRow, (typeof DEVICE_WRITE_COLUMNS)[DeviceWriteField]>;
}

const PARAMETER_WRITE_COLUMNS = {
  value: 'value',
  type: 'type',
  writable: 'writable',
  notification: 'notification',
  accessList: 'access_list',
} as const;
type ParameterWriteField = keyof typeof PARAMETER_WRITE_COLUMNS;
const PARAMETER_WRITE_FIELDS = Object.keys(PARAMETER_WRITE_COLUMNS) as ParameterWriteField[];

const TASK_UPDATE_COLUMNS = {
  status: 'status',
  result: 'result',
  faultCode: 'fault_code',
  faultString: 'fault_string',
  attempts: 'attempts',
  nextAttemptAt: 'next_attempt_at',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
} as const;
type TaskUpdateField = keyof typeof TASK_UPDATE_COLUMNS;
const TASK_UPDATE_FIELDS = Object.keys(TASK_UPDATE_COLUMNS) as TaskUpdateField[];

/** The UPDATE of a task's given fields (named parameters: the fields and `id`). */
function taskUpdateSql(present: readonly TaskUpdateField[]): string {
  return `UPDATE tasks SET ${present.map((f) => `${TASK_UPDATE_COLUMNS[f]} = @${f}`).join(', ')} WHERE id = @id`;
}

/** The column value of a ParameterWrite field (booleans as 0/1, access lists as JSON). */
function parameterColumnValue(p: ParameterWrite, f: ParameterWriteField): string | number | null {
  const v = p[f];
  if (v === undefined || v === null) return null;
  if (f === 'writable') return v ? 1 : 0;
  if (f === 'accessList') return JSON.stringify(v);
  return v as string | number;
}

/** The stored row already holds every field the write gives (fields left undefined keep theirs). */
function sameParameter(row: ParameterRow, p: ParameterWrite): boolean {
  for (const f of PARAMETER_WRITE_FIELDS) {
    if (p[f] === undefined) continue;
    if (row[PARAMETER_WRITE_COLUMNS[f]] !== parameterColumnValue(p, f)) return false;
  }
  return true;
}

/** Index entries a selectivity probe reads at most (see `planDeviceQuery`). */
const DRIVER_PROBE_LIMIT = 10_000;

/** Devices whose recent reads are remembered (well above the sessions in flight of one ACS). */
const RECENT_DEVICES = 2048;
/** SQLite page cache bound per connection (MiB), see `SqliteStoreOptions.cacheMiB`. */
export const DEFAULT_CACHE_MIB = 64;
/** Group commits before the background checkpointer starts (see `SqliteStoreOptions.checkpointWorker`). */
const DEFAULT_CHECKPOINT_AFTER_COMMITS = 100;
/** Device ids `knownDevices` keeps (well above the devices created in one burst of sessions). */
const KNOWN_DEVICES = 16_384;
/** Larger by-name reads are not remembered (an Inform carries a handful of names). */
const RECENT_PARAMETERS_MAX_NAMES = 256;

/** A FaultQuery time bound as a UTC ISO string. @throws StoreError `invalid` for anything else than an ISO timestamp with a zone. */
function faultTimeBound(value: string, field: string): string {
  return new Date(isoParam(value, field)).toISOString();
}

/**
 * `Store` on one SQLite file. Create it with `openSqliteStore`.
 */
export class SqliteStore implements Store {
  readonly name: string;
  private readonly db: Database.Database;
  private readonly clock: () => number;
  private closed = false;
  /** Writes waiting for the next group commit. */
  private queued: QueuedWrite[] = [];
  private flushScheduled = false;
  /** Statement cache for statements whose text depends on which optional fields are present. */
  private readonly dynamic = new Map<string, Database.Statement>();
  private readonly s: ReturnType<SqliteStore['prepareStatements']>;
  /**
   * Runs its argument in a transaction (a SAVEPOINT when one is open). Created once: better-sqlite3
   * builds four wrapper functions and their properties per `db.transaction(fn)` call, which cost
   * 2% of the ACS's CPU when the group commit made one per queued write (sessions bench profile).
   */
  private readonly inTransaction: <T>(fn: () => T) => T;

  private readonly groupCommit: boolean;
  /**
   * Parameter rows recently read by name, per device (name -> row, null = not stored), most recent
   * last; see `rememberParameters`.
   */
  private readonly recentParameters = new RecentMap<string, Map<string, ParameterRow | null>>(RECENT_DEVICES);
  /**
   * Device rows recently read by `getDevice` or written by `createDevice` (see `rememberParameters`;
   * rows learnt inside a group commit are forgotten when it rolls back: `uncommitted`).
   */
  private readonly recentDevices = new RecentMap<string, DeviceRow>(RECENT_DEVICES);
  /**
   * Ids of devices known to exist (read by `getDevice`, written by `createDevice` or a session
   * commit; `deleteDevice` drops them): `createTask` then skips its existence query (a storm creates
   * two tasks per new device). Bounded: a forgotten id only costs that query again. Same
   * single-writer assumption as the locks.
   */
  private readonly knownDevices = new RecentMap<string, true>(KNOWN_DEVICES);
  /**
   * Devices whose entries in `recentDevices`/`knownDevices` were added by writes of the open
   * transaction, in order: forgotten when those writes roll back (`forgetUncommitted`), since the
   * caches must only ever hold committed state. Emptied at each COMMIT.
   */
  private readonly uncommitted: string[] = [];
  /**
   * Devices that may have pending or running tasks: a superset (an entry goes only when a read
   * finds none), loaded on first use. Lets `tasksToRun` answer a periodic session of a device
   * without tasks (the common case) without a query. Same single-writer assumption as the locks.
   * A holder object, never reassigned: an object wrapping the store (`Object.create(store)`, as
   * tests do) then shares the set instead of shadowing it.
   */
  private readonly runnable: { devices: Set<string> | null } = { devices: null };
  /** Session locks (see the module comment): device id -> holder and expiry (ms). */
  private readonly locks = new Map<string, { owner: string; expiresAt: number }>();

  /**
   * The open connection, for the provisioning tables that live in the same file
   * (src/store/provisioning/sqlite.ts): one connection instead of two matters because SQLite
   * drops a connection's whole page cache whenever ANOTHER connection committed since its last
   * read, so two connections taking turns (the session hooks read provisioning tables between
   * core commits) re-read every page from the OS on every query (~8x slower reads, measured in
   * bench/sessions.bench.ts). Never close it: `close()` does.
   */
  get connection(): Database.Database {
    return this.db;
  }

  /** The database file path (`:memory:` for an in-memory store). */
  get file(): string {
    return this.name.slice('sqlite:'.length);
  }

  /** The background checkpointer, once started (see `SqliteStoreOptions.checkpointWorker`). */
  private checkpointer: BackgroundCheckpointer | null = null;
  private replays = 0;
  /** When to start it: null = never (in-memory database, or turned off). */
  private readonly checkpointPlan: Required<CheckpointWorkerOptions> | null;
  private commits = 0;

  constructor(db: Database.Database, name: string, clock: () => number, groupCommit = true, checkpointWorker: false | CheckpointWorkerOptions = false) {
    this.db = db;
    this.name = name;
    this.clock = clock;
    this.groupCommit = groupCommit;
    this.s = this.prepareStatements();
    const tx = db.transaction((fn: () => unknown) => fn());
    this.inTransaction = <T>(fn: () => T): T => tx(fn) as T;
    this.checkpointPlan =
      checkpointWorker === false || this.file === ':memory:'
        ? null
        : { afterCommits: checkpointWorker.afterCommits ?? DEFAULT_CHECKPOINT_AFTER_COMMITS, intervalMs: checkpointWorker.intervalMs ?? 200 };
    if (this.checkpointPlan?.afterCommits === 0) this.startCheckpointer();
  }

  /** The background checkpointer, when it runs (tests and diagnostics). */
  get backgroundCheckpointer(): BackgroundCheckpointer | null {
    return this.checkpointer;
  }

  private startCheckpointer(): void {
    const plan = this.checkpointPlan;
    if (!plan || this.checkpointer || this.closed) return;
    this.checkpointer = new BackgroundCheckpointer(this.db, this.file, { intervalMs: plan.intervalMs });
  }

  private prepareStatements() {
    const db = this.db;
    return {
      getDevice: db.prepare<[string], DeviceRow>('SELECT * FROM devices WHERE id = ?'),
      deviceExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM devices WHERE id = ?'),
      // every column, bound by name from a DeviceRow
      insertDevice: db.prepare<[DeviceRow]>(
        `INSERT INTO devices (${DEVICE_COLUMNS.join(', ')}) VALUES (${DEVICE_COLUMNS.map((c) => `@${c}`).join(', ')})`,
      ),
      setDeviceTags: db.prepare('UPDATE devices SET tags = ? WHERE id = ?'),
      setDeviceCredentials: db.prepare(
        'UPDATE devices SET acs_username = @acsUsername, acs_password = @acsPassword, cr_username = @crUsername, cr_password = @crPassword WHERE id = @id',
      ),
      deleteTagsOf: db.prepare('DELETE FROM device_tags WHERE device_id = ?'),
      insertTag: db.prepare('INSERT OR IGNORE INTO device_tags (device_id, tag) VALUES (?, ?)'),
      deleteDevice: db.prepare('DELETE FROM devices WHERE id = ?'),
      deleteParametersOf: db.prepare('DELETE FROM parameters WHERE device_id = ?'),
      deleteTasksOf: db.prepare('DELETE FROM tasks WHERE device_id = ?'),
      deleteSessionsOf: db.prepare('DELETE FROM sessions WHERE device_id = ?'),
      deleteFaultsOf: db.prepare('DELETE FROM faults WHERE device_id = ?'),

      allParameters: db.prepare<[string], ParameterRow>(
        'SELECT name, value, type, writable, notification, access_list, object, updated_at FROM parameters WHERE device_id = ? ORDER BY name',
      ),
      parametersByPrefix: db.prepare<[string, string, string], ParameterRow>(
        `SELECT name, value, type, writable, notification, access_list, object, updated_at FROM parameters
         WHERE device_id = ? AND name >= ? AND name < ? ORDER BY name`,
      ),
      parameterByName: db.prepare<[string, string], ParameterRow>(
        'SELECT name, value, type, writable, notification, access_list, object, updated_at FROM parameters WHERE device_id = ? AND name = ?',
      ),
      // one statement for a list of names (a JSON array): each native call costs more than the
      // lookups it makes, and a session reads or compares its Inform's parameters as a set
      parametersByNames: db.prepare<[string, string], ParameterRow>(
        `SELECT name, value, type, writable, notification, access_list, object, updated_at FROM parameters
         WHERE device_id = ? AND name IN (SELECT value FROM json_each(?)) ORDER BY name`,
      ),
      driverProbe: db.prepare<[string, string, number], { n: number }>(DRIVER_PROBE_SQL),
      touchParameter: db.prepare<[string, string, string]>('UPDATE parameters SET updated_at = ? WHERE device_id = ? AND name = ?'),
      touchParameters: db.prepare<[string, string, string]>(
        'UPDATE parameters SET updated_at = ? WHERE device_id = ? AND name IN (SELECT value FROM json_each(?))',
      ),
      parameterNamesByPrefix: db.prepare<[string, string, string], { name: string }>(
        'SELECT name FROM parameters WHERE device_id = ? AND name >= ? AND name < ?',
      ),
      deleteParameter: db.prepare('DELETE FROM parameters WHERE device_id = ? AND name = ?'),
      deleteParametersByPrefix: db.prepare('DELETE FROM parameters WHERE device_id = ? AND name >= ? AND name < ?'),

      insertTask: db.prepare(
        `INSERT INTO tasks (device_id, type, payload, status, attempts, max_attempts, expires_at, created_at, started_at, connection_request)
         VALUES (@deviceId, @type, @payload, @status, @attempts, @maxAttempts, @expiresAt, @createdAt, @startedAt, @connectionRequest)`,
      ),
      getTask: db.prepare<[number], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
      devicesWithRunnableTasks: db.prepare<[], { device_id: string }>(
        "SELECT DISTINCT device_id FROM tasks WHERE status IN ('pending', 'running')",
      ),
      tasksToRun: db.prepare<[string], TaskRow>(
        "SELECT * FROM tasks WHERE device_id = ? AND status IN ('pending', 'running') ORDER BY id",
      ),
      cancelTask: db.prepare(
        "UPDATE tasks SET status = 'cancelled', finished_at = ? WHERE id = ? AND status IN ('pending', 'running')",
      ),

      insertSession: db.prepare(
        `INSERT INTO sessions (device_id, started_at, ended_at, events, remote_address, cwmp_version, outcome, rpc_count, detail)
         VALUES (@deviceId, @startedAt, @endedAt, @events, @remoteAddress, @cwmpVersion, @outcome, @rpcCount, @detail)`,
      ),
      insertFault: db.prepare(
        `INSERT INTO faults (device_id, task_id, source, code, message, detail, at)
         VALUES (@deviceId, @taskId, @source, @code, @message, @detail, @at)`,
      ),

      clearLocks: db.prepare('DELETE FROM session_locks'),

      insertToken: db.prepare('INSERT INTO api_tokens (name, role, hash, created_at) VALUES (?, ?, ?, ?)'),
      getToken: db.prepare<[number], TokenRow>('SELECT * FROM api_tokens WHERE id = ?'),
      tokenByHash: db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE hash = ?'),
      listTokens: db.prepare<[], TokenRow>('SELECT * FROM api_tokens ORDER BY id'),
      touchToken: db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?'),
      revokeToken: db.prepare('UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?'),

      insertAudit: db.prepare('INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)'),
      getAudit: db.prepare<[number], AuditRow>('SELECT * FROM audit WHERE id = ?'),
    };
  }

  /**
   * Runs a synchronous write on `connection` in the next group commit (the provisioning tables
   * of the same file use it for their per-session writes). Same contract as the store's own writes:
   * resolves with fn's result after the COMMIT; rejects with fn's error (fn's changes rolled back
   * alone, the batch's other writes commit) or the COMMIT's. fn may run TWICE: when another write of
   * its batch fails, the whole batch is rolled back and replayed (see `flush`), so fn must leave no
   * in-memory effect that a rollback of its SQL changes would make wrong.
   */
  groupWrite<T>(fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'store is closed'));
    return this.write(fn);
  }

  /**
   * Runs a synchronous read on `connection`: inside the pending group commit when one is queued,
   * else at once. A statement outside a transaction takes and releases SQLite's file locks (fcntl
   * calls: 18 to 28 us for a one-row read, measured) where inside one it costs about 1 us, and a
   * busy ACS always has a group commit pending. Joined to a batch, the read answers the state after
   * the writes queued before it, once they are committed (it resolves after the COMMIT); when that
   * COMMIT fails, `alone` (default `fn`) runs on its own instead. fn may run more than once (see
   * `groupWrite`); it must not write.
   */
  groupRead<T>(fn: () => T, alone: () => T = fn): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'store is closed'));
    if (!this.flushScheduled) {
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.write(fn).catch(() => alone());
  }

  /**
   * Queues a write for the next group commit; resolves with its result after the COMMIT, rejects with
   * its own error (its changes rolled back) or with the COMMIT's error.
   */
  private write<T>(fn: () => T): Promise<T> {
    if (!this.groupCommit) {
      try {
        const value = this.inTransaction(fn);
        this.uncommitted.length = 0;
        return Promise.resolve(value);
      } catch (err) {
        this.forgetUncommitted(0);
        return Promise.reject(err);
      }
    }
    return new Promise<T>((resolve, reject) => {
      this.queued.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits the queued writes in ONE transaction. Optimistic: the writes run one after the other
   * straight in the transaction (no savepoint each: a SAVEPOINT and RELEASE per write were a quarter
   * of the statements of a storm, and each savepoint's statement journal copied every page its write
   * touched). When a write throws, the whole transaction is rolled back and the batch replayed with
   * a savepoint per write, so that the failing write is undone alone and only its promise rejects.
   */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.queued;
    this.queued = [];
    if (batch.length === 0) return;
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.runBatch(batch);
    } catch (error) {
      // BEGIN or COMMIT failed: nothing of the batch is stored
      this.forgetUncommitted(0);
      for (const item of batch) item.reject(error);
      return;
    }
    this.uncommitted.length = 0;
    if (this.checkpointer === null && this.checkpointPlan !== null && ++this.commits >= this.checkpointPlan.afterCommits) this.startCheckpointer();
    batch.forEach((item, i) => {
      const r = outcomes[i];
      if (r.ok) item.resolve(r.value);
      else item.reject(r.error);
    });
  }

  /**
   * Runs and commits a batch (see `flush`); returns each write's outcome. Throws only when the
   * transaction itself fails (BEGIN, COMMIT), after rolling it back.
   */
  private runBatch(batch: readonly QueuedWrite[]): WriteOutcome[] {
    const values: unknown[] = [];
    let failure: { error: unknown } | null = null;
    try {
      this.inTransaction(() => {
        for (const item of batch) {
          try {
            values.push(item.fn());
          } catch (error) {
            failure = { error };
            throw error;
          }
        }
      });
      return values.map((value) => ({ ok: true, value }));
    } catch (error) {
      if (failure === null) throw error;
    }
    // a write failed and the transaction was rolled back (by the wrapper, or by SQLite itself)
    this.forgetUncommitted(0);
    // alone in its batch: its own rollback is done, nothing to replay
    if (batch.length === 1) return [{ ok: false, error: (failure as { error: unknown }).error }];
    this.replays++;
    const outcomes: WriteOutcome[] = [];
    this.inTransaction(() => {
      for (const item of batch) {
        const mark = this.uncommitted.length;
        try {
          // a nested transaction is a SAVEPOINT: on error only this write is undone
          outcomes.push({ ok: true, value: this.inTransaction(item.fn) });
        } catch (error) {
          this.forgetUncommitted(mark);
          // SQLite itself rolled the whole transaction back (SQLITE_FULL, IOERR, NOMEM): the rest
          // must not run outside it; the batch fails as a whole
          if (!this.db.inTransaction) throw error;
          outcomes.push({ ok: false, error });
        }
      }
    });
    return outcomes;
  }

  /** Batches replayed with a savepoint per write since the store opened (tests and diagnostics). */
  get replayedBatches(): number {
    return this.replays;
  }

  /** Inside a write: device `id` exists (with this row, when given), unless the write rolls back. */
  private noteDevice(id: string, row?: DeviceRow): void {
    this.knownDevices.set(id, true);
    if (row !== undefined) this.recentDevices.set(id, row);
    this.uncommitted.push(id);
  }

  /** Drops the cache entries added by the rolled-back writes (`uncommitted` from index `from` on). */
  private forgetUncommitted(from: number): void {
    for (let i = from; i < this.uncommitted.length; i++) {
      this.knownDevices.delete(this.uncommitted[i]);
      this.recentDevices.delete(this.uncommitted[i]);
    }
    this.uncommitted.length = from;
  }

  private nowIso(): IsoTimestamp {
    return new Date(this.clock()).toISOString();
  }

  private open(): void {
    if (this.closed) throw new StoreError('unavailable', 'store is closed');
  }

  /** Caches a statement whose SQL text is built from a key (the set of present optional fields). */
  private dynamicStatement(key: string, build: () => string): Database.Statement {
    let st = this.dynamic.get(key);
    if (!st) {
      st = this.db.prepare(build());
      this.dynamic.set(key, st);
    }
    return st;
  }

  // Devices -------------------------------------------------------------------------------------

  async getDevice(id: string): Promise<Device | null> {
    this.open();
    if (this.flushScheduled) {
      // a busy ACS (every Inform reads its device): joins the pending group commit, see groupRead
      const row = await this.groupRead(
        () => {
          const r = this.s.getDevice.get(id);
          if (r) this.noteDevice(id, r);
          return r ?? null;
        },
        () => this.s.getDevice.get(id) ?? null,
      );
      return row ? rowToDevice(row) : null;
    }
    const row = this.s.getDevice.get(id);
    if (!row) return null;
    // provisioning reads the device at the Inform; the session commit then compares against this row
    if (!this.db.inTransaction) {
      this.recentDevices.set(id, row);
      this.knownDevices.set(id, true);
    }
    return rowToDevice(row);
  }

  async createDevice(input: NewDevice): Promise<Device> {
    this.open();
    const id = `${input.oui}-${input.productClass}-${input.serialNumber}`;
    if (!input.oui || !input.productClass || !input.serialNumber) {
      throw new StoreError('invalid', 'oui, productClass and serialNumber are required');
    }
    const tags = normaliseTags(input.tags ?? []);
    const c = input.credentials ?? {};
    const contact = input.contact ?? {};
    // The row as inserted: returned and remembered without reading it back (provisioning
    // registers every unknown device at its first Inform, with what the Inform tells, and the
    // session commit that follows compares against this row: nothing left to update).
    const row: DeviceRow = {
      id,
      manufacturer: input.manufacturer,
      oui: input.oui,
      product_class: input.productClass,
      serial_number: input.serialNumber,
      first_contact: contact.lastContact ?? null,
      ...contactColumns(contact),
      tags: JSON.stringify(tags),
      acs_username: c.acsUsername ?? null,
      acs_password: c.acsPassword ?? null,
      cr_username: c.connectionRequestUsername ?? null,
      cr_password: c.connectionRequestPassword ?? null,
    };
    // group-committed: a storm registers every new device; no existence query, the key decides
    await this.write(() => {
      try {
        this.s.insertDevice.run(row);
      } catch (err) {
        if (isPrimaryKeyViolation(err)) throw new StoreError('conflict', `device ${id} exists`);
        throw err;
      }
      for (const t of tags) this.s.insertTag.run(id, t);
      this.noteDevice(id, row);
    });
    return rowToDevice(row);
  }

  async updateDevice(id: string, patch: DevicePatch): Promise<Device | null> {
    this.open();
    const tags = patch.tags === undefined ? undefined : normaliseTags(patch.tags);
    const found = this.db.transaction(() => {
      this.recentDevices.delete(id);
      const row = this.s.getDevice.get(id);
      if (!row) return false;
      if (tags !== undefined) {
        this.s.setDeviceTags.run(JSON.stringify(tags), id);
        this.s.deleteTagsOf.run(id);
        for (const t of tags) this.s.insertTag.run(id, t);
      }
      if (patch.credentials !== undefined) {
        const c = patch.credentials;
        const pick = (v: string | null | undefined, old: string | null) => (v === undefined ? old : v);
        this.s.setDeviceCredentials.run({
          id,
          acsUsername: pick(c.acsUsername, row.acs_username),
          acsPassword: pick(c.acsPassword, row.acs_password),
          crUsername: pick(c.connectionRequestUsername, row.cr_username),
          crPassword: pick(c.connectionRequestPassword, row.cr_password),
        });
      }
      return true;
    })();
    return found ? rowToDevice(this.s.getDevice.get(id)!) : null;
  }

  async addTags(id: string, tags: string[]): Promise<Device | null> {
    return this.changeTags(id, normaliseTags(tags), []);
  }

  async removeTags(id: string, tags: string[]): Promise<Device | null> {
    return this.changeTags(id, [], tags);
  }

  /** Reads and writes the tag list in one transaction: a concurrent change cannot be lost. */
  private changeTags(id: string, add: string[], remove: string[]): Device | null {
    this.open();
    const found = this.db.transaction(() => {
      this.recentDevices.delete(id);
      const row = this.s.getDevice.get(id);
      if (!row) return false;
      const drop = new Set(remove);
      const next = normaliseTags([...(JSON.parse(row.tags) as string[]), ...add].filter((t) => !drop.has(t)));
      this.s.setDeviceTags.run(JSON.stringify(next), id);
      this.s.deleteTagsOf.run(id);
      for (const t of next) this.s.insertTag.run(id, t);
      return true;
    })();
    return found ? rowToDevice(this.s.getDevice.get(id)!) : null;
  }

  async deleteDevice(id: string): Promise<boolean> {
    this.open();
    return this.db.transaction(() => {
      this.recentDevices.delete(id);
      this.recentParameters.delete(id);
      this.knownDevices.delete(id);
      const changes = this.s.deleteDevice.run(id).changes;
      if (changes === 0) return false;
      this.s.deleteTagsOf.run(id);
      this.s.deleteParametersOf.run(id);
      this.s.deleteTasksOf.run(id);
      this.s.deleteSessionsOf.run(id);
      this.s.deleteFaultsOf.run(id);
      this.locks.delete(id);
      return true;
    })();
  }

  /**
   * Picks the `eq` parameter condition that drives a device query (device-query.ts): the only
   * one, or among several the one matching the fewest devices (each probe stops after
   * DRIVER_PROBE_LIMIT index entries).
   */
  private planDeviceQuery(query: Pick<DeviceQuery, 'parameters'>): DeviceQueryPlan {
    const candidates = (query.parameters ?? []).map((c, i) => ({ c, i })).filter(({ c }) => canDrive(c));
    if (candidates.length === 0) return {};
    if (candidates.length === 1) return { driver: candidates[0].i };
    let best = { i: candidates[0].i, n: Number.POSITIVE_INFINITY };
    for (const { c, i } of candidates) {
      const n = this.s.driverProbe.get(c.name, String(c.value), DRIVER_PROBE_LIMIT)!.n;
      if (n < best.n) best = { i, n };
    }
    return { driver: best.i };
  }

  async queryDevices(query: DeviceQuery): Promise<DevicePage> {
    this.open();
    const built = buildDeviceQuery(query, this.planDeviceQuery(query));
    const rows = this.db.prepare<unknown[], DeviceRow>(built.pageSql).all(...built.pageParams);
    const hasMore = rows.length > built.limit;
    const devices = rows.slice(0, built.limit).map(rowToDevice);
    const page: DevicePage = { devices, nextCursor: hasMore ? built.cursorOf(devices[devices.length - 1]) : null };
    if (query.count) {
      page.total = (this.db.prepare<unknown[], { n: number }>(built.countSql).get(...built.countParams) as { n: number }).n;
    }
    return page;
  }

  async countDevices(query: Omit<DeviceQuery, 'sort' | 'limit' | 'offset' | 'cursor' | 'count'>): Promise<number> {
    this.open();
    const built = buildDeviceQuery(query, this.planDeviceQuery(query));
    return (this.db.prepare<unknown[], { n: number }>(built.countSql).get(...built.countParams) as { n: number }).n;
  }

  // Parameters ----------------------------------------------------------------------------------

  async getParameters(deviceId: string, selection: ParameterSelection = {}): Promise<StoredParameter[]> {
    this.open();
    let rows: ParameterRow[];
    if (selection.names !== undefined) {
      const names = selection.prefix === undefined ? selection.names : selection.names.filter((n) => n.startsWith(selection.prefix!));
      if (names.length === 0) rows = [];
      else if (names.length === 1) {
        const r = this.s.parameterByName.get(deviceId, names[0]);
        rows = r ? [r] : [];
      } else rows = this.s.parametersByNames.all(deviceId, JSON.stringify(names));
      this.rememberParameters(deviceId, names, rows);
    } else if (selection.prefix !== undefined && selection.prefix !== '') {
      rows = this.s.parametersByPrefix.all(deviceId, selection.prefix, selection.prefix + MAX_CHAR);
    } else {
      rows = this.s.allParameters.all(deviceId);
    }
    return rows.map(rowToParameter);
  }

  /**
   * Remembers the rows a by-name read returned (and which names are not stored), so that the
   * session commit that follows can compare the same names without reading them again: during a
   * session the Inform's parameters are read by provisioning (history of changed values) and then
   * by the commit (which of them changed). Valid because this process is the only writer of the
   * file (see the module comment) and every parameter write of a device drops its entry first
   * (`writeParameters`, `deleteParameters`, `deleteDevice`). Only parameter reads outside a
   * transaction are remembered: a read inside one may see writes that are rolled back later. Device
   * rows are also learnt inside a group commit (`getDevice` joined to it, `createDevice`): those
   * entries are listed in `uncommitted` and dropped when the commit rolls back (`forgetUncommitted`);
   * provisioning reads the device at the Inform and the commit's `upsertDevice` compares against it.
   */
  private rememberParameters(deviceId: string, names: readonly string[], rows: readonly ParameterRow[]): void {
    if (this.db.inTransaction || names.length > RECENT_PARAMETERS_MAX_NAMES) return;
    const entry = this.recentParameters.get(deviceId) ?? new Map<string, ParameterRow | null>();
    for (const n of names) entry.set(n, null);
    for (const r of rows) entry.set(r.name, r);
    this.recentParameters.set(deviceId, entry);
  }

  // Sessions ------------------------------------------------------------------------------------

  async commitSession(commit: SessionCommit): Promise<SessionCommitResult> {
    this.open();
    validateDeviceWrite(commit.device);
    const done = this.write((): SessionCommitResult => {
      const created = this.upsertDevice(commit.device);
      for (const d of commit.parameterDeletes ?? []) this.deleteParameters(commit.device.id, d);
      this.writeParameters(commit.device.id, commit.parameters ?? [], commit.parameterDeletes ?? [], commit.at);
      for (const u of commit.taskUpdates ?? []) this.applyTaskUpdate(u);
      for (const f of commit.faults ?? []) this.insertFault(f);
      let sessionId: string | null = null;
      if (commit.session) sessionId = this.insertSession(commit.session);
      return { sessionId, created };
    });
    if (!commit.releaseLock) return done;
    const { owner } = commit.releaseLock;
    // released once the commit is durable (a failed commit keeps the lock, as a rolled-back DELETE did)
    return done.then((r) => {
      this.releaseLock(commit.device.id, owner);
      return r;
    });
  }

  /**
   * Creates the device or updates what changed. An existing device is read first and only the
   * columns whose value differs are written: a periodic Inform changes little more than
   * last_contact, and an UPDATE naming an indexed column rewrites that index entry even when the
   * value is the same (six indexes on devices), which made this the costliest write of a session.
   */
  private upsertDevice(w: DeviceWrite): boolean {
    const present = DEVICE_WRITE_FIELDS.filter((f) => w[f] !== undefined);
    const row = this.recentDevices.take(w.id) ?? this.s.getDevice.get(w.id);
    if (row) {
      const changes: Record<string, string | null> = {};
      const set = (column: keyof DeviceRow, value: string | null) => {
        if (row[column] !== value) changes[column] = value;
      };
      set('manufacturer', w.manufacturer);
      set('oui', w.oui);
      set('product_class', w.productClass);
      set('serial_number', w.serialNumber);
      if (row.first_contact === null && w.lastContact !== undefined) set('first_contact', w.lastContact);
      for (const f of present) set(DEVICE_WRITE_COLUMNS[f], w[f] as string | null);
      this.noteDevice(w.id);
      const columns = Object.keys(changes);
      if (columns.length === 0) return false;
      const st = this.dynamicStatement(`device-update:${columns.join(',')}`, () => `UPDATE devices SET ${columns.map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id`);
      st.run({ ...changes, id: w.id });
      return false;
    }
    const st = this.dynamicStatement(`device-insert:${present.join(',')}`, () => {
      const cols = present.map((f) => DEVICE_WRITE_COLUMNS[f]);
      const insertCols = ['id', 'manufacturer', 'oui', 'product_class', 'serial_number', 'first_contact', ...cols];
      const insertVals = ['@id', '@manufacturer', '@oui', '@productClass', '@serialNumber', present.includes('lastContact') ? '@lastContact' : 'NULL', ...present.map((f) => `@${f}`)];
      return `INSERT INTO devices (${insertCols.join(', ')}) VALUES (${insertVals.join(', ')})`;
    });
    const params: Record<string, string | null> = {
      id: w.id,
      manufacturer: w.manufacturer,
      oui: w.oui,
      productClass: w.productClass,
      serialNumber: w.serialNumber,
    };
    for (const f of present) params[f] = w[f] as string | null;
    st.run(params);
    this.noteDevice(w.id);
    return true;
  }

  private deleteParameters(deviceId: string, d: ParameterDelete): void {
    this.recentParameters.delete(deviceId);
    if (!d.prefix.endsWith('.') && d.prefix !== '') throw new StoreError('invalid', `delete prefix must end with "." (${d.prefix})`);
    const upper = d.prefix + MAX_CHAR;
    if (!d.except || d.except.length === 0) {
      this.s.deleteParametersByPrefix.run(deviceId, d.prefix, upper);
      return;
    }
    const keep = new Set(d.except);
    for (const { name } of this.s.parameterNamesByPrefix.all(deviceId, d.prefix, upper)) {
      if (!keep.has(name)) this.s.deleteParameter.run(deviceId, name);
    }
  }

  /**
   * Writes a session's parameters. What the device reports unchanged (most of a periodic Inform)
   * only gets `updated_at` touched, in one statement for all of them: an UPDATE of that column
   * alone leaves the (name, value) index alone, where an upsert rewrites the entry at a random
   * page of the index. The stored rows are read in one statement to tell which changed; names
   * under a sub-tree the same commit deleted (`deletes` without `except`) are known to be new.
   */
  private writeParameters(deviceId: string, writes: ParameterWrite[], deletes: ParameterDelete[], at: IsoTimestamp): void {
    if (writes.length === 0) return;
    // One write per name: later writes of a name override the fields they give (what applying them
    // in order would leave). A provisioning session writes the same names up to three times (read,
    // set, verify).
    const byName = new Map<string, ParameterWrite>();
    for (const p of writes) {
      if (!p.name) throw new StoreError('invalid', 'parameter name is empty');
      const earlier = byName.get(p.name);
      if (!earlier) byName.set(p.name, p);
      else {
        const both: ParameterWrite = { ...earlier };
        for (const f of PARAMETER_WRITE_FIELDS) if (p[f] !== undefined) (both as unknown as Record<string, unknown>)[f] = p[f];
        byName.set(p.name, both);
      }
    }
    const merged = [...byName.values()];
    const wiped = deletes.filter((d) => !d.except || d.except.length === 0).map((d) => d.prefix);
    const maybeStored = merged.filter((p) => !wiped.some((w) => p.name.startsWith(w))).map((p) => p.name);
    const stored = new Map<string, ParameterRow>();
    const recent = this.recentParameters.take(deviceId);
    if (recent && maybeStored.every((n) => recent.has(n))) {
      for (const n of maybeStored) {
        const r = recent.get(n);
        if (r) stored.set(n, r);
      }
    } else if (maybeStored.length === 1) {
      const r = this.s.parameterByName.get(deviceId, maybeStored[0]);
      if (r) stored.set(r.name, r);
    } else if (maybeStored.length > 1) {
      for (const r of this.s.parametersByNames.all(deviceId, JSON.stringify(maybeStored))) stored.set(r.name, r);
    }
    const unchanged: string[] = [];
    // the writes to store, by the set of fields they give (one statement per set)
    const changed = new Map<string, { present: ParameterWriteField[]; writes: ParameterWrite[] }>();
    for (const p of merged) {
      const row = stored.get(p.name);
      if (row && sameParameter(row, p)) {
        unchanged.push(p.name);
        continue;
      }
      const present = PARAMETER_WRITE_FIELDS.filter((f) => p[f] !== undefined);
      const key = present.join(',');
      const group = changed.get(key);
      if (group) group.writes.push(p);
      else changed.set(key, { present, writes: [p] });
    }
    for (const [key, { present, writes: group }] of changed) this.upsertParameters(deviceId, group, at, key, present);
    if (unchanged.length === 1) this.s.touchParameter.run(at, deviceId, unchanged[0]);
    else if (unchanged.length > 1) this.s.touchParameters.run(at, deviceId, JSON.stringify(unchanged));
  }

  /**
   * Upserts parameters that all give the same fields (`present`, joined in `key`): one prepared
   * single-row statement, run per row with one reused array of positional values. Not a multi-row
   * INSERT: SQLite runs a statement that writes several rows and may fail half-way (NOT NULL, STRICT
   * types) with a statement journal, a copy of every page it changes, which for 16 KiB pages cost
   * more than the calls saved (a new device of a storm stores 17 parameters: about 6.7 against
   * 4.2 us per row in a storm-like insert loop with this table and its value index).
   */
  private upsertParameters(deviceId: string, writes: readonly ParameterWrite[], at: IsoTimestamp, key: string, present: readonly ParameterWriteField[]): void {
    const st = this.dynamicStatement(`param:${key}`, () => {
      const cols = present.map((f) => PARAMETER_WRITE_COLUMNS[f]);
      return `INSERT INTO parameters (device_id, name, object, updated_at${cols.map((c) => `, ${c}`).join('')})
              VALUES (?, ?, ?, ?${', ?'.repeat(present.length)})
              ON CONFLICT (device_id, name) DO UPDATE SET updated_at = excluded.updated_at${cols.map((c) => `, ${c} = excluded.${c}`).join('')}`;
    });
    const args: (string | number | null)[] = [deviceId, '', 0, at];
    for (const p of writes) {
      args[1] = p.name;
      args[2] = p.name.endsWith('.') ? 1 : 0;
      for (let i = 0; i < present.length; i++) args[4 + i] = parameterColumnValue(p, present[i]);
      st.run(args);
    }
  }

  private applyTaskUpdate(u: TaskUpdate): void {
    const id = numericId(u.id);
    if (id === null) return;
    if (u.status !== undefined && !TASK_STATUSES.includes(u.status)) throw new StoreError('invalid', `unknown task status ${u.status}`);
    const present = TASK_UPDATE_FIELDS.filter((f) => u[f] !== undefined);
    if (present.length === 0) return;
    const params: Record<string, string | number | null> = { id };
    for (const f of present) params[f] = f === 'result' ? json(u.result) : (u[f] as string | number | null);
    const runnable = this.runnable.devices;
    if (runnable !== null && (u.status === 'pending' || u.status === 'running')) {
      // the task's device becomes runnable: the UPDATE tells it (no second statement to look it up)
      const st = this.dynamicStatement(`task-returning:${present.join(',')}`, () => `${taskUpdateSql(present)} RETURNING device_id`);
      const row = st.get(params) as { device_id: string } | undefined;
      if (row) runnable.add(row.device_id);
      return;
    }
    this.dynamicStatement(`task:${present.join(',')}`, () => taskUpdateSql(present)).run(params);
  }

  private insertFault(f: NewFaultRecord): string {
    const r = this.s.insertFault.run({
      deviceId: f.deviceId,
      taskId: f.taskId,
      source: f.source,
      code: f.code,
      message: f.message,
      detail: json(f.detail),
      at: f.at,
    });
    return String(r.lastInsertRowid);
  }

  private insertSession(s: NewSessionRecord): string {
    const r = this.s.insertSession.run({
      deviceId: s.deviceId,
      startedAt: s.startedAt,
      endedAt: s.endedAt,
      events: JSON.stringify(s.events),
      remoteAddress: s.remoteAddress,
      cwmpVersion: s.cwmpVersion,
      outcome: s.outcome,
      rpcCount: s.rpcCount,
      detail: s.detail,
    });
    return String(r.lastInsertRowid);
  }

  async listSessions(query: SessionQuery): Promise<SessionPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(query.deviceId);
    }
    if (query.cursor !== undefined) {
      where.push('id < ?');
      params.push(Number(decodeCursor(query.cursor, ['id']).id));
    }
    const sql = `SELECT * FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], SessionRow>(sql).all(...params, limit + 1);
    const sessions = rows.slice(0, limit).map(rowToSession);
    return { sessions, nextCursor: rows.length > limit ? encodeCursor({ id: Number(sessions[sessions.length - 1].id) }) : null };
  }

  async acquireSessionLock(deviceId: string, owner: string, ttlMs: number): Promise<LockResult> {
    this.open();
    const now = this.clock();
    const held = this.locks.get(deviceId);
    if (held && held.owner !== owner && held.expiresAt > now) return { acquired: false, holder: held.owner, expiresAt: new Date(held.expiresAt).toISOString() };
    this.locks.set(deviceId, { owner, expiresAt: now + ttlMs });
    return { acquired: true };
  }

  async refreshSessionLock(deviceId: string, owner: string, ttlMs: number): Promise<boolean> {
    this.open();
    const now = this.clock();
    const held = this.locks.get(deviceId);
    if (!held || held.owner !== owner || held.expiresAt <= now) return false;
    held.expiresAt = now + ttlMs;
    return true;
  }

  async releaseSessionLock(deviceId: string, owner: string): Promise<boolean> {
    this.open();
    return this.releaseLock(deviceId, owner);
  }

  private releaseLock(deviceId: string, owner: string): boolean {
    if (this.locks.get(deviceId)?.owner !== owner) return false;
    this.locks.delete(deviceId);
    return true;
  }

  async clearSessionLocks(): Promise<number> {
    this.open();
    const held = this.locks.size;
    this.locks.clear();
    // rows a version that kept the locks in the table may have left behind
    return held + this.s.clearLocks.run().changes;
  }

  // Tasks ---------------------------------------------------------------------------------------

  async createTask(input: NewTask): Promise<Task> {
    this.open();
    if (typeof input.payload?.type !== 'string' || input.payload.type === '') throw new StoreError('invalid', 'task payload needs a type');
    const maxAttempts = input.maxAttempts ?? DEFAULT_TASK_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new StoreError('invalid', 'maxAttempts must be a positive integer');
    const startedAt = input.running === undefined ? null : isoParam(input.running?.at ?? '', 'running.at');
    // group-committed like the session writes: provisioning plans a few tasks per session
    const row: Omit<TaskRow, 'id'> = {
      device_id: input.deviceId,
      type: input.payload.type,
      payload: JSON.stringify(input.payload),
      status: startedAt === null ? 'pending' : 'running',
      result: null,
      fault_code: null,
      fault_string: null,
      attempts: startedAt === null ? 0 : 1,
      max_attempts: maxAttempts,
      next_attempt_at: null,
      expires_at: input.expiresAt ?? null,
      created_at: input.createdAt ?? this.nowIso(),
      started_at: startedAt,
      finished_at: null,
      connection_request: input.connectionRequest ? 1 : 0,
    };
    const id = await this.write(() => {
      if (this.knownDevices.get(input.deviceId) === undefined) {
        if (!this.s.deviceExists.get(input.deviceId)) throw new StoreError('not_found', `device ${input.deviceId} not found`);
        this.noteDevice(input.deviceId);
      }
      this.runnable.devices?.add(input.deviceId);
      return this.s.insertTask.run({
        deviceId: row.device_id,
        type: row.type,
        payload: row.payload,
        status: row.status,
        attempts: row.attempts,
        maxAttempts,
        expiresAt: row.expires_at,
        createdAt: row.created_at,
        startedAt: row.started_at,
        connectionRequest: row.connection_request,
      }).lastInsertRowid;
    });
    // the row as inserted (no read back: a storm creates two tasks per device)
    return rowToTask({ ...row, id: Number(id) });
  }

  async getTask(id: string): Promise<Task | null> {
    this.open();
    const n = numericId(id);
    const row = n === null ? undefined : this.s.getTask.get(n);
    return row ? rowToTask(row) : null;
  }

  async listTasks(query: TaskQuery): Promise<TaskPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const desc = query.order === 'desc';
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(query.deviceId);
    }
    if (query.status !== undefined) {
      if (query.status.length === 0) return { tasks: [], nextCursor: null };
      where.push(`status IN (${query.status.map(() => '?').join(', ')})`);
      params.push(...query.status);
    }
    if (query.type !== undefined) {
      where.push('type = ?');
      params.push(query.type);
    }
    let offset = query.offset ?? 0;
    if (query.cursor !== undefined) {
      where.push(desc ? 'id < ?' : 'id > ?');
      params.push(Number(decodeCursor(query.cursor, ['id']).id));
      offset = 0;
    }
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${desc ? 'DESC' : 'ASC'} LIMIT ? OFFSET ?`;
    const rows = this.db.prepare<unknown[], TaskRow>(sql).all(...params, limit + 1, offset);
    const tasks = rows.slice(0, limit).map(rowToTask);
    return { tasks, nextCursor: rows.length > limit ? encodeCursor({ id: Number(tasks[tasks.length - 1].id) }) : null };
  }

  async tasksToRun(deviceId: string): Promise<Task[]> {
    this.open();
    const runnable = (this.runnable.devices ??= new Set(this.s.devicesWithRunnableTasks.all().map((r) => r.device_id)));
    if (!runnable.has(deviceId)) return [];
    const rows = this.s.tasksToRun.all(deviceId);
    if (rows.length === 0) runnable.delete(deviceId);
    return rows.map(rowToTask);
  }

  async updateTasks(updates: TaskUpdate[]): Promise<void> {
    this.open();
    await this.write(() => {
      for (const u of updates) this.applyTaskUpdate(u);
    });
  }

  async cancelTask(id: string, at?: IsoTimestamp): Promise<Task | null> {
    this.open();
    const n = numericId(id);
    if (n === null) return null;
    this.s.cancelTask.run(at ?? this.nowIso(), n);
    const row = this.s.getTask.get(n);
    return row ? rowToTask(row) : null;
  }

  // Faults --------------------------------------------------------------------------------------

  async listFaults(query: FaultQuery): Promise<FaultPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(query.deviceId);
    }
    if (query.taskId !== undefined) {
      where.push('task_id = ?');
      params.push(query.taskId);
    }
    if (query.code !== undefined) {
      if (query.code.length === 0) return { faults: [], nextCursor: null };
      where.push(`code IN (${query.code.map(() => '?').join(', ')})`);
      params.push(...query.code);
    }
    // julianday compares instants whatever the zone notation of the stored and given timestamps
    if (query.since !== undefined) {
      where.push('julianday(at) >= julianday(?)');
      params.push(faultTimeBound(query.since, 'since'));
    }
    if (query.until !== undefined) {
      where.push('julianday(at) <= julianday(?)');
      params.push(faultTimeBound(query.until, 'until'));
    }
    if (query.cursor !== undefined) {
      where.push('id < ?');
      params.push(Number(decodeCursor(query.cursor, ['id']).id));
    }
    const sql = `SELECT * FROM faults ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], FaultRow>(sql).all(...params, limit + 1);
    const faults = rows.slice(0, limit).map(rowToFault);
    return { faults, nextCursor: rows.length > limit ? encodeCursor({ id: Number(faults[faults.length - 1].id) }) : null };
  }

  async deleteFaults(selector: { ids?: string[]; deviceId?: string }): Promise<number> {
    this.open();
    if (selector.ids === undefined && selector.deviceId === undefined) throw new StoreError('invalid', 'deleteFaults needs ids or deviceId');
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (selector.ids !== undefined) {
      const ids = selector.ids.map(numericId).filter((n): n is number => n !== null);
      if (ids.length === 0) return 0;
      where.push(`id IN (${ids.map(() => '?').join(', ')})`);
      params.push(...ids);
    }
    if (selector.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(selector.deviceId);
    }
    return this.db.prepare(`DELETE FROM faults WHERE ${where.join(' AND ')}`).run(...params).changes;
  }

  // API tokens ----------------------------------------------------------------------------------

  async createApiToken(input: NewApiToken): Promise<ApiToken> {
    this.open();
    if (!/^[0-9a-f]{64}$/.test(input.hash)) throw new StoreError('invalid', 'token hash must be 64 lower-case hex digits (SHA-256)');
    if (!['admin', 'operator', 'viewer'].includes(input.role)) throw new StoreError('invalid', `unknown role ${input.role}`);
    if (this.s.tokenByHash.get(input.hash)) throw new StoreError('conflict', 'a token with this hash exists');
    const id = this.s.insertToken.run(input.name, input.role, input.hash, input.createdAt ?? this.nowIso()).lastInsertRowid;
    return rowToToken(this.s.getToken.get(Number(id))!);
  }

  async findApiTokenByHash(hash: string): Promise<ApiToken | null> {
    this.open();
    const row = this.s.tokenByHash.get(hash);
    return row ? rowToToken(row) : null;
  }

  async listApiTokens(): Promise<ApiToken[]> {
    this.open();
    return this.s.listTokens.all().map(rowToToken);
  }

  async touchApiToken(id: string, at: IsoTimestamp): Promise<void> {
    this.open();
    const n = numericId(id);
    if (n !== null) this.s.touchToken.run(at, n);
  }

  async revokeApiToken(id: string, at?: IsoTimestamp): Promise<ApiToken | null> {
    this.open();
    const n = numericId(id);
    if (n === null) return null;
    this.s.revokeToken.run(at ?? this.nowIso(), n);
    const row = this.s.getToken.get(n);
    return row ? rowToToken(row) : null;
  }

  // Audit ---------------------------------------------------------------------------------------

  async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    this.open();
    const id = this.s.insertAudit.run(entry.at ?? this.nowIso(), entry.actor, entry.action, entry.target, json(entry.detail)).lastInsertRowid;
    return rowToAudit(this.s.getAudit.get(Number(id))!);
  }

  async listAudit(query: AuditQuery): Promise<AuditPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const where: string[] = [];
    const params: (string | number)[] = [];
    const eq = (col: string, v: string | undefined) => {
      if (v !== undefined) {
        where.push(`${col} = ?`);
        params.push(v);
      }
    };
    eq('actor', query.actor);
    eq('target', query.target);
    eq('action', query.action);
    if (query.since !== undefined) {
      where.push('at >= ?');
      params.push(query.since);
    }
    if (query.until !== undefined) {
      where.push('at < ?');
      params.push(query.until);
    }
    if (query.cursor !== undefined) {
      where.push('id < ?');
      params.push(Number(decodeCursor(query.cursor, ['id']).id));
    }
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], AuditRow>(sql).all(...params, limit + 1);
    const entries = rows.slice(0, limit).map(rowToAudit);
    return { entries, nextCursor: rows.length > limit ? encodeCursor({ id: Number(entries[entries.length - 1].id) }) : null };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.flush();
    await this.checkpointer?.stop();
    // Fold the WAL back into the main file so a copied database file is complete on its own.
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // another process may hold the WAL; the checkpoint happens later, nothing is lost
    }
    this.db.close();
  }
}

/** The error better-sqlite3 throws for a row whose primary key exists. */
function isPrimaryKeyViolation(err: unknown): boolean {
  return err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

function validateDeviceWrite(w: DeviceWrite): void {
  if (!w.id || !w.oui || !w.productClass || !w.serialNumber) {
    throw new StoreError('invalid', 'device write needs id, oui, productClass and serialNumber');
  }
}

/**
 * Opens (creating if needed) the SQLite database and migrates it to the latest schema.
 * Returns the store; throws when the directory cannot be created or the schema is newer than the code.
 */
export function openSqliteStore(options: SqliteStoreOptions = {}): SqliteStore {
  const file = options.file ?? join(options.dataDir ?? './data', SQLITE_FILE_NAME);
  const db = openWalDatabase(file, { synchronous: options.synchronous, verbose: options.verbose });
  try {
    db.pragma('foreign_keys = OFF');
    // Bigger page cache (negative = KiB): the parameter table is the hot set during a storm.
    const cacheMiB = options.cacheMiB ?? DEFAULT_CACHE_MIB;
    if (!Number.isInteger(cacheMiB) || cacheMiB < 1) throw new StoreError('invalid', `the SQLite cache size must be a whole number of MiB, at least 1 (got ${cacheMiB})`);
    db.pragma(`cache_size = -${cacheMiB * 1024}`);
    // A SAVEPOINT (nested transactions: a replayed group commit, provisioning's batches) keeps a
    // statement journal, a temporary file by default: every page a write touched was copied there
    // with two write(2) calls (storm profile when each queued write had its savepoint: 5 of every 6
    // write syscalls of the ACS, 0.4 ms of CPU per device). In memory it is a copy.
    db.pragma('temp_store = MEMORY');
    db.function('sb_num', { deterministic: true }, (v: unknown) => numericOrNull(v));
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteStore(db, `sqlite:${file}`, options.now ?? Date.now, options.groupCommit ?? true, options.checkpointWorker ?? {});
}
