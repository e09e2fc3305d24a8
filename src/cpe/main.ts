/**
 * Process entry points behind `switchboard cpe` and `switchboard fleet` (loaded lazily by the CLI):
 * validate the options, wire the shared runtime, start, and stop cleanly on SIGINT/SIGTERM.
 */
import { readFileSync } from 'node:fs';
import type { CpeCliOptions } from '../cli/cpe.ts';
import { CliUsageError, parseAcsUrl, parsePort, parsePositive } from '../cli/cpe.ts';
import type { FleetCliOptions } from '../cli/fleet.ts';
import type { CwmpVersion } from '../cwmp/types.ts';
import { listProfiles, loadProfile } from '../datamodel/model.ts';
import { CpeAgent, type LogLevel } from './agent.ts';
import { ConnectionRequestServer } from './connection-request-server.ts';
import { Fleet, formatFleetStats } from './fleet.ts';
import { LineSimulator } from './line-sim.ts';
import { FileStateStore, type StateStore } from './persistence.ts';
import type { PersistedCpeState } from './agent.ts';
import { RealScheduler } from './scheduler.ts';
import { UdpConnectionRequestEndpoint } from './udp-endpoint.ts';
import { CpeWebServer } from './web.ts';
import { parseGatewayIdentity } from '../acs/nat/gateway.ts';

const VERSIONS: readonly CwmpVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];
const MS_PER_S = 1000;

function parseVersion(v: string): CwmpVersion {
  if (!(VERSIONS as readonly string[]).includes(v)) throw new CliUsageError(`--cwmp-version must be one of ${VERSIONS.join(', ')}, got ${JSON.stringify(v)}`);
  return v as CwmpVersion;
}

function checkModel(model: string): string {
  const known = listProfiles();
  const found = known.find((m) => m.toLowerCase() === model.toLowerCase());
  if (!found) throw new CliUsageError(`unknown model ${JSON.stringify(model)} (known: ${known.join(', ')})`);
  return found;
}

function readCa(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliUsageError(`cannot read --ca ${file}: ${(err as Error).message}`);
  }
}

function logger(quiet: boolean | undefined): (serial: string, level: LogLevel, message: string) => void {
  return (serial, level, message) => {
    if (quiet && (level === 'debug' || level === 'info')) return;
    process.stderr.write(`${new Date().toISOString()} ${level.padEnd(5)} ${serial} ${message}\n`);
  };
}

function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/** `switchboard cpe`. Throws CliUsageError for bad options; runs until SIGINT/SIGTERM. */
export async function runCpe(o: CpeCliOptions): Promise<void> {
  const model = checkModel(o.model);
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.serial)) throw new CliUsageError('--serial must be 1-64 letters, digits, ".", "_" or "-"');
  const acsUrl = o.acs === undefined ? undefined : parseAcsUrl(o.acs);
  const connPort = parsePort('--conn-port', o.connPort, 7547);
  const udpPort = parsePort('--udp-port', o.udpPort, connPort);
  const webPort = o.webPort === undefined ? undefined : parsePort('--web-port', o.webPort, 0);
  const interval = parsePositive('--periodic-interval', o.periodicInterval);
  const rdEvery = parsePositive('--request-download-every', o.requestDownloadEvery);
  const version = parseVersion(o.cwmpVersion);
  const ca = readCa(o.ca);
  const host = o.host ?? '0.0.0.0';
  const log = logger(o.quiet);
  const gateway = o.gateway === undefined ? undefined : parseGatewayIdentity(o.gateway);
  if (gateway === null) throw new CliUsageError(`--gateway must be OUI-ProductClass-SerialNumber (OUI = 6 hex digits), got ${JSON.stringify(o.gateway)}`);

  const scheduler = new RealScheduler();
  const crServer = new ConnectionRequestServer({ listenHost: host, port: connPort });
  await crServer.listen();
  const udp = new UdpConnectionRequestEndpoint({ port: udpPort, listenHost: host });
  await udp.start();
  const store: StateStore<PersistedCpeState> = new FileStateStore<PersistedCpeState>(o.stateDir);
  const agent = new CpeAgent(
    {
      profile: loadProfile(model),
      serial: o.serial,
      store,
      provisioning: {
        acsUrl,
        acsUsername: o.acsUser,
        acsPassword: o.acsPass,
        connectionRequestUsername: o.connUser,
        connectionRequestPassword: o.connPass,
        periodicInformEnable: o.periodic === false ? false : interval !== undefined ? true : undefined,
        periodicInformInterval: interval,
      },
      cwmpVersion: version,
      connectionRequestBasic: o.connBasic === true,
      requestDownloadIntervalMs: rdEvery === undefined ? undefined : rdEvery * MS_PER_S,
      gateway,
    },
    { scheduler, random: Math.random, connectionRequests: crServer, udp, ca, log },
  );
  agent.start();
  let web: CpeWebServer | null = null;
  if (webPort !== undefined) {
    web = new CpeWebServer(agent, { port: webPort, host: host === '0.0.0.0' ? '127.0.0.1' : host });
    await web.listen();
  }
  let lines: LineSimulator | null = null;
  if (o.lineSim !== undefined && o.lineSim !== false) {
    const seed = typeof o.lineSim === 'string' ? Number.parseInt(o.lineSim, 10) : 1;
    if (!Number.isFinite(seed)) throw new CliUsageError('--line-sim seed must be an integer');
    lines = new LineSimulator(agent, scheduler, { seed, enableLines: true });
    lines.start();
  }
  log(o.serial, 'info', `${model} started: ConnectionRequestURL ${crServer.urlFor(agent.crPath)}, UDP port ${udp.port}${web ? `, web http://127.0.0.1:${web.port}/` : ''}`);
  onSignals(async () => {
    lines?.stop();
    await agent.stop();
    await web?.close();
    await crServer.close();
    await udp.close();
  });
}

/** `switchboard fleet`. Throws CliUsageError for bad options; runs until SIGINT/SIGTERM (or --duration). */
export async function runFleet(o: FleetCliOptions): Promise<void> {
  const acsUrl = parseAcsUrl(o.acs);
  const count = parsePositive('--count', o.count) ?? 1;
  const models = o.model.split(',').map((m) => checkModel(m.trim()));
  const connPort = parsePort('--conn-port', o.connPort, 7547);
  const udpPort = o.udpPort === undefined ? undefined : parsePort('--udp-port', o.udpPort, 0);
  const interval = parsePositive('--periodic-interval', o.periodicInterval) ?? 300;
  const spread = parsePositive('--spread', o.spread);
  const concurrency = parsePositive('--concurrency', o.concurrency);
  const statsEvery = parsePositive('--stats-every', o.statsEvery) ?? 5;
  const duration = parsePositive('--duration', o.duration);
  const serialBase = o.serialBase === undefined ? 1 : Number.parseInt(o.serialBase, 16);
  if (!Number.isFinite(serialBase) || serialBase < 0 || serialBase + count - 1 > 0xffffff) throw new CliUsageError('--serial-base must be hex and leave room for --count serials');
  const log = logger(true);
  const fleet = new Fleet({
    acsUrl,
    count,
    models,
    connPort,
    host: o.host,
    udpPort,
    serialBase,
    spreadMs: spread === undefined ? undefined : spread * MS_PER_S,
    periodicInterval: interval,
    concurrency,
    acsUsername: o.acsUser,
    acsPassword: o.acsPass,
    connectionRequestPassword: o.connPass,
    cwmpVersion: parseVersion(o.cwmpVersion),
    ca: readCa(o.ca),
    log: o.verbose ? logger(false) : (serial, level, message) => (level === 'error' ? log(serial, level, message) : undefined),
  });
  await fleet.start();
  process.stdout.write(`fleet: ${count} devices (${models.join(', ')}) against ${acsUrl}; connection requests on port ${fleet.crServer.port}\n`);
  const ticker = setInterval(() => process.stdout.write(`${formatFleetStats(fleet.stats())}\n`), statsEvery * MS_PER_S);
  const stop = async (): Promise<void> => {
    clearInterval(ticker);
    await fleet.stop();
    process.stdout.write(`${JSON.stringify({ final: fleet.stats() })}\n`);
  };
  if (duration !== undefined) {
    setTimeout(() => {
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    }, duration * MS_PER_S);
  }
  onSignals(stop);
}
