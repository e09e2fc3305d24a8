import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashToken } from '../../src/api/index.ts';
import { enc, makeToken, seedDevice, setup, type Harness } from './helpers.ts';
import { operations, WRITES, type Operation } from './routes.ts';

describe('API authentication and roles', () => {
  let h: Harness;
  let ops: Operation[];
  before(async () => {
    h = await setup();
    ops = await operations(h);
  });
  after(() => h.close());

  it('lists enough operations to make the loops below meaningful', () => {
    assert.ok(ops.length >= 20, `only ${ops.length} operations`);
    assert.deepEqual(
      ops.filter((o) => o.isPublic).map((o) => o.path).sort(),
      ['/api/health', '/api/openapi.json'],
    );
  });

  it('answers 401 UNAUTHORIZED without a token on every non-public route', async () => {
    for (const op of ops.filter((o) => !o.isPublic)) {
      const res = await h.call(op.method, op.sampleUrl, { token: null, body: op.method === 'GET' || op.method === 'DELETE' ? undefined : {} });
      assert.equal(res.statusCode, 401, `${op.method} ${op.path}`);
      assert.equal(res.json().code, 'UNAUTHORIZED', `${op.method} ${op.path}`);
      assert.match(res.json().message, /Bearer/);
    }
  });

  it('answers 401 INVALID_TOKEN with a revoked token on every non-public route', async () => {
    const revoked = await makeToken(h.store, 'soon-revoked', 'admin');
    await h.store.revokeApiToken(revoked.id);
    for (const op of ops.filter((o) => !o.isPublic)) {
      const res = await h.call(op.method, op.sampleUrl, { token: revoked.secret });
      assert.equal(res.statusCode, 401, `${op.method} ${op.path}`);
      assert.equal(res.json().code, 'INVALID_TOKEN', `${op.method} ${op.path}`);
    }
  });

  it('answers 401 for an unknown token and for a non-bearer scheme', async () => {
    const unknown = await h.call('GET', '/api/devices', { token: 'sb_not-a-real-token' });
    assert.equal(unknown.statusCode, 401);
    assert.equal(unknown.json().code, 'INVALID_TOKEN');
    const basic = await h.call('GET', '/api/devices', { token: null, headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    assert.equal(basic.statusCode, 401);
    assert.equal(basic.json().code, 'UNAUTHORIZED');
  });

  it('answers 403 FORBIDDEN to a viewer on every write route, before reading the body', async () => {
    for (const op of ops.filter((o) => WRITES.has(o.method))) {
      const res = await h.call(op.method, op.sampleUrl, { token: h.tokens.viewer, payload: op.method === 'DELETE' ? undefined : '{not json' });
      assert.equal(res.statusCode, 403, `${op.method} ${op.path}`);
      const body = res.json();
      assert.equal(body.code, 'FORBIDDEN');
      assert.match(body.message, /role "viewer" may not/);
    }
  });

  it('lets a viewer read devices, tasks, faults, and its own token', async () => {
    for (const url of ['/api/devices', '/api/tasks', '/api/faults', '/api/me']) {
      const res = await h.call('GET', url, { token: h.tokens.viewer });
      assert.equal(res.statusCode, 200, url);
    }
    assert.equal((await h.call('GET', '/api/me', { token: h.tokens.viewer })).json().role, 'viewer');
  });

  it('keeps tokens and the audit log for admins', async () => {
    for (const role of ['viewer', 'operator'] as const) {
      for (const url of ['/api/tokens', '/api/audit']) {
        const res = await h.call('GET', url, { token: h.tokens[role] });
        assert.equal(res.statusCode, 403, `${role} ${url}`);
      }
    }
  });

  it('lets an operator queue tasks and tag devices but not delete devices', async () => {
    const id = await seedDevice(h.store, { productClass: 'HT502', serialNumber: 'OP1' });
    const task = await h.call('POST', `/api/devices/${enc(id)}/tasks`, { token: h.tokens.operator, body: { type: 'reboot' } });
    assert.equal(task.statusCode, 202);
    const tag = await h.call('PUT', `/api/devices/${enc(id)}/tags/lab`, { token: h.tokens.operator });
    assert.equal(tag.statusCode, 200);
    const del = await h.call('DELETE', `/api/devices/${enc(id)}`, { token: h.tokens.operator });
    assert.equal(del.statusCode, 403);
    assert.equal(del.json().code, 'FORBIDDEN');
  });

  it('serves the health check and the OpenAPI document without a token', async () => {
    const health = await h.call('GET', '/api/health', { token: null });
    assert.equal(health.statusCode, 200);
    assert.equal(health.json().status, 'ok');
    const doc = await h.call('GET', '/api/openapi.json', { token: null });
    assert.equal(doc.statusCode, 200);
    assert.equal(doc.json().openapi, '3.1.0');
  });

  it('answers 404 ROUTE_NOT_FOUND for unknown API routes, after authentication', async () => {
    const anon = await h.call('GET', '/api/nowhere', { token: null });
    assert.equal(anon.statusCode, 401);
    const res = await h.call('GET', '/api/nowhere?x=1', { token: h.tokens.viewer });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), { code: 'ROUTE_NOT_FOUND', message: 'There is no route GET /api/nowhere.' });
    const wrongMethod = await h.call('PATCH', '/api/tokens', { token: h.tokens.admin, body: {} });
    assert.equal(wrongMethod.statusCode, 404);
  });

  it('records when a token was last used', async () => {
    const t = await makeToken(h.store, 'fresh', 'viewer');
    assert.equal((await h.store.listApiTokens()).find((x) => x.id === t.id)?.lastUsedAt, null);
    await h.call('GET', '/api/devices', { token: t.secret });
    assert.notEqual((await h.store.listApiTokens()).find((x) => x.id === t.id)?.lastUsedAt, null);
  });
});

describe('API tokens routes', () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(() => h.close());

  it('creates a token whose secret works once shown, and stores only its SHA-256 hash', async () => {
    const res = await h.call('POST', '/api/tokens', { body: { name: 'ci-bot', role: 'operator' } });
    assert.equal(res.statusCode, 201);
    const { token, secret } = res.json();
    assert.match(secret, /^sb_[A-Za-z0-9_-]{43}$/);
    assert.equal(token.name, 'ci-bot');
    assert.equal(token.role, 'operator');
    assert.equal(token.hash, undefined);
    assert.equal(res.headers.location, `/api/tokens/${token.id}`);
    const stored = await h.store.findApiTokenByHash(hashToken(secret));
    assert.equal(stored?.id, token.id);
    assert.notEqual(stored?.hash, secret);
    const me = await h.call('GET', '/api/me', { token: secret });
    assert.equal(me.statusCode, 200);
    assert.equal(me.json().name, 'ci-bot');
  });

  it('lists tokens without secrets or hashes', async () => {
    const res = await h.call('GET', '/api/tokens');
    assert.equal(res.statusCode, 200);
    const { tokens } = res.json();
    assert.ok(tokens.length >= 3);
    for (const t of tokens) {
      assert.deepEqual(Object.keys(t).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'role']);
    }
    assert.ok(!res.body.includes(h.tokens.admin));
  });

  it('revokes a token (idempotently), after which it is refused', async () => {
    const created = (await h.call('POST', '/api/tokens', { body: { name: 'temp', role: 'viewer' } })).json();
    assert.equal((await h.call('GET', '/api/me', { token: created.secret })).statusCode, 200);
    const res = await h.call('DELETE', `/api/tokens/${created.token.id}`);
    assert.equal(res.statusCode, 200);
    assert.notEqual(res.json().revokedAt, null);
    const again = await h.call('DELETE', `/api/tokens/${created.token.id}`);
    assert.equal(again.statusCode, 200);
    assert.equal(again.json().revokedAt, res.json().revokedAt);
    const refused = await h.call('GET', '/api/me', { token: created.secret });
    assert.equal(refused.statusCode, 401);
    assert.equal(refused.json().code, 'INVALID_TOKEN');
  });

  it('answers 404 for an unknown token id, 409 for a taken name and for the last admin token', async () => {
    const missing = await h.call('DELETE', '/api/tokens/99999');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'TOKEN_NOT_FOUND');
    const dup = await h.call('POST', '/api/tokens', { body: { name: 'viewer', role: 'viewer' } });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.json().code, 'TOKEN_NAME_TAKEN');
    const last = await h.call('DELETE', `/api/tokens/${h.tokenIds.admin}`);
    assert.equal(last.statusCode, 409);
    assert.equal(last.json().code, 'LAST_ADMIN_TOKEN');
    // With a second admin, the first one can go.
    const second = (await h.call('POST', '/api/tokens', { body: { name: 'admin2', role: 'admin' } })).json();
    const revoke = await h.call('DELETE', `/api/tokens/${h.tokenIds.admin}`, { token: second.secret });
    assert.equal(revoke.statusCode, 200);
  });

  it('answers 400 naming the field for a bad token body', async () => {
    // The harness's admin token was revoked by the test above; use a fresh admin.
    const admin = await makeToken(h.store, 'admin3', 'admin');
    const bad = await h.call('POST', '/api/tokens', { token: admin.secret, body: { name: 'x', role: 'root' } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'VALIDATION_FAILED');
    assert.match(bad.json().message, /\/role/);
    const extra = await h.call('POST', '/api/tokens', { token: admin.secret, body: { name: 'y', role: 'viewer', hash: 'abc' } });
    assert.equal(extra.statusCode, 400);
    assert.match(extra.json().message, /\/hash/);
    const missing = await h.call('POST', '/api/tokens', { token: admin.secret, body: { role: 'viewer' } });
    assert.equal(missing.statusCode, 400);
    assert.match(missing.json().message, /\/name: Expected required property/);
  });
});
