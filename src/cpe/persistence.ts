/**
 * Durable storage of a CPE's state in its state directory.
 *
 * A real device keeps its configuration in flash and must not lose a change it has acknowledged to
 * the ACS. The agent therefore saves its state BEFORE it answers an RPC that changed it, and a save
 * is atomic: the JSON is written to a temporary file, fsync'ed, renamed over `state.json`, and the
 * directory is fsync'ed so the rename itself is durable. A SIGKILL at any point leaves either the
 * old or the new state on disk, never a torn file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Where a CPE keeps its state; the fleet uses an in-memory store. */
export interface StateStore<T> {
  /** Returns the saved state, or null if nothing was saved yet. Throws StateStoreError if the file is unreadable. */
  load(): T | null;
  /** Saves the state durably (atomic replace). Throws on I/O errors. */
  save(state: T): void;
}

export class StateStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StateStoreError';
  }
}

export const STATE_FILE_NAME = 'state.json';

/** A StateStore writing `<dir>/state.json` atomically. */
export class FileStateStore<T> implements StateStore<T> {
  readonly file: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, STATE_FILE_NAME);
  }

  load(): T | null {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new StateStoreError(`cannot read ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new StateStoreError(`${this.file} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
  }

  save(state: T): void {
    writeFileAtomic(this.file, JSON.stringify(state));
  }
}

/** A StateStore in memory (fleets, tests). Stores the JSON text, so the state is copied like on disk. */
export class MemoryStateStore<T> implements StateStore<T> {
  private text: string | null = null;
  saves = 0;

  load(): T | null {
    return this.text === null ? null : (JSON.parse(this.text) as T);
  }

  save(state: T): void {
    this.text = JSON.stringify(state);
    this.saves++;
  }
}

/** A StateStore that keeps nothing (fleet devices without persistence). */
export class NullStateStore<T> implements StateStore<T> {
  load(): T | null {
    return null;
  }
  save(_state: T): void {
    /* nothing to keep */
  }
}

let tmpCounter = 0;

/**
 * Writes `data` to `file` atomically and durably: temp file + fsync + rename + directory fsync.
 * Throws the underlying I/O error (the old file is then untouched).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.${tmpCounter++}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* the temp file may not exist */
    }
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  const dirFd = openSync(join(file, '..'), 'r');
  try {
    fsyncSync(dirFd);
  } catch {
    // Some file systems do not allow fsync on a directory; the rename is still atomic there.
  } finally {
    closeSync(dirFd);
  }
}
