/**
 * `npm run bench -- scale`: CWMP sessions per second of 1, 2 and 3 ACS processes sharing one
 * PostgreSQL database, and of one ACS on SQLite, measured in the same run with the same load
 * generator, devices and concurrency (issue #8 part 2).
 *
 * Every configuration is reached through the same round-robin TCP proxy (test/scale/proxy.ts, the
 * stand-in for a load balancer), so the proxy's cost is in every figure alike. Each PostgreSQL
 * configuration gets a fresh database. The ACS instances are test/scale/acs-child.ts processes.
 * Options: --devices 200 --concurrency 16 --warmup 2 --duration 8 --client lean|cpe.
 * PostgreSQL: SWITCHBOARD_TEST_DATABASE_URL or scripts/pg-test-server.sh (the PostgreSQL rows are
 * skipped, with the reason, when none can be had).
 *
 * Note: the process count of a row only buys throughput when the machine has cores to spare; the
 * table prints the core count and the load average next to the figures.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import pg from 'pg';
import { BenchChild } from './lib/child.ts';
import { BenchArgs, emitResult, machineInfo, machineLine, printTable } from './lib/report.ts';
import { clientArg, removeDir, runLoad, startLoadChild, tempDataDir } from './lib/harness.ts';
import type { DeviceSetSpec, LoadResult } from './lib/loadgen.ts';
import { round } from './lib/stats.ts';
import { findTestDatabase } from '../src/store/postgres/test-server.ts';
import { openStore } from '../src/store/index.ts';
import { RoundRobinProxy } from '../test/scale/proxy.ts';
import type { ScaleAcsConfig, ScaleAcsInfo } from '../test/scale/acs-child.ts';

const ACS_ENTRY = new URL('../test/scale/acs-child.ts', import.meta.url);
const DEFAULTS = { devices: 200, concurrency: 16, warmupS: 2, durationS: 8 };
const POSTGRES_INSTANCES = [1, 2, 3];
const SERIAL_BASE = 0x5d0000;
const MODELS = ['HT502', 'GXP2140'];
const MS_PER_S = 1000;

interface Row {
  store: 'sqlite' | 'postgres';
  instances: number;
  sessionsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  sessions: number;
  failed: number;
  /** Sessions each instance received a connection for (proxy counts). */
  connectionsPerInstance: number[];
  failures: Record<string, number>;
}

/** Creates a database of its own for one configuration; returns its URL and how to drop it. */
async function freshDatabase(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `sb_scale_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  // migrate once before the instances start
  const store = await openStore({ kind: 'postgres', url: u.toString() });
  await store.close();
  return {
    url: u.toString(),
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await admin.end().catch(() => undefined);
    },
  };
}

/** Starts `instances` ACS children on one store, measures through the proxy, stops them. */
async function measure(
  label: Row['store'],
  instances: number,
  database: string | undefined,
  load: BenchChild,
  devices: DeviceSetSpec,
  o: { concurrency: number; warmupMs: number; durationMs: number; client: 'lean' | 'cpe' },
): Promise<Row> {
  const dirs: string[] = [];
  const children: BenchChild<ScaleAcsInfo>[] = [];
  const namespace = `bench_${randomBytes(4).toString('hex')}`;
  let proxy: RoundRobinProxy | null = null;
  try {
    for (let i = 0; i < instances; i++) {
      const dir = tempDataDir(`scale-${label}-${i}`);
      dirs.push(dir);
      const config: ScaleAcsConfig = { database, dataDir: dir, namespace };
      children.push(await BenchChild.start<ScaleAcsInfo>(ACS_ENTRY, { args: [JSON.stringify(config)] }));
    }
    proxy = new RoundRobinProxy(children.map((c) => ({ host: '127.0.0.1', port: Number(new URL(c.info.cwmpUrl).port) })));
    const url = await proxy.listen();
    // first round: every device's first session (creates it), not measured
    await runLoad(load, { url, devices, event: 'bootstrap', concurrency: o.concurrency, plan: { kind: 'each-once' }, client: o.client });
    const r: LoadResult = await runLoad(load, {
      url,
      devices,
      event: 'periodic',
      concurrency: o.concurrency,
      plan: { kind: 'closed', warmupMs: o.warmupMs, durationMs: o.durationMs },
      client: o.client,
    });
    return {
      store: label,
      instances,
      sessionsPerSec: r.sessionsPerSec,
      p50Ms: round(r.latencyMs.p50),
      p99Ms: round(r.latencyMs.p99),
      sessions: r.sessions,
      failed: r.failed,
      connectionsPerInstance: [...proxy.connections],
      failures: r.failures,
    };
  } finally {
    await proxy?.close().catch(() => undefined);
    for (const c of children) await c.stop().catch(() => c.proc.kill('SIGKILL'));
    for (const d of dirs) removeDir(d);
  }
}

/** Runs the benchmark (see the module comment). */
export async function run(argv: string[]): Promise<void> {
  const args = new BenchArgs(argv);
  const client = clientArg(args.value('client'));
  const machine = machineInfo();
  const devices: DeviceSetSpec = { count: args.number('devices', DEFAULTS.devices), serialBase: SERIAL_BASE, models: MODELS };
  const o = {
    concurrency: args.number('concurrency', DEFAULTS.concurrency),
    warmupMs: args.number('warmup', DEFAULTS.warmupS, true) * MS_PER_S,
    durationMs: args.number('duration', DEFAULTS.durationS, true) * MS_PER_S,
    client,
  };
  console.log(`scale: ${devices.count} devices, ${o.concurrency} sessions in flight, ${o.warmupMs / MS_PER_S} s warm-up + ${o.durationMs / MS_PER_S} s per row, through a round-robin proxy`);
  console.log(machineLine(machine));
  const rows: Row[] = [];
  let skipped: string | null = null;
  const load = await startLoadChild(devices, true);
  try {
    rows.push(await measure('sqlite', 1, undefined, load, devices, o));
    const db = await findTestDatabase();
    if (db.kind === 'unavailable') {
      skipped = db.reason;
      console.log(`PostgreSQL rows skipped: ${db.reason}`);
    } else {
      for (const n of POSTGRES_INSTANCES) {
        const fresh = await freshDatabase(db.url);
        try {
          rows.push(await measure('postgres', n, fresh.url, load, devices, o));
        } finally {
          await fresh.drop();
        }
      }
    }
  } finally {
    await load.stop().catch(() => load.proc.kill('SIGKILL'));
  }
  printTable(
    'periodic sessions per second by store and ACS process count (same generator, devices, concurrency)',
    ['store', 'ACS processes', 'sessions/s', 'p50 ms', 'p99 ms', 'sessions', 'failed', 'connections per process'],
    rows.map((r) => [r.store, r.instances, r.sessionsPerSec, r.p50Ms, r.p99Ms, r.sessions, r.failed, r.connectionsPerInstance.join('/')]),
  );
  for (const r of rows) if (r.failed) console.log(`${r.store} x${r.instances} failures:`, r.failures);
  const [la1] = loadavg();
  console.log(`load average (1 min) at the end: ${round(la1)} on ${machine.nproc} cores`);
  emitResult('scale', {
    bench: 'scale',
    devices: devices.count,
    concurrency: o.concurrency,
    warmupMs: o.warmupMs,
    durationMs: o.durationMs,
    client,
    rows,
    postgresSkipped: skipped,
    loadAverage1m: round(la1),
    machine,
  });
}
