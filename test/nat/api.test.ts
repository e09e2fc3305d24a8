/**
 * The NAT part through the real REST API (buildApi: auth, roles, response schemas), with the API
 * test harness's fake ACS core: the connection request answer of
 * `POST /api/devices/{id}/tasks?connectionRequest=true` carries the path, and the gateway, behind
 * and nat routes answer with the right roles.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { FakeAcs, setup, type Harness } from '../api/helpers.ts';
import type { ConnectionRequestResult, ConnectionRequestTarget, ConnectionRequestTransport } from '../../src/acs/connection-request.ts';
import { AcsStunService, PathChoosingConnectionRequester, UdpConnectionRequestTransport, targetFromDevice } from '../../src/acs/nat/index.ts';
import { makeDeviceId, type Store } from '../../src/store/types.ts';
import { StunClient } from '../../src/net/stun-client.ts';

const unreachableHttp: ConnectionRequestTransport = {
  name: 'http',
  applies: (t: ConnectionRequestTarget) => t.connectionRequestUrl !== null,
  send: async (): Promise<ConnectionRequestResult> => ({ status: 'unreachable', transport: 'http', detail: 'connect ENETUNREACH 192.168.50.2:7547' }),
};

/** The fake core, with a real STUN service and the path-choosing requester (HTTP fails, UDP goes out). */
class NatFakeAcs extends FakeAcs {
  nat: { stun: AcsStunService | null } = { stun: null };
  requester: PathChoosingConnectionRequester | null = null;
  override async connectionRequest(deviceId: string): Promise<ConnectionRequestResult> {
    const device = await this.store.getDevice(deviceId);
    if (!device || !this.requester) return super.connectionRequest(deviceId);
    const result = await this.requester.request(targetFromDevice(device));
    // The fake device "wakes" and runs its tasks, as FakeAcs does on a connection request.
    if (result.status === 'ok') await super.connectionRequest(deviceId);
    return result;
  }
}

async function addDevice(store: Store, serial: string, params: Record<string, string>): Promise<string> {
  const identity = { oui: '000B82', productClass: 'GXP2170', serialNumber: serial };
  const id = makeDeviceId(identity);
  const at = new Date().toISOString();
  await store.commitSession({
    at,
    device: { id, manufacturer: 'Grandstream', ...identity, lastContact: at, connectionRequestUrl: 'http://192.168.50.2:7547/cr' },
    parameters: Object.entries(params).map(([name, value]) => ({ name, value, type: 'string' })),
  });
  await store.updateDevice(id, { credentials: { connectionRequestUsername: 'cr', connectionRequestPassword: 'crpw' } });
  return id;
}

describe('NAT through the REST API', () => {
  let h: Harness;
  let acs: NatFakeAcs;
  let stun: AcsStunService;
  let udp: UdpConnectionRequestTransport;
  let cpe: Socket;
  let phone: string;
  const datagrams: Buffer[] = [];
  before(async () => {
    h = await setup({}, (store) => {
      acs = new NatFakeAcs(store);
      return acs;
    });
    stun = await AcsStunService.start({ host: '127.0.0.1', port: 0 });
    acs.nat.stun = stun;
    udp = new UdpConnectionRequestTransport({ sender: stun, bindings: stun, retransmitIntervalMs: 10 });
    acs.requester = new PathChoosingConnectionRequester({ transports: [unreachableHttp, udp] });
    phone = await addDevice(h.store, '000B82000051', {
      'Device.GatewayInfo.ManufacturerOUI': '00D09E',
      'Device.GatewayInfo.ProductClass': 'HGW',
      'Device.GatewayInfo.SerialNumber': 'GW51',
    });
    cpe = createSocket('udp4');
    cpe.on('message', (m) => datagrams.push(m));
    await new Promise<void>((r) => cpe.bind(0, '127.0.0.1', r));
    const client = new StunClient({ server: { host: '127.0.0.1', port: stun.address().port }, username: phone, socket: cpe, retransmit: { initialRtoMs: 50, maxRtoMs: 400, maxRequests: 6, finalWaitMs: 1000 } });
    await client.start({ keepAlive: false });
    assert.ok((await client.bindingRequest()).ok);
    await client.stop();
    for (let i = 0; i < 500 && !stun.record(phone); i++) await new Promise((r) => setTimeout(r, 10));
    datagrams.length = 0; // the STUN answer; only connection requests count from here
  });
  after(async () => {
    udp.close();
    await stun.close();
    cpe.close();
    await h.close();
  });

  test('POST /tasks?connectionRequest=true: the answer says the UDP path woke the device, with every attempt', async () => {
    const r = await h.call('POST', `/api/devices/${encodeURIComponent(phone)}/tasks?connectionRequest=true&wait=10000`, {
      token: h.tokens.operator,
      body: { type: 'getParameterValues', names: ['Device.DeviceInfo.'] },
    });
    assert.equal(r.statusCode, 200, r.body);
    const body = r.json();
    assert.equal(body.task.status, 'done');
    assert.equal(body.connectionRequest.status, 'ok');
    assert.equal(body.connectionRequest.path, 'udp');
    assert.equal(body.connectionRequest.transport, 'udp');
    assert.deepEqual(
      body.connectionRequest.attempts.map((a: { transport: string; status: string }) => [a.transport, a.status]),
      [
        ['http', 'unreachable'],
        ['udp', 'ok'],
      ],
    );
    assert.equal(typeof body.connectionRequest.elapsedMs, 'number');
    for (let i = 0; i < 500 && datagrams.length < 3; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(datagrams.length, 3, 'three copies reached the CPE socket');
  });

  test('GET gateway / behind / nat with a viewer token; without a token 401', async () => {
    const gw = await h.call('GET', `/api/devices/${encodeURIComponent(phone)}/gateway`, { token: h.tokens.viewer });
    assert.equal(gw.statusCode, 200);
    assert.equal(gw.json().gateway.id, '00D09E-HGW-GW51');
    const behind = await h.call('GET', '/api/devices/00D09E-HGW-GW51/behind', { token: h.tokens.viewer });
    assert.equal(behind.statusCode, 200);
    assert.deepEqual(behind.json().devices.map((d: { id: string }) => d.id), [phone]);
    const nat = await h.call('GET', `/api/devices/${encodeURIComponent(phone)}/nat`, { token: h.tokens.viewer });
    assert.equal(nat.statusCode, 200);
    assert.deepEqual({ status: nat.json().natStatus, port: nat.json().binding.port }, { status: 'behind-nat', port: cpe.address().port });
    assert.equal((await h.call('GET', `/api/devices/${encodeURIComponent(phone)}/nat`, { token: null })).statusCode, 401);
    const unknown = await h.call('GET', '/api/devices/000B82-X-NOPE/gateway', { token: h.tokens.viewer });
    assert.deepEqual([unknown.statusCode, unknown.json().code], [404, 'DEVICE_NOT_FOUND']);
  });

  test('the OpenAPI document lists the NAT routes under the nat tag', async () => {
    const doc = (await h.call('GET', '/api/openapi.json', { token: null })).json() as { paths: Record<string, Record<string, { tags?: string[] }>> };
    for (const p of ['/api/devices/{id}/gateway', '/api/devices/{id}/behind', '/api/devices/{id}/nat']) {
      assert.deepEqual(doc.paths[p]?.get?.tags, ['nat'], p);
    }
  });
});
