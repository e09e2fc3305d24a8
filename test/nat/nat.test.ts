/**
 * TR-111 end to end with REAL network isolation (issue #6).
 *
 * Three network namespaces built by test/helpers/netns.ts for this run only:
 *   wan (the ACS: CWMP 7547, REST 7557, STUN 3478) -- router (masquerade, random ports) -- lan (the phone)
 * The phone's ConnectionRequestURL holds its private LAN address, which the WAN cannot route to,
 * exactly as on the Internet. What must happen:
 * 1. the ACS sees the NAT (URL host != session source) and provisions STUN on the phone; its STUN
 *    server then records the phone's public binding (router address, mapped port) with a verified
 *    MESSAGE-INTEGRITY (derived password);
 * 2. the phone reports its gateway (GatewayInfo, set from the simulated DHCP option 125) and the
 *    ACS links them both ways (GET /devices/{id}/gateway, GET /devices/{gw}/behind);
 * 3. a task queued with connectionRequest=true: the HTTP request fails to reach the phone, the UDP
 *    one (3 signed copies from the STUN socket) wakes it within a second, its session runs the
 *    task, and the API answer says path = udp;
 * 4. replayed, stale, wrongly signed and wrong-user datagrams that pass the NAT are ignored by the
 *    phone, logged, and start no session.
 * Needs root and iproute2 + iptables (or nft); otherwise skipped with the reason.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildUdpConnectionRequest, randomCnonce } from '../../src/cwmp/udp-connection-request.ts';
import { createNatTopology, listNamespaces, netnsSupport, type NatTopology, type NsProcess } from '../helpers/netns.ts';
import { until } from '../helpers/until.ts';

const support = netnsSupport();
const skip = support.ok ? false : `skipped: ${support.reason}`;
if (!support.ok) console.log(`# NAT end-to-end test ${skip}`);

const ACS_FIXTURE = fileURLToPath(new URL('./fixtures/acs-node.ts', import.meta.url));
const CPE_FIXTURE = fileURLToPath(new URL('./fixtures/cpe-node.ts', import.meta.url));
const SERIAL = '000B82A1B2C3';
const GATEWAY = '00D09E-HomeGW-GW0042';
const STUN_SECRET = 'netns-stun-secret';
const CR = { username: 'phone-cr', password: 'phone-cr-secret' };
const START_MS = 30_000;
const PROVISION_MS = 30_000;
const WAKE_LIMIT_MS = 1000;
const QUIET_MS = 1500;

interface LogLine {
  level: string;
  message: string;
  at: number;
}
interface AcsEvent {
  type: 'session' | 'task';
  deviceId?: string;
  phase?: 'started' | 'ended';
  id?: string;
  status?: string;
  at: number;
}
interface Binding {
  address: string;
  port: number;
  integrity: boolean;
  connectionRequestBinding: boolean;
}

describe('TR-111 through a real NAT (network namespaces)', { skip }, () => {
  let topo: NatTopology;
  let acs: NsProcess;
  let cpe: NsProcess;
  let deviceId: string;
  let udpPort: number;
  let nextId = 1;

  const rpc = async <T = Record<string, unknown>>(cmd: Record<string, unknown>): Promise<T> => {
    const id = nextId++;
    acs.send({ ...cmd, id });
    const r = await acs.waitFor<T & { error?: string }>((m) => (m as { reply?: number }).reply === id, 15_000);
    if (r.error) throw new Error(r.error);
    return r;
  };
  const api = (method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> =>
    rpc({ cmd: 'api', method, path, body });
  const logs = (): LogLine[] => cpe.messages.flatMap((m) => ((m as { log?: LogLine }).log ? [(m as { log: LogLine }).log] : []));
  const acsEvents = (): AcsEvent[] => acs.messages.flatMap((m) => ((m as { event?: AcsEvent }).event ? [(m as { event: AcsEvent }).event] : []));
  const sessionStarts = (after: number): AcsEvent[] => acsEvents().filter((e) => e.type === 'session' && e.phase === 'started' && e.deviceId === deviceId && e.at >= after);
  const dev = (): string => encodeURIComponent(deviceId);

  before(async () => {
    topo = await createNatTopology();
    acs = topo.spawnNode(topo.wan.name, [ACS_FIXTURE, topo.wan.address, STUN_SECRET]);
    const ready = await acs.waitFor<{ cwmpUrl: string; stunPort: number }>((m) => (m as { ready?: boolean }).ready === true, START_MS);
    assert.equal(ready.stunPort, 3478);
    cpe = topo.spawnNode(topo.lan.name, [CPE_FIXTURE, ready.cwmpUrl, topo.lan.address, SERIAL, GATEWAY]);
    const cpeReady = await cpe.waitFor<{ deviceId: string; crUrl: string; udpPort: number }>((m) => (m as { ready?: boolean }).ready === true, START_MS);
    deviceId = cpeReady.deviceId;
    udpPort = cpeReady.udpPort;
    assert.match(cpeReady.crUrl, new RegExp(`^http://${topo.lan.address.replace(/\./g, '\\.')}:7547/`), 'the URL holds the private address');
  });

  after(async () => {
    const names = topo ? [topo.wan.name, topo.router.name, topo.lan.name] : [];
    await topo?.destroy();
    assert.deepEqual(listNamespaces().filter((n) => names.includes(n)), [], 'namespaces removed');
  });

  test('the ACS sees the NAT, provisions STUN, and records the public binding with verified integrity', async () => {
    const binding = await until('a STUN binding for the phone', PROVISION_MS, async () => (await rpc<{ binding: Binding | null }>({ cmd: 'binding', deviceId })).binding);
    assert.equal(binding.address, topo.router.wanAddress, 'the binding is the router\'s public address');
    assert.notEqual(binding.port, udpPort, 'masquerade mapped the port: the ACS must use the mapped one');
    assert.equal(binding.integrity, true, 'MESSAGE-INTEGRITY with the derived STUN password');
    assert.equal(binding.connectionRequestBinding, true);
    const nat = await api('GET', `/devices/${dev()}/nat`);
    assert.equal(nat.status, 200);
    assert.equal(nat.body.natStatus, 'behind-nat');
    // The phone learned the same mapping and reports NATDetected.
    const state = await until('the phone to publish its mapping', PROVISION_MS, async () => {
      cpe.send({ cmd: 'state' });
      const s = await cpe.waitFor<{ state: { udpAddress: string; natDetected: string; stunUsername: string } }>((m) => (m as { state?: unknown }).state !== undefined, 5000);
      cpe.messages.splice(cpe.messages.indexOf(s), 1);
      return s.state.udpAddress === `${binding.address}:${binding.port}` ? s.state : null;
    });
    assert.equal(state.natDetected, 'true');
    assert.equal(state.stunUsername, deviceId, 'STUNUsername provisioned as the device id');
  });

  test('the phone reports its gateway and the ACS links them both ways', async () => {
    const gw = await until('GatewayInfo at the ACS', PROVISION_MS, async () => {
      const r = await api('GET', `/devices/${dev()}/gateway`);
      return r.status === 200 && r.body.gateway ? (r.body.gateway as { id: string; managed: boolean }) : null;
    });
    assert.deepEqual(gw, { oui: '00D09E', productClass: 'HomeGW', serialNumber: 'GW0042', id: GATEWAY, managed: false, lastContact: null });
    const behind = await api('GET', `/devices/${GATEWAY}/behind`);
    assert.equal(behind.status, 200);
    assert.deepEqual((behind.body.devices as { id: string }[]).map((d) => d.id), [deviceId]);
  });

  test('with periodic informs off, a connection request: HTTP fails, UDP wakes the phone within a second, its session runs the task', async () => {
    // Periodic informs (every 2 s, used for provisioning) would blur the measurement: turn them off.
    const quiet = await api('POST', `/devices/${dev()}/tasks?wait=15000`, { type: 'setParameterValues', parameters: [{ name: 'Device.ManagementServer.PeriodicInformEnable', value: false }] });
    assert.equal((quiet.body.task as { status: string }).status, 'done', JSON.stringify(quiet.body));
    await until('the phone to be idle', 10_000, async () => {
      cpe.send({ cmd: 'state' });
      const s = await cpe.waitFor<{ state: { inSession: boolean; periodic: string } }>((m) => (m as { state?: unknown }).state !== undefined, 5000);
      cpe.messages.splice(cpe.messages.indexOf(s), 1);
      return !s.state.inSession && s.state.periodic === 'false';
    });
    await new Promise((r) => setTimeout(r, 300));

    const t0 = Date.now();
    const r = await api('POST', `/devices/${dev()}/tasks?connectionRequest=true&wait=10000`, { type: 'getParameterValues', names: ['Device.DeviceInfo.SoftwareVersion'] });
    const task = r.body.task as { status: string; result: unknown };
    const cr = r.body.connectionRequest as { status: string; path: string; confirmed: boolean; attempts: { transport: string; status: string; detail: string; confirmed?: boolean }[] };
    assert.equal(task.status, 'done', JSON.stringify(r.body));
    assert.equal(cr.status, 'ok');
    assert.equal(cr.path, 'udp', 'the API answer names the path that woke the device');
    assert.equal(cr.attempts[0].transport, 'http');
    assert.equal(cr.attempts[0].status, 'unreachable', 'HTTP cannot reach the private address');
    assert.match(cr.attempts[0].detail, /ENETUNREACH|EHOSTUNREACH|within/);
    assert.deepEqual([cr.attempts[1].transport, cr.attempts[1].status, cr.attempts[1].confirmed], ['udp', 'ok', true]);
    assert.equal(cr.confirmed, true);

    const started = sessionStarts(t0);
    assert.ok(started.length >= 1, 'a session started after the request');
    const wakeMs = started[0].at - t0;
    assert.ok(wakeMs < WAKE_LIMIT_MS, `woke in ${wakeMs} ms`);
    console.log(`# UDP wake-up through the NAT: session started ${wakeMs} ms after the connection request (HTTP attempt ${cr.attempts[0].detail})`);
    // The copies follow the first datagram 100 and 200 ms later: the task may be done before them.
    const replays = (): LogLine[] => logs().filter((l) => l.at >= t0 && /UDP connection request from .* ignored: replayed-id/.test(l.message));
    await until('the two copies to arrive', 5000, async () => replays().length >= 2);
    const lines = logs().filter((l) => l.at >= t0);
    assert.equal(lines.filter((l) => l.message === 'connection request (udp)').length, 1, 'one request accepted');
    assert.equal(replays().length, 2, 'the two copies were ignored as replays');
    assert.ok(replays().every((l) => l.message.includes(`from ${topo.wan.address}:3478 `)), 'they came from the STUN server address and port');
    assert.ok(!lines.some((l) => l.message === 'connection request (http)'));
    const session = await cpe.waitFor<{ session: { events: string[]; at: number } }>((m) => ((m as { session?: { at: number } }).session?.at ?? 0) >= t0, 10_000);
    assert.ok(session.session.events.includes('6 CONNECTION REQUEST'), JSON.stringify(session.session.events));
  });

  test('replayed, stale, wrongly signed and wrong-user datagrams pass the NAT but are ignored, logged, and start no session', async () => {
    const binding = (await rpc<{ binding: Binding }>({ cmd: 'binding', deviceId })).binding;
    const now = Math.floor(Date.now() / 1000);
    const make = (o: { ts: number; id: number; username?: string; password?: string }): string =>
      buildUdpConnectionRequest({ host: binding.address, port: binding.port, ts: o.ts, id: o.id, username: o.username ?? CR.username, cnonce: randomCnonce(), password: o.password ?? CR.password });
    const raw = (text: string): Promise<unknown> => rpc({ cmd: 'rawUdp', text, address: binding.address, port: binding.port });

    // A valid request (it wakes the phone: the path works for datagrams we craft too).
    const valid = make({ ts: now, id: 900_001 });
    const t1 = Date.now();
    await raw(valid);
    await until('the session of the valid datagram', 5000, async () => acsEvents().some((e) => e.type === 'session' && e.phase === 'ended' && e.deviceId === deviceId && e.at >= t1));

    const t2 = Date.now();
    await raw(valid); // replay
    await raw(make({ ts: now - 5, id: 900_002 })); // older than the last accepted
    await raw(make({ ts: now - 3 * 24 * 3600, id: 900_003 })); // far outside the clock skew
    await raw(make({ ts: now + 1, id: 900_004, password: 'not-the-password' }));
    await raw(make({ ts: now + 1, id: 900_005, username: 'intruder' }));
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const ignored = logs()
      .filter((l) => l.at >= t2)
      .map((l) => /ignored: (\S+)/.exec(l.message)?.[1])
      .filter((x): x is string => x !== undefined);
    assert.deepEqual(ignored, ['replayed-id', 'stale-timestamp', 'stale-timestamp', 'bad-signature', 'wrong-username']);
    assert.deepEqual(sessionStarts(t2), [], 'no session was started by them');
    assert.ok(!logs().some((l) => l.at >= t2 && l.message === 'connection request (udp)'));
  });
});
