/**
 * The console's fleet statistics on PostgreSQL (several ACS instances on one database): the same
 * numbers as the SQLite worker (stats-worker.mjs), aggregated by the database server, so that the
 * overview of every instance shows the whole fleet (by model and firmware, informs per minute).
 *
 * The queries run on the cluster link's pool (src/acs/cluster/context.ts), never on the core
 * store's, and their results are cached like the SQLite ones (CachedFleetStats: at least 15 s, and
 * ten times the computation time), so a large fleet costs the database a bounded share of one core
 * whatever the number of open consoles. The informs series reads `sessions` by `started_at`
 * (no index on it): on a very large history this is the expensive one, and the cache absorbs it.
 */
import type pg from 'pg';
import { CachedFleetStats, minuteSeries, type CachedFleetStatsOptions, type FleetGroup, type InformSeries, type MinuteRow } from './stats.ts';

const INTERVAL_PARAMETERS = ['Device.ManagementServer.PeriodicInformInterval', 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval'];

export interface PgFleetStatsOptions extends CachedFleetStatsOptions {
  pool: pg.Pool;
  /** `"schema".` prefix source: the core store's schema. */
  schema: string;
}

/** Overview statistics aggregated by PostgreSQL. */
export class PgFleetStats extends CachedFleetStats {
  private readonly pool: pg.Pool;
  private readonly schema: string;

  constructor(options: PgFleetStatsOptions) {
    super(options);
    this.pool = options.pool;
    this.schema = options.schema;
  }

  protected async groups(t: number): Promise<FleetGroup[]> {
    const s = `"${this.schema}"`;
    // A device's online limit: its own PeriodicInformInterval when known (a number), else the default.
    const { rows } = await this.pool.query<FleetGroup>(
      `WITH d AS (
         SELECT d.product_class, d.software_version, d.last_contact, COALESCE(pa.value, pb.value) AS interval
         FROM ${s}.devices d
         LEFT JOIN ${s}.parameters pa ON pa.device_id = d.id AND pa.name = $5
         LEFT JOIN ${s}.parameters pb ON pb.device_id = d.id AND pb.name = $6)
       SELECT product_class AS "productClass", software_version AS "softwareVersion", COUNT(*)::int AS total,
         COUNT(*) FILTER (WHERE last_contact IS NULL)::int AS never,
         COUNT(*) FILTER (WHERE last_contact >= $1::timestamptz - make_interval(secs =>
           COALESCE(CASE WHEN interval ~ '^[0-9]+(\\.[0-9]+)?$' THEN interval::double precision END, $2) * $3 + $4))::int AS online
       FROM d GROUP BY 1, 2`,
      [new Date(t), this.rule.defaultIntervalSeconds, this.rule.onlineFactor, this.rule.graceSeconds, INTERVAL_PARAMETERS[0], INTERVAL_PARAMETERS[1]],
    );
    return rows;
  }

  protected async series(t: number, hours: number): Promise<InformSeries> {
    const since = minuteSeries(t, hours, []).since;
    const { rows } = await this.pool.query<MinuteRow>(
      `SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI') AS minute, COUNT(*)::int AS informs,
         COUNT(*) FILTER (WHERE outcome <> 'completed')::int AS failed
       FROM "${this.schema}".sessions WHERE started_at >= $1 GROUP BY 1`,
      [since],
    );
    return minuteSeries(t, hours, rows);
  }

  /** The pool belongs to the cluster link. */
  close(): void {}
}
