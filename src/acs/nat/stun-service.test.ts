import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StunClient, type RetransmitOptions } from '../../net/stun-client.ts';
import { parseUdpConnectionRequest, verifyUdpConnectionRequest } from '../../cwmp/udp-connection-request.ts';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import type { Store } from '../../store/types.ts';
import { AcsStunService, deriveStunPassword, storeUsernameResolver } from './stun-service.ts';
import { MemoryNatBindingTable, openSqliteNatBindingTable, type NatBindingRecord } from './binding-table.ts';
import { UdpConnectionRequestTransport } from './udp-transport.ts';

// Short, but tolerant of a loaded machine (tests share 2 cores with others).
const FAST: RetransmitOptions = { initialRtoMs: 50, maxRtoMs: 400, maxRequests: 6, finalWaitMs: 1000 };
const SECRET = 'stun-test-secret';

// The npm `stun` package (RFC 5389, CommonJS, untyped): a STUN client we did not write.
interface NpmStunMessage {
  getXorAddress(): { address: string; port: number; family: string };
  addUsername(u: string): unknown;
  addMessageIntegrity(key: string): boolean;
  addFingerprint(): boolean;
}
interface NpmStun {
  request(url: string, options: { socket?: Socket; message?: NpmStunMessage; timeout?: number; retries?: number }): Promise<NpmStunMessage>;
  createMessage(type: number): NpmStunMessage;
  validateMessageIntegrity(message: NpmStunMessage, key: string): boolean;
  constants: { STUN_BINDING_REQUEST: number };
}
const npmStun = createRequire(import.meta.url)('stun') as NpmStun;

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function addDevice(store: Store, serial: string, params: { name: string; value: string }[] = []): Promise<string> {
  const id = `000B82-GXP2170-${serial}`;
  await store.commitSession({
    at: new Date().toISOString(),
    device: { id, manufacturer: 'Grandstream', oui: '000B82', productClass: 'GXP2170', serialNumber: serial, lastContact: new Date().toISOString() },
    parameters: params.map((p) => ({ name: p.name, value: p.value, type: 'string', writable: true })),
  });
  return id;
}

describe('AcsStunService with the store and our STUN client', () => {
  let store: Store;
  let service: AcsStunService;
  const events: { deviceId: string; kind: string }[] = [];
  let devA: string;
  let devB: string;
  before(async () => {
    store = openSqliteStore({ file: ':memory:' });
    devA = await addDevice(store, '000B82000001');
    devB = await addDevice(store, '000B82000002', [{ name: 'Device.ManagementServer.STUNUsername', value: 'phone-b' }]);
    service = await AcsStunService.start({
      host: '127.0.0.1',
      port: 0,
      secret: SECRET,
      resolveUsername: storeUsernameResolver(store),
      onBinding: (r, kind) => events.push({ deviceId: r.deviceId, kind }),
    });
  });
  after(async () => {
    await service.close();
    await store.close();
  });

  const client = (username: string, password: string | undefined, onDatagram?: (m: Buffer) => void): StunClient =>
    new StunClient({ server: { host: '127.0.0.1', port: service.address().port }, username, password, retransmit: FAST, onDatagram });

  test('a device using its id as STUNUsername with the derived password: 401 first, then recorded with integrity', async () => {
    const c = client(devA, deriveStunPassword(SECRET, devA));
    const local = await c.start({ keepAlive: false });
    try {
      const r = await c.bindingRequest();
      assert.ok(r.ok, JSON.stringify(r));
      await waitUntil(() => service.record(devA) !== undefined);
      const rec = service.record(devA);
      assert.deepEqual(
        rec && { address: rec.address, port: rec.port, integrity: rec.integrity, crb: rec.connectionRequestBinding, username: rec.username },
        { address: '127.0.0.1', port: local.port, integrity: true, crb: true, username: devA },
      );
      assert.equal(service.stunPasswordFor(devA), deriveStunPassword(SECRET, devA));
      assert.deepEqual(events.filter((e) => e.deviceId === devA).map((e) => e.kind), ['new']);
      assert.ok(service.binding(devA));
      assert.equal(service.natStatus(devA, `http://10.1.2.3:7547/`), 'behind-nat');
      assert.equal(service.natStatus(devA, `http://127.0.0.1:7547/`), 'direct');
    } finally {
      await c.stop();
    }
  });

  test('a STUNUsername found in the stored parameters maps to its device; refresh and move are told apart', async () => {
    const c1 = client('phone-b', deriveStunPassword(SECRET, 'phone-b'));
    await c1.start({ keepAlive: false });
    assert.ok((await c1.bindingRequest()).ok);
    await waitUntil(() => service.record(devB) !== undefined);
    const firstPort = service.record(devB)?.port;
    assert.ok((await c1.bindingRequest()).ok);
    await c1.stop();
    // The same device from another socket: its NAT binding moved.
    const c2 = client('phone-b', deriveStunPassword(SECRET, 'phone-b'));
    const local2 = await c2.start({ keepAlive: false });
    try {
      assert.ok((await c2.bindingRequest()).ok);
      await waitUntil(() => service.record(devB)?.port === local2.port);
      const rec = service.record(devB);
      assert.notEqual(rec?.port, firstPort);
      assert.deepEqual(events.filter((e) => e.deviceId === devB).map((e) => e.kind), ['new', 'refreshed', 'changed']);
      assert.ok(rec && rec.changedAt >= rec.firstSeenAt);
    } finally {
      await c2.stop();
    }
  });

  test('wrong password or unknown username: answered with an error or ignored, never recorded', async () => {
    const bad = client(devA, 'not-the-password');
    await bad.start({ keepAlive: false });
    const before = service.record(devA);
    try {
      const r = await bad.bindingRequest();
      assert.equal(r.ok, false);
      assert.equal(service.record(devA)?.port, before?.port);
    } finally {
      await bad.stop();
    }
    const stranger = client('nobody', deriveStunPassword(SECRET, 'nobody'));
    await stranger.start({ keepAlive: false });
    try {
      const unknownBefore = service.stats.unknownUsername;
      assert.ok((await stranger.bindingRequest()).ok, 'a valid request is answered');
      await waitUntil(() => service.stats.unknownUsername > unknownBefore);
      assert.equal(service.list().some((r) => r.username === 'nobody'), false);
    } finally {
      await stranger.stop();
    }
  });

  test('the npm `stun` client (RFC 5389) with USERNAME + MESSAGE-INTEGRITY is recorded and validates our answer', async () => {
    const devC = await addDevice(store, '000B82000003');
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const localPort = socket.address().port;
    const key = deriveStunPassword(SECRET, devC);
    const msg = npmStun.createMessage(npmStun.constants.STUN_BINDING_REQUEST);
    msg.addUsername(devC);
    msg.addMessageIntegrity(key);
    msg.addFingerprint();
    const res = await npmStun.request(`127.0.0.1:${service.address().port}`, { socket, message: msg, timeout: 500, retries: 5 });
    assert.deepEqual(res.getXorAddress(), { address: '127.0.0.1', port: localPort, family: 'IPv4' });
    assert.equal(npmStun.validateMessageIntegrity(res, key), true);
    await waitUntil(() => service.record(devC) !== undefined);
    assert.deepEqual(
      (({ port, integrity, connectionRequestBinding }) => ({ port, integrity, connectionRequestBinding }))(service.record(devC) as NatBindingRecord),
      { port: localPort, integrity: true, connectionRequestBinding: false },
    );
    // Without integrity the npm client is refused (the service requires it when it has a secret).
    const anon = createSocket('udp4');
    await new Promise<void>((r) => anon.bind(0, '127.0.0.1', r));
    const plain = npmStun.createMessage(npmStun.constants.STUN_BINDING_REQUEST);
    plain.addUsername(devC);
    await assert.rejects(npmStun.request(`127.0.0.1:${service.address().port}`, { socket: anon, message: plain, timeout: 50, retries: 2 }));
    assert.equal(service.record(devC)?.port, localPort);
    for (const s of [socket, anon]) {
      try {
        s.close();
      } catch {
        // the package closes sockets it was given
      }
    }
  });

  test('a UDP connection request goes out of the STUN socket to the recorded binding and verifies on the CPE', async () => {
    const devD = await addDevice(store, '000B82000004');
    const received: Buffer[] = [];
    const c = client(devD, deriveStunPassword(SECRET, devD), (m) => received.push(m));
    await c.start({ keepAlive: false });
    const udp = new UdpConnectionRequestTransport({ sender: service, bindings: service, retransmitIntervalMs: 10 });
    try {
      assert.ok((await c.bindingRequest()).ok);
      await waitUntil(() => service.record(devD) !== undefined);
      const r = await udp.send({ deviceId: devD, connectionRequestUrl: null, udpConnectionRequestAddress: null, username: 'cr', password: 'crpw' });
      assert.equal(r.status, 'ok');
      assert.equal(r.destinationSource, 'stun-binding');
      await waitUntil(() => received.length === 3);
      assert.deepEqual(verifyUdpConnectionRequest(parseUdpConnectionRequest(received[0]), { username: 'cr', password: 'crpw' }), { ok: true });
      // STUN keeps working on the CPE's socket.
      assert.ok((await c.bindingRequest()).ok);
    } finally {
      udp.close();
      await c.stop();
    }
  });
});

describe('AcsStunService options and persistence', () => {
  test('without a secret, anonymous bindings are recorded (username = device id by default)', async () => {
    const service = await AcsStunService.start({ host: '127.0.0.1', port: 0 });
    const c = new StunClient({ server: { host: '127.0.0.1', port: service.address().port }, username: 'dev-x', retransmit: FAST });
    await c.start({ keepAlive: false });
    try {
      assert.ok((await c.bindingRequest()).ok);
      await waitUntil(() => service.record('dev-x') !== undefined);
      assert.equal(service.record('dev-x')?.integrity, false);
      assert.equal(service.stunPasswordFor('dev-x'), undefined);
    } finally {
      await c.stop();
      await service.close();
    }
  });

  test('bindings survive a restart in the SQLite table; refreshes are written in batches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-nat-'));
    const file = join(dir, 'switchboard.sqlite');
    try {
      const first = await AcsStunService.start({ host: '127.0.0.1', port: 0, table: openSqliteNatBindingTable({ file }), flushIntervalMs: 60_000 });
      const c = new StunClient({ server: { host: '127.0.0.1', port: first.address().port }, username: 'dev-p', retransmit: FAST });
      const local = await c.start({ keepAlive: false });
      assert.ok((await c.bindingRequest()).ok);
      await waitUntil(() => first.record('dev-p') !== undefined);
      const created = first.record('dev-p');
      await new Promise((r) => setTimeout(r, 5));
      assert.ok((await c.bindingRequest()).ok);
      await waitUntil(() => first.record('dev-p')?.refreshedAt !== created?.refreshedAt);
      // The refresh is only in memory until a flush.
      const peek = openSqliteNatBindingTable({ file });
      assert.equal((await peek.load())[0]?.refreshedAt, created?.refreshedAt);
      await first.flush();
      assert.equal((await peek.load())[0]?.refreshedAt, first.record('dev-p')?.refreshedAt);
      await peek.close();
      await c.stop();
      await first.close();

      const second = await AcsStunService.start({ host: '127.0.0.1', port: 0, table: openSqliteNatBindingTable({ file }) });
      try {
        const loaded = second.record('dev-p');
        assert.deepEqual(loaded && { address: loaded.address, port: loaded.port }, { address: '127.0.0.1', port: local.port });
        assert.equal(await second.forget('dev-p'), true);
        assert.equal(second.record('dev-p'), undefined);
      } finally {
        await second.close();
      }
      const third = openSqliteNatBindingTable({ file });
      assert.deepEqual(await third.load(), [], 'forget removed the stored row');
      await third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a busy port rejects start and closes the table', async () => {
    const blocker = createSocket('udp4');
    await new Promise<void>((r) => blocker.bind(0, '127.0.0.1', r));
    let closed = false;
    const table = new MemoryNatBindingTable();
    table.close = async () => {
      closed = true;
    };
    try {
      await assert.rejects(AcsStunService.start({ host: '127.0.0.1', port: blocker.address().port, table }), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
      assert.equal(closed, true);
    } finally {
      blocker.close();
    }
  });

  test('a failing table is logged and counted, the service keeps running', async () => {
    const table = new MemoryNatBindingTable();
    table.save = async () => {
      throw new Error('disk full');
    };
    const warnings: string[] = [];
    const service = await AcsStunService.start({ host: '127.0.0.1', port: 0, table, logger: { info: () => undefined, warn: (_o, m) => warnings.push(m ?? '') } });
    const c = new StunClient({ server: { host: '127.0.0.1', port: service.address().port }, username: 'dev-f', retransmit: FAST });
    await c.start({ keepAlive: false });
    try {
      assert.ok((await c.bindingRequest()).ok);
      await waitUntil(() => service.stats.persistErrors > 0);
      assert.ok(warnings.includes('cannot persist NAT bindings'));
      assert.ok((await c.bindingRequest()).ok, 'still answering');
    } finally {
      await c.stop();
      await service.close();
    }
  });
});

describe('AcsStunService under a flood of unknown usernames', () => {
  test('store lookups in flight are bounded; the rest are dropped and counted', async () => {
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const service = await AcsStunService.start({
      host: '127.0.0.1',
      port: 0,
      resolveUsername: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => release.push(r));
        running--;
        return null;
      },
    });
    const { buildBindingRequest, encodeStunMessage } = await import('../../cwmp/stun.ts');
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    try {
      for (let i = 0; i < 100; i++) s.send(encodeStunMessage(buildBindingRequest({ username: `made-up-${i}` })), service.address().port, '127.0.0.1');
      // Datagrams may be lost on a loaded machine: count what arrived.
      await waitUntil(() => service.stats.requests + 0 >= 100, 3000).catch(() => undefined);
      const arrived = service.stats.requests;
      assert.ok(arrived > 64, `only ${arrived} requests arrived`);
      assert.equal(peak, 64);
      assert.equal(service.stats.lookupsDropped, arrived - 64);
      for (const r of release.splice(0)) r();
      await waitUntil(() => service.stats.unknownUsername === 64);
      assert.deepEqual(service.list(), []);
    } finally {
      for (const r of release.splice(0)) r();
      s.close();
      await service.close();
    }
  });
});
