import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DeviceModel, loadProfile } from './model.ts';
import { MAX_PATH_ENTRIES, PathIndex, ownCopy, pathIndexOf } from './path-index.ts';

const VP = 'Device.Services.VoiceService.1.VoiceProfile.';
const RUNS = 25;

function device(serial: string): DeviceModel {
  return DeviceModel.create(loadProfile('GXP2140'), { serialNumber: serial });
}

/** Every name GetParameterNames lists (it walks the instance lists, not the index). */
function allNames(m: DeviceModel): Set<string> {
  return new Set(m.getParameterNames('', false).map((e) => e.name));
}

/** Names that look like real ones but mostly are not: other instance numbers, missing dots, junk. */
function variants(name: string): string[] {
  const out = [name.replace(/\.([0-9]+)\./, (_, n: string) => `.${Number(n) + 1}.`), name.replace(/\.([0-9]+)\./, '.0.'), name.replace(/\.([0-9]+)\./, '.01.')];
  if (name.endsWith('.')) out.push(name.slice(0, -1), `${name}.`);
  else out.push(`${name}.`, `${name}X`);
  return out;
}

describe('path index', () => {
  test('is shared by the devices of a profile and memoises what a path means', () => {
    const a = device('000B82000001');
    const b = device('000B82000002');
    const ix = pathIndexOf(loadProfile('GXP2140'));
    const path = `${VP}1.Line.1.SIP.AuthUserName`;
    assert.equal(a.getValue(path), b.getValue(path));
    const e = ix.lookup(path);
    assert.ok(e && e.resolved.kind === 'param');
    assert.equal(ix.lookup(path), e, 'the same entry is returned again');
    assert.deepEqual(
      e.steps.map((s) => `${s.table}${s.n}`),
      ['Device.Services.VoiceService.1', `${VP}1`, `${VP}1.Line.1`],
    );
    assert.equal(e.inFactory, true);
    assert.equal(e.factoryValue, a.getValue(path));
    assert.throws(() => {
      (e.resolved as { path: string }).path = 'x';
    }, TypeError, 'entries are frozen: devices share them');
  });

  test('unknown paths resolve to null and are not memoised', () => {
    const ix = new PathIndex(loadProfile('GXP2140'));
    for (const p of ['', 'Device', 'Bogus.', 'Device.Bogus', 'Device.DeviceInfo', 'Device.DeviceInfo.SerialNumber.', `${VP}x.`, `${VP}0.`, `${VP}1..Name`]) {
      assert.equal(ix.lookup(p), null, p);
    }
    assert.equal(ix.size, 0);
    const e = ix.lookup(`${VP}9.Name`);
    assert.ok(e, 'a structurally valid path has an entry even when no factory instance 9 exists');
    assert.equal(e.inFactory, false);
  });

  test('stays bounded when asked for ever new instance numbers', () => {
    const cap = 100;
    const ix = new PathIndex(loadProfile('GXP2140'), cap);
    for (let n = 1; n <= cap + 10; n++) ix.lookup(`${VP}${n}.`);
    assert.ok(ix.size <= cap, `size ${ix.size}`);
    assert.ok(MAX_PATH_ENTRIES >= 10_000, 'the real cap holds a large profile many times over');
    assert.ok(ix.lookup(`${VP}1.`), 'still answers after starting afresh');
  });

  test('an instance added on one device exists there only; a deleted one is gone there only', () => {
    const a = device('000B82000011');
    const b = device('000B82000012');
    const newName = `${VP}5.SIP.ProxyServer`;
    // b asks first, so the (shared) entry exists before a creates the instance
    assert.equal(b.has(newName), false);
    assert.equal(a.addObject(VP, 'k').instanceNumber, 5);
    assert.equal(a.has(newName), true);
    assert.equal(a.getValue(newName), '');
    a.setParameterValues([{ name: newName, value: 'sip.example', type: 'string' }], 'k2');
    assert.equal(a.getValue(newName), 'sip.example');
    assert.equal(b.has(newName), false);
    assert.equal(b.getValue(newName), undefined);

    const old = `${VP}2.Line.1.SIP.AuthUserName`;
    a.setParameterValues([{ name: old, value: 'bob', type: 'string' }], 'k3');
    a.deleteObject(`${VP}2.`, 'k4');
    assert.equal(a.has(old), false);
    assert.equal(a.getValue(old), undefined);
    assert.equal(b.has(old), true, 'the other device still has its factory instance');
    assert.equal(a.snapshot().values[old], undefined, 'the deleted instance left no stored value');

    a.factoryReset();
    assert.equal(a.has(old), true);
    assert.equal(a.has(newName), false);
  });

  test('GetParameterValues mixes full names and partial paths; a deleted instance is 9005', () => {
    const m = device('000B82000041');
    const name = `${VP}1.Line.1.SIP.AuthUserName`;
    m.setParameterValues([{ name, value: 'dave', type: 'string' }], 'k');
    const got = m.getParameterValues([name, `${VP}1.Line.1.SIP.`, 'Device.DeviceInfo.SerialNumber']);
    assert.deepEqual(got[0], { name, value: 'dave', type: 'string' });
    assert.ok(got.slice(1, -1).some((v) => v.name === name && v.value === 'dave'), 'the partial path lists it too');
    assert.deepEqual(got[got.length - 1], { name: 'Device.DeviceInfo.SerialNumber', value: '000B82000041', type: 'string' });
    m.deleteObject(`${VP}1.`, 'k');
    assert.throws(() => m.getParameterValues([name]), (e: unknown) => (e as { fault?: { faultCode: number } }).fault?.faultCode === 9005);
    assert.throws(() => m.getParameterValues([`${VP}1.`]), (e: unknown) => (e as { fault?: { faultCode: number } }).fault?.faultCode === 9005);
  });

  test('storing the factory value keeps nothing; another value is kept', () => {
    const m = device('000B82000021');
    const name = `${VP}1.Line.1.SIP.AuthUserName`;
    const factory = pathIndexOf(m.profile).lookup(name)?.factoryValue;
    assert.equal(typeof factory, 'string');
    m.setParameterValues([{ name, value: 'carol', type: 'string' }], 'k');
    assert.equal(m.snapshot().values[name], 'carol');
    m.setParameterValues([{ name, value: factory!, type: 'string' }], 'k');
    assert.equal(m.snapshot().values[name], undefined);
    assert.equal(m.getValue(name), factory);
  });

  test('has() agrees with GetParameterNames after any sequence of AddObject/DeleteObject', () => {
    const profile = loadProfile('GXP2140');
    const op = fc.oneof(
      fc.record({ kind: fc.constant('addProfile' as const) }),
      fc.record({ kind: fc.constant('addLine' as const), vp: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant('deleteProfile' as const), vp: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant('deleteLine' as const), vp: fc.integer({ min: 1, max: 6 }), line: fc.integer({ min: 1, max: 3 }) }),
    );
    const factoryNames = allNames(DeviceModel.create(profile, { serialNumber: '000B82000031' }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 6 }), (ops) => {
        const m = DeviceModel.create(profile, { serialNumber: '000B82000032' });
        const untouched = DeviceModel.create(profile, { serialNumber: '000B82000033' });
        for (const o of ops) {
          try {
            if (o.kind === 'addProfile') m.addObject(VP, 'k');
            else if (o.kind === 'addLine') m.addObject(`${VP}${o.vp}.Line.`, 'k');
            else if (o.kind === 'deleteProfile') m.deleteObject(`${VP}${o.vp}.`, 'k');
            else m.deleteObject(`${VP}${o.vp}.Line.${o.line}.`, 'k');
          } catch {
            // a fault for a missing instance is fine: the state did not change
          }
        }
        const names = allNames(m);
        const probe = new Set<string>();
        for (const n of [...names, ...factoryNames]) {
          if (!n.startsWith(VP)) continue;
          probe.add(n);
          for (const v of variants(n)) probe.add(v);
        }
        for (const p of probe) {
          assert.equal(m.has(p), names.has(p), `changed device: ${p}`);
          assert.equal(untouched.has(p), factoryNames.has(p), `factory device: ${p}`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('ownCopy', () => {
  test('returns an equal string for short, long, sliced and non-ASCII input', () => {
    const big = `${'x'.repeat(500)}voip.example.net/é€😀${'y'.repeat(500)}`;
    for (const s of ['', 'a', 'short value', big, big.slice(500, 530), big.slice(510, 522), 'é€😀'.repeat(9)]) {
      assert.equal(ownCopy(s), s);
    }
  });
});
