/**
 * Where the bytes of library files live, apart from their metadata (the provisioning store's
 * `prov_files`). Content is addressed by its SHA-256: two records of one image share the bytes, and
 * a record's bytes can never change behind its ETag.
 *
 * Two implementations:
 * - `FsFileContentStore` (here): `<dir>/<first two hex>/<sha256>`, by default `<dataDir>/files`.
 *   Right for one host (or hosts sharing a network file system).
 * - `PgFileContentStore` (pg-content.ts): chunks in the PostgreSQL database, so that every ACS
 *   instance on that database serves every file (issue #8).
 *
 * Writing is two-step so that a crash or a refused upload never leaves bytes under a content name:
 * `write` stores the stream in a pending area while the caller hashes and meters it, then the
 * caller either `commit`s it under the hash or `abort`s it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Inclusive byte range, as in an HTTP Range header. */
export interface ContentRange {
  start: number;
  end: number;
}

/** Bytes written by `FileContentStore.write`, not yet visible under a content name. */
export interface PendingContent {
  /**
   * Makes the bytes the content `sha256` (when that content is already stored, the existing bytes
   * are kept and these dropped). @throws on I/O or database failure.
   */
  commit(sha256: string): Promise<void>;
  /** Drops the bytes. Never throws. */
  abort(): Promise<void>;
}

export interface FileContentStore {
  /** `filesystem` or `postgres` (logs, health). */
  readonly kind: string;
  /**
   * Writes every byte of `source` to a pending area; rejects with the stream's error (e.g. the
   * caller's size limit) after dropping what was written.
   */
  write(source: Readable): Promise<PendingContent>;
  /** True when the content is stored. */
  has(sha256: string): Promise<boolean>;
  /**
   * A stream of the content (optionally an inclusive byte range); it errors when the content is
   * missing. Bytes are read as the consumer pulls them, never the whole content at once.
   */
  open(sha256: string, range?: ContentRange): Readable;
  /** Deletes the content (no error when absent). */
  delete(sha256: string): Promise<void>;
}

const SHA256_RE = /^[0-9a-f]{64}$/;

/** @throws Error for a malformed hash (so that a hash can never name a path outside the store). */
export function checkSha256(sha256: string): string {
  if (!SHA256_RE.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
  return sha256;
}

/** Content files under one directory (see the module comment). */
export class FsFileContentStore implements FileContentStore {
  readonly kind = 'filesystem';

  constructor(readonly dir: string) {}

  /** Path of a content file. @throws Error for a malformed hash. */
  contentPath(sha256: string): string {
    checkSha256(sha256);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async write(source: Readable): Promise<PendingContent> {
    await fsp.mkdir(join(this.dir, 'tmp'), { recursive: true, mode: 0o700 });
    const tmp = join(this.dir, 'tmp', `${randomBytes(8).toString('hex')}.part`);
    const drop = () => fsp.rm(tmp, { force: true }).catch(() => undefined);
    try {
      await pipeline(source, createWriteStream(tmp, { mode: 0o600 }));
    } catch (err) {
      await drop();
      throw err;
    }
    return {
      commit: async (sha256) => {
        const target = this.contentPath(sha256);
        await fsp.mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true, mode: 0o700 });
        // Same content already stored: keep the existing bytes.
        if (await this.has(sha256)) await drop();
        else await fsp.rename(tmp, target);
      },
      abort: drop,
    };
  }

  has(sha256: string): Promise<boolean> {
    return fsp.stat(this.contentPath(sha256)).then((s) => s.isFile(), () => false);
  }

  open(sha256: string, range?: ContentRange): Readable {
    return createReadStream(this.contentPath(sha256), range ? { start: range.start, end: range.end } : {});
  }

  async delete(sha256: string): Promise<void> {
    await fsp.rm(this.contentPath(sha256), { force: true });
  }
}
