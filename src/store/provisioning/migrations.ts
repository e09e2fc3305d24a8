/**
 * Schema of the provisioning tables (all prefixed `prov_`), versioned in their own table
 * `prov_schema_migrations` so that they live in the core store's database file without touching
 * its `schema_migrations` numbering. Each migration runs once, in a transaction with its record.
 * Never edit a shipped migration: add a new one.
 */
import type Database from 'better-sqlite3';

export interface ProvisioningMigration {
  version: number;
  description: string;
  sql: string;
}

export const PROVISIONING_MIGRATIONS: readonly ProvisioningMigration[] = [
  {
    version: 1,
    description: 'presets, files, variables, device memory, rollouts, webhooks, deliveries, bootstrap, settings, history',
    sql: `
      CREATE TABLE prov_presets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        spec TEXT NOT NULL,
        revision INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE prov_files (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        file_type TEXT NOT NULL,
        oui TEXT,
        product_class TEXT,
        version TEXT,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        description TEXT,
        auth_scheme TEXT NOT NULL,
        auth_username TEXT,
        auth_password TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX prov_files_sha256 ON prov_files (sha256);
      CREATE INDEX prov_files_type ON prov_files (file_type, product_class);

      CREATE TABLE prov_variables (
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (key, name)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE prov_device_memory (
        device_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        hash TEXT NOT NULL,
        detail TEXT,
        at TEXT NOT NULL,
        PRIMARY KEY (device_id, kind, name)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE prov_rollouts (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        state TEXT NOT NULL,
        stage_index INTEGER NOT NULL,
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT
      ) STRICT;
      CREATE INDEX prov_rollouts_state ON prov_rollouts (state, created_at);

      CREATE TABLE prov_rollout_devices (
        rollout_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        stage INTEGER NOT NULL,
        state TEXT NOT NULL,
        phase TEXT,
        from_version TEXT,
        command_key TEXT,
        task_id TEXT,
        fault_code INTEGER,
        detail TEXT,
        started_at TEXT,
        finished_at TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (rollout_id, device_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX prov_rollout_devices_device ON prov_rollout_devices (device_id);
      CREATE INDEX prov_rollout_devices_state ON prov_rollout_devices (rollout_id, state, stage);
      CREATE INDEX prov_rollout_devices_position ON prov_rollout_devices (rollout_id, position);

      CREATE TABLE prov_webhooks (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE prov_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook_id TEXT NOT NULL,
        event TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt_at TEXT,
        last_status_code INTEGER,
        last_error TEXT,
        created_at TEXT NOT NULL,
        finished_at TEXT
      ) STRICT;
      CREATE INDEX prov_deliveries_due ON prov_deliveries (status, next_attempt_at);
      CREATE INDEX prov_deliveries_webhook ON prov_deliveries (webhook_id, id);

      CREATE TABLE prov_bootstrap (
        key TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        revision INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        applied_device_id TEXT,
        applied_at TEXT
      ) STRICT;

      CREATE TABLE prov_settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      CREATE TABLE prov_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        previous TEXT,
        source TEXT NOT NULL,
        at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX prov_history_device ON prov_history (device_id, name, id);
      CREATE INDEX prov_history_device_id ON prov_history (device_id, id);
      CREATE INDEX prov_history_at ON prov_history (at);
    `,
  },
  {
    version: 2,
    description: 'rollout devices remember when a connection request woke them (shared by every ACS instance)',
    sql: `
      ALTER TABLE prov_rollout_devices ADD COLUMN kicked_at TEXT;
    `,
  },
];

/**
 * Brings the provisioning tables to the latest version.
 * @returns the versions applied (empty when current).
 * @throws Error when the database holds a newer provisioning schema than this code.
 */
export function migrateProvisioning(db: Database.Database): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS prov_schema_migrations (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`);
  const current = (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM prov_schema_migrations').get() as { v: number }).v;
  const latest = PROVISIONING_MIGRATIONS[PROVISIONING_MIGRATIONS.length - 1].version;
  if (current > latest) {
    throw new Error(`provisioning schema version ${current} is newer than this Switchboard (${latest}); refusing to open it`);
  }
  const applied: number[] = [];
  const record = db.prepare('INSERT INTO prov_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  for (const m of PROVISIONING_MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.description, new Date().toISOString());
    })();
    applied.push(m.version);
  }
  return applied;
}
