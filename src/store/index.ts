/**
 * Store entry point: the interface types and a factory that opens the configured backend
 * (SQLite in a data directory, or PostgreSQL at a URL).
 */
import { openSqliteStore, type SqliteStoreOptions } from './sqlite/index.ts';
import type { PostgresStoreOptions } from './postgres/index.ts';
import type { Store } from './types.ts';

export * from './types.ts';

export type StoreConfig =
  | ({ kind: 'sqlite' } & SqliteStoreOptions)
  | ({ kind: 'postgres'; /** `postgres://user:pass@host:port/db` */ url: string } & PostgresStoreOptions);

/** True for a `postgres://` or `postgresql://` URL (the only database URLs the ACS accepts). */
export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

/**
 * Opens the store described by `config` (migrating its schema). The PostgreSQL driver is loaded
 * only when a PostgreSQL store is asked for.
 * @throws Error when the database cannot be opened or is newer than this code (StoreError
 *         `unavailable` when a PostgreSQL server cannot be reached).
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteStore(config);
    case 'postgres': {
      const { openPostgresStore } = await import('./postgres/index.ts');
      const { kind: _kind, url, ...options } = config;
      return openPostgresStore(url, options);
    }
  }
}
