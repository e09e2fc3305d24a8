import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createSocket, type Socket } from 'node:dgram';
import { parseUdpConnectionRequest, verifyUdpConnectionRequest } from '../../cwmp/udp-connection-request.ts';
import { startStunServer, type StunServer } from '../../net/stun-server.ts';
import type { AcsEventMap } from '../app.ts';
import type { ConnectionRequestResult, ConnectionRequestStatus, ConnectionRequestTarget, ConnectionRequestTransport } from '../connection-request.ts';
import { PathChoosingConnectionRequester, natStatusFromBinding, sessionWatcherFromEvents, targetFromDevice } from './requester.ts';
import { UdpConnectionRequestTransport } from './udp-transport.ts';
import type { Device } from '../../store/types.ts';

const CR_USER = 'cr-user';
const CR_PASS = 'cr-pass';

/** A fake HTTP transport: answers a scripted status (or hangs), counts calls. */
class FakeHttp implements ConnectionRequestTransport {
  readonly name = 'http';
  calls = 0;
  lastSignal: AbortSignal | undefined;
  constructor(
    private readonly answer: ConnectionRequestStatus | 'hang' | 'throw',
    private readonly delayMs = 0,
  ) {}
  applies(t: ConnectionRequestTarget): boolean {
    return t.connectionRequestUrl !== null;
  }
  async send(_t: ConnectionRequestTarget, signal?: AbortSignal): Promise<ConnectionRequestResult> {
    this.calls++;
    this.lastSignal = signal;
    if (this.answer === 'throw') throw new Error('boom');
    // 'hang' ignores the abort signal on purpose: the requester must not depend on it.
    if (this.answer === 'hang') return new Promise(() => undefined);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const httpStatus = this.answer === 'ok' ? 204 : this.answer === 'busy' ? 503 : this.answer === 'auth-failed' ? 401 : undefined;
    return { status: this.answer, transport: 'http', detail: `fake ${this.answer}`, ...(httpStatus ? { httpStatus } : {}) };
  }
}

/**
 * A simulated CPE on a real UDP socket: verifies each datagram like a CPE would, and on the first
 * valid one emits a session start on the ACS event bus (as the session engine would once the CPE's
 * Inform arrives).
 */
async function simulatedCpe(events: EventEmitter<AcsEventMap>, deviceId: string, wake = true): Promise<{ socket: Socket; port: number; accepted: number; ignored: string[] }> {
  const socket = createSocket('udp4');
  const state = { socket, port: 0, accepted: 0, ignored: [] as string[] };
  let last: { ts: string; id: string } | undefined;
  socket.on('message', (m) => {
    const req = parseUdpConnectionRequest(m);
    const v = verifyUdpConnectionRequest(req, { username: CR_USER, password: CR_PASS, lastAccepted: last });
    if (!v.ok || 'error' in req) {
      state.ignored.push(v.ok ? 'malformed' : v.reason);
      return;
    }
    last = { ts: req.ts, id: req.id };
    state.accepted++;
    if (wake) setTimeout(() => events.emit('session', { deviceId, phase: 'started', remoteAddress: '127.0.0.1' }), 10);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  state.port = socket.address().port;
  return state;
}

function target(over: Partial<ConnectionRequestTarget> = {}): ConnectionRequestTarget {
  return { deviceId: 'dev-1', connectionRequestUrl: 'http://192.168.1.20:7547/cr', udpConnectionRequestAddress: null, username: CR_USER, password: CR_PASS, ...over };
}

describe('PathChoosingConnectionRequester', () => {
  let stun: StunServer;
  let udp: UdpConnectionRequestTransport;
  before(async () => {
    stun = await startStunServer({ host: '127.0.0.1', port: 0 });
    udp = new UdpConnectionRequestTransport({ sender: stun, retransmitIntervalMs: 20 });
  });
  after(async () => {
    udp.close();
    await stun.close();
  });

  test('HTTP answers: path http, UDP never used', async () => {
    const events = new EventEmitter<AcsEventMap>();
    const cpe = await simulatedCpe(events, 'dev-1');
    const http = new FakeHttp('ok');
    const r = await new PathChoosingConnectionRequester({ transports: [http, udp], watchSession: sessionWatcherFromEvents(events) }).request(
      target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }),
    );
    try {
      assert.equal(r.status, 'ok');
      assert.equal(r.path, 'http');
      assert.equal(r.httpStatus, 204);
      assert.equal(r.confirmed, null);
      assert.deepEqual(r.attempts.map((a) => a.transport), ['http']);
      await new Promise((res) => setTimeout(res, 50));
      assert.equal(cpe.accepted + cpe.ignored.length, 0, 'no datagram sent');
    } finally {
      cpe.socket.close();
    }
  });

  test('HTTP unreachable: the UDP request wakes the device, confirmed by its session', async () => {
    const events = new EventEmitter<AcsEventMap>();
    const cpe = await simulatedCpe(events, 'dev-1');
    const http = new FakeHttp('unreachable');
    const requester = new PathChoosingConnectionRequester({ transports: [http, udp], watchSession: sessionWatcherFromEvents(events), confirmMs: 1000 });
    try {
      const r = await requester.request(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }));
      assert.equal(r.status, 'ok', r.detail);
      assert.equal(r.path, 'udp');
      assert.equal(r.transport, 'udp');
      assert.equal(r.confirmed, true);
      assert.deepEqual(
        r.attempts.map((a) => [a.transport, a.status, a.confirmed]),
        [
          ['http', 'unreachable', undefined],
          ['udp', 'ok', true],
        ],
      );
      await new Promise((res) => setTimeout(res, 100));
      assert.equal(cpe.accepted, 1, 'the CPE accepted exactly one request');
      assert.deepEqual(cpe.ignored, ['replayed-id', 'replayed-id'], 'the copies were replays');
    } finally {
      cpe.socket.close();
    }
  });

  test('UDP sent but no session: ok, path udp, confirmed false, detail says so', async () => {
    const events = new EventEmitter<AcsEventMap>();
    const cpe = await simulatedCpe(events, 'dev-1', false);
    const requester = new PathChoosingConnectionRequester({ transports: [new FakeHttp('unreachable'), udp], watchSession: sessionWatcherFromEvents(events), confirmMs: 150 });
    try {
      const r = await requester.request(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }));
      assert.deepEqual({ status: r.status, path: r.path, confirmed: r.confirmed }, { status: 'ok', path: 'udp', confirmed: false });
      assert.match(r.detail, /no session seen within 150 ms/);
      assert.equal(events.listenerCount('session'), 0, 'watcher released');
    } finally {
      cpe.socket.close();
    }
  });

  for (const stop of ['busy', 'auth-failed'] as const) {
    test(`HTTP ${stop}: stop there, no UDP`, async () => {
      const events = new EventEmitter<AcsEventMap>();
      const cpe = await simulatedCpe(events, 'dev-1');
      try {
        const r = await new PathChoosingConnectionRequester({ transports: [new FakeHttp(stop), udp] }).request(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }));
        assert.equal(r.status, stop);
        assert.equal(r.path, null);
        assert.equal(r.attempts.length, 1);
        await new Promise((res) => setTimeout(res, 50));
        assert.equal(cpe.accepted, 0);
      } finally {
        cpe.socket.close();
      }
    });
  }

  test('a hanging HTTP transport is cut by the time limit; behind a NAT the limit is shorter', async () => {
    const events = new EventEmitter<AcsEventMap>();
    const cpe = await simulatedCpe(events, 'dev-1');
    const http = new FakeHttp('hang');
    const requester = new PathChoosingConnectionRequester({
      transports: [http, udp],
      timeoutsMs: { http: 5_000 },
      behindNatHttpTimeoutMs: 100,
      natStatus: (t) => natStatusFromBinding(t.connectionRequestUrl, '203.0.113.5'),
      watchSession: sessionWatcherFromEvents(events),
    });
    try {
      const r = await requester.request(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }));
      assert.equal(r.path, 'udp');
      assert.equal(r.attempts[0].status, 'unreachable');
      assert.match(r.attempts[0].detail, /within 100 ms/);
      assert.ok(r.attempts[0].elapsedMs < 3000, 'cut long before the 5 s HTTP limit');
      assert.equal(http.lastSignal?.aborted, true, 'the transport was told to give up');
    } finally {
      cpe.socket.close();
    }
  });

  test('a throwing transport is an error attempt and the next one is tried', async () => {
    const events = new EventEmitter<AcsEventMap>();
    const cpe = await simulatedCpe(events, 'dev-1');
    try {
      const r = await new PathChoosingConnectionRequester({ transports: [new FakeHttp('throw'), udp] }).request(target({ udpConnectionRequestAddress: `127.0.0.1:${cpe.port}` }));
      assert.deepEqual(r.attempts.map((a) => a.status), ['error', 'ok']);
      assert.match(r.attempts[0].detail, /boom/);
      assert.equal(r.path, 'udp');
      assert.equal(r.confirmed, null, 'no watcher: not checked');
    } finally {
      cpe.socket.close();
    }
  });

  test('nothing applies: no-address with every attempt listed', async () => {
    const r = await new PathChoosingConnectionRequester({ transports: [new FakeHttp('ok'), udp] }).request(target({ connectionRequestUrl: null }));
    assert.equal(r.status, 'no-address');
    assert.equal(r.path, null);
    assert.deepEqual(r.attempts.map((a) => [a.transport, a.status]), [
      ['http', 'no-address'],
      ['udp', 'no-address'],
    ]);
  });

  test('every path failing: the last real failure is the answer', async () => {
    const r = await new PathChoosingConnectionRequester({ transports: [new FakeHttp('unreachable'), udp] }).request(target());
    assert.equal(r.status, 'unreachable');
    assert.equal(r.transport, 'http');
    assert.match(r.detail, /http: unreachable/);
  });

  test('an aborted request stops before the next transport', async () => {
    const controller = new AbortController();
    const http = new FakeHttp('unreachable', 30);
    setTimeout(() => controller.abort(), 5);
    const r = await new PathChoosingConnectionRequester({ transports: [http, udp] }).request(target({ udpConnectionRequestAddress: '127.0.0.1:9' }), controller.signal);
    assert.equal(r.status, 'error');
    assert.equal(r.detail, 'aborted');
    assert.equal(r.attempts.length, 1);
  });
});

describe('helpers', () => {
  test('natStatusFromBinding', () => {
    assert.equal(natStatusFromBinding('http://192.168.1.2:7547/x', '203.0.113.1'), 'behind-nat');
    assert.equal(natStatusFromBinding('http://203.0.113.1:7547/x', '203.0.113.1'), 'direct');
    assert.equal(natStatusFromBinding('http://[2001:db8::1]:7547/x', '2001:db8::1'), 'direct');
    assert.equal(natStatusFromBinding('http://phone.example:7547/x', '203.0.113.1'), 'unknown');
    assert.equal(natStatusFromBinding(null, '203.0.113.1'), 'unknown');
    assert.equal(natStatusFromBinding('http://192.168.1.2/', undefined), 'unknown');
    assert.equal(natStatusFromBinding('not a url', '1.2.3.4'), 'unknown');
  });

  test('sessionWatcherFromEvents: only this device, only starts, times out, cancels', async () => {
    const events = new EventEmitter<AcsEventMap>();
    const watch = sessionWatcherFromEvents(events);
    const w1 = watch('a', 1000);
    events.emit('session', { deviceId: 'b', phase: 'started', remoteAddress: null });
    events.emit('session', { deviceId: 'a', phase: 'ended', remoteAddress: null });
    events.emit('session', { deviceId: 'a', phase: 'started', remoteAddress: null });
    assert.equal(await w1.started, true);
    assert.equal(await watch('a', 20).started, false);
    const w3 = watch('a', 1000);
    w3.cancel();
    assert.equal(await w3.started, false);
    assert.equal(events.listenerCount('session'), 0);
  });

  test('targetFromDevice copies addresses and credentials', () => {
    const d = {
      id: 'X-Y-Z',
      connectionRequestUrl: 'http://10.0.0.1/',
      udpConnectionRequestAddress: '1.2.3.4:5',
      credentials: { acsUsername: null, acsPassword: null, connectionRequestUsername: 'u', connectionRequestPassword: 'p' },
    } as Device;
    assert.deepEqual(targetFromDevice(d), { deviceId: 'X-Y-Z', connectionRequestUrl: 'http://10.0.0.1/', udpConnectionRequestAddress: '1.2.3.4:5', username: 'u', password: 'p' });
  });
});
