/**
 * Opening the database file: every connection to the core file (the store, the provisioning tables,
 * console users, NAT bindings) goes through `openWalDatabase`, so whichever opens a new file first
 * gives it the same page size.
 */
import Database from 'better-sqlite3';

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
 * Opens (creating if needed) `file` in WAL mode (`options`: better-sqlite3's). A new file gets SQLITE_PAGE_SIZE pages; an existing
 * one keeps its own (a WAL database cannot change its page size). Throws when the file cannot be
 * opened; the connection is closed again when the set-up fails.
 */
export function openWalDatabase(file: string, options?: Database.Options): Database.Database {
  const db = new Database(file, options);
  try {
    // only takes effect before the first table exists
    db.pragma(`page_size = ${SQLITE_PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}
