import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../sqlite/index.ts';
import { StoreError, type Store } from '../types.ts';
import { openSqliteProvisioningStore, type SqliteProvisioningStore } from './sqlite.ts';
import type { NewFileRecord, PresetSpec, RolloutSpec } from './types.ts';

const preset = (name: string): PresetSpec => ({ name, enabled: true, weight: 0, precondition: {}, triggers: ['always'], desired: {} });
const file = (sha: string, extra: Partial<NewFileRecord> = {}): NewFileRecord => ({
  name: 'f.bin',
  fileType: '1 Firmware Upgrade Image',
  oui: null,
  productClass: 'HT502',
  version: '1.0',
  size: 1,
  sha256: sha.repeat(64).slice(0, 64),
  description: null,
  auth: { scheme: 'none', username: null, password: null },
  ...extra,
});
const rollout: RolloutSpec = { name: 'r', fileId: 'f', target: {}, stages: [{ percent: 100 }], maxConcurrent: 3, failureThreshold: { count: 1 } };

describe('SQLite provisioning store', () => {
  let dir: string;
  let core: Store;
  let p: SqliteProvisioningStore;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sb-pstore-'));
    core = openSqliteStore({ dataDir: dir });
    p = openSqliteProvisioningStore({ dataDir: dir });
  });
  after(async () => {
    await p.close();
    await core.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lives in the core store file next to the core tables, and migrates once', async () => {
    assert.match(p.name, /switchboard\.sqlite$/);
    assert.equal(p.name, core.name);
    const again = openSqliteProvisioningStore({ dataDir: dir });
    await again.close();
    // the core store still opens (its own migration table is untouched)
    const reopened = openSqliteStore({ dataDir: dir });
    await reopened.close();
  });

  it('keeps preset names unique and counts revisions', async () => {
    const a = await p.createPreset(preset('a'));
    await assert.rejects(p.createPreset(preset('a')), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
    const b = await p.createPreset(preset('b'));
    await assert.rejects(p.updatePreset(b.id, preset('a')), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
    const a2 = await p.updatePreset(a.id, { ...preset('a'), weight: 3 });
    assert.deepEqual([a2?.revision, a2?.weight], [2, 3]);
    assert.equal(await p.updatePreset('nope', preset('z')), null);
    assert.deepEqual((await p.listPresets()).map((x) => x.name), ['a', 'b']);
    assert.equal(await p.deletePreset(b.id), true);
    assert.equal(await p.deletePreset(b.id), false);
  });

  it('pages files and counts records per content', async () => {
    for (const c of ['a', 'b', 'c']) await p.createFile(file(c));
    await p.createFile(file('a', { productClass: 'GXP2140' }));
    const first = await p.listFiles({ limit: 2 });
    const second = await p.listFiles({ limit: 2, cursor: first.nextCursor! });
    assert.equal(first.items.length + second.items.length, 4);
    assert.equal(second.nextCursor, null);
    assert.equal(new Set([...first.items, ...second.items].map((f) => f.id)).size, 4);
    assert.equal((await p.listFiles({ productClass: 'GXP2140' })).items.length, 1);
    assert.equal(await p.countFilesWithContent('a'.repeat(64)), 2);
    await assert.rejects(p.listFiles({ cursor: 'bogus!' }), (e: unknown) => e instanceof StoreError && e.code === 'invalid');
  });

  it('merges and replaces variables; an empty value deletes a name', async () => {
    await p.putVariables([{ key: 'K1', variables: { a: '1', b: '2' } }], 'merge');
    await p.putVariables([{ key: 'K1', variables: { b: '3', c: '4' } }], 'merge');
    assert.deepEqual((await p.getVariables(['K1']))[0].variables, { a: '1', b: '3', c: '4' });
    await p.putVariables([{ key: 'K1', variables: { a: '' } }], 'merge');
    assert.deepEqual((await p.getVariables(['K1']))[0].variables, { b: '3', c: '4' });
    await p.putVariables([{ key: 'K1', variables: { z: '9' } }], 'replace');
    assert.deepEqual((await p.getVariables(['K1']))[0].variables, { z: '9' });
    await p.putVariables([{ key: 'K2', variables: { x: '1' } }, { key: 'L1', variables: { y: '1' } }], 'merge');
    assert.deepEqual((await p.getVariables(['L1', 'nope', 'K1'])).map((s) => s.key), ['L1', 'K1'], 'in the order asked');
    const page = await p.listVariables({ keyPrefix: 'K', limit: 1 });
    assert.deepEqual(page.items.map((s) => s.key), ['K1']);
    assert.deepEqual((await p.listVariables({ keyPrefix: 'K', cursor: page.nextCursor! })).items.map((s) => s.key), ['K2']);
    assert.equal(await p.deleteVariables({ keys: ['K1', 'K2'] }), 2);
    assert.equal(await p.deleteVariables({ all: true }), 1);
  });

  it('stores planner memory per device and kind', async () => {
    const at = new Date().toISOString();
    await p.putDeviceMemory([
      { deviceId: 'D', kind: 'applied', name: 'A', hash: 'h1', detail: null, at },
      { deviceId: 'D', kind: 'refused', name: 'A', hash: 'h2', detail: { faultCode: 9007 }, at },
      { deviceId: 'E', kind: 'applied', name: 'A', hash: 'h3', detail: null, at },
    ]);
    await p.putDeviceMemory([{ deviceId: 'D', kind: 'applied', name: 'A', hash: 'h4', detail: null, at }]);
    const d = await p.getDeviceMemory('D');
    assert.deepEqual(d.map((e) => [e.kind, e.hash]), [['applied', 'h4'], ['refused', 'h2']]);
    assert.deepEqual((await p.getDeviceMemory('D', ['refused']))[0].detail, { faultCode: 9007 });
    assert.equal(await p.deleteDeviceMemory('D', ['refused']), 1);
    assert.equal((await p.getDeviceMemory('E')).length, 1);
  });

  it('never lets two connections claim more download slots than allowed', async () => {
    const devices = Array.from({ length: 10 }, (_, i) => ({ deviceId: `dev-${i}`, position: i, stage: 0, state: 'pending' as const, fromVersion: '1', detail: null }));
    const r = await p.createRollout(rollout, devices);
    const other = openSqliteProvisioningStore({ dataDir: dir });
    try {
      const claims = await Promise.all(devices.map((d, i) => (i % 2 ? other : p).claimDownloadSlot(r.id, d.deviceId, 3, { phase: 'sent' })));
      assert.equal(claims.filter((c) => c !== null).length, 3);
      const counts = await p.rolloutCounts(r.id);
      assert.deepEqual([counts.downloading, counts.pending], [3, 7]);
      // a claimed device cannot be claimed again
      const claimed = claims.find((c) => c !== null)!;
      await p.updateRolloutDevice(r.id, claimed.deviceId, { state: 'succeeded', phase: null });
      assert.equal(await p.claimDownloadSlot(r.id, claimed.deviceId, 3, {}), null);
      // the finished device freed a slot
      const pending = (await p.listRolloutDevices(r.id, { states: ['pending'] })).items[0];
      assert.equal((await p.claimDownloadSlot(r.id, pending.deviceId, 3, {}))?.state, 'downloading');
      const next = (await p.listRolloutDevices(r.id, { states: ['pending'] })).items[0];
      assert.equal(await p.claimDownloadSlot(r.id, next.deviceId, 3, {}), null, 'full again');
      assert.equal((await p.rolloutsOfDevice('dev-0')).length, 1);
      await p.updateRollout(r.id, { state: 'completed' });
      assert.equal((await p.rolloutsOfDevice('dev-0')).length, 0, 'only open rollouts');
      assert.equal(await p.updateRolloutDevices(r.id, { states: ['pending'] }, { state: 'skipped' }), (await p.rolloutCounts(r.id)).skipped);
    } finally {
      await other.close();
    }
  });

  it('keeps deliveries in order, due by time', async () => {
    const at = '2025-01-01T00:00:00.000Z';
    const hook = await p.createWebhook({ name: 'w', url: 'http://x', secret: 's'.repeat(16), events: ['*'], enabled: true });
    const made = await p.createDeliveries(
      ['a', 'b', 'c'].map((b, i) => ({ webhookId: hook.id, event: 'fault' as const, body: b, status: 'pending' as const, attempts: 0, nextAttemptAt: i === 1 ? '2030-01-01T00:00:00.000Z' : null, lastStatusCode: null, lastError: null, createdAt: at, finishedAt: null })),
    );
    assert.deepEqual((await p.dueDeliveries('2026-01-01T00:00:00.000Z', 10)).map((d) => d.body), ['a', 'c']);
    await p.updateDelivery(made[0].id, { status: 'delivered', attempts: 1 });
    assert.deepEqual((await p.dueDeliveries('2031-01-01T00:00:00.000Z', 10)).map((d) => d.body), ['b', 'c']);
    assert.deepEqual((await p.listDeliveries({ webhookId: hook.id })).items.map((d) => d.body), ['c', 'b', 'a'], 'newest first');
    await p.deleteWebhook(hook.id);
    assert.deepEqual((await p.listDeliveries({ status: 'pending' })).items, [], 'pending deliveries of a deleted hook fail');
  });

  it('versions bootstrap records and finds them by the first matching key', async () => {
    const a = await p.putBootstrap({ key: 'SERIAL1', tags: ['b', 'a', 'a'] });
    assert.deepEqual([a.created, a.record.revision, a.record.tags], [true, 1, ['a', 'b']]);
    const b = await p.putBootstrap({ key: 'SERIAL1', acsUsername: 'u' });
    assert.deepEqual([b.created, b.record.revision, b.record.acsUsername, b.record.tags], [false, 2, 'u', []]);
    await p.putBootstrap({ key: '000B82000001' });
    assert.equal((await p.findBootstrap(['nope', '000B82000001', 'SERIAL1']))?.key, '000B82000001');
    await p.markBootstrapApplied('SERIAL1', 'dev', '2025-01-01T00:00:00.000Z');
    assert.equal((await p.getBootstrap('SERIAL1'))?.appliedDeviceId, 'dev');
  });

  it('lists history newest first, per parameter, and prunes old entries', async () => {
    await p.appendHistory([
      { deviceId: 'D', name: 'A', value: '1', previous: null, source: 'inform', at: '2025-01-01T00:00:00.000Z' },
      { deviceId: 'D', name: 'B', value: 'x', previous: null, source: 'value-change', at: '2025-01-02T00:00:00.000Z' },
      { deviceId: 'D', name: 'A', value: '2', previous: '1', source: 'value-change', at: '2025-01-03T00:00:00.000Z' },
    ]);
    assert.deepEqual((await p.listHistory({ deviceId: 'D', name: 'A' })).items.map((e) => e.value), ['2', '1']);
    assert.deepEqual((await p.listHistory({ deviceId: 'D', since: '2025-01-02T00:00:00.000Z' })).items.map((e) => e.value), ['2', 'x']);
    assert.equal(await p.pruneHistory('2025-01-02T12:00:00.000Z'), 2);
    assert.equal((await p.listHistory({ deviceId: 'D' })).items.length, 1);
  });

  it('rejects calls after close', async () => {
    const s = openSqliteProvisioningStore({ file: ':memory:' });
    await s.close();
    await assert.rejects(s.listPresets(), (e: unknown) => e instanceof StoreError && e.code === 'unavailable');
  });
});
