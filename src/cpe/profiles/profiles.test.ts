/**
 * Profile conformance suite: every profile file in this folder must pass it, for both roots.
 * A new model is a new JSON file; this suite picks it up automatically.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceModel, listProfiles, loadProfile, validateProfileFile, type ProfileFile, type RootName } from '../../datamodel/model.ts';
import { compareFirmware, compileProfile } from '../../datamodel/profile.ts';
import { ProfileError } from '../../datamodel/errors.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const MIN_FIRMWARE: Record<string, string> = { HT: '1.0.3.10', GXW: '1.0.3.10', GXV: '1.0.6.12', GXP: '1.0.1.26' };
const ROOTS: RootName[] = ['Device', 'InternetGatewayDevice'];

function readFile(model: string): ProfileFile {
  return JSON.parse(readFileSync(join(HERE, `${model}.json`), 'utf8')) as ProfileFile;
}

/** A concrete path for a root-relative pattern: every {i} becomes 1. */
function firstInstance(root: RootName, rel: string): string {
  return `${root}.${rel.replaceAll('{i}', '1')}`;
}

const models = listProfiles();

test('the eleven seed models have profiles', () => {
  for (const m of ['HT502', 'HT503', 'GXW4004', 'GXW4008', 'GXV3140', 'GXP2110', 'GXP2120', 'GXP2130', 'GXP2140', 'GXP2160', 'GXP2170']) {
    assert.ok(models.includes(m), m);
  }
});

for (const model of models) {
  describe(`profile ${model}`, () => {
    const file = readFile(model);

    test('file passes the profile schema and names itself', () => {
      assert.deepEqual(validateProfileFile(file), []);
      assert.equal(file.model, model);
      assert.equal(file.manufacturer, 'Grandstream');
      assert.equal(file.oui, '000B82');
      assert.equal(file.productClass, model);
      const family = Object.keys(MIN_FIRMWARE).find((k) => model.startsWith(k));
      assert.ok(family, 'known family');
      assert.equal(file.minTr069Firmware, MIN_FIRMWARE[family]);
      assert.ok(compareFirmware(file.softwareVersion, file.minTr069Firmware) >= 0);
      assert.ok(file.accountsNote.length > 10, 'account count says where it comes from');
    });

    for (const root of ROOTS) {
      describe(`root ${root}`, () => {
        const profile = loadProfile(model, { root });
        const m = DeviceModel.create(profile, { serialNumber: '000B82123456' });

        test('instantiates with the identity and factory values', () => {
          assert.equal(m.root, root);
          assert.deepEqual(m.deviceId(), { manufacturer: 'Grandstream', oui: '000B82', productClass: model, serialNumber: '000B82123456' });
          assert.equal(m.getValue(`${root}.DeviceInfo.SoftwareVersion`), file.softwareVersion);
          assert.equal(m.getValue(`${root}.DeviceInfo.HardwareVersion`), file.hardwareVersion);
          assert.equal(m.getValue(`${root}.ManagementServer.PeriodicInformInterval`), String(file.periodicInformInterval));
          assert.equal(file.periodicInformInterval, file.kind === 'ata' || file.kind === 'gateway' ? 300 : 86400);
        });

        test('every forced-inform parameter is in the Inform', () => {
          const inform = new Set(m.informParameters().map((p) => p.name));
          const required = ['DeviceSummary', 'DeviceInfo.HardwareVersion', 'DeviceInfo.SoftwareVersion', 'ManagementServer.ParameterKey', 'ManagementServer.ConnectionRequestURL'];
          for (const rel of required) assert.ok(inform.has(`${root}.${rel}`), rel);
          for (const node of profile.schema.forcedInform) {
            assert.ok([...inform].some((n) => n.replace(/\.[0-9]+\./g, '.{i}.') === node.pattern), node.pattern);
          }
        });

        test('every vendor parameter exists with its declared type and access', () => {
          for (const v of file.vendorParameters) {
            assert.ok(v.type, `${v.path} has a type`);
            const path = firstInstance(root, v.path);
            const [value] = m.getParameterValues([path]);
            assert.equal(value.type, v.type, path);
            const [info] = m.getParameterNames(path, false);
            assert.equal(info.writable, v.access === 'readWrite', path);
            if (v.hidden) assert.equal(value.value, '', `${path} is hidden`);
            else if (v.default !== undefined) assert.equal(value.value, v.default, path);
          }
        });

        test('account count matches the VoiceProfile instances, each with one line', () => {
          const vs = `${root}.Services.VoiceService.1.`;
          assert.equal(m.getValue(`${vs}VoiceProfileNumberOfEntries`), String(file.accounts));
          assert.deepEqual(m.listInstances(`${vs}VoiceProfile.`), Array.from({ length: file.accounts }, (_, i) => i + 1));
          assert.equal(file.pvalues.accounts.length, file.accounts);
          for (let a = 1; a <= file.accounts; a++) assert.equal(m.getValue(`${vs}VoiceProfile.${a}.NumberOfLines`), '1');
          assert.equal(m.getValue(`${vs}Capabilities.MaxProfileCount`), String(file.accounts));
          const phys = (file.fxsPorts ?? 0) + (file.fxoPorts ?? 0) || 1;
          assert.equal(m.listInstances(`${vs}PhyInterface.`).length, phys);
        });

        test('every P-value target exists and accepts the mapped values', () => {
          assert.ok(profile.pvalues.size >= 20);
          for (const pv of profile.pvalues.values()) {
            for (const t of pv.targets) assert.ok(m.has(t), `${pv.pvalue} -> ${t}`);
            for (const v of Object.values(pv.map ?? {})) {
              const probe = DeviceModel.create(profile, { serialNumber: '000B82123456' });
              for (const t of pv.targets) probe.setLocal(t, v);
            }
          }
          const acct1 = file.pvalues.accounts[0];
          for (const p of ['P271', 'P270', 'P47', 'P48', 'P35', 'P36', 'P34', 'P3', 'P52', 'P76']) assert.ok(Object.values(acct1).includes(p), p);
          for (const p of ['P4503', 'P4504', 'P4505', 'P4506', 'P4507', 'P4511', 'P4512']) assert.ok(profile.pvalues.has(p), p);
        });

        test('the whole tree is consistent: every listed parameter reads, every factory value is valid', () => {
          const names = m.getParameterNames('', false);
          const params = names.filter((n) => !n.name.endsWith('.')).map((n) => n.name);
          const values = m.getParameterValues(params);
          assert.equal(values.length, params.length);
          // Writing every writable factory value back must pass validation (defaults are legal values).
          const writable = new Set(names.filter((n) => n.writable && !n.name.endsWith('.')).map((n) => n.name));
          const hidden = new Set(values.filter((v) => v.value === '' && m.getValue(v.name) !== '').map((v) => v.name));
          const back = values.filter((v) => writable.has(v.name)).map((v) => (hidden.has(v.name) ? { ...v, value: m.getValue(v.name) ?? '' } : v));
          m.setParameterValues(back, 'conformance');
          assert.equal(m.parameterKey, 'conformance');
        });
      });
    }
  });
}

describe('profile schema rejects broken files', () => {
  const good = readFile('GXP2140');
  const problems = (patch: Record<string, unknown>): string[] => validateProfileFile({ ...good, ...patch });

  test('missing or malformed fields', () => {
    assert.ok(problems({ oui: '000b82' }).some((p) => p.startsWith('oui')));
    assert.ok(problems({ model: undefined }).some((p) => p.startsWith('model')));
    assert.ok(problems({ kind: 'fridge' }).some((p) => p.startsWith('kind')));
    assert.ok(problems({ softwareVersion: '1.0.0.1' }).some((p) => p.includes('older than')));
    assert.ok(problems({ accounts: 5 }).some((p) => p.includes('pvalues.accounts has 4')));
    assert.deepEqual(validateProfileFile('nope'), ['profile must be a JSON object']);
  });

  test('vendor parameters need an X_ name, a type and a description', () => {
    const vp = [{ path: 'DeviceInfo.Foo', type: 'integer', access: 'rw' }];
    const found = problems({ vendorParameters: vp });
    assert.ok(found.some((p) => p.includes('X_<VENDOR>_')));
    assert.ok(found.some((p) => p.includes('.type')));
    assert.ok(found.some((p) => p.includes('.access')));
    assert.ok(found.some((p) => p.includes('.description')));
  });

  test('a P-value mapped twice, or to an unknown parameter, is refused', () => {
    const dup = structuredClone(good.pvalues);
    dup.accounts[1].name = 'P47';
    assert.ok(problems({ pvalues: dup }).some((p) => p.includes('P47 is mapped twice')));
    const bad = structuredClone(good);
    bad.values = { 'DeviceInfo.NoSuchParameter': 'x' };
    assert.throws(() => compileProfile(bad, 'test'), (e: unknown) => e instanceof ProfileError && e.message.includes('NoSuchParameter'));
    const badValue = structuredClone(good);
    badValue.values = { 'ManagementServer.PeriodicInformInterval': '0' };
    assert.throws(() => compileProfile(badValue, 'test'), ProfileError);
  });
});
