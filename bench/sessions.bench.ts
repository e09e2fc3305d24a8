/**
 * sessions: periodic sessions of registered devices against the real ACS on SQLite, every Inform
 * stored, next to the ceiling measured in the same run with the same generator and settings.
 *
 * 1. ceiling: load generator vs the fixed-bytes server (bench/lib/harness.ts measureCeiling);
 * 2. ACS: `startAcs` in a child process (temporary data dir, SQLite), the devices pre-registered
 *    through the store, then one round in which every device informs once (so each has its
 *    parameters stored: the steady state of a fleet), then the closed-loop measurement;
 * 3. the stopped ACS's database is opened to check that every session was stored.
 *
 * Run: npm run bench -- sessions [--devices=N] [--concurrency=N] [--client=lean|cpe] [--duration=S] [--warmup=S]
 *      [--cpu-prof] (profiles the ACS and the load process during the measurement:
 *      bench/results/profiles/sessions-{acs,load}.cpuprofile; summarise with bench/lib/cpuprofile.ts)
 */
import { join } from 'node:path';
import { BenchArgs, emitResult, machineInfo, machineLine, printTable, RESULTS_DIR } from './lib/report.ts';
import { clientArg, cpuMsPer, profiled, measureCeiling, withCpu, mib, removeDir, runLoad, sqliteCounts, startAcsChild, startLoadChild, tempDataDir } from './lib/harness.ts';
import { SESSION_MODELS } from './lib/models.ts';
import { round } from './lib/stats.ts';

const DEFAULTS = { devices: 10_000, concurrency: 100, durationS: 20, warmupS: 3 } as const;
const TARGET_RATIO = 0.5;
const MS = 1000;

/** Benchmark entry point (see file comment). */
export async function run(argv: string[]): Promise<void> {
  const args = new BenchArgs(argv);
  const client = clientArg(args.value('client'));
  const machine = machineInfo();
  const devices = args.number('devices', DEFAULTS.devices);
  const concurrency = args.number('concurrency', DEFAULTS.concurrency);
  const durationS = args.number('duration', DEFAULTS.durationS, true);
  const warmupS = args.number('warmup', DEFAULTS.warmupS, true);
  const profile = args.flag('cpu-prof');
  console.log(`sessions: ${devices} registered devices, ${concurrency} sessions in flight, ${warmupS} s warm-up + ${durationS} s per measurement`);
  console.log(machineLine(machine));
  const deviceSet = { count: devices, models: SESSION_MODELS };
  const plan = { kind: 'closed' as const, warmupMs: warmupS * MS, durationMs: durationS * MS };

  const ceiling = await measureCeiling({ devices: deviceSet, concurrency, plan, client });

  const dataDir = tempDataDir('sessions');
  const profileDir = profile ? join(RESULTS_DIR, 'profiles') : null;
  let profiles: Record<string, string> = {};
  const acs = await startAcsChild({ dataDir });
  const load = await startLoadChild(deviceSet, true);
  let measured;
  let cpu: Record<string, number>;
  let primeRate: number;
  let acsRssMiB: number;
  let counts;
  try {
    const reg = await acs.call<{ created: number; ms: number }>('registerDevices', deviceSet);
    console.log(`registered ${reg.created} devices in ${reg.ms} ms`);
    const prime = await runLoad(load, { url: acs.info.cwmpUrl, devices: deviceSet, event: 'periodic', concurrency, plan: { kind: 'each-once' }, client });
    primeRate = prime.sessionsPerSec;
    console.log(`first round: ${prime.ok} sessions (${prime.failed} failed) at ${prime.sessionsPerSec}/s`);
    ({ value: measured, cpuSeconds: cpu } = await withCpu({ acs, load }, async () => {
      const r = await profiled(profileDir, 'sessions', { acs, load }, () => runLoad(load, { url: acs.info.cwmpUrl, devices: deviceSet, event: 'periodic', concurrency, plan, client }));
      profiles = r.profiles;
      return r.value;
    }));
    acsRssMiB = mib(await acs.rss());
  } finally {
    await load.stop();
    await acs.stop();
  }
  try {
    counts = sqliteCounts(dataDir);
  } finally {
    removeDir(dataDir);
  }

  const ratio = round(measured.sessionsPerSec / ceiling.load.sessionsPerSec, 3);
  const acsCpuMs = cpuMsPer(cpu.acs, measured.totalSessions);
  const loadCpuMs = cpuMsPer(cpu.load, measured.totalSessions);
  printTable('periodic sessions (Inform + empty POST + 204), same generator and concurrency', ['server', 'sessions/s', 'p50 ms', 'p99 ms', 'sessions', 'failed', 'server CPU ms/session', 'load CPU ms/session'], [
    ['fixed bytes (ceiling)', ceiling.load.sessionsPerSec, ceiling.load.latencyMs.p50, ceiling.load.latencyMs.p99, ceiling.load.sessions, ceiling.load.failed, ceiling.serverCpuMsPerSession, ceiling.loadCpuMsPerSession],
    ['ACS on SQLite', measured.sessionsPerSec, measured.latencyMs.p50, measured.latencyMs.p99, measured.sessions, measured.failed, acsCpuMs, loadCpuMs],
  ]);
  console.log(`\nratio ACS / ceiling: ${ratio} (target >= ${TARGET_RATIO}); ACS RSS ${acsRssMiB} MiB`);
  console.log(`stored: ${counts.sessions} session records (${counts.sessionsCompleted} completed), ${counts.devicesContacted}/${counts.devices} devices contacted, ${counts.parameters} parameters`);
  if (measured.failed) console.log('failures:', measured.failures);

  emitResult('sessions', {
    bench: 'sessions',
    sessionsPerSec: measured.sessionsPerSec,
    p50Ms: measured.latencyMs.p50,
    p99Ms: measured.latencyMs.p99,
    ceilingSessionsPerSec: ceiling.load.sessionsPerSec,
    ceilingP50Ms: ceiling.load.latencyMs.p50,
    ceilingP99Ms: ceiling.load.latencyMs.p99,
    ratioToCeiling: ratio,
    acsCpuMsPerSession: acsCpuMs,
    ceilingServerCpuMsPerSession: ceiling.serverCpuMsPerSession,
    loadCpuMsPerSession: loadCpuMs,
    targetRatio: TARGET_RATIO,
    meetsTarget: ratio >= TARGET_RATIO,
    sessions: measured.sessions,
    failed: measured.failed,
    failures: measured.failures,
    firstRoundSessionsPerSec: primeRate,
    stored: counts,
    acsRssMiB,
    devices,
    concurrency,
    client,
    durationS,
    cpuProfiles: profiles,
    machine,
    at: new Date().toISOString(),
  });
}
