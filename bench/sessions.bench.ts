/**
 * sessions: periodic sessions of registered devices against the real ACS on SQLite, every Inform
 * stored, next to the ceiling measured in the same run with the same generator and settings.
 *
 * For each load client (bench/lib/loadgen.ts), one after the other in the same run, the ceiling then
 * the ACS, back to back, `--rounds` times (default 3): the other virtual machines on the host move
 * this machine's speed by up to 2x within minutes, so one ceiling window and one ACS window gave
 * ratios from 0.42 to 0.75 for the same tree. Alternating windows and dividing the mean rates
 * compares the two under the same conditions; each round's ratio is printed too:
 * - `cpe`: the CPE agent's own session client (the fleet's), the ceiling as the issue defines it;
 * - `lean`: the same messages from a lean client costing the load process far less CPU, so its
 *   ceiling is the machine's raw one for this session shape (a stricter ratio);
 * the ceiling (generator vs the fixed-bytes server, bench/lib/harness.ts measureCeiling) and the ACS
 * are measured with identical plans.
 *
 * ACS: `startAcs` in a child process (temporary data dir, SQLite, provisioning on, no presets), the
 * devices pre-registered through the store, then one round in which every device informs once (so
 * each has its parameters stored: the steady state of a fleet), then the measurements. The stopped
 * ACS's database is opened afterwards to check that every session was stored.
 *
 * Run: npm run bench -- sessions [--devices=N] [--concurrency=N] [--client=cpe|lean] [--duration=S]
 *      [--warmup=S] [--rounds=N] [--cpu-prof] (profiles the ACS and the load process during the last measurement:
 *      bench/results/profiles/sessions-{acs,load}.cpuprofile; summarise with bench/lib/cpuprofile.ts)
 *      [--acs-node-options="--opt ..."|none] (Node/V8 options of the ACS child; default: the options
 *      `npm start` gives the ACS, SWITCHBOARD_NODE_OPTIONS; space-separated)
 *      [--cwmp-thread=on|off] (default on, as `npm start` on SQLite: the ACS's CWMP listeners on their own thread)
 */
import { join } from 'node:path';
import { BenchArgs, emitResult, machineInfo, machineLine, printTable, RESULTS_DIR } from './lib/report.ts';
import {
  acsNodeOptionsArg,
  cwmpThreadArg,
  cwmpThreadLine,
  cpuMsPer,
  measureCeiling,
  mib,
  profiled,
  removeDir,
  runLoad,
  sqliteCounts,
  startAcsChild,
  startLoadChild,
  tempDataDir,
  withCpu,
  type CeilingResult,
  type LoadClient,
} from './lib/harness.ts';
import type { LoadResult } from './lib/loadgen.ts';
import { SESSION_MODELS } from './lib/models.ts';
import { round } from './lib/stats.ts';

const DEFAULTS = { devices: 10_000, concurrency: 100, durationS: 8, warmupS: 2, rounds: 3 } as const;
const TARGET_RATIO = 0.5;
const MS = 1000;
const CLIENTS: readonly LoadClient[] = ['cpe', 'lean'];

interface ClientFigures {
  client: LoadClient;
  ceiling: CeilingResult;
  acs: LoadResult;
  acsCpuMsPerSession: number;
  loadCpuMsPerSession: number;
  ratio: number;
  /** Each round's ACS rate over its ceiling rate. */
  roundRatios: number[];
}

/**
 * Several measurement windows of one server as one: sessions and time added up (so the rate is the
 * mean rate), the median of the windows' p50 and the worst of their p99 and max.
 */
export function combineLoads(results: LoadResult[]): LoadResult {
  if (results.length === 0) throw new Error('no results to combine');
  const sum = (f: (r: LoadResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const failures: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
  const elapsedMs = sum((r) => r.elapsedMs);
  const ok = sum((r) => r.ok);
  const count = sum((r) => r.latencyMs.count);
  return {
    sessions: sum((r) => r.sessions),
    ok,
    failed: sum((r) => r.failed),
    failures,
    elapsedMs,
    sessionsPerSec: elapsedMs > 0 ? round(ok / (elapsedMs / MS), 1) : 0,
    latencyMs: {
      count,
      min: Math.min(...results.map((r) => r.latencyMs.min)),
      mean: count > 0 ? round(sum((r) => r.latencyMs.mean * r.latencyMs.count) / count, 2) : 0,
      p50: median(results.map((r) => r.latencyMs.p50)),
      p90: median(results.map((r) => r.latencyMs.p90)),
      p99: Math.max(...results.map((r) => r.latencyMs.p99)),
      max: Math.max(...results.map((r) => r.latencyMs.max)),
    },
    acsRequests: sum((r) => r.acsRequests),
    devicesSeen: Math.max(...results.map((r) => r.devicesSeen)),
    totalSessions: sum((r) => r.totalSessions),
  };
}

/** Several ceiling measurements as one (see combineLoads); CPU figures weighted by sessions. */
function combineCeilings(results: CeilingResult[]): CeilingResult {
  const total = results.reduce((n, r) => n + r.load.totalSessions, 0);
  const weighted = (f: (r: CeilingResult) => number) => (total > 0 ? round(results.reduce((n, r) => n + f(r) * r.load.totalSessions, 0) / total, 3) : 0);
  return {
    load: combineLoads(results.map((r) => r.load)),
    serverRssMiB: Math.max(...results.map((r) => r.serverRssMiB)),
    loadRssMiB: Math.max(...results.map((r) => r.loadRssMiB)),
    serverCpuMsPerSession: weighted((r) => r.serverCpuMsPerSession),
    loadCpuMsPerSession: weighted((r) => r.loadCpuMsPerSession),
  };
}

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
  const rounds = args.number('rounds', DEFAULTS.rounds);
  const profile = args.flag('cpu-prof');
  const acsNodeOptions = acsNodeOptionsArg(args.value('acs-node-options'));
  const cwmpThread = cwmpThreadArg(args.value('cwmp-thread'));
  console.log(`sessions: ${devices} registered devices, ${concurrency} sessions in flight, ${warmupS} s warm-up + ${durationS} s per measurement, ${rounds} rounds of ceiling then ACS, clients: ${clients.join(', ')}`);
  console.log(machineLine(machine));
  const deviceSet = { count: devices, models: SESSION_MODELS };
  const plan = { kind: 'closed' as const, warmupMs: warmupS * MS, durationMs: durationS * MS };

  const dataDir = tempDataDir('sessions');
  const profileDir = profile ? join(RESULTS_DIR, 'profiles') : null;
  let profiles: Record<string, string> = {};
  console.log(`ACS node options: ${acsNodeOptions.join(' ') || 'none'}; ${cwmpThreadLine(cwmpThread)}`);
  const acs = await startAcsChild({ dataDir, cwmpThread }, acsNodeOptions);
  const load = await startLoadChild(deviceSet, true);
  const figures: ClientFigures[] = [];
  let primeRate: number;
  let acsRssMiB: number;
  let counts;
  try {
    const reg = await acs.call<{ created: number; ms: number }>('registerDevices', deviceSet);
    console.log(`registered ${reg.created} devices in ${reg.ms} ms`);
    const prime = await runLoad(load, { url: acs.info.cwmpUrl, devices: deviceSet, event: 'periodic', concurrency, plan: { kind: 'each-once' }, client: 'lean' });
    primeRate = prime.sessionsPerSec;
    console.log(`first round: ${prime.ok} sessions (${prime.failed} failed) at ${prime.sessionsPerSec}/s`);
    // ceiling and ACS back to back per client: the machine's other load drifts over minutes
    for (const [i, client] of clients.entries()) {
      const ceilings: CeilingResult[] = [];
      const runs: LoadResult[] = [];
      const cpu = { acs: 0, load: 0 };
      for (let round_ = 0; round_ < rounds; round_++) {
        ceilings.push(await measureCeiling({ devices: deviceSet, concurrency, plan, client }));
        const last = i === clients.length - 1 && round_ === rounds - 1;
        const { value, cpuSeconds } = await withCpu({ acs, load }, async () => {
          const r = await profiled(last ? profileDir : null, 'sessions', { acs, load }, () =>
            runLoad(load, { url: acs.info.cwmpUrl, devices: deviceSet, event: 'periodic', concurrency, plan, client }),
          );
          if (last) profiles = r.profiles;
          return r.value;
        });
        runs.push(value);
        cpu.acs += cpuSeconds.acs;
        cpu.load += cpuSeconds.load;
      }
      const ceiling = combineCeilings(ceilings);
      const value = combineLoads(runs);
      figures.push({
        client,
        ceiling,
        acs: value,
        acsCpuMsPerSession: cpuMsPer(cpu.acs, value.totalSessions),
        loadCpuMsPerSession: cpuMsPer(cpu.load, value.totalSessions),
        ratio: round(value.sessionsPerSec / ceiling.load.sessionsPerSec, 3),
        roundRatios: runs.map((r, k) => round(r.sessionsPerSec / ceilings[k].load.sessionsPerSec, 3)),
      });
    }
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

  const rows = figures.flatMap((f) => [
    [`${f.client} client: fixed bytes (ceiling)`, f.ceiling.load.sessionsPerSec, f.ceiling.load.latencyMs.p50, f.ceiling.load.latencyMs.p99, f.ceiling.load.sessions, f.ceiling.load.failed, f.ceiling.serverCpuMsPerSession, f.ceiling.loadCpuMsPerSession, ''],
    [`${f.client} client: ACS on SQLite`, f.acs.sessionsPerSec, f.acs.latencyMs.p50, f.acs.latencyMs.p99, f.acs.sessions, f.acs.failed, f.acsCpuMsPerSession, f.loadCpuMsPerSession, f.ratio],
  ]);
  printTable('periodic sessions (Inform + empty POST + 204), same generator and concurrency per client', ['server', 'sessions/s', 'p50 ms', 'p99 ms', 'sessions', 'failed', 'server CPU ms/session', 'load CPU ms/session', 'ratio'], rows);
  for (const f of figures) console.log(`${f.client} client, ratio per round: ${f.roundRatios.join(', ')}`);
  console.log(`\ntarget: ACS >= ${TARGET_RATIO} x ceiling (mean rates over the rounds); ACS RSS ${acsRssMiB} MiB`);
  console.log(`stored: ${counts.sessions} session records (${counts.sessionsCompleted} completed), ${counts.devicesContacted}/${counts.devices} devices contacted, ${counts.parameters} parameters`);
  for (const f of figures) if (f.acs.failed) console.log(`${f.client} failures:`, f.acs.failures);

  const head = figures[0];
  const perClient = Object.fromEntries(
    figures.map((f) => [
      f.client,
      {
        sessionsPerSec: f.acs.sessionsPerSec,
        p50Ms: f.acs.latencyMs.p50,
        p99Ms: f.acs.latencyMs.p99,
        ceilingSessionsPerSec: f.ceiling.load.sessionsPerSec,
        ceilingP50Ms: f.ceiling.load.latencyMs.p50,
        ceilingP99Ms: f.ceiling.load.latencyMs.p99,
        ratioToCeiling: f.ratio,
        roundRatios: f.roundRatios,
        acsCpuMsPerSession: f.acsCpuMsPerSession,
        ceilingServerCpuMsPerSession: f.ceiling.serverCpuMsPerSession,
        loadCpuMsPerSession: f.loadCpuMsPerSession,
        sessions: f.acs.sessions,
        failed: f.acs.failed,
        failures: f.acs.failures,
      },
    ]),
  );
  emitResult('sessions', {
    bench: 'sessions',
    // the headline: the first client (the fleet's session client unless --client says otherwise)
    client: head.client,
    sessionsPerSec: head.acs.sessionsPerSec,
    p50Ms: head.acs.latencyMs.p50,
    p99Ms: head.acs.latencyMs.p99,
    ceilingSessionsPerSec: head.ceiling.load.sessionsPerSec,
    ratioToCeiling: head.ratio,
    roundRatios: head.roundRatios,
    acsCpuMsPerSession: head.acsCpuMsPerSession,
    targetRatio: TARGET_RATIO,
    meetsTarget: head.ratio >= TARGET_RATIO,
    failed: figures.reduce((n, f) => n + f.acs.failed, 0),
    sessions: figures.reduce((n, f) => n + f.acs.sessions, 0),
    clients: perClient,
    firstRoundSessionsPerSec: primeRate,
    stored: counts,
    acsRssMiB,
    devices,
    concurrency,
    durationS,
    rounds,
    acsNodeOptions,
    cwmpThread,
    cpuProfiles: profiles,
    machine,
    at: new Date().toISOString(),
  });
}
