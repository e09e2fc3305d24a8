import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { parseUdpConnectionRequest, verifyUdpConnectionRequest, isUdpCrError } from '../../cwmp/udp-connection-request.ts';
import { startStunServer, type StunServer } from '../../net/stun-server.ts';
import type { ConnectionRequestTarget } from '../connection-request.ts';
import { UdpConnectionRequestTransport, type DatagramSender, type NatBindingView } from './udp-transport.ts';

const CR_USER = 'cr-user';
const CR_PASS = 'cr-pass';
const RETRANSMIT_MS = 20;

/** A "CPE" socket on 127.0.0.1 collecting datagrams. */
async function cpeSocket(): Promise<{ socket: Socket; port: number; received: Buffer[]; waitFor(n: number, ms?: number): Promise<Buffer[]> }> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    socket,
    port: socket.address().port,
    received,
    async waitFor(n, ms = 5000) {
      const end = Date.now() + ms;
      while (received.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      return received;
    },
  };
}

function target(over: Partial<ConnectionRequestTarget> = {}): ConnectionRequestTarget {
  return { deviceId: 'dev-1', connectionRequestUrl: 'http://10.0.0.2:7547/cr', udpConnectionRequestAddress: null, username: CR_USER, password: CR_PASS, ...over };
}

describe('UdpConnectionRequestTransport over a real socket', () => {
  let stun: StunServer;
  before(async () => {
    stun = await startStunServer({ host: '127.0.0.1', port: 0 });
  });
  after(() => stun.close());

  test('sends 3 identical signed copies from the STUN socket; the CPE accepts one and sees the others as replays', async () => {
    const cpe = await cpeSocket();
    const sources: string[] = [];
    cpe.socket.on('message', (_m, r) => sources.push(`${r.address}:${r.port}`));
    const transport = new UdpConnectionRequestTransport({ sender: stun, retransmitIntervalMs: RETRANSMIT_MS, nextId: () => 4242 });
    try {
      const r = await transport.send(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }));
      assert.equal(r.status, 'ok', r.detail);
      assert.equal(r.destination, `127.0.0.1:${cpe.port}`);
      assert.equal(r.destinationSource, 'reported-address');
      assert.equal(r.messageId, 4242);
      const got = await cpe.waitFor(3);
      assert.equal(got.length, 3);
      assert.ok(got.every((g) => g.equals(got[0])), 'copies are identical');
      assert.deepEqual(new Set(sources), new Set([`127.0.0.1:${stun.address().port}`]), 'sent from the STUN server port');
      const req = parseUdpConnectionRequest(got[0]);
      assert.ok(!isUdpCrError(req));
      assert.equal(req.id, '4242');
      assert.equal(req.username, CR_USER);
      assert.ok(Math.abs(Number(req.ts) - Date.now() / 1000) < 5);
      assert.deepEqual(verifyUdpConnectionRequest(req, { username: CR_USER, password: CR_PASS }), { ok: true });
      assert.deepEqual(verifyUdpConnectionRequest(parseUdpConnectionRequest(got[1]), { username: CR_USER, password: CR_PASS, lastAccepted: { ts: req.ts, id: req.id } }), {
        ok: false,
        reason: 'replayed-id',
      });
      assert.deepEqual(verifyUdpConnectionRequest(req, { username: CR_USER, password: 'other' }), { ok: false, reason: 'bad-signature' });
    } finally {
      transport.close();
      cpe.socket.close();
    }
  });

  test('a fresh STUN binding wins over the reported address; a stale one does not', async () => {
    const viaBinding = await cpeSocket();
    const viaReport = await cpeSocket();
    let now = 1_000_000_000_000;
    const bindings = new Map<string, NatBindingView>([['dev-1', { address: '127.0.0.1', port: viaBinding.port, refreshedAt: now }]]);
    const transport = new UdpConnectionRequestTransport({
      sender: stun,
      copies: 1,
      bindings: { binding: (id) => bindings.get(id) },
      maxBindingAgeMs: 60_000,
      now: () => now,
    });
    try {
      const t = target({ udpConnectionRequestAddress: `127.0.0.1:${viaReport.port}` });
      const fresh = await transport.send(t);
      assert.equal(fresh.destinationSource, 'stun-binding');
      assert.equal((await viaBinding.waitFor(1)).length, 1);
      now += 60_001;
      const stale = await transport.send(t);
      assert.equal(stale.destinationSource, 'reported-address');
      assert.equal((await viaReport.waitFor(1)).length, 1);
      assert.equal(viaBinding.received.length, 1);
      // Only a stale binding and no reported address: nothing usable.
      assert.equal(transport.applies(target()), false);
      assert.equal((await transport.send(target())).status, 'no-address');
    } finally {
      transport.close();
      viaBinding.socket.close();
      viaReport.socket.close();
    }
  });

  test('close() cancels copies not yet sent', async () => {
    const cpe = await cpeSocket();
    const transport = new UdpConnectionRequestTransport({ sender: stun, copies: 3, retransmitIntervalMs: 200 });
    try {
      const r = await transport.send(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }));
      assert.equal(r.status, 'ok');
      transport.close();
      await new Promise((res) => setTimeout(res, 500));
      assert.equal(cpe.received.length, 1);
      assert.equal((await transport.send(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }))).status, 'error');
    } finally {
      cpe.socket.close();
    }
  });
});

describe('UdpConnectionRequestTransport results without a network', () => {
  const sent: { port: number; address: string }[] = [];
  const okSender: DatagramSender = {
    send: async (_d, port, address) => {
      sent.push({ port, address });
    },
  };

  test('no credentials: auth-failed, nothing sent', async () => {
    const t = new UdpConnectionRequestTransport({ sender: okSender });
    const before = sent.length;
    const r = await t.send(target({ udpConnectionRequestAddress: '203.0.113.7:5000', password: null }));
    assert.equal(r.status, 'auth-failed');
    assert.equal(sent.length, before);
    t.close();
  });

  test('routing errors are unreachable, other errors are error', async () => {
    const failing = (code: string): DatagramSender => ({
      send: async () => {
        throw Object.assign(new Error(code), { code });
      },
    });
    const unreachable = new UdpConnectionRequestTransport({ sender: failing('EHOSTUNREACH') });
    const r1 = await unreachable.send(target({ udpConnectionRequestAddress: '198.51.100.9:6000' }));
    assert.deepEqual({ status: r1.status, copies: r1.copies }, { status: 'unreachable', copies: 0 });
    assert.match(r1.detail, /EHOSTUNREACH/);
    const other = new UdpConnectionRequestTransport({ sender: failing('EMSGSIZE') });
    assert.equal((await other.send(target({ udpConnectionRequestAddress: '198.51.100.9:6000' }))).status, 'error');
  });

  test('IPv6 and port-80 addresses are parsed from the reported form', async () => {
    const t = new UdpConnectionRequestTransport({ sender: okSender, copies: 1 });
    const r6 = await t.send(target({ udpConnectionRequestAddress: '[2001:db8::5]:7000' }));
    assert.equal(r6.destination, '[2001:db8::5]:7000');
    assert.deepEqual(sent.at(-1), { port: 7000, address: '2001:db8::5' });
    const r80 = await t.send(target({ udpConnectionRequestAddress: '192.0.2.10' }));
    assert.equal(r80.destination, '192.0.2.10:80');
    assert.equal(t.applies(target({ udpConnectionRequestAddress: 'not an address' })), false);
    t.close();
  });

  test('an aborted signal sends nothing', async () => {
    const t = new UdpConnectionRequestTransport({ sender: okSender });
    const before = sent.length;
    const r = await t.send(target({ udpConnectionRequestAddress: '192.0.2.10:9' }), AbortSignal.abort());
    assert.equal(r.status, 'error');
    assert.equal(sent.length, before);
  });
});
