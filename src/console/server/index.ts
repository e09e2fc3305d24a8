/**
 * The web console's server side, attached to the ACS's HTTP application (the Fastify instance that
 * `buildApi` returns, before it listens):
 * - `/api/session`, `/api/users` (src/users): login with users and roles;
 * - `/api/events/stream`: live events (SSE); `/api/overview`: fleet numbers;
 *   `/api/console/devices/:id/connection-request`: "connect now";
 * - `/`: the built single-page console, with a fallback to index.html for its client-side routes.
 *
 * The console itself talks only to these and the REST API's routes, with the bearer token its
 * login returned.
 */
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AcsControl } from '../../acs/app.ts';
import type { Store } from '../../store/types.ts';
import { ensureFirstAdmin, type FirstAdminResult } from '../../users/bootstrap.ts';
import { prepareConsoleContext, registerUsers, type UsersPlugin } from '../../users/plugin.ts';
import { openSqliteUserStore } from '../../users/sqlite.ts';
import { openPostgresUserStore, PostgresUserStore } from '../../users/postgres.ts';
import { DEFAULT_THROTTLE } from '../../users/throttle.ts';
import { clusterOf } from '../../acs/cluster/context.ts';
import type { UserStore } from '../../users/types.ts';
import { DEFAULT_ACTIVITY_INTERVAL_MS, registerEventStream } from './events.ts';
import { ClusterFeed } from './cluster-feed.ts';
import { registerConsoleRoutes } from './routes.ts';
import { DEFAULT_ONLINE_RULE, SqliteFleetStats, type FleetStatsSource, type OnlineRule } from './stats.ts';
import { registerConsoleStatic } from './static.ts';
import { PgFleetStats } from './pg-stats.ts';

/** The core database file name in the data directory (src/store/sqlite/index.ts). */
const SQLITE_FILE_NAME = 'switchboard.sqlite';

export interface ConsoleOptions {
  store: Store;
  acs: AcsControl;
  /** The ACS data directory: the SQLite file (users, statistics) and the admin-password file. */
  dataDir: string;
  /**
   * Default: on the PostgreSQL database when the core store is shared (its cluster link, see
   * src/acs/cluster/context.ts), so that every ACS instance sees the same users; else SQLite in
   * dataDir. Closed by `close()` only when opened here.
   */
  users?: UserStore;
  /** Default: aggregated by PostgreSQL when the store is shared (pg-stats.ts), else read from the SQLite file in dataDir. */
  stats?: FleetStatsSource;
  rule?: Partial<OnlineRule>;
  /** Built console directory (default src/console/dist). */
  distDir?: string;
  /** Session lifetimes and scrypt cost, see `registerUsers`. */
  sessionIdleMs?: number;
  sessionMaxMs?: number;
  /** 0 = no periodic sweep of expired sessions (tests call it). */
  sweepIntervalMs?: number;
  scryptParams?: { N: number; r: number; p: number };
  /** Environment for SWITCHBOARD_ADMIN_PASSWORD (default process.env). */
  env?: Record<string, string | undefined>;
  /** The clock of session expiry (tests move it). */
  now?: () => Date;
  /** Event stream tuning (tests shorten these). */
  heartbeatMs?: number;
  activityIntervalMs?: number;
}

/** What `attachConsole` set up. */
export interface AttachedConsole {
  users: UserStore;
  sessions: UsersPlugin;
  /** Whether a built console was found (else `/` explains how to build it). */
  built: boolean;
  firstAdmin: FirstAdminResult;
  /** Closes what was opened here (user store, statistics connection). */
  close(): Promise<void>;
}

/**
 * Attaches users, console routes and the static console to the API application.
 * @returns handles for the caller (close them after the app).
 * @throws Error when the user tables cannot be opened or SWITCHBOARD_ADMIN_PASSWORD is too weak.
 */
export async function attachConsole(app: FastifyInstance, options: ConsoleOptions): Promise<AttachedConsole> {
  // The core store's SQLite file, when it is one: users and statistics live in (read) the same file.
  const coreFile = /^sqlite:(.+)$/.exec(options.store.name)?.[1];
  const file = coreFile && coreFile !== ':memory:' ? coreFile : join(options.dataDir, SQLITE_FILE_NAME);
  const ownUsers = options.users === undefined;
  const link = clusterOf(options.store);
  const users =
    options.users ??
    (link ? await openPostgresUserStore({ pool: link.pool(), schema: link.schema }) : openSqliteUserStore({ file: coreFile === ':memory:' ? ':memory:' : file }));
  const rule: OnlineRule = { ...DEFAULT_ONLINE_RULE, ...options.rule };
  let ownStats = false;
  let stats = options.stats;
  if (!stats) {
    if (link) stats = new PgFleetStats({ pool: link.pool(), schema: link.schema, rule });
    else stats = coreFile && coreFile !== ':memory:' && existsSync(coreFile) ? new SqliteFleetStats({ file: coreFile, rule }) : new StoreFleetStats(options.store, rule);
    ownStats = true;
  }
  let feed: ClusterFeed | null = null;
  try {
    // several instances: the other instances' session events for the live streams
    if (link) {
      feed = await ClusterFeed.start({
        link,
        events: options.acs.events,
        activeSessions: () => options.acs.activeSessions(),
        activityIntervalMs: options.activityIntervalMs ?? DEFAULT_ACTIVITY_INTERVAL_MS,
      });
    }
    const firstAdmin = await ensureFirstAdmin(users, { dataDir: options.dataDir, env: options.env, scryptParams: options.scryptParams });
    const sessions = await registerUsers(app, {
      store: options.store,
      users,
      sessionIdleMs: options.sessionIdleMs,
      sessionMaxMs: options.sessionMaxMs,
      scryptParams: options.scryptParams,
      now: options.now,
      sweepIntervalMs: options.sweepIntervalMs,
      // on a shared database, failed logins are counted for all instances together
      throttleBackend: users instanceof PostgresUserStore ? users.loginThrottle(DEFAULT_THROTTLE) : undefined,
    });
    const statsSource = stats;
    await app.register(async (scope) => {
      prepareConsoleContext(scope, options.store, options.now ?? (() => new Date()));
      registerEventStream(scope, { acs: options.acs, store: options.store, heartbeatMs: options.heartbeatMs, activityIntervalMs: options.activityIntervalMs, feed });
      registerConsoleRoutes(scope, { store: options.store, acs: options.acs, stats: statsSource, rule });
    });
    const built = await registerConsoleStatic(app, { distDir: options.distDir });
    const runningFeed = feed;
    return {
      users,
      sessions,
      built,
      firstAdmin,
      async close() {
        await runningFeed?.close();
        if (ownStats) statsSource.close();
        if (ownUsers) await users.close();
      },
    };
  } catch (err) {
    await feed?.close();
    if (ownStats) stats.close();
    if (ownUsers) await users.close();
    throw err;
  }
}

/**
 * Statistics for a store that is neither a SQLite file nor a shared PostgreSQL store (tests in
 * memory, a PostgreSQL store opened without a cluster link): counts through the
 * Store interface with the default interval only; no per-model breakdown or informs series (the
 * interface has no aggregates).
 */
class StoreFleetStats implements FleetStatsSource {
  constructor(
    private readonly store: Store,
    private readonly rule: OnlineRule,
  ) {}

  async fleet() {
    const started = performance.now();
    const now = Date.now();
    const limitMs = (this.rule.defaultIntervalSeconds * this.rule.onlineFactor + this.rule.graceSeconds) * 1000;
    const [total, online, seen] = await Promise.all([
      this.store.countDevices({}),
      this.store.countDevices({ lastContactAfter: new Date(now - limitMs).toISOString() }),
      this.store.countDevices({ lastContactAfter: new Date(0).toISOString() }),
    ]);
    return {
      devices: { total, online, offline: seen - online, never: total - seen },
      models: [],
      computedAt: new Date(now).toISOString(),
      computeMs: Math.round(performance.now() - started),
    };
  }

  async informs(hours: number) {
    const until = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
    return { since: new Date(until - hours * 3_600_000).toISOString(), until: new Date(until).toISOString(), buckets: [] };
  }

  close(): void {}
}

/** What `attachWebConsole` logs through. */
export interface ConsoleLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The composition root's entry point (src/acs/app.ts): attaches the console to the API instance
 * `buildApi` returned and says where a generated first admin password is.
 * @returns the closer to run after the API instance closed.
 * @throws Error as `attachConsole`.
 */
export async function attachWebConsole(
  api: object,
  options: Pick<ConsoleOptions, 'store' | 'acs' | 'dataDir'> & { logger?: ConsoleLogger },
): Promise<() => Promise<void>> {
  const attached = await attachConsole(api as FastifyInstance, { store: options.store, acs: options.acs, dataDir: options.dataDir });
  const admin = attached.firstAdmin;
  if (admin.created && admin.passwordSource === 'generated') {
    // The password itself is never logged: it is in the file (mode 0600), like the API token.
    options.logger?.warn({ username: admin.user.username, passwordFile: admin.passwordFile }, 'console: first admin user created with a generated password');
  } else if (admin.created) {
    options.logger?.info({ username: admin.user.username }, 'console: first admin user created from SWITCHBOARD_ADMIN_PASSWORD');
  }
  if (!attached.built) options.logger?.warn({}, 'console: not built (npm run build:console); / explains how');
  return () => attached.close();
}
