/**
 * Provisioning sessions through the hook contract (harness.ts): real task handlers, real SQLite
 * stores, simulated devices on the CPE's data model.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readVariablesCsv } from '../../src/api-provisioning/routes/variables.ts';
import { validatePresetInput } from '../../src/provisioning/schemas.ts';
import type { PresetSpec } from '../../src/store/provisioning/types.ts';
import { ACCOUNTS_CSV, MS, VOICE_PRESET, VP, makeFixture, type Fixture } from './fixtures.ts';
import { HarnessEngine, SimDevice } from './harness.ts';

async function loadVoice(f: Fixture): Promise<void> {
  await f.p.createPreset(validatePresetInput(VOICE_PRESET) as PresetSpec);
  await f.p.putVariables(readVariablesCsv(ACCOUNTS_CSV, undefined).sets, 'merge');
}

function spvCount(log: { rpcs: string[] }): number {
  return log.rpcs.filter((r) => r === 'SetParameterValues').length;
}

describe('provisioning sessions (hook contract)', () => {
  let f: Fixture;
  let engine: HarnessEngine;
  before(async () => {
    f = makeFixture();
    engine = new HarnessEngine(f.store, f.service);
    await loadVoice(f);
  });
  after(() => f.close());

  it('a new GXP2140 gets its three accounts, attributes and interval in its first session, and nothing in the second', async () => {
    const d = new SimDevice('GXP2140', '000B82002140');
    const first = await engine.session(d);
    assert.equal(spvCount(first), 1, `one batched SetParameterValues: ${first.rpcs.join(',')}`);
    assert.equal(first.rpcs.filter((r) => r === 'GetParameterValues').length, 2, 'one read, one verification');
    assert.deepEqual(first.faults, []);
    for (const [n, user] of [[1, '2140001'], [2, '2140002'], [3, '2140003']] as const) {
      assert.equal(d.value(`${VP}${n}.Line.1.SIP.AuthUserName`), user);
      assert.equal(d.value(`${VP}${n}.Line.1.DirectoryNumber`), user);
      assert.equal(d.value(`${VP}${n}.Line.1.SIP.URI`), `${user}@sip.example.net`);
      assert.equal(d.value(`${VP}${n}.Line.1.Enable`), 'Enabled');
      assert.equal(d.model.getParameterAttributes([`${VP}${n}.Line.1.Enable`])[0].notification, 2);
    }
    assert.equal(d.value(`${VP}1.Line.1.SIP.AuthPassword`), 'pw-a');
    assert.equal(d.value(`${VP}4.Line.1.SIP.AuthUserName`), '', 'the fourth account is not in the preset');
    assert.equal(d.value(`${MS}PeriodicInformInterval`), '600');
    assert.equal(d.model.getParameterAttributes([`${MS}PeriodicInformInterval`])[0].notification, 1);
    const second = await engine.session(d);
    assert.deepEqual(second.rpcs, [], 'second session: nothing to do');
    const third = await engine.session(d, ['1 BOOT']);
    assert.equal(spvCount(third), 0);
  });

  it('a new HT502 gets its two accounts; the third (no CSV value) is left alone and reported', async () => {
    const d = new SimDevice('HT502', '000B82000502');
    const first = await engine.session(d);
    assert.equal(spvCount(first), 1);
    assert.equal(d.value(`${VP}1.Line.1.SIP.AuthUserName`), '5020001');
    assert.equal(d.value(`${VP}2.Line.1.SIP.AuthUserName`), '5020002');
    assert.equal(d.model.listInstances(VP).length, 2, 'no AddObject for the unresolved account');
    assert.equal(d.value(`${MS}PeriodicInformInterval`), '600');
    assert.deepEqual((await engine.session(d)).rpcs, []);
    const report = (await f.service.dryRun(d.id))!;
    assert.deepEqual(report.changes.set, []);
    assert.ok(report.skipped.some((s) => s.reason === 'a key value is unresolved'));
    assert.ok(report.issues.some((i) => i.includes('var.sip3_user')));
  });

  it('changing a variable changes only that value at the next session', async () => {
    const d = new SimDevice('GXP2140', '000B82002140');
    // a second GXP with the same MAC would be the same device: use another one
    const other = new SimDevice('GXP2140', '000B82002141');
    await f.p.putVariables([{ key: '000B82002141', variables: { sip1_user: '9001', sip1_password: 'p1', sip2_user: '9002', sip2_password: 'p2', sip3_user: '9003', sip3_password: 'p3' } }], 'merge');
    await engine.session(other);
    await f.p.putVariables([{ key: '000B82002141', variables: { sip2_password: 'changed' } }], 'merge');
    const dry = (await f.service.dryRun(other.id))!;
    assert.deepEqual(dry.changes.set.map((c) => [c.name, c.to]), [[`${VP}2.Line.1.SIP.AuthPassword`, '[secret]']]);
    const next = await engine.session(other);
    assert.deepEqual(next.rpcs, ['SetParameterValues'], 'a secret is not verified (it cannot be read back)');
    assert.equal(other.value(`${VP}2.Line.1.SIP.AuthPassword`), 'changed');
    assert.equal(other.value(`${VP}1.Line.1.SIP.AuthPassword`), 'p1');
    assert.ok(d);
  });

  it('a refused value gives one fault record, not one per session, until the preset changes', async () => {
    const d = new SimDevice('HT502', '000B82000777');
    d.refuse.set(`${MS}PeriodicInformInterval`, { code: 9007, message: 'Invalid parameter value: out of range' });
    const first = await engine.session(d);
    const faults = async () => (await f.store.listFaults({ deviceId: d.id })).faults;
    assert.equal((await faults()).length, 1);
    assert.equal(d.value(`${MS}PeriodicInformEnable`), 'true', 'the other values were applied');
    assert.equal(spvCount(first), 2);
    for (let i = 0; i < 3; i++) assert.equal(spvCount(await engine.session(d)), 0);
    assert.equal((await faults()).length, 1);
    const memory = await f.p.getDeviceMemory(d.id, ['refused']);
    assert.deepEqual(memory.map((m) => [m.name, m.detail?.faultCode]), [[`${MS}PeriodicInformInterval`, 9007]]);
    // after an edit of the preset it is tried again (refused again: one more fault)
    const preset = (await f.p.listPresets())[0];
    await f.p.updatePreset(preset.id, { ...preset, description: 'edited' });
    assert.equal(spvCount(await engine.session(d)), 1);
    assert.equal((await faults()).length, 2);
    assert.equal(spvCount(await engine.session(d)), 0);
  });

  it('records reported value changes with a history per parameter', async () => {
    const d = new SimDevice('GXP2140', '000B82002999');
    await f.p.putVariables([{ key: '000B82002999', variables: { sip1_user: 'h1', sip1_password: 'x', sip2_user: 'h2', sip2_password: 'x', sip3_user: 'h3', sip3_password: 'x' } }], 'merge');
    await engine.session(d);
    const events: unknown[] = [];
    f.service.events.on('parameter.changed', (e) => events.push(e));
    // the user disables account 2 on the phone: Enable has active notification
    d.model.setLocal(`${VP}2.Line.1.Enable`, 'Disabled');
    d.pending.push({ eventCode: '4 VALUE CHANGE', commandKey: '' });
    const s = await engine.session(d);
    const history = await f.p.listHistory({ deviceId: d.id, name: `${VP}2.Line.1.Enable` });
    assert.equal(history.items.length, 1);
    assert.deepEqual([history.items[0].value, history.items[0].previous, history.items[0].source], ['Disabled', 'Enabled', 'value-change']);
    assert.equal(events.length, 1);
    // the preset wants it enabled: the planner puts it back in the same session
    assert.deepEqual(s.rpcs, ['SetParameterValues', 'GetParameterValues']);
    assert.equal(d.value(`${VP}2.Line.1.Enable`), 'Enabled');
  });
});

describe('zero-touch bootstrap records and the unknown-device policy', () => {
  let f: Fixture;
  let engine: HarnessEngine;
  before(() => {
    f = makeFixture({ acsUrl: 'http://acs.local:7547/' });
    engine = new HarnessEngine(f.store, f.service);
  });
  after(() => f.close());

  it('applies the record at the first Inform: credentials (stored for CPE auth), tags, variables, and moves the device to another ACS', async () => {
    await f.p.createPreset(
      validatePresetInput({
        name: 'greeting',
        desired: { parameters: [{ name: `${VP}1.Line.1.SIP.X_GRANDSTREAM_DisplayName`, value: '{{ display | default("none") }}' }] },
      }) as PresetSpec,
    );
    await f.p.putBootstrap({
      key: '000B82ABCDEF',
      acsUrl: 'https://tenant-acs.example.net/cwmp',
      acsUsername: 'dev-abcdef',
      acsPassword: 'acs-secret',
      connectionRequestUsername: 'cr-abcdef',
      connectionRequestPassword: 'cr-secret',
      periodicInformInterval: 900,
      variables: { display: 'Front desk' },
      tags: ['tenant-a'],
    });
    const d = new SimDevice('GXP2140', '000B82ABCDEF');
    const s = await engine.session(d);
    assert.equal(spvCount(s), 1);
    assert.equal(d.value(`${MS}URL`), 'https://tenant-acs.example.net/cwmp');
    assert.equal(d.value(`${MS}Username`), 'dev-abcdef');
    assert.equal(d.value(`${MS}Password`), 'acs-secret');
    assert.equal(d.value(`${MS}ConnectionRequestPassword`), 'cr-secret');
    assert.equal(d.value(`${MS}PeriodicInformInterval`), '900');
    assert.equal(d.value(`${VP}1.Line.1.SIP.X_GRANDSTREAM_DisplayName`), 'Front desk', 'the record\'s variables feed templates');
    const device = (await f.store.getDevice(d.id))!;
    assert.deepEqual(device.tags, ['tenant-a']);
    assert.deepEqual(device.credentials, { acsUsername: 'dev-abcdef', acsPassword: 'acs-secret', connectionRequestUsername: 'cr-abcdef', connectionRequestPassword: 'cr-secret' });
    const record = (await f.p.getBootstrap('000B82ABCDEF'))!;
    assert.equal(record.appliedDeviceId, d.id);
    assert.deepEqual((await engine.session(d)).rpcs, [], 'applied once');
    // a factory reset (0 BOOTSTRAP) loses the credentials: the record is applied again
    d.pending.push({ eventCode: '0 BOOTSTRAP', commandKey: '' });
    d.model.setLocal(`${MS}Password`, 'factory');
    assert.equal(spvCount(await engine.session(d)), 1);
    assert.equal(d.value(`${MS}Password`), 'acs-secret');
  });

  it('refuses unknown devices under "refuse", registers them tagged under "quarantine" and pushes nothing', async () => {
    await f.service.setUnknownDevicePolicy('refuse');
    const stranger = new SimDevice('HT502', '000B82FFFF01');
    const refused = await engine.session(stranger);
    assert.equal(refused.refused, true);
    assert.equal(await f.store.getDevice(stranger.id), null);
    // a device with a record is not unknown
    await f.p.putBootstrap({ key: '000B82FFFF02', tags: ['known'] });
    const known = new SimDevice('HT502', '000B82FFFF02');
    assert.equal((await engine.session(known)).refused, false);
    assert.deepEqual((await f.store.getDevice(known.id))!.tags, ['known']);

    await f.service.setUnknownDevicePolicy('quarantine');
    const q = new SimDevice('GXP2140', '000B82FFFF03');
    const s = await engine.session(q);
    assert.equal(s.refused, false);
    assert.deepEqual(s.rpcs, [], 'nothing pushed to a quarantined device');
    assert.deepEqual((await f.store.getDevice(q.id))!.tags, ['quarantine']);
    // releasing it (removing the tag) lets the presets apply
    await f.store.updateDevice(q.id, { tags: [] });
    assert.equal(spvCount(await engine.session(q)), 1);
  });
});
