import { after, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import pg from 'pg';
import { runStoreContract } from './contract.ts';
import { openPostgresStore, type PostgresStore, type PostgresStoreOptions } from './postgres/index.ts';
import { buildPgDeviceQuery } from './postgres/device-query.ts';
import { PG_MIGRATIONS } from './postgres/migrations.ts';
import { parseTimestamptz } from './postgres/sql.ts';
import { findTestDatabase } from './postgres/test-server.ts';
import { numericOrNull } from './sqlite/device-query.ts';
import { StoreError, makeDeviceId, type DeviceQuery, type SessionCommit } from './types.ts';

const db = await findTestDatabase();

if (db.kind === 'unavailable') {
  if (process.env.CI) {
    // CI installs and starts PostgreSQL (.ci/run): a missing database there is a real failure.
    test('PostgreSQL store', () => assert.fail(db.reason));
  } else {
    test('PostgreSQL store', { skip: db.reason }, () => undefined);
  }
} else {
  const url = db.url;
  const schemas: string[] = [];
  let counter = 0;
  /** A schema name no other run uses (several test runs may share the server). */
  const newSchema = () => {
    const schema = `sbt_${process.pid}_${Date.now().toString(36)}_${++counter}`;
    schemas.push(schema);
    return schema;
  };
  const freshStore = (options: PostgresStoreOptions = {}) =>
    openPostgresStore(url, { schema: newSchema(), createSchema: true, poolSize: 4, ...options });

  /** A raw connection into `schema`, for looking under the store. */
  async function raw(schema: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await client.connect();
    return client;
  }

  after(async () => {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    } finally {
      await client.end().catch(() => undefined);
      db.stop();
    }
  });

  runStoreContract('postgres', () => freshStore());

  const T0 = '2025-01-01T00:00:00.000Z';
  const inform = (serial: string, at: string, extra: Partial<SessionCommit> = {}): SessionCommit => {
    const identity = { manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: serial };
    return { at, device: { id: makeDeviceId(identity), ...identity, lastContact: at }, ...extra };
  };
  const isStoreError = (code: StoreError['code']) => (err: unknown) => err instanceof StoreError && err.code === code;

  describe('PostgreSQL backend specifics', () => {
    it('placeholder', async () => {
      const s = await freshStore();
      await s.close();
    });
  });
  void [spawn, createServer, fileURLToPath, fc, buildPgDeviceQuery, PG_MIGRATIONS, parseTimestamptz, numericOrNull, raw, T0, inform, isStoreError];
  void (undefined as unknown as PostgresStore | DeviceQuery);
}
