import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../sqlite/index.ts';
import { runFileContentContract, runProvisioningContract } from './contract.ts';
import { FsFileContentStore } from './file-content.ts';
import { PROVISIONING_MIGRATIONS } from './migrations.ts';
import { openSqliteProvisioningStore } from './sqlite.ts';
import type { ProvisioningStore } from './types.ts';

const dirs: string[] = [];
const dirOf = new WeakMap<ProvisioningStore, string>();
const newDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runProvisioningContract('sqlite', {
  open: () => {
    const dir = newDir('sb-pstore-');
    const s = openSqliteProvisioningStore({ dataDir: dir });
    dirOf.set(s, dir);
    return Promise.resolve(s);
  },
  // another connection to the same file (another process of the same host)
  openPeer: (store) => Promise.resolve(openSqliteProvisioningStore({ dataDir: dirOf.get(store)! })),
  crossInstanceNotifications: false,
});

runFileContentContract('filesystem', () => {
  const dir = newDir('sb-content-');
  return Promise.resolve({ content: new FsFileContentStore(join(dir, 'files')), done: () => Promise.resolve() });
});

describe('SQLite provisioning store specifics', () => {
  it('lives in the core store file next to the core tables, and migrates once', async () => {
    const dir = newDir('sb-pstore-');
    const core = openSqliteStore({ dataDir: dir });
    const p = openSqliteProvisioningStore({ dataDir: dir });
    try {
      assert.match(p.name, /switchboard\.sqlite$/);
      assert.equal(p.name, core.name);
      const again = openSqliteProvisioningStore({ dataDir: dir });
      await again.close();
      // the core store still opens (its own migration table is untouched)
      const reopened = openSqliteStore({ dataDir: dir });
      await reopened.close();
      const shared = openSqliteProvisioningStore({ connection: core.connection });
      await shared.close();
      const versions = (core.connection.prepare('SELECT version FROM prov_schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
      assert.deepEqual(versions, PROVISIONING_MIGRATIONS.map((m) => m.version), 'each migration applied once');
    } finally {
      await p.close();
      await core.close();
    }
  });
});

describe("on the core store's connection", () => {
  it("a session's device-memory write and read join the pending core group commit", async () => {
    const statements: string[] = [];
    const core = openSqliteStore({ file: ':memory:', verbose: (sql) => statements.push(sql.trim()) });
    const prov = openSqliteProvisioningStore({ connection: core.connection, groupWrite: (fn) => core.groupWrite(fn), groupRead: (fn) => core.groupRead(fn) });
    const at = '2025-01-01T00:00:00.000Z';
    const device = { id: '000B82-HT502-M1', manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'M1' };
    try {
      await core.commitSession({ at, device });
      statements.length = 0;
      const entry = { deviceId: device.id, kind: 'applied' as const, name: 'Device.X', hash: 'h1', detail: null, at };
      const [, , memory] = await Promise.all([core.commitSession({ at, device: { ...device, lastContact: at } }), prov.putDeviceMemory([entry]), prov.getDeviceMemory(device.id)]);
      assert.deepEqual(memory, [entry], 'the read sees the write queued before it');
      const begins = statements.filter((s) => s === 'BEGIN').length;
      const commits = statements.filter((s) => s === 'COMMIT').length;
      const read = statements.findIndex((s) => s.startsWith('SELECT') && s.includes('prov_device_memory'));
      assert.deepEqual([begins, commits], [1, 1], statements.join('\n'));
      assert.ok(statements.indexOf('BEGIN') < read && read < statements.indexOf('COMMIT'), statements.join('\n'));
      // with nothing pending, the read runs alone
      statements.length = 0;
      assert.equal((await prov.getDeviceMemory(device.id)).length, 1);
      assert.equal(statements.filter((s) => s === 'BEGIN').length, 0);
    } finally {
      await prov.close();
      await core.close();
    }
  });
});
