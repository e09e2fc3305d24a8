import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import {
  buildUdpConnectionRequest,
  isUdpCrError,
  parseHostPort,
  parseUdpConnectionRequest,
  randomCnonce,
  verifyUdpConnectionRequest,
  type UdpConnectionRequest,
} from './udp-connection-request.ts';

const base = { host: '203.0.113.7', port: 5060, ts: 1_120_673_700, id: 1234, username: 'CPE57689', cnonce: 'XTGRWIPC6D3IPXS3', password: 'secret' };
const creds = { username: 'CPE57689', password: 'secret' };

function parsed(text: string | Uint8Array): UdpConnectionRequest {
  const r = parseUdpConnectionRequest(text);
  assert.ok(!isUdpCrError(r), `unexpected error ${JSON.stringify(r)}`);
  return r;
}

describe('buildUdpConnectionRequest', () => {
  test('exact text and an independently computed signature', () => {
    const sig = createHmac('sha1', 'secret').update('1120673700' + '1234' + 'CPE57689' + 'XTGRWIPC6D3IPXS3').digest('hex');
    assert.equal(
      buildUdpConnectionRequest(base),
      `GET http://203.0.113.7:5060?ts=1120673700&id=1234&un=CPE57689&cn=XTGRWIPC6D3IPXS3&sig=${sig} HTTP/1.1\r\nHost: 203.0.113.7:5060\r\n\r\n`,
    );
  });

  test('port 80 is omitted, IPv6 is bracketed, un/cn are percent-encoded', () => {
    const t = buildUdpConnectionRequest({ ...base, host: '2001:db8::1', port: 80, username: 'a b&c', cnonce: 'x=y' });
    assert.match(t, /^GET http:\/\/\[2001:db8::1\]\?ts=1120673700&id=1234&un=a%20b%26c&cn=x%3Dy&sig=[0-9a-f]{40} HTTP\/1\.1\r\nHost: \[2001:db8::1\]\r\n\r\n$/);
    const r = parsed(t);
    assert.equal(r.username, 'a b&c');
    assert.equal(r.cnonce, 'x=y');
    assert.equal(r.host, '2001:db8::1');
    assert.equal(r.port, 80);
    assert.deepEqual(verifyUdpConnectionRequest(r, { username: 'a b&c', password: 'secret' }), { ok: true });
  });

  test('refuses bad arguments', () => {
    assert.throws(() => buildUdpConnectionRequest({ ...base, host: 'a b' }), TypeError);
    assert.throws(() => buildUdpConnectionRequest({ ...base, port: 0 }), TypeError);
    assert.throws(() => buildUdpConnectionRequest({ ...base, id: -1 }), TypeError);
    assert.throws(() => buildUdpConnectionRequest({ ...base, id: 2 ** 32 }), TypeError);
    assert.throws(() => buildUdpConnectionRequest({ ...base, ts: 1.5 }), TypeError);
  });

  test('randomCnonce is hex and varies', () => {
    const a = randomCnonce();
    assert.match(a, /^[0-9A-F]{16}$/);
    assert.notEqual(a, randomCnonce());
  });
});

describe('parseUdpConnectionRequest', () => {
  test('round trip from bytes', () => {
    const r = parsed(Buffer.from(buildUdpConnectionRequest(base)));
    assert.equal(r.ts, '1120673700');
    assert.equal(r.id, '1234');
    assert.equal(r.username, 'CPE57689');
    assert.equal(r.cnonce, 'XTGRWIPC6D3IPXS3');
    assert.equal(r.host, '203.0.113.7');
    assert.equal(r.port, 5060);
  });

  test('lenient forms: trailing slash, origin-form with Host, LF line ends, upper-case sig, + for space', () => {
    const sig = createHmac('sha1', 'pw').update('12u sc').digest('hex').toUpperCase();
    for (const text of [
      `GET http://h:1/?ts=1&id=2&un=u+s&cn=c&sig=${sig} HTTP/1.1\r\nHost: h:1\r\n\r\n`,
      `GET /?ts=1&id=2&un=u%20s&cn=c&sig=${sig} HTTP/1.1\nhost: h:1\n\n`,
      `GET http://h:1?ts=1&id=2&un=u+s&cn=c&sig=${sig} HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n`,
      `GET http://h:1?ts=1&id=2&un=u+s&cn=c&sig=${sig} HTTP/1.1\r\n`,
    ]) {
      const r = parsed(text);
      assert.equal(r.host, 'h');
      assert.equal(r.username, 'u s');
      assert.deepEqual(verifyUdpConnectionRequest(r, { username: 'u s', password: 'pw' }), { ok: true }, text);
    }
  });

  test('typed errors for malformed datagrams', () => {
    const good = buildUdpConnectionRequest(base);
    const cases: Array<[string | Uint8Array, string]> = [
      ['', 'not-http'],
      ['hello', 'not-http'],
      [good.replace('GET', 'POST'), 'not-get'],
      [good.replace('HTTP/1.1', 'HTTP/2'), 'not-http'],
      [good.replace(/\?.*? HTTP/, ' HTTP'), 'bad-request-target'],
      [good.replace('http://', 'https://'), 'bad-request-target'],
      [good.replace('&un=CPE57689', ''), 'missing-parameter'],
      [good.replace('ts=1120673700', 'ts=-5'), 'bad-parameter'],
      [good.replace('id=1234', 'id=12a'), 'bad-parameter'],
      [good.replace(/sig=[0-9a-f]+/, 'sig=zz'), 'bad-parameter'],
      [`${good}body`, 'has-body'],
      [good.replace('\r\n\r\n', '\r\nContent-Length: 4\r\n\r\n'), 'has-body'],
      [good.replace(/Host: .*\r\n/, 'NoColonHere\r\n'), 'not-http'],
      [good.replace('203.0.113.7:5060?', '[zz]:5060?'), 'bad-request-target'],
      [Buffer.alloc(5000, 0x41), 'too-large'],
    ];
    for (const [text, code] of cases) {
      const r = parseUdpConnectionRequest(text);
      assert.ok(isUdpCrError(r), `expected ${code} for ${JSON.stringify(text.toString().slice(0, 80))}`);
      assert.equal(r.error, code, JSON.stringify(text.toString().slice(0, 80)));
    }
  });

  test('never throws on random bytes or mutated requests (property)', () => {
    const good = buildUdpConnectionRequest(base);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = parseUdpConnectionRequest(bytes);
        verifyUdpConnectionRequest(r, creds);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.string({ maxLength: 3 }), (pos, s) => {
        const r = parseUdpConnectionRequest(good.slice(0, pos) + s + good.slice(pos + 1));
        const v = verifyUdpConnectionRequest(r, creds);
        // A mutation is either harmless (same fields) or rejected; it never yields a different valid request.
        if (v.ok && !isUdpCrError(r)) {
          assert.equal(r.ts + r.id + r.username + r.cnonce, '1120673700' + '1234' + 'CPE57689' + 'XTGRWIPC6D3IPXS3');
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('verifyUdpConnectionRequest', () => {
  const req = parsed(buildUdpConnectionRequest(base));

  test('accepts a good request', () => {
    assert.deepEqual(verifyUdpConnectionRequest(req, creds), { ok: true });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, lastAccepted: { ts: 1_120_673_600, id: 1233 } }), { ok: true });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, lastAccepted: { ts: '1120673700', id: '1233' } }), { ok: true }, 'same second, new id');
  });

  test('rejections', () => {
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, password: 'wrong' }), { ok: false, reason: 'bad-signature' });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, username: 'other' }), { ok: false, reason: 'wrong-username' });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, lastAccepted: { ts: 1_120_673_700, id: 1234 } }), { ok: false, reason: 'replayed-id' });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, lastAccepted: { ts: 1_120_673_700, id: '01234' } }), { ok: false, reason: 'replayed-id' });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, lastAccepted: { ts: 1_120_673_701, id: 9 } }), { ok: false, reason: 'stale-timestamp' });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, now: 1_120_673_700 + 301, maxSkewSeconds: 300 }), { ok: false, reason: 'stale-timestamp' });
    assert.deepEqual(verifyUdpConnectionRequest(req, { ...creds, now: 1_120_673_700 + 299, maxSkewSeconds: 300 }), { ok: true });
    assert.deepEqual(verifyUdpConnectionRequest(parseUdpConnectionRequest('junk'), creds), { ok: false, reason: 'malformed' });
  });

  test('tampering with any signed field breaks the signature', () => {
    for (const field of ['ts', 'id', 'cnonce'] as const) {
      const tampered = { ...req, [field]: `${req[field]}1` };
      assert.deepEqual(verifyUdpConnectionRequest(tampered, creds), { ok: false, reason: 'bad-signature' }, field);
    }
  });
});

describe('parseHostPort', () => {
  test('forms', () => {
    assert.deepEqual(parseHostPort('1.2.3.4:5060'), { host: '1.2.3.4', port: 5060 });
    assert.deepEqual(parseHostPort('[2001:db8::2]:7547'), { host: '2001:db8::2', port: 7547 });
    assert.deepEqual(parseHostPort('cpe.example'), { host: 'cpe.example', port: 80 });
    assert.equal(parseHostPort('1.2.3.4:99999'), null);
    assert.equal(parseHostPort('[nope]:1'), null);
    assert.equal(parseHostPort('a b:1'), null);
    assert.equal(parseHostPort(''), null);
  });
});
