import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runStoreContract } from '../contract.ts';
import { openSqliteStore, SQLITE_FILE_NAME } from './index.ts';
import { AUTO_CHECKPOINT_PAGES, BackgroundCheckpointer } from './checkpointer.ts';
import { until } from '../../../test/helpers/until.ts';

const root = mkdtempSync(join(tmpdir(), 'sb-checkpoint-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `s${n++}`);

const at = '2026-01-01T00:00:00.000Z';
const inform = (serial: string) => ({
  at,
  device: { id: `000B82-HT502-${serial}`, manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: serial, lastContact: at },
  parameters: [{ name: 'Device.DeviceInfo.SerialNumber', value: serial, type: 'xsd:string' }],
});

/** Devices in the main database file alone (a copy without its -wal file): what checkpoints wrote. */
function devicesInMainFile(dataDir: string): number {
  const copy = join(root, `copy${n++}.sqlite`);
  copyFileSync(join(dataDir, SQLITE_FILE_NAME), copy);
  const db = new Database(copy, { readonly: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS c FROM devices').get() as { c: number }).c;
  } finally {
    db.close();
  }
}

// every contract operation with the worker checkpointing the same file from the first write
runStoreContract('sqlite (file, background checkpoints from the start)', async () =>
  openSqliteStore({ dataDir: freshDir(), checkpointWorker: { afterCommits: 0, intervalMs: 10 } }),
);

describe('SQLite background checkpoints', () => {
  it('the worker copies the WAL into the database file while the store connection never checkpoints', async () => {
    const dataDir = freshDir();
    const store = openSqliteStore({ dataDir, checkpointWorker: { afterCommits: 0, intervalMs: 20 } });
    try {
      assert.ok(store.backgroundCheckpointer, 'started when the store opened');
      assert.equal(store.connection.pragma('wal_autocheckpoint', { simple: true }), 0);
      await Promise.all(Array.from({ length: 300 }, (_, i) => store.commitSession(inform(`C${i}`))));
      await until('a background checkpoint', 5000, async () => store.backgroundCheckpointer!.checkpoints > 0, 20);
      // a checkpoint may have run between two commits: wait until the file holds all of them
      await until('all devices in the main file', 5000, async () => devicesInMainFile(dataDir) === 300, 50);
      assert.equal(store.backgroundCheckpointer!.failure, null);
    } finally {
      await store.close();
    }
    // closing stopped the worker and folded the log in: the file alone is the whole database
    assert.equal(devicesInMainFile(dataDir), 300);
  });

  it('starts after the configured number of group commits, not before', async () => {
    const store = openSqliteStore({ dataDir: freshDir(), checkpointWorker: { afterCommits: 3, intervalMs: 20 } });
    try {
      await store.commitSession(inform('A1'));
      await store.commitSession(inform('A2'));
      assert.equal(store.backgroundCheckpointer, null);
      assert.equal(store.connection.pragma('wal_autocheckpoint', { simple: true }), AUTO_CHECKPOINT_PAGES, 'SQLite checkpoints meanwhile');
      await store.commitSession(inform('A3'));
      assert.ok(store.backgroundCheckpointer);
      assert.equal(store.connection.pragma('wal_autocheckpoint', { simple: true }), 0);
    } finally {
      await store.close();
    }
  });

  it('is off for an in-memory store and when turned off', async () => {
    const mem = openSqliteStore({ file: ':memory:', checkpointWorker: { afterCommits: 0 } });
    const off = openSqliteStore({ dataDir: freshDir(), checkpointWorker: false });
    try {
      for (let i = 0; i < 5; i++) await off.commitSession(inform(`O${i}`));
      assert.equal(mem.backgroundCheckpointer, null);
      assert.equal(off.backgroundCheckpointer, null);
      assert.equal(off.connection.pragma('wal_autocheckpoint', { simple: true }), AUTO_CHECKPOINT_PAGES);
    } finally {
      await mem.close();
      await off.close();
    }
  });

  it('a worker that cannot checkpoint turns SQLite\'s automatic checkpoint back on', async () => {
    const dataDir = freshDir();
    const store = openSqliteStore({ dataDir, checkpointWorker: false });
    const failures: string[] = [];
    const cp = new BackgroundCheckpointer(store.connection, join(dataDir, 'missing.sqlite'), { intervalMs: 10, onFailure: (m) => failures.push(m) });
    try {
      assert.equal(store.connection.pragma('wal_autocheckpoint', { simple: true }), 0);
      await until('the worker failure', 5000, async () => cp.failure !== null, 10);
      assert.match(cp.failure!, /unable to open|does not exist|directory/i);
      assert.deepEqual(failures, [cp.failure]);
      assert.equal(store.connection.pragma('wal_autocheckpoint', { simple: true }), AUTO_CHECKPOINT_PAGES);
    } finally {
      await cp.stop();
      await store.close();
    }
  });

  it('keeps statement journals in memory', async () => {
    const store = openSqliteStore({ dataDir: freshDir() });
    try {
      assert.equal(store.connection.pragma('temp_store', { simple: true }), 2, 'temp_store = MEMORY');
    } finally {
      await store.close();
    }
  });
});
