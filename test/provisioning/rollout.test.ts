/**
 * Firmware distribution with simulated devices that really download from the ACS's public file
 * route and verify the signed image: a staged rollout over 50 devices where 5 reject the image,
 * RequestDownload, preset firmware and a vendor configuration file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { buildFirmwareImage } from '../../src/cpe/firmware.ts';
import { validatePresetInput } from '../../src/provisioning/schemas.ts';
import type { PresetSpec, RolloutDevice } from '../../src/store/provisioning/types.ts';
import { setupApi, type ApiHarness } from './api-harness.ts';
import { HarnessEngine, SimDevice } from './harness.ts';

const FW = encodeURIComponent('1 Firmware Upgrade Image');
const DEVICES = 50;
const BAD = 5;

async function upload(h: ApiHarness, name: string, body: Buffer, query: string): Promise<string> {
  const res = await h.call('POST', `/api/files?name=${name}&${query}`, { payload: body, headers: { 'content-type': 'application/octet-stream' } });
  assert.equal(res.statusCode, 201, res.body);
  return res.json().id as string;
}

describe('firmware rollout over 50 simulated devices, 5 of which reject the image', () => {
  let h: ApiHarness;
  let engine: HarnessEngine;
  const devices: SimDevice[] = [];
  before(async () => {
    h = await setupApi({ listen: true });
    engine = new HarnessEngine(h.store, h.service);
    for (let i = 0; i < DEVICES; i++) devices.push(new SimDevice('HT502', `000B8210${String(i).padStart(4, '0')}`));
    // register them (first Inform)
    for (const d of devices) await engine.session(d);
  });
  after(() => h.close());

  it('passes the canary, stops at the failure threshold, and leaves every device in the right state', async () => {
    const image = buildFirmwareImage({ model: 'HT502', version: '1.0.10.0' });
    const fileId = await upload(h, 'ht502fw.bin', image, `fileType=${FW}`);
    const file = (await h.call('GET', `/api/files/${fileId}`)).json();
    assert.deepEqual([file.productClass, file.version], ['HT502', '1.0.10.0'], 'read from the image header');
    const finished: unknown[] = [];
    h.service.events.on('rollout.finished', (e) => finished.push(e));

    const created = await h.call('POST', '/api/rollouts', {
      body: {
        name: 'HT502 1.0.10.0',
        fileId,
        target: { productClass: ['HT502'], softwareVersion: { lt: '1.0.10.0' } },
        stages: [{ name: 'canary', count: 5 }, { name: 'all', percent: 100 }],
        maxConcurrent: 10,
        failureThreshold: { count: 3 },
        kick: false,
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json().rollout.id as string;
    assert.deepEqual(created.json().stages.map((s: { size: number }) => s.size), [5, 45]);

    // Five devices outside the canary trust another signing key: the image is bad for them.
    const stageOf = new Map<string, number>();
    for (const d of (await h.call('GET', `/api/rollouts/${id}/devices?limit=100`)).json().devices as RolloutDevice[]) stageOf.set(d.deviceId, d.stage);
    const other = generateKeyPairSync('ed25519').publicKey;
    const bad = devices.filter((d) => stageOf.get(d.id) === 1).slice(0, BAD);
    for (const d of bad) d.firmwareKey = other;
    const badIds = new Set(bad.map((d) => d.id));

    let maxDownloading = 0;
    for (let round = 0; round < 12; round++) {
      for (const d of devices) await engine.session(d);
      await Promise.all(devices.map((d) => d.settle()));
      const p = (await h.call('GET', `/api/rollouts/${id}`)).json();
      maxDownloading = Math.max(maxDownloading, p.counts.downloading);
      await h.service.rollouts.tick();
      if (p.rollout.state !== 'running' && p.counts.downloading === 0) break;
    }

    const progress = (await h.call('GET', `/api/rollouts/${id}`)).json();
    assert.equal(progress.rollout.state, 'stopped');
    assert.match(progress.rollout.reason, /failure threshold reached: \d devices failed \(threshold 3\)/);
    assert.ok(maxDownloading <= 10, `at most 10 downloads at once (saw ${maxDownloading})`);
    const all = (await h.call('GET', `/api/rollouts/${id}/devices?limit=100`)).json().devices as RolloutDevice[];
    const byState = (s: string) => all.filter((d) => d.state === s);
    // the canary passed
    const canary = all.filter((d) => d.stage === 0);
    assert.equal(canary.length, 5);
    for (const d of canary) assert.equal(d.state, 'succeeded', `canary ${d.deviceId}: ${d.detail}`);
    // failures are exactly bad devices, each with the device's reason
    assert.ok(byState('failed').length >= 3 && byState('failed').length <= BAD, `${byState('failed').length} failed`);
    for (const d of byState('failed')) {
      assert.ok(badIds.has(d.deviceId), `${d.deviceId} failed but its image was good: ${d.detail}`);
      assert.equal(d.faultCode, 9019);
      assert.match(d.detail ?? '', /TransferComplete fault 9019/);
    }
    // successes run the new version; the rest never got the image
    for (const d of byState('succeeded')) {
      assert.ok(!badIds.has(d.deviceId));
      assert.equal(devices.find((x) => x.id === d.deviceId)!.softwareVersion(), '1.0.10.0');
    }
    assert.ok(byState('skipped').length > 0, 'the stop left devices that never started');
    for (const d of byState('skipped')) {
      assert.match(d.detail ?? '', /rollout stopped: failure threshold reached/);
      assert.equal(devices.find((x) => x.id === d.deviceId)!.softwareVersion(), '1.0.3.10');
    }
    assert.equal(byState('pending').length + byState('downloading').length, 0);
    assert.equal(all.length, DEVICES);
    for (const d of bad.filter((b) => !byState('failed').some((f) => f.deviceId === b.id))) {
      assert.equal(all.find((x) => x.deviceId === d.id)!.state, 'skipped', 'unreached bad devices were skipped');
    }
    assert.equal(finished.length, 1);
    assert.equal((finished[0] as { state: string }).state, 'stopped');
    // failures are recorded once each as faults of their device
    for (const d of byState('failed')) {
      const faults = (await h.store.listFaults({ deviceId: d.deviceId })).faults;
      assert.deepEqual(faults.map((f) => f.code), ['9019']);
    }
  });
});

describe('device-initiated and preset-driven downloads', () => {
  let h: ApiHarness;
  let engine: HarnessEngine;
  before(async () => {
    h = await setupApi({ listen: true });
    engine = new HarnessEngine(h.store, h.service);
  });
  after(() => h.close());

  it('answers RequestDownload with the newest firmware for the product class, in the same session', async () => {
    await upload(h, 'old.bin', buildFirmwareImage({ model: 'GXP2140', version: '1.0.1.30' }), `fileType=${FW}`);
    const newest = await upload(h, 'new.bin', buildFirmwareImage({ model: 'GXP2140', version: '1.0.11.3' }), `fileType=${FW}`);
    await upload(h, 'other.bin', buildFirmwareImage({ model: 'HT502', version: '9.9.9.9' }), `fileType=${FW}`);
    const d = new SimDevice('GXP2140', '000B82300001');
    await engine.session(d);
    d.requestDownload = '1 Firmware Upgrade Image';
    const s = await engine.session(d);
    assert.deepEqual(s.rpcs, ['Download']);
    const task = s.tasks.find((t) => t.type === 'download')!;
    assert.match(String(task.payload.url), new RegExp(`/files/${newest}/new.bin$`));
    await d.settle();
    await engine.session(d);
    assert.equal(d.softwareVersion(), '1.0.11.3');
    // asking again when up to date: nothing
    d.requestDownload = '1 Firmware Upgrade Image';
    assert.deepEqual((await engine.session(d)).rpcs, []);
  });

  it('installs the firmware version a preset asks for once, and does not loop on a refused image', async () => {
    const fileId = await upload(h, 'gxp.bin', buildFirmwareImage({ model: 'GXP2140', version: '1.0.9.1' }), `fileType=${FW}&productClass=GXP2140&version=1.0.9.1`);
    await h.service.provisioning.createPreset(validatePresetInput({ name: 'fw', precondition: { productClass: ['GXP2140'] }, desired: { firmware: { version: '1.0.9.1' } } }) as PresetSpec);
    const good = new SimDevice('GXP2140', '000B82300002');
    await engine.session(good);
    await good.settle();
    await engine.session(good);
    assert.equal(good.softwareVersion(), '1.0.9.1');
    assert.deepEqual((await engine.session(good)).rpcs, []);
    const picky = new SimDevice('GXP2140', '000B82300003', generateKeyPairSync('ed25519').publicKey);
    const first = await engine.session(picky);
    assert.deepEqual(first.rpcs, ['Download']);
    await picky.settle();
    await engine.session(picky);
    for (let i = 0; i < 3; i++) assert.deepEqual((await engine.session(picky)).rpcs, [], 'a refused image is not sent again');
    const memory = await h.service.provisioning.getDeviceMemory(picky.id, ['firmware']);
    assert.deepEqual(memory.map((m) => [m.name, m.detail?.state, m.detail?.faultCode]), [[fileId, 'refused', 9019]]);
    const dry = (await h.call('GET', `/api/devices/${picky.id}/provisioning/dry-run`)).json();
    assert.deepEqual(dry.changes.downloads, []);
    // forgetting the refusal tries again
    await h.call('DELETE', `/api/devices/${picky.id}/provisioning/refusals`);
    assert.deepEqual((await engine.session(picky)).rpcs, ['Download']);
    await picky.settle();
  });

  it('downloads a vendor configuration file once per content, and again when it changes', async () => {
    const cfg = (name: string) => `<?xml version="1.0" encoding="UTF-8"?><gs_provision version="1"><config version="1"><P270>${name}</P270></config></gs_provision>`;
    const CFG = encodeURIComponent('3 Vendor Configuration File');
    const one = await upload(h, 'cfg.xml', Buffer.from(cfg('Lobby')), `fileType=${CFG}&authScheme=basic&username=dl&password=pw`);
    const created = await h.call('POST', '/api/presets', { body: { name: 'cfg', precondition: { productClass: ['HT502'] }, desired: { configFile: { fileId: one } } } });
    assert.equal(created.statusCode, 201, created.body);
    const d = new SimDevice('HT502', '000B82300004');
    const s = await engine.session(d);
    assert.deepEqual(s.rpcs, ['Download']);
    assert.deepEqual([s.tasks[0].payload.username, s.tasks[0].payload.password], ['dl', 'pw']);
    await d.settle();
    await engine.session(d);
    assert.equal(d.value('Device.Services.VoiceService.1.VoiceProfile.1.Name'), 'Lobby');
    assert.deepEqual((await engine.session(d)).rpcs, []);
    const two = await upload(h, 'cfg2.xml', Buffer.from(cfg('Kitchen')), `fileType=${CFG}`);
    await h.call('PUT', `/api/presets/${created.json().id}`, { body: { name: 'cfg', precondition: { productClass: ['HT502'] }, desired: { configFile: { fileId: two } } } });
    assert.deepEqual((await engine.session(d)).rpcs, ['Download']);
    await d.settle();
    await engine.session(d);
    assert.equal(d.value('Device.Services.VoiceService.1.VoiceProfile.1.Name'), 'Kitchen');
  });
});
