import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFirstAdmin } from '../../src/users/bootstrap.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../../src/users/password.ts';
import { openSqliteUserStore } from '../../src/users/sqlite.ts';
import { LoginThrottle } from '../../src/users/throttle.ts';
import { ADMIN_PASSWORD, setup, TEST_SCRYPT, type Harness } from './harness.ts';

const MINUTE = 60_000;

describe('passwords', () => {
  it('hashes with a random salt and verifies only the right password', async () => {
    const a = await hashPassword('s3cret-pass', TEST_SCRYPT);
    const b = await hashPassword('s3cret-pass', TEST_SCRYPT);
    assert.notEqual(a, b, 'two hashes of one password differ (salt)');
    assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword('s3cret-pass', a), true);
    assert.equal(await verifyPassword('s3cret-pasS', a), false);
    assert.equal(await verifyPassword('s3cret-pass', 'plain:s3cret-pass'), false, 'a malformed hash never matches');
  });

  it('refuses short passwords and the username as password', () => {
    assert.match(passwordProblem('short') ?? '', /shorter than 8/);
    assert.match(passwordProblem('Alice-1234', 'alice-1234') ?? '', /same as the username/);
    assert.equal(passwordProblem('long enough'), null);
  });
});

describe('login throttle', () => {
  it('blocks a key after 5 failures within the window, then lets it try again', () => {
    const t = new LoginThrottle({ maxFailures: 5, windowMs: 10 * MINUTE, blockMs: MINUTE, maxKeys: 100 });
    for (let i = 0; i < 4; i++) t.fail('u:a', 1000 + i);
    assert.equal(t.retryAfterMs('u:a', 2000), 0);
    t.fail('u:a', 2000);
    assert.equal(t.retryAfterMs('u:a', 2000), MINUTE);
    assert.equal(t.retryAfterMs('u:b', 2000), 0, 'other keys are not affected');
    assert.equal(t.retryAfterMs('u:a', 2000 + MINUTE), 0);
  });

  it('forgets old keys first when full', () => {
    const t = new LoginThrottle({ maxFailures: 1, windowMs: MINUTE, blockMs: MINUTE, maxKeys: 2 });
    t.fail('a', 0);
    t.fail('b', 0);
    t.fail('c', 0);
    assert.equal(t.retryAfterMs('a', 1), 0);
    assert.ok(t.retryAfterMs('c', 1) > 0);
  });
});

describe('first admin user', () => {
  it('generates a password into <data-dir>/admin-password with mode 0600 when none is given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-users-'));
    const users = openSqliteUserStore({ file: ':memory:' });
    try {
      const result = await ensureFirstAdmin(users, { dataDir: dir, env: {}, scryptParams: TEST_SCRYPT });
      assert.equal(result.created, true);
      assert.ok(result.created && result.passwordSource === 'generated');
      const file = join(dir, 'admin-password');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const password = readFileSync(file, 'utf8').trim();
      assert.ok(password.length >= 20);
      const stored = await users.findUserForLogin('admin');
      assert.equal(stored?.role, 'admin');
      assert.equal(await verifyPassword(password, stored!.passwordHash), true);
      assert.deepEqual(await ensureFirstAdmin(users, { dataDir: dir, env: {} }), { created: false }, 'only when there is no user');
    } finally {
      await users.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tolerates another instance creating the first admin at the same time (and leaves its file alone)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-users-race-'));
    const file = join(dir, 'switchboard.sqlite');
    const a = openSqliteUserStore({ file });
    const b = openSqliteUserStore({ file });
    try {
      // Both see an empty table, then both create: one wins, the other resolves "not created".
      // (b is made to see no user whatever the timing, so the conflict path surely runs.)
      const racing = Object.assign(Object.create(b) as typeof b, { listUsers: async () => [] });
      const [ra, rb] = await Promise.all([
        ensureFirstAdmin(a, { dataDir: dir, env: {}, scryptParams: TEST_SCRYPT }),
        ensureFirstAdmin(racing, { dataDir: dir, env: {}, scryptParams: TEST_SCRYPT }),
      ]);
      const created = [ra, rb].filter((r) => r.created);
      assert.equal(created.length, 1);
      const winner = created[0];
      assert.ok(winner.created && winner.passwordSource === 'generated');
      assert.equal(readFileSync(join(dir, 'admin-password'), 'utf8').trim(), winner.password, 'the file holds the stored password');
      assert.equal((await a.listUsers()).length, 1);
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes SWITCHBOARD_ADMIN_PASSWORD, and refuses a weak one', async () => {
    const users = openSqliteUserStore({ file: ':memory:' });
    try {
      await assert.rejects(ensureFirstAdmin(users, { dataDir: null, env: { SWITCHBOARD_ADMIN_PASSWORD: 'admin' } }), /not acceptable/);
      const result = await ensureFirstAdmin(users, { dataDir: null, env: { SWITCHBOARD_ADMIN_PASSWORD: 'a-good-password' }, scryptParams: TEST_SCRYPT });
      assert.ok(result.created && result.passwordSource === 'env');
      assert.equal(await verifyPassword('a-good-password', (await users.findUserForLogin('ADMIN'))!.passwordHash), true, 'names are case-insensitive');
    } finally {
      await users.close();
    }
  });
});

describe('console sessions and users over HTTP', () => {
  let h: Harness;
  let clock = Date.parse('2025-06-01T10:00:00.000Z');
  before(async () => {
    h = await setup({ now: () => new Date(clock), sweepIntervalMs: 0, sessionIdleMs: 30 * MINUTE, sessionMaxMs: 8 * 60 * MINUTE });
  });
  after(() => h.close());

  async function loginToken(username: string, password: string): Promise<string> {
    const res = await h.login(username, password);
    assert.equal(res.statusCode, 201, res.body);
    return res.json().token as string;
  }

  it('logs the first admin in; the token works on the REST API with the admin role', async () => {
    const res = await h.login('admin', ADMIN_PASSWORD);
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json();
    assert.match(body.token, /^sb_/);
    assert.equal(body.user.username, 'admin');
    assert.equal(body.user.role, 'admin');
    assert.equal(body.expiresAt, new Date(clock + 30 * MINUTE).toISOString());
    assert.equal(body.user.passwordHash, undefined, 'the hash never leaves');
    const me = await h.call('GET', '/api/me', { token: body.token });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().role, 'admin');
    assert.match(me.json().name, /^console\.admin\.[0-9a-f]{6}$/);
    const session = await h.call('GET', '/api/session', { token: body.token });
    assert.equal(session.json().user.username, 'admin');
    const audit = await h.call('GET', '/api/audit?action=session.login');
    assert.ok(audit.json().entries.some((e: { target: string }) => e.target === body.user.id));
  });

  it('refuses a wrong password or an unknown user with the same readable error, and audits it', async () => {
    const wrong = await h.login('admin', 'not the password');
    const unknown = await h.login('nobody', 'not the password');
    for (const res of [wrong, unknown]) {
      assert.equal(res.statusCode, 401);
      assert.deepEqual(res.json(), { code: 'INVALID_CREDENTIALS', message: 'The username or the password is wrong.' });
    }
    const audit = await h.call('GET', '/api/audit?action=session.login-failed');
    assert.equal(audit.json().entries.length, 2);
  });

  it('validates the login body with a sentence naming the field', async () => {
    const res = await h.call('POST', '/api/session', { token: null, body: { username: 'admin' } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'VALIDATION_FAILED');
    assert.match(res.json().message, /password/);
  });

  it('creates users with roles; a viewer may read but not write', async () => {
    const created = await h.call('POST', '/api/users', { body: { username: 'vera', role: 'viewer', password: 'viewer-pass-1' } });
    assert.equal(created.statusCode, 201, created.body);
    const token = await loginToken('vera', 'viewer-pass-1');
    assert.equal((await h.call('GET', '/api/devices', { token })).statusCode, 200);
    const write = await h.call('POST', '/api/devices', { token, body: { oui: '000B82', productClass: 'HT502', serialNumber: 'X1' } });
    assert.equal(write.statusCode, 403);
    assert.equal(write.json().code, 'FORBIDDEN');
    assert.match(write.json().message, /viewer/);
    const users = await h.call('GET', '/api/users', { token });
    assert.equal(users.statusCode, 403, 'user administration is admin only');
  });

  it('refuses a taken username (case-insensitive) and a weak password', async () => {
    const dup = await h.call('POST', '/api/users', { body: { username: 'vera', role: 'admin', password: 'another-pass' } });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().code, 'USERNAME_TAKEN');
    const weak = await h.call('POST', '/api/users', { body: { username: 'olga', role: 'operator', password: 'short' } });
    assert.equal(weak.statusCode, 400);
    assert.equal(weak.json().code, 'WEAK_PASSWORD');
    const badName = await h.call('POST', '/api/users', { body: { username: 'Olga Smith', role: 'operator', password: 'long enough pass' } });
    assert.equal(badName.statusCode, 400);
    assert.equal(badName.json().code, 'VALIDATION_FAILED');
  });

  it('expires an idle session exactly and revokes its token; use slides the expiry', async () => {
    const token = await loginToken('vera', 'viewer-pass-1');
    clock += 20 * MINUTE;
    assert.equal((await h.call('GET', '/api/devices', { token })).statusCode, 200, 'still within the idle limit; this use extends it');
    clock += 20 * MINUTE;
    assert.equal((await h.call('GET', '/api/devices', { token })).statusCode, 200, '40 minutes after login but 20 after the last use');
    clock += 31 * MINUTE;
    const expired = await h.call('GET', '/api/devices', { token });
    assert.equal(expired.statusCode, 401);
    assert.deepEqual(expired.json(), { code: 'SESSION_EXPIRED', message: 'Your console session has expired; log in again.' });
    const tokens = (await h.call('GET', '/api/tokens')).json().tokens as { name: string; revokedAt: string | null }[];
    const mine = (await h.store.findApiTokenByHash((await import('../../src/api/index.ts')).hashToken(token)))!;
    assert.ok(tokens.some((t) => t.name === mine.name && t.revokedAt !== null), 'the token is revoked');
  });

  it('ends sessions at the absolute limit even when used', async () => {
    const token = await loginToken('vera', 'viewer-pass-1');
    // 19 uses 25 minutes apart stay within 8 hours (475 min); the 20th (500 min) is past it.
    for (let i = 1; i <= 19; i++) {
      clock += 25 * MINUTE;
      assert.equal((await h.call('GET', '/api/session', { token })).statusCode, 200, `use ${i}`);
    }
    clock += 25 * MINUTE;
    const res = await h.call('GET', '/api/session', { token });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'SESSION_EXPIRED');
  });

  it('the sweep revokes tokens of sessions nobody uses any more', async () => {
    const token = await loginToken('vera', 'viewer-pass-1');
    clock += 31 * MINUTE;
    // Earlier tests left sessions open too; all of them are idle now.
    assert.ok((await h.console.sessions.sweep()) >= 1);
    assert.equal(await h.console.sessions.sweep(), 0, 'nothing left to end');
    const stored = await h.store.findApiTokenByHash((await import('../../src/api/index.ts')).hashToken(token));
    assert.notEqual(stored?.revokedAt, null);
  });

  it('logs out: the token stops working', async () => {
    const token = await loginToken('vera', 'viewer-pass-1');
    const out = await h.call('DELETE', '/api/session', { token });
    assert.equal(out.statusCode, 204);
    const after = await h.call('GET', '/api/devices', { token });
    assert.equal(after.statusCode, 401);
    assert.equal(after.json().code, 'INVALID_TOKEN');
    const plain = await h.call('DELETE', '/api/session');
    assert.equal(plain.statusCode, 400, 'an API token is not a console session');
    assert.equal(plain.json().code, 'NOT_A_CONSOLE_SESSION');
  });

  it('throttles repeated failures for a username with TOO_MANY_ATTEMPTS and Retry-After', async () => {
    await h.call('POST', '/api/users', { body: { username: 'tess', role: 'operator', password: 'operator-pass' } });
    for (let i = 0; i < 5; i++) assert.equal((await h.login('tess', `wrong-${i}-pass`)).statusCode, 401);
    const blocked = await h.login('tess', 'operator-pass');
    assert.equal(blocked.statusCode, 429);
    assert.equal(blocked.json().code, 'TOO_MANY_ATTEMPTS');
    assert.ok(Number(blocked.headers['retry-after']) > 0);
    clock += 2 * MINUTE;
    assert.equal((await h.login('tess', 'operator-pass')).statusCode, 201, 'allowed again after the block');
  });

  it('changing a role ends the user\'s sessions (their token had the old role)', async () => {
    const list = (await h.call('GET', '/api/users')).json().users as { id: string; username: string }[];
    const tess = list.find((u) => u.username === 'tess')!;
    const token = await loginToken('tess', 'operator-pass');
    const changed = await h.call('PATCH', `/api/users/${tess.id}`, { body: { role: 'viewer' } });
    assert.equal(changed.statusCode, 200);
    assert.equal(changed.json().role, 'viewer');
    assert.equal((await h.call('GET', '/api/devices', { token })).statusCode, 401);
    const again = await loginToken('tess', 'operator-pass');
    assert.equal((await h.call('GET', '/api/session', { token: again })).json().role, 'viewer');
  });

  it('a disabled user cannot log in', async () => {
    const tess = ((await h.call('GET', '/api/users')).json().users as { id: string; username: string }[]).find((u) => u.username === 'tess')!;
    assert.equal((await h.call('PATCH', `/api/users/${tess.id}`, { body: { disabled: true } })).statusCode, 200);
    const res = await h.login('tess', 'operator-pass');
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().code, 'INVALID_CREDENTIALS');
  });

  it('protects the last active admin from deletion, demotion and disabling', async () => {
    const admin = ((await h.call('GET', '/api/users')).json().users as { id: string; username: string }[]).find((u) => u.username === 'admin')!;
    for (const [method, body] of [['DELETE', undefined], ['PATCH', { role: 'operator' }], ['PATCH', { disabled: true }]] as const) {
      const res = await h.call(method, `/api/users/${admin.id}`, { body });
      assert.equal(res.statusCode, 409, `${method} ${JSON.stringify(body)}`);
      assert.equal(res.json().code, 'LAST_ADMIN_USER');
    }
    const second = await h.call('POST', '/api/users', { body: { username: 'ada', role: 'admin', password: 'second-admin' } });
    assert.equal(second.statusCode, 201);
    assert.equal((await h.call('PATCH', `/api/users/${admin.id}`, { body: { role: 'operator' } })).statusCode, 200);
    const del = await h.call('DELETE', `/api/users/${second.json().id}`);
    assert.equal(del.statusCode, 409, 'ada is now the last admin');
    assert.equal((await h.call('DELETE', '/api/users/usr_nope')).json().code, 'USER_NOT_FOUND');
  });

  it('changes one\'s own password with the current one, ending the other sessions', async () => {
    const a = await loginToken('ada', 'second-admin');
    const b = await loginToken('ada', 'second-admin');
    const wrong = await h.call('PUT', '/api/session/password', { token: a, body: { currentPassword: 'nope-nope', newPassword: 'brand-new-pass' } });
    assert.equal(wrong.json().code, 'WRONG_PASSWORD');
    const ok = await h.call('PUT', '/api/session/password', { token: a, body: { currentPassword: 'second-admin', newPassword: 'brand-new-pass' } });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal((await h.call('GET', '/api/session', { token: a })).statusCode, 200, 'this session stays');
    assert.equal((await h.call('GET', '/api/session', { token: b })).statusCode, 401, 'the other one ended');
    assert.equal((await h.login('ada', 'brand-new-pass')).statusCode, 201);
  });

  it('documents its routes in the OpenAPI document', async () => {
    const doc = (await h.call('GET', '/api/openapi.json', { token: null })).json() as { paths: Record<string, Record<string, { responses: Record<string, { description?: string }>; security?: unknown[] }>> };
    for (const [path, method] of [['/api/session', 'post'], ['/api/session', 'delete'], ['/api/users', 'get'], ['/api/users/{id}', 'patch'], ['/api/events/stream', 'get'], ['/api/overview', 'get']]) {
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method} ${path}`);
      for (const [status, r] of Object.entries(op.responses)) assert.ok(r.description && r.description !== 'Default Response', `${method} ${path} ${status}`);
    }
    assert.deepEqual(doc.paths['/api/session'].post.security, [], 'login is public');
  });
});
