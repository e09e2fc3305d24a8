/**
 * Connection requests over HTTP against a fake CPE listener on 127.0.0.1:0: Digest and Basic,
 * refused credentials, busy (503), unreachable, no address; and the requester's transport order.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildDigestChallenge, checkDigest, createNonce, parseAuthorization } from '../../src/cwmp/auth.ts';
import {
  ConnectionRequester,
  HttpConnectionRequestTransport,
  type ConnectionRequestTarget,
  type ConnectionRequestTransport,
} from '../../src/acs/connection-request.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

type Mode = 'digest' | 'basic' | 'none' | 'busy' | 'teapot';

interface FakeCpe {
  url: string;
  hits: { authorization: string | undefined; localPort: number }[];
  close(): Promise<void>;
}

const SECRET = 'cr-secret';
const servers: FakeCpe[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** A CPE connection request server (user `cr`, password `SECRET`). */
async function fakeCpe(mode: Mode): Promise<FakeCpe> {
  const hits: FakeCpe['hits'] = [];
  const server = http.createServer((req, res) => {
    hits.push({ authorization: req.headers.authorization, localPort: req.socket.remotePort ?? -1 });
    if (mode === 'busy') return void res.writeHead(503, { 'content-length': '0' }).end();
    if (mode === 'teapot') return void res.writeHead(418, { 'content-length': '0' }).end();
    if (mode === 'none') return void res.writeHead(204).end();
    const a = parseAuthorization(req.headers.authorization);
    if (mode === 'basic') {
      if (a?.scheme === 'Basic' && a.username === 'cr' && a.password === SECRET) return void res.writeHead(200, { 'content-length': '0' }).end();
      return void res.writeHead(401, { 'www-authenticate': 'Basic realm="cpe"', 'content-length': '0' }).end();
    }
    if (a?.scheme === 'Digest' && a.username === 'cr' && checkDigest({ authorization: a, method: 'GET', password: SECRET, realm: 'cpe', nonceSecret: 'n' }).ok) {
      return void res.writeHead(200, { 'content-length': '0' }).end();
    }
    res.writeHead(401, { 'www-authenticate': buildDigestChallenge({ realm: 'cpe', nonce: createNonce('n') }), 'content-length': '0' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const cpe: FakeCpe = {
    url: `http://127.0.0.1:${port}/cr/a1b2c3`,
    hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
  servers.push(cpe);
  return cpe;
}

function target(url: string | null, username: string | null = 'cr', password: string | null = SECRET): ConnectionRequestTarget {
  return { deviceId: 'dev', connectionRequestUrl: url, udpConnectionRequestAddress: null, username, password };
}

describe('HTTP connection request transport', () => {
  const transport = new HttpConnectionRequestTransport({ timeoutMs: 2000 });

  it('answers a Digest challenge on the same connection: ok', async () => {
    const cpe = await fakeCpe('digest');
    const r = await transport.send(target(cpe.url));
    assert.deepEqual(r, { status: 'ok', transport: 'http', httpStatus: 200, detail: 'the CPE accepted the connection request' });
    assert.equal(cpe.hits.length, 2);
    assert.equal(cpe.hits[0].authorization, undefined);
    assert.match(cpe.hits[1].authorization ?? '', /^Digest username="cr", realm="cpe", nonce="[^"]+", uri="\/cr\/a1b2c3"/);
    assert.equal(cpe.hits[0].localPort, cpe.hits[1].localPort, 'the retry reuses the connection the nonce came on');
  });

  it('wrong password or no credentials: auth-failed', async () => {
    const cpe = await fakeCpe('digest');
    assert.equal((await transport.send(target(cpe.url, 'cr', 'nope'))).status, 'auth-failed');
    const none = await transport.send(target(cpe.url, null, null));
    assert.equal(none.status, 'auth-failed');
    assert.match(none.detail, /none are known/);
  });

  it('Basic-only CPEs are answered (allowBasic default) and not when disabled', async () => {
    const cpe = await fakeCpe('basic');
    assert.equal((await transport.send(target(cpe.url))).status, 'ok');
    const strict = new HttpConnectionRequestTransport({ allowBasic: false });
    assert.equal((await strict.send(target(cpe.url))).status, 'auth-failed');
  });

  it('an unauthenticated 204 is ok; 503 is busy; other statuses are errors', async () => {
    assert.equal((await transport.send(target((await fakeCpe('none')).url))).status, 'ok');
    const busy = await transport.send(target((await fakeCpe('busy')).url));
    assert.equal(busy.status, 'busy');
    assert.equal(busy.httpStatus, 503);
    assert.equal((await transport.send(target((await fakeCpe('teapot')).url))).status, 'error');
  });

  it('a closed port is unreachable; a bad URL is an error; no URL does not apply', async () => {
    const cpe = await fakeCpe('none');
    await cpe.close();
    servers.splice(servers.indexOf(cpe), 1);
    assert.equal((await transport.send(target(cpe.url))).status, 'unreachable');
    assert.equal((await transport.send(target('not a url'))).status, 'error');
    assert.equal((await transport.send(target('ftp://x/'))).status, 'error');
    assert.equal(transport.applies(target(null)), false);
  });

  it('credentials never appear in the result', async () => {
    const cpe = await fakeCpe('digest');
    const r = await transport.send(target(cpe.url, 'cr', 'wrong-secret-xyz'));
    assert.equal(JSON.stringify(r).includes('wrong-secret-xyz'), false);
  });
});

describe('ConnectionRequester', () => {
  /** A store holding device 000B82-HT502-<serial> whose connection request URL is a fake CPE's. */
  const deviceWithCpe = async (auth: Parameters<typeof fakeCpe>[0], serial: string) => {
    const store = openSqliteStore({ file: ':memory:' });
    const cpe = await fakeCpe(auth);
    await store.commitSession({
      at: '2025-06-01T00:00:00.000Z',
      device: { id: `000B82-HT502-${serial}`, manufacturer: 'G', oui: '000B82', productClass: 'HT502', serialNumber: serial, connectionRequestUrl: cpe.url },
    });
    return { store, cpe };
  };

  it('uses the device credentials, else the defaults; unknown device -> no-address', async () => {
    const { store } = await deviceWithCpe('digest', 'A');
    // Requests follow each other at once here: without `gate: false` the later ones would be answered
    // with the first one's outcome (deduplicated, see src/acs/cluster/cr-gate.ts), not sent.
    const withDefaults = new ConnectionRequester(store, undefined, { defaultUsername: 'cr', defaultPassword: SECRET, gate: false });
    assert.equal((await withDefaults.request('000B82-HT502-A')).status, 'ok');
    const noDefaults = new ConnectionRequester(store, undefined, { gate: false });
    assert.equal((await noDefaults.request('000B82-HT502-A')).status, 'auth-failed');
    await store.updateDevice('000B82-HT502-A', { credentials: { connectionRequestUsername: 'cr', connectionRequestPassword: SECRET } });
    assert.equal((await noDefaults.request('000B82-HT502-A')).status, 'ok');
    const unknown = await noDefaults.request('nope');
    assert.equal(unknown.status, 'no-address');
    await store.close();
  });

  it('sends concurrent requests for one device once (the default gate); the others get its outcome', async () => {
    const { store, cpe } = await deviceWithCpe('none', 'D');
    const requester = new ConnectionRequester(store);
    const results = await Promise.all([requester.request('000B82-HT502-D'), requester.request('000B82-HT502-D'), requester.request('000B82-HT502-D')]);
    assert.equal(cpe.hits.length, 1);
    assert.deepEqual(results.map((r) => r.status), ['ok', 'ok', 'ok']);
    assert.equal(results.filter((r) => r.deduplicated === true).length, 2);
    await store.close();
  });

  it('tries pluggable transports in order and stops at the first conclusive answer', async () => {
    const store = openSqliteStore({ file: ':memory:' });
    await store.commitSession({
      at: '2025-06-01T00:00:00.000Z',
      device: { id: '000B82-HT502-U', manufacturer: 'G', oui: '000B82', productClass: 'HT502', serialNumber: 'U', connectionRequestUrl: 'http://127.0.0.1:1/unreachable', udpConnectionRequestAddress: '198.51.100.7:7547' },
    });
    const calls: string[] = [];
    const udp: ConnectionRequestTransport = {
      name: 'udp',
      applies: (t) => t.udpConnectionRequestAddress !== null,
      async send(t) {
        calls.push(`udp ${t.udpConnectionRequestAddress}`);
        return { status: 'ok', transport: 'udp', detail: 'sent' };
      },
    };
    const requester = new ConnectionRequester(store, [new HttpConnectionRequestTransport({ timeoutMs: 500 })]);
    requester.addTransport(udp);
    const r = await requester.request('000B82-HT502-U');
    assert.equal(r.transport, 'udp', 'HTTP was unreachable, UDP answered');
    assert.deepEqual(calls, ['udp 198.51.100.7:7547']);
    await store.close();
  });
});
