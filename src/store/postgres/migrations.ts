/**
 * PostgreSQL schema migrations, versioned and kept in code like the SQLite ones.
 *
 * `migrate` runs at store start. Several ACS processes may start at once against one database, so
 * the whole check-and-apply runs under a session-level advisory lock keyed by the schema name: the
 * first process migrates, the others wait and then find nothing left to do. A process killed while
 * migrating loses its connection, which releases the lock; its half-done migration rolls back
 * because each migration runs in one transaction with the bump of the recorded version (DDL is
 * transactional in PostgreSQL).
 * Never edit a migration that has shipped: add a new one.
 *
 * Schema choices (the parity target is the SQLite backend, see src/store/sqlite/migrations.ts):
 * - Text columns that are compared or sorted use COLLATE "C" so that ordering is by code point,
 *   as in SQLite and as the Store contract says, whatever the database's default collation.
 * - Timestamps are timestamptz (converted to/from ISO strings at the edge, see sql.ts).
 * - Opaque JSON (task payloads and results, details, session events) is `json`: stored verbatim,
 *   key order kept, never queried inside.
 * - Tags are a text[] column with a GIN index (`tags @> ARRAY[...]`), not a side table.
 * - Parameter values can be long (certificates, config blobs) while a btree entry is limited to
 *   about 2.7 kB, so the value index holds the first VALUE_INDEX_CHARS characters only and the
 *   queries filter the exact value after the index range (see device-query.ts). Numeric searches
 *   use an expression index on sb_num(value), partial on values that are numbers.
 * - No foreign keys, as in SQLite: deleteDevice removes the dependants in one statement, and
 *   FK triggers would cost on every parameter row of a boot storm.
 */
import type pg from 'pg';
import { StoreError } from '../types.ts';
import { createSchemaIfMissing } from './sql.ts';
import { runMigrations } from './part-migrations.ts';

export interface PgMigration {
  version: number;
  description: string;
  sql: string;
}

/** Characters of a parameter value kept in the (name, value) index; see the module comment. */
export const VALUE_INDEX_CHARS = 256;

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    description: 'devices, parameters, tasks, sessions, faults, locks, api tokens, audit',
    sql: `
      -- A number for numeric text, else NULL: the same rule as numericOrNull() in the SQLite backend
      -- (decimal or exponent notation, surrounding white space allowed; values outside the double
      -- range are not numbers; underflow rounds to zero).
      -- Not STRICT on purpose: a non-strict one-expression SQL function is inlined by the planner
      -- (about 4x cheaper per parameter row written); NULL in still gives NULL out.
      CREATE FUNCTION sb_num(v text) RETURNS double precision
        LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
        SELECT CASE
          WHEN v !~ '^[ \\t\\n\\r\\f\\v]*[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?0*[0-9]{1,4})?[ \\t\\n\\r\\f\\v]*$' THEN NULL
          WHEN abs(v::numeric) > 1.7976931348623157e308 THEN NULL
          -- below half the smallest subnormal double: JavaScript rounds to 0, float8 would raise underflow
          WHEN abs(v::numeric) < 2.4703282292062328e-324 THEN 0
          ELSE v::numeric::double precision
        END
      $fn$;

      CREATE TABLE devices (
        id text COLLATE "C" PRIMARY KEY,
        manufacturer text COLLATE "C" NOT NULL,
        oui text COLLATE "C" NOT NULL,
        product_class text COLLATE "C" NOT NULL,
        serial_number text COLLATE "C" NOT NULL,
        first_contact timestamptz,
        last_contact timestamptz,
        last_boot timestamptz,
        last_bootstrap timestamptz,
        source_address text,
        software_version text COLLATE "C",
        hardware_version text COLLATE "C",
        connection_request_url text,
        udp_connection_request_address text,
        cwmp_version text,
        tags text[] COLLATE "C" NOT NULL DEFAULT '{}',
        acs_username text,
        acs_password text,
        cr_username text,
        cr_password text
      );
      CREATE INDEX devices_product_class ON devices (product_class, id);
      CREATE INDEX devices_software_version ON devices (software_version, id);
      CREATE INDEX devices_last_contact ON devices (last_contact, id);
      CREATE INDEX devices_first_contact ON devices (first_contact, id);
      CREATE INDEX devices_serial_number ON devices (serial_number, id);
      CREATE INDEX devices_oui ON devices (oui);
      CREATE INDEX devices_tags ON devices USING gin (tags);

      CREATE TABLE parameters (
        device_id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        value text COLLATE "C",
        type text,
        writable boolean,
        notification smallint,
        access_list text[],
        object boolean NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (device_id, name)
      ) WITH (fillfactor = 80);
      -- fillfactor: every Inform rewrites updated_at of the parameters it carries, mostly with the
      -- value unchanged; free room in each page lets PostgreSQL do those as HOT updates (no index
      -- entries written, less bloat).
      -- "which devices have parameter X = / starting with / < > V" (text)
      CREATE INDEX parameters_name_value ON parameters (name, left(value, ${VALUE_INDEX_CHARS}));
      -- the same for numbers
      CREATE INDEX parameters_name_number ON parameters (name, sb_num(value)) WHERE sb_num(value) IS NOT NULL;

      CREATE TABLE tasks (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id text COLLATE "C" NOT NULL,
        type text COLLATE "C" NOT NULL,
        payload json NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed', 'cancelled')),
        result json,
        fault_code integer,
        fault_string text,
        attempts integer NOT NULL DEFAULT 0,
        max_attempts integer NOT NULL,
        next_attempt_at timestamptz,
        expires_at timestamptz,
        created_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        connection_request boolean NOT NULL DEFAULT false
      );
      CREATE INDEX tasks_device_status ON tasks (device_id, status, id);
      CREATE INDEX tasks_status ON tasks (status, id);
      CREATE INDEX tasks_type ON tasks (type, id);

      CREATE TABLE sessions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id text COLLATE "C" NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        events json NOT NULL,
        remote_address text,
        cwmp_version text,
        outcome text NOT NULL,
        rpc_count integer NOT NULL,
        detail text
      );
      CREATE INDEX sessions_device ON sessions (device_id, id);

      CREATE TABLE faults (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        device_id text COLLATE "C" NOT NULL,
        task_id text COLLATE "C",
        source text NOT NULL,
        code text NOT NULL,
        message text NOT NULL,
        detail json,
        at timestamptz NOT NULL
      );
      CREATE INDEX faults_device ON faults (device_id, id);
      CREATE INDEX faults_task ON faults (task_id);

      -- One row per locked device. Holds across processes; a killed holder's row simply expires.
      CREATE TABLE session_locks (
        device_id text COLLATE "C" PRIMARY KEY,
        owner text NOT NULL,
        expires_at timestamptz NOT NULL
      );

      CREATE TABLE api_tokens (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL,
        hash text COLLATE "C" NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        last_used_at timestamptz,
        revoked_at timestamptz
      );

      CREATE TABLE audit (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text COLLATE "C" NOT NULL,
        action text COLLATE "C" NOT NULL,
        target text COLLATE "C",
        detail json
      );
      CREATE INDEX audit_at ON audit (at);
      CREATE INDEX audit_target ON audit (target, id);
      CREATE INDEX audit_actor ON audit (actor, id);
    `,
  },
];

/**
 * Creates the schema if asked, then brings it to the latest version under the advisory lock.
 * Returns the versions applied (empty when already current).
 * @throws StoreError `invalid` when the schema is missing (and not to be created) or the database is
 *         newer than this code (a downgrade would lose data);
 *         pg errors when a migration fails (nothing of that migration is kept).
 */
export async function migratePostgres(client: pg.ClientBase, schema: string, createSchema: boolean): Promise<number[]> {
  return runMigrations(client, {
    schema,
    versionsTable: 'schema_migrations',
    // derived from the schema so that separate schemas (tests) do not wait for each other
    lockKey: `switchboard:migrate:${schema}`,
    label: 'database',
    migrations: PG_MIGRATIONS,
    before: async () => {
      if (createSchema) {
        await createSchemaIfMissing(client, schema);
        return;
      }
      const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      if (!rowCount) throw new StoreError('invalid', `schema ${schema} does not exist: create it or open the store with createSchema`);
    },
  });
}
