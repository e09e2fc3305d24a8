import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStore, SQLITE_FILE_NAME } from './index.ts';
import { BUSY_TIMEOUT_MS, SQLITE_PAGE_SIZE, openWalDatabase } from './wal.ts';
import { openSqliteUserStore } from '../../users/sqlite.ts';

const DEVICE = { manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'SN1' };

function pageSizeOf(file: string): { pageSize: number; journal: string } {
  const db = new Database(file, { readonly: true });
  try {
    return { pageSize: db.pragma('page_size', { simple: true }) as number, journal: db.pragma('journal_mode', { simple: true }) as string };
  } finally {
    db.close();
  }
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-wal-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a new database file gets the large page size, in WAL mode', withDir(async (dir) => {
  assert.notEqual(SQLITE_PAGE_SIZE, 4096);
  const store = openSqliteStore({ dataDir: dir });
  await store.createDevice(DEVICE);
  await store.close();
  assert.deepEqual(pageSizeOf(join(dir, SQLITE_FILE_NAME)), { pageSize: SQLITE_PAGE_SIZE, journal: 'wal' });
}));

test('an existing database keeps its page size and its data', withDir(async (dir) => {
  const file = join(dir, SQLITE_FILE_NAME);
  // a database made before: SQLite's default pages
  const old = new Database(file);
  old.pragma('page_size = 4096');
  old.pragma('journal_mode = WAL');
  old.exec('CREATE TABLE keep_me (v TEXT)');
  old.prepare('INSERT INTO keep_me VALUES (?)').run('kept');
  old.close();
  const store = openSqliteStore({ dataDir: dir });
  const created = await store.createDevice(DEVICE);
  assert.equal((await store.getDevice(created.id))?.serialNumber, 'SN1');
  await store.close();
  assert.equal(pageSizeOf(file).pageSize, 4096);
  const check = new Database(file, { readonly: true });
  assert.deepEqual(check.prepare('SELECT v FROM keep_me').all(), [{ v: 'kept' }]);
  check.close();
}));

test('whichever part opens a new file first gives it the same page size', withDir(async (dir) => {
  const users = openSqliteUserStore({ dataDir: dir });
  await users.close();
  const file = join(dir, SQLITE_FILE_NAME);
  assert.equal(pageSizeOf(file).pageSize, SQLITE_PAGE_SIZE);
  const store = openSqliteStore({ dataDir: dir });
  await store.createDevice(DEVICE);
  await store.close();
  assert.equal(pageSizeOf(file).pageSize, SQLITE_PAGE_SIZE);
}));

test('a file that is not a database is refused with an error and left as it was', withDir(async (dir) => {
  const file = join(dir, 'not-a-db');
  writeFileSync(file, 'plain text, not SQLite '.repeat(20));
  assert.throws(() => openWalDatabase(file), /not a database/);
  assert.match(readFileSync(file, 'utf8'), /^plain text/);
}));

test('every connection waits for the write lock and has the durability asked for (NORMAL by default); the directory is made', withDir(async (dir) => {
  const file = join(dir, 'a', 'b', SQLITE_FILE_NAME);
  const settings = (db: Database.Database) => [db.pragma('synchronous', { simple: true }), db.pragma('busy_timeout', { simple: true })];
  const plain = openWalDatabase(file);
  assert.deepEqual(settings(plain), [1, BUSY_TIMEOUT_MS], 'NORMAL is 1');
  plain.close();
  const full = openWalDatabase(file, { synchronous: 'FULL' });
  assert.deepEqual(settings(full), [2, BUSY_TIMEOUT_MS], 'FULL is 2');
  full.close();
  // each part's connection gets them through the opener
  const users = openSqliteUserStore({ dataDir: dir });
  await users.close();
  const store = openSqliteStore({ dataDir: dir, synchronous: 'FULL' });
  assert.deepEqual(settings(store.connection), [2, BUSY_TIMEOUT_MS]);
  await store.close();
}));
