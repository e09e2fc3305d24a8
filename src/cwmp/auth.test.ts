import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  AuthError,
  DigestClient,
  buildBasicAuthorization,
  buildDigestAuthorization,
  buildDigestChallenge,
  checkDigest,
  checkNonce,
  createNonce,
  digestHa1,
  parseAuthenticate,
  parseAuthorization,
  selectChallenge,
  verifyDigest,
  type DigestAuthorization,
  type DigestChallenge,
} from './auth.ts';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

function digestOf(header: string): DigestAuthorization {
  const a = parseAuthorization(header);
  assert.ok(a && a.scheme === 'Digest', `not a Digest authorization: ${header}`);
  return a;
}

function onlyDigest(header: string): DigestChallenge {
  const list = parseAuthenticate(header);
  assert.equal(list.length, 1);
  const ch = list[0];
  assert.equal(ch.scheme, 'Digest');
  return ch as DigestChallenge;
}

describe('RFC 2617 §3.5 example', () => {
  const challengeHeader =
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"';

  test('client response matches the published value', () => {
    const challenge = onlyDigest(challengeHeader);
    assert.deepEqual(challenge.qop, ['auth', 'auth-int']);
    assert.equal(challenge.algorithm, undefined);
    const header = buildDigestAuthorization({
      challenge,
      username: 'Mufasa',
      password: 'Circle Of Life',
      method: 'GET',
      uri: '/dir/index.html',
      cnonce: '0a4f113b',
      nc: 1,
    });
    const a = digestOf(header);
    assert.equal(a.response, '6629fae49393a05397450978507c4ef1');
    assert.equal(a.qop, 'auth');
    assert.equal(a.nc, '00000001');
    assert.equal(a.opaque, '5ccc069c403ebaf9f0171e9517f40e41');
    assert.equal(a.algorithm, undefined, 'no algorithm echoed when the challenge named none');
  });

  test('server verifies the published Authorization header', () => {
    const header =
      'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"';
    const authorization = digestOf(header);
    const base = { authorization, method: 'GET', realm: 'testrealm@host.com', uri: '/dir/index.html' };
    assert.equal(verifyDigest({ ...base, password: 'Circle Of Life' }), true);
    assert.equal(verifyDigest({ ...base, ha1: digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life') }), true);
    assert.deepEqual(checkDigest({ ...base, password: 'Circle of Life' }), { ok: false, reason: 'bad-response' });
    assert.deepEqual(checkDigest({ ...base, method: 'POST', password: 'Circle Of Life' }), { ok: false, reason: 'bad-response' });
    assert.deepEqual(checkDigest({ ...base, uri: '/other', password: 'Circle Of Life' }), { ok: false, reason: 'wrong-uri' });
    assert.deepEqual(checkDigest({ ...base, realm: 'x', password: 'Circle Of Life' }), { ok: false, reason: 'wrong-realm' });
    assert.deepEqual(checkDigest({ ...base, algorithm: 'MD5-sess', password: 'Circle Of Life' }), { ok: false, reason: 'wrong-algorithm' });
    assert.deepEqual(checkDigest(base), { ok: false, reason: 'no-credentials' });
  });
});

describe('RFC 7616 §3.9.1 example', () => {
  const nonce = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
  const opaque = 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS';
  const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  const two =
    `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="${nonce}", opaque="${opaque}", ` +
    `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="${nonce}", opaque="${opaque}"`;

  test('parses both challenges of one header', () => {
    const list = parseAuthenticate(two);
    assert.equal(list.length, 2);
    assert.deepEqual(
      list.map((c) => (c.scheme === 'Digest' ? c.algorithm : c.scheme)),
      ['SHA-256', 'MD5'],
    );
    for (const c of list) {
      assert.equal(c.scheme, 'Digest');
      if (c.scheme !== 'Digest') continue;
      assert.equal(c.nonce, nonce);
      assert.equal(c.opaque, opaque);
      assert.deepEqual(c.qop, ['auth', 'auth-int']);
    }
  });

  for (const [algorithm, expected] of [
    ['MD5', '8ca523f5e9506fed4657c9700eebdbec'],
    ['SHA-256', '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1'],
  ] as const) {
    test(`${algorithm} response matches the published value`, () => {
      const challenge = parseAuthenticate(two).find((c) => c.scheme === 'Digest' && c.algorithm === algorithm) as DigestChallenge;
      const header = buildDigestAuthorization({ challenge, username: 'Mufasa', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html', cnonce, nc: 1 });
      const a = digestOf(header);
      assert.equal(a.response, expected);
      assert.equal(a.algorithm, algorithm);
      assert.equal(verifyDigest({ authorization: a, method: 'GET', password: 'Circle of Life', realm: 'http-auth@example.org', algorithm }), true);
    });
  }

  test('the published MD5 Authorization header (no space after the colon) verifies', () => {
    const header = `Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, nonce="${nonce}", nc=00000001, cnonce="${cnonce}", qop=auth, response="8ca523f5e9506fed4657c9700eebdbec", opaque="${opaque}"`;
    assert.equal(verifyDigest({ authorization: digestOf(header), method: 'GET', password: 'Circle of Life', realm: 'http-auth@example.org' }), true);
  });
});

describe('MD5-sess', () => {
  test('response equals an independent computation', () => {
    const challenge = onlyDigest('Digest realm="acs", nonce="abc123", qop="auth", algorithm=MD5-sess');
    const header = buildDigestAuthorization({ challenge, username: 'cpe', password: 'pw', method: 'POST', uri: '/acs', cnonce: 'c0ffee', nc: 3 });
    const a = digestOf(header);
    // RFC 7616 §3.4.2: HA1 = H( H(user:realm:pass) : nonce : cnonce ), hex throughout.
    const ha1 = md5(`${md5('cpe:acs:pw')}:abc123:c0ffee`);
    const ha2 = md5('POST:/acs');
    assert.equal(a.response, md5(`${ha1}:abc123:00000003:c0ffee:auth:${ha2}`));
    assert.equal(a.algorithm, 'MD5-sess');
    assert.equal(verifyDigest({ authorization: a, method: 'POST', password: 'pw', realm: 'acs', algorithm: 'MD5-sess' }), true);
    assert.equal(verifyDigest({ authorization: a, method: 'POST', ha1: md5('cpe:acs:pw'), realm: 'acs', algorithm: 'MD5-sess' }), true);
    assert.equal(verifyDigest({ authorization: a, method: 'POST', password: 'pw', realm: 'acs', algorithm: 'MD5' }), false);
  });

  test('algorithm spelling is case-insensitive', () => {
    const challenge = onlyDigest('digest REALM="r", Nonce="n", QOP="AUTH", ALGORITHM="md5-SESS"');
    assert.equal(challenge.algorithm, 'MD5-sess');
    assert.deepEqual(challenge.qop, ['auth']);
  });
});

describe('RFC 2069 (no qop)', () => {
  test('client answers without qop/nc/cnonce; server accepts only when allowed', () => {
    const challenge = onlyDigest('Digest realm="old", nonce="n0nce"');
    const header = buildDigestAuthorization({ challenge, username: 'u', password: 'p', method: 'GET', uri: '/' });
    assert.doesNotMatch(header, /qop|nc=|cnonce/);
    const a = digestOf(header);
    assert.equal(a.response, md5(`${md5('u:old:p')}:n0nce:${md5('GET:/')}`));
    assert.equal(verifyDigest({ authorization: a, method: 'GET', password: 'p', realm: 'old', allowNoQop: true }), true);
    assert.deepEqual(checkDigest({ authorization: a, method: 'GET', password: 'p', realm: 'old' }), { ok: false, reason: 'bad-qop' });
  });
});

describe('parseAuthenticate', () => {
  test('Basic and Digest in one header, escapes and commas inside quotes', () => {
    const list = parseAuthenticate('Basic realm="a, \\"quoted\\" realm", Digest realm="r,1", nonce="x\\\\y", qop="auth", stale=TRUE');
    assert.equal(list.length, 2);
    assert.deepEqual(list[0], { scheme: 'Basic', realm: 'a, "quoted" realm', params: { realm: 'a, "quoted" realm' } });
    const d = list[1] as DigestChallenge;
    assert.equal(d.realm, 'r,1');
    assert.equal(d.nonce, 'x\\y');
    assert.equal(d.stale, true);
  });

  test('several header occurrences, token68 and unknown schemes', () => {
    const list = parseAuthenticate(['Negotiate', 'Bearer abc.def==, Digest realm=r, nonce=n']);
    assert.deepEqual(
      list.map((c) => c.scheme),
      ['Other', 'Other', 'Digest'],
    );
    assert.equal(list[1].scheme === 'Other' && list[1].token68, 'abc.def==');
    assert.equal((list[2] as DigestChallenge).nonce, 'n');
  });

  test('Digest without nonce is dropped; garbage after a good challenge keeps it', () => {
    assert.deepEqual(parseAuthenticate('Digest realm="r"'), []);
    const list = parseAuthenticate('Digest realm="r", nonce="n", "garbage');
    assert.equal(list.length, 1);
    assert.deepEqual(parseAuthenticate('Digest realm="unterminated'), []);
    assert.deepEqual(parseAuthenticate(''), []);
    assert.deepEqual(parseAuthenticate('=,='), []);
  });

  test('selectChallenge prefers a usable Digest, falls back to Basic only when allowed', () => {
    const list = parseAuthenticate('Basic realm="b", Digest realm="r", nonce="n", qop="auth-int", Digest realm="r", nonce="n2", algorithm=SHA-512-256, Digest realm="r", nonce="n3", qop="auth,auth-int"');
    const chosen = selectChallenge(list);
    assert.equal(chosen?.scheme === 'Digest' && chosen.nonce, 'n3');
    assert.equal(selectChallenge(parseAuthenticate('Basic realm="b"')), null);
    assert.equal(selectChallenge(parseAuthenticate('Basic realm="b"'), { allowBasic: true })?.scheme, 'Basic');
  });

  test('never throws on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const list = parseAuthenticate(s);
        assert.ok(Array.isArray(list));
        parseAuthorization(s);
      }),
      { numRuns: 300 },
    );
  });

  test('never throws on header-shaped input (property)', () => {
    const piece = fc.constantFrom('Digest', 'Basic', ' ', ',', '=', '"', '\\', 'realm', 'nonce', 'qop', 'auth', 'x');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => {
        const s = parts.join('');
        parseAuthenticate(s);
        parseAuthorization(s);
      }),
      { numRuns: 300 },
    );
  });
});

describe('build/parse round trips', () => {
  test('challenge round trip including quotes in the realm', () => {
    const header = buildDigestChallenge({ realm: 'Switch "board" \\ ACS', nonce: 'abc', opaque: 'op', algorithm: 'MD5-sess', stale: true });
    const ch = onlyDigest(header);
    assert.equal(ch.realm, 'Switch "board" \\ ACS');
    assert.equal(ch.nonce, 'abc');
    assert.equal(ch.opaque, 'op');
    assert.equal(ch.algorithm, 'MD5-sess');
    assert.deepEqual(ch.qop, ['auth']);
    assert.equal(ch.stale, true);
    assert.deepEqual(onlyDigest(buildDigestChallenge({ realm: 'r', nonce: 'n', qop: null })).qop, []);
    assert.throws(() => buildDigestChallenge({ realm: 'a\r\nX: y', nonce: 'n' }), AuthError);
  });

  test('authorization round trip for random credentials (property)', () => {
    const text = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[\r\n]/.test(s));
    fc.assert(
      fc.property(text, text, text, fc.constantFrom('MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess' as const), fc.integer({ min: 1, max: 0xffffffff }), (user, pass, realm, algorithm, nc) => {
        const nonce = createNonce('k', 1000);
        const challenge = onlyDigest(buildDigestChallenge({ realm, nonce, algorithm }));
        const a = digestOf(buildDigestAuthorization({ challenge, username: user, password: pass, method: 'POST', uri: '/cwmp?x=1', nc }));
        assert.equal(a.username, user);
        assert.equal(a.nc, nc.toString(16).padStart(8, '0'));
        assert.equal(verifyDigest({ authorization: a, method: 'POST', password: pass, realm, uri: '/cwmp?x=1', algorithm }), true);
        assert.equal(verifyDigest({ authorization: a, method: 'POST', password: `${pass}x`, realm, algorithm }), false);
      }),
      { numRuns: 150 },
    );
  });

  test('an absolute-form uri in the header matches the origin-form request-target', () => {
    const challenge = onlyDigest(buildDigestChallenge({ realm: 'r', nonce: 'n' }));
    const a = digestOf(buildDigestAuthorization({ challenge, username: 'u', password: 'p', method: 'GET', uri: 'http://cpe:7547/cr?a=b' }));
    assert.equal(verifyDigest({ authorization: a, method: 'GET', password: 'p', realm: 'r', uri: '/cr?a=b' }), true);
    assert.equal(verifyDigest({ authorization: a, method: 'GET', password: 'p', realm: 'r', uri: '/cr' }), false);
  });

  test('builder refuses what it cannot do', () => {
    const intOnly = onlyDigest('Digest realm="r", nonce="n", qop="auth-int"');
    assert.throws(() => buildDigestAuthorization({ challenge: intOnly, username: 'u', password: 'p', method: 'GET', uri: '/' }), (e: unknown) => e instanceof AuthError && e.code === 'unsupported-qop');
    const sha512 = onlyDigest('Digest realm="r", nonce="n", algorithm=SHA-512-256');
    assert.throws(() => buildDigestAuthorization({ challenge: sha512, username: 'u', password: 'p', method: 'GET', uri: '/' }), (e: unknown) => e instanceof AuthError && e.code === 'unsupported-algorithm');
    const ok = onlyDigest('Digest realm="r", nonce="n", qop=auth');
    assert.throws(() => buildDigestAuthorization({ challenge: ok, username: 'u', password: 'p', method: 'GET', uri: '/', nc: 0 }), AuthError);
  });
});

describe('parseAuthorization', () => {
  test('Basic decodes user and password (password may contain colons)', () => {
    assert.deepEqual(parseAuthorization(buildBasicAuthorization('admin', 'pa:ss wörd')), { scheme: 'Basic', username: 'admin', password: 'pa:ss wörd' });
    assert.deepEqual(parseAuthorization('basic dXNlcjo='), { scheme: 'Basic', username: 'user', password: '' });
    assert.throws(() => buildBasicAuthorization('a:b', 'c'), AuthError);
  });

  test('malformed headers give null', () => {
    for (const h of [
      '',
      'Basic',
      'Basic !!!',
      'Basic dXNlcg==', // no colon
      'Bearer abc',
      'Digest',
      'Digest username="u", realm="r", nonce="n", uri="/"', // no response
      'Digest username="u", realm="r", nonce="n", uri="/", response="x", qop=auth', // qop without nc/cnonce
      'Digest username="u" realm="r"', // missing comma
      'Digest username="unterminated',
    ]) {
      assert.equal(parseAuthorization(h), null, h);
    }
    assert.equal(parseAuthorization(undefined), null);
    assert.equal(parseAuthorization('Digest ' + 'a=b, '.repeat(5000)), null, 'oversized header');
  });

  test('Digest keeps all parameters and accepts quoted qop', () => {
    const a = digestOf('Digest username="u", realm="r", nonce="n", uri="/", response="abc", qop="auth", nc=00000002, cnonce="c", extra=1');
    assert.equal(a.qop, 'auth');
    assert.equal(a.params.extra, '1');
  });
});

describe('stateless nonces', () => {
  test('ok, stale, invalid', () => {
    const t0 = 1_700_000_000_000;
    const n = createNonce('secret', t0);
    assert.match(n, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(checkNonce('secret', n, t0 + 1000, 60_000), 'ok');
    assert.equal(checkNonce('secret', n, t0 + 61_000, 60_000), 'stale');
    assert.equal(checkNonce('other', n, t0, 60_000), 'invalid');
    assert.equal(checkNonce('secret', `${n.slice(0, -2)}AA`, t0, 60_000), 'invalid');
    assert.equal(checkNonce('secret', 'short', t0, 60_000), 'invalid');
    assert.equal(checkNonce('secret', 'not base64!', t0, 60_000), 'invalid');
    assert.equal(checkNonce('secret', createNonce('secret', t0 + 3_600_000), t0, 60_000), 'invalid', 'from the future');
    assert.notEqual(createNonce('secret', t0), n, 'random part differs');
  });

  test('checkDigest reports stale and invalid nonces', () => {
    const t0 = 1_700_000_000_000;
    const nonce = createNonce('s', t0);
    const challenge = onlyDigest(buildDigestChallenge({ realm: 'r', nonce }));
    const authorization = digestOf(buildDigestAuthorization({ challenge, username: 'u', password: 'p', method: 'POST', uri: '/' }));
    const base = { authorization, method: 'POST', password: 'p', realm: 'r', nonceSecret: 's', maxNonceAgeMs: 10_000 };
    assert.deepEqual(checkDigest({ ...base, now: t0 + 5_000 }), { ok: true });
    assert.deepEqual(checkDigest({ ...base, now: t0 + 50_000 }), { ok: false, reason: 'stale-nonce' });
    assert.deepEqual(checkDigest({ ...base, nonceSecret: 'x', now: t0 }), { ok: false, reason: 'invalid-nonce' });
  });
});

describe('DigestClient', () => {
  test('counts nc per nonce, resets on a new nonce, detects refusal', () => {
    const client = new DigestClient({ username: 'u', password: 'p' });
    assert.equal(client.authorization('POST', '/'), null);
    assert.equal(client.handleChallenge('Digest realm="r", nonce="n1", qop="auth"'), true);
    const first = digestOf(client.authorization('POST', '/') as string);
    const second = digestOf(client.authorization('POST', '/') as string);
    assert.equal(first.nc, '00000001');
    assert.equal(second.nc, '00000002');
    assert.equal(verifyDigest({ authorization: second, method: 'POST', password: 'p', realm: 'r' }), true);
    // Same nonce again without stale: our credentials were refused.
    assert.equal(client.handleChallenge('Digest realm="r", nonce="n1", qop="auth"'), false);
    // Same nonce with stale=true: retry is fine.
    assert.equal(client.handleChallenge('Digest realm="r", nonce="n1", qop="auth", stale=true'), true);
    assert.equal(client.handleChallenge('Digest realm="r", nonce="n2", qop="auth"'), true);
    assert.equal(digestOf(client.authorization('POST', '/') as string).nc, '00000001');
    assert.equal(client.handleChallenge('Basic realm="b"'), false, 'Basic not allowed by default');
    assert.equal(client.handleChallenge(undefined), false);
  });

  test('Basic when allowed', () => {
    const client = new DigestClient({ username: 'u', password: 'p', allowBasic: true });
    assert.equal(client.handleChallenge('Basic realm="b"'), true);
    assert.equal(client.authorization('GET', '/'), buildBasicAuthorization('u', 'p'));
    assert.equal(client.handleChallenge('Basic realm="b"'), false, 'a second Basic challenge means refused');
  });
});
