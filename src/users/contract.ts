/**
 * The `UserStore` contract: one suite run against every backend (sqlite.test.ts, postgres.test.ts),
 * so that the console behaves the same on SQLite and on PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StoreError } from '../store/types.ts';
import { ensureFirstAdmin } from './bootstrap.ts';
import type { NewConsoleSession, UserStore } from './types.ts';
import type { LoginThrottleBackend, ThrottleOptions } from './throttle.ts';

/** Cheap scrypt for tests (the hash format is what matters here, not its cost). */
const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

export interface UserStoreFactory {
  /** A fresh, empty store. */
  open(): Promise<UserStore>;
  /** A second store on the same data as the last `open()` (another ACS instance), when the backend has one. */
  openSibling?(): Promise<UserStore>;
}

function session(userId: string, hash: string, expiresAt: string, absoluteExpiresAt = '2030-01-01T00:00:00.000Z'): NewConsoleSession {
  return { userId, tokenId: `tok-${hash}`, tokenHash: hash, createdAt: '2026-01-01T00:00:00.000Z', expiresAt, absoluteExpiresAt };
}

/**
 * Registers the contract suite under `name`.
 */
export function userStoreContract(name: string, factory: UserStoreFactory, options: { skip?: string | false } = {}): void {
  describe(`UserStore contract: ${name}`, { skip: options.skip ?? false }, () => {
    let users: UserStore;
    before(async () => {
      users = await factory.open();
    });
    after(async () => {
      await users?.close();
    });

    it('creates users with lower-case names; names are unique case-insensitively (conflict)', async () => {
      const u = await users.createUser({ username: 'Alice', role: 'operator', passwordHash: 'h1', createdAt: '2026-02-03T04:05:06.789Z' });
      assert.equal(u.username, 'alice');
      assert.equal(u.role, 'operator');
      assert.equal(u.disabled, false);
      assert.equal(u.createdAt, '2026-02-03T04:05:06.789Z');
      assert.equal(u.updatedAt, u.createdAt);
      assert.equal(u.lastLoginAt, null);
      assert.deepEqual(await users.getUser(u.id), u);
      await assert.rejects(users.createUser({ username: 'ALICE', role: 'viewer', passwordHash: 'h2' }), (err: unknown) => err instanceof StoreError && err.code === 'conflict');
      const login = await users.findUserForLogin('aLiCe');
      assert.equal(login?.id, u.id);
      assert.equal(login?.passwordHash, 'h1');
      assert.equal(await users.findUserForLogin('nobody'), null);
      assert.equal(await users.getUser('usr_missing'), null);
    });

    it('lists by username, counts active admins, updates and deletes', async () => {
      const b = await users.createUser({ username: 'bob', role: 'admin', passwordHash: 'h' });
      const z = await users.createUser({ username: 'zed', role: 'admin', passwordHash: 'h' });
      assert.deepEqual(
        (await users.listUsers()).map((u) => u.username),
        ['alice', 'bob', 'zed'],
      );
      assert.equal(await users.countActiveAdmins(), 2);
      const disabled = await users.updateUser(z.id, { disabled: true });
      assert.equal(disabled?.disabled, true);
      assert.equal(await users.countActiveAdmins(), 1);
      const stamped = await users.updateUser(b.id, { lastLoginAt: '2026-03-01T00:00:00.000Z' });
      assert.equal(stamped?.lastLoginAt, '2026-03-01T00:00:00.000Z');
      assert.equal(stamped?.updatedAt, b.updatedAt, 'a login stamp is not an edit');
      const demoted = await users.updateUser(b.id, { role: 'viewer', passwordHash: 'h9' });
      assert.equal(demoted?.role, 'viewer');
      assert.equal((await users.findUserForLogin('bob'))?.passwordHash, 'h9');
      assert.deepEqual(await users.updateUser(b.id, {}), demoted);
      assert.equal(await users.updateUser('usr_missing', { role: 'admin' }), null);
      assert.equal(await users.deleteUser(z.id), true);
      assert.equal(await users.deleteUser(z.id), false);
      assert.equal(await users.getUser(z.id), null);
    });

    it('console sessions: find by token hash, extend, end once, expire, prune', async () => {
      const u = await users.createUser({ username: 'sessions', role: 'viewer', passwordHash: 'h' });
      const s1 = await users.createSession(session(u.id, 'aa11', '2026-01-01T01:00:00.000Z'));
      const s2 = await users.createSession(session(u.id, 'bb22', '2026-01-01T05:00:00.000Z', '2026-01-01T02:00:00.000Z'));
      assert.equal(s1.endedAt, null);
      assert.equal(s1.expiresAt, '2026-01-01T01:00:00.000Z');
      assert.deepEqual(await users.findSessionByTokenHash('aa11'), s1);
      assert.equal(await users.findSessionByTokenHash('none'), null);
      await assert.rejects(users.createSession(session(u.id, 'aa11', '2026-01-01T01:00:00.000Z')), (err: unknown) => err instanceof StoreError && err.code === 'conflict');
      assert.deepEqual(
        (await users.listOpenSessions(u.id)).map((s) => s.id).sort(),
        [s1.id, s2.id].sort(),
      );
      // idle expiry of s1 at 01:00, absolute expiry of s2 at 02:00
      assert.deepEqual((await users.listExpiredSessions('2026-01-01T00:30:00.000Z')).map((s) => s.id), []);
      assert.deepEqual((await users.listExpiredSessions('2026-01-01T01:30:00.000Z')).map((s) => s.id), [s1.id]);
      await users.extendSession(s1.id, '2026-01-01T03:00:00.000Z');
      assert.deepEqual((await users.listExpiredSessions('2026-01-01T01:30:00.000Z')).map((s) => s.id), []);
      assert.deepEqual((await users.listExpiredSessions('2026-01-01T02:30:00.000Z')).map((s) => s.id), [s2.id]);
      const ended = await users.endSession(s2.id, 'expired', '2026-01-01T02:30:00.000Z');
      assert.equal(ended?.endReason, 'expired');
      assert.equal(ended?.endedAt, '2026-01-01T02:30:00.000Z');
      assert.equal(await users.endSession(s2.id, 'logout', '2026-01-01T02:31:00.000Z'), null, 'ends once');
      await users.extendSession(s2.id, '2026-01-02T00:00:00.000Z');
      assert.equal((await users.findSessionByTokenHash('bb22'))?.expiresAt, '2026-01-01T05:00:00.000Z', 'an ended session is not extended');
      assert.deepEqual((await users.listOpenSessions(u.id)).map((s) => s.id), [s1.id]);
      assert.equal(await users.pruneSessions('2026-01-01T02:00:00.000Z'), 0);
      assert.equal(await users.pruneSessions('2026-01-01T03:00:00.000Z'), 1);
      assert.equal(await users.findSessionByTokenHash('bb22'), null);
    });

    if (factory.openSibling) {
      const openSibling = factory.openSibling.bind(factory);
      it('another instance sees the users and sessions at once', async () => {
        const other = await openSibling();
        try {
          const u = await users.createUser({ username: 'shared', role: 'operator', passwordHash: 'hs' });
          assert.equal((await other.findUserForLogin('SHARED'))?.id, u.id);
          await assert.rejects(other.createUser({ username: 'shared', role: 'viewer', passwordHash: 'x' }), (err: unknown) => err instanceof StoreError && err.code === 'conflict');
          const s = await other.createSession(session(u.id, 'cc33', '2030-01-01T00:00:00.000Z'));
          assert.deepEqual(await users.findSessionByTokenHash('cc33'), s);
        } finally {
          await other.close();
        }
      });
    }

    it('after close, calls reject with unavailable', async () => {
      const own = await factory.open();
      await own.close();
      await assert.rejects(own.listUsers(), (err: unknown) => err instanceof StoreError && err.code === 'unavailable');
      await own.close();
    });
  });

  describe(`first admin on an empty database: ${name}`, { skip: options.skip ?? false }, () => {
    it('several instances starting at once create one admin; the others continue', async () => {
      const first = await factory.open();
      const instances = [first];
      try {
        if (factory.openSibling) instances.push(await factory.openSibling(), await factory.openSibling());
        else instances.push(first, first);
        // each instance believes the table is empty (the race at its widest)
        const racing = instances.map((s) => Object.assign(Object.create(s) as UserStore, { listUsers: async () => [] }));
        const results = await Promise.all(racing.map((s) => ensureFirstAdmin(s, { dataDir: null, env: {}, scryptParams: TEST_SCRYPT })));
        assert.equal(results.filter((r) => r.created).length, 1, JSON.stringify(results.map((r) => r.created)));
        const all = await first.listUsers();
        assert.deepEqual(
          all.map((u) => [u.username, u.role]),
          [['admin', 'admin']],
        );
      } finally {
        for (const s of new Set(instances)) await s.close();
      }
    });
  });
}

/** The throttle settings of the throttle contract (small, so that it runs quickly). */
export const CONTRACT_THROTTLE: ThrottleOptions = { maxFailures: 3, windowMs: 1000, blockMs: 500, maxKeys: 100 };

/**
 * Registers the failed-login throttle contract under `name`: `open` gives a fresh backend with
 * `CONTRACT_THROTTLE`; `openSibling` another instance's view of the same counts, when there is one.
 */
export function loginThrottleContract(
  name: string,
  factory: { open(): Promise<LoginThrottleBackend>; openSibling?(): Promise<LoginThrottleBackend> },
  options: { skip?: string | false } = {},
): void {
  describe(`login throttle contract: ${name}`, { skip: options.skip ?? false }, () => {
    it('blocks a key after maxFailures within the window, for blockMs; other keys are free', async () => {
      const t = await factory.open();
      const t0 = 1_000_000;
      await t.fail('u:a', t0);
      await t.fail('u:a', t0 + 10);
      assert.equal(await t.retryAfterMs('u:a', t0 + 20), 0);
      await t.fail('u:a', t0 + 20);
      assert.equal(await t.retryAfterMs('u:a', t0 + 20), CONTRACT_THROTTLE.blockMs);
      assert.equal(await t.retryAfterMs('u:a', t0 + 120), CONTRACT_THROTTLE.blockMs - 100);
      assert.equal(await t.retryAfterMs('u:b', t0 + 120), 0);
      assert.equal(await t.retryAfterMs('u:a', t0 + 20 + CONTRACT_THROTTLE.blockMs), 0, 'free again after the block');
    });

    it('failures outside the window start again; a success forgets the key', async () => {
      const t = await factory.open();
      const t0 = 2_000_000;
      await t.fail('ip:1', t0);
      await t.fail('ip:1', t0 + 1);
      await t.fail('ip:1', t0 + CONTRACT_THROTTLE.windowMs + 10);
      assert.equal(await t.retryAfterMs('ip:1', t0 + CONTRACT_THROTTLE.windowMs + 10), 0, 'the old failures no longer count');
      await t.fail('ip:1', t0 + CONTRACT_THROTTLE.windowMs + 20);
      await t.succeed('ip:1');
      await t.fail('ip:1', t0 + CONTRACT_THROTTLE.windowMs + 30);
      assert.equal(await t.retryAfterMs('ip:1', t0 + CONTRACT_THROTTLE.windowMs + 30), 0);
    });

    if (factory.openSibling) {
      const openSibling = factory.openSibling.bind(factory);
      it('failures counted through two instances add up', async () => {
        const a = await factory.open();
        const b = await openSibling();
        const t0 = 3_000_000;
        await a.fail('u:shared', t0);
        await b.fail('u:shared', t0 + 1);
        await a.fail('u:shared', t0 + 2);
        assert.equal(await b.retryAfterMs('u:shared', t0 + 2), CONTRACT_THROTTLE.blockMs);
      });

      it('concurrent failures through two instances all count: the key is blocked after maxFailures of them', async () => {
        const a = await factory.open();
        const b = await openSibling();
        const t0 = 4_000_000;
        // none waits for another, as logins hitting two instances at once
        await Promise.all(Array.from({ length: CONTRACT_THROTTLE.maxFailures }, (_, i) => (i % 2 === 0 ? a : b).fail('u:burst', t0 + i)));
        const last = t0 + CONTRACT_THROTTLE.maxFailures - 1;
        assert.ok((await a.retryAfterMs('u:burst', last)) > 0, 'blocked after maxFailures concurrent failures');
        assert.ok((await b.retryAfterMs('u:burst', last)) > 0);
      });
    }
  });
}
