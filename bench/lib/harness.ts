/**
 * Building blocks shared by the benchmarks: start the three kinds of processes (ACS, fixed server,
 * load generator), measure the ceiling, read figures straight from a stopped ACS's SQLite file, and
 * temporary data directories.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQLITE_FILE_NAME } from '../../src/store/sqlite/index.ts';
import { BenchChild } from './child.ts';
import { SWITCHBOARD_NODE_OPTIONS } from '../../src/cli/node-options.ts';
import type { AcsChildConfig, AcsChildInfo } from './acs-child.ts';
import type { DeviceSetSpec, LoadPlan, LoadResult, LoadSpec } from './loadgen.ts';

/** Which client the load generator uses (see loadgen.ts). */
export type LoadClient = NonNullable<LoadSpec['client']>;

/** Reads `--client=lean|cpe` (default lean). Throws on another value. */
export function clientArg(value: string | undefined): LoadClient {
  if (value === undefined || value === 'lean' || value === 'cpe') return value ?? 'lean';
  throw new Error(`--client must be lean or cpe, got "${value}"`);
}

/**
 * Reads `--cwmp-thread=on|off` (storm, sessions, soak): whether the ACS serves CWMP from its listener
 * thread. Absent: on, as `npm start` on SQLite. Throws on another value.
 */
export function cwmpThreadArg(value: string | undefined): boolean {
  if (value === undefined) return true;
  if (value === 'on' || value === 'off') return value === 'on';
  throw new Error(`--cwmp-thread must be on or off, got "${value}"`);
}

/** Where the ACS serves CWMP, as the benchmarks' header lines say it. */
export function cwmpThreadLine(on: boolean): string {
  return `CWMP listeners on ${on ? 'their own thread' : 'the main event loop'}`;
}

const ACS_ENTRY = new URL('./acs-child.ts', import.meta.url);
const LOADGEN_ENTRY = new URL('./loadgen-child.ts', import.meta.url);
const FIXED_ENTRY = new URL('./fixed-server-child.ts', import.meta.url);

/**
 * Runs `fn` with the V8 CPU profiler on in each child when `dir` is given, writing
 * `<dir>/<bench>-<child name>.cpuprofile` (only the measured phase is profiled: set-up is not).
 * Resolves fn's value and the written files.
 */
export async function profiled<T>(dir: string | null, bench: string, children: Record<string, BenchChild>, fn: () => Promise<T>): Promise<{ value: T; profiles: Record<string, string> }> {
  if (!dir) return { value: await fn(), profiles: {} };
  for (const c of Object.values(children)) await c.startProfile();
  const value = await fn();
  const profiles: Record<string, string> = {};
  for (const [name, c] of Object.entries(children)) profiles[name] = await c.stopProfile(join(dir, `${bench}-${name}.cpuprofile`));
  return { value, profiles };
}

/**
 * Reads `--acs-node-options="--opt=v ..."` (Node/V8 options of the ACS child). Without it, the ACS
 * child runs with the options `npm start` gives the ACS (SWITCHBOARD_NODE_OPTIONS); `--acs-node-options=none`
 * runs it with none. Throws when an option does not start with `--`.
 */
export function acsNodeOptionsArg(value: string | undefined): string[] {
  if (value === undefined) return [...SWITCHBOARD_NODE_OPTIONS];
  if (value.trim() === 'none') return [];
  const options = value.split(/\s+/).filter((o) => o !== '');
  if (options.some((o) => !o.startsWith('--'))) throw new Error(`--acs-node-options takes Node options (each starting with --) or none, got "${value}"`);
  return options;
}

/** Starts the ACS in a child process, by default with the Node options `npm start` gives it. */
export function startAcsChild(config: AcsChildConfig, nodeOptions: readonly string[] = SWITCHBOARD_NODE_OPTIONS): Promise<BenchChild<AcsChildInfo>> {
  return BenchChild.start<AcsChildInfo>(ACS_ENTRY, { args: [JSON.stringify(config)], nodeOptions: [...nodeOptions] });
}

/**
 * Starts a load generator child with its simulated devices configured (and created when `prepare`);
 * by default with the Node options `switchboard fleet` runs with (SWITCHBOARD_NODE_OPTIONS).
 */
export async function startLoadChild(devices: DeviceSetSpec, prepare = false, nodeOptions: readonly string[] = SWITCHBOARD_NODE_OPTIONS): Promise<BenchChild<{ pid: number }>> {
  const child = await BenchChild.start<{ pid: number }>(LOADGEN_ENTRY, { nodeOptions: [...nodeOptions] });
  await child.call('configure', { ...devices, prepare });
  return child;
}

/** Starts the fixed-bytes server of the ceiling in a child. */
export function startFixedServerChild(cwmpVersion = '1.2'): Promise<BenchChild<{ url: string }>> {
  return BenchChild.start<{ url: string }>(FIXED_ENTRY, { args: [cwmpVersion] });
}

/** Runs a load plan in the load child. */
export function runLoad(load: BenchChild, spec: LoadSpec): Promise<LoadResult> {
  return load.call<LoadResult>('run', spec);
}

export interface CeilingOptions {
  devices: DeviceSetSpec;
  client: LoadClient;
  concurrency: number;
  plan: Extract<LoadPlan, { kind: 'closed' }>;
}

export interface CeilingResult {
  load: LoadResult;
  serverRssMiB: number;
  loadRssMiB: number;
  /** CPU time per session (ms, warm-up included in both terms) of the server and of the load process. */
  serverCpuMsPerSession: number;
  loadCpuMsPerSession: number;
}

/** The result of `withCpu`: the value and the CPU seconds each child used meanwhile. */
export interface WithCpu<T> {
  value: T;
  cpuSeconds: Record<string, number>;
}

/** Runs `fn` and measures the CPU time each child used during it. */
export async function withCpu<T>(children: Record<string, BenchChild>, fn: () => Promise<T>): Promise<WithCpu<T>> {
  const before: Record<string, number> = {};
  for (const [k, c] of Object.entries(children)) before[k] = await c.cpuSeconds();
  const value = await fn();
  const cpuSeconds: Record<string, number> = {};
  for (const [k, c] of Object.entries(children)) cpuSeconds[k] = Math.round(((await c.cpuSeconds()) - before[k]) * 100) / 100;
  return { value, cpuSeconds };
}

/** CPU milliseconds per session (2 decimals); NaN when no session ran. */
export function cpuMsPer(cpuSeconds: number, sessions: number): number {
  return sessions > 0 ? Math.round((cpuSeconds * 1000 * 100) / sessions) / 100 : Number.NaN;
}

const MIB = 1024 * 1024;

/** Bytes -> MiB with one decimal. */
export function mib(bytes: number): number {
  return Math.round((bytes / MIB) * 10) / 10;
}

/**
 * The ceiling: the load generator against the fixed-bytes server, periodic sessions, closed loop.
 * Both run in their own processes; they are stopped before this resolves.
 */
export async function measureCeiling(o: CeilingOptions): Promise<CeilingResult> {
  const server = await startFixedServerChild();
  const load = await startLoadChild(o.devices, true);
  try {
    const { value: result, cpuSeconds } = await withCpu({ server, load }, () =>
      runLoad(load, { url: server.info.url, devices: o.devices, event: 'periodic', concurrency: o.concurrency, plan: o.plan, client: o.client }),
    );
    return {
      load: result,
      serverRssMiB: mib(await server.rss()),
      loadRssMiB: mib(await load.rss()),
      serverCpuMsPerSession: cpuMsPer(cpuSeconds.server, result.totalSessions),
      loadCpuMsPerSession: cpuMsPer(cpuSeconds.load, result.totalSessions),
    };
  } finally {
    await load.stop();
    await server.stop();
  }
}

/** A fresh temporary data directory for an ACS. */
export function tempDataDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `switchboard-bench-${label}-`));
}

/** Removes a temporary data directory (never throws). */
export function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort: a leftover temp dir is not worth failing a benchmark
  }
}

/** Row counts of a (stopped) ACS's SQLite database, read directly (read-only). */
export interface SqliteCounts {
  devices: number;
  devicesContacted: number;
  parameters: number;
  sessions: number;
  sessionsCompleted: number;
}

/** Reads row counts from `<dataDir>/switchboard.sqlite` (open it only when the ACS is stopped or idle). */
export function sqliteCounts(dataDir: string): SqliteCounts {
  const db = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
  try {
    const one = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      devices: one('SELECT count(*) AS n FROM devices'),
      devicesContacted: one('SELECT count(*) AS n FROM devices WHERE last_contact IS NOT NULL'),
      parameters: one('SELECT count(*) AS n FROM parameters'),
      sessions: one('SELECT count(*) AS n FROM sessions'),
      sessionsCompleted: one("SELECT count(*) AS n FROM sessions WHERE outcome = 'completed'"),
    };
  } finally {
    db.close();
  }
}
