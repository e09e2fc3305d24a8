/**
 * The caching view (cache.ts) over the PostgreSQL provisioning store: a change made through
 * ANOTHER store instance (another ACS host) reaches the cache through LISTEN/NOTIFY, so a cached
 * preset, variable set, setting or "no bootstrap record" answer does not outlive it. Needs PostgreSQL
 * (SWITCHBOARD_TEST_DATABASE_URL or scripts/pg-test-server.sh); skipped with the reason otherwise.
 */
import { after, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { findTestDatabase } from '../store/postgres/test-server.ts';
import { openPostgresProvisioningStore } from '../store/provisioning/postgres.ts';
import type { PresetSpec } from '../store/provisioning/types.ts';
import { cachedProvisioningStore } from './cache.ts';
import { until } from '../../test/helpers/until.ts';

const db = await findTestDatabase();
const WAIT_MS = 5000;
const POLL_MS = 20;

/** Polls `check` until it holds (a NOTIFY takes a round trip); fails after WAIT_MS. */
const eventually = (what: string, check: () => Promise<boolean>) => until(what, WAIT_MS, check, POLL_MS);

if (db.kind === 'unavailable') {
  test('cached provisioning store on PostgreSQL', { skip: db.reason }, () => undefined);
} else {
  const url = db.url;
  const schema = `sbc_${process.pid}_${Date.now().toString(36)}`;
  const namespace = `cachet_${randomBytes(4).toString('hex')}`;
  after(async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  describe('cached provisioning store on PostgreSQL (two hosts)', () => {
    it('sees presets, variables, bootstrap records and settings another instance changes', async () => {
      const a = await openPostgresProvisioningStore(url, { schema, createSchema: true, poolSize: 2, namespace });
      const b = await openPostgresProvisioningStore(url, { schema, createSchema: true, poolSize: 2, namespace });
      const view = cachedProvisioningStore(b);
      try {
        assert.equal(view.caching, true);
        assert.deepEqual(await view.store.listPresets(), []);
        assert.deepEqual(await view.store.getVariables(['k']), []);
        assert.equal(await view.store.findBootstrap(['000B82000001']), null);
        const spec: PresetSpec = { name: 'p', enabled: true, weight: 0, precondition: {}, triggers: ['always'], desired: {} };
        const created = await a.createPreset(spec);
        await a.putVariables([{ key: 'k', variables: { x: '1' } }], 'merge');
        await a.putBootstrap({ key: '000B82000001', variables: { y: '2' } });
        await eventually('preset', async () => (await view.store.listPresets()).length === 1);
        await eventually('variables', async () => (await view.store.getVariables(['k']))[0]?.variables.x === '1');
        await eventually('bootstrap record', async () => (await view.store.findBootstrap(['000B82000001'])) !== null);
        await a.updatePreset(created.id, { ...spec, weight: 5 });
        await eventually('preset update', async () => (await view.store.listPresets())[0].weight === 5);
        assert.equal(await view.store.getSetting('unknownDevicePolicy'), null);
        await a.putSetting('unknownDevicePolicy', 'refuse');
        await eventually('setting', async () => (await view.store.getSetting('unknownDevicePolicy')) === 'refuse');
      } finally {
        await view.store.close();
        await a.close();
      }
    });
  });
}
