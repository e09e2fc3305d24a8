import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { runStoreContract } from './contract.ts';
import { StoreError, type SessionCommit } from './types.ts';
import { openSqliteStore, SQLITE_FILE_NAME } from './sqlite/index.ts';
import { MIGRATIONS } from './sqlite/migrations.ts';

runStoreContract('sqlite (memory)', async () => openSqliteStore({ file: ':memory:' }));
runStoreContract('sqlite (memory, no group commit)', async () => openSqliteStore({ file: ':memory:', groupCommit: false }));

describe('SQLite backend specifics', () => {
  it('creates the data dir, uses WAL, and reopens a file with its data', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const dataDir = join(dir, 'nested', 'data');
      const s1 = openSqliteStore({ dataDir });
      await s1.commitSession({ at: '2025-01-01T00:00:00.000Z', device: { id: '000B82-HT502-A', manufacturer: 'G', oui: '000B82', productClass: 'HT502', serialNumber: 'A' } });
      await s1.close();
      assert.ok(statSync(join(dataDir, SQLITE_FILE_NAME)).isFile());
      const raw = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      const versions = raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[];
      assert.deepEqual(versions.map((v) => v.version), MIGRATIONS.map((m) => m.version));
      raw.close();
      const s2 = openSqliteStore({ dataDir });
      assert.equal((await s2.getDevice('000B82-HT502-A'))?.serialNumber, 'A');
      await s2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database whose schema is newer than the code', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const file = join(dir, 'x.sqlite');
      openSqliteStore({ file }).close();
      const raw = new Database(file);
      raw.prepare("INSERT INTO schema_migrations (version, description, applied_at) VALUES (999, 'future', 'now')").run();
      raw.close();
      assert.throws(() => openSqliteStore({ file }), /newer than this Switchboard/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses the (name, value) index for parameter equality searches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const file = join(dir, 'x.sqlite');
      openSqliteStore({ file }).close();
      const raw = new Database(file);
      const plan = raw.prepare("EXPLAIN QUERY PLAN SELECT device_id FROM parameters WHERE name = 'a' AND value = 'b'").all() as { detail: string }[];
      assert.match(plan.map((p) => p.detail).join('\n'), /parameters_name_value/);
      raw.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bounds the page cache at 64 MiB or the given size, and refuses a size that is not a whole number of MiB', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sqlite-'));
    try {
      const byDefault = openSqliteStore({ file: join(dir, 'a.sqlite') });
      assert.equal(byDefault.connection.pragma('cache_size', { simple: true }), -64 * 1024);
      await byDefault.close();
      const small = openSqliteStore({ file: join(dir, 'b.sqlite'), cacheMiB: 4 });
      assert.equal(small.connection.pragma('cache_size', { simple: true }), -4 * 1024);
      await small.commitSession({ at: '2025-01-01T00:00:00.000Z', device: { id: '000B82-HT502-A', manufacturer: 'G', oui: '000B82', productClass: 'HT502', serialNumber: 'A' } });
      await small.close();
      for (const cacheMiB of [0, 1.5, -2]) {
        assert.throws(() => openSqliteStore({ file: join(dir, 'b.sqlite'), cacheMiB }), /cache size must be a whole number of MiB/);
      }
      // the refused opens changed nothing
      const again = openSqliteStore({ file: join(dir, 'b.sqlite') });
      assert.equal((await again.getDevice('000B82-HT502-A'))?.serialNumber, 'A');
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SQLite group commit', () => {
  const T0 = '2025-01-01T00:00:00.000Z';
  const T1 = '2025-01-01T00:05:00.000Z';
  const device = (serial: string) => ({ id: `000B82-HT502-${serial}`, manufacturer: 'G', oui: '000B82', productClass: 'HT502', serialNumber: serial });
  const inform = (serial: string, at: string, extra: Partial<SessionCommit> = {}): SessionCommit => ({ at, device: { ...device(serial), lastContact: at }, ...extra });
  /** A store that records the statements it runs. */
  const tracedStore = (options: { groupCommit?: boolean } = {}) => {
    const statements: string[] = [];
    const store = openSqliteStore({ file: ':memory:', verbose: (sql) => statements.push(sql), ...options });
    const count = (prefix: string) => statements.filter((s) => s.trimStart().toUpperCase().startsWith(prefix)).length;
    return { store, statements, count };
  };

  it('a device registered at its Inform with what it tells is not written again by that session\'s commit', async () => {
    const { store, statements, count } = tracedStore();
    try {
      const contact = { lastContact: T0, sourceAddress: '192.0.2.7', softwareVersion: '1.0.3.10', cwmpVersion: '1.4' };
      // registered with the Inform's contact fields: the commit finds the row as it would write it
      await store.createDevice({ ...device('R'), contact });
      statements.length = 0;
      await store.commitSession({ at: T0, device: { ...device('R'), ...contact } });
      assert.equal(count('UPDATE DEVICES'), 0, statements.join('\n'));
      // registered without them (a pre-registration): the commit sets them
      await store.createDevice(device('Q'));
      statements.length = 0;
      await store.commitSession({ at: T0, device: { ...device('Q'), ...contact } });
      assert.equal(count('UPDATE DEVICES'), 1, statements.join('\n'));
      assert.equal((await store.getDevice(device('Q').id))?.firstContact, T0);
    } finally {
      await store.close();
    }
  });

  it('stores a new device\'s parameters with single-row statements, none that SQLite must journal', async () => {
    const { store, statements, count } = tracedStore();
    try {
      const parameters = Array.from({ length: 17 }, (_, i) => ({ name: `Device.X.${i}`, value: String(i), type: 'string' }));
      statements.length = 0;
      await store.commitSession(inform('J', T0, { parameters }));
      // a statement writing several rows that may fail half-way (NOT NULL, STRICT types) copies every
      // page it changes into a statement journal first; one row per statement needs none
      const inserts = statements.filter((sql) => /^\s*INSERT INTO parameters/i.test(sql));
      assert.equal(inserts.length, 17);
      for (const sql of inserts) assert.equal(sql.match(/\(\s*'/g)?.length ?? 0, 1, sql);
      assert.equal(count('COMMIT'), 1);
      assert.deepEqual((await store.getParameters('000B82-HT502-J', {})).map((p) => p.value).sort(), parameters.map((p) => p.value).sort());
    } finally {
      await store.close();
    }
  });

  it('commits a batch without a savepoint per write when no write fails', async () => {
    const { store, statements, count } = tracedStore();
    try {
      statements.length = 0;
      const results = await Promise.all([
        store.commitSession(inform('A', T0, { parameters: [{ name: 'Device.X', value: '1' }] })),
        store.createDevice({ ...device('P'), tags: ['lab'] }),
        store.commitSession(inform('B', T0)),
      ]);
      assert.equal(results[0].created, true);
      assert.equal(count('SAVEPOINT'), 0);
      assert.equal(count('RELEASE'), 0);
      assert.equal(count('BEGIN'), 1);
      assert.equal(count('COMMIT'), 1);
      assert.equal(store.replayedBatches, 0);
      // createDevice neither checks first nor reads back; the session commit after it reads nothing either
      statements.length = 0;
      await store.commitSession(inform('P', T1));
      assert.equal(count('SELECT'), 0, statements.join('\n'));
      assert.equal((await store.getDevice('000B82-HT502-P'))?.firstContact, T1);
      // createTask of a device known to exist runs only its INSERT
      statements.length = 0;
      await store.createTask({ deviceId: '000B82-HT502-P', payload: { type: 'reboot' } });
      assert.equal(count('SELECT'), 0, statements.join('\n'));
    } finally {
      await store.close();
    }
  });

  it('a failing write in the middle of a batch rolls back alone and rejects only its own promise; the batch is replayed with savepoints', async () => {
    const { store, count } = tracedStore();
    try {
      await store.commitSession(inform('A', T0, { parameters: [{ name: 'Device.X', value: 'a0' }] }));
      const own = new Error('own failure');
      const before = store.replayedBatches;
      const settled = await Promise.allSettled([
        store.commitSession(inform('A', T1, { parameters: [{ name: 'Device.X', value: 'a1' }] })),
        store.createDevice(device('P')),
        // creates device B, then fails: B must not exist afterwards
        store.commitSession(inform('B', T1, { parameters: [{ name: 'Device.Y', value: 'b' }], parameterDeletes: [{ prefix: 'no-dot' }] })),
        // writes a row, then throws its own error
        store.groupWrite(() => {
          store.connection.prepare("INSERT INTO audit (at, actor, action, target, detail) VALUES (?, 'x', 'partial', NULL, NULL)").run(T1);
          throw own;
        }),
        store.commitSession(inform('C', T1, { parameters: [{ name: 'Device.Z', value: 'c' }] })),
      ]);
      assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled']);
      const reason = (i: number) => (settled[i] as PromiseRejectedResult).reason;
      assert.ok(reason(2) instanceof StoreError && reason(2).code === 'invalid', String(reason(2)));
      assert.equal(reason(3), own);
      assert.equal(store.replayedBatches, before + 1);
      assert.equal(count('SAVEPOINT'), 5);
      // committed state, read after the replay
      assert.equal((await store.getParameters('000B82-HT502-A', { names: ['Device.X'] }))[0]?.value, 'a1');
      assert.equal((await store.getDevice('000B82-HT502-A'))?.lastContact, T1);
      assert.ok(await store.getDevice('000B82-HT502-P'));
      assert.equal(await store.getDevice('000B82-HT502-B'), null);
      assert.deepEqual(await store.getParameters('000B82-HT502-B'), []);
      assert.equal((await store.listAudit({ action: 'partial' })).entries.length, 0);
      assert.equal((await store.getParameters('000B82-HT502-C'))[0]?.value, 'c');
      // the caches hold nothing of the rolled-back attempts: B is unknown, P is as stored
      await assert.rejects(store.createTask({ deviceId: '000B82-HT502-B', payload: { type: 'reboot' } }), (e: unknown) => e instanceof StoreError && e.code === 'not_found');
      await store.commitSession(inform('P', T1, { device: { ...device('P'), lastContact: T1, sourceAddress: null } }));
      assert.equal((await store.getDevice('000B82-HT502-P'))?.firstContact, T1);
      assert.equal((await store.createTask({ deviceId: '000B82-HT502-P', payload: { type: 'reboot' } })).status, 'pending');
    } finally {
      await store.close();
    }
  });

  for (const groupCommit of [true, false]) {
    it(`a failed write alone forgets what it taught the caches (groupCommit ${groupCommit})`, async () => {
      const { store, count } = tracedStore({ groupCommit });
      try {
        // the device is inserted (and noted as existing), then the commit fails
        await assert.rejects(store.commitSession(inform('B', T0, { parameterDeletes: [{ prefix: 'no-dot' }] })));
        assert.equal(count('SAVEPOINT'), 0);
        assert.equal(store.replayedBatches, 0);
        await assert.rejects(store.createTask({ deviceId: '000B82-HT502-B', payload: { type: 'reboot' } }), (e: unknown) => e instanceof StoreError && e.code === 'not_found');
        assert.equal((await store.listTasks({})).tasks.length, 0);
        // a device created then deleted is unknown again
        await store.createDevice(device('D'));
        await store.createTask({ deviceId: '000B82-HT502-D', payload: { type: 'reboot' } });
        assert.equal(await store.deleteDevice('000B82-HT502-D'), true);
        await assert.rejects(store.createTask({ deviceId: '000B82-HT502-D', payload: { type: 'reboot' } }), (e: unknown) => e instanceof StoreError && e.code === 'not_found');
      } finally {
        await store.close();
      }
    });
  }

  it('a write that fails only in the replay (it succeeded in the rolled-back attempt) leaves no cache entry behind', async () => {
    const store = openSqliteStore({ file: ':memory:' });
    try {
      let rawRuns = 0;
      let flakyRuns = 0;
      const settled = await Promise.allSettled([
        // at its second run (the replay), stores device P itself: createDevice(P) then conflicts
        store.groupWrite(() => {
          if (++rawRuns === 2) {
            store.connection.prepare("INSERT INTO devices (id, manufacturer, oui, product_class, serial_number) VALUES ('000B82-HT502-P', 'raw', '000B82', 'HT502', 'P')").run();
          }
        }),
        store.createDevice({ ...device('P'), tags: ['x'] }),
        // fails at its first run only: the batch is rolled back and replayed
        store.groupWrite(() => {
          if (++flakyRuns === 1) throw new Error('first run');
          return flakyRuns;
        }),
      ]);
      assert.deepEqual(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      const conflict = (settled[1] as PromiseRejectedResult).reason;
      assert.ok(conflict instanceof StoreError && conflict.code === 'conflict', String(conflict));
      assert.equal(store.replayedBatches, 1);
      // (queryDevices reads without remembering, unlike getDevice)
      const [stored] = (await store.queryDevices({ ids: ['000B82-HT502-P'] })).devices;
      assert.equal(stored?.manufacturer, 'raw');
      assert.deepEqual(stored?.tags, []);
      // the session commit compares against the stored row, not the one createDevice built in the rolled-back attempt
      await store.commitSession(inform('P', T0));
      assert.equal((await store.getDevice('000B82-HT502-P'))?.manufacturer, 'G');
    } finally {
      await store.close();
    }
  });
  it('getDevice() while a group commit is pending reads inside its transaction, after the writes queued before it', async () => {
    const { store, statements } = tracedStore();
    try {
      await store.commitSession(inform('A', T0));
      statements.length = 0;
      const write = store.commitSession(inform('A', T1, { device: { ...device('A'), lastContact: T1, softwareVersion: '2.0' } }));
      const [read, missing] = await Promise.all([store.getDevice('000B82-HT502-A'), store.getDevice('000B82-HT502-none'), write]);
      assert.deepEqual([read?.lastContact, read?.softwareVersion], [T1, '2.0']);
      assert.equal(missing, null);
      // one transaction: BEGIN, the commit's statements and both reads, COMMIT
      const selects = statements.map((sql, i) => ({ sql, i })).filter(({ sql }) => sql.startsWith('SELECT * FROM devices'));
      const begin = statements.indexOf('BEGIN');
      const commit = statements.indexOf('COMMIT');
      assert.equal(selects.length, 3, statements.join('\n'));
      assert.ok(selects.every(({ i }) => begin < i && i < commit), statements.join('\n'));
      // with nothing pending, a read runs alone
      statements.length = 0;
      assert.equal((await store.getDevice('000B82-HT502-A'))?.softwareVersion, '2.0');
      assert.deepEqual(statements.filter((sql) => sql === 'BEGIN'), []);
    } finally {
      await store.close();
    }
  });

  it('getDevice() joined to a group commit that fails reads again on its own', async () => {
    const store = openSqliteStore({ file: ':memory:' });
    try {
      await store.commitSession(inform('A', T0));
      // ends the batch's transaction early: its COMMIT then fails and every write of the batch rejects
      const breaker = store.groupWrite(() => store.connection.exec('COMMIT'));
      const read = store.getDevice('000B82-HT502-A');
      await assert.rejects(breaker, /no transaction is active/);
      assert.equal((await read)?.lastContact, T0);
    } finally {
      await store.close();
    }
  });
  it('groupRead() runs at once when nothing is pending, inside the pending group commit otherwise; its errors reject', async () => {
    const { store, statements } = tracedStore();
    try {
      const count = () => (store.connection.prepare('SELECT count(*) AS n FROM devices').get() as { n: number }).n;
      statements.length = 0;
      assert.equal(await store.groupRead(count), 0);
      assert.deepEqual(statements.filter((sql) => sql === 'BEGIN'), []);
      const write = store.commitSession(inform('A', T0));
      const read = store.groupRead(count);
      await write;
      assert.equal(await read, 1);
      assert.ok(statements.indexOf('BEGIN') < statements.lastIndexOf('SELECT count(*) AS n FROM devices'));
      await assert.rejects(store.groupRead(() => { throw new Error('read failed'); }), /read failed/);
      const pending = store.commitSession(inform('B', T0));
      await assert.rejects(store.groupRead(() => { throw new Error('joined read failed'); }), /joined read failed/);
      assert.equal((await pending).created, true);
      await store.close();
      await assert.rejects(store.groupRead(count), (e: unknown) => e instanceof StoreError && e.code === 'unavailable');
    } finally {
      await store.close();
    }
  });
  it('a write after which SQLite rolled the whole transaction back fails the batch: nothing runs outside a transaction', async () => {
    const store = openSqliteStore({ file: ':memory:' });
    try {
      store.connection.exec('CREATE TABLE scratch (v TEXT)');
      const insert = (v: string) => () => store.connection.prepare('INSERT INTO scratch VALUES (?)').run(v);
      const results = await Promise.allSettled([
        store.groupWrite(insert('a')),
        // as SQLITE_FULL or an I/O error would: the transaction is gone when the write fails
        store.groupWrite(() => {
          store.connection.exec('ROLLBACK');
          throw new Error('disk full');
        }),
        store.groupWrite(insert('c')),
      ]);
      assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
      assert.deepEqual(store.connection.prepare('SELECT v FROM scratch').all(), []);
      assert.equal(store.connection.inTransaction, false);
      // the store goes on
      await store.groupWrite(insert('d'));
      assert.deepEqual(store.connection.prepare('SELECT v FROM scratch').all(), [{ v: 'd' }]);
    } finally {
      await store.close();
    }
  });
});
