import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { validateTaskPayload } from '../tasks/schema.ts';
import { openSqliteStore } from '../../store/sqlite/index.ts';
import type { Device, StoredParameter, Store } from '../../store/types.ts';
import type { AcsEventMap, AcsControl } from '../app.ts';
import { NatProvisioner, STUN_PARAMETER_KEY, stunNeed, stunProvisioningTasks, type StunProvisioningSettings } from './provisioning.ts';
import { deriveStunPassword } from './stun-service.ts';

const ID = '000B82-GXP2170-000B82000001';
const SETTINGS: StunProvisioningSettings = {
  mode: 'nat',
  serverAddress: 'acs.example.net',
  serverPort: 3478,
  minKeepAliveSeconds: 20,
  maxKeepAliveSeconds: 60,
  passwordFor: (u) => deriveStunPassword('s3cret', u),
};

function device(over: Partial<Device> = {}): Device {
  return {
    id: ID,
    manufacturer: 'Grandstream',
    oui: '000B82',
    productClass: 'GXP2170',
    serialNumber: '000B82000001',
    firstContact: null,
    lastContact: null,
    lastBoot: null,
    lastBootstrap: null,
    sourceAddress: '203.0.113.9',
    softwareVersion: null,
    hardwareVersion: null,
    connectionRequestUrl: 'http://192.168.1.20:7547/cr',
    udpConnectionRequestAddress: null,
    cwmpVersion: null,
    tags: [],
    credentials: { acsUsername: null, acsPassword: null, connectionRequestUsername: null, connectionRequestPassword: null },
    ...over,
  };
}

function param(name: string, value: string | null, notification: number | null = null): StoredParameter {
  return { name, value, type: 'string', writable: true, notification, accessList: null, object: false, updatedAt: '2025-01-01T00:00:00.000Z' };
}

const MS = 'Device.ManagementServer.';
const provisioned = (): StoredParameter[] => [
  param(`${MS}STUNEnable`, 'true'),
  param(`${MS}STUNServerAddress`, 'acs.example.net'),
  param(`${MS}STUNServerPort`, '3478'),
  param(`${MS}STUNUsername`, ID),
  param(`${MS}STUNMinimumKeepAlivePeriod`, '20'),
  param(`${MS}STUNMaximumKeepAlivePeriod`, '60'),
  param(`${MS}UDPConnectionRequestAddress`, '203.0.113.9:40001', 2),
  param(`${MS}NATDetected`, 'true'),
  param('Device.GatewayInfo.ManufacturerOUI', '00D09E'),
];

describe('stunNeed', () => {
  test('nat mode: NATDetected, or a ConnectionRequestURL host that is not the session source', () => {
    assert.equal(stunNeed('nat', device(), []).needed, true);
    assert.match(stunNeed('nat', device(), []).reason, /192\.168\.1\.20 is not the session source 203\.0\.113\.9/);
    assert.equal(stunNeed('nat', device({ sourceAddress: '192.168.1.20:51000' }), []).needed, false);
    assert.equal(stunNeed('nat', device({ sourceAddress: '[2001:db8::1]:5', connectionRequestUrl: 'http://[2001:db8::1]:7547/' }), []).needed, false);
    assert.equal(stunNeed('nat', device({ sourceAddress: '192.168.1.20' }), [param(`${MS}NATDetected`, 'true')]).needed, true);
    assert.equal(stunNeed('nat', device({ connectionRequestUrl: null }), []).needed, false);
    assert.equal(stunNeed('nat', device({ connectionRequestUrl: 'http://phone.lan:7547/' }), []).needed, false, 'a name cannot be compared');
    assert.equal(stunNeed('all', device({ sourceAddress: '192.168.1.20' }), []).needed, true);
    assert.equal(stunNeed('off', device(), []).needed, false);
  });
});

describe('stunProvisioningTasks', () => {
  test('a fresh device gets SPV (with the derived password), SPA active notification, GPV of what is unknown; all valid tasks', () => {
    const tasks = stunProvisioningTasks(device(), [], SETTINGS);
    for (const t of tasks) validateTaskPayload(t);
    assert.deepEqual(tasks.map((t) => t.type), ['setParameterValues', 'setParameterAttributes', 'getParameterValues']);
    const spv = tasks[0] as unknown as { parameters: { name: string; value: unknown; type: string }[]; parameterKey: string };
    assert.equal(spv.parameterKey, STUN_PARAMETER_KEY);
    assert.deepEqual(Object.fromEntries(spv.parameters.map((p) => [p.name.slice(MS.length), p.value])), {
      STUNEnable: true,
      STUNServerAddress: 'acs.example.net',
      STUNServerPort: 3478,
      STUNUsername: ID,
      STUNMinimumKeepAlivePeriod: 20,
      STUNMaximumKeepAlivePeriod: 60,
      STUNPassword: deriveStunPassword('s3cret', ID),
    });
    assert.deepEqual(tasks[1], { type: 'setParameterAttributes', parameters: [{ name: `${MS}UDPConnectionRequestAddress`, notification: 2 }] });
    assert.deepEqual(tasks[2], { type: 'getParameterValues', names: [`${MS}NATDetected`, `${MS}UDPConnectionRequestAddress`, 'Device.GatewayInfo.'] });
  });

  test('an already provisioned device gets nothing; one changed value gets only it (plus the password)', () => {
    assert.deepEqual(stunProvisioningTasks(device(), provisioned(), SETTINGS), []);
    const moved = stunProvisioningTasks(device(), provisioned(), { ...SETTINGS, serverPort: 3479 });
    assert.deepEqual(
      moved.map((t) => (t.parameters as { name: string }[] | undefined)?.map((p) => p.name.slice(MS.length))),
      [['STUNServerPort', 'STUNPassword']],
    );
    const noSecret = stunProvisioningTasks(device(), provisioned(), { ...SETTINGS, serverPort: 3479, passwordFor: undefined });
    assert.deepEqual((noSecret[0].parameters as { name: string }[]).map((p) => p.name.slice(MS.length)), ['STUNServerPort']);
  });

  test('an IGD-rooted device is written under InternetGatewayDevice and not asked for GatewayInfo', () => {
    const tasks = stunProvisioningTasks(device(), [param('InternetGatewayDevice.ManagementServer.URL', 'http://acs/')], SETTINGS);
    for (const t of tasks) validateTaskPayload(t);
    assert.ok((tasks[0].parameters as { name: string }[]).every((p) => p.name.startsWith('InternetGatewayDevice.ManagementServer.')));
    assert.deepEqual(tasks[2].names, ['InternetGatewayDevice.ManagementServer.NATDetected', 'InternetGatewayDevice.ManagementServer.UDPConnectionRequestAddress']);
  });
});

describe('NatProvisioner', () => {
  async function setup(mode: StunProvisioningSettings['mode'], source: string): Promise<{ store: Store; events: EventEmitter<AcsEventMap>; provisioner: NatProvisioner }> {
    const store = openSqliteStore({ file: ':memory:' });
    const at = new Date().toISOString();
    await store.commitSession({
      at,
      device: { id: ID, manufacturer: 'Grandstream', oui: '000B82', productClass: 'GXP2170', serialNumber: '000B82000001', lastContact: at, sourceAddress: source, connectionRequestUrl: 'http://192.168.1.20:7547/cr' },
      parameters: [{ name: `${MS}ConnectionRequestURL`, value: 'http://192.168.1.20:7547/cr', type: 'string' }],
    });
    const events = new EventEmitter<AcsEventMap>();
    const acs: Pick<AcsControl, 'events' | 'enqueueTask'> = {
      events,
      enqueueTask: async (deviceId, payload) => {
        const p = validateTaskPayload(payload);
        return { task: await store.createTask({ deviceId, payload: p as never }) };
      },
    };
    return { store, events, provisioner: new NatProvisioner(acs, store, { ...SETTINGS, mode }) };
  }

  test('after a completed session of a NATed device: tasks queued once, not again while pending', async () => {
    const { store, events, provisioner } = await setup('nat', '203.0.113.9');
    try {
      provisioner.start();
      events.emit('session', { deviceId: ID, phase: 'ended', remoteAddress: '203.0.113.9', outcome: 'completed' });
      let tasks = (await store.listTasks({ deviceId: ID })).tasks;
      for (let i = 0; i < 500 && tasks.length < 3; i++) {
        await new Promise((r) => setTimeout(r, 10));
        tasks = (await store.listTasks({ deviceId: ID })).tasks;
      }
      assert.deepEqual(tasks.map((t) => t.type), ['setParameterValues', 'setParameterAttributes', 'getParameterValues']);
      assert.deepEqual(await provisioner.provision(ID), [], 'nothing queued twice');
      events.emit('session', { deviceId: ID, phase: 'ended', remoteAddress: '203.0.113.9', outcome: 'timeout' });
      provisioner.stop();
      assert.equal(events.listenerCount('session'), 0);
      assert.equal((await store.listTasks({ deviceId: ID })).tasks.length, 3);
    } finally {
      await store.close();
    }
  });

  test('a directly reachable device in nat mode, an unknown device, and mode off: nothing', async () => {
    const { store, events, provisioner } = await setup('nat', '192.168.1.20');
    try {
      assert.deepEqual(await provisioner.provision(ID), []);
      assert.deepEqual(await provisioner.provision('unknown'), []);
      const off = new NatProvisioner({ events, enqueueTask: async () => assert.fail('must not queue') }, store, { ...SETTINGS, mode: 'off' });
      off.start();
      assert.equal(events.listenerCount('session'), 0, 'mode off does not even listen');
    } finally {
      await store.close();
    }
  });

  test('a failing enqueue is logged, not thrown', async () => {
    const { store, events } = await setup('all', '203.0.113.9');
    const warnings: string[] = [];
    const p = new NatProvisioner(
      {
        events,
        enqueueTask: async () => {
          throw new Error('store down');
        },
      },
      store,
      { ...SETTINGS, mode: 'all' },
      { info: () => undefined, warn: (o) => warnings.push((o as { err: string }).err) },
    );
    try {
      assert.deepEqual(await p.provision(ID), []);
      assert.deepEqual(warnings, ['store down']);
    } finally {
      await store.close();
    }
  });
});
