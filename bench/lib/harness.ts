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
import type { AcsChildConfig, AcsChildInfo } from './acs-child.ts';
import type { DeviceSetSpec, LoadPlan, LoadResult, LoadSpec } from './loadgen.ts';

const ACS_ENTRY = new URL('./acs-child.ts', import.meta.url);
const LOADGEN_ENTRY = new URL('./loadgen-child.ts', import.meta.url);
const FIXED_ENTRY = new URL('./fixed-server-child.ts', import.meta.url);

/** Node options of a child that writes a V8 CPU profile into `dir` when it exits. */
export function cpuProfileOptions(dir: string, name: string): string[] {
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`];
}

/** Starts the ACS in a child process. */
export function startAcsChild(config: AcsChildConfig, nodeOptions: string[] = []): Promise<BenchChild<AcsChildInfo>> {
  return BenchChild.start<AcsChildInfo>(ACS_ENTRY, { args: [JSON.stringify(config)], nodeOptions });
}

/** Starts a load generator child with its simulated devices configured (and created when `prepare`). */
export async function startLoadChild(devices: DeviceSetSpec, prepare = false, nodeOptions: string[] = []): Promise<BenchChild<{ pid: number }>> {
  const child = await BenchChild.start<{ pid: number }>(LOADGEN_ENTRY, { nodeOptions });
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
  concurrency: number;
  plan: Extract<LoadPlan, { kind: 'closed' }>;
}

export interface CeilingResult {
  load: LoadResult;
  serverRssMiB: number;
  loadRssMiB: number;
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
    const result = await runLoad(load, { url: server.info.url, devices: o.devices, event: 'periodic', concurrency: o.concurrency, plan: o.plan });
    return { load: result, serverRssMiB: mib(await server.rss()), loadRssMiB: mib(await load.rss()) };
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
