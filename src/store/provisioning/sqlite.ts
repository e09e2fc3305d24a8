/**
 * SQLite implementation of `ProvisioningStore` (better-sqlite3 12).
 *
 * It opens its own connection to the core store's database file (the core `SqliteStore` keeps its
 * handle private): in WAL mode two connections of one process read concurrently and serialise their
 * writes through SQLite's lock, with `busy_timeout` absorbing the short waits. All tables are
 * `prov_`-prefixed and migrated through their own version table (see migrations.ts), so the core
 * schema never sees them. Tests pass `file: ':memory:'` (a private database).
 */
import Database from 'better-sqlite3';
import { openWalDatabase } from '../sqlite/wal.ts';
import { join } from 'node:path';
import { decodeCursor, encodeCursor, normaliseTags, pageLimit } from '../cursor.ts';
import { StoreError, type IsoTimestamp } from '../types.ts';
import { ChangeListeners } from './changes.ts';
import { migrateProvisioning } from './migrations.ts';
import {
  ROLLOUT_DEVICE_STATES,
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
import type {
  BootstrapRecord,
  BootstrapSpec,
  DeliveryStatus,
  DeliveryUpdate,
  DeviceMemoryEntry,
  DeviceMemoryKind,
  FilePatch,
  FileQuery,
  FileRecord,
  HistoryEntry,
  HistoryQuery,
  NewFileRecord,
  NewHistoryEntry,
  NewRolloutDevice,
  Page,
  Preset,
  PresetSpec,
  ProvisioningChangeKind,
  ProvisioningChangeListener,
  ProvisioningStore,
  Rollout,
  RolloutCounts,
  RolloutDevice,
  RolloutDeviceExpectation,
  RolloutDeviceState,
  RolloutDeviceUpdate,
  RolloutExpectation,
  RolloutPatch,
  RolloutSpec,
  RolloutState,
  VariableQuery,
  VariableSet,
  Webhook,
  WebhookDelivery,
  WebhookSpec,
} from './types.ts';

/** The core store's file name (src/store/sqlite/index.ts), so both connections open the same file. */
const SQLITE_FILE_NAME = 'switchboard.sqlite';

export interface SqliteProvisioningStoreOptions {
  /** Data directory (the file is `switchboard.sqlite`, shared with the core store). */
  dataDir?: string;
  /** Exact file path (wins over dataDir); `:memory:` for tests. */
  file?: string;
  /** Clock in ms (tests fake it). */
  now?: () => number;
  /**
   * An open connection to use instead of opening one (the core SqliteStore's `connection`, see
   * there why sharing it matters). It is not closed by `close()`; `file`/`dataDir` are ignored.
   */
  connection?: Database.Database;
  /**
   * With `connection`: the core store's group commit (`SqliteStore.groupWrite`), through which the
   * writes a CWMP session makes here (device memory, history) join the session commits' batch
   * instead of each paying a commit.
   */
  groupWrite?: <T>(fn: () => T) => Promise<T>;
  /**
   * With `connection`: the core store's `groupRead`, through which the reads every CWMP session
   * makes here (device memory) join a pending session commit instead of taking the file locks alone.
   */
  groupRead?: <T>(fn: () => T) => Promise<T>;
}

/** True when the rollout satisfies the expectation of a conditional update (always without one). */
function rolloutMatches(r: Pick<Rollout, 'state' | 'stageIndex'>, expect: RolloutExpectation | undefined): boolean {
  if (!expect) return true;
  if (expect.states !== undefined && !expect.states.includes(r.state)) return false;
  if (expect.stageIndex !== undefined && expect.stageIndex !== r.stageIndex) return false;
  return true;
}

/** A SQLite failure as the StoreError callers expect (other errors unchanged). */
function storeErrorOf(err: unknown): unknown {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('SQLITE_CONSTRAINT')) return new StoreError('conflict', (err as Error).message);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return new StoreError('unavailable', 'the database is busy');
  return err;
}

/** All of a device's memory, in a stable order. */
const DEVICE_MEMORY_SQL = 'SELECT * FROM prov_device_memory WHERE device_id = ? ORDER BY kind, name';

/** The upsert of one device memory row. */
const PUT_DEVICE_MEMORY_SQL = `INSERT INTO prov_device_memory (device_id, kind, name, hash, detail, at) VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT (device_id, kind, name) DO UPDATE SET hash = excluded.hash, detail = excluded.detail, at = excluded.at`;

/** Distinct SQL texts whose prepared statements are kept (see `prepare`). */
const STATEMENT_CACHE_LIMIT = 256;

/** See the module comment. */
export class SqliteProvisioningStore implements ProvisioningStore {
  readonly name: string;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly clock: () => number;
  private readonly changes = new ChangeListeners();
  private closed = false;

  constructor(
    db: Database.Database,
    name: string,
    clock: () => number,
    /** Close the connection on `close()` (false when it is the core store's, shared). */
    private readonly ownsConnection = true,
    private readonly groupWrite: (<T>(fn: () => T) => Promise<T>) | null = null,
    private readonly groupRead: (<T>(fn: () => T) => Promise<T>) | null = null,
  ) {
    this.db = db;
    this.name = name;
    this.clock = clock;
  }

  private now(): IsoTimestamp {
    return new Date(this.clock()).toISOString();
  }

  /**
   * A prepared statement for `sql`, from a cache: the session hooks run several of these queries
   * per CWMP session, and preparing them on every call was ~11% of the ACS's CPU in a periodic
   * session benchmark (bench/sessions.bench.ts). Texts built per call (IN lists, optional filters)
   * have few variants; past `STATEMENT_CACHE_LIMIT` distinct texts new ones are not cached.
   */
  private prepare(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      if (this.statements.size < STATEMENT_CACHE_LIMIT) this.statements.set(sql, st);
    }
    return st;
  }

  /**
   * Tells the subscribers about a committed change. One connection of one process: other
   * processes on the same file are not told (several hosts need the PostgreSQL store).
   */
  private changed(kind: ProvisioningChangeKind, id?: string): void {
    if (this.changes.size > 0) this.changes.emit(id === undefined ? { kind } : { kind, id });
  }

  /** A `.then` step for a write of operator data: tells the subscribers (see `changed`), passes the result on. */
  private after<T>(kind: ProvisioningChangeKind, idOf: (result: T) => string | undefined | false): (result: T) => T {
    return (result) => {
      const id = idOf(result);
      if (id !== false) this.changed(kind, id);
      return result;
    };
  }

  subscribe(listener: ProvisioningChangeListener): () => void {
    return this.changes.add(listener);
  }

  /** Runs a synchronous body, mapping SQLite failures to StoreError. */
  private run<T>(body: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'the provisioning store is closed'));
    try {
      return Promise.resolve(body());
    } catch (err) {
      return Promise.reject(storeErrorOf(err));
    }
  }

  /** `run` for the writes of a session: through the core store's group commit when sharing its connection. */
  private runWrite<T>(body: () => T): Promise<T> {
    if (!this.groupWrite) return this.run(body);
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'the provisioning store is closed'));
    return this.groupWrite(body).catch((err: unknown) => Promise.reject(storeErrorOf(err)));
  }

  /** `run` for the reads of a session: joined to a pending core group commit when sharing its connection. */
  private runRead<T>(body: () => T): Promise<T> {
    if (!this.groupRead) return this.run(body);
    if (this.closed) return Promise.reject(new StoreError('unavailable', 'the provisioning store is closed'));
    return this.groupRead(body).catch((err: unknown) => Promise.reject(storeErrorOf(err)));
  }

  // Presets --------------------------------------------------------------------------------------

  createPreset(spec: PresetSpec): Promise<Preset> {
    return this.run(() => {
      const at = this.now();
      const id = newId('pre');
      const taken = this.prepare('SELECT 1 FROM prov_presets WHERE name = ?').get(spec.name);
      if (taken) throw new StoreError('conflict', `a preset named "${spec.name}" exists`);
      this.prepare('INSERT INTO prov_presets (id, name, spec, revision, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)').run(id, spec.name, JSON.stringify(spec), at, at);
      return { ...spec, id, revision: 1, createdAt: at, updatedAt: at };
    }).then(this.after('preset', (r) => r.id));
  }


  getPreset(id: string): Promise<Preset | null> {
    return this.run(() => {
      const r = this.prepare('SELECT * FROM prov_presets WHERE id = ?').get(id) as PresetRow | undefined;
      return r ? rowToPreset(r) : null;
    });
  }

  listPresets(): Promise<Preset[]> {
    return this.run(() =>
      (this.prepare('SELECT * FROM prov_presets ORDER BY name').all() as PresetRow[]).map(rowToPreset),
    );
  }

  updatePreset(id: string, spec: PresetSpec): Promise<Preset | null> {
    return this.run(() =>
      this.db.transaction(() => {
        const taken = this.prepare('SELECT 1 FROM prov_presets WHERE name = ? AND id <> ?').get(spec.name, id);
        if (taken) throw new StoreError('conflict', `a preset named "${spec.name}" exists`);
        const at = this.now();
        const res = this
          .prepare('UPDATE prov_presets SET name = ?, spec = ?, revision = revision + 1, updated_at = ? WHERE id = ?')
          .run(spec.name, JSON.stringify(spec), at, id);
        if (res.changes === 0) return null;
        const r = this.prepare('SELECT * FROM prov_presets WHERE id = ?').get(id) as PresetRow;
        return rowToPreset(r);
      })(),
    ).then(this.after('preset', (r) => r !== null && id));
  }

  deletePreset(id: string): Promise<boolean> {
    return this.run(() => this.prepare('DELETE FROM prov_presets WHERE id = ?').run(id).changes > 0).then(this.after('preset', (gone) => gone && id));
  }

  // Files ----------------------------------------------------------------------------------------

  createFile(record: NewFileRecord): Promise<FileRecord> {
    return this.run(() => {
      const at = this.now();
      const id = newId('file');
      this
        .prepare(
          `INSERT INTO prov_files (id, name, file_type, oui, product_class, version, size, sha256, description, auth_scheme, auth_username, auth_password, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, record.name, record.fileType, record.oui, record.productClass, record.version, record.size, record.sha256, record.description, record.auth.scheme, record.auth.username, record.auth.password, at, at);
      return { ...record, id, createdAt: at, updatedAt: at };
    }).then(this.after('file', (r) => r.id));
  }

  getFile(id: string): Promise<FileRecord | null> {
    return this.run(() => {
      const r = this.prepare('SELECT * FROM prov_files WHERE id = ?').get(id) as FileRow | undefined;
      return r ? rowToFile(r) : null;
    });
  }

  listFiles(query: FileQuery): Promise<Page<FileRecord>> {
    return this.run(() => {
      const limit = pageLimit(query.limit);
      const where: string[] = [];
      const args: (string | number)[] = [];
      const eq = (col: string, v: string | undefined) => {
        if (v !== undefined) {
          where.push(`${col} = ?`);
          args.push(v);
        }
      };
      eq('file_type', query.fileType);
      eq('oui', query.oui);
      eq('product_class', query.productClass);
      eq('version', query.version);
      eq('sha256', query.sha256);
      if (query.cursor !== undefined) {
        const c = decodeCursor(query.cursor, ['created', 'id']);
        where.push('(created_at > ? OR (created_at = ? AND id > ?))');
        args.push(String(c.created), String(c.created), String(c.id));
      }
      const sql = `SELECT * FROM prov_files ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at, id LIMIT ?`;
      const rows = this.prepare(sql).all(...args, limit + 1) as FileRow[];
      return pageOf(rows, limit, rowToFile, (r) => ({ created: r.created_at, id: r.id }));
    });
  }

  updateFile(id: string, patch: FilePatch): Promise<FileRecord | null> {
    return this.run(() =>
      this.db.transaction(() => {
        const r = this.prepare('SELECT * FROM prov_files WHERE id = ?').get(id) as FileRow | undefined;
        if (!r) return null;
        const cur = rowToFile(r);
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
        this
          .prepare(
            `UPDATE prov_files SET name = ?, file_type = ?, oui = ?, product_class = ?, version = ?, description = ?, auth_scheme = ?, auth_username = ?, auth_password = ?, updated_at = ?
             WHERE id = ?`,
          )
          .run(next.name, next.fileType, next.oui, next.productClass, next.version, next.description, next.auth.scheme, next.auth.username, next.auth.password, next.updatedAt, id);
        return next;
      })(),
    ).then(this.after('file', (r) => r !== null && id));
  }

  deleteFile(id: string): Promise<boolean> {
    return this.run(() => this.prepare('DELETE FROM prov_files WHERE id = ?').run(id).changes > 0).then(this.after('file', (gone) => gone && id));
  }

  countFilesWithContent(sha256: string): Promise<number> {
    return this.run(() => (this.prepare('SELECT COUNT(*) AS n FROM prov_files WHERE sha256 = ?').get(sha256) as { n: number }).n);
  }

  // Variables ------------------------------------------------------------------------------------


  getVariables(keys: string[]): Promise<VariableSet[]> {
    return this.run(() => {
      if (keys.length === 0) return [];
      const rows = this
        .prepare(`SELECT key, name, value, updated_at FROM prov_variables WHERE key IN (${keys.map(() => '?').join(',')}) ORDER BY key, name`)
        .all(...keys) as VariableRow[];
      const sets = variableSets(rows);
      // in the order asked
      return keys.map((k) => sets.find((s) => s.key === k)).filter((s): s is VariableSet => s !== undefined);
    });
  }

  listVariables(query: VariableQuery): Promise<Page<VariableSet>> {
    return this.run(() => {
      const limit = pageLimit(query.limit);
      const where: string[] = [];
      const args: string[] = [];
      if (query.keyPrefix) {
        where.push('key >= ? AND key < ?');
        args.push(query.keyPrefix, query.keyPrefix + '\u{10FFFF}');
      }
      if (query.cursor !== undefined) {
        where.push('key > ?');
        args.push(String(decodeCursor(query.cursor, ['key']).key));
      }
      const keys = this
        .prepare(`SELECT DISTINCT key FROM prov_variables ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY key LIMIT ?`)
        .all(...args, limit + 1) as { key: string }[];
      const more = keys.length > limit;
      const pageKeys = (more ? keys.slice(0, limit) : keys).map((k) => k.key);
      if (pageKeys.length === 0) return { items: [], nextCursor: null };
      const rows = this
        .prepare(`SELECT key, name, value, updated_at FROM prov_variables WHERE key IN (${pageKeys.map(() => '?').join(',')}) ORDER BY key, name`)
        .all(...pageKeys) as VariableRow[];
      return { items: variableSets(rows), nextCursor: more ? encodeCursor({ key: pageKeys[pageKeys.length - 1] }) : null };
    });
  }

  putVariables(sets: { key: string; variables: Record<string, string> }[], mode: 'merge' | 'replace'): Promise<number> {
    return this.run(() => {
      const at = this.now();
      const del = this.prepare('DELETE FROM prov_variables WHERE key = ?');
      const delOne = this.prepare('DELETE FROM prov_variables WHERE key = ? AND name = ?');
      const put = this.prepare(
        'INSERT INTO prov_variables (key, name, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (key, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      );
      this.db.transaction(() => {
        for (const s of sets) {
          if (mode === 'replace') del.run(s.key);
          for (const [name, value] of Object.entries(s.variables)) {
            if (value === '') delOne.run(s.key, name);
            else put.run(s.key, name, value, at);
          }
        }
      })();
      return sets.length;
    }).then(this.after('variables', () => undefined));
  }

  deleteVariables(selector: { keys?: string[]; all?: boolean }): Promise<number> {
    return this.run(() => {
      if (selector.all) {
        const n = (this.prepare('SELECT COUNT(DISTINCT key) AS n FROM prov_variables').get() as { n: number }).n;
        this.prepare('DELETE FROM prov_variables').run();
        return n;
      }
      const keys = selector.keys ?? [];
      if (keys.length === 0) return 0;
      const ph = keys.map(() => '?').join(',');
      const n = (this.prepare(`SELECT COUNT(DISTINCT key) AS n FROM prov_variables WHERE key IN (${ph})`).get(...keys) as { n: number }).n;
      this.prepare(`DELETE FROM prov_variables WHERE key IN (${ph})`).run(...keys);
      return n;
    }).then(this.after('variables', (n) => n > 0 && undefined));
  }

  // Device memory --------------------------------------------------------------------------------

  getDeviceMemory(deviceId: string, kinds?: DeviceMemoryKind[]): Promise<DeviceMemoryEntry[]> {
    return this.runRead(() => {
      // every session reads all of its device's memory: that statement's text is a constant
      if (!kinds || kinds.length === 0) return (this.prepare(DEVICE_MEMORY_SQL).all(deviceId) as DeviceMemoryRow[]).map(rowToDeviceMemory);
      const sql = `SELECT * FROM prov_device_memory WHERE device_id = ? AND kind IN (${kinds.map(() => '?').join(',')}) ORDER BY kind, name`;
      return (this.prepare(sql).all(deviceId, ...kinds) as DeviceMemoryRow[]).map(rowToDeviceMemory);
    });
  }

  /**
   * One single-row upsert per entry, in one transaction: the group commit's when the store shares
   * the core store's connection (a failed batch is rolled back whole there), its own otherwise.
   * Not one multi-row statement: SQLite copies every page such a statement changes into a
   * statement journal first (it could fail half-way), see the core store's `upsertParameters`.
   */
  putDeviceMemory(entries: DeviceMemoryEntry[]): Promise<void> {
    if (entries.length === 0) return this.run(() => undefined);
    const put = () => {
      const st = this.prepare(PUT_DEVICE_MEMORY_SQL);
      for (const e of entries) st.run(e.deviceId, e.kind, e.name, e.hash, e.detail === null ? null : JSON.stringify(e.detail), e.at);
    };
    return this.runWrite(this.groupWrite ? put : () => this.db.transaction(put)());
  }

  deleteDeviceMemory(deviceId: string, kinds?: DeviceMemoryKind[], name?: string): Promise<number> {
    return this.runWrite(() => {
      let sql = 'DELETE FROM prov_device_memory WHERE device_id = ?';
      const args: string[] = [deviceId];
      if (kinds && kinds.length > 0) {
        sql += ` AND kind IN (${kinds.map(() => '?').join(',')})`;
        args.push(...kinds);
      }
      if (name !== undefined) {
        sql += ' AND name = ?';
        args.push(name);
      }
      return this.prepare(sql).run(...args).changes;
    });
  }

  // Rollouts -------------------------------------------------------------------------------------

  createRollout(spec: RolloutSpec, devices: NewRolloutDevice[]): Promise<Rollout> {
    return this.run(() => {
      const at = this.now();
      const id = newId('ro');
      const insertDevice = this.prepare(
        `INSERT INTO prov_rollout_devices (rollout_id, device_id, position, stage, state, from_version, detail, updated_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      this.db.transaction(() => {
        this
          .prepare('INSERT INTO prov_rollouts (id, spec, state, stage_index, reason, created_at, updated_at) VALUES (?, ?, ?, 0, NULL, ?, ?)')
          .run(id, JSON.stringify(spec), 'running', at, at);
        for (const d of devices) insertDevice.run(id, d.deviceId, d.position, d.stage, d.state, d.fromVersion, d.detail, at, d.state === 'skipped' ? at : null);
      })();
      return { ...spec, id, state: 'running' as const, stageIndex: 0, reason: null, createdAt: at, updatedAt: at, finishedAt: null };
    }).then(this.after('rollout', (r) => r.id));
  }

  getRollout(id: string): Promise<Rollout | null> {
    return this.run(() => {
      const r = this.prepare('SELECT * FROM prov_rollouts WHERE id = ?').get(id) as RolloutRow | undefined;
      return r ? rowToRollout(r) : null;
    });
  }

  listRollouts(query: { states?: RolloutState[]; limit?: number; cursor?: string }): Promise<Page<Rollout>> {
    return this.run(() => {
      const limit = pageLimit(query.limit);
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (query.states && query.states.length > 0) {
        where.push(`state IN (${query.states.map(() => '?').join(',')})`);
        args.push(...query.states);
      }
      if (query.cursor !== undefined) {
        const c = decodeCursor(query.cursor, ['created', 'id']);
        where.push('(created_at < ? OR (created_at = ? AND id < ?))');
        args.push(String(c.created), String(c.created), String(c.id));
      }
      const rows = this
        .prepare(`SELECT * FROM prov_rollouts ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id DESC LIMIT ?`)
        .all(...args, limit + 1) as RolloutRow[];
      return pageOf(rows, limit, rowToRollout, (r) => ({ created: r.created_at, id: r.id }));
    });
  }

  updateRollout(id: string, patch: RolloutPatch, expect?: RolloutExpectation): Promise<Rollout | null> {
    return this.run(() =>
      this.db.transaction(() => {
        const r = this.prepare('SELECT * FROM prov_rollouts WHERE id = ?').get(id) as RolloutRow | undefined;
        if (!r) return null;
        const cur = rowToRollout(r);
        if (!rolloutMatches(cur, expect)) return null;
        const next: Rollout = {
          ...cur,
          state: patch.state ?? cur.state,
          stageIndex: patch.stageIndex ?? cur.stageIndex,
          reason: patch.reason !== undefined ? patch.reason : cur.reason,
          finishedAt: patch.finishedAt !== undefined ? patch.finishedAt : cur.finishedAt,
          updatedAt: this.now(),
        };
        this
          .prepare('UPDATE prov_rollouts SET state = ?, stage_index = ?, reason = ?, finished_at = ?, updated_at = ? WHERE id = ?')
          .run(next.state, next.stageIndex, next.reason, next.finishedAt, next.updatedAt, id);
        return next;
      })(),
    ).then(this.after('rollout', (r) => r !== null && id));
  }

  listRolloutDevices(rolloutId: string, query: { states?: RolloutDeviceState[]; limit?: number; cursor?: string }): Promise<Page<RolloutDevice>> {
    return this.run(() => {
      const limit = pageLimit(query.limit);
      const where = ['rollout_id = ?'];
      const args: (string | number)[] = [rolloutId];
      if (query.states && query.states.length > 0) {
        where.push(`state IN (${query.states.map(() => '?').join(',')})`);
        args.push(...query.states);
      }
      if (query.cursor !== undefined) {
        where.push('position > ?');
        args.push(Number(decodeCursor(query.cursor, ['position']).position));
      }
      const rows = this
        .prepare(`SELECT * FROM prov_rollout_devices WHERE ${where.join(' AND ')} ORDER BY position LIMIT ?`)
        .all(...args, limit + 1) as RolloutDeviceRow[];
      return pageOf(rows, limit, rowToRolloutDevice, (r) => ({ position: r.position }));
    });
  }

  getRolloutDevice(rolloutId: string, deviceId: string): Promise<RolloutDevice | null> {
    return this.run(() => {
      const r = this.prepare('SELECT * FROM prov_rollout_devices WHERE rollout_id = ? AND device_id = ?').get(rolloutId, deviceId) as RolloutDeviceRow | undefined;
      return r ? rowToRolloutDevice(r) : null;
    });
  }

  rolloutsOfDevice(deviceId: string): Promise<{ rollout: Rollout; device: RolloutDevice }[]> {
    return this.run(() => {
      const rows = this
        .prepare(
          `SELECT d.*, r.id AS r_id, r.spec AS r_spec, r.state AS r_state, r.stage_index AS r_stage_index, r.reason AS r_reason,
                  r.created_at AS r_created_at, r.updated_at AS r_updated_at, r.finished_at AS r_finished_at
           FROM prov_rollout_devices d JOIN prov_rollouts r ON r.id = d.rollout_id
           WHERE d.device_id = ? AND r.state IN ('running', 'paused')
           ORDER BY r.created_at DESC, r.id DESC`,
        )
        .all(deviceId) as (RolloutDeviceRow & Record<string, unknown>)[];
      return rows.map((row) => ({
        rollout: rowToRollout({
          id: row.r_id as string,
          spec: row.r_spec as string,
          state: row.r_state as string,
          stage_index: row.r_stage_index as number,
          reason: row.r_reason as string | null,
          created_at: row.r_created_at as string,
          updated_at: row.r_updated_at as string,
          finished_at: row.r_finished_at as string | null,
        }),
        device: rowToRolloutDevice(row),
      }));
    });
  }

  private applyDeviceUpdate(rolloutId: string, deviceId: string, update: RolloutDeviceUpdate): void {
    const sets: string[] = ['updated_at = ?'];
    const args: (string | number | null)[] = [this.now()];
    const col = (c: string, v: string | number | null | undefined) => {
      if (v !== undefined) {
        sets.push(`${c} = ?`);
        args.push(v);
      }
    };
    col('state', update.state);
    col('phase', update.phase);
    col('command_key', update.commandKey);
    col('task_id', update.taskId);
    col('fault_code', update.faultCode);
    col('detail', update.detail);
    col('started_at', update.startedAt);
    col('finished_at', update.finishedAt);
    col('kicked_at', update.kickedAt);
    this.prepare(`UPDATE prov_rollout_devices SET ${sets.join(', ')} WHERE rollout_id = ? AND device_id = ?`).run(...args, rolloutId, deviceId);
  }

  updateRolloutDevice(rolloutId: string, deviceId: string, update: RolloutDeviceUpdate, expect?: RolloutDeviceExpectation): Promise<RolloutDevice | null> {
    return this.run(() =>
      this.db.transaction(() => {
        if (expect) {
          const cur = this.prepare('SELECT state FROM prov_rollout_devices WHERE rollout_id = ? AND device_id = ?').get(rolloutId, deviceId) as { state: string } | undefined;
          if (!cur || !expect.states.includes(cur.state as RolloutDeviceState)) return null;
        }
        this.applyDeviceUpdate(rolloutId, deviceId, update);
        const r = this.prepare('SELECT * FROM prov_rollout_devices WHERE rollout_id = ? AND device_id = ?').get(rolloutId, deviceId) as RolloutDeviceRow | undefined;
        return r ? rowToRolloutDevice(r) : null;
      })(),
    );
  }

  updateRolloutDevices(rolloutId: string, where: { states: RolloutDeviceState[] }, update: RolloutDeviceUpdate): Promise<number> {
    return this.run(() => {
      const ids = this
        .prepare(`SELECT device_id FROM prov_rollout_devices WHERE rollout_id = ? AND state IN (${where.states.map(() => '?').join(',')})`)
        .all(rolloutId, ...where.states) as { device_id: string }[];
      this.db.transaction(() => {
        for (const { device_id } of ids) this.applyDeviceUpdate(rolloutId, device_id, update);
      })();
      return ids.length;
    });
  }

  claimDownloadSlot(rolloutId: string, deviceId: string, maxConcurrent: number, update: RolloutDeviceUpdate): Promise<RolloutDevice | null> {
    return this.run(() =>
      // IMMEDIATE: take the write lock before counting, so two connections cannot both see a free slot.
      this.db.transaction(() => {
        const busy = (this.prepare("SELECT COUNT(*) AS n FROM prov_rollout_devices WHERE rollout_id = ? AND state = 'downloading'").get(rolloutId) as { n: number }).n;
        if (busy >= maxConcurrent) return null;
        const cur = this.prepare('SELECT state FROM prov_rollout_devices WHERE rollout_id = ? AND device_id = ?').get(rolloutId, deviceId) as { state: string } | undefined;
        if (!cur || cur.state !== 'pending') return null;
        // stamped now, under the lock: after the finish of the device whose slot this takes
        this.applyDeviceUpdate(rolloutId, deviceId, { startedAt: this.now(), ...update, state: 'downloading' });
        return rowToRolloutDevice(this.prepare('SELECT * FROM prov_rollout_devices WHERE rollout_id = ? AND device_id = ?').get(rolloutId, deviceId) as RolloutDeviceRow);
      }).immediate(),
    );
  }

  claimKickSlot(rolloutId: string, deviceId: string, maxConcurrent: number, at: IsoTimestamp, kickedSince: IsoTimestamp): Promise<boolean> {
    return this.run(() =>
      // IMMEDIATE, as in claimDownloadSlot: count and write under the write lock.
      this.db.transaction(() => {
        const cur = this.prepare('SELECT state, kicked_at FROM prov_rollout_devices WHERE rollout_id = ? AND device_id = ?').get(rolloutId, deviceId) as
          | { state: string; kicked_at: string | null }
          | undefined;
        if (!cur || cur.state !== 'pending' || (cur.kicked_at !== null && cur.kicked_at >= kickedSince)) return false;
        const busy = (
          this
            .prepare("SELECT COUNT(*) AS n FROM prov_rollout_devices WHERE rollout_id = ? AND (state = 'downloading' OR (state = 'pending' AND kicked_at >= ?))")
            .get(rolloutId, kickedSince) as { n: number }
        ).n;
        if (busy >= maxConcurrent) return false;
        this.prepare('UPDATE prov_rollout_devices SET kicked_at = ? WHERE rollout_id = ? AND device_id = ?').run(at, rolloutId, deviceId);
        return true;
      }).immediate(),
    );
  }

  rolloutCounts(rolloutId: string, stageAtMost?: number): Promise<RolloutCounts> {
    return this.run(() => {
      const rows = (
        stageAtMost === undefined
          ? this.prepare('SELECT state, COUNT(*) AS n FROM prov_rollout_devices WHERE rollout_id = ? GROUP BY state').all(rolloutId)
          : this.prepare('SELECT state, COUNT(*) AS n FROM prov_rollout_devices WHERE rollout_id = ? AND stage <= ? GROUP BY state').all(rolloutId, stageAtMost)
      ) as { state: string; n: number }[];
      const counts = Object.fromEntries(ROLLOUT_DEVICE_STATES.map((s) => [s, 0])) as RolloutCounts;
      for (const r of rows) counts[r.state as RolloutDeviceState] = r.n;
      return counts;
    });
  }

  // Webhooks -------------------------------------------------------------------------------------


  createWebhook(spec: WebhookSpec): Promise<Webhook> {
    return this.run(() => {
      const at = this.now();
      const id = newId('wh');
      this.prepare('INSERT INTO prov_webhooks (id, spec, created_at, updated_at) VALUES (?, ?, ?, ?)').run(id, JSON.stringify(spec), at, at);
      return { ...spec, id, createdAt: at, updatedAt: at };
    }).then(this.after('webhook', (r) => r.id));
  }

  getWebhook(id: string): Promise<Webhook | null> {
    return this.run(() => {
      const r = this.prepare('SELECT * FROM prov_webhooks WHERE id = ?').get(id) as WebhookRow | undefined;
      return r ? rowToWebhook(r) : null;
    });
  }

  listWebhooks(): Promise<Webhook[]> {
    return this.run(() =>
      (this.prepare('SELECT * FROM prov_webhooks ORDER BY created_at, id').all() as WebhookRow[]).map(rowToWebhook),
    );
  }

  updateWebhook(id: string, spec: WebhookSpec): Promise<Webhook | null> {
    return this.run(() => {
      const at = this.now();
      if (this.prepare('UPDATE prov_webhooks SET spec = ?, updated_at = ? WHERE id = ?').run(JSON.stringify(spec), at, id).changes === 0) return null;
      return rowToWebhook(this.prepare('SELECT * FROM prov_webhooks WHERE id = ?').get(id) as WebhookRow);
    }).then(this.after('webhook', (r) => r !== null && id));
  }

  deleteWebhook(id: string): Promise<boolean> {
    return this.run(() =>
      this.db.transaction(() => {
        const gone = this.prepare('DELETE FROM prov_webhooks WHERE id = ?').run(id).changes > 0;
        // Undelivered messages of a deleted hook have no one to go to.
        if (gone) this.prepare("UPDATE prov_deliveries SET status = 'failed', last_error = 'webhook deleted', next_attempt_at = NULL WHERE webhook_id = ? AND status = 'pending'").run(id);
        return gone;
      })(),
    ).then(this.after('webhook', (gone) => gone && id));
  }

  createDeliveries(deliveries: Omit<WebhookDelivery, 'id'>[]): Promise<WebhookDelivery[]> {
    return this.run(() => {
      const ins = this.prepare(
        `INSERT INTO prov_deliveries (webhook_id, event, body, status, attempts, next_attempt_at, last_status_code, last_error, created_at, finished_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      return this.db.transaction(() =>
        deliveries.map((d) => {
          const res = ins.run(d.webhookId, d.event, d.body, d.status, d.attempts, d.nextAttemptAt, d.lastStatusCode, d.lastError, d.createdAt, d.finishedAt);
          return { ...d, id: String(res.lastInsertRowid) };
        }),
      )();
    });
  }

  getDelivery(id: string): Promise<WebhookDelivery | null> {
    return this.run(() => {
      const n = Number(id);
      if (!Number.isSafeInteger(n)) return null;
      const r = this.prepare('SELECT * FROM prov_deliveries WHERE id = ?').get(n) as DeliveryRow | undefined;
      return r ? rowToDelivery(r) : null;
    });
  }

  dueDeliveries(now: IsoTimestamp, limit: number): Promise<WebhookDelivery[]> {
    return this.run(() =>
      (
        this
          .prepare("SELECT * FROM prov_deliveries WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?")
          .all(now, limit) as DeliveryRow[]
      ).map(rowToDelivery),
    );
  }

  claimDueDeliveries(now: IsoTimestamp, limit: number, leaseUntil: IsoTimestamp): Promise<WebhookDelivery[]> {
    return this.run(() =>
      // IMMEDIATE: select and lease under the write lock, so two connections never take the same one.
      this.db.transaction(() => {
        const due = this
          .prepare("SELECT * FROM prov_deliveries WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?")
          .all(now, limit) as DeliveryRow[];
        const lease = this.prepare('UPDATE prov_deliveries SET next_attempt_at = ? WHERE id = ?');
        for (const d of due) lease.run(leaseUntil, d.id);
        return due.map((d) => rowToDelivery({ ...d, next_attempt_at: leaseUntil }));
      }).immediate(),
    );
  }

  updateDelivery(id: string, update: DeliveryUpdate): Promise<WebhookDelivery | null> {
    return this.run(() => {
      const sets: string[] = [];
      const args: (string | number | null)[] = [];
      const col = (c: string, v: string | number | null | undefined) => {
        if (v !== undefined) {
          sets.push(`${c} = ?`);
          args.push(v);
        }
      };
      col('status', update.status);
      col('attempts', update.attempts);
      col('next_attempt_at', update.nextAttemptAt);
      col('last_status_code', update.lastStatusCode);
      col('last_error', update.lastError);
      col('finished_at', update.finishedAt);
      const n = Number(id);
      if (sets.length > 0) this.prepare(`UPDATE prov_deliveries SET ${sets.join(', ')} WHERE id = ?`).run(...args, n);
      const r = this.prepare('SELECT * FROM prov_deliveries WHERE id = ?').get(n) as DeliveryRow | undefined;
      return r ? rowToDelivery(r) : null;
    });
  }

  listDeliveries(query: { webhookId?: string; status?: DeliveryStatus; limit?: number; cursor?: string }): Promise<Page<WebhookDelivery>> {
    return this.run(() => {
      const limit = pageLimit(query.limit);
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (query.webhookId !== undefined) {
        where.push('webhook_id = ?');
        args.push(query.webhookId);
      }
      if (query.status !== undefined) {
        where.push('status = ?');
        args.push(query.status);
      }
      if (query.cursor !== undefined) {
        where.push('id < ?');
        args.push(Number(decodeCursor(query.cursor, ['id']).id));
      }
      const rows = this
        .prepare(`SELECT * FROM prov_deliveries ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`)
        .all(...args, limit + 1) as DeliveryRow[];
      return pageOf(rows, limit, rowToDelivery, (r) => ({ id: r.id }));
    });
  }

  // Bootstrap ------------------------------------------------------------------------------------

  putBootstrap(spec: BootstrapSpec): Promise<{ record: BootstrapRecord; created: boolean }> {
    return this.run(() =>
      this.db.transaction(() => {
        const at = this.now();
        const tags = spec.tags ? normaliseTags(spec.tags) : [];
        const body = JSON.stringify({ ...spec, tags });
        const cur = this.prepare('SELECT * FROM prov_bootstrap WHERE key = ?').get(spec.key) as BootstrapRow | undefined;
        if (cur) {
          this.prepare('UPDATE prov_bootstrap SET spec = ?, revision = revision + 1, updated_at = ? WHERE key = ?').run(body, at, spec.key);
        } else {
          this.prepare('INSERT INTO prov_bootstrap (key, spec, revision, created_at, updated_at) VALUES (?, ?, 1, ?, ?)').run(spec.key, body, at, at);
        }
        const row = this.prepare('SELECT * FROM prov_bootstrap WHERE key = ?').get(spec.key) as BootstrapRow;
        return { record: rowToBootstrap(row), created: !cur };
      })(),
    ).then(this.after('bootstrap', (r) => r.record.key));
  }

  getBootstrap(key: string): Promise<BootstrapRecord | null> {
    return this.run(() => {
      const r = this.prepare('SELECT * FROM prov_bootstrap WHERE key = ?').get(key) as BootstrapRow | undefined;
      return r ? rowToBootstrap(r) : null;
    });
  }

  findBootstrap(keys: string[]): Promise<BootstrapRecord | null> {
    return this.run(() => {
      for (const k of keys) {
        const r = this.prepare('SELECT * FROM prov_bootstrap WHERE key = ?').get(k) as BootstrapRow | undefined;
        if (r) return rowToBootstrap(r);
      }
      return null;
    });
  }

  listBootstrap(query: { limit?: number; cursor?: string }): Promise<Page<BootstrapRecord>> {
    return this.run(() => {
      const limit = pageLimit(query.limit);
      const args: (string | number)[] = [];
      let where = '';
      if (query.cursor !== undefined) {
        where = 'WHERE key > ?';
        args.push(String(decodeCursor(query.cursor, ['key']).key));
      }
      const rows = this.prepare(`SELECT * FROM prov_bootstrap ${where} ORDER BY key LIMIT ?`).all(...args, limit + 1) as BootstrapRow[];
      return pageOf(rows, limit, rowToBootstrap, (r) => ({ key: r.key }));
    });
  }

  markBootstrapApplied(key: string, deviceId: string, at: IsoTimestamp): Promise<void> {
    return this.run(() => {
      this.prepare('UPDATE prov_bootstrap SET applied_device_id = ?, applied_at = ? WHERE key = ?').run(deviceId, at, key);
    }).then(this.after('bootstrap', () => key));
  }

  deleteBootstrap(key: string): Promise<boolean> {
    return this.run(() => this.prepare('DELETE FROM prov_bootstrap WHERE key = ?').run(key).changes > 0).then(this.after('bootstrap', (gone) => gone && key));
  }

  // Settings -------------------------------------------------------------------------------------

  getSetting<T>(name: string): Promise<T | null> {
    return this.run(() => {
      const r = this.prepare('SELECT value FROM prov_settings WHERE name = ?').get(name) as { value: string } | undefined;
      return r ? (JSON.parse(r.value) as T) : null;
    });
  }

  putSetting(name: string, value: unknown): Promise<void> {
    return this.run(() => {
      this.prepare('INSERT INTO prov_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, JSON.stringify(value));
    }).then(this.after('setting', () => name));
  }

  // History --------------------------------------------------------------------------------------

  appendHistory(entries: NewHistoryEntry[]): Promise<void> {
    return this.runWrite(() => {
      const ins = this.prepare('INSERT INTO prov_history (device_id, name, value, previous, source, at) VALUES (?, ?, ?, ?, ?, ?)');
      this.db.transaction(() => {
        for (const e of entries) ins.run(e.deviceId, e.name, e.value, e.previous, e.source, e.at);
      })();
    });
  }

  listHistory(query: HistoryQuery): Promise<Page<HistoryEntry>> {
    return this.run(() => {
      const limit = pageLimit(query.limit);
      const where = ['device_id = ?'];
      const args: (string | number)[] = [query.deviceId];
      if (query.name !== undefined) {
        where.push('name = ?');
        args.push(query.name);
      }
      if (query.since !== undefined) {
        where.push('at >= ?');
        args.push(query.since);
      }
      if (query.cursor !== undefined) {
        where.push('id < ?');
        args.push(Number(decodeCursor(query.cursor, ['id']).id));
      }
      const rows = this.prepare(`SELECT * FROM prov_history WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`).all(...args, limit + 1) as HistoryRow[];
      return pageOf(rows, limit, rowToHistory, (r) => ({ id: r.id }));
    });
  }

  pruneHistory(before: IsoTimestamp): Promise<number> {
    return this.run(() => this.prepare('DELETE FROM prov_history WHERE at < ?').run(before).changes);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.ownsConnection) this.db.close();
    }
    return Promise.resolve();
  }
}

/**
 * Opens (and migrates) the provisioning tables in the database file of the core store.
 * @returns the store.
 * @throws Error when the file cannot be opened or holds a newer provisioning schema.
 */
export function openSqliteProvisioningStore(options: SqliteProvisioningStoreOptions = {}): SqliteProvisioningStore {
  if (options.connection) {
    migrateProvisioning(options.connection);
    return new SqliteProvisioningStore(options.connection, `sqlite:${options.connection.name}`, options.now ?? Date.now, false, options.groupWrite ?? null, options.groupRead ?? null);
  }
  const file = options.file ?? join(options.dataDir ?? './data', SQLITE_FILE_NAME);
  const db = openWalDatabase(file);
  try {
    migrateProvisioning(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteProvisioningStore(db, `sqlite:${file}`, options.now ?? Date.now, true);
}
