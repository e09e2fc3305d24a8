/**
 * The CWMP HTTP listener on 127.0.0.1:0, served from its thread and from the main event loop: session
 * binding by cookie and by TCP connection, Digest and Basic authentication, the concurrency bound,
 * gzip bodies, one session per device, idle timeout.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { request } from 'node:http';
import net from 'node:net';
import pino from 'pino';
import { buildBasicAuthorization, buildDigestAuthorization, parseAuthenticate, selectChallenge, type DigestChallenge } from '../../src/cwmp/auth.ts';
import { startAcs, type Acs, type AcsOptions } from '../../src/acs/app.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { informMessage, deviceIdOf } from './engine-harness.ts';
import { connection, cookieOf, post, xml } from './http-client.ts';
import { validateEnvelopes } from '../helpers/schema.ts';

const silent = pino({ level: 'silent' });
const dirs: string[] = [];

/** Runs one complete session so that the device exists (tasks can only be queued for known devices). */
async function seed(acs: Acs, serial = 'SN0001'): Promise<void> {
  const c = connection();
  assert.equal((await post(acs.cwmpUrl, c, xml(informMessage({ serial })))).status, 200);
  assert.equal((await post(acs.cwmpUrl, c, null)).status, 204);
  c.destroy();
}

async function acsIn(cwmpThread: boolean, options: Partial<AcsOptions>): Promise<Acs> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-acs-http-'));
  dirs.push(dataDir);
  return startAcs({ dataDir, store: openSqliteStore({ file: ':memory:' }), cwmpPort: 0, httpPort: null, host: '127.0.0.1', logger: silent, cwmpThread, ...options });
}

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function digestFor(reply: { headers: Record<string, unknown> }, username: string, password: string, uri = '/'): string {
  const ch = selectChallenge(parseAuthenticate(reply.headers['www-authenticate'] as string | string[]), {});
  assert.ok(ch && ch.scheme === 'Digest', 'a Digest challenge');
  return buildDigestAuthorization({ challenge: ch as DigestChallenge, username, password, method: 'POST', uri, nc: 1 });
}

// every test runs against both ways of serving CWMP: the listener thread (the default) and the main event loop
for (const cwmpThread of [true, false]) {
  const where = cwmpThread ? 'listener thread' : 'main event loop';
  const acsWith = (options: Partial<AcsOptions> = {}): Promise<Acs> => acsIn(cwmpThread, options);

  describe(`CWMP listener (${where}): session binding`, () => {
    it('ties POSTs by cookie across TCP connections (cookie echoed with or without attributes)', async () => {
      const acs = await acsWith();
      try {
        await seed(acs);
        const c1 = connection();
        const ir = await post(acs.cwmpUrl, c1, xml(informMessage()));
        assert.equal(ir.status, 200);
        assert.equal(ir.parsed?.body?.method, 'InformResponse');
        const setCookie = String(ir.headers['set-cookie']);
        assert.match(setCookie, /^sb_session=[0-9a-f]{32}; Path=\/; HttpOnly$/);
        await acs.enqueueTask(deviceIdOf('SN0001'), { type: 'getRPCMethods' });
        // new connection, whole Set-Cookie string echoed back (attributes included)
        const c2 = connection();
        const rpc = await post(acs.cwmpUrl, c2, null, { headers: { cookie: setCookie } });
        assert.equal(rpc.parsed?.body?.method, 'GetRPCMethods');
        assert.notEqual(rpc.localPort, ir.localPort);
        // third connection, plain name=value cookie
        const c3 = connection();
        const end = await post(acs.cwmpUrl, c3, xml({ method: 'GetRPCMethodsResponse', methodList: ['Inform'] }, '1.0', { id: rpc.parsed!.header.id }), { headers: { cookie: cookieOf(ir) } });
        assert.equal(end.status, 204);
        assert.equal(end.headers['content-type'], undefined);
        const [task] = (await acs.store.listTasks({ deviceId: deviceIdOf('SN0001') })).tasks;
        assert.equal(task.status, 'done');
        for (const c of [c1, c2, c3]) c.destroy();
        const results = await validateEnvelopes([ir.body, rpc.body], '1.0');
        assert.ok(results.every((r) => r.valid), JSON.stringify(results));
      } finally {
        await acs.close();
      }
    });

    it('ties POSTs by TCP connection when the CPE sends no cookie', async () => {
      const acs = await acsWith();
      try {
        await seed(acs);
        const c = connection();
        const ir = await post(acs.cwmpUrl, c, xml(informMessage()));
        await acs.enqueueTask(deviceIdOf('SN0001'), { type: 'reboot', commandKey: 'x' });
        const rpc = await post(acs.cwmpUrl, c, null);
        assert.equal(rpc.localPort, ir.localPort, 'same connection');
        assert.equal(rpc.parsed?.body?.method, 'Reboot');
        const end = await post(acs.cwmpUrl, c, xml({ method: 'RebootResponse' }, '1.0', { id: rpc.parsed!.header.id }));
        assert.equal(end.status, 204);
        assert.equal(acs.activeSessions(), 0);
        c.destroy();
      } finally {
        await acs.close();
      }
    });

    it('a stale cookie with a new Inform starts a new session; an unknown cookie on an empty POST gets 204', async () => {
      const acs = await acsWith();
      try {
        const c = connection();
        const first = await post(acs.cwmpUrl, c, xml(informMessage()));
        const oldCookie = cookieOf(first);
        assert.equal((await post(acs.cwmpUrl, c, null, { headers: { cookie: oldCookie } })).status, 204);
        const second = await post(acs.cwmpUrl, connection(), xml(informMessage({ events: ['2 PERIODIC'] })), { headers: { cookie: oldCookie } });
        assert.equal(second.parsed?.body?.method, 'InformResponse');
        assert.notEqual(cookieOf(second), oldCookie);
        assert.equal((await post(acs.cwmpUrl, connection(), null, { headers: { cookie: cookieOf(second) } })).status, 204);
        assert.equal((await post(acs.cwmpUrl, connection(), null, { headers: { cookie: 'sb_session=00000000000000000000000000000000' } })).status, 204);
        c.destroy();
      } finally {
        await acs.close();
      }
    });

    it('a CPE with neither cookies nor a kept connection is tied by its address when that is unambiguous', async () => {
      const acs = await acsWith();
      try {
        await seed(acs);
        await acs.enqueueTask(deviceIdOf('SN0001'), { type: 'getRPCMethods' });
        assert.equal((await post(acs.cwmpUrl, connection(), xml(informMessage()))).status, 200);
        const rpc = await post(acs.cwmpUrl, connection(), null);
        assert.equal(rpc.parsed?.body?.method, 'GetRPCMethods');
        const end = await post(acs.cwmpUrl, connection(), xml({ method: 'GetRPCMethodsResponse', methodList: ['Inform'] }, '1.0', { id: rpc.parsed!.header.id }));
        assert.equal(end.status, 204);
      } finally {
        await acs.close();
      }
    });

    it('two devices behind one address keep separate sessions (an Inform never binds by address)', async () => {
      const acs = await acsWith();
      try {
        await seed(acs, 'A');
        await seed(acs, 'B');
        await acs.enqueueTask(deviceIdOf('A'), { type: 'getRPCMethods' });
        await acs.enqueueTask(deviceIdOf('B'), { type: 'reboot' });
        const a = connection();
        const b = connection();
        await post(acs.cwmpUrl, a, xml(informMessage({ serial: 'A' })));
        const rpcA = await post(acs.cwmpUrl, a, null);
        await post(acs.cwmpUrl, b, xml(informMessage({ serial: 'B' })));
        const rpcB = await post(acs.cwmpUrl, b, null);
        assert.equal(rpcA.parsed?.body?.method, 'GetRPCMethods');
        assert.equal(rpcB.parsed?.body?.method, 'Reboot');
        assert.equal(acs.activeSessions(), 2);
        assert.equal((await post(acs.cwmpUrl, a, xml({ method: 'GetRPCMethodsResponse', methodList: ['Inform'] }, '1.0', { id: rpcA.parsed!.header.id }))).status, 204);
        assert.equal((await post(acs.cwmpUrl, b, xml({ method: 'RebootResponse' }, '1.0', { id: rpcB.parsed!.header.id }))).status, 204);
        const done = await acs.store.listTasks({ status: ['done'] });
        assert.equal(done.tasks.length, 2);
        a.destroy();
        b.destroy();
      } finally {
        await acs.close();
      }
    });

    it('accepts gzip request bodies', async () => {
      const acs = await acsWith();
      try {
        const c = connection();
        const body = gzipSync(Buffer.from(xml(informMessage())));
        const ir = await post(acs.cwmpUrl, c, null, { raw: body, headers: { 'content-encoding': 'gzip', 'content-type': 'text/xml' } });
        assert.equal(ir.parsed?.body?.method, 'InformResponse');
        assert.equal((await post(acs.cwmpUrl, c, null)).status, 204);
        c.destroy();
      } finally {
        await acs.close();
      }
    });

    it('refuses non-POST methods with 405 and oversized bodies with 413', async () => {
      const acs = await acsWith({ sessions: { maxRequestBytes: 1024 } });
      try {
        const res = await fetch(acs.cwmpUrl);
        assert.equal(res.status, 405);
        const big = await post(acs.cwmpUrl, connection(), 'x'.repeat(5000));
        assert.equal(big.status, 413);
      } finally {
        await acs.close();
      }
    });
  });

  describe(`CWMP listener (${where}): request bodies`, () => {
    it('takes a body sent in several chunks (chunked transfer) as one message', async () => {
      const acs = await acsWith();
      try {
        const body = Buffer.from(xml(informMessage({ serial: 'CHUNKS' })));
        const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
          const req = request(acs.cwmpUrl, { method: 'POST', headers: { 'content-type': 'text/xml; charset="utf-8"', 'transfer-encoding': 'chunked' } }, (res) => {
            const parts: Buffer[] = [];
            res.on('data', (c: Buffer) => parts.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
          });
          req.on('error', reject);
          // three pieces, each on its own turn of the event loop, cutting through tags
          const cuts = [0, 97, Math.floor(body.length / 2), body.length];
          let i = 0;
          const next = () => {
            if (i === cuts.length - 1) return req.end();
            req.write(body.subarray(cuts[i], cuts[i + 1]));
            i++;
            setTimeout(next, 5);
          };
          next();
        });
        assert.equal(reply.status, 200);
        assert.match(reply.text, /InformResponse/);
        assert.equal((await acs.store.getDevice(deviceIdOf('CHUNKS')))?.serialNumber, 'CHUNKS');
      } finally {
        await acs.close();
      }
    });
  });

  describe(`CWMP listener (${where}): limits and one session per device`, () => {
    it('answers 503 + Retry-After beyond the concurrent session bound', async () => {
      const acs = await acsWith({ sessions: { maxSessions: 1, busyRetryAfterSeconds: 12 } });
      try {
        const a = connection();
        assert.equal((await post(acs.cwmpUrl, a, xml(informMessage({ serial: 'A' })))).status, 200);
        const refused = await post(acs.cwmpUrl, connection(), xml(informMessage({ serial: 'B' })));
        assert.equal(refused.status, 503);
        assert.equal(refused.headers['retry-after'], '12');
        assert.equal(await acs.store.getDevice(deviceIdOf('B')), null);
        assert.equal((await post(acs.cwmpUrl, a, null)).status, 204);
        const b = connection();
        assert.equal((await post(acs.cwmpUrl, b, xml(informMessage({ serial: 'B' })))).status, 200);
        a.destroy();
        b.destroy();
      } finally {
        await acs.close();
      }
    });

    it('a concurrent Inform for a device in an active session from another address gets 503; from the same address it supersedes', async () => {
      const acs = await acsWith({ sessions: { supersedeIdleMs: 60_000 } });
      try {
        const a = connection({ localAddress: '127.0.0.1' });
        const first = await post(acs.cwmpUrl, a, xml(informMessage()));
        assert.equal(first.status, 200);
        const other = await post(acs.cwmpUrl, connection({ localAddress: '127.0.0.2' }), xml(informMessage()));
        assert.equal(other.status, 503);
        assert.ok(other.headers['retry-after']);
        const same = connection({ localAddress: '127.0.0.1' });
        const again = await post(acs.cwmpUrl, same, xml(informMessage({ events: ['1 BOOT'] })));
        assert.equal(again.status, 200);
        assert.equal((await post(acs.cwmpUrl, same, null)).status, 204);
        const { sessions } = await acs.store.listSessions({ deviceId: deviceIdOf('SN0001') });
        assert.deepEqual(sessions.map((s) => s.outcome), ['completed', 'aborted']);
        a.destroy();
        same.destroy();
      } finally {
        await acs.close();
      }
    });

    it('ends an idle session after the timeout and retries its in-flight task later', async () => {
      const acs = await acsWith({ sessions: { idleTimeoutMs: 150 } });
      try {
        await seed(acs);
        const c = connection();
        await post(acs.cwmpUrl, c, xml(informMessage()));
        const { task } = await acs.enqueueTask(deviceIdOf('SN0001'), { type: 'getRPCMethods' });
        const rpc = await post(acs.cwmpUrl, c, null);
        assert.equal(rpc.parsed?.body?.method, 'GetRPCMethods');
        const ended = new Promise((resolve) => acs.events.on('session', (n) => n.phase === 'ended' && resolve(n)));
        assert.deepEqual(await ended, { deviceId: deviceIdOf('SN0001'), phase: 'ended', remoteAddress: '127.0.0.1', outcome: 'timeout', sessionId: (await acs.store.listSessions({})).sessions[0]?.id ?? null });
        assert.equal(acs.activeSessions(), 0);
        const t = await acs.store.getTask(task.id);
        assert.equal(t?.status, 'pending');
        assert.match(t?.faultString ?? '', /no response to GetRPCMethods/);
        c.destroy();
      } finally {
        await acs.close();
      }
    });

    it('keeps an idle connection open for the session idle timeout, then closes it', async () => {
      const acs = await acsWith({ sessions: { idleTimeoutMs: 300 } });
      try {
        const { port } = new URL(acs.cwmpUrl);
        const socket = net.connect(Number(port), '127.0.0.1');
        let received = '';
        socket.setEncoding('latin1');
        socket.on('data', (d: string) => (received += d));
        const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
        const answered = new Promise<number>((resolve) => socket.once('data', () => resolve(Date.now())));
        socket.write('POST / HTTP/1.1\r\nHost: acs\r\nContent-Length: 0\r\n\r\n');
        const at = await answered;
        const timedOut = new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 4_000).unref());
        const end = await Promise.race([closed, timedOut]);
        assert.match(received, /^HTTP\/1\.1 204 /, 'an empty POST outside a session');
        assert.notEqual(end, 'still open', 'the server closes the idle connection (Node would wait 5 s by itself)');
        assert.ok((end as number) - at >= 200, `closed ${(end as number) - at} ms after the answer, not before the idle timeout`);
        socket.destroy();
      } finally {
        await acs.close();
      }
    });
  });

  describe(`CWMP listener (${where}): CPE authentication`, () => {
    it('shared Digest credentials: 401 challenge, answer on the same connection, wrong password refused', async () => {
      const acs = await acsWith({ cpeAuth: { mode: 'shared', username: 'cpe', password: 's3cret' } });
      try {
        const c = connection();
        const challenge = await post(acs.cwmpUrl, c, xml(informMessage()));
        assert.equal(challenge.status, 401);
        const www = challenge.headers['www-authenticate'];
        assert.match(String(www), /^Digest realm="Switchboard ACS", qop="auth", nonce="[^"]+", algorithm=MD5$/);
        assert.doesNotMatch(String(www), /Basic/, 'no Basic offered over plain HTTP');
        const bad = await post(acs.cwmpUrl, c, xml(informMessage()), { headers: { authorization: digestFor(challenge, 'cpe', 'wrong') } });
        assert.equal(bad.status, 401);
        const ok = await post(acs.cwmpUrl, c, xml(informMessage()), { headers: { authorization: digestFor(challenge, 'cpe', 's3cret') } });
        assert.equal(ok.status, 200);
        assert.equal(ok.localPort, challenge.localPort);
        // later POSTs of the session need no credentials
        assert.equal((await post(acs.cwmpUrl, c, null)).status, 204);
        c.destroy();
      } finally {
        await acs.close();
      }
    });

    it('accepts a Digest answer sent on a new connection; refuses Basic over plain HTTP', async () => {
      const acs = await acsWith({ cpeAuth: { mode: 'shared', username: 'cpe', password: 's3cret' } });
      try {
        const challenge = await post(acs.cwmpUrl, connection(), xml(informMessage()));
        const c2 = connection();
        const ok = await post(acs.cwmpUrl, c2, xml(informMessage()), { headers: { authorization: digestFor(challenge, 'cpe', 's3cret') } });
        assert.equal(ok.status, 200);
        assert.equal((await post(acs.cwmpUrl, c2, null)).status, 204);
        const basic = await post(acs.cwmpUrl, connection(), xml(informMessage()), { headers: { authorization: buildBasicAuthorization('cpe', 's3cret') } });
        assert.equal(basic.status, 401);
      } finally {
        await acs.close();
      }
    });

    it('per-device credentials: the device stored credentials, unknown devices refused', async () => {
      const acs = await acsWith({ cpeAuth: { mode: 'per-device' } });
      try {
        await acs.store.createDevice({ manufacturer: 'Grandstream', oui: '000B82', productClass: 'HT502', serialNumber: 'SN0001', credentials: { acsUsername: 'ht502-1', acsPassword: 'pw-1' } });
        const c = connection();
        const ch = await post(acs.cwmpUrl, c, xml(informMessage()));
        assert.equal(ch.status, 401);
        assert.equal((await post(acs.cwmpUrl, c, xml(informMessage()), { headers: { authorization: digestFor(ch, 'ht502-1', 'pw-2') } })).status, 401);
        assert.equal((await post(acs.cwmpUrl, c, xml(informMessage()), { headers: { authorization: digestFor(ch, 'ht502-1', 'pw-1') } })).status, 200);
        assert.equal((await post(acs.cwmpUrl, c, null)).status, 204);
        const other = connection();
        const ch2 = await post(acs.cwmpUrl, other, xml(informMessage({ serial: 'SN0002' })));
        const refused = await post(acs.cwmpUrl, other, xml(informMessage({ serial: 'SN0002' })), { headers: { authorization: digestFor(ch2, 'ht502-1', 'pw-1') } });
        assert.equal(refused.status, 401, 'credentials of another device do not open this one');
        c.destroy();
        other.destroy();
      } finally {
        await acs.close();
      }
    });

    it('HTTPS listener: Basic accepted over TLS, challenge offers Digest and Basic', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sb-tls-'));
      dirs.push(dir);
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
      const acs = await acsWith({
        cwmpPort: null,
        tls: { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')), port: 0 },
        cpeAuth: { mode: 'shared', username: 'cpe', password: 's3cret' },
      });
      try {
        assert.ok(acs.cwmpsUrl?.startsWith('https://127.0.0.1:'));
        const c = connection({ tls: true });
        const ch = await post(acs.cwmpsUrl!, c, xml(informMessage()));
        assert.equal(ch.status, 401);
        const offered = parseAuthenticate(String(ch.headers['www-authenticate'])).map((c) => c.scheme);
        assert.deepEqual(offered, ['Digest', 'Basic']);
        const ok = await post(acs.cwmpsUrl!, c, xml(informMessage()), { headers: { authorization: buildBasicAuthorization('cpe', 's3cret') } });
        assert.equal(ok.status, 200);
        assert.match(String(ok.headers['set-cookie']), /; Secure$/);
        assert.equal((await post(acs.cwmpsUrl!, c, null)).status, 204);
        c.destroy();
      } finally {
        await acs.close();
      }
    });
  });
}
