/**
 * File content in PostgreSQL (`prov_file_contents` + `prov_file_chunks`, see pg-migrations.ts), so
 * that any ACS instance on the database serves any file.
 *
 * - Bytes are cut into fixed chunks (`chunk_bytes`, 256 KiB) stored as bytea. A read fetches a few
 *   chunks per query as the consumer pulls (backpressure), and a byte range reads only the chunks
 *   it covers: an image is never buffered whole.
 * - An upload runs in ONE transaction: its chunks are inserted under a temporary key while the
 *   caller hashes, then renamed to the hash and the content row inserted at commit. A crash or a
 *   refused upload rolls back, leaving nothing. The transaction lasts as long as the upload (minutes
 *   on a slow link), so it runs on a connection of its own (`connectWriter`), never one of the
 *   pool that CWMP sessions need. Two instances committing the same content at once:
 *   the second one's rename hits the primary key, and its bytes are dropped (the content exists).
 * - Deleting content is refused by the statement itself while a file record still names it, so an
 *   instance adding a record for the same content at that moment keeps its bytes.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { toStoreError } from '../postgres/sql.ts';
import { StoreError } from '../types.ts';
import { checkSha256, type ContentRange, type FileContentStore, type PendingContent } from './file-content.ts';

/** Bytes per chunk row: big enough for few rows per image, small enough for cheap range reads. */
export const CONTENT_CHUNK_BYTES = 256 * 1024;
/** Chunks fetched per query while streaming (1 MiB). */
const READ_BATCH_CHUNKS = 4;
const UNIQUE_VIOLATION = '23505';

/** A connection for one upload, and how to give it back (`err`: it is broken, drop it). */
export interface WriterConnection {
  client: pg.ClientBase;
  release(err?: Error): void;
}

export interface PgFileContentStoreOptions {
  /** Reads (short queries). */
  pool: pg.Pool;
  /** A connection for one upload's transaction (default: one from `pool`). */
  connectWriter?: () => Promise<WriterConnection>;
  now?: () => number;
  /** True once the owning store is closed (calls then fail with `unavailable`). */
  isClosed?: () => boolean;
  /** Chunk size of new content (tests use small ones). */
  chunkBytes?: number;
}

/** See the module comment. */
export class PgFileContentStore implements FileContentStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly connectWriter: () => Promise<WriterConnection>;
  private readonly now: () => number;
  private readonly isClosed: () => boolean;
  private readonly chunkBytes: number;

  constructor(options: PgFileContentStoreOptions) {
    this.pool = options.pool;
    this.connectWriter =
      options.connectWriter ??
      (async () => {
        const client = await this.pool.connect();
        return { client, release: (err) => client.release(err) };
      });
    this.now = options.now ?? Date.now;
    this.isClosed = options.isClosed ?? (() => false);
    this.chunkBytes = options.chunkBytes ?? CONTENT_CHUNK_BYTES;
  }

  private checkOpen(): void {
    if (this.isClosed()) throw new StoreError('unavailable', 'the provisioning store is closed');
  }

  async write(source: Readable): Promise<PendingContent> {
    this.checkOpen();
    const writer = await this.connectWriter().catch((err: unknown) => Promise.reject(toStoreError(err)));
    const client = writer.client;
    const tmpKey = `tmp:${randomBytes(12).toString('hex')}`;
    let size = 0;
    let finished = false;
    const release = async (sql: 'COMMIT' | 'ROLLBACK') => {
      if (finished) return;
      finished = true;
      let broken: Error | undefined;
      try {
        await client.query(sql);
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
        if (sql === 'COMMIT') {
          writer.release(broken);
          throw err;
        }
      }
      writer.release(broken);
    };
    const abort = () => release('ROLLBACK').catch(() => undefined);
    try {
      await client.query('BEGIN');
      let seq = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (all: boolean) => {
        while (pendingBytes >= this.chunkBytes || (all && pendingBytes > 0)) {
          const joined = Buffer.concat(pending);
          const data = joined.subarray(0, this.chunkBytes);
          const rest = joined.subarray(data.length);
          await client.query('INSERT INTO prov_file_chunks (sha256, seq, data) VALUES ($1, $2, $3)', [tmpKey, seq++, data]);
          size += data.length;
          pending = rest.length > 0 ? [rest] : [];
          pendingBytes = rest.length;
        }
      };
      for await (const chunk of source) {
        const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        pending.push(buf);
        pendingBytes += buf.length;
        if (pendingBytes >= this.chunkBytes) await flush(false);
      }
      await flush(true);
    } catch (err) {
      await abort();
      throw toStoreError(err);
    }
    return {
      commit: async (sha256) => {
        checkSha256(sha256);
        try {
          const exists = await client.query('SELECT 1 FROM prov_file_contents WHERE sha256 = $1', [sha256]);
          if (exists.rowCount) {
            await abort();
            return;
          }
          await client.query('UPDATE prov_file_chunks SET sha256 = $1 WHERE sha256 = $2', [sha256, tmpKey]);
          await client.query('INSERT INTO prov_file_contents (sha256, size, chunk_bytes, created_at) VALUES ($1, $2, $3, $4)', [
            sha256,
            size,
            this.chunkBytes,
            new Date(this.now()).toISOString(),
          ]);
          await release('COMMIT');
        } catch (err) {
          await abort();
          // Another instance committed the same content first: it is stored, which is all we want.
          if ((err as { code?: string }).code === UNIQUE_VIOLATION) return;
          throw toStoreError(err);
        }
      },
      abort,
    };
  }

  async has(sha256: string): Promise<boolean> {
    this.checkOpen();
    try {
      const r = await this.pool.query('SELECT 1 FROM prov_file_contents WHERE sha256 = $1', [checkSha256(sha256)]);
      return (r.rowCount ?? 0) > 0;
    } catch (err) {
      throw toStoreError(err);
    }
  }

  open(sha256: string, range?: ContentRange): Readable {
    return Readable.from(this.chunks(sha256, range), { objectMode: false });
  }

  /** The content's bytes in order, a few chunk rows per query. @throws Error when the content is missing. */
  private async *chunks(sha256: string, range?: ContentRange): AsyncGenerator<Buffer> {
    this.checkOpen();
    checkSha256(sha256);
    const head = await this.pool.query<{ size: string; chunk_bytes: number }>('SELECT size, chunk_bytes FROM prov_file_contents WHERE sha256 = $1', [sha256]);
    if (head.rows.length === 0) throw new Error(`file content ${sha256} is not stored`);
    const size = Number(head.rows[0].size);
    const chunkBytes = head.rows[0].chunk_bytes;
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? size - 1, size - 1);
    if (size === 0 || start > end) return;
    const lastSeq = Math.floor(end / chunkBytes);
    for (let seq = Math.floor(start / chunkBytes); seq <= lastSeq; seq += READ_BATCH_CHUNKS) {
      this.checkOpen();
      const batch = await this.pool.query<{ seq: number; data: Buffer }>(
        'SELECT seq, data FROM prov_file_chunks WHERE sha256 = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq',
        [sha256, seq, Math.min(seq + READ_BATCH_CHUNKS - 1, lastSeq)],
      );
      for (const row of batch.rows) {
        const offset = row.seq * chunkBytes;
        const from = Math.max(0, start - offset);
        const to = Math.min(row.data.length, end - offset + 1);
        if (to > from) yield row.data.subarray(from, to);
      }
    }
  }

  async delete(sha256: string): Promise<void> {
    this.checkOpen();
    try {
      await this.pool.query(
        `WITH gone AS (
           DELETE FROM prov_file_contents c WHERE c.sha256 = $1 AND NOT EXISTS (SELECT 1 FROM prov_files f WHERE f.sha256 = $1) RETURNING c.sha256
         )
         DELETE FROM prov_file_chunks WHERE sha256 IN (SELECT sha256 FROM gone)`,
        [checkSha256(sha256)],
      );
    } catch (err) {
      throw toStoreError(err);
    }
  }
}
