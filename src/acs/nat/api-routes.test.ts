import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import { makeDeviceId, type Store } from '../../store/types.ts';
import { StunClient } from '../../net/stun-client.ts';
import { registerNatRoutes } from './api-routes.ts';
import { AcsStunService } from './stun-service.ts';

async function device(store: Store, serial: string, params: Record<string, string>, extra: { connectionRequestUrl?: string } = {}): Promise<string> {
  const identity = { oui: '000B82', productClass: 'GXP2170', serialNumber: serial };
  const id = makeDeviceId(identity);
  const at = new Date().toISOString();
  await store.commitSession({
    at,
    device: { id, manufacturer: 'Grandstream', ...identity, lastContact: at, ...extra },
    parameters: Object.entries(params).map(([name, value]) => ({ name, value, type: 'string' })),
  });
  return id;
}

describe('NAT REST routes', () => {
  let store: Store;
  let app: FastifyInstance;
  let stun: AcsStunService | null = null;
  let phone: string;
  before(async () => {
    store = openSqliteStore({ file: ':memory:' });
    phone = await device(
      store,
      '000B82000001',
      { 'Device.GatewayInfo.ManufacturerOUI': 'ABCDEF', 'Device.GatewayInfo.ProductClass': 'Home-Box', 'Device.GatewayInfo.SerialNumber': 'HB1' },
      { connectionRequestUrl: 'http://192.168.7.2:7547/cr' },
    );
    await device(store, '000B82000002', {});
    app = Fastify();
    // The API's own error handler does this for every ApiError.
    app.setErrorHandler((err, _req, reply) => {
      if (err instanceof ApiError) return reply.code(err.statusCode).send(err.toBody());
      const status = (err as { statusCode?: number }).statusCode ?? 500;
      return reply.code(status).send({ code: status === 400 ? 'VALIDATION_FAILED' : 'INTERNAL', message: String(err) });
    });
    await app.register(async (scope) => registerNatRoutes(scope, { store, stun: () => stun }), { prefix: '/api' });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await stun?.close();
    await store.close();
  });

  test('GET /devices/{id}/gateway', async () => {
    const r = await app.inject({ method: 'GET', url: `/api/devices/${encodeURIComponent(phone)}/gateway` });
    assert.equal(r.statusCode, 200);
    const body = r.json();
    assert.deepEqual(body.gateway, { oui: 'ABCDEF', productClass: 'Home-Box', serialNumber: 'HB1', id: 'ABCDEF-Home-Box-HB1', managed: false, lastContact: null });
    const none = await app.inject({ method: 'GET', url: '/api/devices/000B82-GXP2170-000B82000002/gateway' });
    assert.deepEqual(none.json(), { deviceId: '000B82-GXP2170-000B82000002', gateway: null, reportedAt: null });
    const missing = await app.inject({ method: 'GET', url: '/api/devices/nope/gateway' });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().code, 'DEVICE_NOT_FOUND');
  });

  test('GET /devices/{id}/behind for an unmanaged gateway; 404 for an unknown one; limit validated', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/devices/ABCDEF-Home-Box-HB1/behind' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json().devices.map((d: { id: string }) => d.id), [phone]);
    assert.equal(r.json().gateway.managed, false);
    assert.equal((await app.inject({ method: 'GET', url: '/api/devices/ABCDEF-Home-Box-XX/behind' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/api/devices/ABCDEF-Home-Box-HB1/behind?limit=0' })).statusCode, 400);
  });

  test('GET /devices/{id}/nat without and with a STUN binding', async () => {
    const before = await app.inject({ method: 'GET', url: `/api/devices/${encodeURIComponent(phone)}/nat` });
    assert.equal(before.statusCode, 200);
    assert.deepEqual(before.json(), {
      deviceId: phone,
      natStatus: 'unknown',
      connectionRequestUrl: 'http://192.168.7.2:7547/cr',
      udpConnectionRequestAddress: null,
      stunServer: false,
      binding: null,
    });
    stun = await AcsStunService.start({ host: '127.0.0.1', port: 0 });
    const client = new StunClient({ server: { host: '127.0.0.1', port: stun.address().port }, username: phone, retransmit: { initialRtoMs: 50, maxRtoMs: 400, maxRequests: 6, finalWaitMs: 1000 } });
    const local = await client.start({ keepAlive: false });
    try {
      assert.ok((await client.bindingRequest()).ok);
      for (let i = 0; i < 500 && !stun.record(phone); i++) await new Promise((res) => setTimeout(res, 10));
      const after = (await app.inject({ method: 'GET', url: `/api/devices/${encodeURIComponent(phone)}/nat` })).json();
      assert.equal(after.natStatus, 'behind-nat', 'the URL host 192.168.7.2 is not the public 127.0.0.1');
      assert.equal(after.stunServer, true);
      assert.equal(after.binding.address, '127.0.0.1');
      assert.equal(after.binding.port, local.port);
      assert.equal(after.binding.username, phone);
      assert.equal('deviceId' in after.binding, false);
    } finally {
      await client.stop();
    }
  });
});
