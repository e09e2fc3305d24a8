import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runStoreContract } from './contract.ts';
import { openSqliteStore, SQLITE_FILE_NAME } from './sqlite/index.ts';
import { MIGRATIONS } from './sqlite/migrations.ts';

runStoreContract('sqlite (memory)', async () => openSqliteStore({ file: ':memory:' }));
runStoreContract('sqlite (memory, no group commit)', async () => openSqliteStore({ file: ':memory:', groupCommit: false }));

describe('SQLite backend specifics', () => {
  it('creates the data dir, uses WAL, and reopens a file with its data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const dataDir = join(dir, 'nested', 'data');
      const s1 = openSqliteStore({ dataDir });
      await s1.commitSession({ at: '2025-01-01T00:00:00.000Z', device: { id: '000B82-HT502-A', manufacturer: 'G', oui: '000B82', productClass: 'HT502', serialNumber: 'A' } });
      await s1.close();
      assert.ok(statSync(join(dataDir, SQLITE_FILE_NAME)).isFile());
      const raw = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      const versions = raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
      assert.deepEqual(versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
      raw.close();
      const s2 = openSqliteStore({ dataDir });
      assert.equal((await s2.getDevice('000B82-HT502-A'))?.serialNumber, 'A');
      await s2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database whose schema is newer than the code', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const file = join(dir, 'x.sqlite');
      openSqliteStore({ file }).close();
      const raw = new Database(file);
      raw.prepare("INSERT INTO schema_migrations (version, description, applied_at) VALUES (999, 'future', 'now')").run();
      raw.close();
      assert.throws(() => openSqliteStore({ file }), /newer than this Switchboard/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses the (name, value) index for parameter equality searches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const file = join(dir, 'x.sqlite');
      openSqliteStore({ file }).close();
      const raw = new Database(file);
      const plan = raw.prepare("EXPLAIN QUERY PLAN SELECT device_id FROM parameters WHERE name = 'a' AND value = 'b'").all() as { detail: string }[];
      assert.match(plan.map((p) => p.detail).join('\n'), /parameters_name_value/);
      raw.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bounds the page cache at 64 MiB or the given size, and refuses a size that is not a whole number of MiB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const byDefault = openSqliteStore({ file: join(dir, 'a.sqlite') });
      assert.equal(byDefault.connection.pragma('cache_size', { simple: true }), -64 * 1024);
      await byDefault.close();
      const small = openSqliteStore({ file: join(dir, 'b.sqlite'), cacheMiB: 4 });
      assert.equal(small.connection.pragma('cache_size', { simple: true }), -4 * 1024);
      await small.commitSession({ at: '2025-01-01T00:00:00.000Z', device: { id: '000B82-HT502-A', manufacturer: 'G', oui: '000B82', productClass: 'HT502', serialNumber: 'A' } });
      await small.close();
      for (const cacheMiB of [0, 1.5, -2]) {
        assert.throws(() => openSqliteStore({ file: join(dir, 'b.sqlite'), cacheMiB }), /cache size must be a whole number of MiB/);
      }
      // the refused opens changed nothing
      const again = openSqliteStore({ file: join(dir, 'b.sqlite') });
      assert.equal((await again.getDevice('000B82-HT502-A'))?.serialNumber, 'A');
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
