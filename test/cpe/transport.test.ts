/**
 * Session transport against ACS behaviours seen in the field: cookies with attributes, redirects,
 * Digest (MD5, MD5-sess) answered on the same TCP connection, Basic only over HTTPS, certificate
 * checking with a CA option, an ACS that closes the connection mid-session, and timeouts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildEnvelope, parseEnvelope } from '../../src/cwmp/index.ts';
import { runSession, type SessionHandler } from '../../src/cpe/session.ts';
import type { Inform } from '../../src/cwmp/index.ts';
import { startHarness } from './harness.ts';
import type { ReceivedPost } from './scripted-acs.ts';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

function digestParams(h: string | undefined): Record<string, string> {
  const p: Record<string, string> = {};
  for (const m of (h ?? '').replace(/^Digest\s+/, '').matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) p[m[1]] = m[2] ?? m[3];
  return p;
}

/** Checks a Digest Authorization as an ACS would; supports MD5 and MD5-sess with qop=auth. */
function digestOk(req: http.IncomingMessage, nonce: string, user: string, pass: string): boolean {
  const h = req.headers.authorization;
  if (!h?.startsWith('Digest ')) return false;
  const p = digestParams(h);
  let ha1 = md5(`${user}:acs:${pass}`);
  if ((p.algorithm ?? '').toUpperCase() === 'MD5-SESS') ha1 = md5(`${ha1}:${p.nonce}:${p.cnonce}`);
  const ha2 = md5(`POST:${p.uri}`);
  return p.nonce === nonce && p.username === user && p.response === md5(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
}

describe('cookies, redirects, authentication on the same connection', () => {
  test('several cookies with attributes are returned on every later POST of the session, not across sessions', async () => {
    const h = await startHarness({
      start: false,
      hooks: {
        beforeReply: (_req, res, post) => {
          if (post.message?.method === 'Inform') {
            h.acs.received.push(post);
            h.acs.reply(res, { method: 'InformResponse', maxEnvelopes: 1 }, {}, '1.2', {
              'set-cookie': [`session=s${post.session}; Path=/; HttpOnly`, 'route=node7; Path=/acs; Max-Age=600', 'theme=dark; Path=/other'],
            });
            return true;
          }
          return false;
        },
      },
    });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      await first;
      await h.session([{ method: 'GetRPCMethods' }]);
      const s1 = h.acs.postsOf(1);
      assert.equal(s1[0].headers.cookie, undefined, 'no cookie on the first Inform');
      for (const p of s1.slice(1)) assert.equal(p.headers.cookie, 'route=node7; session=s1');
      const s2 = h.acs.postsOf(2);
      assert.equal(s2[0].headers.cookie, undefined, 'cookies are not kept across sessions');
      assert.ok(s2.slice(1).every((p) => p.headers.cookie === 'route=node7; session=s2'));
      assert.ok(s2.length >= 3);
    } finally {
      await h.close();
    }
  });

  for (const status of [301, 302, 307]) {
    test(`redirect ${status}: the Inform is resent to the new URL and the rest of the session stays there`, async () => {
      const h = await startHarness({
        start: false,
        hooks: {
          beforeReply: (req, res, post) => {
            if (req.url === '/acs' && post.message?.method === 'Inform') {
              res.writeHead(status, { location: '/acs/node2', 'content-length': 0 }).end();
              return true;
            }
            return false;
          },
        },
      });
      try {
        h.acs.queue.push({ method: 'GetRPCMethods' });
        const first = h.agent.nextSession();
        h.agent.start();
        const r = await first;
        assert.equal(r.ok, true, r.failure?.message);
        assert.equal(r.redirects, 1);
        const posts = h.acs.postsOf(h.acs.sessions);
        assert.ok(posts.length >= 3);
        assert.ok(posts.every((p) => p.url === '/acs/node2'), posts.map((p) => p.url).join());
        // The redirect is for this session only: ManagementServer.URL is unchanged.
        assert.equal(h.agent.acsUrl, h.acs.url);
      } finally {
        await h.close();
      }
    });
  }

  test('more than 5 redirects fail the session', async () => {
    let hop = 0;
    const h = await startHarness({
      start: false,
      hooks: {
        beforeReply: (_req, res) => {
          res.writeHead(302, { location: `/acs/hop${++hop}`, 'content-length': 0 }).end();
          return true;
        },
      },
    });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.ok, false);
      assert.match(r.failure?.message ?? '', /redirect/);
      assert.equal(hop, 6);
    } finally {
      await h.close();
    }
  });

  for (const algorithm of ['MD5', 'MD5-sess']) {
    test(`Digest ${algorithm} challenge: answered on the same TCP connection, later POSTs carry credentials`, async () => {
      const nonce = randomBytes(8).toString('hex');
      let challenges = 0;
      const h = await startHarness({
        start: false,
        agent: { provisioning: { acsUsername: 'cpe', acsPassword: 'secret' } },
        hooks: {
          beforeReply: (req, res, post) => {
            if (!digestOk(req, nonce, 'cpe', 'secret')) {
              challenges++;
              h.acs.received.push({ ...post, url: 'challenged' });
              res.writeHead(401, { 'www-authenticate': `Digest realm="acs", qop="auth,auth-int", nonce="${nonce}", algorithm=${algorithm}`, 'content-length': 0 }).end();
              return true;
            }
            return false;
          },
        },
      });
      try {
        h.acs.queue.push({ method: 'GetRPCMethods' });
        const first = h.agent.nextSession();
        h.agent.start();
        const r = await first;
        assert.equal(r.ok, true, r.failure?.message);
        assert.equal(challenges, 1, 'one challenge per session');
        const all: ReceivedPost[] = h.acs.received;
        const ports = new Set(all.map((p) => p.remotePort));
        assert.equal(ports.size, 1, 'challenge, retry and the rest of the session on one TCP connection');
        assert.equal(r.connections, 1);
        assert.ok(h.acs.postsOf(1).filter((p) => p.url !== 'challenged').every((p) => String(p.headers.authorization).startsWith('Digest ')));
      } finally {
        await h.close();
      }
    });
  }

  test('a 401 with Connection: close is answered on a new connection', async () => {
    const nonce = 'n-close';
    const h = await startHarness({
      start: false,
      agent: { provisioning: { acsUsername: 'cpe', acsPassword: 'secret' } },
      hooks: {
        beforeReply: (req, res, post) => {
          if (!digestOk(req, nonce, 'cpe', 'secret')) {
            h.acs.received.push(post);
            res.writeHead(401, { 'www-authenticate': `Digest realm="acs", qop="auth", nonce="${nonce}"`, connection: 'close', 'content-length': 0 }).end();
            return true;
          }
          return false;
        },
      },
    });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.ok, true, r.failure?.message);
      assert.equal(new Set(h.acs.received.map((p) => p.remotePort)).size, 2);
    } finally {
      await h.close();
    }
  });

  test('Basic over plain HTTP is refused; no credentials at all fails cleanly', async () => {
    const h = await startHarness({
      start: false,
      agent: { provisioning: { acsUsername: 'cpe', acsPassword: 'secret' } },
      hooks: {
        beforeReply: (req, res) => {
          if (!req.headers.authorization) {
            res.writeHead(401, { 'www-authenticate': 'Basic realm="acs"', 'content-length': 0 }).end();
            return true;
          }
          assert.fail('credentials must not be sent in the clear');
        },
      },
    });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.ok, false);
      assert.match(r.failure?.message ?? '', /Basic/);
    } finally {
      await h.close();
    }
  });

  test('the ACS closing the connection mid-session: the CPE goes on over a new connection', async () => {
    let dropped = false;
    const h = await startHarness({
      start: false,
      hooks: {
        beforeReply: (_req, res, post) => {
          if (post.message?.method === 'Inform' && !dropped) {
            dropped = true;
            h.acs.received.push(post);
            h.acs.reply(res, { method: 'InformResponse', maxEnvelopes: 1 }, {}, '1.2', { connection: 'close' });
            return true;
          }
          return false;
        },
      },
    });
    try {
      h.acs.queue.push({ method: 'GetRPCMethods' });
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.ok, true, r.failure?.message);
      assert.equal(r.connections, 2);
      assert.equal(h.acs.answers.length, 1);
    } finally {
      await h.close();
    }
  });

  test('no answer from the ACS: the session fails after the response timeout', async () => {
    const h = await startHarness({
      start: false,
      agent: { responseTimeoutMs: 300 },
      hooks: { beforeReply: () => true /* never answers */ },
    });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.ok, false);
      assert.equal(r.failure?.kind, 'timeout');
    } finally {
      await h.close();
    }
  });
});

describe('HTTPS with certificate checking', () => {
  let dir = '';
  let server: https.Server | null = null;
  let url = '';
  let ca = '';
  let hasOpenssl = true;
  const seen: { authorization?: string }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sb-cpe-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    } catch {
      hasOpenssl = false;
      return;
    }
    ca = readFileSync(join(dir, 'cert.pem'), 'utf8');
    server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: ca }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ authorization: req.headers.authorization });
        if (req.headers.authorization !== `Basic ${Buffer.from('cpe:tls-secret').toString('base64')}`) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="acs"', 'content-length': 0 }).end();
          return;
        }
        const body = Buffer.concat(chunks).toString();
        if (!body) {
          res.writeHead(204).end();
          return;
        }
        const env = parseEnvelope(body);
        const xml = buildEnvelope({ header: env.header.id ? { id: env.header.id } : {}, body: { method: 'InformResponse', maxEnvelopes: 1 } }, { version: '1.2' });
        res.writeHead(200, { 'content-type': 'text/xml' }).end(xml);
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/acs`;
  });

  after(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server!.close(() => r()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const inform: Inform = {
    method: 'Inform',
    deviceId: { manufacturer: 'Grandstream', oui: '000B82', productClass: 'GXP2140', serialNumber: '000B82A1B2C3' },
    event: [{ eventCode: '2 PERIODIC', commandKey: '' }],
    maxEnvelopes: 1,
    currentTime: '2025-01-01T00:00:00Z',
    retryCount: 0,
    parameterList: [],
  };
  const handler = (): SessionHandler => ({
    informAccepted: () => undefined,
    nextCpeRequest: () => null,
    cpeRequestDone: () => undefined,
    handleAcsRequest: async () => {
      throw new Error('no requests expected');
    },
  });

  test('an untrusted certificate fails the session; with --ca it succeeds and Basic is used over TLS', async (t) => {
    if (!hasOpenssl) {
      t.skip('openssl is not installed: cannot make a test certificate');
      return;
    }
    const untrusted = await runSession({ url, inform, version: '1.2', transport: { credentials: { username: 'cpe', password: 'tls-secret' } } }, handler());
    assert.equal(untrusted.ok, false);
    assert.match(untrusted.failure?.message ?? '', /certificate|self.signed|CERT/i);
    const trusted = await runSession({ url, inform, version: '1.2', transport: { credentials: { username: 'cpe', password: 'tls-secret' }, ca } }, handler());
    assert.equal(trusted.ok, true, trusted.failure?.message);
    assert.ok(seen.some((s) => s.authorization?.startsWith('Basic ')));
  });
});

test('the overall session limit ends a session that an ACS keeps alive forever', async () => {
  const h = await startHarness({
    start: false,
    agent: { sessionTimeoutMs: 700, responseTimeoutMs: 10_000 },
    hooks: {
      // Answers every empty POST / response with another GetRPCMethods: the session never ends by itself.
      beforeReply: (_req, res, post) => {
        if (post.message?.method !== 'Inform') {
          setTimeout(() => h.acs.reply(res, { method: 'GetRPCMethods' }, { id: 'loop' }, '1.2'), 100);
          return true;
        }
        return false;
      },
    },
  });
  try {
    const first = h.agent.nextSession();
    h.agent.start();
    const r = await first;
    assert.equal(r.ok, false);
    assert.equal(r.failure?.kind, 'timeout');
    assert.ok(r.durationMs < 3000);
  } finally {
    await h.close();
  }
});
