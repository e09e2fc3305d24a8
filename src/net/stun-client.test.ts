import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { StunClient, type StunClientError, type StunMapping } from './stun-client.ts';
import {
  buildBindingResponse,
  buildErrorResponse,
  decodeStunMessage,
  encodeStunMessage,
  findAttribute,
  isStunDecodeError,
  verifyMessageIntegrity,
  type StunMessage,
  type TransportAddress,
} from '../cwmp/stun.ts';

const FAST = { initialRtoMs: 20, maxRtoMs: 80, maxRequests: 4, finalWaitMs: 60 };
// For tests that count requests: a first timeout long enough that a loaded machine does not retransmit.
const PATIENT = { initialRtoMs: 2000, maxRtoMs: 4000, maxRequests: 3, finalWaitMs: 4000 };

interface Seen {
  req: StunMessage;
  raw: Buffer;
  at: number;
}

/**
 * A scripted STUN server: `answer` decides per request what to send back (null = drop it),
 * so tests can simulate loss, NAT rebinding, 401s and forged answers.
 */
async function fakeServer(answer: (req: StunMessage, n: number, rinfo: RemoteInfo) => Buffer | null): Promise<{ socket: Socket; port: number; seen: Seen[]; close: () => Promise<void> }> {
  const socket = createSocket('udp4');
  const seen: Seen[] = [];
  socket.on('message', (raw, rinfo) => {
    const req = decodeStunMessage(raw);
    if (isStunDecodeError(req)) return;
    seen.push({ req, raw, at: Date.now() });
    const out = answer(req, seen.length, rinfo);
    if (out) socket.send(out, rinfo.port, rinfo.address);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  return { socket, port: socket.address().port, seen, close: () => new Promise((r) => socket.close(() => r())) };
}

const mappedTo = (address: string, port: number): TransportAddress => ({ family: 'IPv4', address, port });
const ok = (req: StunMessage, m: TransportAddress): Buffer => encodeStunMessage(buildBindingResponse(req, m));

async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('StunClient', () => {
  test('request content: TR-111 attributes, RFC 3489 framing, USERNAME', async () => {
    const srv = await fakeServer((req, _n, rinfo) => ok(req, mappedTo(rinfo.address, rinfo.port)));
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, username: 'cpe-9', retransmit: PATIENT });
    await client.start({ keepAlive: false });
    try {
      const r = await client.bindingRequest();
      assert.ok(r.ok);
      const { req } = srv.seen[0];
      assert.equal(req.flavour, 'rfc3489');
      assert.equal(req.transactionId.length, 16);
      assert.equal(findAttribute(req, 'CONNECTION-REQUEST-BINDING')?.value, 'dslforum.org/TR-111 ');
      assert.equal(findAttribute(req, 'USERNAME')?.value, 'cpe-9');
      assert.equal(findAttribute(req, 'BINDING-CHANGE'), undefined);
      assert.equal(findAttribute(req, 'MESSAGE-INTEGRITY'), undefined, 'no MI before a 401 by default');
    } finally {
      await client.stop();
      await srv.close();
    }
  });

  test('RFC 3489 retransmissions: same transaction id, growing intervals, answer after losses', async () => {
    const srv = await fakeServer((req, n, rinfo) => (n < 3 ? null : ok(req, mappedTo(rinfo.address, rinfo.port))));
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, retransmit: FAST });
    await client.start({ keepAlive: false });
    try {
      const t0 = Date.now();
      const r = await client.bindingRequest();
      assert.ok(r.ok);
      assert.equal(srv.seen.length, 3);
      assert.ok(srv.seen.every((s) => s.req.transactionId.equals(srv.seen[0].req.transactionId)));
      assert.deepEqual(srv.seen[1].raw, srv.seen[0].raw, 'a retransmission is byte-identical');
      // The third request goes out no earlier than 20 ms + 40 ms after the first (timers never fire early;
      // receipt times on a loaded machine can bunch up, so measure from the call).
      const elapsed = srv.seen[2].at - t0;
      assert.ok(elapsed >= 58, `third request after ${elapsed} ms, expected >= 60 ms (20 ms then 40 ms)`);
    } finally {
      await client.stop();
      await srv.close();
    }
  });

  test('timeout after maxRequests with no answer', async () => {
    const srv = await fakeServer(() => null);
    const errors: StunClientError[] = [];
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, retransmit: FAST, onError: (e) => errors.push(e) });
    await client.start({ keepAlive: false });
    try {
      const r = await client.bindingRequest();
      assert.deepEqual(r.ok ? null : r.error.code, 'timeout');
      assert.equal(srv.seen.length, FAST.maxRequests);
      assert.equal(errors[0]?.code, 'timeout');
    } finally {
      await client.stop();
      await srv.close();
    }
  });

  test('NATDetected and a binding change trigger an immediate BINDING-CHANGE request', async () => {
    // The "NAT" maps us to 198.51.100.1:1111 first, then to :2222.
    const srv = await fakeServer((req, n) => ok(req, mappedTo('198.51.100.1', n === 1 ? 1111 : 2222)));
    const mappings: StunMapping[] = [];
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, username: 'cpe', retransmit: PATIENT, keepAliveMs: 300, onMapping: (m) => mappings.push(m) });
    await client.start();
    try {
      await waitFor(() => mappings.length >= 3);
      assert.equal(mappings[0].natDetected, true);
      assert.equal(mappings[0].localAddress, '127.0.0.1');
      assert.equal(mappings[0].changed, false);
      assert.equal(mappings[1].changed, true);
      assert.deepEqual(mappings[1].previous, { address: '198.51.100.1', port: 1111 });
      assert.equal(mappings[1].port, 2222);
      assert.equal(mappings[2].changed, false);
      const flags = srv.seen.map((s) => findAttribute(s.req, 'BINDING-CHANGE') !== undefined);
      assert.deepEqual(flags.slice(0, 3), [false, false, true], 'the request after the change carries BINDING-CHANGE');
      // The BINDING-CHANGE request went out at once, not after the 300 ms keep-alive period.
      assert.ok(srv.seen[2].at - srv.seen[1].at < 150, `gap ${srv.seen[2].at - srv.seen[1].at}`);
      assert.ok(srv.seen[1].at - srv.seen[0].at >= 290, 'keep-alive period respected');
      assert.deepEqual(client.mapping && { a: client.mapping.address, p: client.mapping.port }, { a: '198.51.100.1', p: 2222 });
    } finally {
      await client.stop();
      await srv.close();
    }
    const after = srv.seen.length;
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(srv.seen.length, after, 'no requests after stop()');
  });

  test('401 switches MESSAGE-INTEGRITY on (keyed with STUNPassword)', async () => {
    const srv = await fakeServer((req, _n, rinfo) => {
      const hasMi = findAttribute(req, 'MESSAGE-INTEGRITY') !== undefined;
      return hasMi ? ok(req, mappedTo(rinfo.address, rinfo.port)) : encodeStunMessage(buildErrorResponse(req, 401, 'Unauthorized'));
    });
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, username: 'u', password: 'pw', retransmit: PATIENT });
    await client.start({ keepAlive: false });
    try {
      const r = await client.bindingRequest();
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(srv.seen.length, 2);
      assert.equal(verifyMessageIntegrity(srv.seen[1].raw, 'pw'), true);
      // Later requests keep MI without waiting for another 401.
      assert.ok((await client.bindingRequest()).ok);
      assert.equal(srv.seen.length, 3);
    } finally {
      await client.stop();
      await srv.close();
    }
  });

  test('error responses are reported with their code', async () => {
    const srv = await fakeServer((req) => encodeStunMessage(buildErrorResponse(req, 500, 'Server Error')));
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, retransmit: FAST });
    await client.start({ keepAlive: false });
    try {
      const r = await client.bindingRequest();
      assert.deepEqual(r.ok ? null : { code: r.error.code, stun: r.error.stunCode }, { code: 'error-response', stun: 500 });
    } finally {
      await client.stop();
      await srv.close();
    }
  });

  test('a response with a forged MESSAGE-INTEGRITY or a foreign transaction id is ignored', async () => {
    const srv = await fakeServer((req, n, rinfo) => {
      if (n === 1) return encodeStunMessage(buildBindingResponse(req, mappedTo('6.6.6.6', 666)), { integrityKey: 'attacker' });
      if (n === 2) return ok({ ...req, transactionId: Buffer.alloc(16, 7) }, mappedTo('6.6.6.6', 666));
      return encodeStunMessage(buildBindingResponse(req, mappedTo(rinfo.address, rinfo.port)), { integrityKey: 'pw' });
    });
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, username: 'u', password: 'pw', integrity: 'always', retransmit: FAST });
    await client.start({ keepAlive: false });
    try {
      const r = await client.bindingRequest();
      assert.ok(r.ok);
      assert.equal(r.mapping.address, '127.0.0.1');
      // Two ignored answers, then the good one (a loaded machine may add one more retransmission).
      assert.ok(srv.seen.length >= 3, `requests seen: ${srv.seen.length}`);
    } finally {
      await client.stop();
      await srv.close();
    }
  });

  test('shared socket: non-STUN datagrams reach onDatagram; a borrowed socket stays open after stop()', async () => {
    const srv = await fakeServer((req, _n, rinfo) => ok(req, mappedTo(rinfo.address, rinfo.port)));
    const shared = createSocket('udp4');
    shared.bind(0, '127.0.0.1');
    await once(shared, 'listening');
    const got: string[] = [];
    const client = new StunClient({ server: { host: '127.0.0.1', port: srv.port }, socket: shared, retransmit: FAST, onDatagram: (m) => got.push(m.toString()) });
    const local = await client.start({ keepAlive: false });
    try {
      assert.equal(local.port, shared.address().port);
      const r = await client.bindingRequest();
      assert.ok(r.ok);
      assert.equal(r.mapping.natDetected, false);
      srv.socket.send('GET http://x?ts=1 HTTP/1.1\r\n\r\n', local.port, '127.0.0.1');
      await waitFor(() => got.length === 1);
      assert.match(got[0], /^GET /);
      // A stray STUN response (not ours) is not passed to the handler.
      srv.socket.send(ok(buildBindingRequestLike(), mappedTo('1.2.3.4', 5)), local.port, '127.0.0.1');
      await new Promise((r2) => setTimeout(r2, 30));
      assert.equal(got.length, 1);
    } finally {
      await client.stop();
      await srv.close();
    }
    assert.doesNotThrow(() => shared.address(), 'still bound');
    await new Promise<void>((r) => shared.close(() => r()));
  });

  test('keep-alive period is clamped to [min, max]', () => {
    const mk = (o: { keepAliveMs?: number; minKeepAliveMs?: number; maxKeepAliveMs?: number }): number => new StunClient({ server: { host: '127.0.0.1' }, ...o }).keepAlivePeriodMs;
    assert.equal(mk({}), 30_000);
    assert.equal(mk({ minKeepAliveMs: 60_000 }), 60_000);
    assert.equal(mk({ maxKeepAliveMs: 10_000 }), 10_000);
    assert.equal(mk({ maxKeepAliveMs: -1, keepAliveMs: 90_000 }), 90_000);
    assert.equal(mk({ minKeepAliveMs: 50_000, maxKeepAliveMs: 20_000 }), 20_000, 'max wins when inconsistent');
  });
});

function buildBindingRequestLike(): StunMessage {
  return { flavour: 'rfc3489', method: 1, class: 'request', transactionId: Buffer.alloc(16, 1), attributes: [] };
}
