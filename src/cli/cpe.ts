/**
 * `switchboard cpe`: runs one simulated Grandstream device against an ACS.
 *
 *   switchboard cpe --acs http://acs.example.net:7547/ --model GXP2140 --serial 000B82A1B2C3 \
 *     --state-dir ./state/gxp --conn-port 7547 --web-port 8080 [--acs-user u --acs-pass p] \
 *     [--conn-user u --conn-pass p] [--host 192.0.2.10] [--ca acs-ca.pem]
 *
 * The state (parameters, pending events and transfers, scheduled informs) lives in --state-dir and
 * survives restarts; the command-line settings act as the device's factory provisioning.
 */
import type { Command } from 'commander';

/** Parsed `cpe` options (commander camel-cases the flags). */
export interface CpeCliOptions {
  acs?: string;
  model: string;
  serial: string;
  stateDir: string;
  host?: string;
  connPort: string;
  udpPort?: string;
  acsUser?: string;
  acsPass?: string;
  connUser?: string;
  connPass?: string;
  connBasic?: boolean;
  webPort?: string;
  ca?: string;
  cwmpVersion: string;
  periodicInterval?: string;
  periodic?: boolean;
  lineSim?: string | boolean;
  requestDownloadEvery?: string;
  quiet?: boolean;
  /** TR-111 Part 1: OUI-ProductClass-SerialNumber of the gateway the device is behind. */
  gateway?: string;
}

export class CliUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** Parses a TCP/UDP port option. Returns the number; throws CliUsageError. */
export function parsePort(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n > 65535) throw new CliUsageError(`${name} must be a port number 0-65535, got ${JSON.stringify(v)}`);
  return n;
}

/** Parses a positive integer option. Returns the number; throws CliUsageError. */
export function parsePositive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || n < 1 || !Number.isSafeInteger(n)) throw new CliUsageError(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** Checks an ACS URL option. Returns it; throws CliUsageError. */
export function parseAcsUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new CliUsageError(`--acs must be a URL, got ${JSON.stringify(v)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliUsageError(`--acs must be an http:// or https:// URL, got ${JSON.stringify(v)}`);
  return v;
}

export function registerCpe(program: Command): void {
  program
    .command('cpe')
    .description('run one simulated Grandstream CPE (TR-069 client) against an ACS')
    .requiredOption('--model <model>', 'device model (e.g. GXP2140, HT502; see profiles)')
    .requiredOption('--serial <serial>', 'serial number (Grandstream: the MAC, e.g. 000B82A1B2C3)')
    .requiredOption('--state-dir <dir>', 'directory holding the device state (created if missing)')
    .option('--acs <url>', 'ACS URL (ManagementServer.URL)')
    .option('--host <host>', 'address to listen on and to publish in ConnectionRequestURL', '0.0.0.0')
    .option('--conn-port <port>', 'Connection Request HTTP port', '7547')
    .option('--udp-port <port>', 'UDP Connection Request / STUN port (default: the connection request port)')
    .option('--acs-user <user>', 'ACS username (ManagementServer.Username)')
    .option('--acs-pass <password>', 'ACS password')
    .option('--conn-user <user>', 'Connection Request username')
    .option('--conn-pass <password>', 'Connection Request password')
    .option('--conn-basic', 'also accept Basic authentication on Connection Requests (Digest is always accepted)')
    .option('--web-port <port>', 'serve the device web pages (status, TR-069 settings) on this port')
    .option('--ca <file>', 'PEM file of CA certificates trusted for HTTPS (ACS and file servers)')
    .option('--cwmp-version <version>', 'CWMP version: 1.0, 1.1, 1.2, 1.3 or 1.4', '1.4')
    .option('--periodic-interval <seconds>', 'PeriodicInformInterval to provision')
    .option('--no-periodic', 'provision PeriodicInformEnable = false')
    .option('--line-sim [seed]', 'simulate calls on the lines (seeded, deterministic)')
    .option('--request-download-every <seconds>', 'ask the ACS for new firmware (RequestDownload) on this period')
    .option('--quiet', 'log warnings and errors only')
    .option('--gateway <oui-class-serial>', 'TR-111: the home gateway this device is behind (GatewayInfo), e.g. 00D09E-HGW-GW0001')
    .action(async (opts: CpeCliOptions) => {
      const { runCpe } = await import('../cpe/main.ts');
      await runCpe(opts);
    });
}
