// Worker thread of the SQLite store (src/store/sqlite/checkpointer.ts): copies the write-ahead log
// back into the database file on its own connection, so the store's connection, which runs on the
// ACS's event loop, only appends to the log. SQLite's automatic checkpoint runs inside the COMMIT
// that crosses the log's size limit, on the committing thread: in a boot storm that was a third of
// the commit time (bench/storm.bench.ts).
// Plain JavaScript: a worker does not inherit the tsx loader when the CLI registers it in-process.
//
// workerData: { file, intervalMs }
// Messages in:  'stop'
// Messages out: { kind: 'checkpoint', log, checkpointed } after a checkpoint that copied frames;
//               { kind: 'error', message } when the connection fails (the worker then exits and the
//               store turns SQLite's automatic checkpoint back on).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const BUSY_TIMEOUT_MS = 5000;

let db;
try {
  db = new Database(workerData.file, { fileMustExist: true });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
} catch (err) {
  parentPort.postMessage({ kind: 'error', message: String(err?.message ?? err) });
  process.exit(0);
}

let lastLog = 0;
let stopped = false;

function checkpoint() {
  // PASSIVE: copies what no reader still needs and never waits for, or blocks, the writer.
  const [row] = db.pragma('wal_checkpoint(PASSIVE)');
  if (row.log !== lastLog && row.checkpointed > 0) parentPort.postMessage({ kind: 'checkpoint', log: row.log, checkpointed: row.checkpointed });
  lastLog = row.log;
}

const timer = setInterval(() => {
  if (stopped) return;
  try {
    checkpoint();
  } catch (err) {
    stopped = true;
    clearInterval(timer);
    parentPort.postMessage({ kind: 'error', message: String(err?.message ?? err) });
    db.close();
  }
}, workerData.intervalMs);

parentPort.on('message', (m) => {
  if (m !== 'stop' || stopped) return;
  stopped = true;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
