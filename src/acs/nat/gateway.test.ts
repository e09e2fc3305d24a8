import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import { makeDeviceId, type Store } from '../../store/types.ts';
import { devicesBehind, gatewayOf, parseGatewayIdentity } from './gateway.ts';

async function device(store: Store, oui: string, productClass: string, serial: string, params: Record<string, string> = {}): Promise<string> {
  const id = makeDeviceId({ oui, productClass, serialNumber: serial });
  const at = new Date().toISOString();
  await store.commitSession({
    at,
    device: { id, manufacturer: 'm', oui, productClass, serialNumber: serial, lastContact: at },
    parameters: Object.entries(params).map(([name, value]) => ({ name, value, type: 'string', writable: false })),
  });
  return id;
}

const gwInfo = (oui: string, pc: string, sn: string): Record<string, string> => ({
  'Device.GatewayInfo.ManufacturerOUI': oui,
  'Device.GatewayInfo.ProductClass': pc,
  'Device.GatewayInfo.SerialNumber': sn,
});

describe('gateway association (TR-111 Part 1)', () => {
  let store: Store;
  let phone1: string;
  let phone2: string;
  let phone3: string;
  let lonely: string;
  let managedGw: string;
  before(async () => {
    store = openSqliteStore({ file: ':memory:' });
    // A managed gateway that also reports one ManageableDevice the ACS has never seen.
    managedGw = await device(store, '00D09E', 'HGW-Pro', 'GW0001', {
      'Device.ManagementServer.ManageableDevice.1.ManufacturerOUI': '000B82',
      'Device.ManagementServer.ManageableDevice.1.ProductClass': 'GXP2170',
      'Device.ManagementServer.ManageableDevice.1.SerialNumber': '000B82AAAAAA',
      'Device.ManagementServer.ManageableDevice.2.ManufacturerOUI': '000B82',
      'Device.ManagementServer.ManageableDevice.2.ProductClass': 'GXP2140',
      'Device.ManagementServer.ManageableDevice.2.SerialNumber': '000B82000002',
    });
    phone1 = await device(store, '000B82', 'GXP2170', '000B82000001', gwInfo('00D09E', 'HGW-Pro', 'GW0001'));
    phone2 = await device(store, '000B82', 'GXP2140', '000B82000002', gwInfo('00D09E', 'HGW-Pro', 'GW0001'));
    // Behind a gateway the ACS does not manage (a product class with a dash).
    phone3 = await device(store, '000B82', 'GXP2170', '000B82000003', gwInfo('ABCDEF', 'Home-Box', 'HB77'));
    // Same OUI and serial as the managed gateway but another product class: not behind it.
    await device(store, '000B82', 'GXP2170', '000B82000009', gwInfo('00D09E', 'Other', 'GW0001'));
    lonely = await device(store, '000B82', 'GXP2170', '000B82000004', gwInfo('', '', ''));
  });
  after(() => store.close());

  test('gatewayOf: the reported gateway, managed or not; null without one; undefined for an unknown device', async () => {
    const l1 = await gatewayOf(store, phone1);
    assert.deepEqual(l1 && { ...l1.gateway, lastContact: l1.gateway.lastContact !== null }, {
      oui: '00D09E',
      productClass: 'HGW-Pro',
      serialNumber: 'GW0001',
      id: managedGw,
      managed: true,
      lastContact: true,
    });
    const l3 = await gatewayOf(store, phone3);
    assert.deepEqual(l3?.gateway, { oui: 'ABCDEF', productClass: 'Home-Box', serialNumber: 'HB77', id: 'ABCDEF-Home-Box-HB77', managed: false, lastContact: null });
    assert.equal(await gatewayOf(store, lonely), null, 'empty ManufacturerOUI = no gateway');
    assert.equal(await gatewayOf(store, managedGw), null);
    assert.equal(await gatewayOf(store, 'nope'), undefined);
  });

  test('devicesBehind a managed gateway: GatewayInfo reports and its ManageableDevice table, merged', async () => {
    const r = await devicesBehind(store, managedGw);
    assert.ok(r);
    assert.deepEqual(r.gateway, { oui: '00D09E', productClass: 'HGW-Pro', serialNumber: 'GW0001', id: managedGw, managed: true });
    assert.deepEqual(
      r.devices.map((d) => [d.id, d.managed, d.sources]),
      [
        [phone2, true, ['gateway-info', 'manageable-device']],
        [phone1, true, ['gateway-info']],
        ['000B82-GXP2170-000B82AAAAAA', false, ['manageable-device']],
      ],
    );
    assert.equal(r.truncated, false);
  });

  test('devicesBehind an unmanaged gateway, by id; unknown gateway is null; limit truncates', async () => {
    const r = await devicesBehind(store, 'ABCDEF-Home-Box-HB77');
    assert.deepEqual(r?.gateway, { oui: 'ABCDEF', productClass: 'Home-Box', serialNumber: 'HB77', id: 'ABCDEF-Home-Box-HB77', managed: false });
    assert.deepEqual(r?.devices.map((d) => d.id), [phone3]);
    assert.equal(await devicesBehind(store, 'ABCDEF-Home-Box-NOPE'), null);
    assert.deepEqual((await devicesBehind(store, phone1))?.devices, [], 'a managed phone has nobody behind it');
    const cut = await devicesBehind(store, managedGw, 1);
    assert.equal(cut?.devices.length, 1);
    assert.equal(cut?.truncated, true);
  });

  test('parseGatewayIdentity', () => {
    assert.deepEqual(parseGatewayIdentity('00d09e-HGW-Pro-GW0001'), { oui: '00D09E', productClass: 'HGW-Pro', serialNumber: 'GW0001' });
    assert.deepEqual(parseGatewayIdentity('ABCDEF-IGD-123'), { oui: 'ABCDEF', productClass: 'IGD', serialNumber: '123' });
    for (const bad of ['', 'ABCDEF', 'ABCDEF-x', 'XYZ123-A-B', 'ABCDEF-a b-1', 'ABCDEF--1']) assert.equal(parseGatewayIdentity(bad), null, bad);
  });
});
