/**
 * A caching view of a `ProvisioningStore` for what EVERY CWMP session reads but operators rarely
 * change: the preset list, the webhook list, whether any rollout or bootstrap record exists at all
 * (when none does, `rolloutsOfDevice` and `findBootstrap` answer without a query), settings (the
 * unknown-device policy is read for every new device), and the
 * variables table up to MAX_CACHED_VARIABLE_SETS keys (read in pages once; a larger table is read
 * per device as before). In a boot storm these reads were most of the provisioning service's
 * store time, each session reading the same rows again (bench/storm.bench.ts).
 *
 * Staleness: a cached value is dropped
 * - when the store reports a change of its kind (`ProvisioningStore.subscribe`: changes made
 *   through any store instance on the same database, other ACS processes included), and
 * - at once when a write of that kind goes through this view (before and after it), so a local
 *   change never waits for a notification (a PostgreSQL NOTIFY of our own write arrives later).
 * A load that was in flight when its kind changed is not kept (generation check), so no session
 * reads a value older than a change it could know about. A store without `subscribe` is returned
 * as it is: nothing is cached.
 */
import type { BootstrapRecord, Preset, ProvisioningChange, ProvisioningChangeKind, ProvisioningStore, Rollout, RolloutDevice, VariableSet, Webhook } from '../store/provisioning/types.ts';

/**
 * One cached value with its loader and invalidation generation (the loader is given once: a hit,
 * what nearly every call is, allocates nothing).
 */
class CachedValue<T> {
  private value: { v: T } | null = null;
  private loading: Promise<T> | null = null;
  private generation = 0;

  /** @param load reads the value from the store; @param onLoad is told of each load started. */
  constructor(
    readonly load: () => Promise<T>,
    private readonly onLoad: () => void,
  ) {}

  /** Drops the value and forgets a load in flight (its result will not be kept). */
  invalidate(): void {
    this.generation++;
    this.value = null;
    this.loading = null;
  }

  /** The value when it is in memory (no load started). */
  peek(): T | undefined {
    return this.value ? this.value.v : undefined;
  }

  /** The cached value, or `load()`'s (shared by concurrent callers, kept unless invalidated meanwhile). */
  get(): Promise<T> {
    if (this.value) return Promise.resolve(this.value.v);
    if (this.loading) return this.loading;
    const generation = this.generation;
    this.onLoad();
    const p: Promise<T> = this.load().then(
      (v) => {
        if (generation === this.generation) {
          this.value = { v };
          this.loading = null;
        }
        return v;
      },
      (err: unknown) => {
        if (this.loading === p) this.loading = null;
        throw err;
      },
    );
    this.loading = p;
    return p;
  }
}

/** The store's methods that change each cached kind (a call through the view invalidates it). */
const WRITES: Partial<Record<keyof ProvisioningStore, ProvisioningChangeKind>> = {
  createPreset: 'preset',
  updatePreset: 'preset',
  deletePreset: 'preset',
  createWebhook: 'webhook',
  updateWebhook: 'webhook',
  deleteWebhook: 'webhook',
  createRollout: 'rollout',
  updateRollout: 'rollout',
  putBootstrap: 'bootstrap',
  deleteBootstrap: 'bootstrap',
  putVariables: 'variables',
  deleteVariables: 'variables',
  putSetting: 'setting',
};

/** Variable sets kept in memory at most (past it, `getVariables` goes to the store). */
export const MAX_CACHED_VARIABLE_SETS = 100_000;
/** Variable sets read per page when filling the cache. */
const VARIABLES_PAGE = 1000;

/** How often the view went to the store (tests and diagnostics). */
export interface ProvisioningCacheStats {
  /** Loads of cached values (a load shared by concurrent callers counts once). */
  loads: number;
}

/** A caching view and its controls. */
export interface CachedProvisioningStore {
  /** Use it as the store: every method works; the cached ones answer from memory when they can. */
  store: ProvisioningStore;
  /** True when the view caches (the store has `subscribe`). */
  caching: boolean;
  stats: ProvisioningCacheStats;
  /** Stops listening to changes (the store itself is closed by `store.close()`, which does this too). */
  detach(): void;
  /**
   * The webhook list when it is in memory and current (read-only), else undefined (not loaded
   * yet, or not caching): lets a caller skip building an event nobody subscribed to.
   */
  cachedWebhooks(): readonly Webhook[] | undefined;
}

/**
 * Wraps `inner` in a caching view (see the module comment).
 * @returns the view; `store === inner` (nothing cached) when `inner` has no `subscribe`.
 */
export function cachedProvisioningStore(inner: ProvisioningStore): CachedProvisioningStore {
  const stats: ProvisioningCacheStats = { loads: 0 };
  if (!inner.subscribe) return { store: inner, caching: false, stats, detach: () => {}, cachedWebhooks: () => undefined };

  const onLoad = () => {
    stats.loads++;
  };
  const presets = new CachedValue<Preset[]>(() => inner.listPresets(), onLoad);
  const webhooks = new CachedValue<Webhook[]>(() => inner.listWebhooks(), onLoad);
  // a rollout's devices exist only with the rollout, whose creation is a 'rollout' change
  const anyRollout = new CachedValue<boolean>(async () => (await inner.listRollouts({ limit: 1 })).items.length > 0, onLoad);
  const anyBootstrap = new CachedValue<boolean>(async () => (await inner.listBootstrap({ limit: 1 })).items.length > 0, onLoad);
  /** Settings by name (read per unknown device: the unknown-device policy). */
  const settings = new Map<string, CachedValue<unknown>>();
  const loadVariables = async (): Promise<Map<string, VariableSet> | null> => {
    const all = new Map<string, VariableSet>();
    let cursor: string | undefined;
    do {
      const page = await inner.listVariables({ limit: VARIABLES_PAGE, cursor });
      for (const set of page.items) all.set(set.key, set);
      if (all.size > MAX_CACHED_VARIABLE_SETS) return null;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return all;
  };
  /** Every variable set by key; null when there are more than MAX_CACHED_VARIABLE_SETS. */
  const variables = new CachedValue<Map<string, VariableSet> | null>(loadVariables, onLoad);
  const byKind: Partial<Record<ProvisioningChangeKind, CachedValue<unknown>[]>> = {
    preset: [presets],
    webhook: [webhooks],
    rollout: [anyRollout],
    bootstrap: [anyBootstrap],
    variables: [variables],
  };
  const invalidate = (kind: ProvisioningChangeKind) => {
    // every setting at once: few, small, and a change names one only as an id
    if (kind === 'setting') for (const c of settings.values()) c.invalidate();
    for (const c of byKind[kind] ?? []) c.invalidate();
  };
  const unsubscribe = inner.subscribe((change: ProvisioningChange) => invalidate(change.kind));
  let detached = false;
  const detach = () => {
    if (detached) return;
    detached = true;
    unsubscribe();
  };

  // detached: no more notifications, so nothing may be served from memory any longer
  const counted = <T>(cache: CachedValue<T>): Promise<T> => (detached ? cache.load() : cache.get());

  const overrides: Partial<ProvisioningStore> = {
    async listPresets(): Promise<Preset[]> {
      // a copy of the list: callers may sort or filter it; the presets themselves are read-only
      return [...(await counted(presets))];
    },
    async listWebhooks(): Promise<Webhook[]> {
      return [...(await counted(webhooks))];
    },
    async rolloutsOfDevice(deviceId: string): Promise<{ rollout: Rollout; device: RolloutDevice }[]> {
      if (!(await counted(anyRollout))) {
        return [];
      }
      return inner.rolloutsOfDevice(deviceId);
    },
    async findBootstrap(keys: string[]): Promise<BootstrapRecord | null> {
      if (!(await counted(anyBootstrap))) {
        return null;
      }
      return inner.findBootstrap(keys);
    },
    async getVariables(keys: string[]): Promise<VariableSet[]> {
      // a storm reads one set per device: the whole table in a few pages once, not a query each
      const all = await counted(variables);
      if (!all) return inner.getVariables(keys);
      return keys.map((k) => all.get(k)).filter((set): set is VariableSet => set !== undefined);
    },
    async getSetting<T>(name: string): Promise<T | null> {
      let cache = settings.get(name);
      if (!cache) {
        cache = new CachedValue<unknown>(() => inner.getSetting<unknown>(name), onLoad);
        settings.set(name, cache);
      }
      const value = await counted(cache);
      // settings are JSON: an object is copied, so a caller changing it does not change the cache
      return (value !== null && typeof value === 'object' ? structuredClone(value) : value) as T | null;
    },
    async close(): Promise<void> {
      detach();
      return inner.close();
    },
  };

  const bound = new Map<PropertyKey, unknown>();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (Object.prototype.hasOwnProperty.call(overrides, prop)) return overrides[prop as keyof ProvisioningStore];
      const kind = WRITES[prop as keyof ProvisioningStore];
      const value: unknown = Reflect.get(target, prop, receiver === store ? target : receiver);
      if (typeof value !== 'function') return value;
      let fn = bound.get(prop);
      if (!fn) {
        const method = value as (...args: unknown[]) => unknown;
        fn = kind
          ? async (...args: unknown[]) => {
              invalidate(kind);
              try {
                return await method.apply(target, args);
              } finally {
                invalidate(kind);
              }
            }
          : method.bind(target);
        bound.set(prop, fn);
      }
      return fn;
    },
  });
  return {
    store,
    caching: true,
    stats,
    detach,
    cachedWebhooks: () => (detached ? undefined : webhooks.peek()),
  };
}
