/**
 * `switchboard acs` (= `npm start`): runs the ACS.
 *
 *   switchboard acs [--data-dir ./data] [--cwmp-port 7547] [--http-port 7557] [--host 0.0.0.0]
 *     [--tls-cert cert.pem --tls-key key.pem [--tls-port 7548]] [--api-token TOKEN]
 *     [--cpe-auth none|shared|per-device [--cpe-username u --cpe-password p]]
 *     [--cr-username u --cr-password p] [--session-timeout 30] [--max-sessions 10000] [--log-level info]
 *     [--database postgres://user:pass@host/db] [--workers 1|N|auto] [--public-url http://acs.example.net:7557]
 *
 * `--database` (SWITCHBOARD_DATABASE_URL) keeps devices, tasks and sessions in PostgreSQL instead of
 * `<data-dir>/switchboard.sqlite`. Several ACS processes, on this host (`--workers N`: one process
 * per worker sharing the listening ports through node:cluster) or on other hosts (same URL), then
 * behave as one ACS. `--workers` above 1 needs `--database` (a SQLite file is one host's, one writer's).
 *
 * Every flag has a SWITCHBOARD_* environment variable (SWITCHBOARD_DATA_DIR, SWITCHBOARD_API_TOKEN...).
 * Without an API token, one is generated, saved to <data-dir>/api-token (mode 0600) and printed once.
 * SIGINT/SIGTERM end the open sessions (their data is committed) and close the store.
 */
import { Option, type Command } from 'commander';
import { addNatCliOptions, natOptionsFromCli, type NatCliOptions } from '../acs/nat/cli.ts';

/** NAT flags (--stun-port, --stun-provision...): see src/acs/nat/cli.ts. */
export interface AcsCliOptions extends NatCliOptions {
  dataDir: string;
  cwmpPort: string;
  httpPort: string;
  host: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsPort: string;
  apiToken?: string;
  cpeAuth: string;
  cpeUsername?: string;
  cpePassword?: string;
  crUsername?: string;
  crPassword?: string;
  sessionTimeout: string;
  maxSessions: string;
  logLevel: string;
  database?: string;
  /** Default 1. */
  workers?: string;
  /** Base URL of file downloads as devices reach this ACS (provisioning `fileBaseUrl`). */
  publicUrl?: string;
  sqliteCacheMib: string;
  cwmpThread: string;
}

/**
 * Reads `--cwmp-thread auto|on|off` into `AcsOptions.cwmpThread`: auto leaves the choice to startAcs
 * (on with SQLite, off with PostgreSQL). Always false in a cluster worker (`--workers`): its
 * listeners share the port through the primary process, which a thread's listener cannot.
 */
export function cwmpThreadOption(value: string, clusterWorker: boolean): boolean | undefined {
  if (value !== 'auto' && value !== 'on' && value !== 'off') throw new AcsUsageError(`--cwmp-thread must be auto, on or off, got ${JSON.stringify(value)}`);
  if (clusterWorker) return false;
  return value === 'auto' ? undefined : value === 'on';
}

/** A bad command line: printed as `switchboard: <message>`, exit status 1. */
export class AcsUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AcsUsageError';
  }
}

function port(name: string, v: string): number {
  if (!/^[0-9]{1,5}$/.test(v) || Number(v) > 65535) throw new AcsUsageError(`--${name} must be a port number 0-65535, got ${JSON.stringify(v)}`);
  return Number(v);
}

function positive(name: string, v: string): number {
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || !Number.isSafeInteger(Number(v))) throw new AcsUsageError(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** Registers `acs` on the program. */
export function registerAcs(program: Command): void {
  const env = (flags: string, description: string, variable: string, fallback?: string) => {
    const o = new Option(flags, description).env(variable);
    return fallback === undefined ? o : o.default(fallback);
  };
  // TR-111 flags (--stun-port, --stun-host, --no-stun, --stun-secret, --stun-provision...): src/acs/nat/cli.ts
  addNatCliOptions(program.command('acs'))
    .description('run the ACS: CWMP listener, REST API and console, SQLite store')
    .addOption(env('--data-dir <dir>', 'database and token directory', 'SWITCHBOARD_DATA_DIR', './data'))
    .addOption(env('--cwmp-port <port>', 'CWMP (HTTP) port, path /', 'SWITCHBOARD_CWMP_PORT', '7547'))
    .addOption(env('--http-port <port>', 'REST API and console port', 'SWITCHBOARD_HTTP_PORT', '7557'))
    .addOption(env('--host <address>', 'listen address', 'SWITCHBOARD_HOST', '0.0.0.0'))
    .addOption(env('--tls-cert <file>', 'PEM certificate: also serve CWMP over HTTPS', 'SWITCHBOARD_TLS_CERT'))
    .addOption(env('--tls-key <file>', 'PEM private key for --tls-cert', 'SWITCHBOARD_TLS_KEY'))
    .addOption(env('--tls-port <port>', 'CWMP HTTPS port', 'SWITCHBOARD_TLS_PORT', '7548'))
    .addOption(env('--api-token <token>', 'bootstrap admin API token (default: generated once)', 'SWITCHBOARD_API_TOKEN'))
    .addOption(env('--cpe-auth <mode>', 'CPE authentication: none, shared, per-device', 'SWITCHBOARD_CPE_AUTH', 'none'))
    .addOption(env('--cpe-username <name>', 'shared CPE username (shared; fallback for per-device)', 'SWITCHBOARD_CPE_USERNAME'))
    .addOption(env('--cpe-password <password>', 'shared CPE password', 'SWITCHBOARD_CPE_PASSWORD'))
    .addOption(env('--cr-username <name>', 'connection request username for devices without their own', 'SWITCHBOARD_CR_USERNAME'))
    .addOption(env('--cr-password <password>', 'connection request password for devices without their own', 'SWITCHBOARD_CR_PASSWORD'))
    .addOption(env('--session-timeout <seconds>', 'idle CWMP session timeout', 'SWITCHBOARD_SESSION_TIMEOUT', '30'))
    .addOption(env('--max-sessions <n>', 'concurrent CWMP sessions before 503', 'SWITCHBOARD_MAX_SESSIONS', '10000'))
    .addOption(env('--database <url>', 'PostgreSQL URL (default: SQLite in the data directory)', 'SWITCHBOARD_DATABASE_URL'))
    .addOption(env('--workers <n>', 'ACS processes sharing the ports: a number or auto (= CPU cores); >1 needs --database', 'SWITCHBOARD_WORKERS', '1'))
    .addOption(env('--public-url <url>', 'base URL devices download files from (the HTTP port as devices reach it; default: the listen address)', 'SWITCHBOARD_PUBLIC_URL'))
    .addOption(env('--sqlite-cache-mib <n>', 'most memory the SQLite page cache may take, in MiB (SQLite only)', 'SWITCHBOARD_SQLITE_CACHE_MIB', '64'))
    .addOption(env('--cwmp-thread <auto|on|off>', 'serve the CWMP listeners from a thread of their own (auto: on with SQLite, off with --database; always off in --workers processes)', 'SWITCHBOARD_CWMP_THREAD', 'auto'))
    .addOption(env('--log-level <level>', 'fatal, error, warn, info, debug, trace, silent', 'SWITCHBOARD_LOG_LEVEL', 'info'))
    .action(async (opts: AcsCliOptions) => {
      await runAcs(opts);
    });
}

/**
 * Reads `--public-url`: an absolute http(s) URL with no query or fragment.
 * @returns the URL without a trailing slash (file paths are appended to it).
 * @throws AcsUsageError for anything else.
 */
export function publicUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new AcsUsageError(`--public-url must be an absolute http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username || url.password) {
    throw new AcsUsageError(`--public-url must be an http:// or https:// URL without credentials, query or fragment, got ${JSON.stringify(value)}`);
  }
  return url.toString().replace(/\/+$/, '');
}

/**
 * Reads `--workers`: a positive integer, or `auto` for the number of CPU cores.
 * Throws AcsUsageError for anything else, and for more than one worker on SQLite.
 */
export async function parseWorkers(value: string, database: string | undefined): Promise<number> {
  const { availableParallelism } = await import('node:os');
  const n = value === 'auto' ? availableParallelism() : positive('workers', value);
  if (n > 1 && !database) {
    throw new AcsUsageError(`--workers ${value} needs --database postgres://...: several processes cannot share one SQLite store safely`);
  }
  return n;
}

/** What the primary sends a worker to make it shut down gracefully. */
const STOP_MESSAGE = 'switchboard:stop';

/** Delay before a worker that died is started again (ms); doubled while workers keep dying early. */
const WORKER_RESTART_MS = 1000;
const WORKER_RESTART_MAX_MS = 30_000;
/** A worker that lived this long counts as healthy: the restart delay goes back to its minimum. */
const WORKER_HEALTHY_MS = 60_000;

/**
 * The primary process of `--workers N`: makes sure the API token exists once (so that workers do
 * not each generate one), forks the workers, restarts a worker that dies, and passes SIGINT/SIGTERM on.
 */
async function runPrimary(opts: AcsCliOptions, workers: number, database: string): Promise<void> {
  const cluster = (await import('node:cluster')).default;
  const { join } = await import('node:path');
  const pino = (await import('pino')).default;
  const { ensureApiToken, API_TOKEN_FILE, LOG_REDACT_PATHS } = await import('../acs/app.ts');
  const { openStore } = await import('../store/index.ts');
  const logger = pino({ level: opts.logLevel, redact: { paths: LOG_REDACT_PATHS, censor: '[secret]' } });

  const store = await openStore({ kind: 'postgres', url: database });
  let token: { token: string; generated: boolean };
  try {
    token = await ensureApiToken(store, opts.dataDir, opts.apiToken);
  } finally {
    await store.close();
  }
  if (token.generated) {
    process.stdout.write(`\nAPI token (admin), saved to ${join(opts.dataDir, API_TOKEN_FILE)}; it is not shown again:\n  ${token.token}\n\n`);
  }
  let stopping = false;
  let restartDelay = WORKER_RESTART_MS;
  const startedAt = new Map<number, number>();
  const fork = (index: number) => {
    // the workers find the token in their environment: none generates another
    const w = cluster.fork({ SWITCHBOARD_API_TOKEN: token.token, SWITCHBOARD_WORKER_INDEX: String(index) });
    startedAt.set(w.id, Date.now());
    w.on('error', (err) => logger.warn({ err, worker: index }, 'ACS worker IPC error'));
    w.on('exit', (code, signal) => {
      const lived = Date.now() - (startedAt.get(w.id) ?? 0);
      startedAt.delete(w.id);
      if (stopping) return;
      restartDelay = lived >= WORKER_HEALTHY_MS ? WORKER_RESTART_MS : Math.min(restartDelay * 2, WORKER_RESTART_MAX_MS);
      logger.error({ worker: index, pid: w.process.pid, code, signal, restartInMs: restartDelay }, 'ACS worker died; starting another');
      setTimeout(() => {
        if (!stopping) fork(index);
      }, restartDelay).unref();
    });
    return w;
  };
  // The first worker starts alone: first-start work (schema migrations, the console's first admin
  // user) is then done once, not raced by every worker.
  const first = fork(0);
  await new Promise<void>((resolve) => {
    first.once('listening', () => resolve());
    first.once('exit', () => resolve());
  });
  for (let i = 1; i < workers && !stopping; i++) fork(i);
  logger.info({ workers, store: 'postgres' }, 'ACS primary started its workers');
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping the workers');
    // a message, not the signal: a terminal or service manager may have signalled the workers
    // too, and a worker treats a second SIGINT/SIGTERM as "exit now"
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(STOP_MESSAGE);
    const check = setInterval(() => {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        clearInterval(check);
        process.exit(0);
      }
    }, 100);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/**
 * Starts the ACS from parsed options and keeps it running until SIGINT/SIGTERM.
 * Throws AcsUsageError for bad options (before anything starts).
 */
export async function runAcs(opts: AcsCliOptions): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const pino = (await import('pino')).default;
  const { startAcs, API_TOKEN_FILE, LOG_REDACT_PATHS } = await import('../acs/app.ts');
  type CpeAuthConfig = import('../acs/http/cpe-auth.ts').CpeAuthConfig;

  const cwmpPort = port('cwmp-port', opts.cwmpPort);
  const httpPort = port('http-port', opts.httpPort);
  const tlsPort = port('tls-port', opts.tlsPort);
  const idleTimeoutMs = positive('session-timeout', opts.sessionTimeout) * 1000;
  const maxSessions = positive('max-sessions', opts.maxSessions);
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(opts.logLevel)) throw new AcsUsageError(`unknown --log-level ${opts.logLevel}`);
  const nat = natOptionsFromCli(opts, opts.host, (message) => new AcsUsageError(message));
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new AcsUsageError('--tls-cert and --tls-key go together');
  const { isPostgresUrl } = await import('../store/index.ts');
  if (opts.database !== undefined && !isPostgresUrl(opts.database)) throw new AcsUsageError('--database must be a postgres:// or postgresql:// URL');
  const sqliteCacheMiB = positive('sqlite-cache-mib', opts.sqliteCacheMib);
  const fileBaseUrl = opts.publicUrl === undefined ? undefined : publicUrl(opts.publicUrl);
  const workers = await parseWorkers(opts.workers ?? '1', opts.database);
  const cluster = (await import('node:cluster')).default;
  const cwmpThread = cwmpThreadOption(opts.cwmpThread, cluster.isWorker);
  if (workers > 1 && cluster.isPrimary && opts.database) {
    await runPrimary(opts, workers, opts.database);
    return;
  }
  const shared = opts.cpeUsername && opts.cpePassword !== undefined ? { username: opts.cpeUsername, password: opts.cpePassword } : undefined;
  let cpeAuth: CpeAuthConfig;
  switch (opts.cpeAuth) {
    case 'none':
      cpeAuth = { mode: 'none' };
      break;
    case 'shared':
      if (!shared) throw new AcsUsageError('--cpe-auth shared needs --cpe-username and --cpe-password');
      cpeAuth = { mode: 'shared', ...shared };
      break;
    case 'per-device':
      cpeAuth = { mode: 'per-device', shared };
      break;
    default:
      throw new AcsUsageError(`--cpe-auth must be none, shared or per-device, got ${JSON.stringify(opts.cpeAuth)}`);
  }
  let tls;
  if (opts.tlsCert && opts.tlsKey) {
    try {
      tls = { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey), port: tlsPort };
    } catch (err) {
      throw new AcsUsageError(`cannot read the TLS files: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  const worker = process.env.SWITCHBOARD_WORKER_INDEX;
  const logger = pino({ level: opts.logLevel, redact: { paths: LOG_REDACT_PATHS, censor: '[secret]' }, ...(cluster.isWorker && worker ? { base: { pid: process.pid, worker: Number(worker) } } : {}) });
  const acs = await startAcs({
    database: opts.database,
    dataDir: opts.dataDir,
    sqliteCacheMiB,
    cwmpPort,
    httpPort,
    host: opts.host,
    tls,
    cwmpThread,
    apiToken: opts.apiToken,
    cpeAuth,
    connectionRequest: { username: opts.crUsername, password: opts.crPassword },
    nat,
    sessions: { idleTimeoutMs, maxSessions },
    ...(fileBaseUrl ? { provisioning: { fileBaseUrl } } : {}),
    logger,
  });
  if (acs.generatedApiToken) {
    // shown once: only its hash is in the database; the file is readable by this user only
    process.stdout.write(
      `\nAPI token (admin), saved to ${join(opts.dataDir, API_TOKEN_FILE)}; it is not shown again:\n  ${acs.generatedApiToken}\n\n`,
    );
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    acs.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (cluster.isWorker) {
    process.on('message', (m: unknown) => {
      if (m === STOP_MESSAGE && !stopping) stop('primary');
    });
  }
}
