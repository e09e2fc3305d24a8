/**
 * The provisioning service's session path as a boot storm runs it (through the hook contract of
 * test/provisioning/harness.ts, real SQLite stores, the CPE's data model): how many RPCs and store
 * calls a never-seen device costs, and that cached presets never go stale.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeFixture, MS, type Fixture } from '../../test/provisioning/fixtures.ts';
import { HarnessEngine, SimDevice } from '../../test/provisioning/harness.ts';
import type { PresetSpec, WebhookEvent } from '../store/provisioning/types.ts';
import { deviceKeys } from './service.ts';

const INTERVAL = `${MS}PeriodicInformInterval`;
const URL_NAME = `${MS}URL`;

/** A preset of plain values (no templates) for every device. */
function plainPreset(interval: number): PresetSpec {
  return {
    name: 'plain',
    enabled: true,
    weight: 0,
    precondition: {},
    triggers: ['always'],
    desired: { parameters: [{ name: INTERVAL, value: interval, type: 'unsignedInt' }, { name: `${MS}PeriodicInformEnable`, value: true, type: 'boolean' }] },
  };
}

/** Counts calls of some methods of the provisioning store (patched on the instance). */
function countCalls(target: object, names: string[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const t = target as Record<string, (...args: unknown[]) => unknown>;
  for (const n of names) {
    const original = t[n].bind(target);
    t[n] = (...args: unknown[]) => {
      counts[n]++;
      return original(...args);
    };
  }
  return counts;
}

describe('deviceKeys', () => {
  it('lists the device id, the serial number and its MAC form, most specific first, without repeats', () => {
    assert.deepEqual(deviceKeys('000B82-HT502-000b82aabbcc', '000b82aabbcc'), ['000B82-HT502-000b82aabbcc', '000b82aabbcc', '000B82AABBCC']);
    assert.deepEqual(deviceKeys('D', '000B82AABBCC'), ['D', '000B82AABBCC']);
    assert.deepEqual(deviceKeys('SN1', 'SN1'), ['SN1']);
    assert.deepEqual(deviceKeys('000B82AABBCC', '00:0b:82:aa:bb:cc'), ['000B82AABBCC', '00:0b:82:aa:bb:cc']);
  });
});

describe('provisioning service: a never-seen device', () => {
  let f: Fixture;
  let engine: HarnessEngine;
  let counts: Record<string, number>;
  beforeEach(() => {
    f = makeFixture();
    // patched before the service's view first reaches them
    counts = countCalls(f.p, ['getVariables', 'listVariables', 'deleteDeviceMemory', 'putDeviceMemory', 'listPresets', 'rolloutsOfDevice', 'findBootstrap', 'getSetting']);
    engine = new HarnessEngine(f.store, f.service);
  });
  afterEach(() => f.close());

  it('is written without a first read, then verified: 2 RPCs; no variables read without templates, no memory to delete', async () => {
    await f.service.provisioning.createPreset(plainPreset(600));
    const d = new SimDevice('GXP2140', '000B82100001');
    const first = await engine.session(d);
    assert.deepEqual(first.rpcs, ['SetParameterValues', 'GetParameterValues']);
    assert.equal(d.value(INTERVAL), '600');
    assert.deepEqual(first.faults, []);
    assert.equal(counts.getVariables + counts.listVariables, 0, 'no template: the variables are not read');
    assert.equal(counts.deleteDeviceMemory, 0, 'a new device has no memory to forget');
    assert.deepEqual((await engine.session(d)).rpcs, [], 'second session: nothing to do');
  });

  it('a device pre-registered through the API but never in a session is written without a first read too', async () => {
    await f.service.provisioning.createPreset(plainPreset(600));
    const d = new SimDevice('GXP2140', '000B82100050');
    await f.store.createDevice({ manufacturer: 'Grandstream', oui: d.model.profile.oui, productClass: d.productClass, serialNumber: d.serial });
    assert.deepEqual((await engine.session(d)).rpcs, ['SetParameterValues', 'GetParameterValues']);
    // a device seen before and reset to factory state is read first (what it holds is not known)
    d.model.setLocal(INTERVAL, '300');
    d.pending.push({ eventCode: '0 BOOTSTRAP', commandKey: '' });
    assert.deepEqual((await engine.session(d)).rpcs, ['GetParameterValues', 'SetParameterValues', 'GetParameterValues']);
  });

  it('reads presets, rollouts and bootstrap records once for many sessions', async () => {
    await f.service.provisioning.createPreset(plainPreset(600));
    for (let i = 0; i < 4; i++) await engine.session(new SimDevice('GXP2140', `000B8210001${i}`));
    assert.equal(counts.listPresets, 1);
    assert.equal(counts.rolloutsOfDevice, 0, 'no rollout exists: never asked per device');
    assert.equal(counts.findBootstrap, 0, 'no bootstrap record exists: never asked per device');
  });

  it('reads the unknown-device policy once for many new devices, and applies a change at the next one', async () => {
    await f.service.provisioning.createPreset(plainPreset(600));
    for (let i = 0; i < 3; i++) await engine.session(new SimDevice('GXP2140', `000B8210006${i}`));
    assert.equal(counts.getSetting, 1);
    await f.service.setUnknownDevicePolicy('refuse');
    const refused = new SimDevice('GXP2140', '000B82100070');
    assert.deepEqual((await engine.session(refused)).rpcs, []);
    assert.equal(await f.store.getDevice(refused.id), null, 'refused: not registered');
    // changed through the store (another instance): the store tells the service's cache
    await f.p.putSetting('unknownDevicePolicy', 'accept');
    await engine.session(refused);
    assert.notEqual(await f.store.getDevice(refused.id), null);
  });

  it('writes the values it set to the device memory in one store call', async () => {
    await f.service.provisioning.createPreset(plainPreset(600));
    const d = new SimDevice('GXP2140', '000B82100080');
    await engine.session(d);
    assert.equal(counts.putDeviceMemory, 1);
    const memory = await f.p.getDeviceMemory(d.id);
    assert.deepEqual(memory.map((e) => [e.kind, e.name]), [['applied', `${MS}PeriodicInformEnable`], ['applied', INTERVAL]]);
  });

  it('emits events to listeners and subscribed webhooks, and builds none for no one', async () => {
    const seen: string[] = [];
    // what reaches the webhook dispatcher: nothing while no one listens and no webhook subscribes
    const published: (WebhookEvent | 'ping')[] = [];
    const publish = f.service.webhooks.publish.bind(f.service.webhooks);
    f.service.webhooks.publish = (event, data, only) => (published.push(event), publish(event, data, only));
    // the first event reads the (empty) webhook list; from then on the list is known
    await engine.session(new SimDevice('GXP2140', '000B82100089'));
    published.length = 0;
    const d = new SimDevice('GXP2140', '000B82100090');
    await engine.session(d);
    assert.deepEqual([...published], [], 'no event built once the (empty) webhook list is known');
    assert.deepEqual((await f.p.listDeliveries({})).items, [], 'no webhook, no delivery');
    f.service.events.on('device.registered', (data) => seen.push(String(data.deviceId)));
    await f.service.provisioning.createWebhook({ name: 'w', url: 'http://127.0.0.1:9/hook', secret: 's'.repeat(16), events: ['device.bootstrapped'], enabled: true });
    const e = new SimDevice('GXP2140', '000B82100091');
    await engine.session(e);
    assert.deepEqual(seen, [e.id]);
    assert.ok(published.includes('device.bootstrapped') && published.includes('device.registered'), published.join(','));
    const deliveries = (await f.p.listDeliveries({})).items;
    assert.deepEqual(deliveries.map((x) => x.event), ['device.bootstrapped']);
    assert.equal((JSON.parse(deliveries[0].body) as { data: { deviceId: string } }).data.deviceId, e.id);
  });

  it('applies an edited preset at the next session, whether edited through the service or the store', async () => {
    const preset = await f.service.provisioning.createPreset(plainPreset(600));
    const d = new SimDevice('GXP2140', '000B82100020');
    await engine.session(d);
    await f.service.provisioning.updatePreset(preset.id, plainPreset(900));
    assert.deepEqual((await engine.session(d)).rpcs, ['SetParameterValues', 'GetParameterValues']);
    assert.equal(d.value(INTERVAL), '900');
    // another ACS instance on the same database: the store tells the service's cache
    await f.p.updatePreset(preset.id, plainPreset(1200));
    await engine.session(d);
    assert.equal(d.value(INTERVAL), '1200');
  });

  it('uses a bootstrap record created after the cache said there was none', async () => {
    const d = new SimDevice('GXP2140', '000B82100030');
    await engine.session(new SimDevice('GXP2140', '000B82100031'));
    await f.p.putBootstrap({ key: d.serial, acsUrl: 'http://elsewhere.example:7547/' });
    await engine.session(d);
    assert.equal(d.value(URL_NAME), 'http://elsewhere.example:7547/');
  });

  it('tells the engine the device row exists (no checkpoint needed before a planned task)', async () => {
    const d = new SimDevice('GXP2140', '000B82100040');
    const view = {
      sessionId: 's1',
      deviceId: d.id,
      identity: { manufacturer: 'Grandstream', oui: d.model.profile.oui, productClass: d.productClass, serialNumber: d.serial },
      events: [{ eventCode: '0 BOOTSTRAP', commandKey: '' }],
      informParameters: [],
      cwmpVersion: '1.2',
      remoteAddress: null,
      parameters: async () => [],
      recordFault: () => {},
    };
    assert.deepEqual(await f.service.informReceived(view), { action: 'accept', deviceStored: true });
    assert.notEqual(await f.store.getDevice(d.id), null);
  });
});
