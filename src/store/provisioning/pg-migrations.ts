/**
 * Schema of the PostgreSQL provisioning tables (prefixed `prov_`, beside the core store's tables in
 * the same schema), versioned in their own table `prov_schema_migrations`.
 *
 * Several ACS instances may start at once against one database: the check-and-apply runs under a
 * session-level advisory lock keyed by the schema name (a different key from the core store's, so
 * the two migrations do not wait for each other); the first instance migrates, the others find
 * nothing left to do. Each migration runs in one transaction with its record (DDL is transactional
 * in PostgreSQL), so an instance killed while migrating leaves nothing half-done.
 *
 * Column choices, for parity with the SQLite backend (the contract suite holds both to it):
 * - compared/sorted text is COLLATE "C" (code point order, as SQLite);
 * - timestamps are the store's ISO 8601 UTC strings with milliseconds, kept as text COLLATE "C":
 *   they sort chronologically as text, come back exactly as written, and are compared with the
 *   caller's ISO strings as in SQLite (`dueDeliveries`, `pruneHistory`, the kick window);
 * - specs and details are JSON text, stored verbatim and never queried inside.
 * Never edit a shipped migration: add a new one.
 */
import type pg from 'pg';
import { StoreError } from '../types.ts';

export interface PgProvisioningMigration {
  version: number;
  description: string;
  sql: string;
}

export const PG_PROVISIONING_MIGRATIONS: readonly PgProvisioningMigration[] = [
  {
    version: 1,
    description: 'presets, files, file content, variables, device memory, rollouts, webhooks, deliveries, bootstrap, settings, history',
    sql: `
      CREATE TABLE prov_presets (
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL UNIQUE,
        spec text NOT NULL,
        revision integer NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );

      CREATE TABLE prov_files (
        id text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        file_type text COLLATE "C" NOT NULL,
        oui text COLLATE "C",
        product_class text COLLATE "C",
        version text COLLATE "C",
        size bigint NOT NULL,
        sha256 text COLLATE "C" NOT NULL,
        description text,
        auth_scheme text NOT NULL,
        auth_username text,
        auth_password text,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );
      CREATE INDEX prov_files_sha256 ON prov_files (sha256);
      CREATE INDEX prov_files_type ON prov_files (file_type, product_class);
      CREATE INDEX prov_files_created ON prov_files (created_at, id);

      -- File content (src/store/provisioning/pg-content.ts): one row per stored content, its bytes
      -- in fixed-size chunks so that a byte range reads only the chunks it covers.
      CREATE TABLE prov_file_contents (
        sha256 text COLLATE "C" PRIMARY KEY,
        size bigint NOT NULL,
        chunk_bytes integer NOT NULL,
        created_at text COLLATE "C" NOT NULL
      );
      CREATE TABLE prov_file_chunks (
        sha256 text COLLATE "C" NOT NULL,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (sha256, seq)
      );
      -- Chunks are already compressed images mostly: store them out of line without compression.
      ALTER TABLE prov_file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

      CREATE TABLE prov_variables (
        key text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        value text NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        PRIMARY KEY (key, name)
      );

      CREATE TABLE prov_device_memory (
        device_id text COLLATE "C" NOT NULL,
        kind text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        hash text NOT NULL,
        detail text,
        at text COLLATE "C" NOT NULL,
        PRIMARY KEY (device_id, kind, name)
      );

      CREATE TABLE prov_rollouts (
        id text COLLATE "C" PRIMARY KEY,
        spec text NOT NULL,
        state text COLLATE "C" NOT NULL,
        stage_index integer NOT NULL,
        reason text,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        finished_at text COLLATE "C"
      );
      CREATE INDEX prov_rollouts_state ON prov_rollouts (state, created_at);

      CREATE TABLE prov_rollout_devices (
        rollout_id text COLLATE "C" NOT NULL,
        device_id text COLLATE "C" NOT NULL,
        position integer NOT NULL,
        stage integer NOT NULL,
        state text COLLATE "C" NOT NULL,
        phase text,
        from_version text,
        command_key text,
        task_id text,
        fault_code integer,
        detail text,
        started_at text COLLATE "C",
        finished_at text COLLATE "C",
        updated_at text COLLATE "C" NOT NULL,
        kicked_at text COLLATE "C",
        PRIMARY KEY (rollout_id, device_id)
      );
      CREATE INDEX prov_rollout_devices_device ON prov_rollout_devices (device_id);
      CREATE INDEX prov_rollout_devices_state ON prov_rollout_devices (rollout_id, state, stage);
      CREATE INDEX prov_rollout_devices_position ON prov_rollout_devices (rollout_id, position);

      CREATE TABLE prov_webhooks (
        id text COLLATE "C" PRIMARY KEY,
        spec text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );

      CREATE TABLE prov_deliveries (
        id bigserial PRIMARY KEY,
        webhook_id text COLLATE "C" NOT NULL,
        event text NOT NULL,
        body text NOT NULL,
        status text COLLATE "C" NOT NULL,
        attempts integer NOT NULL,
        next_attempt_at text COLLATE "C",
        last_status_code integer,
        last_error text,
        created_at text COLLATE "C" NOT NULL,
        finished_at text COLLATE "C"
      );
      CREATE INDEX prov_deliveries_due ON prov_deliveries (status, next_attempt_at);
      CREATE INDEX prov_deliveries_webhook ON prov_deliveries (webhook_id, id);

      CREATE TABLE prov_bootstrap (
        key text COLLATE "C" PRIMARY KEY,
        spec text NOT NULL,
        revision integer NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        applied_device_id text,
        applied_at text COLLATE "C"
      );

      CREATE TABLE prov_settings (
        name text COLLATE "C" PRIMARY KEY,
        value text NOT NULL
      );

      CREATE TABLE prov_history (
        id bigserial PRIMARY KEY,
        device_id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        value text NOT NULL,
        previous text,
        source text NOT NULL,
        at text COLLATE "C" NOT NULL
      );
      CREATE INDEX prov_history_device ON prov_history (device_id, name, id);
      CREATE INDEX prov_history_device_id ON prov_history (device_id, id);
      CREATE INDEX prov_history_at ON prov_history (at);
    `,
  },
];

/**
 * Brings the provisioning tables of `schema` to the latest version under the advisory lock.
 * @returns the versions applied (empty when current).
 * @throws StoreError `invalid` when the database holds a newer provisioning schema than this code;
 *         pg errors when a migration fails (nothing of that migration is kept).
 */
export async function migratePgProvisioning(client: pg.ClientBase, schema: string): Promise<number[]> {
  const lockKey = `switchboard:migrate-provisioning:${schema}`;
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS ${schema}.prov_schema_migrations (
      version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0)::int AS v FROM ${schema}.prov_schema_migrations`);
    const current = rows[0].v;
    const latest = PG_PROVISIONING_MIGRATIONS[PG_PROVISIONING_MIGRATIONS.length - 1].version;
    if (current > latest) {
      throw new StoreError('invalid', `provisioning schema version ${current} is newer than this Switchboard (${latest}); refusing to open it`);
    }
    const applied: number[] = [];
    for (const m of PG_PROVISIONING_MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO ${schema}`);
        await client.query(m.sql);
        await client.query(`INSERT INTO ${schema}.prov_schema_migrations (version, description) VALUES ($1, $2)`, [m.version, m.description]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey]).catch(() => undefined);
  }
}
