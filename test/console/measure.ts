/**
 * Measures what the console costs the server on a large fleet (not a test; run by hand):
 *   node --import tsx test/console/measure.ts [devices=1000000] [sessionsPerHour=40000]
 * SB_MEASURE_FILE=/tmp/x.sqlite keeps the filled database there and reuses it on the next run.
 * Fills a temp SQLite database with devices, one PeriodicInformInterval parameter each and three
 * hours of sessions, then times the overview numbers (and the longest event-loop stall while they
 * are computed) and the device list queries the Devices page sends.
 */
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SqliteFleetStats } from '../../src/console/server/stats.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

const DEVICES = Number(process.argv[2] ?? 1_000_000);
const SESSIONS_PER_HOUR = Number(process.argv[3] ?? 40_000);
const MODELS = ['GXP2140', 'GXP2170', 'GXP2160', 'HT502', 'HT503', 'GXW4008', 'GXV3140'];
const VERSIONS = ['1.0.11.6', '1.0.11.10', '1.0.9.135', '1.0.7.97'];

const dir = mkdtempSync(join(tmpdir(), 'sb-measure-'));
const keep = process.env.SB_MEASURE_FILE;
const file = keep ?? join(dir, 'switchboard.sqlite');
try {
  const reuse = keep !== undefined && existsSync(keep);
  await (await openSqliteStore({ file })).close();
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const now = Date.now();
  let t = performance.now();
  const insertDevice = db.prepare(
    'INSERT INTO devices (id, manufacturer, oui, product_class, serial_number, first_contact, last_contact, software_version, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  const insertParam = db.prepare('INSERT INTO parameters (device_id, name, value, type, writable, object, updated_at) VALUES (?, ?, ?, ?, 1, 0, ?)');
  const insertSession = db.prepare("INSERT INTO sessions (device_id, started_at, ended_at, events, outcome, rpc_count) VALUES (?, ?, ?, '[]', ?, 1)");
  if (!reuse) db.transaction(() => {
    for (let i = 0; i < DEVICES; i++) {
      const model = MODELS[i % MODELS.length];
      const serial = `000B82${i.toString(16).toUpperCase().padStart(6, '0')}`;
      const id = `000B82-${model}-${serial}`;
      // Last contacts spread over two days: about a quarter is online with a 3600 s interval.
      const last = new Date(now - ((i * 7919) % 172_800) * 1000).toISOString();
      insertDevice.run(id, 'Grandstream', '000B82', model, serial, last, last, VERSIONS[(i >> 3) % VERSIONS.length], '[]');
      insertParam.run(id, 'Device.ManagementServer.PeriodicInformInterval', '3600', 'unsignedInt', last);
    }
    const sessions = SESSIONS_PER_HOUR * 3;
    for (let k = 0; k < sessions; k++) {
      const at = new Date(now - 3 * 3_600_000 + (k * 3 * 3_600_000) / sessions).toISOString();
      insertSession.run(`000B82-GXP2140-000B82${(k % DEVICES).toString(16).toUpperCase().padStart(6, '0')}`, at, at, k % 50 === 0 ? 'timeout' : 'completed');
    }
  })();
  db.close();
  if (!reuse) console.log(`filled ${DEVICES} devices, ${SESSIONS_PER_HOUR * 3} sessions in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const stats = new SqliteFleetStats({ file, cacheMs: 0, rule: { defaultIntervalSeconds: 3600, onlineFactor: 2, graceSeconds: 60 } });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  t = performance.now();
  const fleet = await stats.fleet();
  const fleetMs = performance.now() - t;
  t = performance.now();
  const informs = await stats.informs(3);
  const informsMs = performance.now() - t;
  delay.disable();
  console.log(`overview fleet numbers: ${fleetMs.toFixed(0)} ms (${JSON.stringify(fleet.devices)}, ${fleet.models.length} models)`);
  console.log(`informs per minute, 3 h: ${informsMs.toFixed(0)} ms (${informs.buckets.reduce((s, b) => s + b.informs, 0)} sessions)`);
  console.log(`longest event-loop stall while computing: ${(delay.max / 1e6).toFixed(1)} ms (p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms)`);
  stats.close();

  // The Devices page's queries, through the store as the API runs them.
  const store = await openSqliteStore({ file });
  const time = async (label: string, run: () => Promise<unknown>) => {
    const s = performance.now();
    await run();
    console.log(`${label}: ${(performance.now() - s).toFixed(0)} ms`);
  };
  let cursor: string | null = null;
  await time('devices page 1 (50, sort id, with total)', async () => {
    const page = await store.queryDevices({ limit: 50, count: true });
    cursor = page.nextCursor;
  });
  await time('devices page 2 by cursor (without total)', () => store.queryDevices({ limit: 50, cursor: cursor! }));
  await time('devices by model, sorted by last contact, with total', () => store.queryDevices({ productClass: 'HT502', sort: { field: 'lastContact', direction: 'desc' }, limit: 50, count: true }));
  await time('devices where a parameter equals a value', () => store.queryDevices({ parameters: [{ name: 'Device.ManagementServer.PeriodicInformInterval', op: 'eq', value: '3600' }], limit: 50 }));
  await time('devices by id substring, with total', () => store.queryDevices({ idContains: '0ABC', limit: 50, count: true }));
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
