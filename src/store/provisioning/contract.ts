/**
 * The provisioning storage contract: behaviour every `ProvisioningStore` backend (and every
 * `FileContentStore`) must show. A backend's test file calls `runProvisioningContract` with a
 * factory of EMPTY stores and of "peer" instances on the same database (another ACS process or
 * host); the suite closes what it opens.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { StoreError } from '../types.ts';
import type { FileContentStore } from './file-content.ts';
import type { NewFileRecord, NewRolloutDevice, PresetSpec, ProvisioningChange, ProvisioningStore, RolloutSpec } from './types.ts';

export interface ProvisioningBackend {
  /** A new, empty store. */
  open(): Promise<ProvisioningStore>;
  /** Another instance on the database of `store` (its own connection(s), as another process). */
  openPeer(store: ProvisioningStore): Promise<ProvisioningStore>;
  /** True when a change made through a peer reaches this instance's `subscribe` listeners. */
  crossInstanceNotifications: boolean;
}

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
const pendingDevices = (n: number): NewRolloutDevice[] =>
  Array.from({ length: n }, (_, i) => ({ deviceId: `dev-${i}`, position: i, stage: 0, state: 'pending' as const, fromVersion: '1', detail: null }));
const isStoreError = (code: StoreError['code']) => (e: unknown) => e instanceof StoreError && e.code === code;
/** How long a change may take to reach another instance's listener. */
const NOTIFY_WAIT_MS = 1000;

/** Resolves with the first change `matches` accepts, or rejects after `ms`. */
function nextChange(store: ProvisioningStore, matches: (c: ProvisioningChange) => boolean, ms = NOTIFY_WAIT_MS): Promise<ProvisioningChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching change within ${ms} ms`));
    }, ms);
    const off = store.subscribe!((c) => {
      if (!matches(c)) return;
      clearTimeout(timer);
      off();
      resolve(c);
    });
  });
}

/** Registers the contract tests for one provisioning store backend. */
export function runProvisioningContract(name: string, backend: ProvisioningBackend): void {
  const withStore = (fn: (p: ProvisioningStore) => Promise<void>) => async () => {
    const p = await backend.open();
    try {
      await fn(p);
    } finally {
      await p.close();
    }
  };
  const withPeers = (fn: (p: ProvisioningStore, peer: ProvisioningStore) => Promise<void>) =>
    withStore(async (p) => {
      const peer = await backend.openPeer(p);
      try {
        await fn(p, peer);
      } finally {
        await peer.close();
      }
    });

  describe(`Provisioning store contract: ${name}`, () => {
    it('keeps preset names unique and counts revisions', withStore(async (p) => {
      const a = await p.createPreset(preset('a'));
      await assert.rejects(p.createPreset(preset('a')), isStoreError('conflict'));
      const b = await p.createPreset(preset('b'));
      await assert.rejects(p.updatePreset(b.id, preset('a')), isStoreError('conflict'));
      const a2 = await p.updatePreset(a.id, { ...preset('a'), weight: 3 });
      assert.deepEqual([a2?.revision, a2?.weight], [2, 3]);
      assert.deepEqual(await p.getPreset(a.id), a2);
      assert.equal(await p.updatePreset('nope', preset('z')), null);
      assert.deepEqual((await p.listPresets()).map((x) => x.name), ['a', 'b']);
      assert.equal(await p.deletePreset(b.id), true);
      assert.equal(await p.deletePreset(b.id), false);
      assert.equal(await p.getPreset(b.id), null);
    }));

    it('pages files, filters them, updates them and counts records per content', withStore(async (p) => {
      for (const c of ['a', 'b', 'c']) await p.createFile(file(c));
      const big = await p.createFile(file('a', { productClass: 'GXP2140', size: 3_000_000_000 }));
      const first = await p.listFiles({ limit: 2 });
      const second = await p.listFiles({ limit: 2, cursor: first.nextCursor! });
      assert.equal(first.items.length + second.items.length, 4);
      assert.equal(second.nextCursor, null);
      assert.equal(new Set([...first.items, ...second.items].map((f) => f.id)).size, 4);
      assert.deepEqual((await p.listFiles({ productClass: 'GXP2140' })).items, [big]);
      assert.equal((await p.getFile(big.id))?.size, 3_000_000_000, 'sizes past 2^31 survive');
      assert.equal(await p.countFilesWithContent('a'.repeat(64)), 2);
      const patched = await p.updateFile(big.id, { description: 'x', oui: '000B82', auth: { scheme: 'basic', username: 'u', password: 'p' } });
      assert.deepEqual([patched?.description, patched?.oui, patched?.auth.scheme, patched?.productClass], ['x', '000B82', 'basic', 'GXP2140']);
      assert.deepEqual(await p.getFile(big.id), patched);
      assert.equal(await p.updateFile('nope', { name: 'x' }), null);
      assert.equal(await p.deleteFile(big.id), true);
      assert.equal(await p.countFilesWithContent('a'.repeat(64)), 1);
      await assert.rejects(p.listFiles({ cursor: 'bogus!' }), isStoreError('invalid'));
    }));

    it('merges and replaces variables; an empty value deletes a name', withStore(async (p) => {
      await p.putVariables([{ key: 'K1', variables: { a: '1', b: '2' } }], 'merge');
      await p.putVariables([{ key: 'K1', variables: { b: '3', c: '4' } }], 'merge');
      assert.deepEqual((await p.getVariables(['K1']))[0].variables, { a: '1', b: '3', c: '4' });
      await p.putVariables([{ key: 'K1', variables: { a: '' } }], 'merge');
      assert.deepEqual((await p.getVariables(['K1']))[0].variables, { b: '3', c: '4' });
      await p.putVariables([{ key: 'K1', variables: { z: '9' } }], 'replace');
      assert.deepEqual((await p.getVariables(['K1']))[0].variables, { z: '9' });
      // the same key twice in one call: applied in order
      await p.putVariables([{ key: 'K3', variables: { a: '1' } }, { key: 'K3', variables: { a: '', b: '2' } }], 'merge');
      assert.deepEqual((await p.getVariables(['K3']))[0].variables, { b: '2' });
      await p.putVariables([{ key: 'K2', variables: { x: '1' } }, { key: 'L1', variables: { y: '1' } }], 'merge');
      assert.deepEqual((await p.getVariables(['L1', 'nope', 'K1'])).map((s) => s.key), ['L1', 'K1'], 'in the order asked');
      const page = await p.listVariables({ keyPrefix: 'K', limit: 1 });
      assert.deepEqual(page.items.map((s) => s.key), ['K1']);
      assert.deepEqual((await p.listVariables({ keyPrefix: 'K', cursor: page.nextCursor! })).items.map((s) => s.key), ['K2', 'K3']);
      assert.equal(await p.deleteVariables({ keys: ['K1', 'K2', 'nope'] }), 2);
      assert.equal(await p.deleteVariables({ keys: [] }), 0);
      assert.equal(await p.deleteVariables({ all: true }), 2);
      assert.deepEqual((await p.listVariables({})).items, []);
    }));

    it('stores planner memory per device and kind', withStore(async (p) => {
      const at = new Date().toISOString();
      await p.putDeviceMemory([
        { deviceId: 'D', kind: 'applied', name: 'A', hash: 'h1', detail: null, at },
        { deviceId: 'D', kind: 'refused', name: 'A', hash: 'h2', detail: { faultCode: 9007 }, at },
        { deviceId: 'E', kind: 'applied', name: 'A', hash: 'h3', detail: null, at },
        { deviceId: 'E', kind: 'applied', name: 'A', hash: 'h5', detail: null, at },
      ]);
      await p.putDeviceMemory([{ deviceId: 'D', kind: 'applied', name: 'A', hash: 'h4', detail: null, at }]);
      const d = await p.getDeviceMemory('D');
      assert.deepEqual(d.map((e) => [e.kind, e.hash]), [['applied', 'h4'], ['refused', 'h2']]);
      assert.deepEqual((await p.getDeviceMemory('D', ['refused']))[0].detail, { faultCode: 9007 });
      assert.deepEqual((await p.getDeviceMemory('E')).map((e) => e.hash), ['h5'], 'the last entry of a batch wins');
      // details of any shape survive the batch as they were given; an empty batch changes nothing
      const detail = { faultCode: null, faultString: 'quote " backslash \\ \u00e9\u{1F600}', nested: { list: [1, 'two', true] } };
      await p.putDeviceMemory([
        { deviceId: 'F', kind: 'refused', name: "it's", hash: 'h6', detail, at },
        { deviceId: 'F', kind: 'applied', name: 'B', hash: 'h7', detail: null, at },
      ]);
      await p.putDeviceMemory([]);
      // a large batch (the SQLite store writes it in several statements): every row, the last entry winning
      const big = [0, 1].flatMap((round) => Array.from({ length: 35 }, (_, i) => ({ deviceId: 'G', kind: 'applied' as const, name: `N${String(i).padStart(2, '0')}`, hash: `r${round}`, detail: null, at })));
      await p.putDeviceMemory(big);
      const g = await p.getDeviceMemory('G');
      assert.equal(g.length, 35);
      assert.ok(g.every((e) => e.hash === 'r1'), 'the later entry of each name wins');
      assert.deepEqual(await p.getDeviceMemory('F'), [
        { deviceId: 'F', kind: 'applied', name: 'B', hash: 'h7', detail: null, at },
        { deviceId: 'F', kind: 'refused', name: "it's", hash: 'h6', detail, at },
      ]);
      assert.equal(await p.deleteDeviceMemory('D', ['refused']), 1);
      assert.equal(await p.deleteDeviceMemory('E', undefined, 'nope'), 0);
      assert.equal(await p.deleteDeviceMemory('E'), 1);
    }));

    it('never lets two instances claim more download slots than allowed', withPeers(async (p, other) => {
      const devices = pendingDevices(10);
      const r = await p.createRollout(rollout, devices);
      const claims = await Promise.all(devices.map((d, i) => (i % 2 ? other : p).claimDownloadSlot(r.id, d.deviceId, 3, { phase: 'sent' })));
      assert.equal(claims.filter((c) => c !== null).length, 3);
      const counts = await p.rolloutCounts(r.id);
      assert.deepEqual([counts.downloading, counts.pending], [3, 7]);
      // a claimed device cannot be claimed again
      const claimed = claims.find((c) => c !== null)!;
      assert.equal(claimed.phase, 'sent');
      await p.updateRolloutDevice(r.id, claimed.deviceId, { state: 'succeeded', phase: null });
      assert.equal(await p.claimDownloadSlot(r.id, claimed.deviceId, 3, {}), null);
      // the finished device freed a slot; the claim is stamped when the slot is taken
      const pending = (await p.listRolloutDevices(r.id, { states: ['pending'] })).items[0];
      const before = Date.now();
      const taken = await other.claimDownloadSlot(r.id, pending.deviceId, 3, {});
      assert.equal(taken?.state, 'downloading');
      assert.ok(taken.startedAt !== null && Date.parse(taken.startedAt) >= before && Date.parse(taken.startedAt) <= Date.now(), `startedAt ${taken.startedAt}`);
      const next = (await p.listRolloutDevices(r.id, { states: ['pending'] })).items[0];
      assert.equal(await p.claimDownloadSlot(r.id, next.deviceId, 3, {}), null, 'full again');
      assert.equal(await p.claimDownloadSlot('nope', next.deviceId, 3, {}), null, 'unknown rollout');
      assert.equal((await p.rolloutsOfDevice('dev-0')).length, 1);
      await p.updateRollout(r.id, { state: 'completed' });
      assert.equal((await p.rolloutsOfDevice('dev-0')).length, 0, 'only open rollouts');
      assert.equal(await p.updateRolloutDevices(r.id, { states: ['pending'] }, { state: 'skipped' }), (await p.rolloutCounts(r.id)).skipped);
    }));

    it('holds the limit of one slot under a race of many claims from two instances', withPeers(async (p, other) => {
      const devices = pendingDevices(8);
      const r = await p.createRollout({ ...rollout, maxConcurrent: 1 }, devices);
      for (let round = 0; round < 3; round++) {
        const pending = (await p.listRolloutDevices(r.id, { states: ['pending'] })).items;
        const claims = await Promise.all(pending.map((d, i) => (i % 2 ? other : p).claimDownloadSlot(r.id, d.deviceId, 1, {})));
        const won = claims.filter((c) => c !== null);
        assert.equal(won.length, 1, `round ${round}: exactly one claim wins`);
        assert.equal((await p.rolloutCounts(r.id)).downloading, 1);
        await other.updateRolloutDevice(r.id, won[0]!.deviceId, { state: 'succeeded' });
      }
    }));

    it('claims kick slots: downloads plus recent kicks stay within the limit, once per interval', withPeers(async (p, other) => {
      const r = await p.createRollout({ ...rollout, maxConcurrent: 2 }, pendingDevices(5));
      const t0 = '2025-01-01T00:00:00.000Z';
      const t1 = '2025-01-01T00:00:30.000Z';
      const t2 = '2025-01-01T00:02:00.000Z';
      const since = (t: string) => new Date(Date.parse(t) - 60_000).toISOString();
      const first = await Promise.all([0, 1, 2, 3].map((i) => (i % 2 ? other : p).claimKickSlot(r.id, `dev-${i}`, 2, t0, since(t0))));
      assert.equal(first.filter(Boolean).length, 2, 'two kicks fit');
      const kicked = [0, 1, 2, 3].filter((i) => first[i]).map((i) => `dev-${i}`);
      assert.equal((await p.getRolloutDevice(r.id, kicked[0]))?.kickedAt, t0);
      assert.equal(await p.claimKickSlot(r.id, kicked[0], 5, t1, since(t1)), false, 'not again within the interval');
      // a kicked device that claimed its download still counts once
      assert.ok(await p.claimDownloadSlot(r.id, kicked[0], 2, {}));
      assert.equal(await p.claimKickSlot(r.id, 'dev-4', 2, t1, since(t1)), false, 'one downloading + one woken = full');
      // later: the old kick no longer counts, and the woken device may be kicked again
      assert.equal(await other.claimKickSlot(r.id, kicked[1], 2, t2, since(t2)), true);
      assert.equal(await p.claimKickSlot(r.id, kicked[0], 5, t2, since(t2)), false, 'not pending');
      const cleared = await p.updateRolloutDevice(r.id, kicked[1], { kickedAt: null });
      assert.equal(cleared?.kickedAt, null);
    }));

    it('changes rollouts and their devices only when the expected state holds', withPeers(async (p, other) => {
      const r = await p.createRollout({ ...rollout, stages: [{ count: 1 }, { count: 2 }, { percent: 100 }] }, pendingDevices(3));
      // two instances open the next stage at once: one wins
      const both = await Promise.all([p, other].map((s) => s.updateRollout(r.id, { stageIndex: 1 }, { stageIndex: 0, states: ['running'] })));
      assert.equal(both.filter((x) => x !== null).length, 1);
      assert.equal((await p.getRollout(r.id))?.stageIndex, 1);
      assert.equal(await p.updateRollout(r.id, { state: 'completed' }, { states: ['paused'] }), null);
      const done = await Promise.all([p, other].map((s) => s.updateRollout(r.id, { state: 'stopped', finishedAt: '2025-01-01T00:00:00.000Z' }, { states: ['running', 'paused'] })));
      assert.equal(done.filter((x) => x !== null).length, 1, 'finished once');
      assert.deepEqual([(await p.getRollout(r.id))?.state, (await p.getRollout(r.id))?.finishedAt], ['stopped', '2025-01-01T00:00:00.000Z']);
      assert.equal(await p.updateRollout('nope', { state: 'paused' }), null);
      assert.equal(await p.updateRolloutDevice(r.id, 'dev-0', { state: 'failed' }, { states: ['downloading'] }), null);
      assert.equal((await p.getRolloutDevice(r.id, 'dev-0'))?.state, 'pending');
      assert.equal((await p.updateRolloutDevice(r.id, 'dev-0', { state: 'failed', faultCode: 9010 }, { states: ['pending'] }))?.faultCode, 9010);
      assert.equal(await p.updateRolloutDevice(r.id, 'nope', { state: 'failed' }), null);
    }));

    it('pages rollouts newest first and rollout devices by position', withStore(async (p) => {
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await p.createRollout({ ...rollout, name: `r${i}` }, pendingDevices(3)));
      const first = await p.listRollouts({ limit: 2 });
      const rest = await p.listRollouts({ limit: 2, cursor: first.nextCursor! });
      assert.deepEqual([...first.items, ...rest.items].map((r) => r.id).sort(), made.map((r) => r.id).sort());
      assert.equal((await p.listRollouts({ states: ['paused'] })).items.length, 0);
      const devs = await p.listRolloutDevices(made[0].id, { limit: 2 });
      const more = await p.listRolloutDevices(made[0].id, { limit: 2, cursor: devs.nextCursor! });
      assert.deepEqual([...devs.items, ...more.items].map((d) => d.position), [0, 1, 2]);
      const skipped = await p.createRollout(rollout, [{ deviceId: 'x', position: 0, stage: 0, state: 'skipped', fromVersion: null, detail: 'why' }]);
      const x = await p.getRolloutDevice(skipped.id, 'x');
      assert.deepEqual([x?.state, x?.detail, x?.finishedAt !== null, x?.kickedAt], ['skipped', 'why', true, null]);
    }));

    it('keeps deliveries in order, due by time', withStore(async (p) => {
      const at = '2025-01-01T00:00:00.000Z';
      const hook = await p.createWebhook({ name: 'w', url: 'http://x', secret: 's'.repeat(16), events: ['*'], enabled: true });
      assert.deepEqual(await p.getWebhook(hook.id), hook);
      const upd = await p.updateWebhook(hook.id, { ...hook, url: 'http://y' });
      assert.equal(upd?.url, 'http://y');
      assert.deepEqual((await p.listWebhooks()).map((w) => w.url), ['http://y']);
      const made = await p.createDeliveries(
        ['a', 'b', 'c'].map((b, i) => ({ webhookId: hook.id, event: 'fault' as const, body: b, status: 'pending' as const, attempts: 0, nextAttemptAt: i === 1 ? '2030-01-01T00:00:00.000Z' : null, lastStatusCode: null, lastError: null, createdAt: at, finishedAt: null })),
      );
      assert.equal((await p.getDelivery(made[2].id))?.body, 'c');
      assert.equal(await p.getDelivery('nope'), null);
      assert.deepEqual((await p.dueDeliveries('2026-01-01T00:00:00.000Z', 10)).map((d) => d.body), ['a', 'c']);
      const delivered = await p.updateDelivery(made[0].id, { status: 'delivered', attempts: 1, lastStatusCode: 204 });
      assert.deepEqual([delivered?.status, delivered?.attempts, delivered?.lastStatusCode], ['delivered', 1, 204]);
      assert.deepEqual((await p.dueDeliveries('2031-01-01T00:00:00.000Z', 10)).map((d) => d.body), ['b', 'c']);
      const page = await p.listDeliveries({ webhookId: hook.id, limit: 2 });
      const rest = await p.listDeliveries({ webhookId: hook.id, limit: 2, cursor: page.nextCursor! });
      assert.deepEqual([...page.items, ...rest.items].map((d) => d.body), ['c', 'b', 'a'], 'newest first');
      assert.equal(await p.deleteWebhook(hook.id), true);
      assert.equal(await p.deleteWebhook(hook.id), false);
      assert.deepEqual((await p.listDeliveries({ status: 'pending' })).items, [], 'pending deliveries of a deleted hook fail');
    }));

    it('leases due deliveries to one instance at a time', withPeers(async (p, other) => {
      const hook = await p.createWebhook({ name: 'w', url: 'http://x', secret: 's'.repeat(16), events: ['*'], enabled: true });
      const at = '2025-01-01T00:00:00.000Z';
      const made = await p.createDeliveries(
        Array.from({ length: 6 }, (_, i) => ({ webhookId: hook.id, event: 'fault' as const, body: `b${i}`, status: 'pending' as const, attempts: 0, nextAttemptAt: null, lastStatusCode: null, lastError: null, createdAt: at, finishedAt: null })),
      );
      const now = '2026-01-01T00:00:00.000Z';
      const lease = '2026-01-01T00:01:00.000Z';
      const [x, y] = await Promise.all([p.claimDueDeliveries(now, 4, lease), other.claimDueDeliveries(now, 4, lease)]);
      const taken = [...x, ...y].map((d) => d.body);
      assert.equal(new Set(taken).size, taken.length, `no delivery taken twice: ${taken.join(',')}`);
      assert.deepEqual([...taken].sort(), made.map((d) => d.body).sort(), 'all six taken between the two');
      assert.ok(x.every((d) => d.nextAttemptAt === lease));
      assert.deepEqual(await p.claimDueDeliveries(now, 10, lease), [], 'leased: not due');
      await p.updateDelivery(x[0]?.id ?? y[0].id, { status: 'delivered', attempts: 1, nextAttemptAt: null });
      const again = await other.claimDueDeliveries('2026-01-01T00:02:00.000Z', 10, '2026-01-01T00:03:00.000Z');
      assert.equal(again.length, 5, 'the lease ran out: taken again, except the delivered one');
      assert.deepEqual(again.map((d) => Number(d.id)), [...again.map((d) => Number(d.id))].sort((m, n) => m - n), 'oldest first');
    }));

    it('versions bootstrap records and finds them by the first matching key', withStore(async (p) => {
      const a = await p.putBootstrap({ key: 'SERIAL1', tags: ['b', 'a', 'a'] });
      assert.deepEqual([a.created, a.record.revision, a.record.tags], [true, 1, ['a', 'b']]);
      const b = await p.putBootstrap({ key: 'SERIAL1', acsUsername: 'u' });
      assert.deepEqual([b.created, b.record.revision, b.record.acsUsername, b.record.tags], [false, 2, 'u', []]);
      await p.putBootstrap({ key: '000B82000001' });
      assert.equal((await p.findBootstrap(['nope', '000B82000001', 'SERIAL1']))?.key, '000B82000001');
      assert.equal(await p.findBootstrap([]), null);
      await p.markBootstrapApplied('SERIAL1', 'dev', '2025-01-01T00:00:00.000Z');
      assert.deepEqual([(await p.getBootstrap('SERIAL1'))?.appliedDeviceId, (await p.getBootstrap('SERIAL1'))?.appliedAt], ['dev', '2025-01-01T00:00:00.000Z']);
      const page = await p.listBootstrap({ limit: 1 });
      assert.deepEqual([...page.items, ...(await p.listBootstrap({ cursor: page.nextCursor! })).items].map((r) => r.key), ['000B82000001', 'SERIAL1']);
      assert.equal(await p.deleteBootstrap('SERIAL1'), true);
      assert.equal(await p.getBootstrap('SERIAL1'), null);
    }));

    it('keeps settings as JSON', withStore(async (p) => {
      assert.equal(await p.getSetting('x'), null);
      await p.putSetting('x', { policy: 'accept', n: 1 });
      await p.putSetting('x', { policy: 'refuse', n: 2 });
      assert.deepEqual(await p.getSetting('x'), { policy: 'refuse', n: 2 });
    }));

    it('lists history newest first, per parameter, and prunes old entries', withStore(async (p) => {
      await p.appendHistory([
        { deviceId: 'D', name: 'A', value: '1', previous: null, source: 'inform', at: '2025-01-01T00:00:00.000Z' },
        { deviceId: 'D', name: 'B', value: 'x', previous: null, source: 'value-change', at: '2025-01-02T00:00:00.000Z' },
        { deviceId: 'D', name: 'A', value: '2', previous: '1', source: 'value-change', at: '2025-01-03T00:00:00.000Z' },
      ]);
      assert.deepEqual((await p.listHistory({ deviceId: 'D', name: 'A' })).items.map((e) => e.value), ['2', '1']);
      assert.deepEqual((await p.listHistory({ deviceId: 'D', since: '2025-01-02T00:00:00.000Z' })).items.map((e) => e.value), ['2', 'x']);
      const page = await p.listHistory({ deviceId: 'D', limit: 2 });
      assert.deepEqual((await p.listHistory({ deviceId: 'D', cursor: page.nextCursor! })).items.map((e) => e.value), ['1']);
      assert.equal(await p.pruneHistory('2025-01-02T12:00:00.000Z'), 2);
      assert.equal((await p.listHistory({ deviceId: 'D' })).items.length, 1);
    }));

    it('tells subscribers about committed changes of operator data, not about per-session writes', withStore(async (p) => {
      assert.ok(p.subscribe, 'the backend supports subscribe');
      const seen: ProvisioningChange[] = [];
      const off = p.subscribe((c) => seen.push(c));
      const pre = await p.createPreset(preset('n1'));
      await p.updatePreset(pre.id, preset('n2'));
      await p.deletePreset('nope');
      const f = await p.createFile(file('d'));
      await p.putVariables([{ key: 'K', variables: { a: '1' } }], 'merge');
      const r = await p.createRollout(rollout, pendingDevices(1));
      await p.updateRollout(r.id, { state: 'paused' });
      const w = await p.createWebhook({ name: 'w', url: 'http://x', secret: 's'.repeat(16), events: ['*'], enabled: true });
      await p.putBootstrap({ key: 'S1' });
      await p.putSetting('unknownDevicePolicy', 'quarantine');
      await p.putDeviceMemory([{ deviceId: 'D', kind: 'applied', name: 'A', hash: 'h', detail: null, at: '2025-01-01T00:00:00.000Z' }]);
      await p.appendHistory([{ deviceId: 'D', name: 'A', value: '1', previous: null, source: 'inform', at: '2025-01-01T00:00:00.000Z' }]);
      await p.claimDownloadSlot(r.id, 'dev-0', 1, {});
      // own changes are told at once (after the commit), in order
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(seen, [
        { kind: 'preset', id: pre.id },
        { kind: 'preset', id: pre.id },
        { kind: 'file', id: f.id },
        { kind: 'variables' },
        { kind: 'rollout', id: r.id },
        { kind: 'rollout', id: r.id },
        { kind: 'webhook', id: w.id },
        { kind: 'bootstrap', id: 'S1' },
        { kind: 'setting', id: 'unknownDevicePolicy' },
      ]);
      off();
      await p.deletePreset(pre.id);
      assert.equal(seen.length, 9, 'nothing after unsubscribing');
    }));

    it('delivers a change made through another instance to this one\'s listener within a second', { skip: backend.crossInstanceNotifications ? false : `${name}: notifications are local to one instance` }, withPeers(async (p, peer) => {
      const created = nextChange(p, (c) => c.kind === 'preset');
      const made = await peer.createPreset(preset('remote'));
      assert.deepEqual(await created, { kind: 'preset', id: made.id });
      const file2 = nextChange(p, (c) => c.kind === 'file');
      const f = await peer.createFile(file('e'));
      assert.deepEqual(await file2, { kind: 'file', id: f.id });
      // and the other way round
      const back = nextChange(peer, (c) => c.kind === 'bootstrap');
      await p.putBootstrap({ key: 'S2' });
      assert.deepEqual(await back, { kind: 'bootstrap', id: 'S2' });
      // settings too (instances cache them)
      const setting = nextChange(peer, (c) => c.kind === 'setting');
      await p.putSetting('unknownDevicePolicy', 'refuse');
      assert.deepEqual(await setting, { kind: 'setting', id: 'unknownDevicePolicy' });
    }));

    it('rejects calls after close', async () => {
      const s = await backend.open();
      await s.close();
      await assert.rejects(s.listPresets(), isStoreError('unavailable'));
      await assert.rejects(s.createPreset(preset('x')), isStoreError('unavailable'));
      await assert.rejects(s.putDeviceMemory([{ deviceId: 'D', kind: 'applied', name: 'A', hash: 'h', detail: null, at: '2025-01-01T00:00:00.000Z' }]), isStoreError('unavailable'));
      await s.close();
    });
  });
}

/** Reads a whole stream. */
async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Registers the contract tests of a `FileContentStore`; `make` returns an empty one, `done` cleans up. */
export function runFileContentContract(name: string, make: () => Promise<{ content: FileContentStore; done: () => Promise<void> }>): void {
  const withContent = (fn: (c: FileContentStore) => Promise<void>) => async () => {
    const { content, done } = await make();
    try {
      await fn(content);
    } finally {
      await done();
    }
  };
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  describe(`File content contract: ${name}`, () => {
    it('stores content under its hash only once committed, and reads it whole or by range', withContent(async (c) => {
      const bytes = randomBytes(700_000);
      const h = sha(bytes);
      // several source chunks of odd sizes
      const pending = await c.write(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000, 300_001), bytes.subarray(300_001)]));
      assert.equal(await c.has(h), false, 'not visible before commit');
      await pending.commit(h);
      assert.equal(await c.has(h), true);
      assert.ok((await drain(c.open(h))).equals(bytes));
      for (const [start, end] of [[0, 0], [262_143, 262_145], [1, 699_998], [699_999, 699_999], [500_000, 699_999]]) {
        assert.ok((await drain(c.open(h, { start, end }))).equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`);
      }
      // the same content again: kept once, still readable
      const again = await c.write(Readable.from([bytes]));
      await again.commit(h);
      assert.ok((await drain(c.open(h, { start: 10, end: 19 }))).equals(bytes.subarray(10, 20)));
      await c.delete(h);
      assert.equal(await c.has(h), false);
      await assert.rejects(drain(c.open(h)));
      await c.delete(h);
    }));

    it('drops aborted and failed writes', withContent(async (c) => {
      const bytes = Buffer.from('small content');
      const pending = await c.write(Readable.from([bytes]));
      await pending.abort();
      await pending.abort();
      assert.equal(await c.has(sha(bytes)), false);
      const failing = new Readable({
        read() {
          this.destroy(new Error('upload cut'));
        },
      });
      await assert.rejects(c.write(failing), /upload cut/);
      await assert.rejects(async () => drain(c.open('../etc/passwd')), /not a sha256/);
    }));
  });
}
