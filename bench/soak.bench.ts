/**
 * soak: periodic sessions at a steady rate for N minutes against the ACS on SQLite; the resident
 * memory of the ACS and of the load process (the simulated fleet) is sampled every 10 s. Memory is
 * flat when the end RSS is close to the start RSS and the slope over the second half is ~0.
 *
 * Warm start (default): what grows in a young ACS is SQLite's page cache, up to its bound (64 MiB
 * unless `--sqlite-cache-mib`), while the database is smaller than that. The soak measures the
 * steady state of an ACS that has run for a while: before it starts, the database gets `--history`
 * session records (a few days of this fleet's periodic sessions; 600,000 = 90 MiB, more than the
 * cache holds) and the ACS reads them once, which fills its page cache. `--history=0` is a cold
 * start. A cold run with a small bound (`--history=0 --sqlite-cache-mib=4`) shows what is not cache.
 *
 * Run: npm run bench -- soak [--minutes=N] [--devices=N] [--rate=SESSIONS_PER_S] [--concurrency=N] [--sqlite-cache-mib=N] [--history=N]
 *      [--cwmp-thread=on|off] (default on, as `npm start` on SQLite: the ACS's CWMP listeners on their own thread)
 * (defaults: 10 minutes, 10,000 devices, 200 sessions/s, at most 100 in flight, the ACS's 64 MiB cache,
 * 600,000 history records)
 */
import { BenchArgs, emitResult, machineInfo, machineLine, printTable } from './lib/report.ts';
import { RssSampler } from './lib/child.ts';
import { SWITCHBOARD_NODE_OPTIONS } from '../src/cli/node-options.ts';
import { clientArg, cwmpThreadArg, cwmpThreadLine, cpuMsPer, mib, removeDir, runLoad, sqliteCounts, startAcsChild, startLoadChild, tempDataDir, withCpu } from './lib/harness.ts';
import { SESSION_MODELS } from './lib/models.ts';
import { round } from './lib/stats.ts';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CACHE_MIB, openSqliteStore, SQLITE_FILE_NAME } from '../src/store/sqlite/index.ts';
import { loadProfile } from '../src/datamodel/model.ts';
import { fleetSerial } from '../src/cpe/fleet.ts';
import { makeDeviceId } from '../src/store/types.ts';

const DEFAULTS = { minutes: 10, devices: 10_000, rate: 200, concurrency: 100, history: 600_000 } as const;
const SAMPLE_MS = 10_000;
const MS_PER_MIN = 60_000;

/** Least-squares slope of y over x (per unit of x); 0 with fewer than 2 points. */
export function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/**
 * Writes `count` completed periodic session records spread over the soak's devices, one a second
 * going back from now, through the store's own schema (the ACS is not running yet).
 */
async function writeHistory(dataDir: string, count: number, devices: number): Promise<void> {
  const store = openSqliteStore({ dataDir, checkpointWorker: false });
  try {
    const db = store.connection;
    const profiles = SESSION_MODELS.map((m) => loadProfile(m));
    const insert = db.prepare(
      `INSERT INTO sessions (device_id, started_at, ended_at, events, remote_address, cwmp_version, outcome, rpc_count, detail)
       VALUES (?, ?, ?, '[{"eventCode":"2 PERIODIC","commandKey":""}]', '127.0.0.1', '1.2', 'completed', 1, NULL)`,
    );
    const start = Date.now() - count * 1000;
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const d = i % devices;
        const p = profiles[d % profiles.length];
        const at = new Date(start + i * 1000).toISOString();
        insert.run(makeDeviceId({ ...p, serialNumber: fleetSerial(1, d) }), at, at);
      }
    })();
  } finally {
    await store.close();
  }
}

/** Benchmark entry point (see file comment). */
export async function run(argv: string[]): Promise<void> {
  const args = new BenchArgs(argv);
  const machine = machineInfo();
  const client = clientArg(args.value('client'));
  const minutes = args.number('minutes', DEFAULTS.minutes, true);
  const devices = args.number('devices', DEFAULTS.devices);
  const rate = args.number('rate', DEFAULTS.rate, true);
  const concurrency = args.number('concurrency', DEFAULTS.concurrency);
  const cacheMiB = args.number('sqlite-cache-mib', DEFAULT_CACHE_MIB);
  const history = args.count('history', DEFAULTS.history);
  const cwmpThread = cwmpThreadArg(args.value('cwmp-thread'));
  console.log(`soak: ${devices} devices, ${rate} periodic sessions/s for ${minutes} min, RSS sampled every ${SAMPLE_MS / 1000} s`);
  console.log(machineLine(machine));
  // the options `npm start` gives the ACS, and --expose-gc for the live-heap samples
  const acsNodeOptions = [...SWITCHBOARD_NODE_OPTIONS, '--expose-gc'];
  console.log(`ACS node options: ${acsNodeOptions.join(' ')}; SQLite page cache bound ${cacheMiB} MiB; ${cwmpThreadLine(cwmpThread)}`);
  const deviceSet = { count: devices, models: SESSION_MODELS };
  const dataDir = tempDataDir('soak');
  if (history > 0) {
    const t = performance.now();
    await writeHistory(dataDir, history, devices);
    console.log(`warm start: ${history} session records written in ${Math.round(performance.now() - t)} ms (${mib(statSync(join(dataDir, SQLITE_FILE_NAME)).size)} MiB)`);
  }
  const acs = await startAcsChild({ dataDir, sqliteCacheMiB: cacheMiB, cwmpThread }, acsNodeOptions);
  const heap: { atS: number; acsHeapMiB: number }[] = [];
  const t0 = Date.now();
  const load = await startLoadChild(deviceSet, true);
  const sampleHeap = async (): Promise<number | null> => {
    const bytes = await acs.heapUsed().catch(() => null);
    if (bytes !== null) heap.push({ atS: Math.round((Date.now() - t0) / 1000), acsHeapMiB: mib(bytes) });
    return bytes;
  };
  const sampler = new RssSampler({ acs, load }, SAMPLE_MS, (s) => {
    void sampleHeap().then((bytes) =>
      console.log(`  ${String(Math.round(s.atMs / 1000)).padStart(5)} s  ACS ${mib(s.rss.acs)} MiB (live heap ${bytes === null ? '?' : mib(bytes)} MiB)  fleet ${mib(s.rss.load)} MiB`),
    );
  });
  let result;
  let cpu: Record<string, number>;
  try {
    await acs.call('registerDevices', deviceSet);
    if (history > 0) {
      const t = performance.now();
      const pages = await acs.call<number>('warmCache');
      console.log(`page cache filled: ${pages} pages read in ${Math.round(performance.now() - t)} ms`);
    }
    await sampler.start();
    ({ value: result, cpuSeconds: cpu } = await withCpu({ acs, load }, () =>
      runLoad(load, { url: acs.info.cwmpUrl, devices: deviceSet, event: 'periodic', concurrency, plan: { kind: 'rate', perSecond: rate, durationMs: minutes * MS_PER_MIN }, client }),
    ));
    await sampler.sample();
    await sampleHeap();
  } finally {
    sampler.stop();
    await load.stop();
    await acs.stop();
  }
  let counts;
  let dbMiB = 0;
  try {
    counts = sqliteCounts(dataDir);
    dbMiB = mib(statSync(join(dataDir, SQLITE_FILE_NAME)).size);
  } finally {
    removeDir(dataDir);
  }
  const samples = sampler.samples.map((s) => ({ atS: Math.round(s.atMs / 1000), acsMiB: mib(s.rss.acs), fleetMiB: mib(s.rss.load) }));
  const first = samples[0];
  const last = samples[samples.length - 1];
  const secondHalf = samples.filter((s) => s.atS >= last.atS / 2);
  const perMin = (key: 'acsMiB' | 'fleetMiB') => round(slope(secondHalf.map((s) => ({ x: s.atS / 60, y: s[key] }))), 2);
  const acsSlope = perMin('acsMiB');
  const heapLast = heap[heap.length - 1]?.atS ?? 0;
  const heapSlope = round(slope(heap.filter((h) => h.atS >= heapLast / 2).map((h) => ({ x: h.atS / 60, y: h.acsHeapMiB }))), 2);
  const heapStats = heap.length
    ? { start: heap[0].acsHeapMiB, end: heap[heap.length - 1].acsHeapMiB, max: Math.max(...heap.map((h) => h.acsHeapMiB)), slopeSecondHalfMiBPerMin: heapSlope }
    : null;
  const fleetSlope = perMin('fleetMiB');
  printTable('resident memory (MiB)', ['process', 'start', 'end', 'max', 'slope, 2nd half (MiB/min)'], [
    ['ACS', first.acsMiB, last.acsMiB, Math.max(...samples.map((s) => s.acsMiB)), acsSlope],
    ['fleet (load process)', first.fleetMiB, last.fleetMiB, Math.max(...samples.map((s) => s.fleetMiB)), fleetSlope],
    ...(heapStats ? [['ACS live JS heap (after GC)', heapStats.start, heapStats.end, heapStats.max, heapStats.slopeSecondHalfMiBPerMin]] : []),
  ]);
  console.log(`\nSQLite page cache bound ${cacheMiB} MiB; database file at the end ${dbMiB} MiB`);
  console.log(`${result.ok} sessions ok, ${result.failed} failed, ${result.sessionsPerSec}/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms; ${counts.sessions} session records stored`);
  emitResult('soak', {
    bench: 'soak',
    minutes,
    devices,
    ratePerSec: rate,
    sessionsOk: result.ok,
    failed: result.failed,
    failures: result.failures,
    sessionsPerSec: result.sessionsPerSec,
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    acsRssMiB: { start: first.acsMiB, end: last.acsMiB, max: Math.max(...samples.map((s) => s.acsMiB)), slopeSecondHalfMiBPerMin: acsSlope },
    acsLiveHeapMiB: heapStats,
    fleetRssMiB: { start: first.fleetMiB, end: last.fleetMiB, max: Math.max(...samples.map((s) => s.fleetMiB)), slopeSecondHalfMiBPerMin: fleetSlope },
    acsCpuMsPerSession: cpuMsPer(cpu.acs, result.totalSessions),
    storedSessions: counts.sessions,
    sqliteCacheMiB: cacheMiB,
    cwmpThread,
    historyRecords: history,
    databaseMiB: dbMiB,
    samples,
    client,
    machine,
    at: new Date().toISOString(),
  });
}
