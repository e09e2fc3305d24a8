/**
 * Persistence of the NAT bindings the ACS's STUN server learned (one row per device).
 *
 * Why persist at all: after an ACS restart, a CPE's next Binding Request may be up to
 * STUNMaximumKeepAlivePeriod away; until then the only address we would have is the one it last
 * reported in an Inform. The table lets a restarted ACS wake NATed devices at once.
 *
 * Three implementations: `MemoryNatBindingTable` (tests, `persist: 'memory'`), `PgNatBindingTable`
 * (pg-binding-table.ts: shared by the ACS instances of one PostgreSQL database) and `SqliteNatBindingTable`,
 * which lives in the core store's database file as the `nat_`-prefixed table `nat_bindings`,
 * versioned in its own `nat_schema_migrations` table (the same pattern as the provisioning tables),
 * through its own connection (WAL mode lets both connections work side by side).
 */
import Database from 'better-sqlite3';
import { openWalDatabase } from '../../store/sqlite/wal.ts';
import { join } from 'node:path';
import type { IsoTimestamp } from '../../store/types.ts';

/** One device's NAT binding as recorded. */
export interface NatBindingRecord {
  deviceId: string;
  /** The STUN USERNAME it used. */
  username: string;
  /** Public address and port (the source of its Binding Requests). */
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  firstSeenAt: IsoTimestamp;
  /** Last Binding Request. */
  refreshedAt: IsoTimestamp;
  /** When address:port last changed (= firstSeenAt until it does). */
  changedAt: IsoTimestamp;
  /** The last request carried a verified MESSAGE-INTEGRITY. */
  integrity: boolean;
  /** The last request carried CONNECTION-REQUEST-BINDING (a TR-111 binding). */
  connectionRequestBinding: boolean;
  /**
   * Several ACS instances (src/acs/nat/pg-binding-table.ts): the cluster origin of the instance
   * whose STUN socket received the binding's requests. Absent in a single ACS.
   */
  holder?: string;
}

/** Where bindings are kept across restarts. */
export interface NatBindingTable {
  readonly name: string;
  /** @returns every stored binding. @throws on storage failure. */
  load(): Promise<NatBindingRecord[]>;
  /** Inserts or replaces these bindings in one transaction. @throws on storage failure. */
  save(records: readonly NatBindingRecord[]): Promise<void>;
  /** @returns whether a binding was removed. */
  delete(deviceId: string): Promise<boolean>;
  /**
   * A table shared by several ACS instances: the device's binding as stored now (another instance
   * may have written it since `load`). Absent for tables only this process writes.
   */
  get?(deviceId: string): Promise<NatBindingRecord | undefined>;
  close(): Promise<void>;
}

/** Keeps bindings in memory only. */
export class MemoryNatBindingTable implements NatBindingTable {
  readonly name = 'memory';
  private readonly rows = new Map<string, NatBindingRecord>();

  async load(): Promise<NatBindingRecord[]> {
    return [...this.rows.values()].map((r) => ({ ...r }));
  }

  async save(records: readonly NatBindingRecord[]): Promise<void> {
    for (const r of records) this.rows.set(r.deviceId, { ...r });
  }

  async delete(deviceId: string): Promise<boolean> {
    return this.rows.delete(deviceId);
  }

  async close(): Promise<void> {}
}

const SQLITE_FILE_NAME = 'switchboard.sqlite';

interface NatMigration {
  version: number;
  description: string;
  sql: string;
}

/** Never edit a shipped migration: add a new one. */
const NAT_MIGRATIONS: readonly NatMigration[] = [
  {
    version: 1,
    description: 'NAT bindings learned by the STUN server',
    sql: `
      CREATE TABLE nat_bindings (
        device_id TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        address TEXT NOT NULL,
        port INTEGER NOT NULL,
        family TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        refreshed_at TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        integrity INTEGER NOT NULL,
        connection_request_binding INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
];

interface BindingRow {
  device_id: string;
  username: string;
  address: string;
  port: number;
  family: string;
  first_seen_at: string;
  refreshed_at: string;
  changed_at: string;
  integrity: number;
  connection_request_binding: number;
}

function migrate(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS nat_schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const current = (db.prepare('SELECT MAX(version) AS v FROM nat_schema_migrations').get() as { v: number | null }).v ?? 0;
  const newest = NAT_MIGRATIONS.at(-1)?.version ?? 0;
  if (current > newest) throw new Error(`nat_bindings schema version ${current} is newer than this Switchboard (${newest})`);
  for (const m of NAT_MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO nat_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)').run(m.version, m.description, new Date().toISOString());
    })();
  }
}

/** Bindings in the `nat_bindings` table of a SQLite file. */
export class SqliteNatBindingTable implements NatBindingTable {
  readonly name: string;
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement;
  private readonly all: Database.Statement<[], BindingRow>;
  private readonly remove: Database.Statement<[string]>;

  constructor(db: Database.Database, name: string) {
    this.db = db;
    this.name = name;
    this.upsert = db.prepare(
      `INSERT INTO nat_bindings (device_id, username, address, port, family, first_seen_at, refreshed_at, changed_at, integrity, connection_request_binding)
       VALUES (@device_id, @username, @address, @port, @family, @first_seen_at, @refreshed_at, @changed_at, @integrity, @connection_request_binding)
       ON CONFLICT (device_id) DO UPDATE SET username = excluded.username, address = excluded.address, port = excluded.port,
         family = excluded.family, first_seen_at = excluded.first_seen_at, refreshed_at = excluded.refreshed_at,
         changed_at = excluded.changed_at, integrity = excluded.integrity, connection_request_binding = excluded.connection_request_binding`,
    );
    this.all = db.prepare<[], BindingRow>('SELECT * FROM nat_bindings');
    this.remove = db.prepare<[string]>('DELETE FROM nat_bindings WHERE device_id = ?');
  }

  async load(): Promise<NatBindingRecord[]> {
    return this.all.all().map(fromRow);
  }

  async save(records: readonly NatBindingRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.db.transaction(() => {
      for (const r of records) this.upsert.run(toRow(r));
    })();
  }

  async delete(deviceId: string): Promise<boolean> {
    return this.remove.run(deviceId).changes > 0;
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

function toRow(r: NatBindingRecord): BindingRow {
  return {
    device_id: r.deviceId,
    username: r.username,
    address: r.address,
    port: r.port,
    family: r.family,
    first_seen_at: r.firstSeenAt,
    refreshed_at: r.refreshedAt,
    changed_at: r.changedAt,
    integrity: r.integrity ? 1 : 0,
    connection_request_binding: r.connectionRequestBinding ? 1 : 0,
  };
}

function fromRow(r: BindingRow): NatBindingRecord {
  return {
    deviceId: r.device_id,
    username: r.username,
    address: r.address,
    port: r.port,
    family: r.family === 'IPv6' ? 'IPv6' : 'IPv4',
    firstSeenAt: r.first_seen_at,
    refreshedAt: r.refreshed_at,
    changedAt: r.changed_at,
    integrity: r.integrity === 1,
    connectionRequestBinding: r.connection_request_binding === 1,
  };
}

export interface SqliteNatBindingTableOptions {
  /** Data directory: the table lives in its `switchboard.sqlite`, beside the core store's tables. */
  dataDir?: string;
  /** Exact file (wins over dataDir); `:memory:` for tests. */
  file?: string;
}

/**
 * Opens (and migrates) the `nat_bindings` table.
 * @returns the table.
 * @throws Error when the file cannot be opened or holds a newer nat schema.
 */
export function openSqliteNatBindingTable(options: SqliteNatBindingTableOptions = {}): SqliteNatBindingTable {
  const file = options.file ?? join(options.dataDir ?? './data', SQLITE_FILE_NAME);
  const db = openWalDatabase(file);
  try {
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteNatBindingTable(db, `sqlite:${file}`);
}
