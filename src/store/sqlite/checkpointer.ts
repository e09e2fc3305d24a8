/**
 * Background WAL checkpoints for the SQLite store: a worker thread (checkpoint-worker.mjs) with its
 * own connection copies the write-ahead log into the database file, and the store's connection has
 * SQLite's automatic checkpoint turned off, so its COMMITs only append to the log.
 *
 * Why: the automatic checkpoint runs inside whichever COMMIT crosses `wal_autocheckpoint` pages, on
 * the committing thread, which is the ACS's event loop. In a boot storm that was about a third of
 * the group commit's COMMIT time (0.1 ms of the event loop per device); on the worker it runs on the
 * other core.
 *
 * Safety: a PASSIVE checkpoint never blocks the writer nor waits for it. If the worker cannot open
 * its connection or a checkpoint fails, the store's automatic checkpoint is turned back on, so the
 * log never grows without bound. The log file is truncated to `JOURNAL_SIZE_LIMIT` when it restarts.
 */
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

const WORKER_URL = new URL('./checkpoint-worker.mjs', import.meta.url);
/** SQLite's default `wal_autocheckpoint` (pages), restored when the worker fails. */
export const AUTO_CHECKPOINT_PAGES = 1000;
/** Bytes the WAL file is truncated to when it restarts (after a complete checkpoint). */
export const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024;
const STOP_TIMEOUT_MS = 5000;

export interface CheckpointerOptions {
  /** How often the worker checkpoints (ms); default 200. */
  intervalMs?: number;
  /** Called when the worker failed and the automatic checkpoint was turned back on. */
  onFailure?: (message: string) => void;
}

export class BackgroundCheckpointer {
  /** Checkpoints that copied frames (for tests and diagnostics). */
  checkpoints = 0;
  /** The worker's failure, when it had one (the automatic checkpoint is then back on). */
  failure: string | null = null;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopping = false;

  constructor(
    private readonly db: Database.Database,
    file: string,
    options: CheckpointerOptions = {},
  ) {
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
    db.pragma('wal_autocheckpoint = 0');
    this.worker = new Worker(WORKER_URL, { workerData: { file, intervalMs: options.intervalMs ?? 200 } });
    this.worker.unref();
    const fail = (message: string) => {
      if (this.failure !== null || this.stopping) return;
      this.failure = message;
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
      options.onFailure?.(message);
    };
    this.worker.on('message', (m: { kind: string; message?: string }) => {
      if (m.kind === 'checkpoint') this.checkpoints++;
      else if (m.kind === 'error') fail(m.message ?? 'checkpoint failed');
    });
    this.worker.on('error', (err) => fail(err.message));
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        if (!this.stopping) fail(`checkpoint worker exited (code ${code})`);
        resolve();
      });
    });
  }

  /** Stops the worker and waits for it to close its connection (terminates it after 5 s). */
  async stop(): Promise<void> {
    if (this.stopping) return this.exited;
    this.stopping = true;
    this.worker.postMessage('stop');
    const timer = setTimeout(() => void this.worker.terminate(), STOP_TIMEOUT_MS);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
