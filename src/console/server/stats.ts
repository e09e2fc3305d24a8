/**
 * Fleet statistics for the console's overview: devices online/offline, by model and firmware, and
 * informs per minute.
 *
 * The core `Store` has no aggregate queries, so this reads the SQLite database (its own read
 * connection to the same file) in keyset-paginated chunks, yielding to the event loop between
 * chunks: a million devices cost about a second of work spread in slices of a few milliseconds,
 * and never block CWMP sessions for longer than one slice. Results are cached for a short time and
 * concurrent callers share one computation.
 *
 * A device is online when its last contact is within `onlineFactor` periodic inform intervals plus
 * `graceSeconds`; the interval is the device's own `...ManagementServer.PeriodicInformInterval`
 * when the ACS knows it, else `defaultIntervalSeconds`.
 */
import Database from 'better-sqlite3';
import { setImmediate as yieldToLoop } from 'node:timers/promises';

/** Rows read per slice: ~10-20 ms of work on a small machine. */
const CHUNK_ROWS = 10_000;
const MINUTE_MS = 60_000;
const BUSY_TIMEOUT_MS = 5000;
/** Parameter names of the periodic inform interval in the two root data models. */
const INTERVAL_PARAMETERS = ['Device.ManagementServer.PeriodicInformInterval', 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval'] as const;

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

interface DeviceStatRow {
  id: string;
  product_class: string;
  software_version: string | null;
  last_contact: string | null;
  interval_a: string | null;
  interval_b: string | null;
}

interface SessionStatRow {
  id: number;
  started_at: string;
  outcome: string;
}

export interface SqliteFleetStatsOptions {
  /** The core database file (`<data-dir>/switchboard.sqlite`). */
  file: string;
  rule?: OnlineRule;
  /** How long a result is reused (ms); default 15 s. */
  cacheMs?: number;
  now?: () => number;
}

/** Overview statistics read from the SQLite database. */
export class SqliteFleetStats implements FleetStatsSource {
  private readonly db: Database.Database;
  private readonly rule: OnlineRule;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private fleetCache: { at: number; value: Promise<FleetSummary> } | null = null;
  private readonly informCache = new Map<number, { at: number; value: Promise<InformSeries> }>();

  constructor(options: SqliteFleetStatsOptions) {
    this.db = new Database(options.file, { readonly: true, fileMustExist: true });
    this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.rule = options.rule ?? DEFAULT_ONLINE_RULE;
    this.cacheMs = options.cacheMs ?? 15_000;
    this.now = options.now ?? Date.now;
  }

  /** @returns the fleet summary (cached up to `cacheMs`). */
  fleet(): Promise<FleetSummary> {
    const t = this.now();
    if (this.fleetCache && t - this.fleetCache.at < this.cacheMs) return this.fleetCache.value;
    const value = this.computeFleet(t);
    this.fleetCache = { at: t, value };
    value.catch(() => (this.fleetCache = null));
    return value;
  }

  /** @returns informs per minute over the last `hours` (cached up to `cacheMs`). */
  informs(hours: number): Promise<InformSeries> {
    const t = this.now();
    const cached = this.informCache.get(hours);
    if (cached && t - cached.at < this.cacheMs) return cached.value;
    const value = this.computeInforms(t, hours);
    this.informCache.set(hours, { at: t, value });
    value.catch(() => this.informCache.delete(hours));
    return value;
  }

  close(): void {
    this.db.close();
  }

  private async computeFleet(t: number): Promise<FleetSummary> {
    const started = performance.now();
    const page = this.db.prepare<[string, number], DeviceStatRow>(`
      SELECT d.id, d.product_class, d.software_version, d.last_contact, pa.value AS interval_a, pb.value AS interval_b
      FROM devices d
      LEFT JOIN parameters pa ON pa.device_id = d.id AND pa.name = '${INTERVAL_PARAMETERS[0]}'
      LEFT JOIN parameters pb ON pb.device_id = d.id AND pb.name = '${INTERVAL_PARAMETERS[1]}'
      WHERE d.id > ? ORDER BY d.id LIMIT ?`);
    const totals: StatusCounts = { total: 0, online: 0, offline: 0, never: 0 };
    const models = new Map<string, { counts: StatusCounts; firmware: Map<string | null, number> }>();
    let after = '';
    for (;;) {
      const rows = page.all(after, CHUNK_ROWS);
      for (const row of rows) {
        const status = this.status(row, t);
        let m = models.get(row.product_class);
        if (!m) models.set(row.product_class, (m = { counts: { total: 0, online: 0, offline: 0, never: 0 }, firmware: new Map() }));
        totals.total++;
        totals[status]++;
        m.counts.total++;
        m.counts[status]++;
        m.firmware.set(row.software_version, (m.firmware.get(row.software_version) ?? 0) + 1);
      }
      if (rows.length < CHUNK_ROWS) break;
      after = rows[rows.length - 1].id;
      await yieldToLoop();
    }
    const summaries: ModelSummary[] = [...models.entries()]
      .map(([productClass, m]) => ({
        productClass,
        ...m.counts,
        firmware: [...m.firmware.entries()].map(([softwareVersion, count]) => ({ softwareVersion, count })).sort((a, b) => b.count - a.count),
      }))
      .sort((a, b) => b.total - a.total || a.productClass.localeCompare(b.productClass));
    return { devices: totals, models: summaries, computedAt: new Date(t).toISOString(), computeMs: Math.round(performance.now() - started) };
  }

  private status(row: DeviceStatRow, t: number): 'online' | 'offline' | 'never' {
    if (row.last_contact === null) return 'never';
    const interval = positiveNumber(row.interval_a) ?? positiveNumber(row.interval_b) ?? this.rule.defaultIntervalSeconds;
    const limitMs = (interval * this.rule.onlineFactor + this.rule.graceSeconds) * 1000;
    return t - Date.parse(row.last_contact) <= limitMs ? 'online' : 'offline';
  }

  private async computeInforms(t: number, hours: number): Promise<InformSeries> {
    const untilMinute = Math.floor(t / MINUTE_MS) * MINUTE_MS;
    const sinceMs = untilMinute - (hours * 60 - 1) * MINUTE_MS;
    const since = new Date(sinceMs).toISOString();
    const buckets: MinuteBucket[] = [];
    for (let m = sinceMs; m <= untilMinute; m += MINUTE_MS) buckets.push({ at: new Date(m).toISOString(), informs: 0, failed: 0 });
    const firstId = this.firstSessionIdSince(since);
    if (firstId !== null) {
      const page = this.db.prepare<[number, number], SessionStatRow>('SELECT id, started_at, outcome FROM sessions WHERE id >= ? ORDER BY id LIMIT ?');
      let from = firstId;
      for (;;) {
        const rows = page.all(from, CHUNK_ROWS);
        for (const row of rows) {
          const index = Math.floor((Date.parse(row.started_at) - sinceMs) / MINUTE_MS);
          if (index < 0 || index >= buckets.length) continue;
          buckets[index].informs++;
          if (row.outcome !== 'completed') buckets[index].failed++;
        }
        if (rows.length < CHUNK_ROWS) break;
        from = rows[rows.length - 1].id + 1;
        await yieldToLoop();
      }
    }
    return { since, until: new Date(untilMinute + MINUTE_MS).toISOString(), buckets };
  }

  /**
   * Session ids grow with time (AUTOINCREMENT, rows written when the session is recorded), so the
   * first session of the window is found by bisecting ids instead of scanning the table.
   */
  private firstSessionIdSince(since: string): number | null {
    const bounds = this.db.prepare<[], { lo: number | null; hi: number | null }>('SELECT MIN(id) AS lo, MAX(id) AS hi FROM sessions').get();
    if (!bounds || bounds.lo === null || bounds.hi === null) return null;
    const at = this.db.prepare<[number], { id: number; started_at: string }>('SELECT id, started_at FROM sessions WHERE id >= ? ORDER BY id LIMIT 1');
    let lo = bounds.lo;
    let hi = bounds.hi + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const row = at.get(mid);
      if (!row) hi = mid;
      else if (row.started_at < since) lo = row.id + 1;
      else hi = mid;
    }
    return lo > bounds.hi ? null : lo;
  }
}

function positiveNumber(text: string | null): number | null {
  if (text === null) return null;
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : null;
}
