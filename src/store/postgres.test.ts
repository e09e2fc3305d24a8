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
    it('migrates once when several processes start at once, and reopens without migrating', async () => {
      const schema = newSchema();
      // Separate pools = separate server sessions, as separate ACS processes would be.
      const stores = await Promise.all([1, 2, 3, 4].map(() => openPostgresStore(url, { schema, createSchema: true, poolSize: 1 })));
      const client = await raw(schema);
      try {
        const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(rows.map((r) => r.version), PG_MIGRATIONS.map((m) => m.version));
        await stores[0].commitSession(inform('M1', T0));
        assert.equal((await stores[3].getDevice('000B82-HT502-M1'))?.serialNumber, 'M1');
      } finally {
        await client.end();
        await Promise.all(stores.map((s) => s.close()));
      }
      const again = await openPostgresStore(url, { schema });
      assert.equal((await again.getDevice('000B82-HT502-M1'))?.firstContact, T0);
      await again.close();
    });

    it('refuses a database whose schema is newer than the code', async () => {
      const store = await freshStore();
      await store.close();
      const client = await raw(store.schema);
      await client.query("INSERT INTO schema_migrations (version, description) VALUES (999, 'future')");
      await client.end();
      await assert.rejects(openPostgresStore(url, { schema: store.schema }), (err: unknown) => isStoreError('invalid')(err) && /newer than this Switchboard/.test((err as Error).message));
    });

    it('refuses a schema that does not exist unless asked to create it', async () => {
      await assert.rejects(openPostgresStore(url, { schema: `sbt_missing_${process.pid}` }), (err: unknown) => isStoreError('invalid')(err) && /does not exist/.test((err as Error).message));
    });

    it('judges lock expiry by the injected clock when one is given', async () => {
      let now = Date.parse('2030-01-01T00:00:00.000Z');
      const store = await freshStore({ now: () => now });
      try {
        assert.deepEqual(await store.acquireSessionLock('dev', 'a', 1000), { acquired: true });
        const busy = await store.acquireSessionLock('dev', 'b', 1000);
        assert.deepEqual(busy, { acquired: false, holder: 'a', expiresAt: '2030-01-01T00:00:01.000Z' });
        now += 999;
        assert.equal(await store.refreshSessionLock('dev', 'a', 1000), true);
        now += 1001;
        assert.equal(await store.refreshSessionLock('dev', 'a', 1000), false);
        assert.deepEqual(await store.acquireSessionLock('dev', 'b', 1000), { acquired: true });
      } finally {
        await store.close();
      }
    });

    it('rejects with unavailable when no server answers, and names the store without its password', async () => {
      const port = await new Promise<number>((resolve) => {
        const srv = createServer();
        srv.listen(0, '127.0.0.1', () => {
          const p = (srv.address() as { port: number }).port;
          srv.close(() => resolve(p));
        });
      });
      await assert.rejects(openPostgresStore(`postgres://u:pw@127.0.0.1:${port}/x`, { connectTimeoutMs: 2000 }), isStoreError('unavailable'));
      const store = await freshStore();
      assert.match(store.name, /^postgres:postgres:\/\//);
      assert.equal(store.name.includes('pw@'), false);
      await store.close();
    });

    it('uses the indexes for parameter equality, prefix, numeric and text comparisons, tags and last contact', async () => {
      const store = await freshStore();
      await store.close();
      const client = await raw(store.schema);
      try {
        // Empty tables: forbid sequential scans so the plan shows whether an index CAN serve the query.
        await client.query('SET enable_seqscan = off');
        const plan = async (q: DeviceQuery) => {
          const built = buildPgDeviceQuery(q);
          const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${built.countSql}`, built.countParams);
          return rows.map((r) => r['QUERY PLAN']).join('\n');
        };
        const name = 'Device.DeviceInfo.ProvisioningCode';
        assert.match(await plan({ parameters: [{ name, op: 'eq', value: 'x' }] }), /parameters_name_value/);
        assert.match(await plan({ parameters: [{ name, op: 'prefix', value: 'site-' }] }), /parameters_name_value/);
        assert.match(await plan({ parameters: [{ name, op: 'lt', value: 'm' }] }), /parameters_name_value/);
        assert.match(await plan({ parameters: [{ name, op: 'gte', value: 10 }] }), /parameters_name_number/);
        assert.match(await plan({ tags: ['lab'] }), /devices_tags/);
        assert.match(await plan({ lastContactAfter: T0 }), /devices_last_contact/);
      } finally {
        await client.end();
      }
    });

    it('stores and finds parameter values longer than the indexed part', async () => {
      const store = await freshStore();
      try {
        const long = 'x'.repeat(300) + 'A'.repeat(10_000);
        const longB = 'x'.repeat(300) + 'B'.repeat(10_000);
        await store.commitSession(inform('L1', T0, { parameters: [{ name: 'Device.Cert', value: long }] }));
        await store.commitSession(inform('L2', T0, { parameters: [{ name: 'Device.Cert', value: longB }] }));
        const serials = async (q: DeviceQuery) => (await store.queryDevices({ ...q, sort: { field: 'serialNumber', direction: 'asc' } })).devices.map((d) => d.serialNumber);
        assert.deepEqual(await serials({ parameters: [{ name: 'Device.Cert', op: 'eq', value: long }] }), ['L1']);
        assert.deepEqual(await serials({ parameters: [{ name: 'Device.Cert', op: 'prefix', value: 'x'.repeat(300) + 'B' }] }), ['L2']);
        assert.deepEqual(await serials({ parameters: [{ name: 'Device.Cert', op: 'prefix', value: 'x'.repeat(299) }] }), ['L1', 'L2']);
        assert.deepEqual(await serials({ parameters: [{ name: 'Device.Cert', op: 'lt', value: longB }] }), ['L1']);
        assert.deepEqual(await serials({ parameters: [{ name: 'Device.Cert', op: 'gte', value: long }] }), ['L1', 'L2']);
        assert.equal((await store.getParameters('000B82-HT502-L1'))[0].value, long);
      } finally {
        await store.close();
      }
    });

    it('sb_num() decides "is a number" exactly as the SQLite backend does', async () => {
      const store = await freshStore();
      await store.close();
      const client = await raw(store.schema);
      try {
        const numberish = fc.oneof(
          fc.double({ noNaN: true }).map(String),
          fc.integer().map(String),
          fc.stringMatching(/^[ \t]?[+-]?[0-9]{0,4}\.?[0-9]{0,3}([eE][+-]?[0-9]{1,3})?[ \t]?$/),
          fc.constantFrom('1e400', '-1e400', '1e-400', '0x10', 'Infinity', 'NaN', '', ' ', '.', '1.', '.5', '+', '1e', '١٢', '1_000', '0e0', '00012'),
          fc.string({ maxLength: 6 }),
          fc.constant(null),
        );
        await fc.assert(
          fc.asyncProperty(fc.array(numberish, { minLength: 1, maxLength: 40 }), async (values) => {
            const { rows } = await client.query<{ n: number | null }>('SELECT sb_num(v) AS n FROM unnest($1::text[]) WITH ORDINALITY AS u(v, i) ORDER BY i', [values]);
            rows.forEach((r, i) => {
              const expected = numericOrNull(values[i]);
              assert.equal(r.n === null ? null : Number(r.n), expected === null ? null : expected === 0 ? 0 : expected, `sb_num(${JSON.stringify(values[i])})`);
            });
          }),
          { numRuns: 60 },
        );
      } finally {
        await client.end();
      }
    });

    it('sorts text by code point whatever the database collation', async () => {
      const store = await freshStore();
      try {
        for (const [serial, sw] of [['C1', 'b'], ['C2', 'B'], ['C3', 'a'], ['C4', '-a']] as const) {
          await store.commitSession({ ...inform(serial, T0), device: { ...inform(serial, T0).device, softwareVersion: sw } });
        }
        const page = await store.queryDevices({ sort: { field: 'softwareVersion', direction: 'asc' } });
        assert.deepEqual(page.devices.map((d) => d.softwareVersion), ['-a', 'B', 'a', 'b']);
      } finally {
        await store.close();
      }
    });

    it('takes ISO timestamps with any offset, answers them in UTC, and refuses non-timestamps', async () => {
      const store = await freshStore();
      try {
        await store.commitSession(inform('Z1', '2025-03-01T01:30:00.250+01:30'));
        assert.equal((await store.getDevice('000B82-HT502-Z1'))?.lastContact, '2025-03-01T00:00:00.250Z');
        await assert.rejects(store.commitSession(inform('Z1', 'yesterday')), isStoreError('invalid'));
        await assert.rejects(store.queryDevices({ lastContactAfter: 'now' }), isStoreError('invalid'));
        assert.equal(parseTimestamptz('2025-01-31 23:59:59.123456+00'), '2025-01-31T23:59:59.123Z');
        assert.equal(parseTimestamptz('2025-01-31 23:59:59-05:30'), '2025-02-01T05:29:59.000Z');
        assert.equal(parseTimestamptz('infinity'), 'infinity');
      } finally {
        await store.close();
      }
    });

    it('answers a value PostgreSQL cannot hold (NUL byte) with invalid and keeps the stored data', async () => {
      const store = await freshStore();
      try {
        const id = '000B82-HT502-N1';
        await store.commitSession(inform('N1', T0, { parameters: [{ name: 'Device.L.1.X', value: 'ok' }] }));
        const later = '2025-06-01T00:00:00.000Z';
        // One-statement path (no deletes) and transaction path (with deletes): both all or nothing.
        await assert.rejects(store.commitSession(inform('N1', later, { parameters: [{ name: 'Device.L.1.X', value: 'a\u0000b' }] })), isStoreError('invalid'));
        await assert.rejects(store.commitSession(inform('N1', later, {
          parameterDeletes: [{ prefix: 'Device.L.' }],
          session: { deviceId: id, startedAt: later, endedAt: null, events: [], remoteAddress: null, cwmpVersion: null, outcome: 'completed', rpcCount: 0, detail: 'nul \u0000' },
        })), isStoreError('invalid'));
        assert.equal((await store.getParameters(id))[0].value, 'ok');
        assert.equal((await store.getDevice(id))?.lastContact, T0);
        assert.equal((await store.listSessions({ deviceId: id })).sessions.length, 0);
      } finally {
        await store.close();
      }
    });

    it('merges several writes of one parameter in a commit as if applied in order', async () => {
      const store = await freshStore();
      try {
        await store.commitSession(inform('W1', T0, {
          parameters: [
            { name: 'Device.P', value: '1', type: 'int' },
            { name: 'Device.P', writable: true },
            { name: 'Device.P', value: '2', accessList: ['Subscriber', 'x'] },
          ],
        }));
        const [p] = await store.getParameters('000B82-HT502-W1');
        assert.deepEqual({ value: p.value, type: p.type, writable: p.writable, accessList: p.accessList }, { value: '2', type: 'int', writable: true, accessList: ['Subscriber', 'x'] });
      } finally {
        await store.close();
      }
    });

    it('applies repeated updates of one task in a commit in order, and keeps the order of faults', async () => {
      const store = await freshStore();
      try {
        const id = '000B82-HT502-T1';
        await store.commitSession(inform('T1', T0));
        const task = await store.createTask({ deviceId: id, payload: { type: 'reboot' } });
        await store.commitSession(inform('T1', T0, {
          taskUpdates: [{ id: task.id, status: 'running', attempts: 1 }, { id: task.id, status: 'done', result: ['ok', 1] }, { id: 'not-a-task', status: 'done' }],
          faults: ['9001', '9002', '9003'].map((code) => ({ deviceId: id, taskId: task.id, source: 'cpe' as const, code, message: code, detail: { code }, at: T0 })),
        }));
        const t = await store.getTask(task.id);
        assert.deepEqual({ status: t?.status, attempts: t?.attempts, result: t?.result }, { status: 'done', attempts: 1, result: ['ok', 1] });
        assert.deepEqual((await store.listFaults({ deviceId: id })).faults.map((f) => [f.code, f.detail]), [['9003', { code: '9003' }], ['9002', { code: '9002' }], ['9001', { code: '9001' }]]);
      } finally {
        await store.close();
      }
    });

    it('commits many sessions concurrently through the pool', async () => {
      const store = await freshStore({ poolSize: 6 });
      try {
        const serials = Array.from({ length: 60 }, (_, i) => `K${i}`);
        const results = await Promise.all(serials.map((s) => store.commitSession(inform(s, T0, { parameters: [{ name: 'Device.N', value: s }] }))));
        assert.equal(results.filter((r) => r.created).length, 60);
        assert.equal(await store.countDevices({}), 60);
        assert.equal(await store.countDevices({ parameters: [{ name: 'Device.N', op: 'prefix', value: 'K1' }] }), 11);
      } finally {
        await store.close();
      }
    });

    it('session lock: exactly one of two processes racing for it wins', async () => {
      const a = await freshStore();
      const b = await openPostgresStore(url, { schema: a.schema, poolSize: 2 });
      try {
        for (let i = 0; i < 20; i++) {
          const [ra, rb] = await Promise.all([a.acquireSessionLock(`d${i}`, 'a', 10_000), b.acquireSessionLock(`d${i}`, 'b', 10_000)]);
          assert.equal(Number(ra.acquired) + Number(rb.acquired), 1, `round ${i}`);
          const loser = ra.acquired ? rb : ra;
          if (!loser.acquired) assert.equal(loser.holder, ra.acquired ? 'a' : 'b');
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('session lock: held across processes, and expires after its holder is killed with SIGKILL', async () => {
      const store = await freshStore();
      const holderScript = fileURLToPath(new URL('./postgres/test-lock-holder.ts', import.meta.url));
      const ttlMs = 2500;
      const child = spawn(process.execPath, ['--import', 'tsx', holderScript, url, store.schema, 'dev-k', 'child', String(ttlMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const line = await new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout!.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('\n')) resolve(out.trim());
          });
          child.on('exit', (code) => reject(new Error(`holder exited with ${code} (${out})`)));
        });
        assert.equal(line, 'locked');
        const killedAt = Date.now();
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const busy = await store.acquireSessionLock('dev-k', 'parent', 10_000);
        assert.equal(busy.acquired, false);
        if (!busy.acquired) {
          assert.equal(busy.holder, 'child');
          assert.ok(Date.parse(busy.expiresAt) > killedAt);
        }
        // The killed holder's lock vanishes once its ttl has passed.
        await new Promise((r) => setTimeout(r, Math.max(0, (busy.acquired ? 0 : Date.parse(busy.expiresAt)) - Date.now() + 100)));
        assert.deepEqual(await store.acquireSessionLock('dev-k', 'parent', 10_000), { acquired: true });
      } finally {
        child.kill('SIGKILL');
        await store.close();
      }
    });

    it('survives the server dropping its pooled connections', async () => {
      let idleErrors = 0;
      const store = await freshStore({ applicationName: `sb-drop-${process.pid}`, onIdleError: () => idleErrors++ });
      try {
        await store.commitSession(inform('R1', T0));
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [`sb-drop-${process.pid}`]);
        await admin.end();
        assert.ok((rowCount ?? 0) >= 1);
        // Give the pool a moment to notice; a query on a dead connection may still fail once, typed.
        await new Promise((r) => setTimeout(r, 200));
        let device = null;
        for (let i = 0; i < 3 && device === null; i++) {
          device = await store.getDevice('000B82-HT502-R1').catch((err: unknown) => {
            assert.ok(isStoreError('unavailable')(err), String(err));
            return null;
          });
        }
        assert.equal(device?.serialNumber, 'R1');
        assert.ok(idleErrors >= 1);
      } finally {
        await store.close();
      }
    });

    it('keeps working when another process adds columns (rolling upgrade) after statements were prepared', async () => {
      const store = await freshStore({ poolSize: 1 });
      try {
        await store.commitSession(inform('U1', T0));
        const task = await store.createTask({ deviceId: '000B82-HT502-U1', payload: { type: 'reboot' } });
        assert.ok(await store.getDevice('000B82-HT502-U1'));
        const client = await raw(store.schema);
        await client.query('ALTER TABLE devices ADD COLUMN future_field text; ALTER TABLE tasks ADD COLUMN future_field text');
        await client.end();
        assert.equal((await store.getDevice('000B82-HT502-U1'))?.serialNumber, 'U1');
        assert.equal((await store.tasksToRun('000B82-HT502-U1'))[0].id, task.id);
        assert.equal((await store.queryDevices({})).devices.length, 1);
      } finally {
        await store.close();
      }
    });

    it('deleteDevice() leaves nothing of the device in any table', async () => {
      const store: PostgresStore = await freshStore();
      try {
        await store.commitSession(inform('D1', T0, { parameters: [{ name: 'Device.X', value: '1' }] }));
        await store.acquireSessionLock('000B82-HT502-D1', 'o', 60_000);
        assert.equal(await store.deleteDevice('000B82-HT502-D1'), true);
        const client = await raw(store.schema);
        try {
          for (const table of ['devices', 'parameters', 'tasks', 'sessions', 'faults', 'session_locks']) {
            const col = table === 'devices' ? 'id' : 'device_id';
            const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${col} = $1`, ['000B82-HT502-D1']);
            assert.equal(rows[0].n, '0', table);
          }
        } finally {
          await client.end();
        }
      } finally {
        await store.close();
      }
    });
  });
}
