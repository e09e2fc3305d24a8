/**
 * Fleet benchmark (`npm run bench -- fleet [--count=N] [--spread=S] [--measure=S] [--concurrency=C]`;
 * the bench runner takes only dash arguments, so use the `--name=value` form).
 *
 * The parent process runs a minimal ACS (node:http: InformResponse to the Inform, 204 to the empty
 * POST); a child process runs the fleet (default 10,000 devices, GXP2140 and HT502 alternating),
 * so the child's resident memory is the fleet's alone. The child measures:
 *  - resident memory per device = (RSS after all devices booted - RSS before creating them) / N,
 *    after a forced GC;
 *  - sessions per second over a steady-state window (devices inform every `spread` seconds);
 *  - session latency p50/p95/p99 (Inform to the ACS's final 204, as the device sees it).
 * Results go to bench/results/fleet.json; the last line printed is one JSON object.
 * Target: 10,000 devices under 100 KB each.
 */
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SWITCHBOARD_NODE_OPTIONS } from '../src/cli/node-options.ts';

const CHILD_ENV = 'SWITCHBOARD_FLEET_BENCH_CHILD';
const TARGET_BYTES_PER_DEVICE = 100 * 1024;
const INFORM_RESPONSE =
  '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">' +
  '<soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>';

interface BenchArgs {
  count: number;
  spreadS: number;
  measureS: number;
  concurrency: number;
}

interface ChildResult {
  devices: number;
  startMs: number;
  rssBaseline: number;
  rssFleet: number;
  bytesPerDevice: number;
  heapBytesPerDevice: number;
  sessionsOk: number;
  sessionsFailed: number;
  sessionsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  lastFailure?: string;
}

function parseArgs(args: string[]): BenchArgs {
  const get = (name: string, def: number): number => {
    const i = args.indexOf(`--${name}`);
    const eq = args.find((a) => a.startsWith(`--${name}=`));
    const raw = eq ? eq.split('=')[1] : i >= 0 ? args[i + 1] : undefined;
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  return { count: Math.floor(get('count', 10_000)), spreadS: get('spread', 10), measureS: get('measure', 20), concurrency: Math.floor(get('concurrency', 64)) };
}

/** Minimal ACS: InformResponse to an Inform, 204 to anything else. Counts sessions. */
async function startAcs(): Promise<{ url: string; sessions: () => number; close: () => Promise<void> }> {
  let sessions = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (body.includes(':Inform>')) {
        sessions++;
        res.writeHead(200, { 'content-type': 'text/xml; charset="utf-8"', 'content-length': Buffer.byteLength(INFORM_RESPONSE) });
        res.end(INFORM_RESPONSE);
      } else {
        res.writeHead(204).end();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/acs`,
    sessions: () => sessions,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs in the child: the fleet and its measurements. Prints one JSON line. */
async function child(): Promise<void> {
  const acsUrl = process.env.FLEET_BENCH_ACS ?? '';
  const a = JSON.parse(process.env.FLEET_BENCH_ARGS ?? '{}') as BenchArgs;
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  const { Fleet } = await import('../src/cpe/fleet.ts');
  const { loadProfile } = await import('../src/datamodel/model.ts');
  // Profiles are shared by all devices: load them before the baseline.
  loadProfile('GXP2140');
  loadProfile('HT502');
  gc();
  const base = process.memoryUsage();
  const t0 = Date.now();
  const fleet = new Fleet({
    acsUrl,
    count: a.count,
    models: ['GXP2140', 'HT502'],
    connPort: 0,
    host: '127.0.0.1',
    spreadMs: a.spreadS * 1000,
    periodicInterval: a.spreadS,
    concurrency: a.concurrency,
  });
  await fleet.start();
  const startMs = Date.now() - t0;
  // Every device has had its boot session after one spread window.
  await sleep(a.spreadS * 1000 + 1000);
  gc();
  const mem = process.memoryUsage();
  const s1 = fleet.stats();
  const tm = Date.now();
  await sleep(a.measureS * 1000);
  const s2 = fleet.stats();
  const window = (Date.now() - tm) / 1000;
  await fleet.stop();
  const result: ChildResult = {
    devices: a.count,
    startMs,
    rssBaseline: base.rss,
    rssFleet: mem.rss,
    bytesPerDevice: Math.round((mem.rss - base.rss) / a.count),
    heapBytesPerDevice: Math.round((mem.heapUsed - base.heapUsed) / a.count),
    sessionsOk: s2.sessionsOk,
    sessionsFailed: s2.sessionsFailed,
    sessionsPerSecond: Math.round(((s2.sessionsOk + s2.sessionsFailed - s1.sessionsOk - s1.sessionsFailed) / window) * 10) / 10,
    p50: s2.p50,
    p95: s2.p95,
    p99: s2.p99,
    lastFailure: s2.lastFailure,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Entry point of `npm run bench -- fleet`. */
export async function run(args: string[]): Promise<void> {
  const a = parseArgs(args);
  const acs = await startAcs();
  const self = fileURLToPath(import.meta.url);
  const started = Date.now();
  const out = await new Promise<string>((resolve, reject) => {
    // the fleet runs with the options `switchboard fleet` gives node (its shebang)
    const p = spawn(process.execPath, [...SWITCHBOARD_NODE_OPTIONS, '--expose-gc', '--max-old-space-size=4096', '--import', 'tsx', self], {
      env: { ...process.env, [CHILD_ENV]: '1', FLEET_BENCH_ACS: acs.url, FLEET_BENCH_ARGS: JSON.stringify(a) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    p.stdout.on('data', (c: Buffer) => (text += c.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`fleet child exited with ${code}`))));
  });
  await acs.close();
  const line = out.trim().split('\n').at(-1) ?? '';
  const r = JSON.parse(line) as ChildResult;
  const report = {
    benchmark: 'fleet',
    devices: r.devices,
    models: ['GXP2140', 'HT502'],
    startMs: r.startMs,
    bytesPerDevice: r.bytesPerDevice,
    kbPerDevice: Math.round((r.bytesPerDevice / 1024) * 10) / 10,
    heapKbPerDevice: Math.round((r.heapBytesPerDevice / 1024) * 10) / 10,
    rssFleetMb: Math.round((r.rssFleet / 1024 / 1024) * 10) / 10,
    sessionsPerSecond: r.sessionsPerSecond,
    sessionsOk: r.sessionsOk,
    sessionsFailed: r.sessionsFailed,
    acsSessions: acs.sessions(),
    latencyMs: { p50: r.p50, p95: r.p95, p99: r.p99 },
    targetKbPerDevice: TARGET_BYTES_PER_DEVICE / 1024,
    meetsMemoryTarget: r.bytesPerDevice < TARGET_BYTES_PER_DEVICE,
    durationS: Math.round((Date.now() - started) / 100) / 10,
    node: process.version,
  };
  console.table({
    devices: { value: report.devices },
    'start (ms)': { value: report.startMs },
    'memory per device (KB, RSS delta)': { value: report.kbPerDevice },
    'heap per device (KB)': { value: report.heapKbPerDevice },
    'sessions/s (steady state)': { value: report.sessionsPerSecond },
    'sessions ok / failed': { value: `${report.sessionsOk} / ${report.sessionsFailed}` },
    'latency p50 / p99 (ms)': { value: `${report.latencyMs.p50} / ${report.latencyMs.p99}` },
  });
  // SWITCHBOARD_BENCH_RESULTS redirects the results (the benchmark suite's smoke test uses it).
  const dir = process.env.SWITCHBOARD_BENCH_RESULTS ?? fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'fleet.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report));
}

if (process.env[CHILD_ENV] === '1') {
  child().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
