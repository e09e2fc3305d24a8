/**
 * Store entry point: the interface types and a factory that opens the configured backend.
 * Backends other than SQLite (PostgreSQL) register here when they exist.
 */
import { openSqliteStore, type SqliteStoreOptions } from './sqlite/index.ts';
import type { Store } from './types.ts';

export * from './types.ts';

export type StoreConfig = { kind: 'sqlite' } & SqliteStoreOptions;

/**
 * Opens the store described by `config` (migrating its schema).
 * @throws Error when the database cannot be opened or is newer than this code.
 */
export async function openStore(config: StoreConfig): Promise<Store> {
  switch (config.kind) {
    case 'sqlite':
      return openSqliteStore(config);
  }
}
