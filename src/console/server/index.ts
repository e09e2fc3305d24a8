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
import type { UserStore } from '../../users/types.ts';
import { registerEventStream } from './events.ts';
import { registerConsoleRoutes } from './routes.ts';
import { DEFAULT_ONLINE_RULE, SqliteFleetStats, type FleetStatsSource, type OnlineRule } from './stats.ts';
import { registerConsoleStatic } from './static.ts';

/** The core database file name in the data directory (src/store/sqlite/index.ts). */
const SQLITE_FILE_NAME = 'switchboard.sqlite';

export interface ConsoleOptions {
  store: Store;
  acs: AcsControl;
  /** The ACS data directory: the SQLite file (users, statistics) and the admin-password file. */
  dataDir: string;
  /** Default: SQLite in dataDir. Closed by `close()` only when opened here. */
  users?: UserStore;
  /** Default: read from the SQLite file in dataDir. */
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
  const file = join(options.dataDir, SQLITE_FILE_NAME);
  const ownUsers = options.users === undefined;
  const users = options.users ?? openSqliteUserStore({ file });
  const rule: OnlineRule = { ...DEFAULT_ONLINE_RULE, ...options.rule };
  let ownStats = false;
  let stats = options.stats;
  if (!stats) {
    stats = existsSync(file) ? new SqliteFleetStats({ file, rule }) : emptyStats();
    ownStats = true;
  }
  try {
    const firstAdmin = await ensureFirstAdmin(users, { dataDir: options.dataDir, env: options.env, scryptParams: options.scryptParams });
    const sessions = await registerUsers(app, {
      store: options.store,
      users,
      sessionIdleMs: options.sessionIdleMs,
      sessionMaxMs: options.sessionMaxMs,
      scryptParams: options.scryptParams,
      now: options.now,
      sweepIntervalMs: options.sweepIntervalMs,
    });
    const statsSource = stats;
    await app.register(async (scope) => {
      prepareConsoleContext(scope, options.store, options.now ?? (() => new Date()));
      registerEventStream(scope, { acs: options.acs, store: options.store, heartbeatMs: options.heartbeatMs, activityIntervalMs: options.activityIntervalMs });
      registerConsoleRoutes(scope, { store: options.store, acs: options.acs, stats: statsSource, rule });
    });
    const built = await registerConsoleStatic(app, { distDir: options.distDir });
    return {
      users,
      sessions,
      built,
      firstAdmin,
      async close() {
        if (ownStats) statsSource.close();
        if (ownUsers) await users.close();
      },
    };
  } catch (err) {
    if (ownStats) stats.close();
    if (ownUsers) await users.close();
    throw err;
  }
}

/** Statistics when there is no SQLite file to read (another store backend): zeros. */
function emptyStats(): FleetStatsSource {
  const now = () => new Date().toISOString();
  return {
    fleet: async () => ({ devices: { total: 0, online: 0, offline: 0, never: 0 }, models: [], computedAt: now(), computeMs: 0 }),
    informs: async () => ({ since: now(), until: now(), buckets: [] }),
    close: () => undefined,
  };
}
