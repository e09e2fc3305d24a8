/**
 * The PostgreSQL provisioning store against the shared contract, plus what only it does (migrations
 * racing at start, content chunks in the database). Needs PostgreSQL: SWITCHBOARD_TEST_DATABASE_URL
 * or scripts/pg-test-server.sh; skipped with the reason otherwise, a failure under CI.
 */
import { after, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import pg from 'pg';
import { findTestDatabase } from '../postgres/test-server.ts';
import { runFileContentContract, runProvisioningContract } from './contract.ts';
import { PgFileContentStore } from './pg-content.ts';
import { PG_PROVISIONING_MIGRATIONS } from './pg-migrations.ts';
import { openPostgresProvisioningStore, type PostgresProvisioningStore, type PostgresProvisioningStoreOptions } from './postgres.ts';
import type { ProvisioningStore } from './types.ts';

const db = await findTestDatabase();

if (db.kind === 'unavailable') {
  if (process.env.CI) {
    // CI provides PostgreSQL: a missing database there is a real failure.
    test('PostgreSQL provisioning store', () => assert.fail(db.reason));
  } else {
    test('PostgreSQL provisioning store', { skip: db.reason }, () => undefined);
  }
} else {
  const url = db.url;
  const schemas: string[] = [];
  let counter = 0;
  /** A schema no other run uses (several test runs may share the server). */
  const newSchema = () => {
    const schema = `sbp_${process.pid}_${Date.now().toString(36)}_${++counter}`;
    schemas.push(schema);
    return schema;
  };
  /** Each test file run hears only its own notifications. */
  const namespace = `provt_${randomBytes(4).toString('hex')}`;
  const open = (schema: string, options: PostgresProvisioningStoreOptions = {}) =>
    openPostgresProvisioningStore(url, { schema, createSchema: true, poolSize: 3, namespace, ...options });

  after(async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    } finally {
      await client.end().catch(() => undefined);
    }
  });

  runProvisioningContract('postgres', {
    open: () => open(newSchema()),
    openPeer: (store: ProvisioningStore) => open((store as PostgresProvisioningStore).schema),
    crossInstanceNotifications: true,
  });

  runFileContentContract('postgres', async () => {
    const store = await open(newSchema(), { notify: false });
    return { content: store.contentStore(), done: () => store.close() };
  });

  describe('PostgreSQL provisioning store specifics', () => {
    it('migrates once when several instances start at once', async () => {
      const schema = newSchema();
      const stores = await Promise.all([1, 2, 3].map(() => open(schema, { poolSize: 1, notify: false })));
      const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await client.connect();
      try {
        const { rows } = await client.query<{ version: number }>('SELECT version FROM prov_schema_migrations ORDER BY version');
        assert.deepEqual(rows.map((r) => r.version), PG_PROVISIONING_MIGRATIONS.map((m) => m.version));
        const made = await stores[0].createPreset({ name: 'p', enabled: true, weight: 0, precondition: {}, triggers: ['always'], desired: {} });
        assert.equal((await stores[2].getPreset(made.id))?.name, 'p');
      } finally {
        await client.end();
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('refuses a schema a newer Switchboard migrated, and keeps what it holds', async () => {
      const schema = newSchema();
      const first = await open(schema, { notify: false });
      const made = await first.createPreset({ name: 'kept', enabled: true, weight: 0, precondition: {}, triggers: ['always'], desired: {} });
      await first.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`INSERT INTO ${schema}.prov_schema_migrations (version, description) VALUES (999, 'future')`);
        await assert.rejects(open(schema, { notify: false }), (err: unknown) => (err as { code?: string }).code === 'invalid' && /prov schema version 999 is newer/.test((err as Error).message));
        await client.query(`DELETE FROM ${schema}.prov_schema_migrations WHERE version = 999`);
      } finally {
        await client.end();
      }
      const again = await open(schema, { notify: false });
      try {
        assert.equal((await again.getPreset(made.id))?.name, 'kept');
      } finally {
        await again.close();
      }
    });

    it('keeps content in chunks and reads a range from the chunks it covers', async () => {
      const schema = newSchema();
      const store = await open(schema, { notify: false });
      try {
        // small chunks so that a range spans several of them
        const content = new PgFileContentStore({ pool: (store as unknown as { pool: pg.Pool }).pool, chunkBytes: 10 });
        const bytes = Buffer.from('0123456789abcdefghijABCDEFGHIJ!');
        const sha = createHash('sha256').update(bytes).digest('hex');
        const pending = await content.write(Readable.from([bytes]));
        await pending.commit(sha);
        const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
        await client.connect();
        try {
          const { rows } = await client.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM prov_file_chunks WHERE sha256 = $1', [sha]);
          assert.equal(rows[0].n, 4);
          const tmp = await client.query("SELECT 1 FROM prov_file_chunks WHERE sha256 LIKE 'tmp:%'");
          assert.equal(tmp.rowCount, 0, 'no temporary chunks left');
        } finally {
          await client.end();
        }
        const parts: Buffer[] = [];
        for await (const c of content.open(sha, { start: 8, end: 21 })) parts.push(c as Buffer);
        assert.equal(Buffer.concat(parts).toString(), '89abcdefghijAB');
        // a record still naming the content keeps it
        await store.createFile({ name: 'x', fileType: '1 Firmware Upgrade Image', oui: null, productClass: null, version: null, size: bytes.length, sha256: sha, description: null, auth: { scheme: 'none', username: null, password: null } });
        await content.delete(sha);
        assert.equal(await content.has(sha), true);
      } finally {
        await store.close();
      }
    });
  });
}
