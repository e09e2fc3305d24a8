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
