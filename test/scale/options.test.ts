/**
 * Scale-out options: `--workers` parsing (SQLite refused above one worker), the database URL check
 * of startAcs, and the bootstrap token rotation of ensureApiToken (a new token revokes the old one
 * and takes a name of its own).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AcsUsageError, parseWorkers } from '../../src/cli/acs.ts';
import { ensureApiToken, startAcs } from '../../src/acs/app.ts';
import { isPostgresUrl } from '../../src/store/index.ts';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.ts';
import { hashToken } from '../../src/api/auth.ts';
import { StoreError, type Store } from '../../src/store/types.ts';

const PG_URL = 'postgres://u@127.0.0.1:5432/db';

describe('--workers', () => {
  it('takes a positive integer or auto', async () => {
    assert.equal(await parseWorkers('1', undefined), 1);
    assert.equal(await parseWorkers('3', PG_URL), 3);
    assert.ok((await parseWorkers('auto', PG_URL)) >= 1);
    for (const bad of ['0', '-1', 'two', '1.5', '']) await assert.rejects(parseWorkers(bad, PG_URL), AcsUsageError, bad);
  });
  it('refuses more than one worker on SQLite with a message naming --database', async () => {
    await assert.rejects(parseWorkers('2', undefined), (err: unknown) => err instanceof AcsUsageError && /--database/.test(err.message));
  });
});

describe('database URL', () => {
  it('recognises postgres URLs only', () => {
    assert.equal(isPostgresUrl(PG_URL), true);
    assert.equal(isPostgresUrl('postgresql://h/db'), true);
    assert.equal(isPostgresUrl('mysql://h/db'), false);
    assert.equal(isPostgresUrl('./data'), false);
  });
  it('startAcs refuses another kind of URL before opening anything, without echoing a password', async () => {
    await assert.rejects(startAcs({ database: 'mysql://user:secret@h/db', cwmpPort: null, httpPort: null }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /postgres:\/\//);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  });
});

/** Runs `fn` with a SQLite store in a fresh data directory, both removed afterwards. */
async function withTokenStore(fn: (store: SqliteStore, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-scale-token-'));
  const store = openSqliteStore({ dataDir: dir });
  try {
    await fn(store, dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('bootstrap token rotation', () => {
  it('a different token revokes the previous bootstrap token and is named bootstrap-<n>', async () => {
    await withTokenStore(async (store, dir) => {
      await ensureApiToken(store, dir, 'first-token');
      await ensureApiToken(store, dir, 'first-token');
      let tokens = await store.listApiTokens();
      assert.deepEqual(tokens.map((t) => [t.name, t.revokedAt === null]), [['bootstrap', true]]);

      await ensureApiToken(store, dir, 'second-token');
      tokens = await store.listApiTokens();
      const byName = new Map(tokens.map((t) => [t.name, t]));
      assert.equal(tokens.length, 2);
      assert.notEqual(byName.get('bootstrap')?.revokedAt, null, 'the old token is revoked');
      const second = byName.get('bootstrap-2');
      assert.ok(second && second.revokedAt === null && second.role === 'admin');
      assert.equal(second.hash, hashToken('second-token'));

      await ensureApiToken(store, dir, 'second-token');
      assert.equal((await store.listApiTokens()).length, 2, 'a restart with the same token creates nothing');
    });
  });

  it('two instances starting together: the one that loses the race keeps the token the other stored', async () => {
    await withTokenStore(async (store, dir) => {
      // this instance's insert comes second: the other instance stored the same token a moment before
      let raced = 0;
      const racing: Store = Object.create(store);
      racing.createApiToken = async (input) => {
        if (raced++ === 0) {
          await store.createApiToken(input);
          throw new StoreError('conflict', 'api token name bootstrap exists');
        }
        return store.createApiToken(input);
      };
      assert.deepEqual(await ensureApiToken(racing, dir, 'shared-token'), { token: 'shared-token', generated: false });
      assert.equal(raced, 1, 'no second insert once the token is found');
      const tokens = await store.listApiTokens();
      assert.deepEqual(tokens.map((t) => [t.name, t.revokedAt === null]), [['bootstrap', true]], 'stored once and not revoked');
      assert.equal(tokens[0].hash, hashToken('shared-token'));
    });
  });

  it('another kind of failure to store the token is not retried', async () => {
    await withTokenStore(async (store, dir) => {
      let calls = 0;
      const failing: Store = Object.create(store);
      failing.createApiToken = async () => {
        calls++;
        throw new StoreError('unavailable', 'database unavailable');
      };
      await assert.rejects(ensureApiToken(failing, dir, 'shared-token'), (err: unknown) => err instanceof StoreError && err.code === 'unavailable');
      assert.equal(calls, 1);
      assert.deepEqual(await store.listApiTokens(), []);
    });
  });
});
