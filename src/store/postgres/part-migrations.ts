/**
 * The runner of versioned PostgreSQL migrations (`runMigrations`): the core store's
 * (migrations.ts, `schema_migrations`) and those of each part kept beside them in the schema
 * (console users, NAT bindings, provisioning: `migratePart`), each part with its own
 * `<part>_schema_migrations` table, so that the core schema never sees them and the parts evolve apart.
 *
 * Several ACS instances may start at once on an empty database: the check-and-apply runs under a
 * session-level advisory lock keyed by schema (and part), so one instance migrates and the others
 * wait, then find nothing left to do. Each migration runs in one transaction with the record of its
 * version (DDL is transactional in PostgreSQL): an instance killed mid-migration leaves nothing half
 * done, and its lock goes with its connection.
 */
import type pg from 'pg';
import { StoreError } from '../types.ts';

export interface PartMigration {
  version: number;
  description: string;
  /** SQL with `{schema}` where the (already checked) schema name goes. */
  sql: string;
}

const PART_PATTERN = /^[a-z][a-z0-9_]*$/;

/** One run of versioned migrations (the core store's or a part's). */
export interface MigrationRun {
  /** The (already checked) schema the tables go into. */
  schema: string;
  /** The versions table, unqualified (`schema_migrations`, `<part>_schema_migrations`). */
  versionsTable: string;
  /** Advisory lock key: instances migrating the same tables wait for each other. */
  lockKey: string;
  /** What the error names when the database is newer (`database`, the part). */
  label: string;
  migrations: readonly PartMigration[];
  /** Runs first under the lock (the core store creates or checks its schema there). */
  before?: (client: pg.ClientBase) => Promise<void>;
}

/**
 * Applies the migrations newer than the database's version, under the run's advisory lock, each in
 * one transaction with the record of its version; unqualified names land in the schema
 * (`search_path`), and `{schema}` in the SQL is replaced by it.
 * @returns the versions applied now (empty when current).
 * @throws StoreError `invalid` when the database holds a newer version than `migrations` (a downgrade
 *   would lose data), or the pg error of a failed migration (nothing of it is kept).
 */
export async function runMigrations(client: pg.ClientBase, run: MigrationRun): Promise<number[]> {
  const { schema, lockKey } = run;
  const versions = `"${schema}"."${run.versionsTable}"`;
  await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
  try {
    await run.before?.(client);
    await client.query(`CREATE TABLE IF NOT EXISTS ${versions} (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0)::int AS v FROM ${versions}`);
    const current = rows[0].v;
    const newest = run.migrations.at(-1)?.version ?? 0;
    if (current > newest) throw new StoreError('invalid', `${run.label} schema version ${current} is newer than this Switchboard (${newest}); refusing to open it`);
    const applied: number[] = [];
    for (const m of run.migrations) {
      if (m.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO "${schema}"`);
        await client.query(m.sql.replaceAll('{schema}', `"${schema}"`));
        await client.query(`INSERT INTO ${versions} (version, description) VALUES ($1, $2)`, [m.version, m.description]);
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

/**
 * Brings a part's tables to the newest version (`runMigrations` with the part's versions table and lock).
 * @returns the versions applied now (empty when current).
 * @throws as `runMigrations`.
 */
export async function migratePart(pool: pg.Pool, schema: string, part: string, migrations: readonly PartMigration[]): Promise<number[]> {
  if (!PART_PATTERN.test(part)) throw new Error(`bad part name ${part}`);
  const client = await pool.connect();
  try {
    return await runMigrations(client, { schema, versionsTable: `${part}_schema_migrations`, lockKey: `switchboard:migrate:${schema}:${part}`, label: part, migrations });
  } finally {
    client.release();
  }
}
