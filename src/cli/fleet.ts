/**
 * `switchboard fleet`: many simulated devices in one process (load testing an ACS).
 *
 *   switchboard fleet --acs http://acs:7547/ --count 10000 --model GXP2140,HT502 --conn-port 7547
 *
 * Serial numbers are 000B82 + 6 hex digits from --serial-base; each device's Connection Request
 * username is its serial. One Connection Request listener serves all devices (a path per device).
 * Running statistics (sessions done/failed, sessions/s, latency p50/p95/p99) are printed every
 * --stats-every seconds.
 */
import type { Command } from 'commander';

export interface FleetCliOptions {
  acs: string;
  count: string;
  model: string;
  connPort: string;
  host?: string;
  udpPort?: string;
  serialBase?: string;
  periodicInterval?: string;
  spread?: string;
  concurrency?: string;
  acsUser?: string;
  acsPass?: string;
  connPass?: string;
  cwmpVersion: string;
  ca?: string;
  statsEvery?: string;
  duration?: string;
  verbose?: boolean;
}

export function registerFleet(program: Command): void {
  program
    .command('fleet')
    .description('run many simulated CPEs in one process against an ACS')
    .requiredOption('--acs <url>', 'ACS URL')
    .option('--count <n>', 'number of devices', '100')
    .option('--model <models>', 'model or comma-separated models (round-robin)', 'GXP2140')
    .option('--conn-port <port>', 'Connection Request HTTP port shared by all devices', '7547')
    .option('--host <host>', 'address to listen on and publish in ConnectionRequestURL', '0.0.0.0')
    .option('--udp-port <port>', 'UDP Connection Request port shared by all devices (off by default)')
    .option('--serial-base <hex>', 'first serial suffix (6 hex digits after 000B82)', '000001')
    .option('--periodic-interval <seconds>', 'PeriodicInformInterval of every device', '300')
    .option('--spread <seconds>', 'spread the boot sessions over this window (default: the periodic interval)')
    .option('--concurrency <n>', 'max sessions at once', '64')
    .option('--acs-user <user>', 'ACS username')
    .option('--acs-pass <password>', 'ACS password')
    .option('--conn-pass <password>', 'Connection Request password of every device', 'switchboard')
    .option('--cwmp-version <version>', 'CWMP version of the devices', '1.4')
    .option('--ca <file>', 'PEM file of CA certificates trusted for HTTPS')
    .option('--stats-every <seconds>', 'print statistics every N seconds', '5')
    .option('--duration <seconds>', 'stop after N seconds (default: run until interrupted)')
    .option('--verbose', 'log every device event')
    .action(async (opts: FleetCliOptions) => {
      const { runFleet } = await import('../cpe/main.ts');
      await runFleet(opts);
    });
}
