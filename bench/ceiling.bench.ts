/**
 * ceiling: the physical ceiling of this machine for the benchmark's session shape.
 *
 * The load generator (bench/lib/loadgen.ts: periodic Inform with the device's forcedInform
 * parameters, empty POST, 204) runs closed-loop against a bare node:http server answering with
 * fixed bytes (bench/lib/fixed-server-child.ts), each in its own process. No parsing, no storage on
 * the server: whatever the ACS does costs on top of this. Measured for both load clients: `cpe` (the
 * CPE agent's own session client, as the fleet runs it) and `lean` (same bytes, far less load CPU:
 * the machine's raw ceiling).
 *
 * Run: npm run bench -- ceiling [--devices=N] [--concurrency=N] [--client=cpe|lean] [--duration=S] [--warmup=S]
 */
import { BenchArgs, emitResult, machineInfo, machineLine, printTable } from './lib/report.ts';
import { measureCeiling, type CeilingResult, type LoadClient } from './lib/harness.ts';
import { SESSION_MODELS } from './lib/models.ts';

const DEFAULTS = { devices: 10_000, concurrency: 100, durationS: 15, warmupS: 3 } as const;
const MS = 1000;
const CLIENTS: readonly LoadClient[] = ['cpe', 'lean'];

/** Benchmark entry point (see file comment). */
export async function run(argv: string[]): Promise<void> {
  const args = new BenchArgs(argv);
  const only = args.value('client');
  if (only !== undefined && !CLIENTS.includes(only as LoadClient)) throw new Error(`--client must be cpe or lean, got "${only}"`);
  const clients = only ? [only as LoadClient] : CLIENTS;
  const machine = machineInfo();
  const devices = args.number('devices', DEFAULTS.devices);
  const concurrency = args.number('concurrency', DEFAULTS.concurrency);
  const durationS = args.number('duration', DEFAULTS.durationS, true);
  const warmupS = args.number('warmup', DEFAULTS.warmupS, true);
  console.log(`ceiling: ${devices} devices, ${concurrency} sessions in flight, ${warmupS} s warm-up + ${durationS} s per client (${clients.join(', ')})`);
  console.log(machineLine(machine));

  const results: { client: LoadClient; c: CeilingResult }[] = [];
  for (const client of clients) {
    results.push({
      client,
      c: await measureCeiling({ client, devices: { count: devices, models: SESSION_MODELS }, concurrency, plan: { kind: 'closed', warmupMs: warmupS * MS, durationMs: durationS * MS } }),
    });
  }
  printTable(
    'fixed-bytes server, periodic sessions',
    ['client', 'sessions/s', 'p50 ms', 'p99 ms', 'sessions', 'failed', 'server CPU ms/session', 'load CPU ms/session', 'server RSS MiB', 'load RSS MiB'],
    results.map(({ client, c }) => [client, c.load.sessionsPerSec, c.load.latencyMs.p50, c.load.latencyMs.p99, c.load.sessions, c.load.failed, c.serverCpuMsPerSession, c.loadCpuMsPerSession, c.serverRssMiB, c.loadRssMiB]),
  );
  const figures = (c: CeilingResult) => ({
    sessionsPerSec: c.load.sessionsPerSec,
    p50Ms: c.load.latencyMs.p50,
    p99Ms: c.load.latencyMs.p99,
    sessions: c.load.sessions,
    failed: c.load.failed,
    failures: c.load.failures,
    serverCpuMsPerSession: c.serverCpuMsPerSession,
    loadCpuMsPerSession: c.loadCpuMsPerSession,
    serverRssMiB: c.serverRssMiB,
    loadRssMiB: c.loadRssMiB,
  });
  emitResult('ceiling', {
    bench: 'ceiling',
    // the headline: the first client (the fleet's session client unless --client says otherwise)
    client: results[0].client,
    ...figures(results[0].c),
    clients: Object.fromEntries(results.map(({ client, c }) => [client, figures(c)])),
    devices,
    concurrency,
    durationS,
    machine,
    at: new Date().toISOString(),
  });
}
