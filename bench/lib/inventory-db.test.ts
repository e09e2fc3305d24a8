import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.ts';
import { SQLITE_PAGE_SIZE } from '../../src/store/sqlite/wal.ts';
import {
  cachedInventory,
  COMMON_SEARCH_PARAMETER,
  generateInventory,
  inventoryAuthUser,
  inventoryCacheDir,
  inventoryDeviceId,
  PARAMETERS_PER_DEVICE,
  SOFTWARE_VERSIONS,
  UNIQUE_SEARCH_PARAMETER,
} from './inventory-db.ts';

test('the generated inventory is a database the store reads like its own', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sb-inventory-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const devices = 25;
  const dir = inventoryCacheDir(root, devices);
  assert.equal(cachedInventory(dir), null);
  const steps: number[] = [];
  const gen = generateInventory(dir, devices, (done) => steps.push(done));
  assert.equal(gen.devices, devices);
  assert.equal(gen.parameters, devices * PARAMETERS_PER_DEVICE);
  assert.deepEqual(steps, [devices]);
  assert.deepEqual(cachedInventory(dir), gen);

  const store = openSqliteStore({ dataDir: dir });
  t.after(() => store.close());
  assert.equal(await store.countDevices({}), devices);
  const n = 7;
  const device = await store.getDevice(inventoryDeviceId(n));
  assert.ok(device);
  assert.equal(device.softwareVersion, SOFTWARE_VERSIONS[n % SOFTWARE_VERSIONS.length]);
  const params = await store.getParameters(inventoryDeviceId(n));
  assert.equal(params.length, PARAMETERS_PER_DEVICE);
  const byName = new Map(params.map((p) => [p.name, p]));
  assert.equal(byName.get(UNIQUE_SEARCH_PARAMETER)?.value, inventoryAuthUser(n));
  assert.equal(byName.get(COMMON_SEARCH_PARAMETER)?.value, device.softwareVersion);
  assert.equal(byName.get('Device.DeviceInfo.SerialNumber')?.value, device.serialNumber);
  assert.ok(params.every((p) => p.type !== null && p.object === false));

  // the searches the benchmark times find what it expects
  const one = await store.queryDevices({ parameters: [{ name: UNIQUE_SEARCH_PARAMETER, op: 'eq', value: inventoryAuthUser(n) }], count: true });
  assert.deepEqual(one.devices.map((d) => d.id), [inventoryDeviceId(n)]);
  const tenth = await store.queryDevices({ parameters: [{ name: COMMON_SEARCH_PARAMETER, op: 'eq', value: SOFTWARE_VERSIONS[3] }], count: true });
  assert.equal(tenth.total, 3); // devices 3, 13 and 23
});

test('generation keeps the schema of the migrations, indexes included, and the page size of a new store file', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'sb-inventory-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = inventoryCacheDir(root, 3);
  generateInventory(dir, 3);
  const fresh = mkdtempSync(join(tmpdir(), 'sb-inventory-fresh-'));
  t.after(() => rmSync(fresh, { recursive: true, force: true }));
  const { default: Database } = await import('better-sqlite3');
  const schemaOf = (file: string) => {
    const db = new Database(file, { readonly: true });
    try {
      return { pageSize: db.pragma('page_size', { simple: true }), schema: db.prepare("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all() };
    } finally {
      db.close();
    }
  };
  await openSqliteStore({ dataDir: fresh }).close();
  const generated = schemaOf(join(dir, 'switchboard.sqlite'));
  assert.deepEqual(generated, schemaOf(join(fresh, 'switchboard.sqlite')));
  assert.equal(generated.pageSize, SQLITE_PAGE_SIZE);
  assert.ok(MIGRATIONS.length >= 1);
});
