/**
 * The console statistics on PostgreSQL give the numbers the SQLite worker gives, on the same fleet
 * (the fixture of test/console/server.test.ts, written once into each backend).
 * Needs PostgreSQL: skipped with the reason when none can be had, a failure under CI.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findTestDatabase } from '../../store/postgres/test-server.ts';
import { openStore, type Store } from '../../store/index.ts';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import { seedDevices, seededId } from '../../../test/console/harness.ts';
import { PgFleetStats } from './pg-stats.ts';
import { SqliteFleetStats } from './stats.ts';

const db = await findTestDatabase();
const NOW = Date.parse('2025-06-01T12:00:30.000Z');

/** The fleet of the SQLite statistics test: 20 seeded devices, one with its own interval, one never seen. */
async function fleet(store: Store): Promise<void> {
  await seedDevices(store, 20, NOW);
  await store.commitSession({
    at: new Date(NOW - 15 * 60_000 - 30_000).toISOString(),
    device: { id: seededId(15), manufacturer: 'Grandstream', oui: '000B82', productClass: seededId(15).split('-')[1], serialNumber: seededId(15).split('-')[2] },
    parameters: [{ name: 'Device.ManagementServer.PeriodicInformInterval', value: '3600' }],
  });
  await store.createDevice({ manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'NEVERSEEN' });
}

describe('fleet statistics on PostgreSQL', { skip: db.kind === 'unavailable' && !process.env.CI ? db.reason : false }, () => {
  const schema = `pgstats_${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'sb-pgstats-'));
  let pool: pg.Pool | null = null;
  after(async () => {
    await pool?.end();
    rmSync(dir, { recursive: true, force: true });
    if (db.kind !== 'ready') return;
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('counts as the SQLite worker does: online by each device\'s interval, models, firmware, informs per minute', async () => {
    if (db.kind !== 'ready') assert.fail(db.kind === 'unavailable' ? db.reason : '');
    const pgStore = await openStore({ kind: 'postgres', url: db.url, schema, createSchema: true });
    const sqlite = openSqliteStore({ dataDir: dir });
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const sqliteStats = new SqliteFleetStats({ file: join(dir, 'switchboard.sqlite'), now: () => NOW, cacheMs: 0 });
    const pgStats = new PgFleetStats({ pool, schema, now: () => NOW, cacheMs: 0 });
    try {
      await fleet(pgStore);
      await fleet(sqlite);
      const [a, b] = [await pgStats.fleet(), await sqliteStats.fleet()];
      assert.deepEqual(a.devices, { total: 21, online: 12, offline: 8, never: 1 });
      assert.deepEqual(a.devices, b.devices);
      assert.deepEqual(a.models, b.models);
      const [ia, ib] = [await pgStats.informs(1), await sqliteStats.informs(1)];
      assert.equal(ia.buckets.reduce((s, x) => s + x.informs, 0), 20, 'one session per seeded device');
      assert.deepEqual(ia, ib);
      const later = await new PgFleetStats({ pool, schema, now: () => NOW + 3 * 3_600_000, cacheMs: 0 }).informs(1);
      assert.equal(later.buckets.reduce((s, x) => s + x.informs, 0), 0);
    } finally {
      sqliteStats.close();
      await pgStore.close();
      await sqlite.close();
    }
  });
});
