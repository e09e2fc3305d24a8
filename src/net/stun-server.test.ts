import { test, describe, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { once } from 'node:events';
import { startStunServer, type StunBinding, type StunServer } from './stun-server.ts';
import { StunClient } from './stun-client.ts';
import {
  StunAttributeCode,
  buildBindingRequest,
  decodeStunMessage,
  encodeStunMessage,
  findAttribute,
  isStunDecodeError,
  mappedAddress,
  verifyMessageIntegrity,
  type StunMessage,
} from '../cwmp/stun.ts';
import { buildUdpConnectionRequest, parseUdpConnectionRequest, randomCnonce, verifyUdpConnectionRequest } from '../cwmp/udp-connection-request.ts';

// The npm `stun` package (RFC 5389, CommonJS, untyped) serves as an independent peer.
interface NpmStunAttribute {
  value: unknown;
}
interface NpmStunMessage {
  transactionId: Buffer;
  getXorAddress(): { address: string; port: number; family: string };
  getAddress(): { address: string; port: number; family: string } | undefined;
  getAttribute(type: number): NpmStunAttribute | undefined;
  addUsername(u: string): unknown;
  addMessageIntegrity(key: string): boolean;
  addFingerprint(): boolean;
}
interface NpmStun {
  request(url: string, options: { socket?: Socket; message?: NpmStunMessage; timeout?: number; retries?: number }): Promise<NpmStunMessage>;
  createMessage(type: number): NpmStunMessage;
  validateMessageIntegrity(message: NpmStunMessage, key: string): boolean;
  validateFingerprint(message: NpmStunMessage): boolean;
  constants: { STUN_BINDING_REQUEST: number };
}
const npmStun = createRequire(import.meta.url)('stun') as NpmStun;

const FAST_RETRANSMIT = { initialRtoMs: 20, maxRtoMs: 80, maxRequests: 4, finalWaitMs: 80 };

async function boundSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  return s;
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Sends raw bytes to the server and waits for one answer (or null after a short wait). */
async function rawExchange(server: StunServer, bytes: Buffer, waitMs = 300): Promise<StunMessage | null> {
  const s = await boundSocket();
  try {
    const answer = new Promise<Buffer | null>((resolve) => {
      const t = setTimeout(() => resolve(null), waitMs);
      s.once('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
    s.send(bytes, server.address().port, '127.0.0.1');
    const m = await answer;
    if (m === null) return null;
    const d = decodeStunMessage(m);
    assert.ok(!isStunDecodeError(d));
    return d;
  } finally {
    await closeSocket(s);
  }
}

describe('STUN server against our client (RFC 3489, TR-111)', () => {
  let server: StunServer;
  const bindings: StunBinding[] = [];
  const datagrams: Buffer[] = [];
  before(async () => {
    server = await startStunServer({
      host: '127.0.0.1',
      port: 0,
      credentials: (u) => (u === 'cpe-auth' ? 'stun-secret' : undefined),
      onBinding: (b) => bindings.push(b),
      onDatagram: (m) => datagrams.push(m),
    });
  });
  after(() => server.close());

  test('binding request records username, public address and TR-111 flags', async () => {
    const client = new StunClient({ server: { host: '127.0.0.1', port: server.address().port }, username: 'cpe-1', retransmit: FAST_RETRANSMIT });
    const local = await client.start({ keepAlive: false });
    try {
      const r = await client.bindingRequest();
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.mapping.address, '127.0.0.1');
      assert.equal(r.mapping.port, local.port);
      assert.equal(r.mapping.natDetected, false);
      assert.equal(r.mapping.changed, false);
      const b = server.getBinding('cpe-1');
      assert.ok(b);
      assert.deepEqual(
        { address: b.address, port: b.port, changed: b.changed, crb: b.connectionRequestBinding, integrity: b.integrity, flavour: b.flavour },
        { address: '127.0.0.1', port: local.port, changed: false, crb: true, integrity: false, flavour: 'rfc3489' },
      );
      assert.equal(bindings.at(-1)?.username, 'cpe-1');
    } finally {
      await client.stop();
    }
  });

  test('MESSAGE-INTEGRITY: verified for known users, refused when wrong', async () => {
    const port = server.address().port;
    const good = new StunClient({ server: { host: '127.0.0.1', port }, username: 'cpe-auth', password: 'stun-secret', integrity: 'always', retransmit: FAST_RETRANSMIT });
    await good.start({ keepAlive: false });
    const bad = new StunClient({ server: { host: '127.0.0.1', port }, username: 'cpe-auth', password: 'nope', integrity: 'always', retransmit: FAST_RETRANSMIT });
    await bad.start({ keepAlive: false });
    try {
      const ok = await good.bindingRequest();
      assert.ok(ok.ok);
      assert.equal(server.getBinding('cpe-auth')?.integrity, true);
      const before = server.getBinding('cpe-auth');
      const r = await bad.bindingRequest();
      assert.deepEqual(r.ok ? null : { code: r.error.code, stun: r.error.stunCode }, { code: 'unauthorized', stun: 431 });
      assert.equal(server.getBinding('cpe-auth'), before, 'a refused request does not move the binding');
    } finally {
      await good.stop();
      await bad.stop();
    }
  });

  test('the response to a signed request is signed with the same key', async () => {
    const req = buildBindingRequest({ username: 'cpe-auth', connectionRequestBinding: true });
    const s = await boundSocket();
    try {
      s.send(encodeStunMessage(req, { integrityKey: 'stun-secret' }), server.address().port, '127.0.0.1');
      const [raw] = (await once(s, 'message')) as [Buffer];
      assert.equal(verifyMessageIntegrity(raw, 'stun-secret'), true);
      assert.equal(verifyMessageIntegrity(raw, 'other'), false);
    } finally {
      await closeSocket(s);
    }
  });

  test('BINDING-CHANGE and address change are reported', async () => {
    const port = server.address().port;
    const first = new StunClient({ server: { host: '127.0.0.1', port }, username: 'cpe-move', retransmit: FAST_RETRANSMIT });
    await first.start({ keepAlive: false });
    assert.ok((await first.bindingRequest()).ok);
    await first.stop();
    // Same CPE, new socket (as after a NAT rebinding), announcing the change.
    const s = await boundSocket();
    try {
      s.send(encodeStunMessage(buildBindingRequest({ username: 'cpe-move', connectionRequestBinding: true, bindingChange: true })), port, '127.0.0.1');
      await once(s, 'message');
      const b = server.getBinding('cpe-move');
      assert.equal(b?.port, s.address().port);
      assert.equal(b?.changed, true);
      assert.equal(b?.addressChanged, true);
    } finally {
      await closeSocket(s);
    }
  });

  test('UDP Connection Request sent from the STUN socket reaches the CPE socket (shared with STUN)', async () => {
    const received: Buffer[] = [];
    const client = new StunClient({ server: { host: '127.0.0.1', port: server.address().port }, username: 'cpe-cr', retransmit: FAST_RETRANSMIT, onDatagram: (m) => received.push(m) });
    await client.start({ keepAlive: false });
    try {
      assert.ok((await client.bindingRequest()).ok);
      const b = server.getBinding('cpe-cr');
      assert.ok(b);
      const text = buildUdpConnectionRequest({ host: b.address, port: b.port, ts: Math.floor(Date.now() / 1000), id: 42, username: 'acs-user', cnonce: randomCnonce(), password: 'cr-pass' });
      const arrived = new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (received.length > 0) {
            clearInterval(check);
            resolve();
          }
        }, 5);
      });
      await server.send(text, b.port, b.address);
      await arrived;
      const req = parseUdpConnectionRequest(received[0]);
      assert.deepEqual(verifyUdpConnectionRequest(req, { username: 'acs-user', password: 'cr-pass' }), { ok: true });
      // STUN still works on the same socket afterwards.
      assert.ok((await client.bindingRequest()).ok);
    } finally {
      await client.stop();
    }
  });

  test('non-STUN datagrams go to onDatagram; responses, indications and garbage get no answer', async () => {
    const port = server.address().port;
    const before = datagrams.length;
    assert.equal(await rawExchange(server, Buffer.from('hello'), 100), null);
    assert.equal(datagrams.length, before + 1);
    const response = encodeStunMessage({ ...buildBindingRequest(), class: 'success' });
    assert.equal(await rawExchange(server, response, 100), null);
    const indication = encodeStunMessage({ ...buildBindingRequest(), class: 'indication' });
    assert.equal(await rawExchange(server, indication, 100), null);
    const badAttr = Buffer.from(encodeStunMessage(buildBindingRequest({ username: 'abcd' })));
    badAttr.writeUInt16BE(200, 22); // USERNAME length overruns the message
    assert.equal(await rawExchange(server, badAttr, 100), null);
    // The server is still alive.
    const ok = await rawExchange(server, encodeStunMessage(buildBindingRequest()));
    assert.equal(ok?.class, 'success');
    assert.ok(port > 0);
  });

  test('unknown comprehension-required attributes and CHANGE-REQUEST get 420', async () => {
    const req = buildBindingRequest({ flavour: 'rfc5389' });
    req.attributes.push({ type: 'UNKNOWN', code: 0x0024, value: Buffer.alloc(4) }, { type: 'UNKNOWN', code: 0x8029, value: Buffer.alloc(8) });
    const r = await rawExchange(server, encodeStunMessage(req));
    assert.equal(r?.class, 'error');
    assert.equal(r && findAttribute(r, 'ERROR-CODE')?.code, 420);
    assert.deepEqual(r && findAttribute(r, 'UNKNOWN-ATTRIBUTES')?.value, [0x0024]);
    const change = await rawExchange(server, encodeStunMessage(buildBindingRequest({ changeRequest: { changeIp: true, changePort: false } })));
    assert.deepEqual(change && findAttribute(change, 'UNKNOWN-ATTRIBUTES')?.value, [StunAttributeCode.CHANGE_REQUEST, StunAttributeCode.CHANGE_REQUEST]);
    const noChange = await rawExchange(server, encodeStunMessage(buildBindingRequest({ changeRequest: { changeIp: false, changePort: false } })));
    assert.equal(noChange?.class, 'success');
  });

  test('RFC 5389 request gets XOR-MAPPED-ADDRESS, MAPPED-ADDRESS and a valid FINGERPRINT', async () => {
    const req = buildBindingRequest({ flavour: 'rfc5389', username: 'cpe-5389' });
    const r = await rawExchange(server, encodeStunMessage(req, { fingerprint: true }));
    assert.ok(r);
    assert.equal(r.flavour, 'rfc5389');
    assert.deepEqual(r.transactionId, req.transactionId);
    assert.ok(findAttribute(r, 'XOR-MAPPED-ADDRESS'));
    assert.ok(findAttribute(r, 'MAPPED-ADDRESS'));
    assert.ok(findAttribute(r, 'FINGERPRINT'), 'decoder verified it');
    assert.equal(server.getBinding('cpe-5389')?.flavour, 'rfc5389');
  });
});

describe('STUN server options', () => {
  test('requireIntegrity: 401 first, then the client retries with MESSAGE-INTEGRITY', async () => {
    const server = await startStunServer({ host: '127.0.0.1', port: 0, requireIntegrity: true, credentials: (u) => (u === 'cpe' ? 'pw' : undefined) });
    const withPw = new StunClient({ server: { host: '127.0.0.1', port: server.address().port }, username: 'cpe', password: 'pw', retransmit: FAST_RETRANSMIT });
    const withoutPw = new StunClient({ server: { host: '127.0.0.1', port: server.address().port }, username: 'cpe', retransmit: FAST_RETRANSMIT });
    await withPw.start({ keepAlive: false });
    await withoutPw.start({ keepAlive: false });
    try {
      const r = await withPw.bindingRequest();
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(server.getBinding('cpe')?.integrity, true);
      const r2 = await withoutPw.bindingRequest();
      assert.deepEqual(r2.ok ? null : { code: r2.error.code, stun: r2.error.stunCode }, { code: 'unauthorized', stun: 401 });
      const anonymous = await rawExchange(server, encodeStunMessage(buildBindingRequest()));
      assert.equal(anonymous && findAttribute(anonymous, 'ERROR-CODE')?.code, 401);
    } finally {
      await withPw.stop();
      await withoutPw.stop();
      await server.close();
    }
  });

  test('maxBindings evicts the least recently refreshed username', async () => {
    const server = await startStunServer({ host: '127.0.0.1', port: 0, maxBindings: 2 });
    try {
      for (const u of ['a', 'b', 'a', 'c']) await rawExchange(server, encodeStunMessage(buildBindingRequest({ username: u })));
      assert.deepEqual(
        server.bindings().map((b) => b.username),
        ['a', 'c'],
      );
      assert.equal(server.forget('a'), true);
      assert.equal(server.getBinding('a'), undefined);
    } finally {
      await server.close();
    }
  });

  test('honourResponseAddress sends the answer to RESPONSE-ADDRESS with REFLECTED-FROM', async () => {
    const server = await startStunServer({ host: '127.0.0.1', port: 0, honourResponseAddress: true });
    const a = await boundSocket();
    const b = await boundSocket();
    try {
      const req = buildBindingRequest({ responseAddress: { family: 'IPv4', address: '127.0.0.1', port: b.address().port } });
      const arrived = once(b, 'message') as Promise<[Buffer]>;
      a.send(encodeStunMessage(req), server.address().port, '127.0.0.1');
      const [raw] = await arrived;
      const r = decodeStunMessage(raw);
      assert.ok(!isStunDecodeError(r));
      assert.equal(mappedAddress(r)?.port, a.address().port, 'mapped = where the request came from');
      assert.equal(findAttribute(r, 'REFLECTED-FROM')?.value.port, a.address().port);
    } finally {
      await closeSocket(a);
      await closeSocket(b);
      await server.close();
    }
  });

  test('a busy port is reported as a rejected listen, and close is idempotent', async () => {
    const s = await boundSocket();
    try {
      // The other socket did not set SO_REUSEADDR, so our reuseAddr bind must fail.
      await assert.rejects(startStunServer({ host: '127.0.0.1', port: s.address().port }), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
    } finally {
      await closeSocket(s);
    }
    const srv = await startStunServer({ host: '127.0.0.1', port: 0 });
    await srv.close();
    await srv.close();
    await assert.rejects(srv.send('x', 1, '127.0.0.1'));
  });
});

describe('STUN server against the npm `stun` client (independent RFC 5389 peer)', () => {
  let server: StunServer;
  const bindings: StunBinding[] = [];
  before(async () => {
    server = await startStunServer({ host: '127.0.0.1', port: 0, credentials: (u) => (u === 'peer' ? 'peer-key' : undefined), onBinding: (b) => bindings.push(b) });
  });
  after(() => server.close());

  test('plain binding request: XOR-MAPPED-ADDRESS and FINGERPRINT as the peer reads them', async () => {
    const socket = await boundSocket();
    try {
      const res = await npmStun.request(`127.0.0.1:${server.address().port}`, { socket, timeout: 50, retries: 3 });
      assert.deepEqual(res.getXorAddress(), { address: '127.0.0.1', port: socket.address().port, family: 'IPv4' });
      assert.equal(res.getAddress()?.port, socket.address().port);
      assert.equal(npmStun.validateFingerprint(res), true);
    } finally {
      // The package closes the socket it was given when the request ends.
      try {
        await closeSocket(socket);
      } catch {
        // already closed
      }
    }
  });

  test('USERNAME + MESSAGE-INTEGRITY from the peer is verified and the response validates on its side', async () => {
    const socket = await boundSocket();
    const localPort = socket.address().port;
    try {
      const msg = npmStun.createMessage(npmStun.constants.STUN_BINDING_REQUEST);
      msg.addUsername('peer');
      msg.addMessageIntegrity('peer-key');
      msg.addFingerprint();
      const res = await npmStun.request(`127.0.0.1:${server.address().port}`, { socket, message: msg, timeout: 50, retries: 3 });
      assert.equal(res.getXorAddress().port, localPort);
      assert.equal(npmStun.validateMessageIntegrity(res, 'peer-key'), true);
      const b = server.getBinding('peer');
      assert.deepEqual(b && { integrity: b.integrity, flavour: b.flavour, port: b.port }, { integrity: true, flavour: 'rfc5389', port: localPort });
    } finally {
      try {
        await closeSocket(socket);
      } catch {
        // already closed
      }
    }
  });

  test('a wrong key from the peer gets an error response and no binding', async () => {
    const socket = await boundSocket();
    try {
      const msg = npmStun.createMessage(npmStun.constants.STUN_BINDING_REQUEST);
      msg.addUsername('peer-wrong');
      msg.addMessageIntegrity('not-the-key');
      await assert.rejects(npmStun.request(`127.0.0.1:${server.address().port}`, { socket, message: msg, timeout: 50, retries: 2 }));
      assert.equal(server.getBinding('peer-wrong'), undefined);
    } finally {
      try {
        await closeSocket(socket);
      } catch {
        // already closed
      }
    }
  });
});
