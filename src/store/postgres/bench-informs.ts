/**
 * Measures a boot storm of Informs on both store backends (a measurement script, not a test).
 *
 * For each backend: N devices each run "take the session lock, commit the Inform (device upsert,
 * ~14 parameters, session record, lock release)". Pass 1 is every device's first contact (inserts),
 * pass 2 the next periodic Inform (updates); both with `concurrency` sessions in flight, then a
 * shorter sequential pass for per-commit latency.
 *
 * Usage: node --import tsx src/store/postgres/bench-informs.ts [--devices 10000] [--concurrency 16]
 *        [--backend both|sqlite|postgres] [--url postgres://...]
 * PostgreSQL: --url, else SWITCHBOARD_TEST_DATABASE_URL, else the scripts/pg-test-server.sh server.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openSqliteStore } from '../sqlite/index.ts';
import { makeDeviceId, type ParameterWrite, type SessionCommit, type Store } from '../types.ts';
import { openPostgresStore } from './index.ts';
import { findTestDatabase } from './test-server.ts';

const { values: args } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '16' },
    backend: { type: 'string', default: 'both' },
    url: { type: 'string' },
  },
});
const DEVICES = Number(args.devices);
const CONCURRENCY = Number(args.concurrency);
/** The sequential latency pass uses this share of the devices. */
const SEQUENTIAL_SHARE = 0.2;
const LOCK_TTL_MS = 30_000;
const PERCENT = 100;
/** Linux clock ticks per second (USER_HZ), the unit of /proc/<pid>/stat CPU times. */
const CLOCK_TICKS_PER_SECOND = 100;
/** Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the `(comm)` field. */
const STAT_UTIME_AFTER_COMM = 11;
const STAT_STIME_AFTER_COMM = 12;

function serialOf(i: number): string {
  return `GS${String(i).padStart(8, '0')}`;
}

/** An Inform as the session engine would commit it: the Inform's parameters plus what it learned. */
function informCommit(i: number, at: string, pass: number, owner: string): SessionCommit {
  const identity = { manufacturer: 'Grandstream', oui: '000B82', productClass: i % 3 ? 'HT802' : 'GXP2160', serialNumber: serialOf(i) };
  const id = makeDeviceId(identity);
  const sw = `1.0.${pass}.${i % 7}`;
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  const parameters: ParameterWrite[] = [
    { name: 'Device.DeviceSummary', value: 'Device:1.0[](Baseline:1, VoiceService:1.0[1](SIPEndpoint:1))', type: 'string' },
    { name: 'Device.DeviceInfo.Manufacturer', value: 'Grandstream', type: 'string' },
    { name: 'Device.DeviceInfo.ManufacturerOUI', value: '000B82', type: 'string' },
    { name: 'Device.DeviceInfo.ProductClass', value: identity.productClass, type: 'string' },
    { name: 'Device.DeviceInfo.SerialNumber', value: identity.serialNumber, type: 'string' },
    { name: 'Device.DeviceInfo.HardwareVersion', value: 'V1.2A', type: 'string' },
    { name: 'Device.DeviceInfo.SoftwareVersion', value: sw, type: 'string' },
    { name: 'Device.DeviceInfo.ProvisioningCode', value: `site-${i % 50}`, type: 'string' },
    { name: 'Device.DeviceInfo.UpTime', value: String(pass * 86_400 + i), type: 'unsignedInt' },
    { name: 'Device.ManagementServer.ConnectionRequestURL', value: `http://${ip}:7547/cr`, type: 'string' },
    { name: 'Device.ManagementServer.ParameterKey', value: `pk-${pass}`, type: 'string' },
    { name: 'Device.ManagementServer.PeriodicInformInterval', value: '86400', type: 'unsignedInt' },
    { name: 'Device.IP.Interface.1.IPv4Address.1.IPAddress', value: ip, type: 'string' },
    { name: 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.Status', value: 'Up', type: 'string' },
  ];
  return {
    at,
    device: {
      id,
      ...identity,
      lastContact: at,
      ...(pass === 1 ? { lastBoot: at, lastBootstrap: at } : {}),
      sourceAddress: ip,
      softwareVersion: sw,
      hardwareVersion: 'V1.2A',
      connectionRequestUrl: `http://${ip}:7547/cr`,
      cwmpVersion: '1.2',
    },
    parameters,
    session: {
      deviceId: id,
      startedAt: at,
      endedAt: at,
      events: pass === 1 ? [{ eventCode: '0 BOOTSTRAP', commandKey: '' }, { eventCode: '1 BOOT', commandKey: '' }] : [{ eventCode: '2 PERIODIC', commandKey: '' }],
      remoteAddress: ip,
      cwmpVersion: '1.2',
      outcome: 'completed',
      rpcCount: 0,
      detail: null,
    },
    releaseLock: { owner },
  };
}

interface PassResult {
  label: string;
  sessions: number;
  seconds: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  /** CPU of this Node process per session (user + system), which machine load does not inflate much. */
  cpuMsPerSession: number;
  /** CPU of the PostgreSQL server processes serving the store, per session (null: not measurable). */
  serverCpuMsPerSession: number | null;
}

/** CPU time (ms) per server process, read from /proc (so only for a server on this machine). */
type CpuSampler = () => Promise<Map<number, number> | null>;

function postgresCpuSampler(url: string, applicationName: string): { sample: CpuSampler; close: () => Promise<void> } {
  const admin = new pg.Client({ connectionString: url });
  const connected = admin.connect();
  return {
    sample: async () => {
      await connected;
      const { rows } = await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
      const out = new Map<number, number>();
      for (const { pid } of rows) {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          out.set(pid, ((Number(fields[STAT_UTIME_AFTER_COMM]) + Number(fields[STAT_STIME_AFTER_COMM])) * 1000) / CLOCK_TICKS_PER_SECOND);
        } catch {
          return null; // a remote server, or /proc not readable
        }
      }
      return out;
    },
    close: async () => {
      await connected.catch(() => undefined);
      await admin.end().catch(() => undefined);
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / PERCENT))];
}

async function runPass(store: Store, label: string, indexes: number[], pass: number, concurrency: number, serverCpu: CpuSampler | null): Promise<PassResult> {
  const latencies: number[] = [];
  let next = 0;
  const owner = `bench-${process.pid}`;
  const server0 = serverCpu ? await serverCpu() : null;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const worker = async () => {
    while (next < indexes.length) {
      const i = indexes[next++];
      const start = performance.now();
      const commit = informCommit(i, new Date().toISOString(), pass, owner);
      const lock = await store.acquireSessionLock(commit.device.id, owner, LOCK_TTL_MS);
      if (!lock.acquired) throw new Error(`lock of ${commit.device.id} busy`);
      await store.commitSession(commit);
      latencies.push(performance.now() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server1 = serverCpu ? await serverCpu() : null;
  let serverMs: number | null = null;
  if (server0 && server1) {
    // Connections opened during the pass count from zero.
    serverMs = 0;
    for (const [pid, ms] of server1) serverMs += ms - (server0.get(pid) ?? 0);
  }
  latencies.sort((a, b) => a - b);
  return {
    label,
    sessions: indexes.length,
    seconds,
    perSecond: indexes.length / seconds,
    p50ms: percentile(latencies, 50),
    p99ms: percentile(latencies, 99),
    cpuMsPerSession: (cpu.user + cpu.system) / 1000 / indexes.length,
    serverCpuMsPerSession: serverMs === null ? null : serverMs / indexes.length,
  };
}

async function benchStore(name: string, store: Store, serverCpu: CpuSampler | null): Promise<PassResult[]> {
  const all = Array.from({ length: DEVICES }, (_, i) => i);
  const sequential = all.slice(0, Math.max(1, Math.floor(DEVICES * SEQUENTIAL_SHARE)));
  const results = [
    await runPass(store, `${name} first contact (inserts), concurrency ${CONCURRENCY}`, all, 1, CONCURRENCY, serverCpu),
    await runPass(store, `${name} periodic Inform (updates), concurrency ${CONCURRENCY}`, all, 2, CONCURRENCY, serverCpu),
    await runPass(store, `${name} periodic Inform (updates), sequential`, sequential, 3, 1, serverCpu),
  ];
  const count = await store.countDevices({});
  const params = (await store.getParameters(makeDeviceId({ oui: '000B82', productClass: 'HT802', serialNumber: serialOf(1) }))).length;
  if (count !== DEVICES || params !== 14) throw new Error(`${name}: expected ${DEVICES} devices with 14 parameters, found ${count} / ${params}`);
  return results;
}

const results: PassResult[] = [];
if (args.backend === 'both' || args.backend === 'sqlite') {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-'));
  const store = openSqliteStore({ dataDir: dir });
  try {
    results.push(...(await benchStore('sqlite', store, null)));
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
if (args.backend === 'both' || args.backend === 'postgres') {
  let url = args.url ?? process.env.SWITCHBOARD_TEST_DATABASE_URL;
  if (!url) {
    const db = await findTestDatabase();
    if (db.kind === 'unavailable') throw new Error(db.reason);
    url = db.url;
  }
  const schema = `sb_bench_${process.pid}`;
  const applicationName = `sb-bench-${process.pid}`;
  const store = await openPostgresStore(url, { schema, createSchema: true, applicationName, poolSize: Math.max(2, Math.min(CONCURRENCY, 20)) });
  const sampler = postgresCpuSampler(url, applicationName);
  try {
    results.push(...(await benchStore('postgres', store, sampler.sample)));
  } finally {
    await sampler.close();
    await store.close();
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

console.log(`\n${DEVICES} devices, 14 parameters + session record per Inform, lock acquire + commit per session; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
for (const r of results) {
  console.log(
    `${r.label.padEnd(58)} ${String(r.sessions).padStart(6)} sessions  ${r.seconds.toFixed(2).padStart(7)} s  ${r.perSecond.toFixed(0).padStart(6)} /s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  CPU/session: node ${r.cpuMsPerSession.toFixed(2)} ms${r.serverCpuMsPerSession === null ? '' : `, server ${r.serverCpuMsPerSession.toFixed(2)} ms`}`,
  );
}
