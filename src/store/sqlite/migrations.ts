/**
 * SQLite schema migrations, versioned and kept in code (no migration files to ship or lose).
 * Each migration runs once, in order, inside one transaction together with the bump of the
 * recorded version, so a crash mid-migration leaves the previous version intact.
 * Never edit a migration that has shipped: add a new one.
 */
import type Database from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'devices, parameters, tags, tasks, sessions, faults, locks, api tokens, audit',
    sql: `
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        manufacturer TEXT NOT NULL,
        oui TEXT NOT NULL,
        product_class TEXT NOT NULL,
        serial_number TEXT NOT NULL,
        first_contact TEXT,
        last_contact TEXT,
        last_boot TEXT,
        last_bootstrap TEXT,
        source_address TEXT,
        software_version TEXT,
        hardware_version TEXT,
        connection_request_url TEXT,
        udp_connection_request_address TEXT,
        cwmp_version TEXT,
        -- denormalised copy of device_tags (JSON array) so a device reads in one row
        tags TEXT NOT NULL DEFAULT '[]',
        acs_username TEXT,
        acs_password TEXT,
        cr_username TEXT,
        cr_password TEXT
      ) STRICT;
      CREATE INDEX devices_product_class ON devices (product_class, id);
      CREATE INDEX devices_software_version ON devices (software_version, id);
      CREATE INDEX devices_last_contact ON devices (last_contact, id);
      CREATE INDEX devices_first_contact ON devices (first_contact, id);
      CREATE INDEX devices_serial_number ON devices (serial_number, id);
      CREATE INDEX devices_oui ON devices (oui);

      CREATE TABLE device_tags (
        device_id TEXT NOT NULL,
        tag TEXT NOT NULL,
        PRIMARY KEY (device_id, tag)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX device_tags_tag ON device_tags (tag, device_id);

      -- one row per parameter/object node; clustered by device so a device's tree is contiguous
      CREATE TABLE parameters (
        device_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT,
        type TEXT,
        writable INTEGER,
        notification INTEGER,
        access_list TEXT,
        object INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (device_id, name)
      ) STRICT, WITHOUT ROWID;
      -- "which devices have parameter X = / starting with / < > V"
      CREATE INDEX parameters_name_value ON parameters (name, value);

      CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        result TEXT,
        fault_code INTEGER,
        fault_string TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        next_attempt_at TEXT,
        expires_at TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        connection_request INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX tasks_device_status ON tasks (device_id, status, id);
      CREATE INDEX tasks_status ON tasks (status, id);

      CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        events TEXT NOT NULL,
        remote_address TEXT,
        cwmp_version TEXT,
        outcome TEXT NOT NULL,
        rpc_count INTEGER NOT NULL,
        detail TEXT
      ) STRICT;
      CREATE INDEX sessions_device ON sessions (device_id, id);

      CREATE TABLE faults (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        task_id TEXT,
        source TEXT NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        detail TEXT,
        at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX faults_device ON faults (device_id, id);
      CREATE INDEX faults_task ON faults (task_id);

      CREATE TABLE session_locks (
        device_id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
      ) STRICT;

      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        detail TEXT
      ) STRICT;
      CREATE INDEX audit_at ON audit (at);
      CREATE INDEX audit_target ON audit (target, id);
      CREATE INDEX audit_actor ON audit (actor, id);
    `,
  },
];

/**
 * Brings the database to the latest schema version.
 * Returns the versions applied (empty when already current).
 * @throws Error when the database is newer than this code (a downgrade would lose data).
 */
export function migrate(db: Database.Database): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const current = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
  const latest = MIGRATIONS[MIGRATIONS.length - 1].version;
  if (current > latest) {
    throw new Error(`database schema version ${current} is newer than this Switchboard (${latest}); refusing to open it`);
  }
  const applied: number[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.description, new Date().toISOString());
    })();
    applied.push(m.version);
  }
  return applied;
}
