import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { buildBasicAuthorization, buildDigestAuthorization, parseAuthenticate, type DigestChallenge } from '../../cwmp/auth.ts';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import { CpeAuthenticator, type AuthOutcome } from './cpe-auth.ts';

function challengeOf(outcome: AuthOutcome): DigestChallenge {
  assert.equal(outcome.ok, false);
  if (outcome.ok) throw new Error('unreachable');
  const ch = parseAuthenticate(outcome.challenges).find((c) => c.scheme === 'Digest');
  assert.ok(ch && ch.scheme === 'Digest');
  return ch;
}

describe('CpeAuthenticator', () => {
  const store = openSqliteStore({ file: ':memory:' });

  it('mode none accepts anything', async () => {
    const auth = new CpeAuthenticator({ mode: 'none' }, store);
    assert.deepEqual(await auth.authenticate({ authorization: undefined, method: 'POST', url: '/', secure: false, socket: new Socket() }, 'd'), { ok: true, username: null });
  });

  it('issues one nonce per connection and a new one on another connection', async () => {
    const auth = new CpeAuthenticator({ mode: 'shared', username: 'u', password: 'p' }, store);
    const s1 = new Socket();
    const s2 = new Socket();
    const req = (socket: Socket) => ({ authorization: undefined, method: 'POST', url: '/', secure: false, socket });
    const a = challengeOf(await auth.authenticate(req(s1), 'd'));
    const b = challengeOf(await auth.authenticate(req(s1), 'd'));
    const c = challengeOf(await auth.authenticate(req(s2), 'd'));
    assert.equal(a.nonce, b.nonce);
    assert.notEqual(a.nonce, c.nonce);
  });

  it('an expired nonce is answered with stale=true and a fresh nonce; the fresh one works', async () => {
    let now = 1_000_000;
    const auth = new CpeAuthenticator({ mode: 'shared', username: 'u', password: 'p' }, store, { nonceMaxAgeMs: 60_000, clock: () => now });
    const socket = new Socket();
    const first = challengeOf(await auth.authenticate({ authorization: undefined, method: 'POST', url: '/acs', secure: false, socket }, 'd'));
    now += 61_000;
    const late = buildDigestAuthorization({ challenge: first, username: 'u', password: 'p', method: 'POST', uri: '/acs', nc: 1 });
    const stale = await auth.authenticate({ authorization: late, method: 'POST', url: '/acs', secure: false, socket }, 'd');
    const fresh = challengeOf(stale);
    assert.equal(fresh.stale, true);
    assert.notEqual(fresh.nonce, first.nonce);
    const retry = buildDigestAuthorization({ challenge: fresh, username: 'u', password: 'p', method: 'POST', uri: '/acs', nc: 1 });
    assert.deepEqual(await auth.authenticate({ authorization: retry, method: 'POST', url: '/acs', secure: false, socket }, 'd'), { ok: true, username: 'u' });
  });

  it('refuses a Digest answer for another URI, and a forged nonce', async () => {
    const auth = new CpeAuthenticator({ mode: 'shared', username: 'u', password: 'p' }, store);
    const socket = new Socket();
    const ch = challengeOf(await auth.authenticate({ authorization: undefined, method: 'POST', url: '/', secure: false, socket }, 'd'));
    const other = buildDigestAuthorization({ challenge: ch, username: 'u', password: 'p', method: 'POST', uri: '/other', nc: 1 });
    const r1 = await auth.authenticate({ authorization: other, method: 'POST', url: '/', secure: false, socket }, 'd');
    assert.equal(r1.ok, false);
    const forged = buildDigestAuthorization({ challenge: { ...ch, nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, username: 'u', password: 'p', method: 'POST', uri: '/', nc: 1 });
    const r2 = await auth.authenticate({ authorization: forged, method: 'POST', url: '/', secure: false, socket }, 'd');
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.reason, /invalid-nonce/);
  });

  it('Basic: accepted over TLS only; the reason never contains the password', async () => {
    const auth = new CpeAuthenticator({ mode: 'shared', username: 'u', password: 'pw-123' }, store);
    const basic = buildBasicAuthorization('u', 'pw-123');
    const plain = await auth.authenticate({ authorization: basic, method: 'POST', url: '/', secure: false, socket: new Socket() }, 'd');
    assert.equal(plain.ok, false);
    if (!plain.ok) {
      assert.match(plain.reason, /plain HTTP/);
      assert.equal(plain.challenges.length, 1, 'no Basic challenge over plain HTTP');
    }
    const tls = await auth.authenticate({ authorization: basic, method: 'POST', url: '/', secure: true, socket: new Socket() }, 'd');
    assert.deepEqual(tls, { ok: true, username: 'u' });
    const wrong = await auth.authenticate({ authorization: buildBasicAuthorization('u', 'pw-124'), method: 'POST', url: '/', secure: true, socket: new Socket() }, 'd');
    assert.equal(wrong.ok, false);
    if (!wrong.ok) {
      assert.equal(wrong.reason.includes('pw-12'), false);
      assert.equal(wrong.challenges.length, 2);
    }
  });

  it('per-device: falls back to the shared credential for devices without their own', async () => {
    const s = openSqliteStore({ file: ':memory:' });
    await s.createDevice({ manufacturer: 'G', oui: '000B82', productClass: 'P', serialNumber: 'OWN', credentials: { acsUsername: 'own', acsPassword: 'own-pw' } });
    const auth = new CpeAuthenticator({ mode: 'per-device', shared: { username: 'all', password: 'all-pw' } }, s);
    const tls = (authorization: string) => ({ authorization, method: 'POST', url: '/', secure: true, socket: new Socket() });
    assert.equal((await auth.authenticate(tls(buildBasicAuthorization('own', 'own-pw')), '000B82-P-OWN')).ok, true);
    assert.equal((await auth.authenticate(tls(buildBasicAuthorization('all', 'all-pw')), '000B82-P-OWN')).ok, false, 'a device with its own credentials needs them');
    assert.equal((await auth.authenticate(tls(buildBasicAuthorization('all', 'all-pw')), '000B82-P-OTHER')).ok, true);
    await s.close();
  });
});
