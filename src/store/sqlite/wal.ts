/**
 * Opening the database file: every connection to the core file (the store, the provisioning tables,
 * console users, NAT bindings) goes through `openWalDatabase`, so whichever opens a new file first
 * gives it the same page size, and every connection has the same durability and lock waiting.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** How long a statement waits for another connection's (or process's) write lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

export interface WalDatabaseOptions {
  /** Default NORMAL: a commit is durable against a killed process, FULL also against a power cut. */
  synchronous?: 'NORMAL' | 'FULL';
  /** Called with the text of every statement the connection runs (better-sqlite3 `verbose`). */
  verbose?: (sql: string) => void;
}

/**
 * Page size of a new database file, in bytes (SQLite's default is 4096). A WAL commit appends every
 * page the transaction changed with two write(2) calls (frame header, page), so its cost follows the
 * number of pages more than their size: with 16 KiB pages the rows a boot storm writes for a batch
 * of devices (parameters and their value index, tasks, sessions, devices) share more pages, and the
 * storm ran about 7% faster (alternating runs of `npm run bench -- storm`, 922-953 against 843-912
 * devices/s; 32 and 64 KiB were not better), periodic sessions no slower.
 */
export const SQLITE_PAGE_SIZE = 16384;

/**
 * Opens (creating it and its directory if needed) `file` in WAL mode, with `synchronous` and a
 * BUSY_TIMEOUT_MS wait for the write lock. A new file gets SQLITE_PAGE_SIZE pages; an existing one
 * keeps its own (a WAL database cannot change its page size). Throws when the file cannot be
 * opened; the connection is closed again when the set-up fails.
 */
export function openWalDatabase(file: string, options: WalDatabaseOptions = {}): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const verbose = options.verbose;
  const db = new Database(file, verbose ? { verbose: (sql) => verbose(String(sql)) } : undefined);
  try {
    // only takes effect before the first table exists
    db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    // wait instead of failing when another connection or process (a backup) holds the write lock briefly
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
