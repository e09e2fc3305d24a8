/**
 * The PostgreSQL backend of `Store` (node-postgres `pg`, a connection pool).
 *
 * Raw SQL, not Kysely, for the same reasons as the SQLite backend (see its module comment): the hot
 * path (one commitSession per CWMP session) wants few round trips and cached plans more than a
 * query builder. The two backends are kept equivalent by the shared contract suite.
 *
 * Several ACS processes may share one database:
 * - migrations run once at start, under an advisory lock (migrations.ts);
 * - the session lock is a row in `session_locks` (owner + expiry) taken and extended with one atomic
 *   upsert, with expiry judged by the DATABASE clock so that processes with skewed clocks agree. A
 *   holder killed with SIGKILL leaves its row behind; the row expires after its ttl and the next
 *   session takes it over (an advisory lock would be tied to a pooled connection, not to the session);
 * - multi-statement writes run in transactions (READ COMMITTED; a deadlock or serialization
 *   failure retries the whole transaction).
 *
 * Each statement is a named prepared statement (planned once per pooled connection). A session
 * commit costs about six round trips whatever its size: parameter writes go in one
 * `INSERT ... SELECT FROM unnest(...)` per set of present fields.
 */
import pg from 'pg';
import { decodeCursor, encodeCursor, normaliseTags, pageLimit, pageOffset } from '../cursor.ts';
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
import { AUDIT_COLUMNS, DEVICE_COLUMNS, FAULT_COLUMNS, SESSION_COLUMNS, TASK_COLUMNS, TOKEN_COLUMNS } from './columns.ts';
import { buildPgDeviceQuery } from './device-query.ts';
import { migratePostgres } from './migrations.ts';
import { isoParam, MAX_CHAR } from '../params.ts';
import {
  Params,
  TYPE_PARSERS,
  checkSchemaName,
  inTransaction,
  jsonParam,
  numericId,
  redactUrl,
  withRetries,
  statementName,
  toStoreError,
} from './sql.ts';

export interface PostgresStoreOptions {
  /**
   * Schema holding the tables (default: the first schema of the server's search_path, usually
   * `public`). Lower-case letters, digits and `_` only.
   */
  schema?: string;
  /** Create the schema when it does not exist (default false; tests use one schema per store). */
  createSchema?: boolean;
  /** Maximum pooled connections (default 10). */
  poolSize?: number;
  /** How long to wait for a connection before failing with `unavailable` (default 10 s). */
  connectTimeoutMs?: number;
  /** Shown in pg_stat_activity (default `switchboard`). */
  applicationName?: string;
  /**
   * Clock in ms for default timestamps AND lock expiry (tests may fake it). When absent, lock expiry
   * uses the database server's clock, which every ACS process sharing the database agrees on.
   */
  now?: () => number;
  /** Told about errors of idle pooled connections (the pool drops such a connection and goes on). */
  onIdleError?: (err: Error) => void;
}

const DEFAULT_POOL_SIZE = 10;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Idle pooled connections are closed after this long. */
const IDLE_TIMEOUT_MS = 30_000;
/** acquireSessionLock re-reads when the holder vanished between its two statements, at most this often. */
const MAX_LOCK_ATTEMPTS = 5;

// Rows as pg returns them (timestamptz already turned into ISO strings by TYPE_PARSERS) -------------

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
  tags: string[];
  acs_username: string | null;
  acs_password: string | null;
  cr_username: string | null;
  cr_password: string | null;
}

interface ParameterRow {
  name: string;
  value: string | null;
  type: string | null;
  writable: boolean | null;
  notification: number | null;
  access_list: string[] | null;
  object: boolean;
  updated_at: string;
}

interface TaskRow {
  id: string;
  device_id: string;
  type: string;
  payload: JsonObject;
  status: string;
  result: JsonValue | null;
  fault_code: number | null;
  fault_string: string | null;
  attempts: number;
  max_attempts: number;
  next_attempt_at: string | null;
  expires_at: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  connection_request: boolean;
}

interface SessionRow {
  id: string;
  device_id: string;
  started_at: string;
  ended_at: string | null;
  events: SessionRecord['events'];
  remote_address: string | null;
  cwmp_version: string | null;
  outcome: string;
  rpc_count: number;
  detail: string | null;
}

interface FaultRow {
  id: string;
  device_id: string;
  task_id: string | null;
  source: string;
  code: string;
  message: string;
  detail: JsonValue | null;
  at: string;
}

interface TokenRow {
  id: string;
  name: string;
  role: string;
  hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

interface AuditRow {
  id: string;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  detail: JsonValue | null;
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
    tags: r.tags,
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
    writable: r.writable,
    notification: r.notification,
    accessList: r.access_list,
    object: r.object,
    updatedAt: r.updated_at,
  };
}

function rowToTask(r: TaskRow): Task {
  return {
    id: r.id,
    deviceId: r.device_id,
    type: r.type,
    payload: r.payload,
    status: r.status as TaskStatus,
    result: r.result,
    faultCode: r.fault_code,
    faultString: r.fault_string,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    connectionRequest: r.connection_request,
  };
}

function rowToSession(r: SessionRow): SessionRecord {
  return {
    id: r.id,
    deviceId: r.device_id,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    events: r.events,
    remoteAddress: r.remote_address,
    cwmpVersion: r.cwmp_version,
    outcome: r.outcome as SessionOutcome,
    rpcCount: r.rpc_count,
    detail: r.detail,
  };
}

function rowToFault(r: FaultRow): FaultRecord {
  return {
    id: r.id,
    deviceId: r.device_id,
    taskId: r.task_id,
    source: r.source as FaultSource,
    code: r.code,
    message: r.message,
    detail: r.detail,
    at: r.at,
  };
}

function rowToToken(r: TokenRow): ApiToken {
  return {
    id: r.id,
    name: r.name,
    role: r.role as ApiRole,
    hash: r.hash,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

function rowToAudit(r: AuditRow): AuditEntry {
  return { id: r.id, at: r.at, actor: r.actor, action: r.action, target: r.target, detail: r.detail };
}

const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'running', 'done', 'failed', 'cancelled'];
const API_ROLES: readonly ApiRole[] = ['admin', 'operator', 'viewer'];

/** Column and SQL type of each optional DeviceWrite field. */
const DEVICE_WRITE_COLUMNS = {
  lastContact: { column: 'last_contact', type: 'timestamptz' },
  lastBoot: { column: 'last_boot', type: 'timestamptz' },
  lastBootstrap: { column: 'last_bootstrap', type: 'timestamptz' },
  sourceAddress: { column: 'source_address', type: 'text' },
  softwareVersion: { column: 'software_version', type: 'text' },
  hardwareVersion: { column: 'hardware_version', type: 'text' },
  connectionRequestUrl: { column: 'connection_request_url', type: 'text' },
  udpConnectionRequestAddress: { column: 'udp_connection_request_address', type: 'text' },
  cwmpVersion: { column: 'cwmp_version', type: 'text' },
} as const satisfies Partial<Record<keyof DeviceWrite, { column: string; type: string }>>;
type DeviceWriteField = keyof typeof DEVICE_WRITE_COLUMNS;
const DEVICE_WRITE_FIELDS = Object.keys(DEVICE_WRITE_COLUMNS) as DeviceWriteField[];

/**
 * Optional ParameterWrite fields: the column, the SQL array type the values travel in (one array
 * per field, unnested together), and the expression that turns the unnested value into the column.
 * An access list travels as JSON text because unnest would flatten an array of arrays.
 */
const PARAMETER_WRITE_COLUMNS = {
  value: { column: 'value', arrayType: 'text[]', expr: (v: string) => v },
  type: { column: 'type', arrayType: 'text[]', expr: (v: string) => v },
  writable: { column: 'writable', arrayType: 'boolean[]', expr: (v: string) => v },
  notification: { column: 'notification', arrayType: 'smallint[]', expr: (v: string) => v },
  accessList: {
    column: 'access_list',
    arrayType: 'text[]',
    expr: (v: string) => `CASE WHEN ${v} IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text(${v}::json)) END`,
  },
} as const;
type ParameterWriteField = keyof typeof PARAMETER_WRITE_COLUMNS;
const PARAMETER_WRITE_FIELDS = Object.keys(PARAMETER_WRITE_COLUMNS) as ParameterWriteField[];

/** Column and SQL type of each TaskUpdate field. */
const TASK_UPDATE_COLUMNS = {
  status: { column: 'status', type: 'text' },
  result: { column: 'result', type: 'json' },
  faultCode: { column: 'fault_code', type: 'integer' },
  faultString: { column: 'fault_string', type: 'text' },
  attempts: { column: 'attempts', type: 'integer' },
  nextAttemptAt: { column: 'next_attempt_at', type: 'timestamptz' },
  startedAt: { column: 'started_at', type: 'timestamptz' },
  finishedAt: { column: 'finished_at', type: 'timestamptz' },
} as const;
type TaskUpdateField = keyof typeof TASK_UPDATE_COLUMNS;
const TASK_UPDATE_FIELDS = Object.keys(TASK_UPDATE_COLUMNS) as TaskUpdateField[];
const TASK_TIMESTAMP_FIELDS: ReadonlySet<TaskUpdateField> = new Set(['nextAttemptAt', 'startedAt', 'finishedAt']);

/** What runs SQL: the pool (one statement, autocommit) or a client inside a transaction. */
type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

function validateDeviceWrite(w: DeviceWrite): void {
  if (!w.id || !w.oui || !w.productClass || !w.serialNumber) {
    throw new StoreError('invalid', 'device write needs id, oui, productClass and serialNumber');
  }
  isoParam(w.lastContact, 'lastContact');
  isoParam(w.lastBoot, 'lastBoot');
  isoParam(w.lastBootstrap, 'lastBootstrap');
}

function validateTaskUpdate(u: TaskUpdate): void {
  if (u.status !== undefined && !TASK_STATUSES.includes(u.status)) throw new StoreError('invalid', `unknown task status ${u.status}`);
  for (const f of TASK_TIMESTAMP_FIELDS) isoParam(u[f] as string | null | undefined, f);
}

/** A parameter write with the fields of every write of the same name merged, later ones winning. */
type MergedParameterWrite = { name: string } & Partial<Record<ParameterWriteField, unknown>>;

/**
 * Merges writes of the same name (one INSERT cannot touch a row twice); the result equals applying
 * them one after the other, since an absent field keeps what an earlier write set.
 */
function mergeParameterWrites(writes: readonly ParameterWrite[]): MergedParameterWrite[] {
  const byName = new Map<string, MergedParameterWrite>();
  for (const w of writes) {
    if (!w.name) throw new StoreError('invalid', 'parameter name is empty');
    let merged = byName.get(w.name);
    if (!merged) {
      merged = { name: w.name };
      byName.set(w.name, merged);
    }
    for (const f of PARAMETER_WRITE_FIELDS) if (w[f] !== undefined) merged[f] = w[f];
  }
  return [...byName.values()];
}

/** Merges updates of the same task (one statement cannot update a row twice); later fields win. */
function mergeTaskUpdates(updates: readonly TaskUpdate[]): TaskUpdate[] {
  const byId = new Map<string, TaskUpdate>();
  for (const u of updates) {
    validateTaskUpdate(u);
    const merged: TaskUpdate = byId.get(u.id) ?? { id: u.id };
    for (const f of TASK_UPDATE_FIELDS) if (u[f] !== undefined) Object.assign(merged, { [f]: u[f] });
    byId.set(u.id, merged);
  }
  return [...byId.values()];
}

/**
 * The DeviceWrite fields `w` gives: their columns and placeholders (added to `p`), and the
 * placeholder of `lastContact` (a new row's first contact) or null.
 */
function contactColumns(p: Params, w: DeviceContact): { cols: string[]; values: string[]; lastContact: string | null } {
  const present = DEVICE_WRITE_FIELDS.filter((f) => w[f] !== undefined);
  const values = present.map((f) => p.add(w[f], DEVICE_WRITE_COLUMNS[f].type));
  const lastContactAt = present.indexOf('lastContact');
  return { cols: present.map((f) => DEVICE_WRITE_COLUMNS[f].column), values, lastContact: lastContactAt >= 0 ? values[lastContactAt] : null };
}

/** INSERT ... ON CONFLICT for the device, returning whether it was inserted. */
function deviceUpsertSql(p: Params, w: DeviceWrite): string {
  const base = [p.add(w.id, 'text'), p.add(w.manufacturer, 'text'), p.add(w.oui, 'text'), p.add(w.productClass, 'text'), p.add(w.serialNumber, 'text')];
  const { cols, values, lastContact } = contactColumns(p, w);
  const firstContact = lastContact ?? 'NULL::timestamptz';
  const updates = [
    'manufacturer = excluded.manufacturer',
    'oui = excluded.oui',
    'product_class = excluded.product_class',
    'serial_number = excluded.serial_number',
    'first_contact = COALESCE(devices.first_contact, excluded.first_contact)',
    ...cols.map((c) => `${c} = excluded.${c}`),
  ];
  // xmax is 0 on a freshly inserted row version and set on an updated one.
  return `INSERT INTO devices (id, manufacturer, oui, product_class, serial_number, first_contact${cols.map((c) => `, ${c}`).join('')})
    VALUES (${base.join(', ')}, ${firstContact}${values.map((v) => `, ${v}`).join('')})
    ON CONFLICT (id) DO UPDATE SET ${updates.join(', ')}
    RETURNING (xmax = 0) AS inserted`;
}

/** One INSERT ... SELECT FROM unnest(...) ON CONFLICT per set of present fields of the (merged) writes. */
function parameterUpsertSqls(p: Params, deviceId: string, writes: MergedParameterWrite[], at: IsoTimestamp): string[] {
  const groups = new Map<string, { fields: ParameterWriteField[]; writes: MergedParameterWrite[] }>();
  for (const w of writes) {
    const fields = PARAMETER_WRITE_FIELDS.filter((f) => w[f] !== undefined);
    const key = fields.join(',');
    let g = groups.get(key);
    if (!g) {
      g = { fields, writes: [] };
      groups.set(key, g);
    }
    g.writes.push(w);
  }
  const sqls: string[] = [];
  for (const { fields, writes: group } of groups.values()) {
    const device = p.add(deviceId, 'text');
    const stamp = p.add(at, 'timestamptz');
    const arrays = [p.add(group.map((w) => w.name), 'text[]')];
    for (const f of fields) {
      arrays.push(p.add(group.map((w) => (f === 'accessList' ? jsonParam(w[f] as string[] | null) : w[f])), PARAMETER_WRITE_COLUMNS[f].arrayType));
    }
    const aliases = ['name', ...fields.map((f) => `f_${f}`)];
    const cols = fields.map((f) => PARAMETER_WRITE_COLUMNS[f].column);
    sqls.push(`INSERT INTO parameters (device_id, name, object, updated_at${cols.map((c) => `, ${c}`).join('')})
      SELECT ${device}, u.name, right(u.name, 1) = '.', ${stamp}${fields.map((f) => `, ${PARAMETER_WRITE_COLUMNS[f].expr(`u.f_${f}`)}`).join('')}
      FROM unnest(${arrays.join(', ')}) AS u(${aliases.join(', ')})
      ON CONFLICT (device_id, name) DO UPDATE SET updated_at = excluded.updated_at${cols.map((c) => `, ${c} = excluded.${c}`).join('')}`);
  }
  return sqls;
}

/** The UPDATE of one task, or null when there is nothing to do (unknown id form, no fields). */
function taskUpdateSql(p: Params, u: TaskUpdate): string | null {
  const id = numericId(u.id);
  if (id === null) return null;
  const present = TASK_UPDATE_FIELDS.filter((f) => u[f] !== undefined);
  if (present.length === 0) return null;
  const sets = present.map((f) => {
    const spec = TASK_UPDATE_COLUMNS[f];
    return `${spec.column} = ${p.add(f === 'result' ? jsonParam(u.result) : u[f], spec.type)}`;
  });
  return `UPDATE tasks SET ${sets.join(', ')} WHERE id = ${p.add(id, 'bigint')}`;
}

/** One INSERT for all the faults, in their given order (so ids follow it). */
function faultsInsertSql(p: Params, faults: readonly NewFaultRecord[]): string {
  const col = <T>(pick: (f: NewFaultRecord) => T, type: string) => p.add(faults.map(pick), type);
  return `INSERT INTO faults (device_id, task_id, source, code, message, detail, at)
    SELECT u.device_id, u.task_id, u.source, u.code, u.message, u.detail::json, u.at
    FROM unnest(${col((f) => f.deviceId, 'text[]')}, ${col((f) => f.taskId, 'text[]')}, ${col((f) => f.source, 'text[]')}, ${col((f) => f.code, 'text[]')},
                ${col((f) => f.message, 'text[]')}, ${col((f) => jsonParam(f.detail), 'text[]')}, ${col((f) => f.at, 'timestamptz[]')})
      WITH ORDINALITY AS u(device_id, task_id, source, code, message, detail, at, ord)
    ORDER BY u.ord`;
}

function sessionInsertSql(p: Params, s: NewSessionRecord): string {
  return `INSERT INTO sessions (device_id, started_at, ended_at, events, remote_address, cwmp_version, outcome, rpc_count, detail)
    VALUES (${p.add(s.deviceId, 'text')}, ${p.add(s.startedAt, 'timestamptz')}, ${p.add(s.endedAt, 'timestamptz')}, ${p.add(JSON.stringify(s.events), 'json')},
            ${p.add(s.remoteAddress, 'text')}, ${p.add(s.cwmpVersion, 'text')}, ${p.add(s.outcome, 'text')}, ${p.add(s.rpcCount, 'integer')}, ${p.add(s.detail, 'text')})
    RETURNING id`;
}

/**
 * A whole session commit except the parameter deletes as ONE statement: every write is a
 * data-modifying CTE (they touch distinct rows, so their order does not matter), and the statement
 * answers whether the device was created and the session record's id.
 */
function buildCommitStatement(commit: SessionCommit, parameters: MergedParameterWrite[], taskUpdates: TaskUpdate[]): { text: string; values: unknown[] } {
  const p = new Params();
  const ctes = [`dev AS (${deviceUpsertSql(p, commit.device)})`];
  parameterUpsertSqls(p, commit.device.id, parameters, commit.at).forEach((sql, i) => ctes.push(`par${i} AS (${sql})`));
  taskUpdates.forEach((u, i) => {
    const sql = taskUpdateSql(p, u);
    if (sql !== null) ctes.push(`tsk${i} AS (${sql})`);
  });
  if (commit.faults && commit.faults.length > 0) ctes.push(`flt AS (${faultsInsertSql(p, commit.faults)})`);
  if (commit.session) ctes.push(`ses AS (${sessionInsertSql(p, commit.session)})`);
  if (commit.releaseLock) {
    ctes.push(`rel AS (DELETE FROM session_locks WHERE device_id = ${p.add(commit.device.id, 'text')} AND owner = ${p.add(commit.releaseLock.owner, 'text')})`);
  }
  const sessionId = commit.session ? '(SELECT id FROM ses)' : 'NULL::bigint';
  return { text: `WITH ${ctes.join(',\n')}\nSELECT (SELECT inserted FROM dev) AS inserted, ${sessionId} AS session_id`, values: p.values };
}

/**
 * `Store` on a PostgreSQL database. Create it with `openPostgresStore`.
 */
export class PostgresStore implements Store {
  readonly name: string;
  /** The schema holding the tables. */
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly clock: (() => number) | undefined;
  private closed = false;

  constructor(pool: pg.Pool, name: string, schema: string, clock: (() => number) | undefined) {
    this.pool = pool;
    this.name = name;
    this.schema = schema;
    this.clock = clock;
  }

  private nowIso(): IsoTimestamp {
    return new Date(this.clock ? this.clock() : Date.now()).toISOString();
  }

  /** The lock clock as a bound value: the fake clock, or null for the server's clock_timestamp(). */
  private lockNow(): string | null {
    return this.clock ? new Date(this.clock()).toISOString() : null;
  }

  private open(): void {
    if (this.closed) throw new StoreError('unavailable', 'store is closed');
  }

  /** Runs one statement (prepared by name); resolves its rows. @throws StoreError for expected failures. */
  private async rows<R extends pg.QueryResultRow>(on: Queryable, text: string, values: unknown[] = []): Promise<R[]> {
    try {
      const r = await (on as pg.Pool).query<R>({ name: statementName(text), text, values });
      return r.rows;
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /** Runs one statement; resolves how many rows it changed. */
  private async run(on: Queryable, text: string, values: unknown[] = []): Promise<number> {
    try {
      const r = await (on as pg.Pool).query({ name: statementName(text), text, values });
      return r.rowCount ?? 0;
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /**
   * Runs `fn` in a transaction on one pooled connection: commits when it resolves, rolls back when
   * it throws (and runs it again after a deadlock/serialization failure).
   */
  private transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  /** Runs a single-statement write, again after a deadlock/serialization failure. */
  private retrying<T>(fn: () => Promise<T>): Promise<T> {
    return withRetries(fn);
  }

  // Devices -------------------------------------------------------------------------------------

  async getDevice(id: string): Promise<Device | null> {
    this.open();
    const [row] = await this.rows<DeviceRow>(this.pool, `SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1`, [id]);
    return row ? rowToDevice(row) : null;
  }

  async createDevice(input: NewDevice): Promise<Device> {
    this.open();
    if (!input.oui || !input.productClass || !input.serialNumber) {
      throw new StoreError('invalid', 'oui, productClass and serialNumber are required');
    }
    const id = `${input.oui}-${input.productClass}-${input.serialNumber}`;
    const tags = normaliseTags(input.tags ?? []);
    const c = input.credentials ?? {};
    const p = new Params();
    // column -> placeholder
    const insert: Record<string, string> = {
      id: p.add(id, 'text'),
      manufacturer: p.add(input.manufacturer, 'text'),
      oui: p.add(input.oui, 'text'),
      product_class: p.add(input.productClass, 'text'),
      serial_number: p.add(input.serialNumber, 'text'),
      tags: p.add(tags, 'text[]'),
      acs_username: p.add(c.acsUsername ?? null, 'text'),
      acs_password: p.add(c.acsPassword ?? null, 'text'),
      cr_username: p.add(c.connectionRequestUsername ?? null, 'text'),
      cr_password: p.add(c.connectionRequestPassword ?? null, 'text'),
    };
    // registered at an Inform: what it tells, as the session's commit would store it
    const contact = contactColumns(p, input.contact ?? {});
    contact.cols.forEach((col, i) => (insert[col] = contact.values[i]));
    if (contact.lastContact !== null) insert.first_contact = contact.lastContact;
    const [row] = await this.rows<DeviceRow>(
      this.pool,
      `INSERT INTO devices (${Object.keys(insert).join(', ')})
       VALUES (${Object.values(insert).join(', ')})
       ON CONFLICT (id) DO NOTHING RETURNING ${DEVICE_COLUMNS}`,
      p.values,
    );
    if (!row) throw new StoreError('conflict', `device ${id} exists`);
    return rowToDevice(row);
  }

  async updateDevice(id: string, patch: DevicePatch): Promise<Device | null> {
    this.open();
    const p = new Params();
    const sets: string[] = [];
    if (patch.tags !== undefined) sets.push(`tags = ${p.add(normaliseTags(patch.tags), 'text[]')}`);
    const c = patch.credentials;
    if (c !== undefined) {
      const cred = { acs_username: c.acsUsername, acs_password: c.acsPassword, cr_username: c.connectionRequestUsername, cr_password: c.connectionRequestPassword };
      for (const [column, v] of Object.entries(cred)) if (v !== undefined) sets.push(`${column} = ${p.add(v, 'text')}`);
    }
    // Nothing to change still answers whether the device exists.
    const sql = sets.length
      ? `UPDATE devices SET ${sets.join(', ')} WHERE id = ${p.add(id)} RETURNING ${DEVICE_COLUMNS}`
      : `SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ${p.add(id)}`;
    const [row] = await this.rows<DeviceRow>(this.pool, sql, p.values);
    return row ? rowToDevice(row) : null;
  }

  async addTags(id: string, tags: string[]): Promise<Device | null> {
    return this.changeTags(id, normaliseTags(tags), []);
  }

  async removeTags(id: string, tags: string[]): Promise<Device | null> {
    return this.changeTags(id, [], tags);
  }

  /**
   * Reads the tag list under a row lock (FOR UPDATE) and writes it in the same transaction, so
   * concurrent changes of other processes are applied one after the other, none lost. The list
   * is normalised in JS, the same way as everywhere else.
   */
  private async changeTags(id: string, add: string[], remove: string[]): Promise<Device | null> {
    this.open();
    return this.transaction(async (client) => {
      const [cur] = await this.rows<{ tags: string[] }>(client, 'SELECT tags FROM devices WHERE id = $1 FOR UPDATE', [id]);
      if (!cur) return null;
      const drop = new Set(remove);
      const next = normaliseTags([...cur.tags, ...add].filter((t) => !drop.has(t)));
      const [row] = await this.rows<DeviceRow>(client, `UPDATE devices SET tags = $1::text[] WHERE id = $2 RETURNING ${DEVICE_COLUMNS}`, [next, id]);
      return rowToDevice(row);
    });
  }

  async deleteDevice(id: string): Promise<boolean> {
    this.open();
    // One statement: data-modifying CTEs run atomically together.
    const [row] = await this.rows<{ n: string }>(
      this.pool,
      `WITH d AS (DELETE FROM devices WHERE id = $1 RETURNING id),
            p AS (DELETE FROM parameters WHERE device_id = $1 AND EXISTS (SELECT 1 FROM d)),
            t AS (DELETE FROM tasks WHERE device_id = $1 AND EXISTS (SELECT 1 FROM d)),
            s AS (DELETE FROM sessions WHERE device_id = $1 AND EXISTS (SELECT 1 FROM d)),
            f AS (DELETE FROM faults WHERE device_id = $1 AND EXISTS (SELECT 1 FROM d)),
            l AS (DELETE FROM session_locks WHERE device_id = $1 AND EXISTS (SELECT 1 FROM d))
       SELECT count(*)::bigint AS n FROM d`,
      [id],
    );
    return Number(row.n) > 0;
  }

  async queryDevices(query: DeviceQuery): Promise<DevicePage> {
    this.open();
    const built = buildPgDeviceQuery(query);
    const rows = await this.rows<DeviceRow>(this.pool, built.pageSql, built.pageParams);
    const hasMore = rows.length > built.limit;
    const devices = rows.slice(0, built.limit).map(rowToDevice);
    const page: DevicePage = { devices, nextCursor: hasMore ? built.cursorOf(devices[devices.length - 1]) : null };
    if (query.count) {
      const [c] = await this.rows<{ n: string }>(this.pool, built.countSql, built.countParams);
      page.total = Number(c.n);
    }
    return page;
  }

  async countDevices(query: Omit<DeviceQuery, 'sort' | 'limit' | 'offset' | 'cursor' | 'count'>): Promise<number> {
    this.open();
    const built = buildPgDeviceQuery(query);
    const [c] = await this.rows<{ n: string }>(this.pool, built.countSql, built.countParams);
    return Number(c.n);
  }

  // Parameters ----------------------------------------------------------------------------------

  async getParameters(deviceId: string, selection: ParameterSelection = {}): Promise<StoredParameter[]> {
    this.open();
    const cols = 'name, value, type, writable, notification, access_list, object, updated_at';
    let rows: ParameterRow[];
    if (selection.names !== undefined) {
      const names = [...new Set(selection.names)].filter((n) => selection.prefix === undefined || n.startsWith(selection.prefix));
      if (names.length === 0) return [];
      rows = await this.rows<ParameterRow>(this.pool, `SELECT ${cols} FROM parameters WHERE device_id = $1 AND name = ANY($2::text[]) ORDER BY name`, [deviceId, names]);
    } else if (selection.prefix !== undefined && selection.prefix !== '') {
      rows = await this.rows<ParameterRow>(
        this.pool,
        `SELECT ${cols} FROM parameters WHERE device_id = $1 AND name >= $2 AND name < $3 ORDER BY name`,
        [deviceId, selection.prefix, selection.prefix + MAX_CHAR],
      );
    } else {
      rows = await this.rows<ParameterRow>(this.pool, `SELECT ${cols} FROM parameters WHERE device_id = $1 ORDER BY name`, [deviceId]);
    }
    return rows.map(rowToParameter);
  }

  // Sessions ------------------------------------------------------------------------------------

  async commitSession(commit: SessionCommit): Promise<SessionCommitResult> {
    this.open();
    // Everything that can be refused is checked before anything is sent.
    validateDeviceWrite(commit.device);
    isoParam(commit.at, 'at');
    const deletes = commit.parameterDeletes ?? [];
    for (const d of deletes) {
      if (!d.prefix.endsWith('.') && d.prefix !== '') throw new StoreError('invalid', `delete prefix must end with "." (${d.prefix})`);
    }
    const parameters = mergeParameterWrites(commit.parameters ?? []);
    const taskUpdates = mergeTaskUpdates(commit.taskUpdates ?? []);
    for (const f of commit.faults ?? []) isoParam(f.at, 'fault.at');
    if (commit.session) {
      isoParam(commit.session.startedAt, 'session.startedAt');
      isoParam(commit.session.endedAt, 'session.endedAt');
    }
    const write = buildCommitStatement(commit, parameters, taskUpdates);
    const apply = async (on: Queryable): Promise<SessionCommitResult> => {
      const [row] = await this.rows<{ inserted: boolean; session_id: string | null }>(on, write.text, write.values);
      return { sessionId: row.session_id, created: row.inserted };
    };
    // Without deletes the whole commit is ONE statement (atomic on its own, one round trip). Deletes
    // must run first: one statement may not delete and upsert the same row.
    if (deletes.length === 0) return this.retrying(() => apply(this.pool));
    return this.transaction(async (client) => {
      for (const d of deletes) await this.deleteParameters(client, commit.device.id, d);
      return apply(client);
    });
  }

  private async deleteParameters(client: pg.PoolClient, deviceId: string, d: ParameterDelete): Promise<void> {
    const upper = d.prefix + MAX_CHAR;
    if (!d.except || d.except.length === 0) {
      await this.run(client, 'DELETE FROM parameters WHERE device_id = $1 AND name >= $2 AND name < $3', [deviceId, d.prefix, upper]);
      return;
    }
    await this.run(client, 'DELETE FROM parameters WHERE device_id = $1 AND name >= $2 AND name < $3 AND name <> ALL($4::text[])', [
      deviceId,
      d.prefix,
      upper,
      d.except,
    ]);
  }

  private async applyTaskUpdate(on: Queryable, u: TaskUpdate): Promise<void> {
    const p = new Params();
    const sql = taskUpdateSql(p, u);
    if (sql !== null) await this.run(on, sql, p.values);
  }

  async listSessions(query: SessionQuery): Promise<SessionPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where: string[] = [];
    if (query.deviceId !== undefined) where.push(`device_id = ${p.add(query.deviceId, 'text')}`);
    if (query.cursor !== undefined) where.push(`id < ${p.add(cursorId(query.cursor), 'bigint')}`);
    const sql = `SELECT ${SESSION_COLUMNS} FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${p.add(limit + 1, 'int')}`;
    const rows = await this.rows<SessionRow>(this.pool, sql, p.values);
    const sessions = rows.slice(0, limit).map(rowToSession);
    return { sessions, nextCursor: rows.length > limit ? encodeCursor({ id: Number(sessions[sessions.length - 1].id) }) : null };
  }

  async acquireSessionLock(deviceId: string, owner: string, ttlMs: number): Promise<LockResult> {
    this.open();
    checkTtl(ttlMs);
    for (let attempt = 1; ; attempt++) {
      const now = this.lockNow();
      // Takes the row when it is free, expired, or ours; otherwise leaves it untouched (no row returned).
      const taken = await this.rows<{ owner: string }>(
        this.pool,
        `INSERT INTO session_locks (device_id, owner, expires_at)
         VALUES ($1, $2, COALESCE($3::timestamptz, clock_timestamp()) + $4::double precision * interval '1 millisecond')
         ON CONFLICT (device_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE session_locks.owner = excluded.owner OR session_locks.expires_at <= COALESCE($3::timestamptz, clock_timestamp())
         RETURNING owner`,
        [deviceId, owner, now, ttlMs],
      );
      if (taken.length > 0) return { acquired: true };
      const [held] = await this.rows<{ owner: string; expires_at: string }>(this.pool, 'SELECT owner, expires_at FROM session_locks WHERE device_id = $1', [deviceId]);
      if (held) return { acquired: false, holder: held.owner, expiresAt: held.expires_at };
      // Released between the two statements: try again.
      if (attempt >= MAX_LOCK_ATTEMPTS) throw new StoreError('unavailable', `session lock of ${deviceId} is changing too fast`);
    }
  }

  async refreshSessionLock(deviceId: string, owner: string, ttlMs: number): Promise<boolean> {
    this.open();
    checkTtl(ttlMs);
    const n = await this.run(
      this.pool,
      `UPDATE session_locks SET expires_at = COALESCE($3::timestamptz, clock_timestamp()) + $4::double precision * interval '1 millisecond'
       WHERE device_id = $1 AND owner = $2 AND expires_at > COALESCE($3::timestamptz, clock_timestamp())`,
      [deviceId, owner, this.lockNow(), ttlMs],
    );
    return n > 0;
  }

  async releaseSessionLock(deviceId: string, owner: string): Promise<boolean> {
    this.open();
    return (await this.run(this.pool, 'DELETE FROM session_locks WHERE device_id = $1 AND owner = $2', [deviceId, owner])) > 0;
  }

  async clearSessionLocks(): Promise<number> {
    this.open();
    return this.run(this.pool, 'DELETE FROM session_locks');
  }

  // Tasks ---------------------------------------------------------------------------------------

  async createTask(input: NewTask): Promise<Task> {
    this.open();
    if (typeof input.payload?.type !== 'string' || input.payload.type === '') throw new StoreError('invalid', 'task payload needs a type');
    const maxAttempts = input.maxAttempts ?? DEFAULT_TASK_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new StoreError('invalid', 'maxAttempts must be a positive integer');
    // started at insertion (NewTask.running): one statement instead of an insert and an update
    const startedAt = input.running === undefined ? null : isoParam(input.running?.at ?? '', 'running.at');
    // FOR SHARE: a concurrent deleteDevice waits for this insert, so no task outlives its device.
    const [row] = await this.rows<TaskRow>(
      this.pool,
      `WITH d AS (SELECT id FROM devices WHERE id = $1 FOR SHARE)
       INSERT INTO tasks (device_id, type, payload, status, attempts, max_attempts, expires_at, created_at, started_at, connection_request)
       SELECT d.id, $2, $3::json, $8::text, $9::int, $4, $5::timestamptz, $6::timestamptz, $10::timestamptz, $7 FROM d
       RETURNING ${TASK_COLUMNS}`,
      [
        input.deviceId,
        input.payload.type,
        JSON.stringify(input.payload),
        maxAttempts,
        isoParam(input.expiresAt ?? null, 'expiresAt'),
        isoParam(input.createdAt, 'createdAt') ?? this.nowIso(),
        input.connectionRequest === true,
        startedAt === null ? 'pending' : 'running',
        startedAt === null ? 0 : 1,
        startedAt,
      ],
    );
    if (!row) throw new StoreError('not_found', `device ${input.deviceId} not found`);
    return rowToTask(row);
  }

  async getTask(id: string): Promise<Task | null> {
    this.open();
    const n = numericId(id);
    if (n === null) return null;
    const [row] = await this.rows<TaskRow>(this.pool, `SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1::bigint`, [n]);
    return row ? rowToTask(row) : null;
  }

  async listTasks(query: TaskQuery): Promise<TaskPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const desc = query.order === 'desc';
    const p = new Params();
    const where: string[] = [];
    if (query.deviceId !== undefined) where.push(`device_id = ${p.add(query.deviceId, 'text')}`);
    if (query.status !== undefined) {
      if (query.status.length === 0) return { tasks: [], nextCursor: null };
      where.push(`status = ANY(${p.add(query.status, 'text[]')})`);
    }
    if (query.type !== undefined) where.push(`type = ${p.add(query.type, 'text')}`);
    let offset = pageOffset(query.offset);
    if (query.cursor !== undefined) {
      where.push(`id ${desc ? '<' : '>'} ${p.add(cursorId(query.cursor), 'bigint')}`);
      offset = 0;
    }
    const sql = `SELECT ${TASK_COLUMNS} FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id ${desc ? 'DESC' : 'ASC'} LIMIT ${p.add(limit + 1, 'int')} OFFSET ${p.add(offset, 'int')}`;
    const rows = await this.rows<TaskRow>(this.pool, sql, p.values);
    const tasks = rows.slice(0, limit).map(rowToTask);
    return { tasks, nextCursor: rows.length > limit ? encodeCursor({ id: Number(tasks[tasks.length - 1].id) }) : null };
  }

  async tasksToRun(deviceId: string): Promise<Task[]> {
    this.open();
    const rows = await this.rows<TaskRow>(this.pool, `SELECT ${TASK_COLUMNS} FROM tasks WHERE device_id = $1 AND status IN ('pending', 'running') ORDER BY id`, [deviceId]);
    return rows.map(rowToTask);
  }

  async updateTasks(updates: TaskUpdate[]): Promise<void> {
    this.open();
    for (const u of updates) validateTaskUpdate(u);
    if (updates.length === 0) return;
    if (updates.length === 1) {
      await this.applyTaskUpdate(this.pool, updates[0]);
      return;
    }
    await this.transaction(async (client) => {
      for (const u of updates) await this.applyTaskUpdate(client, u);
    });
  }

  async cancelTask(id: string, at?: IsoTimestamp): Promise<Task | null> {
    this.open();
    const n = numericId(id);
    if (n === null) return null;
    // The CTE sees the row before the update, so the second branch answers the unchanged task.
    const [row] = await this.rows<TaskRow>(
      this.pool,
      `WITH u AS (
         UPDATE tasks SET status = 'cancelled', finished_at = $2::timestamptz
         WHERE id = $1::bigint AND status IN ('pending', 'running') RETURNING ${TASK_COLUMNS})
       SELECT ${TASK_COLUMNS} FROM u
       UNION ALL
       SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1::bigint AND NOT EXISTS (SELECT 1 FROM u)`,
      [n, isoParam(at, 'at') ?? this.nowIso()],
    );
    return row ? rowToTask(row) : null;
  }

  // Faults --------------------------------------------------------------------------------------

  async listFaults(query: FaultQuery): Promise<FaultPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where: string[] = [];
    if (query.deviceId !== undefined) where.push(`device_id = ${p.add(query.deviceId, 'text')}`);
    if (query.taskId !== undefined) where.push(`task_id = ${p.add(query.taskId, 'text')}`);
    if (query.code !== undefined) where.push(`code = ANY(${p.add(query.code, 'text[]')})`);
    if (query.since !== undefined) where.push(`at >= ${p.add(isoParam(query.since, 'since'), 'timestamptz')}`);
    if (query.until !== undefined) where.push(`at <= ${p.add(isoParam(query.until, 'until'), 'timestamptz')}`);
    if (query.cursor !== undefined) where.push(`id < ${p.add(cursorId(query.cursor), 'bigint')}`);
    const sql = `SELECT ${FAULT_COLUMNS} FROM faults ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${p.add(limit + 1, 'int')}`;
    const rows = await this.rows<FaultRow>(this.pool, sql, p.values);
    const faults = rows.slice(0, limit).map(rowToFault);
    return { faults, nextCursor: rows.length > limit ? encodeCursor({ id: Number(faults[faults.length - 1].id) }) : null };
  }

  async deleteFaults(selector: { ids?: string[]; deviceId?: string }): Promise<number> {
    this.open();
    if (selector.ids === undefined && selector.deviceId === undefined) throw new StoreError('invalid', 'deleteFaults needs ids or deviceId');
    const p = new Params();
    const where: string[] = [];
    if (selector.ids !== undefined) {
      const ids = selector.ids.map(numericId).filter((n): n is string => n !== null);
      if (ids.length === 0) return 0;
      where.push(`id = ANY(${p.add(ids, 'bigint[]')})`);
    }
    if (selector.deviceId !== undefined) where.push(`device_id = ${p.add(selector.deviceId, 'text')}`);
    return this.run(this.pool, `DELETE FROM faults WHERE ${where.join(' AND ')}`, p.values);
  }

  // API tokens ----------------------------------------------------------------------------------

  async createApiToken(input: NewApiToken): Promise<ApiToken> {
    this.open();
    if (!/^[0-9a-f]{64}$/.test(input.hash)) throw new StoreError('invalid', 'token hash must be 64 lower-case hex digits (SHA-256)');
    if (!API_ROLES.includes(input.role)) throw new StoreError('invalid', `unknown role ${input.role}`);
    const [row] = await this.rows<TokenRow>(
      this.pool,
      `INSERT INTO api_tokens (name, role, hash, created_at) VALUES ($1, $2, $3, $4::timestamptz) ON CONFLICT (hash) DO NOTHING RETURNING ${TOKEN_COLUMNS}`,
      [input.name, input.role, input.hash, isoParam(input.createdAt, 'createdAt') ?? this.nowIso()],
    );
    if (!row) throw new StoreError('conflict', 'a token with this hash exists');
    return rowToToken(row);
  }

  async findApiTokenByHash(hash: string): Promise<ApiToken | null> {
    this.open();
    const [row] = await this.rows<TokenRow>(this.pool, `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1`, [hash]);
    return row ? rowToToken(row) : null;
  }

  async listApiTokens(): Promise<ApiToken[]> {
    this.open();
    return (await this.rows<TokenRow>(this.pool, `SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY id`)).map(rowToToken);
  }

  async touchApiToken(id: string, at: IsoTimestamp): Promise<void> {
    this.open();
    const n = numericId(id);
    if (n !== null) await this.run(this.pool, 'UPDATE api_tokens SET last_used_at = $1::timestamptz WHERE id = $2::bigint', [isoParam(at, 'at'), n]);
  }

  async revokeApiToken(id: string, at?: IsoTimestamp): Promise<ApiToken | null> {
    this.open();
    const n = numericId(id);
    if (n === null) return null;
    const [row] = await this.rows<TokenRow>(
      this.pool,
      `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1::timestamptz) WHERE id = $2::bigint RETURNING ${TOKEN_COLUMNS}`,
      [isoParam(at, 'at') ?? this.nowIso(), n],
    );
    return row ? rowToToken(row) : null;
  }

  // Audit ---------------------------------------------------------------------------------------

  async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    this.open();
    const [row] = await this.rows<AuditRow>(
      this.pool,
      `INSERT INTO audit (at, actor, action, target, detail) VALUES ($1::timestamptz, $2, $3, $4, $5::json) RETURNING ${AUDIT_COLUMNS}`,
      [isoParam(entry.at, 'at') ?? this.nowIso(), entry.actor, entry.action, entry.target, jsonParam(entry.detail)],
    );
    return rowToAudit(row);
  }

  async listAudit(query: AuditQuery): Promise<AuditPage> {
    this.open();
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where: string[] = [];
    if (query.actor !== undefined) where.push(`actor = ${p.add(query.actor, 'text')}`);
    if (query.target !== undefined) where.push(`target = ${p.add(query.target, 'text')}`);
    if (query.action !== undefined) where.push(`action = ${p.add(query.action, 'text')}`);
    if (query.since !== undefined) where.push(`at >= ${p.add(isoParam(query.since, 'since'), 'timestamptz')}`);
    if (query.until !== undefined) where.push(`at < ${p.add(isoParam(query.until, 'until'), 'timestamptz')}`);
    if (query.cursor !== undefined) where.push(`id < ${p.add(cursorId(query.cursor), 'bigint')}`);
    const sql = `SELECT ${AUDIT_COLUMNS} FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${p.add(limit + 1, 'int')}`;
    const rows = await this.rows<AuditRow>(this.pool, sql, p.values);
    const entries = rows.slice(0, limit).map(rowToAudit);
    return { entries, nextCursor: rows.length > limit ? encodeCursor({ id: Number(entries[entries.length - 1].id) }) : null };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Waits for queries in flight, then closes every connection.
    await this.pool.end();
  }
}

/**
 * The numeric id in an id-cursor.
 * @throws StoreError `invalid` when the cursor is malformed.
 */
function cursorId(cursor: string): number {
  const { id } = decodeCursor(cursor, ['id']);
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) throw new StoreError('invalid', 'malformed cursor');
  return id;
}

function checkTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new StoreError('invalid', 'ttlMs must be a non-negative number');
}

/**
 * Opens the PostgreSQL store at `url` (`postgres://user:pass@host:port/db`), creates its pool and
 * migrates the schema (once across processes, see migrations.ts). Resolves the store.
 * @throws StoreError `unavailable` when the server cannot be reached, `invalid` for a bad schema
 *         name or a database newer than this code; pg errors when a migration fails.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  if (options.schema !== undefined) checkSchemaName(options.schema);
  // Session settings travel in the startup packet, so every pooled connection has them from the start.
  const settings = ['-c DateStyle=ISO', '-c TimeZone=UTC', '-c IntervalStyle=postgres'];
  if (options.schema !== undefined) settings.push(`-c search_path=${options.schema}`);
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    application_name: options.applicationName ?? 'switchboard',
    options: settings.join(' '),
    types: TYPE_PARSERS,
  });
  // Without a listener, an idle connection dropped by the server would crash the process.
  pool.on('error', (err) => options.onIdleError?.(err));
  let schema: string;
  try {
    const client = await pool.connect();
    try {
      if (options.schema !== undefined) {
        schema = options.schema;
      } else {
        const { rows } = await client.query<{ s: string | null }>('SELECT current_schema() AS s');
        if (!rows[0].s) throw new StoreError('invalid', 'the search_path names no existing schema; pass the schema option');
        schema = checkSchemaName(rows[0].s);
      }
      await migratePostgres(client, schema, options.createSchema === true);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw toStoreError(err);
  }
  return new PostgresStore(pool, `postgres:${redactUrl(url)}${options.schema ? `#${schema}` : ''}`, schema, options.now);
}
