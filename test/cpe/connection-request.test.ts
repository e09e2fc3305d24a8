/**
 * Connection Requests: HTTP (Digest, Basic when allowed, 401 without or with wrong credentials,
 * 503 rate limit without Retry-After, a request during a session is remembered), and TR-111 UDP
 * Connection Requests (valid, replayed, stale, badly signed) with STUN publishing the
 * UDPConnectionRequestAddress.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createSocket } from 'node:dgram';
import { DigestClient } from '../../src/cwmp/auth.ts';
import { buildUdpConnectionRequest } from '../../src/cwmp/udp-connection-request.ts';
import type { Inform } from '../../src/cwmp/index.ts';
import { UdpConnectionRequestEndpoint } from '../../src/cpe/udp-endpoint.ts';
import { StunServer } from '../../src/net/stun-server.ts';
import { startHarness, type Harness } from './harness.ts';

const MS = 'Device.ManagementServer.';

interface CrReply {
  status: number;
  headers: http.IncomingHttpHeaders;
}

function get(url: string, authorization?: string): Promise<CrReply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers: authorization ? { authorization } : {}, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

/** A Connection Request as an ACS makes it: GET, on 401 answer the Digest challenge. */
async function connectionRequest(url: string, username: string, password: string, allowBasic = false): Promise<CrReply> {
  const first = await get(url);
  if (first.status !== 401) return first;
  const client = new DigestClient({ username, password, allowBasic });
  if (!client.handleChallenge(first.headers['www-authenticate'])) return first;
  const u = new URL(url);
  return get(url, client.authorization('GET', u.pathname + u.search) ?? undefined);
}

function crUrl(h: Harness): string {
  return h.agent.model.getValue(`${MS}ConnectionRequestURL`) ?? '';
}

const eventsOf = (i: Inform): string[] => i.event.map((e) => e.eventCode);

describe('HTTP Connection Requests', () => {
  test('Digest: 401 challenge without credentials, 200 with them, then a 6 CONNECTION REQUEST session', async () => {
    const h = await startHarness({ withConnectionRequests: true });
    try {
      const url = crUrl(h);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/cr\//);
      const bare = await get(url);
      assert.equal(bare.status, 401);
      assert.match(String(bare.headers['www-authenticate']), /Digest .*qop="auth"/);
      const n = h.acs.informs.length;
      const session = h.agent.nextSession();
      const ok = await connectionRequest(url, 'cruser', 'crpass');
      assert.equal(ok.status, 200);
      await session;
      assert.ok(eventsOf(h.acs.informs[n]).includes('6 CONNECTION REQUEST'));
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('wrong password: 401 and no session; Basic refused unless allowed', async () => {
    const h = await startHarness({ withConnectionRequests: true });
    try {
      const url = crUrl(h);
      const sessionsBefore = h.acs.sessions;
      assert.equal((await connectionRequest(url, 'cruser', 'wrong')).status, 401);
      const basic = `Basic ${Buffer.from('cruser:crpass').toString('base64')}`;
      assert.equal((await get(url, basic)).status, 401);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(h.acs.sessions, sessionsBefore, 'no session for unauthenticated requests');
      assert.equal((await get(`${new URL(url).origin}/cr/unknown-device`)).status, 404);
    } finally {
      await h.close();
    }
  });

  test('Basic is accepted when the device is configured for it', async () => {
    const h = await startHarness({ withConnectionRequests: true, agent: { connectionRequestBasic: true } });
    try {
      const challenge = await get(crUrl(h));
      const schemes = String(challenge.headers['www-authenticate']);
      assert.match(schemes, /Digest/);
      assert.match(schemes, /Basic/);
      const s = h.agent.nextSession();
      assert.equal((await get(crUrl(h), `Basic ${Buffer.from('cruser:crpass').toString('base64')}`)).status, 200);
      await s;
    } finally {
      await h.close();
    }
  });

  test('rate limit: 503 without Retry-After once the burst is used up', async () => {
    const h = await startHarness({ withConnectionRequests: true, agent: { crRateLimit: { burst: 2, windowMs: 60_000 } } });
    try {
      const url = crUrl(h);
      const statuses: number[] = [];
      let last: CrReply | undefined;
      for (let i = 0; i < 3; i++) {
        last = await connectionRequest(url, 'cruser', 'crpass');
        statuses.push(last.status);
      }
      assert.deepEqual(statuses, [200, 200, 503]);
      assert.equal(last?.headers['retry-after'], undefined);
    } finally {
      await h.close();
    }
  });

  test('a Connection Request during a session is remembered and served by the next session', async () => {
    let releaseInform: (() => void) | null = null;
    let holdNext = false;
    const h = await startHarness({
      withConnectionRequests: true,
      hooks: {
        beforeReply: async (_req, _res, post) => {
          if (holdNext && post.message?.method === 'Inform') {
            holdNext = false;
            await new Promise<void>((r) => (releaseInform = r));
          }
          return false;
        },
      },
    });
    try {
      holdNext = true;
      const n = h.acs.informs.length;
      const first = h.agent.nextSession();
      assert.equal((await connectionRequest(crUrl(h), 'cruser', 'crpass')).status, 200);
      while (!releaseInform) await new Promise((r) => setTimeout(r, 10));
      // The session is running (its Inform is held by the ACS): a second request arrives.
      assert.equal(h.agent.isInSession, true);
      assert.equal((await connectionRequest(crUrl(h), 'cruser', 'crpass')).status, 200);
      (releaseInform as () => void)();
      await first;
      await h.agent.nextSession();
      assert.equal(h.acs.informs.length, n + 2);
      assert.ok(eventsOf(h.acs.informs[n + 1]).includes('6 CONNECTION REQUEST'));
    } finally {
      await h.close();
    }
  });
});

describe('UDP Connection Requests (TR-111) and STUN', () => {
  async function udpHarness(): Promise<{ h: Harness; udp: UdpConnectionRequestEndpoint; send: (d: string) => Promise<void>; close: () => Promise<void> }> {
    const udp = new UdpConnectionRequestEndpoint({ listenHost: '127.0.0.1' });
    await udp.start();
    const h = await startHarness({ runtime: { udp }, agent: { udpCrMaxSkewSeconds: 300 } });
    const sock = createSocket('udp4');
    const send = (d: string): Promise<void> => new Promise((r) => sock.send(d, udp.port, '127.0.0.1', () => r()));
    return {
      h,
      udp,
      send,
      close: async () => {
        sock.close();
        await h.close();
        await udp.close();
      },
    };
  }

  const build = (port: number, ts: number, id: number, password = 'crpass'): string =>
    buildUdpConnectionRequest({ host: '127.0.0.1', port, ts, id, username: 'cruser', cnonce: `cn${id}`, password });

  test('valid request starts a session; replayed, older, stale and badly signed ones are ignored and logged', async () => {
    const { h, udp, send, close } = await udpHarness();
    try {
      assert.equal(h.agent.model.getValue(`${MS}UDPConnectionRequestAddress`), `127.0.0.1:${udp.port}`);
      const now = Math.floor(Date.now() / 1000);
      const n = h.acs.informs.length;
      const s = h.agent.nextSession();
      await send(build(udp.port, now, 1001));
      await s;
      assert.ok(eventsOf(h.acs.informs[n]).includes('6 CONNECTION REQUEST'));

      const sessions = h.acs.sessions;
      await send(build(udp.port, now, 1001)); // retransmission / replay of the same id
      await send(build(udp.port, now - 10, 1002)); // older than the last accepted one
      await send(build(udp.port, now + 100_000, 1003)); // far outside the clock window
      await send(build(udp.port, now + 1, 1004, 'not-the-password')); // bad signature
      await send('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // not a connection request at all
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(h.acs.sessions, sessions, 'no session for ignored requests');
      const log = h.agent.recentLog().join('\n');
      assert.match(log, /ignored: replayed-id/);
      assert.match(log, /ignored: stale-timestamp/);
      assert.match(log, /ignored: bad-signature/);
      assert.match(log, /ignored: malformed/);
      assert.equal(udp.stats.ignored, 5);

      const s2 = h.agent.nextSession();
      await send(build(udp.port, now + 1, 1005));
      await s2;
      assert.equal(h.acs.sessions, sessions + 1);
    } finally {
      await close();
    }
  });

  test('STUN: the mapped address becomes UDPConnectionRequestAddress, is actively notified, and the ACS can reach the CPE through it', async () => {
    const stun = new StunServer({ port: 0, host: '127.0.0.1' });
    const { port: stunPort } = await stun.listen();
    // Publish a made-up local address so that the STUN mapping is a visible change.
    const udp = new UdpConnectionRequestEndpoint({ listenHost: '127.0.0.1', advertisedHost: '192.0.2.7' });
    await udp.start();
    const h = await startHarness({ runtime: { udp } });
    try {
      assert.equal(h.agent.model.getValue(`${MS}UDPConnectionRequestAddress`), `192.0.2.7:${udp.port}`);
      await h.session([
        {
          method: 'SetParameterAttributes',
          parameterList: [{ name: `${MS}UDPConnectionRequestAddress`, notificationChange: true, notification: 2, accessListChange: false, accessList: [] }],
        },
        {
          method: 'SetParameterValues',
          parameterList: [
            { name: `${MS}STUNEnable`, value: 'true', type: 'boolean' },
            { name: `${MS}STUNServerAddress`, value: '127.0.0.1', type: 'string' },
            { name: `${MS}STUNServerPort`, value: String(stunPort), type: 'unsignedInt' },
            { name: `${MS}STUNUsername`, value: '000B82A1B2C3', type: 'string' },
          ],
          parameterKey: 'stun-on',
        },
      ]);
      // The mapping arrives, the address changes, active notification starts a session.
      const notified = await h.agent.nextSession();
      assert.equal(notified.ok, true);
      const inform = h.acs.informs.at(-1)!;
      assert.ok(eventsOf(inform).includes('4 VALUE CHANGE'), eventsOf(inform).join());
      assert.equal(inform.parameterList.find((p) => p.name === `${MS}UDPConnectionRequestAddress`)?.value, `127.0.0.1:${udp.port}`);
      const binding = stun.getBinding('000B82A1B2C3');
      assert.ok(binding?.connectionRequestBinding);
      assert.equal(binding.port, udp.port);
      // The ACS sends a UDP Connection Request from its STUN socket to the binding.
      const s = h.agent.nextSession();
      const ts = Math.floor(Date.now() / 1000) + 5;
      await stun.send(buildUdpConnectionRequest({ host: binding.address, port: binding.port, ts, id: 77, username: 'cruser', cnonce: 'abc', password: 'crpass' }), binding.port, binding.address);
      await s;
      assert.ok(eventsOf(h.acs.informs.at(-1)!).includes('6 CONNECTION REQUEST'));
      await h.validateAll();
    } finally {
      await h.close();
      await udp.close();
      await stun.close();
    }
  });
});
