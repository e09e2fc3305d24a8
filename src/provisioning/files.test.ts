/**
 * FileLibrary over each content store: the filesystem (one host) and PostgreSQL (several hosts;
 * skipped with the reason when no PostgreSQL can be had, a failure under CI).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pg from 'pg';
import { buildFirmwareImage } from '../cpe/firmware.ts';
import { findTestDatabase } from '../store/postgres/test-server.ts';
import { FsFileContentStore } from '../store/provisioning/file-content.ts';
import { openPostgresProvisioningStore } from '../store/provisioning/postgres.ts';
import { openSqliteProvisioningStore } from '../store/provisioning/sqlite.ts';
import type { ProvisioningStore } from '../store/provisioning/types.ts';
import { FIRMWARE_FILE_TYPE, FileLibrary, FileUploadError } from './files.ts';

const MAX_BYTES = 64 * 1024;

async function drain(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

interface LibraryUnderTest {
  library: FileLibrary;
  store: ProvisioningStore;
  /** Content entries visible in the backend (files on disk, rows in the database). */
  contentCount(): Promise<number>;
  close(): Promise<void>;
}

function runLibraryTests(name: string, make: () => Promise<LibraryUnderTest>): void {
  describe(`FileLibrary on ${name}`, () => {
    it('stores uploads once per content, reads firmware headers, and refuses empty or too large uploads', async () => {
      const t = await make();
      try {
        const image = buildFirmwareImage({ model: 'HT502', version: '1.0.10.0', payload: randomBytes(20_000) });
        const a = await t.library.add(Readable.from([image.subarray(0, 100), image.subarray(100)]), { name: 'fw.bin', fileType: FIRMWARE_FILE_TYPE });
        assert.deepEqual([a.productClass, a.version, a.size, a.sha256], ['HT502', '1.0.10.0', image.length, createHash('sha256').update(image).digest('hex')]);
        const b = await t.library.add(image, { name: 'copy.bin', fileType: FIRMWARE_FILE_TYPE, version: '9' });
        assert.equal(b.version, '9', 'given metadata wins over the header');
        assert.equal(await t.contentCount(), 1, 'one content for two records');
        assert.ok((await drain(t.library.open(a, { start: 5, end: 9 }))).equals(image.subarray(5, 10)));

        await assert.rejects(t.library.add(Buffer.alloc(0), { name: 'e', fileType: FIRMWARE_FILE_TYPE }), (e: unknown) => e instanceof FileUploadError && e.code === 'empty');
        const big = Readable.from([randomBytes(MAX_BYTES), randomBytes(10)]);
        await assert.rejects(t.library.add(big, { name: 'big', fileType: FIRMWARE_FILE_TYPE }), (e: unknown) => e instanceof FileUploadError && e.code === 'too_large');
        assert.equal(await t.contentCount(), 1, 'refused uploads leave nothing');
        assert.equal((await t.store.listFiles({})).items.length, 2);

        // content goes with its last record
        assert.equal(await t.library.remove(a.id), true);
        assert.equal(await t.library.hasContent(b), true);
        assert.equal(await t.library.remove(b.id), true);
        assert.equal(await t.library.hasContent(b), false);
        assert.equal(await t.contentCount(), 0);
        assert.equal(await t.library.remove(b.id), false);
      } finally {
        await t.close();
      }
    });
  });
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

runLibraryTests('the filesystem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-files-'));
  dirs.push(dir);
  const store = openSqliteProvisioningStore({ file: ':memory:' });
  const content = new FsFileContentStore(join(dir, 'files'));
  const library = new FileLibrary({ store, content, maxBytes: MAX_BYTES });
  const count = () => Promise.resolve(readdirSync(content.dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length);
  return Promise.resolve({ library, store, contentCount: count, close: () => store.close() });
});

const db = await findTestDatabase();
if (db.kind === 'unavailable') {
  describe('FileLibrary on PostgreSQL', () => {
    it('needs PostgreSQL', { skip: process.env.CI ? false : db.reason }, () => assert.fail(db.reason));
  });
} else {
  const schemas: string[] = [];
  after(async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => undefined);
    await client.end();
  });
  runLibraryTests('PostgreSQL', async () => {
    const schema = `sbf_${process.pid}_${randomBytes(3).toString('hex')}`;
    schemas.push(schema);
    const store = await openPostgresProvisioningStore(db.url, { schema, createSchema: true, poolSize: 2, notify: false });
    const library = new FileLibrary({ store, content: store.contentStore(), maxBytes: MAX_BYTES });
    const raw = new pg.Client({ connectionString: db.url, options: `-c search_path=${schema}` });
    await raw.connect();
    // contents, plus chunk rows of no content (what a failed upload could leave behind)
    const count = async () =>
      (
        await raw.query<{ n: number }>(
          'SELECT ((SELECT COUNT(*) FROM prov_file_contents) + (SELECT COUNT(*) FROM prov_file_chunks WHERE sha256 NOT IN (SELECT sha256 FROM prov_file_contents)))::int AS n',
        )
      ).rows[0].n;
    return {
      library,
      store,
      contentCount: count,
      close: async () => {
        await raw.end();
        await store.close();
      },
    };
  });
}
