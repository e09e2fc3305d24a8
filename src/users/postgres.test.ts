/**
 * The UserStore contract on PostgreSQL: each store a schema of its own (dropped at the end); a
 * sibling is another store (own pool) on the same schema, as another ACS instance would be.
 * Needs PostgreSQL (SWITCHBOARD_TEST_DATABASE_URL or scripts/pg-test-server.sh): skipped with the
 * reason when none can be had, a failure under CI.
 */
import { after } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { findTestDatabase } from '../store/postgres/test-server.ts';
import { CONTRACT_THROTTLE, loginThrottleContract, userStoreContract } from './contract.ts';
import { openPostgresUserStore, type PostgresUserStore } from './postgres.ts';

const db = await findTestDatabase();
const prefix = `users_${randomBytes(3).toString('hex')}`;
const schemas: string[] = [];
let last = '';

after(async () => {
  if (db.kind !== 'ready' || schemas.length === 0) return;
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
});

function url(): string {
  if (db.kind !== 'ready') throw new Error(db.reason);
  return db.url;
}

userStoreContract(
  'postgres',
  {
    async open() {
      last = `${prefix}_${schemas.length + 1}`;
      schemas.push(last);
      return openPostgresUserStore({ url: url(), schema: last, createSchema: true });
    },
    async openSibling() {
      return openPostgresUserStore({ url: url(), schema: last });
    },
  },
  // under CI a missing database is a failure: the suite runs and its first call throws the reason
  { skip: db.kind === 'unavailable' && !process.env.CI ? db.reason : false },
);

const throttleStores: PostgresUserStore[] = [];
after(async () => {
  for (const s of throttleStores) await s.close();
});
let throttleSchema = '';

loginThrottleContract(
  'postgres',
  {
    async open() {
      throttleSchema = `${prefix}_t${schemas.length + 1}`;
      schemas.push(throttleSchema);
      const s = await openPostgresUserStore({ url: url(), schema: throttleSchema, createSchema: true });
      throttleStores.push(s);
      return s.loginThrottle(CONTRACT_THROTTLE);
    },
    async openSibling() {
      const s = await openPostgresUserStore({ url: url(), schema: throttleSchema });
      throttleStores.push(s);
      return s.loginThrottle(CONTRACT_THROTTLE);
    },
  },
  { skip: db.kind === 'unavailable' && !process.env.CI ? db.reason : false },
);
