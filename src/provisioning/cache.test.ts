/**
 * The caching view of the provisioning store (cache.ts): what it answers from memory, and that no
 * change, local or told by the store, leaves a stale answer behind.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteProvisioningStore, type SqliteProvisioningStore } from '../store/provisioning/sqlite.ts';
import type { Preset, PresetSpec, ProvisioningChangeListener, ProvisioningStore } from '../store/provisioning/types.ts';
import { cachedProvisioningStore, type CachedProvisioningStore } from './cache.ts';

const preset = (name: string, weight = 0): PresetSpec => ({ name, enabled: true, weight, precondition: {}, triggers: ['always'], desired: {} });

describe('cached provisioning store (SQLite)', () => {
  let inner: SqliteProvisioningStore;
  let view: CachedProvisioningStore;
  beforeEach(() => {
    inner = openSqliteProvisioningStore({ file: ':memory:' });
    view = cachedProvisioningStore(inner);
  });
  afterEach(async () => {
    await view.store.close();
  });

  it('reads the presets once, and again after each change made through the view', async () => {
    assert.equal(view.caching, true);
    const a = await view.store.createPreset(preset('a'));
    assert.deepEqual((await view.store.listPresets()).map((p) => p.name), ['a']);
    await view.store.listPresets();
    assert.equal(view.stats.loads, 1, 'the second read came from memory');
    await view.store.updatePreset(a.id, preset('a', 7));
    assert.equal((await view.store.listPresets())[0].weight, 7);
    await view.store.createPreset(preset('b'));
    assert.deepEqual((await view.store.listPresets()).map((p) => p.name).sort(), ['a', 'b']);
    await view.store.deletePreset(a.id);
    assert.deepEqual((await view.store.listPresets()).map((p) => p.name), ['b']);
  });

  it('drops the presets when the store reports a change made elsewhere (another instance)', async () => {
    await view.store.listPresets();
    await inner.createPreset(preset('elsewhere'));
    assert.deepEqual((await view.store.listPresets()).map((p) => p.name), ['elsewhere']);
  });

  it('hands out a copy of the list (a caller sorting it cannot change what the next one reads)', async () => {
    await view.store.createPreset(preset('a'));
    await view.store.createPreset(preset('b'));
    const first = await view.store.listPresets();
    first.reverse();
    first.pop();
    assert.equal((await view.store.listPresets()).length, 2);
  });

  it('caches webhooks the same way', async () => {
    assert.deepEqual(await view.store.listWebhooks(), []);
    await inner.createWebhook({ name: 'h', url: 'http://127.0.0.1:9/hook', secret: 's'.repeat(16), events: ['fault'], enabled: true });
    assert.equal((await view.store.listWebhooks()).length, 1);
  });

  it('answers rolloutsOfDevice and findBootstrap without a query while none exists, and queries once one does', async () => {
    assert.deepEqual(await view.store.rolloutsOfDevice('d1'), []);
    assert.equal(await view.store.findBootstrap(['000B82000001']), null);
    const loads = view.stats.loads;
    for (let i = 0; i < 5; i++) {
      await view.store.rolloutsOfDevice(`d${i}`);
      await view.store.findBootstrap([`000B8200000${i}`]);
    }
    assert.equal(view.stats.loads, loads, 'no more loads while nothing changed');
    await inner.putBootstrap({ key: '000B82000001', variables: { a: '1' } });
    assert.equal((await view.store.findBootstrap(['000B82000001']))?.key, '000B82000001');
    assert.equal(await view.store.findBootstrap(['000B82000002']), null);
  });

  it('keeps the variables table in memory (read once), and drops it on every change', async () => {
    await view.store.putVariables([{ key: 'a', variables: { x: '1' } }, { key: 'b', variables: { x: '2' } }], 'merge');
    assert.deepEqual((await view.store.getVariables(['b', 'nope', 'a'])).map((s) => s.key), ['b', 'a'], 'in the order asked, missing keys left out');
    const loads = view.stats.loads;
    assert.deepEqual((await view.store.getVariables(['a']))[0].variables, { x: '1' });
    assert.equal(view.stats.loads, loads, 'from memory');
    await view.store.putVariables([{ key: 'a', variables: { x: '9' } }], 'merge');
    assert.deepEqual((await view.store.getVariables(['a']))[0].variables, { x: '9' });
    // another instance (the store tells the view)
    await inner.putVariables([{ key: 'c', variables: { y: '3' } }], 'merge');
    assert.deepEqual((await view.store.getVariables(['c']))[0].variables, { y: '3' });
    await inner.deleteVariables({ keys: ['a'] });
    assert.deepEqual(await view.store.getVariables(['a']), []);
  });

  it('reads a variables table larger than a page completely', async () => {
    const sets = Array.from({ length: 2500 }, (_, i) => ({ key: `k${String(i).padStart(5, '0')}`, variables: { n: String(i) } }));
    await inner.putVariables(sets, 'merge');
    const got = await view.store.getVariables(['k00000', 'k01234', 'k02499']);
    assert.deepEqual(got.map((s) => s.variables.n), ['0', '1234', '2499']);
  });

  it('keeps settings in memory per name, and drops them on every setting change (through the view or elsewhere)', async () => {
    assert.equal(await view.store.getSetting('policy'), null);
    const loads = view.stats.loads;
    assert.equal(await view.store.getSetting('policy'), null, 'a missing setting is cached too');
    assert.equal(view.stats.loads, loads, 'from memory');
    await view.store.putSetting('policy', 'refuse');
    assert.equal(await view.store.getSetting('policy'), 'refuse');
    assert.equal(await view.store.getSetting('policy'), 'refuse');
    assert.equal(view.stats.loads, loads + 1, 'read again once after the change');
    // another instance (the store tells the view)
    await inner.putSetting('policy', 'quarantine');
    assert.equal(await view.store.getSetting('policy'), 'quarantine');
    // an object setting: a caller changing its copy does not change what the next caller reads
    await inner.putSetting('limits', { n: 1 });
    const first = await view.store.getSetting<{ n: number }>('limits');
    first!.n = 99;
    assert.deepEqual(await view.store.getSetting('limits'), { n: 1 });
  });

  it('gives the webhook list from memory while it is current, and nothing once detached', async () => {
    assert.equal(view.cachedWebhooks(), undefined, 'not read yet');
    await view.store.listWebhooks();
    assert.deepEqual(view.cachedWebhooks(), []);
    await view.store.createWebhook({ name: 'h', url: 'http://127.0.0.1:9/hook', secret: 's'.repeat(16), events: ['fault'], enabled: true });
    assert.equal(view.cachedWebhooks(), undefined, 'dropped by the change');
    view.detach();
    await view.store.listWebhooks();
    assert.equal(view.cachedWebhooks(), undefined, 'detached: nothing from memory');
  });

  it('passes every other method through to the store', async () => {
    await view.store.putVariables([{ key: 'k', variables: { x: '1' } }], 'merge');
    assert.equal((await view.store.listVariables({})).items.length, 1);
    assert.equal(view.store.name, inner.name);
  });

  it('stops caching once detached (no more change notices)', async () => {
    await view.store.listPresets();
    view.detach();
    await inner.createPreset(preset('after'));
    assert.deepEqual((await view.store.listPresets()).map((p) => p.name), ['after']);
  });
});

/** A store with presets only, whose reads the test completes by hand. */
function manualStore(withSubscribe: boolean): { store: ProvisioningStore; reads: ((p: Preset[]) => void)[]; tell: ProvisioningChangeListener } {
  const reads: ((p: Preset[]) => void)[] = [];
  const listeners = new Set<ProvisioningChangeListener>();
  const base = {
    name: 'manual',
    listPresets: () => new Promise<Preset[]>((resolve) => reads.push(resolve)),
    close: () => Promise.resolve(),
  };
  const store = (withSubscribe
    ? {
        ...base,
        subscribe: (l: ProvisioningChangeListener) => {
          listeners.add(l);
          return () => listeners.delete(l);
        },
      }
    : base) as unknown as ProvisioningStore;
  return { store, reads, tell: (c) => listeners.forEach((l) => l(c)) };
}

const stored = (name: string): Preset => ({ ...preset(name), id: name, revision: 1, createdAt: '', updatedAt: '' });

describe('cached provisioning store (races, no notifications)', () => {
  it('does not keep a read that was in flight when a change was told', async () => {
    const m = manualStore(true);
    const view = cachedProvisioningStore(m.store);
    const first = view.store.listPresets();
    m.tell({ kind: 'preset', id: 'x' });
    m.reads[0]([stored('old')]);
    assert.deepEqual((await first).map((p) => p.name), ['old'], 'the caller that started before the change gets its read');
    const second = view.store.listPresets();
    assert.equal(m.reads.length, 2, 'the next caller reads again');
    m.reads[1]([stored('new')]);
    assert.deepEqual((await second).map((p) => p.name), ['new']);
  });

  it('shares one read between concurrent callers', async () => {
    const m = manualStore(true);
    const view = cachedProvisioningStore(m.store);
    const a = view.store.listPresets();
    const b = view.store.listPresets();
    assert.equal(m.reads.length, 1);
    m.reads[0]([stored('p')]);
    assert.deepEqual([(await a).length, (await b).length], [1, 1]);
  });

  it('does not keep a failed setting read: the next caller reads again', async () => {
    let calls = 0;
    const store = {
      name: 'flaky',
      subscribe: () => () => undefined,
      getSetting: () => (++calls === 1 ? Promise.reject(new Error('database busy')) : Promise.resolve('refuse')),
      close: () => Promise.resolve(),
    } as unknown as ProvisioningStore;
    const view = cachedProvisioningStore(store);
    await assert.rejects(view.store.getSetting('policy'), /database busy/);
    assert.equal(await view.store.getSetting('policy'), 'refuse');
    assert.equal(await view.store.getSetting('policy'), 'refuse');
    assert.equal(calls, 2, 'the success is kept');
  });

  it('caches nothing for a store that cannot tell changes', async () => {
    const m = manualStore(false);
    const view = cachedProvisioningStore(m.store);
    assert.equal(view.caching, false);
    assert.equal(view.store, m.store);
  });
});
