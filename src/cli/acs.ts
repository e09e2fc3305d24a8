/**
 * `switchboard acs` (= `npm start`): runs the ACS.
 *
 *   switchboard acs [--data-dir ./data] [--cwmp-port 7547] [--http-port 7557] [--host 0.0.0.0]
 *     [--tls-cert cert.pem --tls-key key.pem [--tls-port 7548]] [--api-token TOKEN]
 *     [--cpe-auth none|shared|per-device [--cpe-username u --cpe-password p]]
 *     [--cr-username u --cr-password p] [--session-timeout 30] [--max-sessions 10000] [--log-level info]
 *
 * Every flag has a SWITCHBOARD_* environment variable (SWITCHBOARD_DATA_DIR, SWITCHBOARD_API_TOKEN...).
 * Without an API token, one is generated, saved to <data-dir>/api-token (mode 0600) and printed once.
 * SIGINT/SIGTERM end the open sessions (their data is committed) and close the store.
 */
import { Option, type Command } from 'commander';

export interface AcsCliOptions {
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
  program
    .command('acs')
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
    .addOption(env('--log-level <level>', 'fatal, error, warn, info, debug, trace, silent', 'SWITCHBOARD_LOG_LEVEL', 'info'))
    .action(async (opts: AcsCliOptions) => {
      await runAcs(opts);
    });
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
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new AcsUsageError('--tls-cert and --tls-key go together');
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

  const logger = pino({ level: opts.logLevel, redact: { paths: LOG_REDACT_PATHS, censor: '[secret]' } });
  const acs = await startAcs({
    dataDir: opts.dataDir,
    cwmpPort,
    httpPort,
    host: opts.host,
    tls,
    apiToken: opts.apiToken,
    cpeAuth,
    connectionRequest: { username: opts.crUsername, password: opts.crPassword },
    sessions: { idleTimeoutMs, maxSessions },
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
}
