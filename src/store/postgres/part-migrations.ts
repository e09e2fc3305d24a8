/**
 * Versioned migrations for the tables of one part (console users, NAT bindings...) kept beside the
 * core store's tables in a PostgreSQL schema, each part with its own `<part>_schema_migrations`
 * table, so that the core schema never sees them and the parts evolve apart.
 *
 * Several ACS instances may start at once on an empty database: the check-and-apply runs under a
 * session-level advisory lock keyed by schema and part, so one instance migrates and the others
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

/**
 * Brings a part's tables to the newest version.
 * @returns the versions applied now (empty when current).
 * @throws StoreError `invalid` when the database holds a newer version than `migrations` (a downgrade would lose
 *   data), or the pg error of a failed migration (nothing of it is kept).
 */
export async function migratePart(pool: pg.Pool, schema: string, part: string, migrations: readonly PartMigration[]): Promise<number[]> {
  if (!PART_PATTERN.test(part)) throw new Error(`bad part name ${part}`);
  const versions = `"${schema}"."${part}_schema_migrations"`;
  const lockKey = `switchboard:migrate:${schema}:${part}`;
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lockKey]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS ${versions} (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await client.query<{ v: number }>(`SELECT COALESCE(MAX(version), 0)::int AS v FROM ${versions}`);
      const current = rows[0].v;
      const newest = migrations.at(-1)?.version ?? 0;
      if (current > newest) throw new StoreError('invalid', `${part} schema version ${current} is newer than this Switchboard (${newest}); refusing to open it`);
      const applied: number[] = [];
      for (const m of migrations) {
        if (m.version <= current) continue;
        await client.query('BEGIN');
        try {
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
  } finally {
    client.release();
  }
}
