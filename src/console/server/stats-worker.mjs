// Worker thread of the console's fleet statistics (src/console/server/stats.ts): runs the
// aggregate queries on its own read-only SQLite connection, so that however long they take on a
// large fleet (disk reads, a busy machine) the ACS's event loop never waits for them.
// Plain JavaScript: a worker does not inherit the tsx loader when the CLI registers it in-process.
//
// Requests: { id, kind: 'fleet', now, rule } | { id, kind: 'informs', since }
// Answers:  { id, result } | { id, error }
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** Rows per statement: each slice is its own short read transaction, so WAL checkpoints go on. */
const SLICE_ROWS = 5000;
const DAY_MS = 86_400_000;
/** julianday('1970-01-01T00:00:00Z'). */
const UNIX_EPOCH_JULIAN_DAY = 2440587.5;
const BUSY_TIMEOUT_MS = 5000;
/** Memory-mapped reads and a larger cache: a parameter lookup per device at random places. */
const MMAP_BYTES = 256 * 1024 * 1024;
const CACHE_KIB = 32 * 1024;
const INTERVAL_PARAMETERS = ['Device.ManagementServer.PeriodicInformInterval', 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval'];

const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
db.pragma(`mmap_size = ${MMAP_BYTES}`);
db.pragma(`cache_size = -${CACHE_KIB}`);

// julianday() compares each last contact with now minus the device's own online limit.
const fleetSlice = db.prepare(`
  SELECT d.product_class AS productClass, d.software_version AS softwareVersion, COUNT(*) AS total,
    SUM(d.last_contact IS NULL) AS never,
    SUM(d.last_contact IS NOT NULL AND julianday(d.last_contact) >=
      ? - (COALESCE(CAST(COALESCE(pa.value, pb.value) AS REAL), ?) * ? + ?) / 86400.0) AS online
  FROM devices d
  LEFT JOIN parameters pa ON pa.device_id = d.id AND pa.name = '${INTERVAL_PARAMETERS[0]}'
  LEFT JOIN parameters pb ON pb.device_id = d.id AND pb.name = '${INTERVAL_PARAMETERS[1]}'
  WHERE d.rowid > ? AND d.rowid <= ?
  GROUP BY 1, 2`);
const maxDeviceRowid = db.prepare('SELECT MAX(rowid) AS m FROM devices');
const sessionBounds = db.prepare('SELECT MIN(id) AS lo, MAX(id) AS hi FROM sessions');
const sessionAt = db.prepare('SELECT id, started_at FROM sessions WHERE id >= ? ORDER BY id LIMIT 1');
// The minute is the first 16 characters of the ISO timestamp.
const informSlice = db.prepare(`
  SELECT substr(started_at, 1, 16) AS minute, COUNT(*) AS informs, SUM(outcome <> 'completed') AS failed
  FROM sessions WHERE id >= ? AND id < ? GROUP BY 1`);

function fleet(now, rule) {
  const nowJulian = now / DAY_MS + UNIX_EPOCH_JULIAN_DAY;
  const max = maxDeviceRowid.get().m ?? 0;
  const rows = [];
  for (let from = 0; from < max; from += SLICE_ROWS) {
    for (const r of fleetSlice.all(nowJulian, rule.defaultIntervalSeconds, rule.onlineFactor, rule.graceSeconds, from, from + SLICE_ROWS)) rows.push(r);
  }
  return rows;
}

/**
 * Session ids grow with time (AUTOINCREMENT, rows written when the session is recorded), so the
 * first session of the window is found by bisecting ids instead of scanning the table.
 */
function firstSessionIdSince(since) {
  const bounds = sessionBounds.get();
  if (!bounds || bounds.lo === null || bounds.hi === null) return null;
  let lo = bounds.lo;
  let hi = bounds.hi + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const row = sessionAt.get(mid);
    if (!row) hi = mid;
    else if (row.started_at < since) lo = row.id + 1;
    else hi = mid;
  }
  return lo > bounds.hi ? null : { first: lo, last: bounds.hi };
}

/** Informs per minute since `since` (ISO): rows `{ minute, informs, failed }`, the series is built by the caller. */
function informs(since) {
  const rows = [];
  const range = firstSessionIdSince(since);
  if (range) {
    for (let from = range.first; from <= range.last; from += SLICE_ROWS) {
      for (const row of informSlice.all(from, from + SLICE_ROWS)) rows.push(row);
    }
  }
  return rows;
}

parentPort.on('message', (msg) => {
  try {
    const result = msg.kind === 'fleet' ? fleet(msg.now, msg.rule) : informs(msg.since);
    parentPort.postMessage({ id: msg.id, result });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  }
});
