/**
 * PostgreSQL implementation of `ProvisioningStore`, for several ACS instances (on several hosts)
 * sharing one database: presets, files, variables, rollouts, webhooks... changed through any of
 * them are seen by all (issue #8).
 *
 * - Tables are `prov_`-prefixed, in the core PostgreSQL store's schema, migrated under an advisory
 *   lock (pg-migrations.ts) so instances starting at once do not race.
 * - Its own small pool (the core store keeps its pool private); statements are named prepared
 *   statements, multi-statement writes run in READ COMMITTED transactions, retried after a
 *   deadlock or serialization failure.
 * - Limits that hold across instances lock the rollout row: `claimDownloadSlot` and
 *   `claimKickSlot` take `SELECT ... FOR UPDATE` on it, THEN count (a later statement of the
 *   transaction sees every commit made before the lock was granted), so two instances can never
 *   both see the last free slot. Rollout state changes are compare-and-set (`expect`).
 * - Change notifications (`subscribe`): every committed change of operator data sends
 *   `pg_notify` INSIDE its transaction (PostgreSQL delivers it at commit, never for a rollback) on
 *   `<namespace>.prov.changed`; each instance's PgNotifier hands other instances' messages to its
 *   listeners, and the instance that made the change tells its own listeners right after the
 *   commit. NOTIFY is lost while a listener is reconnecting, so after a reconnect every kind is
 *   announced without an id ("reload everything").
 * - File content can live in the same database (`contentStore()`, pg-content.ts).
 */
import pg from 'pg';
import { decodeCursor, encodeCursor, normaliseTags, pageLimit } from '../cursor.ts';
import { PgNotifier, type ChannelMap } from '../postgres/notify.ts';
import { MAX_CHAR } from '../params.ts';
import { Params, checkSchemaName, createSchemaIfMissing, inTransaction, numericId, redactUrl, statementName, toStoreError } from '../postgres/sql.ts';
import { StoreError, type IsoTimestamp } from '../types.ts';
import { ChangeListeners } from './changes.ts';
import { PgFileContentStore } from './pg-content.ts';
import { migratePgProvisioning } from './pg-migrations.ts';
import {
  ROLLOUT_DEVICE_STATES,
  mergeVariableSets,
  newId,
  pageOf,
  rowToBootstrap,
  rowToDelivery,
  rowToDeviceMemory,
  rowToFile,
  rowToHistory,
  rowToPreset,
  rowToRollout,
  rowToRolloutDevice,
  rowToWebhook,
  variableSets,
  type BootstrapRow,
  type DeliveryRow,
  type DeviceMemoryRow,
  type FileRow,
  type HistoryRow,
  type PresetRow,
  type RolloutDeviceRow,
  type RolloutRow,
  type VariableRow,
  type WebhookRow,
} from './rows.ts';
import {
  PROVISIONING_CHANGE_KINDS,
  type BootstrapRecord,
  type BootstrapSpec,
  type DeliveryStatus,
  type DeliveryUpdate,
  type DeviceMemoryEntry,
  type DeviceMemoryKind,
  type FilePatch,
  type FileQuery,
  type FileRecord,
  type HistoryEntry,
  type HistoryQuery,
  type NewFileRecord,
  type NewHistoryEntry,
  type NewRolloutDevice,
  type Page,
  type Preset,
  type PresetSpec,
  type ProvisioningChangeKind,
  type ProvisioningChangeListener,
  type ProvisioningStore,
  type Rollout,
  type RolloutCounts,
  type RolloutDevice,
  type RolloutDeviceExpectation,
  type RolloutDeviceState,
  type RolloutDeviceUpdate,
  type RolloutExpectation,
  type RolloutPatch,
  type RolloutSpec,
  type RolloutState,
  type VariableQuery,
  type VariableSet,
  type Webhook,
  type WebhookDelivery,
  type WebhookSpec,
} from './types.ts';

export interface PostgresProvisioningStoreOptions {
  /** Schema of the tables (default: the server's current schema). The core store's schema. */
  schema?: string;
  /** Create the schema when missing (tests). */
  createSchema?: boolean;
  /** Pooled connections (default 4: operator writes and per-session reads are short). */
  poolSize?: number;
  connectTimeoutMs?: number;
  /** Clock in ms for timestamps (tests fake it). */
  now?: () => number;
  /**
   * LISTEN/NOTIFY channel namespace (default `switchboard`; instances must agree, tests use their
   * own). `notify: false` = no change notifications across instances (no listening connection).
   */
  namespace?: string;
  notify?: boolean;
  /** Told about errors of idle connections, the notification connection and listeners. */
  onError?: (err: Error) => void;
  /** Shown in pg_stat_activity (default `switchboard-provisioning`). */
  applicationName?: string;
}

/** The channel carrying change notifications (see the module comment). */
export const PROVISIONING_CHANNEL = 'prov.changed';

interface ProvisioningChannels extends ChannelMap {
  'prov.changed': { kind: ProvisioningChangeKind; id: string | null };
}

const DEFAULT_POOL_SIZE = 4;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 30_000;

/** What runs SQL: the pool (autocommit) or a client inside a transaction. */
type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

/** The SET list of a rollout device update (updated_at always). */
function deviceSets(p: Params, update: RolloutDeviceUpdate, at: IsoTimestamp): string {
  const sets = [`updated_at = ${p.add(at)}`];
  const col = (c: string, v: string | number | null | undefined, cast?: string) => {
    if (v !== undefined) sets.push(`${c} = ${p.add(v, cast)}`);
  };
  col('state', update.state);
  col('phase', update.phase, 'text');
  col('command_key', update.commandKey, 'text');
  col('task_id', update.taskId, 'text');
  col('fault_code', update.faultCode, 'integer');
  col('detail', update.detail, 'text');
  col('started_at', update.startedAt, 'text');
  col('finished_at', update.finishedAt, 'text');
  col('kicked_at', update.kickedAt, 'text');
  return sets.join(', ');
}

/** A file row as pg returns it (bigint size as text). */
function pgFile(r: FileRow): FileRecord {
  return rowToFile({ ...r, size: Number(r.size) });
}

/** See the module comment. Create it with `openPostgresProvisioningStore`. */
export class PostgresProvisioningStore implements ProvisioningStore {
  readonly name: string;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly clock: () => number;
  private readonly notifier: PgNotifier<ProvisioningChannels> | null;
  private readonly changes: ChangeListeners;
  private unlisten: (() => Promise<void>) | null = null;
  /** Opens a connection outside the pool (long upload transactions). */
  private readonly connectOwn: () => Promise<pg.Client>;
  private content: PgFileContentStore | null = null;
  private closed = false;

  constructor(
    pool: pg.Pool,
    name: string,
    schema: string,
    clock: () => number,
    notifier: PgNotifier<ProvisioningChannels> | null,
    connectOwn: () => Promise<pg.Client>,
    onError?: (err: Error) => void,
  ) {
    this.pool = pool;
    this.connectOwn = connectOwn;
    this.name = name;
    this.schema = schema;
    this.clock = clock;
    this.notifier = notifier;
    this.changes = new ChangeListeners(onError);
  }

  /** Starts hearing other instances' changes (called once by the opener). */
  async listen(): Promise<void> {
    if (!this.notifier) return;
    this.unlisten = await this.notifier.subscribe(PROVISIONING_CHANNEL, (payload, meta) => {
      // Own changes were told right after their commit (see `write`).
      if (meta.fromSelf || this.closed) return;
      if (!PROVISIONING_CHANGE_KINDS.includes(payload.kind)) return;
      this.changes.emit(payload.id === null ? { kind: payload.kind } : { kind: payload.kind, id: payload.id });
    });
  }

  /** After the notification connection came back: messages may have been missed, reload everything. */
  announceReload(): void {
    if (this.closed) return;
    for (const kind of PROVISIONING_CHANGE_KINDS) this.changes.emit({ kind });
  }

  subscribe(listener: ProvisioningChangeListener): () => void {
    return this.changes.add(listener);
  }

  /** File content kept in this database (shares the pool). */
  contentStore(): PgFileContentStore {
    this.content ??= new PgFileContentStore({
      pool: this.pool,
      connectWriter: async () => {
        const client = await this.connectOwn();
        return { client, release: () => void client.end().catch(() => undefined) };
      },
      now: this.clock,
      isClosed: () => this.closed,
    });
    return this.content;
  }

  private now(): IsoTimestamp {
    return new Date(this.clock()).toISOString();
  }

  private open(): void {
    if (this.closed) throw new StoreError('unavailable', 'the provisioning store is closed');
  }

  /** Runs one statement (prepared by name); resolves its rows. */
  private async rows<R extends pg.QueryResultRow>(on: Queryable, text: string, values: unknown[] = []): Promise<R[]> {
    this.open();
    try {
      return (await (on as pg.Pool).query<R>({ name: statementName(text), text, values })).rows;
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /** Runs one statement; resolves how many rows it changed. */
  private async exec(on: Queryable, text: string, values: unknown[] = []): Promise<number> {
    this.open();
    try {
      return (await (on as pg.Pool).query({ name: statementName(text), text, values })).rowCount ?? 0;
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /** Runs `fn` in a transaction (again after a deadlock/serialization failure). */
  private transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.open();
    return inTransaction(this.pool, fn);
  }

  /**
   * A write of operator data: runs `fn` in a transaction that also publishes the change (delivered
   * to other instances at commit), then tells this instance's listeners. `idOf` names the changed
   * object (undefined = all of the kind, false = nothing changed).
   */
  private async write<T>(kind: ProvisioningChangeKind, fn: (client: pg.PoolClient) => Promise<T>, idOf: (result: T) => string | undefined | false): Promise<T> {
    const { result, id } = await this.transaction(async (client) => {
      const r = await fn(client);
      const changed = idOf(r);
      if (changed !== false && this.notifier) {
        const stmt = this.notifier.notifyStatement(PROVISIONING_CHANNEL, { kind, id: changed ?? null });
        await client.query(stmt.text, stmt.values);
      }
      return { result: r, id: changed };
    });
    if (id !== false) this.changes.emit(id === undefined ? { kind } : { kind, id });
    return result;
  }

  // Presets --------------------------------------------------------------------------------------

  async createPreset(spec: PresetSpec): Promise<Preset> {
    const at = this.now();
    const id = newId('pre');
    return this.write(
      'preset',
      async (c) => {
        await this.presetNameFree(c, spec.name, null);
        await this.exec(c, 'INSERT INTO prov_presets (id, name, spec, revision, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4)', [id, spec.name, JSON.stringify(spec), at]);
        return { ...spec, id, revision: 1, createdAt: at, updatedAt: at };
      },
      (p) => p.id,
    ).catch((err: unknown) => Promise.reject(err instanceof StoreError && err.code === 'conflict' ? new StoreError('conflict', `a preset named "${spec.name}" exists`) : err));
  }

  /** @throws StoreError `conflict` when another preset has the name. */
  private async presetNameFree(c: Queryable, name: string, exceptId: string | null): Promise<void> {
    const taken = await this.rows(c, 'SELECT 1 FROM prov_presets WHERE name = $1 AND id IS DISTINCT FROM $2', [name, exceptId]);
    if (taken.length > 0) throw new StoreError('conflict', `a preset named "${name}" exists`);
  }

  async getPreset(id: string): Promise<Preset | null> {
    const [r] = await this.rows<PresetRow>(this.pool, 'SELECT * FROM prov_presets WHERE id = $1', [id]);
    return r ? rowToPreset(r) : null;
  }

  async listPresets(): Promise<Preset[]> {
    return (await this.rows<PresetRow>(this.pool, 'SELECT * FROM prov_presets ORDER BY name')).map(rowToPreset);
  }

  async updatePreset(id: string, spec: PresetSpec): Promise<Preset | null> {
    return this.write(
      'preset',
      async (c) => {
        await this.presetNameFree(c, spec.name, id);
        const [r] = await this.rows<PresetRow>(
          c,
          'UPDATE prov_presets SET name = $1, spec = $2, revision = revision + 1, updated_at = $3 WHERE id = $4 RETURNING *',
          [spec.name, JSON.stringify(spec), this.now(), id],
        );
        return r ? rowToPreset(r) : null;
      },
      (p) => p !== null && id,
    );
  }

  async deletePreset(id: string): Promise<boolean> {
    return this.write('preset', async (c) => (await this.exec(c, 'DELETE FROM prov_presets WHERE id = $1', [id])) > 0, (gone) => gone && id);
  }

  // Files ----------------------------------------------------------------------------------------

  async createFile(record: NewFileRecord): Promise<FileRecord> {
    const at = this.now();
    const id = newId('file');
    return this.write(
      'file',
      async (c) => {
        await this.exec(
          c,
          `INSERT INTO prov_files (id, name, file_type, oui, product_class, version, size, sha256, description, auth_scheme, auth_username, auth_password, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)`,
          [id, record.name, record.fileType, record.oui, record.productClass, record.version, record.size, record.sha256, record.description, record.auth.scheme, record.auth.username, record.auth.password, at],
        );
        return { ...record, id, createdAt: at, updatedAt: at };
      },
      (f) => f.id,
    );
  }

  async getFile(id: string): Promise<FileRecord | null> {
    const [r] = await this.rows<FileRow>(this.pool, 'SELECT * FROM prov_files WHERE id = $1', [id]);
    return r ? pgFile(r) : null;
  }

  async listFiles(query: FileQuery): Promise<Page<FileRecord>> {
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where: string[] = [];
    const eq = (col: string, v: string | undefined) => {
      if (v !== undefined) where.push(`${col} = ${p.add(v, 'text')}`);
    };
    eq('file_type', query.fileType);
    eq('oui', query.oui);
    eq('product_class', query.productClass);
    eq('version', query.version);
    eq('sha256', query.sha256);
    if (query.cursor !== undefined) {
      const c = decodeCursor(query.cursor, ['created', 'id']);
      const created = p.add(String(c.created), 'text');
      where.push(`(created_at > ${created} OR (created_at = ${created} AND id > ${p.add(String(c.id), 'text')}))`);
    }
    const sql = `SELECT * FROM prov_files ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at, id LIMIT ${p.add(limit + 1, 'int')}`;
    const rows = await this.rows<FileRow>(this.pool, sql, p.values);
    return pageOf(rows, limit, pgFile, (r) => ({ created: r.created_at, id: r.id }));
  }

  async updateFile(id: string, patch: FilePatch): Promise<FileRecord | null> {
    return this.write(
      'file',
      async (c) => {
        const [r] = await this.rows<FileRow>(c, 'SELECT * FROM prov_files WHERE id = $1 FOR UPDATE', [id]);
        if (!r) return null;
        const cur = pgFile(r);
        const next: FileRecord = {
          ...cur,
          name: patch.name ?? cur.name,
          fileType: patch.fileType ?? cur.fileType,
          oui: patch.oui !== undefined ? patch.oui : cur.oui,
          productClass: patch.productClass !== undefined ? patch.productClass : cur.productClass,
          version: patch.version !== undefined ? patch.version : cur.version,
          description: patch.description !== undefined ? patch.description : cur.description,
          auth: patch.auth ?? cur.auth,
          updatedAt: this.now(),
        };
        await this.exec(
          c,
          `UPDATE prov_files SET name = $1, file_type = $2, oui = $3, product_class = $4, version = $5, description = $6, auth_scheme = $7, auth_username = $8, auth_password = $9, updated_at = $10
           WHERE id = $11`,
          [next.name, next.fileType, next.oui, next.productClass, next.version, next.description, next.auth.scheme, next.auth.username, next.auth.password, next.updatedAt, id],
        );
        return next;
      },
      (f) => f !== null && id,
    );
  }

  async deleteFile(id: string): Promise<boolean> {
    return this.write('file', async (c) => (await this.exec(c, 'DELETE FROM prov_files WHERE id = $1', [id])) > 0, (gone) => gone && id);
  }

  async countFilesWithContent(sha256: string): Promise<number> {
    const [r] = await this.rows<{ n: number }>(this.pool, 'SELECT COUNT(*)::int AS n FROM prov_files WHERE sha256 = $1', [sha256]);
    return r.n;
  }

  // Variables ------------------------------------------------------------------------------------

  async getVariables(keys: string[]): Promise<VariableSet[]> {
    if (keys.length === 0) return [];
    const rows = await this.rows<VariableRow>(this.pool, 'SELECT key, name, value, updated_at FROM prov_variables WHERE key = ANY($1::text[]) ORDER BY key, name', [keys]);
    const byKey = new Map(variableSets(rows).map((s) => [s.key, s]));
    // in the order asked
    return keys.map((k) => byKey.get(k)).filter((s): s is VariableSet => s !== undefined);
  }

  async listVariables(query: VariableQuery): Promise<Page<VariableSet>> {
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where: string[] = [];
    if (query.keyPrefix) where.push(`key >= ${p.add(query.keyPrefix, 'text')} AND key < ${p.add(query.keyPrefix + MAX_CHAR, 'text')}`);
    if (query.cursor !== undefined) where.push(`key > ${p.add(String(decodeCursor(query.cursor, ['key']).key), 'text')}`);
    const keys = await this.rows<{ key: string }>(
      this.pool,
      `SELECT DISTINCT key FROM prov_variables ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY key LIMIT ${p.add(limit + 1, 'int')}`,
      p.values,
    );
    const more = keys.length > limit;
    const pageKeys = (more ? keys.slice(0, limit) : keys).map((k) => k.key);
    if (pageKeys.length === 0) return { items: [], nextCursor: null };
    const rows = await this.rows<VariableRow>(this.pool, 'SELECT key, name, value, updated_at FROM prov_variables WHERE key = ANY($1::text[]) ORDER BY key, name', [pageKeys]);
    return { items: variableSets(rows), nextCursor: more ? encodeCursor({ key: pageKeys[pageKeys.length - 1] }) : null };
  }

  async putVariables(sets: { key: string; variables: Record<string, string> }[], mode: 'merge' | 'replace'): Promise<number> {
    const at = this.now();
    const merged = mergeVariableSets(sets, mode);
    const delKeys: string[] = [];
    const delNames: string[] = [];
    const putKeys: string[] = [];
    const putNames: string[] = [];
    const putValues: string[] = [];
    for (const [key, names] of merged.values) {
      for (const [name, value] of names) {
        if (value === '') {
          delKeys.push(key);
          delNames.push(name);
        } else {
          putKeys.push(key);
          putNames.push(name);
          putValues.push(value);
        }
      }
    }
    await this.write(
      'variables',
      async (c) => {
        if (merged.replaced.length > 0) await this.exec(c, 'DELETE FROM prov_variables WHERE key = ANY($1::text[])', [merged.replaced]);
        if (delKeys.length > 0) {
          await this.exec(c, 'DELETE FROM prov_variables v USING unnest($1::text[], $2::text[]) AS d(key, name) WHERE v.key = d.key AND v.name = d.name', [delKeys, delNames]);
        }
        if (putKeys.length > 0) {
          await this.exec(
            c,
            `INSERT INTO prov_variables (key, name, value, updated_at) SELECT u.key, u.name, u.value, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(key, name, value)
             ON CONFLICT (key, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
            [putKeys, putNames, putValues, at],
          );
        }
      },
      () => (sets.length > 0 ? undefined : false),
    );
    return sets.length;
  }

  async deleteVariables(selector: { keys?: string[]; all?: boolean }): Promise<number> {
    if (!selector.all && (selector.keys ?? []).length === 0) return 0;
    return this.write(
      'variables',
      async (c) => {
        const [r] = selector.all
          ? await this.rows<{ n: number }>(c, 'WITH d AS (DELETE FROM prov_variables RETURNING key) SELECT COUNT(DISTINCT key)::int AS n FROM d')
          : await this.rows<{ n: number }>(c, 'WITH d AS (DELETE FROM prov_variables WHERE key = ANY($1::text[]) RETURNING key) SELECT COUNT(DISTINCT key)::int AS n FROM d', [selector.keys]);
        return r.n;
      },
      (n) => n > 0 && undefined,
    );
  }

  // Device memory --------------------------------------------------------------------------------

  async getDeviceMemory(deviceId: string, kinds?: DeviceMemoryKind[]): Promise<DeviceMemoryEntry[]> {
    const rows =
      kinds && kinds.length > 0
        ? await this.rows<DeviceMemoryRow>(this.pool, 'SELECT * FROM prov_device_memory WHERE device_id = $1 AND kind = ANY($2::text[]) ORDER BY kind, name', [deviceId, kinds])
        : await this.rows<DeviceMemoryRow>(this.pool, 'SELECT * FROM prov_device_memory WHERE device_id = $1 ORDER BY kind, name', [deviceId]);
    return rows.map(rowToDeviceMemory);
  }

  async putDeviceMemory(entries: DeviceMemoryEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // One row per (device, kind, name), the last entry winning (one INSERT cannot touch a row twice).
    const last = new Map<string, DeviceMemoryEntry>();
    for (const e of entries) last.set(JSON.stringify([e.deviceId, e.kind, e.name]), e);
    const list = [...last.values()];
    await this.exec(
      this.pool,
      `INSERT INTO prov_device_memory (device_id, kind, name, hash, detail, at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
       ON CONFLICT (device_id, kind, name) DO UPDATE SET hash = excluded.hash, detail = excluded.detail, at = excluded.at`,
      [
        list.map((e) => e.deviceId),
        list.map((e) => e.kind),
        list.map((e) => e.name),
        list.map((e) => e.hash),
        list.map((e) => (e.detail === null ? null : JSON.stringify(e.detail))),
        list.map((e) => e.at),
      ],
    );
  }

  async deleteDeviceMemory(deviceId: string, kinds?: DeviceMemoryKind[], name?: string): Promise<number> {
    const p = new Params();
    let sql = `DELETE FROM prov_device_memory WHERE device_id = ${p.add(deviceId, 'text')}`;
    if (kinds && kinds.length > 0) sql += ` AND kind = ANY(${p.add(kinds, 'text[]')})`;
    if (name !== undefined) sql += ` AND name = ${p.add(name, 'text')}`;
    return this.exec(this.pool, sql, p.values);
  }

  // Rollouts -------------------------------------------------------------------------------------

  async createRollout(spec: RolloutSpec, devices: NewRolloutDevice[]): Promise<Rollout> {
    const at = this.now();
    const id = newId('ro');
    return this.write(
      'rollout',
      async (c) => {
        await this.exec(c, "INSERT INTO prov_rollouts (id, spec, state, stage_index, reason, created_at, updated_at) VALUES ($1, $2, 'running', 0, NULL, $3, $3)", [id, JSON.stringify(spec), at]);
        if (devices.length > 0) {
          await this.exec(
            c,
            `INSERT INTO prov_rollout_devices (rollout_id, device_id, position, stage, state, from_version, detail, updated_at, finished_at)
             SELECT $1, u.device_id, u.position, u.stage, u.state, u.from_version, u.detail, $7, CASE WHEN u.state = 'skipped' THEN $7 END
             FROM unnest($2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $8::text[]) AS u(device_id, position, stage, state, from_version, detail)`,
            [
              id,
              devices.map((d) => d.deviceId),
              devices.map((d) => d.position),
              devices.map((d) => d.stage),
              devices.map((d) => d.state),
              devices.map((d) => d.fromVersion),
              at,
              devices.map((d) => d.detail),
            ],
          );
        }
        const r: Rollout = { ...spec, id, state: 'running', stageIndex: 0, reason: null, createdAt: at, updatedAt: at, finishedAt: null };
        return r;
      },
      (r) => r.id,
    );
  }

  async getRollout(id: string): Promise<Rollout | null> {
    const [r] = await this.rows<RolloutRow>(this.pool, 'SELECT * FROM prov_rollouts WHERE id = $1', [id]);
    return r ? rowToRollout(r) : null;
  }

  async listRollouts(query: { states?: RolloutState[]; limit?: number; cursor?: string }): Promise<Page<Rollout>> {
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where: string[] = [];
    if (query.states && query.states.length > 0) where.push(`state = ANY(${p.add(query.states, 'text[]')})`);
    if (query.cursor !== undefined) {
      const c = decodeCursor(query.cursor, ['created', 'id']);
      const created = p.add(String(c.created), 'text');
      where.push(`(created_at < ${created} OR (created_at = ${created} AND id < ${p.add(String(c.id), 'text')}))`);
    }
    const rows = await this.rows<RolloutRow>(
      this.pool,
      `SELECT * FROM prov_rollouts ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id DESC LIMIT ${p.add(limit + 1, 'int')}`,
      p.values,
    );
    return pageOf(rows, limit, rowToRollout, (r) => ({ created: r.created_at, id: r.id }));
  }

  async updateRollout(id: string, patch: RolloutPatch, expect?: RolloutExpectation): Promise<Rollout | null> {
    const p = new Params();
    const sets = [`updated_at = ${p.add(this.now(), 'text')}`];
    if (patch.state !== undefined) sets.push(`state = ${p.add(patch.state, 'text')}`);
    if (patch.stageIndex !== undefined) sets.push(`stage_index = ${p.add(patch.stageIndex, 'int')}`);
    if (patch.reason !== undefined) sets.push(`reason = ${p.add(patch.reason, 'text')}`);
    if (patch.finishedAt !== undefined) sets.push(`finished_at = ${p.add(patch.finishedAt, 'text')}`);
    const where = [`id = ${p.add(id, 'text')}`];
    // Compare-and-set: the row lock taken by UPDATE makes a concurrent writer re-check these.
    if (expect?.states !== undefined) where.push(`state = ANY(${p.add(expect.states, 'text[]')})`);
    if (expect?.stageIndex !== undefined) where.push(`stage_index = ${p.add(expect.stageIndex, 'int')}`);
    return this.write(
      'rollout',
      async (c) => {
        const [r] = await this.rows<RolloutRow>(c, `UPDATE prov_rollouts SET ${sets.join(', ')} WHERE ${where.join(' AND ')} RETURNING *`, p.values);
        return r ? rowToRollout(r) : null;
      },
      (r) => r !== null && id,
    );
  }

  async listRolloutDevices(rolloutId: string, query: { states?: RolloutDeviceState[]; limit?: number; cursor?: string }): Promise<Page<RolloutDevice>> {
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where = [`rollout_id = ${p.add(rolloutId, 'text')}`];
    if (query.states && query.states.length > 0) where.push(`state = ANY(${p.add(query.states, 'text[]')})`);
    if (query.cursor !== undefined) where.push(`position > ${p.add(Number(decodeCursor(query.cursor, ['position']).position), 'int')}`);
    const rows = await this.rows<RolloutDeviceRow>(
      this.pool,
      `SELECT * FROM prov_rollout_devices WHERE ${where.join(' AND ')} ORDER BY position LIMIT ${p.add(limit + 1, 'int')}`,
      p.values,
    );
    return pageOf(rows, limit, rowToRolloutDevice, (r) => ({ position: r.position }));
  }

  async getRolloutDevice(rolloutId: string, deviceId: string): Promise<RolloutDevice | null> {
    const [r] = await this.rows<RolloutDeviceRow>(this.pool, 'SELECT * FROM prov_rollout_devices WHERE rollout_id = $1 AND device_id = $2', [rolloutId, deviceId]);
    return r ? rowToRolloutDevice(r) : null;
  }

  async rolloutsOfDevice(deviceId: string): Promise<{ rollout: Rollout; device: RolloutDevice }[]> {
    const rows = await this.rows<RolloutDeviceRow & { r_id: string; r_spec: string; r_state: string; r_stage_index: number; r_reason: string | null; r_created_at: string; r_updated_at: string; r_finished_at: string | null }>(
      this.pool,
      `SELECT d.*, r.id AS r_id, r.spec AS r_spec, r.state AS r_state, r.stage_index AS r_stage_index, r.reason AS r_reason,
              r.created_at AS r_created_at, r.updated_at AS r_updated_at, r.finished_at AS r_finished_at
       FROM prov_rollout_devices d JOIN prov_rollouts r ON r.id = d.rollout_id
       WHERE d.device_id = $1 AND r.state IN ('running', 'paused')
       ORDER BY r.created_at DESC, r.id DESC`,
      [deviceId],
    );
    return rows.map((row) => ({
      rollout: rowToRollout({
        id: row.r_id,
        spec: row.r_spec,
        state: row.r_state,
        stage_index: row.r_stage_index,
        reason: row.r_reason,
        created_at: row.r_created_at,
        updated_at: row.r_updated_at,
        finished_at: row.r_finished_at,
      }),
      device: rowToRolloutDevice(row),
    }));
  }

  async updateRolloutDevice(rolloutId: string, deviceId: string, update: RolloutDeviceUpdate, expect?: RolloutDeviceExpectation): Promise<RolloutDevice | null> {
    const p = new Params();
    const sets = deviceSets(p, update, this.now());
    let sql = `UPDATE prov_rollout_devices SET ${sets} WHERE rollout_id = ${p.add(rolloutId, 'text')} AND device_id = ${p.add(deviceId, 'text')}`;
    if (expect) sql += ` AND state = ANY(${p.add(expect.states, 'text[]')})`;
    const [r] = await this.rows<RolloutDeviceRow>(this.pool, `${sql} RETURNING *`, p.values);
    return r ? rowToRolloutDevice(r) : null;
  }

  async updateRolloutDevices(rolloutId: string, where: { states: RolloutDeviceState[] }, update: RolloutDeviceUpdate): Promise<number> {
    const p = new Params();
    const sets = deviceSets(p, update, this.now());
    return this.exec(this.pool, `UPDATE prov_rollout_devices SET ${sets} WHERE rollout_id = ${p.add(rolloutId, 'text')} AND state = ANY(${p.add(where.states, 'text[]')})`, p.values);
  }

  /**
   * Runs `fn` in a transaction holding the rollout row's lock; resolves null when the rollout does
   * not exist. Every statement of `fn` runs after the lock was granted, so (READ COMMITTED) it sees
   * every slot claimed by a transaction that held the lock before.
   */
  private withRolloutLock<T>(rolloutId: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T | null> {
    return this.transaction(async (c) => {
      const locked = await this.rows(c, 'SELECT 1 FROM prov_rollouts WHERE id = $1 FOR UPDATE', [rolloutId]);
      return locked.length === 0 ? null : fn(c);
    });
  }

  async claimDownloadSlot(rolloutId: string, deviceId: string, maxConcurrent: number, update: RolloutDeviceUpdate): Promise<RolloutDevice | null> {
    return this.withRolloutLock(rolloutId, async (c) => {
      const [busy] = await this.rows<{ n: number }>(c, "SELECT COUNT(*)::int AS n FROM prov_rollout_devices WHERE rollout_id = $1 AND state = 'downloading'", [rolloutId]);
      if (busy.n >= maxConcurrent) return null;
      const p = new Params();
      // stamped now, under the lock: after the finish of the device whose slot this takes
      const at = this.now();
      const sets = deviceSets(p, { startedAt: at, ...update, state: 'downloading' }, at);
      const [r] = await this.rows<RolloutDeviceRow>(
        c,
        `UPDATE prov_rollout_devices SET ${sets} WHERE rollout_id = ${p.add(rolloutId, 'text')} AND device_id = ${p.add(deviceId, 'text')} AND state = 'pending' RETURNING *`,
        p.values,
      );
      return r ? rowToRolloutDevice(r) : null;
    });
  }

  async claimKickSlot(rolloutId: string, deviceId: string, maxConcurrent: number, at: IsoTimestamp, kickedSince: IsoTimestamp): Promise<boolean> {
    const won = await this.withRolloutLock(rolloutId, async (c) => {
      const [busy] = await this.rows<{ n: number }>(
        c,
        "SELECT COUNT(*)::int AS n FROM prov_rollout_devices WHERE rollout_id = $1 AND (state = 'downloading' OR (state = 'pending' AND kicked_at >= $2))",
        [rolloutId, kickedSince],
      );
      if (busy.n >= maxConcurrent) return false;
      const changed = await this.exec(
        c,
        "UPDATE prov_rollout_devices SET kicked_at = $3 WHERE rollout_id = $1 AND device_id = $2 AND state = 'pending' AND (kicked_at IS NULL OR kicked_at < $4)",
        [rolloutId, deviceId, at, kickedSince],
      );
      return changed > 0;
    });
    return won === true;
  }

  async rolloutCounts(rolloutId: string, stageAtMost?: number): Promise<RolloutCounts> {
    const rows =
      stageAtMost === undefined
        ? await this.rows<{ state: string; n: number }>(this.pool, 'SELECT state, COUNT(*)::int AS n FROM prov_rollout_devices WHERE rollout_id = $1 GROUP BY state', [rolloutId])
        : await this.rows<{ state: string; n: number }>(
            this.pool,
            'SELECT state, COUNT(*)::int AS n FROM prov_rollout_devices WHERE rollout_id = $1 AND stage <= $2 GROUP BY state',
            [rolloutId, stageAtMost],
          );
    const counts = Object.fromEntries(ROLLOUT_DEVICE_STATES.map((s) => [s, 0])) as RolloutCounts;
    for (const r of rows) counts[r.state as RolloutDeviceState] = r.n;
    return counts;
  }

  // Webhooks -------------------------------------------------------------------------------------

  async createWebhook(spec: WebhookSpec): Promise<Webhook> {
    const at = this.now();
    const id = newId('wh');
    return this.write(
      'webhook',
      async (c) => {
        await this.exec(c, 'INSERT INTO prov_webhooks (id, spec, created_at, updated_at) VALUES ($1, $2, $3, $3)', [id, JSON.stringify(spec), at]);
        return { ...spec, id, createdAt: at, updatedAt: at };
      },
      (w) => w.id,
    );
  }

  async getWebhook(id: string): Promise<Webhook | null> {
    const [r] = await this.rows<WebhookRow>(this.pool, 'SELECT * FROM prov_webhooks WHERE id = $1', [id]);
    return r ? rowToWebhook(r) : null;
  }

  async listWebhooks(): Promise<Webhook[]> {
    return (await this.rows<WebhookRow>(this.pool, 'SELECT * FROM prov_webhooks ORDER BY created_at, id')).map(rowToWebhook);
  }

  async updateWebhook(id: string, spec: WebhookSpec): Promise<Webhook | null> {
    return this.write(
      'webhook',
      async (c) => {
        const [r] = await this.rows<WebhookRow>(c, 'UPDATE prov_webhooks SET spec = $1, updated_at = $2 WHERE id = $3 RETURNING *', [JSON.stringify(spec), this.now(), id]);
        return r ? rowToWebhook(r) : null;
      },
      (w) => w !== null && id,
    );
  }

  async deleteWebhook(id: string): Promise<boolean> {
    return this.write(
      'webhook',
      async (c) => {
        const gone = (await this.exec(c, 'DELETE FROM prov_webhooks WHERE id = $1', [id])) > 0;
        // Undelivered messages of a deleted hook have no one to go to.
        if (gone) await this.exec(c, "UPDATE prov_deliveries SET status = 'failed', last_error = 'webhook deleted', next_attempt_at = NULL WHERE webhook_id = $1 AND status = 'pending'", [id]);
        return gone;
      },
      (gone) => gone && id,
    );
  }

  async createDeliveries(deliveries: Omit<WebhookDelivery, 'id'>[]): Promise<WebhookDelivery[]> {
    if (deliveries.length === 0) return [];
    return this.transaction(async (c) => {
      const out: WebhookDelivery[] = [];
      for (const d of deliveries) {
        const [r] = await this.rows<{ id: string }>(
          c,
          `INSERT INTO prov_deliveries (webhook_id, event, body, status, attempts, next_attempt_at, last_status_code, last_error, created_at, finished_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
          [d.webhookId, d.event, d.body, d.status, d.attempts, d.nextAttemptAt, d.lastStatusCode, d.lastError, d.createdAt, d.finishedAt],
        );
        out.push({ ...d, id: String(r.id) });
      }
      return out;
    });
  }

  async getDelivery(id: string): Promise<WebhookDelivery | null> {
    const n = numericId(id);
    if (n === null) return null;
    const [r] = await this.rows<DeliveryRow>(this.pool, 'SELECT * FROM prov_deliveries WHERE id = $1::bigint', [n]);
    return r ? rowToDelivery(r) : null;
  }

  async dueDeliveries(now: IsoTimestamp, limit: number): Promise<WebhookDelivery[]> {
    const rows = await this.rows<DeliveryRow>(
      this.pool,
      "SELECT * FROM prov_deliveries WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY id LIMIT $2",
      [now, limit],
    );
    return rows.map(rowToDelivery);
  }

  async claimDueDeliveries(now: IsoTimestamp, limit: number, leaseUntil: IsoTimestamp): Promise<WebhookDelivery[]> {
    // SKIP LOCKED: instances claiming at once take different rows; a row another claim just leased
    // is re-checked against the WHERE after its lock is granted (READ COMMITTED) and left out.
    const rows = await this.rows<DeliveryRow>(
      this.pool,
      `UPDATE prov_deliveries SET next_attempt_at = $3 WHERE id IN (
         SELECT id FROM prov_deliveries WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
       ) RETURNING *`,
      [now, limit, leaseUntil],
    );
    return rows.sort((x, y) => Number(x.id) - Number(y.id)).map(rowToDelivery);
  }

  async updateDelivery(id: string, update: DeliveryUpdate): Promise<WebhookDelivery | null> {
    const n = numericId(id);
    if (n === null) return null;
    const p = new Params();
    const sets: string[] = [];
    const col = (c: string, v: string | number | null | undefined, cast: string) => {
      if (v !== undefined) sets.push(`${c} = ${p.add(v, cast)}`);
    };
    col('status', update.status, 'text');
    col('attempts', update.attempts, 'int');
    col('next_attempt_at', update.nextAttemptAt, 'text');
    col('last_status_code', update.lastStatusCode, 'int');
    col('last_error', update.lastError, 'text');
    col('finished_at', update.finishedAt, 'text');
    const where = `WHERE id = ${p.add(n, 'bigint')}`;
    const [r] =
      sets.length > 0
        ? await this.rows<DeliveryRow>(this.pool, `UPDATE prov_deliveries SET ${sets.join(', ')} ${where} RETURNING *`, p.values)
        : await this.rows<DeliveryRow>(this.pool, `SELECT * FROM prov_deliveries ${where}`, p.values);
    return r ? rowToDelivery(r) : null;
  }

  async listDeliveries(query: { webhookId?: string; status?: DeliveryStatus; limit?: number; cursor?: string }): Promise<Page<WebhookDelivery>> {
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where: string[] = [];
    if (query.webhookId !== undefined) where.push(`webhook_id = ${p.add(query.webhookId, 'text')}`);
    if (query.status !== undefined) where.push(`status = ${p.add(query.status, 'text')}`);
    if (query.cursor !== undefined) where.push(`id < ${p.add(Number(decodeCursor(query.cursor, ['id']).id), 'bigint')}`);
    const rows = await this.rows<DeliveryRow>(
      this.pool,
      `SELECT * FROM prov_deliveries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ${p.add(limit + 1, 'int')}`,
      p.values,
    );
    return pageOf(rows, limit, rowToDelivery, (r) => ({ id: Number(r.id) }));
  }

  // Bootstrap ------------------------------------------------------------------------------------

  async putBootstrap(spec: BootstrapSpec): Promise<{ record: BootstrapRecord; created: boolean }> {
    const at = this.now();
    const tags = spec.tags ? normaliseTags(spec.tags) : [];
    const body = JSON.stringify({ ...spec, tags });
    return this.write(
      'bootstrap',
      async (c) => {
        // xmax is 0 on a freshly inserted row version and set on an updated one.
        const [r] = await this.rows<BootstrapRow & { inserted: boolean }>(
          c,
          `INSERT INTO prov_bootstrap (key, spec, revision, created_at, updated_at) VALUES ($1, $2, 1, $3, $3)
           ON CONFLICT (key) DO UPDATE SET spec = excluded.spec, revision = prov_bootstrap.revision + 1, updated_at = excluded.updated_at
           RETURNING *, (xmax = 0) AS inserted`,
          [spec.key, body, at],
        );
        return { record: rowToBootstrap(r), created: r.inserted };
      },
      (r) => r.record.key,
    );
  }

  async getBootstrap(key: string): Promise<BootstrapRecord | null> {
    const [r] = await this.rows<BootstrapRow>(this.pool, 'SELECT * FROM prov_bootstrap WHERE key = $1', [key]);
    return r ? rowToBootstrap(r) : null;
  }

  async findBootstrap(keys: string[]): Promise<BootstrapRecord | null> {
    if (keys.length === 0) return null;
    const rows = await this.rows<BootstrapRow>(this.pool, 'SELECT * FROM prov_bootstrap WHERE key = ANY($1::text[])', [keys]);
    for (const k of keys) {
      const r = rows.find((row) => row.key === k);
      if (r) return rowToBootstrap(r);
    }
    return null;
  }

  async listBootstrap(query: { limit?: number; cursor?: string }): Promise<Page<BootstrapRecord>> {
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where = query.cursor !== undefined ? `WHERE key > ${p.add(String(decodeCursor(query.cursor, ['key']).key), 'text')}` : '';
    const rows = await this.rows<BootstrapRow>(this.pool, `SELECT * FROM prov_bootstrap ${where} ORDER BY key LIMIT ${p.add(limit + 1, 'int')}`, p.values);
    return pageOf(rows, limit, rowToBootstrap, (r) => ({ key: r.key }));
  }

  async markBootstrapApplied(key: string, deviceId: string, at: IsoTimestamp): Promise<void> {
    await this.write('bootstrap', (c) => this.exec(c, 'UPDATE prov_bootstrap SET applied_device_id = $1, applied_at = $2 WHERE key = $3', [deviceId, at, key]), (n) => n > 0 && key);
  }

  async deleteBootstrap(key: string): Promise<boolean> {
    return this.write('bootstrap', async (c) => (await this.exec(c, 'DELETE FROM prov_bootstrap WHERE key = $1', [key])) > 0, (gone) => gone && key);
  }

  // Settings -------------------------------------------------------------------------------------

  async getSetting<T>(name: string): Promise<T | null> {
    const [r] = await this.rows<{ value: string }>(this.pool, 'SELECT value FROM prov_settings WHERE name = $1', [name]);
    return r ? (JSON.parse(r.value) as T) : null;
  }

  async putSetting(name: string, value: unknown): Promise<void> {
    // a change of operator data: instances caching settings (src/provisioning/cache.ts) drop theirs
    await this.write(
      'setting',
      (c) => this.exec(c, 'INSERT INTO prov_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [name, JSON.stringify(value)]),
      () => name,
    );
  }

  // History --------------------------------------------------------------------------------------

  async appendHistory(entries: NewHistoryEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // ORDER BY the ordinality: ids follow the given order (listHistory is newest = highest id first).
    await this.exec(
      this.pool,
      `INSERT INTO prov_history (device_id, name, value, previous, source, at)
       SELECT u.device_id, u.name, u.value, u.previous, u.source, u.at
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS u(device_id, name, value, previous, source, at, ord)
       ORDER BY u.ord`,
      [
        entries.map((e) => e.deviceId),
        entries.map((e) => e.name),
        entries.map((e) => e.value),
        entries.map((e) => e.previous),
        entries.map((e) => e.source),
        entries.map((e) => e.at),
      ],
    );
  }

  async listHistory(query: HistoryQuery): Promise<Page<HistoryEntry>> {
    const limit = pageLimit(query.limit);
    const p = new Params();
    const where = [`device_id = ${p.add(query.deviceId, 'text')}`];
    if (query.name !== undefined) where.push(`name = ${p.add(query.name, 'text')}`);
    if (query.since !== undefined) where.push(`at >= ${p.add(query.since, 'text')}`);
    if (query.cursor !== undefined) where.push(`id < ${p.add(Number(decodeCursor(query.cursor, ['id']).id), 'bigint')}`);
    const rows = await this.rows<HistoryRow>(this.pool, `SELECT * FROM prov_history WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ${p.add(limit + 1, 'int')}`, p.values);
    return pageOf(rows, limit, rowToHistory, (r) => ({ id: Number(r.id) }));
  }

  async pruneHistory(before: IsoTimestamp): Promise<number> {
    return this.exec(this.pool, 'DELETE FROM prov_history WHERE at < $1', [before]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.changes.clear();
    await this.unlisten?.().catch(() => undefined);
    await this.notifier?.close();
    await this.pool.end();
  }
}

/**
 * Opens the PostgreSQL provisioning store at `url`: creates its pool, migrates the `prov_` tables
 * (once across instances) and, unless `notify: false`, connects the change listener.
 * @returns the store.
 * @throws StoreError `unavailable` when the server cannot be reached, `invalid` for a bad schema
 *         name or a newer provisioning schema; pg errors when a migration fails.
 */
export async function openPostgresProvisioningStore(url: string, options: PostgresProvisioningStoreOptions = {}): Promise<PostgresProvisioningStore> {
  if (options.schema !== undefined) checkSchemaName(options.schema);
  const settings = ['-c TimeZone=UTC'];
  if (options.schema !== undefined) settings.push(`-c search_path=${options.schema}`);
  const connection = {
    connectionString: url,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    application_name: options.applicationName ?? 'switchboard-provisioning',
    options: settings.join(' '),
  };
  const pool = new pg.Pool({ ...connection, max: options.poolSize ?? DEFAULT_POOL_SIZE, idleTimeoutMillis: IDLE_TIMEOUT_MS });
  const connectOwn = async () => {
    const client = new pg.Client(connection);
    client.on('error', (err) => options.onError?.(err));
    await client.connect();
    return client;
  };
  // Without a listener, an idle connection dropped by the server would crash the process.
  pool.on('error', (err) => options.onError?.(err));
  let schema: string;
  let notifier: PgNotifier<ProvisioningChannels> | null = null;
  let store: PostgresProvisioningStore | null = null;
  try {
    const client = await pool.connect();
    try {
      if (options.schema !== undefined) {
        schema = options.schema;
        if (options.createSchema) await createSchemaIfMissing(client, schema);
      } else {
        const { rows } = await client.query<{ s: string | null }>('SELECT current_schema() AS s');
        if (!rows[0].s) throw new StoreError('invalid', 'the search_path names no existing schema; pass the schema option');
        schema = checkSchemaName(rows[0].s);
      }
    } finally {
      client.release();
    }
    await migratePgProvisioning(pool, schema);
    if (options.notify !== false) {
      notifier = await PgNotifier.connect<ProvisioningChannels>(url, {
        namespace: options.namespace,
        onError: options.onError,
        onReconnect: () => store?.announceReload(),
        applicationName: 'switchboard-provisioning-notify',
      });
    }
    store = new PostgresProvisioningStore(pool, `postgres:${redactUrl(url)}${options.schema ? `#${schema}` : ''}`, schema, options.now ?? Date.now, notifier, connectOwn, options.onError);
    await store.listen();
    return store;
  } catch (err) {
    await notifier?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw toStoreError(err);
  }
}
