/**
 * Schema of the PostgreSQL provisioning tables (prefixed `prov_`, beside the core store's tables in
 * the same schema), versioned in their own table `prov_schema_migrations`.
 *
 * Several ACS instances may start at once against one database: the migrations run through the
 * the shared `migratePart` (src/store/postgres/part-migrations.ts): under an advisory lock keyed by schema
 * and part, the first instance migrates and the others find nothing left to do; each migration runs
 * in one transaction with its record, so an instance killed while migrating leaves nothing half-done.
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
import { migratePart, type PartMigration } from '../postgres/part-migrations.ts';

/** The migration part: versions in `prov_schema_migrations`, as in the SQLite backend. */
const PROVISIONING_PART = 'prov';

/** `{schema}` stands for the target schema (see migratePart). */
export const PG_PROVISIONING_MIGRATIONS: readonly PartMigration[] = [
  {
    version: 1,
    description: 'presets, files, file content, variables, device memory, rollouts, webhooks, deliveries, bootstrap, settings, history',
    sql: `
      CREATE TABLE {schema}.prov_presets (
        id text COLLATE "C" PRIMARY KEY,
        name text COLLATE "C" NOT NULL UNIQUE,
        spec text NOT NULL,
        revision integer NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );

      CREATE TABLE {schema}.prov_files (
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
      CREATE INDEX prov_files_sha256 ON {schema}.prov_files (sha256);
      CREATE INDEX prov_files_type ON {schema}.prov_files (file_type, product_class);
      CREATE INDEX prov_files_created ON {schema}.prov_files (created_at, id);

      -- File content (src/store/provisioning/pg-content.ts): one row per stored content, its bytes
      -- in fixed-size chunks so that a byte range reads only the chunks it covers.
      CREATE TABLE {schema}.prov_file_contents (
        sha256 text COLLATE "C" PRIMARY KEY,
        size bigint NOT NULL,
        chunk_bytes integer NOT NULL,
        created_at text COLLATE "C" NOT NULL
      );
      CREATE TABLE {schema}.prov_file_chunks (
        sha256 text COLLATE "C" NOT NULL,
        seq integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (sha256, seq)
      );
      -- Chunks are already compressed images mostly: store them out of line without compression.
      ALTER TABLE {schema}.prov_file_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

      CREATE TABLE {schema}.prov_variables (
        key text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        value text NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        PRIMARY KEY (key, name)
      );

      CREATE TABLE {schema}.prov_device_memory (
        device_id text COLLATE "C" NOT NULL,
        kind text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        hash text NOT NULL,
        detail text,
        at text COLLATE "C" NOT NULL,
        PRIMARY KEY (device_id, kind, name)
      );

      CREATE TABLE {schema}.prov_rollouts (
        id text COLLATE "C" PRIMARY KEY,
        spec text NOT NULL,
        state text COLLATE "C" NOT NULL,
        stage_index integer NOT NULL,
        reason text,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        finished_at text COLLATE "C"
      );
      CREATE INDEX prov_rollouts_state ON {schema}.prov_rollouts (state, created_at);

      CREATE TABLE {schema}.prov_rollout_devices (
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
      CREATE INDEX prov_rollout_devices_device ON {schema}.prov_rollout_devices (device_id);
      CREATE INDEX prov_rollout_devices_state ON {schema}.prov_rollout_devices (rollout_id, state, stage);
      CREATE INDEX prov_rollout_devices_position ON {schema}.prov_rollout_devices (rollout_id, position);

      CREATE TABLE {schema}.prov_webhooks (
        id text COLLATE "C" PRIMARY KEY,
        spec text NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL
      );

      CREATE TABLE {schema}.prov_deliveries (
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
      CREATE INDEX prov_deliveries_due ON {schema}.prov_deliveries (status, next_attempt_at);
      CREATE INDEX prov_deliveries_webhook ON {schema}.prov_deliveries (webhook_id, id);

      CREATE TABLE {schema}.prov_bootstrap (
        key text COLLATE "C" PRIMARY KEY,
        spec text NOT NULL,
        revision integer NOT NULL,
        created_at text COLLATE "C" NOT NULL,
        updated_at text COLLATE "C" NOT NULL,
        applied_device_id text,
        applied_at text COLLATE "C"
      );

      CREATE TABLE {schema}.prov_settings (
        name text COLLATE "C" PRIMARY KEY,
        value text NOT NULL
      );

      CREATE TABLE {schema}.prov_history (
        id bigserial PRIMARY KEY,
        device_id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        value text NOT NULL,
        previous text,
        source text NOT NULL,
        at text COLLATE "C" NOT NULL
      );
      CREATE INDEX prov_history_device ON {schema}.prov_history (device_id, name, id);
      CREATE INDEX prov_history_device_id ON {schema}.prov_history (device_id, id);
      CREATE INDEX prov_history_at ON {schema}.prov_history (at);
    `,
  },
];

/**
 * Brings the provisioning tables of `schema` to the latest version (once across instances, under
 * the advisory lock of `migratePart`).
 * @returns the versions applied (empty when current).
 * @throws Error when the database holds a newer provisioning schema than this code; the pg error
 *         of a failed migration (nothing of it is kept).
 */
export function migratePgProvisioning(pool: pg.Pool, schema: string): Promise<number[]> {
  return migratePart(pool, schema, PROVISIONING_PART, PG_PROVISIONING_MIGRATIONS);
}
