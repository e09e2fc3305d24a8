/**
 * Fleet statistics for the console's overview: devices online/offline, by model and firmware, and
 * informs per minute.
 *
 * The core `Store` has no aggregate queries, so a worker thread (stats-worker.mjs) reads the SQLite
 * file on its own read-only connection and aggregates in SQL, slice by slice of rowids (each slice
 * its own short read transaction). The ACS's event loop only exchanges messages with it, so a slow
 * pass over a million devices (seconds on a small busy machine) never holds up a CWMP session.
 * Results are cached (see `fresh`) and concurrent callers share one computation.
 *
 * A device is online when its last contact is within `onlineFactor` periodic inform intervals plus
 * `graceSeconds`; the interval is the device's own `...ManagementServer.PeriodicInformInterval`
 * when the ACS knows it, else `defaultIntervalSeconds`.
 */
import { Worker } from 'node:worker_threads';

export interface OnlineRule {
  defaultIntervalSeconds: number;
  onlineFactor: number;
  graceSeconds: number;
}

export const DEFAULT_ONLINE_RULE: OnlineRule = { defaultIntervalSeconds: 300, onlineFactor: 2, graceSeconds: 60 };

export interface StatusCounts {
  total: number;
  online: number;
  offline: number;
  /** Pre-registered devices that never contacted the ACS. */
  never: number;
}

export interface FirmwareCount {
  softwareVersion: string | null;
  count: number;
}

export interface ModelSummary extends StatusCounts {
  productClass: string;
  firmware: FirmwareCount[];
}

export interface FleetSummary {
  devices: StatusCounts;
  /** Sorted by device count, largest first. */
  models: ModelSummary[];
  /** When the numbers were computed. */
  computedAt: string;
  /** How long the computation took (ms), for the curious operator. */
  computeMs: number;
}

export interface MinuteBucket {
  /** Start of the minute, ISO. */
  at: string;
  /** Sessions started (= Informs received) in that minute. */
  informs: number;
  /** Of which did not complete normally. */
  failed: number;
}

export interface InformSeries {
  since: string;
  until: string;
  buckets: MinuteBucket[];
}

/** Where the overview gets its numbers. */
export interface FleetStatsSource {
  fleet(): Promise<FleetSummary>;
  informs(hours: number): Promise<InformSeries>;
  close(): void;
}

interface CacheEntry<T> {
  /** When the computation started. */
  at: number;
  /** How long it took (ms); 0 while it runs. */
  tookMs: number;
  value: Promise<T>;
}

/** One (model, firmware) group as a backend's aggregate query returns it. */
export interface FleetGroup {
  productClass: string;
  softwareVersion: string | null;
  total: number;
  never: number;
  online: number;
}

/** One minute of sessions as a backend's aggregate query returns it (`minute`: `YYYY-MM-DDTHH:MM`). */
export interface MinuteRow {
  minute: string;
  informs: number;
  failed: number;
}

type WorkerAnswer = { id: number; result: unknown } | { id: number; error: string };

/** A cached result lives at least this many times its computation time. */
const ADAPTIVE_CACHE_FACTOR = 10;
const MINUTE_MS = 60_000;
const WORKER_URL = new URL('./stats-worker.mjs', import.meta.url);

export interface CachedFleetStatsOptions {
  rule?: OnlineRule;
  /** How long a result is reused (ms); default 15 s. */
  cacheMs?: number;
  now?: () => number;
}

export interface SqliteFleetStatsOptions extends CachedFleetStatsOptions {
  /** The core database file (`<data-dir>/switchboard.sqlite`). */
  file: string;
}

/**
 * The caching and summing shared by the backends: a backend gives (model, firmware) groups and
 * informs per minute; results are cached (see `fresh`) and concurrent callers share one computation.
 */
export abstract class CachedFleetStats implements FleetStatsSource {
  protected readonly rule: OnlineRule;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private fleetCache: CacheEntry<FleetSummary> | null = null;
  private readonly informCache = new Map<number, CacheEntry<InformSeries>>();

  constructor(options: CachedFleetStatsOptions) {
    this.rule = options.rule ?? DEFAULT_ONLINE_RULE;
    this.cacheMs = options.cacheMs ?? 15_000;
    this.now = options.now ?? Date.now;
  }

  /** The (model, firmware) groups at time `t` (ms). */
  protected abstract groups(t: number): Promise<FleetGroup[]>;
  /** Informs per minute over the last `hours` before `t`, as a complete series. */
  protected abstract series(t: number, hours: number): Promise<InformSeries>;
  abstract close(): void;

  /** @returns the fleet summary (cached, see `fresh`). */
  fleet(): Promise<FleetSummary> {
    const t = this.now();
    if (this.fleetCache && this.fresh(this.fleetCache, t)) return this.fleetCache.value;
    const entry: CacheEntry<FleetSummary> = { at: t, tookMs: 0, value: this.computeFleet(t) };
    this.fleetCache = entry;
    this.timed(entry, () => (this.fleetCache = null));
    return entry.value;
  }

  /** @returns informs per minute over the last `hours` (cached, see `fresh`). */
  informs(hours: number): Promise<InformSeries> {
    const t = this.now();
    const cached = this.informCache.get(hours);
    if (cached && this.fresh(cached, t)) return cached.value;
    const entry: CacheEntry<InformSeries> = { at: t, tookMs: 0, value: this.series(t, hours) };
    this.informCache.set(hours, entry);
    this.timed(entry, () => this.informCache.delete(hours));
    return entry.value;
  }

  /**
   * A result is reused for `cacheMs`, or for ten times what it took to compute when that is longer:
   * on a huge fleet the statistics never take more than about a tenth of a core, however many
   * consoles are open. A computation in progress is always shared.
   */
  private fresh(entry: CacheEntry<unknown>, t: number): boolean {
    return entry.tookMs === 0 || t - entry.at < Math.max(this.cacheMs, ADAPTIVE_CACHE_FACTOR * entry.tookMs);
  }

  private timed<T>(entry: CacheEntry<T>, forget: () => void): void {
    const started = performance.now();
    entry.value.then(
      () => (entry.tookMs = Math.max(1, performance.now() - started)),
      () => forget(),
    );
  }

  private async computeFleet(t: number): Promise<FleetSummary> {
    const started = performance.now();
    const groups = await this.groups(t);
    const totals: StatusCounts = { total: 0, online: 0, offline: 0, never: 0 };
    const models = new Map<string, { counts: StatusCounts; firmware: Map<string | null, number> }>();
    for (const g of groups) {
      const offline = g.total - g.online - g.never;
      let m = models.get(g.productClass);
      if (!m) models.set(g.productClass, (m = { counts: { total: 0, online: 0, offline: 0, never: 0 }, firmware: new Map() }));
      for (const c of [totals, m.counts]) {
        c.total += g.total;
        c.online += g.online;
        c.offline += offline;
        c.never += g.never;
      }
      m.firmware.set(g.softwareVersion, (m.firmware.get(g.softwareVersion) ?? 0) + g.total);
    }
    const summaries: ModelSummary[] = [...models.entries()]
      .map(([productClass, m]) => ({
        productClass,
        ...m.counts,
        firmware: [...m.firmware.entries()].map(([softwareVersion, count]) => ({ softwareVersion, count })).sort(byCountThenVersion),
      }))
      .sort((a, b) => b.total - a.total || a.productClass.localeCompare(b.productClass));
    return { devices: totals, models: summaries, computedAt: new Date(t).toISOString(), computeMs: Math.round(performance.now() - started) };
  }
}

/** Largest count first; equal counts by version (unknown last), so that every backend lists alike. */
function byCountThenVersion(a: FirmwareCount, b: FirmwareCount): number {
  if (b.count !== a.count) return b.count - a.count;
  if (a.softwareVersion === b.softwareVersion) return 0;
  if (a.softwareVersion === null) return 1;
  if (b.softwareVersion === null) return -1;
  return a.softwareVersion < b.softwareVersion ? -1 : 1;
}

/**
 * Minute rows into the complete series of the last `hours` before `t` (empty minutes as zeros).
 * @returns the series, its last bucket being the minute of `t`.
 */
export function minuteSeries(t: number, hours: number, rows: readonly MinuteRow[]): InformSeries {
  const untilMinute = Math.floor(t / MINUTE_MS) * MINUTE_MS;
  const sinceMs = untilMinute - (hours * 60 - 1) * MINUTE_MS;
  const buckets: MinuteBucket[] = [];
  for (let m = sinceMs; m <= untilMinute; m += MINUTE_MS) buckets.push({ at: new Date(m).toISOString(), informs: 0, failed: 0 });
  for (const row of rows) {
    const index = Math.floor((Date.parse(`${row.minute}:00.000Z`) - sinceMs) / MINUTE_MS);
    if (index < 0 || index >= buckets.length) continue;
    buckets[index].informs += row.informs;
    buckets[index].failed += row.failed;
  }
  return { since: new Date(sinceMs).toISOString(), until: new Date(untilMinute + MINUTE_MS).toISOString(), buckets };
}

/** Overview statistics read from the SQLite database by a worker thread. */
export class SqliteFleetStats extends CachedFleetStats {
  private readonly file: string;
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(options: SqliteFleetStatsOptions) {
    super(options);
    this.file = options.file;
  }

  protected groups(t: number): Promise<FleetGroup[]> {
    return this.ask<FleetGroup[]>({ kind: 'fleet', now: t, rule: this.rule });
  }

  protected async series(t: number, hours: number): Promise<InformSeries> {
    const empty = minuteSeries(t, hours, []);
    return minuteSeries(t, hours, await this.ask<MinuteRow[]>({ kind: 'informs', since: empty.since }));
  }

  /** Stops the worker; pending computations reject. */
  close(): void {
    this.closed = true;
    void this.worker?.terminate();
    this.worker = null;
    for (const w of this.waiting.values()) w.reject(new Error('the statistics were closed'));
    this.waiting.clear();
  }

  /** Sends a request to the worker (started on first use, restarted after a crash). */
  private ask<T>(request: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the statistics were closed'));
    const worker = this.worker ?? this.startWorker();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Referenced while it works (a caller awaits it), unreferenced when idle.
      worker.ref();
      worker.postMessage({ id, ...request });
    });
  }

  private startWorker(): Worker {
    const worker = new Worker(WORKER_URL, { workerData: { file: this.file } });
    // An idle worker must not keep the process alive.
    worker.unref();
    worker.on('message', (answer: WorkerAnswer) => {
      const w = this.waiting.get(answer.id);
      if (!w) return;
      this.waiting.delete(answer.id);
      if (this.waiting.size === 0) worker.unref();
      if ('error' in answer) w.reject(new Error(`fleet statistics: ${answer.error}`));
      else w.resolve(answer.result);
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (code !== 0 && !this.closed) fail(new Error(`the statistics worker stopped (exit code ${code})`));
    });
    this.worker = worker;
    return worker;
  }
}
