import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CwmpFaultError } from '../cwmp/faults.ts';
import type { ParameterValueStruct } from '../cwmp/types.ts';
import { DeviceModel, loadProfile } from './model.ts';

const VP = 'Device.Services.VoiceService.1.VoiceProfile.';
const RUNS = 150;

interface Candidate {
  p: ParameterValueStruct;
  /** Expected per-parameter fault code, or the value read back after success. */
  expect: { fault: number } | { value: string };
}

const CANDIDATES: Candidate[] = [
  { p: { name: 'Device.ManagementServer.URL', value: 'https://acs.example/', type: 'string' }, expect: { value: 'https://acs.example/' } },
  { p: { name: 'Device.ManagementServer.PeriodicInformEnable', value: '1', type: 'boolean' }, expect: { value: 'true' } },
  { p: { name: 'Device.ManagementServer.PeriodicInformInterval', value: '120', type: 'unsignedInt' }, expect: { value: '120' } },
  { p: { name: `${VP}2.Line.1.Enable`, value: 'Enabled', type: 'string' }, expect: { value: 'Enabled' } },
  { p: { name: `${VP}3.SIP.ProxyServerPort`, value: '5070', type: 'unsignedInt' }, expect: { value: '5070' } },
  { p: { name: `${VP}1.Line.1.SIP.AuthPassword`, value: 'pw', type: 'string' }, expect: { value: 'pw' } },
  { p: { name: 'Device.Time.NTPServer2', value: 'ntp.example', type: 'string' }, expect: { value: 'ntp.example' } },
  { p: { name: 'Device.ManagementServer.Bogus', value: 'x', type: 'string' }, expect: { fault: 9005 } },
  { p: { name: `${VP}9.Name`, value: 'x', type: 'string' }, expect: { fault: 9005 } },
  { p: { name: 'Device.DeviceInfo.Manufacturer', value: 'x', type: 'string' }, expect: { fault: 9008 } },
  { p: { name: `${VS()}VoiceProfileNumberOfEntries`, value: '3', type: 'unsignedInt' }, expect: { fault: 9008 } },
  { p: { name: 'Device.ManagementServer.STUNEnable', value: 'true', type: 'string' }, expect: { fault: 9006 } },
  { p: { name: 'Device.ManagementServer.STUNServerPort', value: '65536', type: 'unsignedInt' }, expect: { fault: 9007 } },
  { p: { name: `${VP}1.DTMFMethod`, value: 'Smoke', type: 'string' }, expect: { fault: 9007 } },
];

function VS(): string {
  return 'Device.Services.VoiceService.1.';
}

test('SetParameterValues is all-or-nothing and reports exactly the bad parameters', () => {
  const profile = loadProfile('GXP2140');
  fc.assert(
    fc.property(fc.shuffledSubarray(CANDIDATES, { minLength: 1 }), (picked) => {
      const m = DeviceModel.create(profile, { serialNumber: '000B82000001' });
      const before = JSON.stringify(m.snapshot());
      const bad = picked.filter((c) => 'fault' in c.expect);
      try {
        const r = m.setParameterValues(
          picked.map((c) => c.p),
          'prop',
        );
        assert.equal(bad.length, 0, 'succeeded although bad parameters were given');
        assert.equal(r.status, 0);
        for (const c of picked) if ('value' in c.expect) assert.equal(m.getValue(c.p.name), c.expect.value);
        assert.equal(m.parameterKey, 'prop');
      } catch (e) {
        assert.ok(e instanceof CwmpFaultError);
        assert.equal(e.fault.faultCode, 9003);
        const got = new Map(e.fault.setParameterValuesFaults.map((f) => [f.parameterName, f.faultCode]));
        assert.deepEqual(got, new Map(bad.map((c) => [c.p.name, (c.expect as { fault: number }).fault])));
        assert.equal(JSON.stringify(m.snapshot()), before, 'nothing changed');
      }
    }),
    { numRuns: RUNS },
  );
});

type Op = { op: 'add' } | { op: 'delete'; pick: number } | { op: 'name'; pick: number; value: string } | { op: 'notify'; pick: number; n: 0 | 1 | 2 } | { op: 'status'; pick: number; up: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ op: 'add' }),
  fc.nat(20).map<Op>((pick) => ({ op: 'delete', pick })),
  fc.record({ pick: fc.nat(20), value: fc.string({ maxLength: 8 }) }).map<Op>((r) => ({ op: 'name', ...r })),
  fc.record({ pick: fc.nat(20), n: fc.constantFrom<0 | 1 | 2>(0, 1, 2) }).map<Op>((r) => ({ op: 'notify', ...r })),
  fc.record({ pick: fc.nat(20), up: fc.boolean() }).map<Op>((r) => ({ op: 'status', ...r })),
);

test('random operation sequences: instance numbers never repeat, snapshots restore to an equal device', () => {
  const profile = loadProfile('HT502');
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => {
      const m = DeviceModel.create(profile, { serialNumber: '000B82000002' });
      const used = new Set(m.listInstances(VP));
      for (const o of ops) {
        const list = m.listInstances(VP);
        const inst = list.length > 0 && o.op !== 'add' ? list[o.pick % list.length] : undefined;
        if (o.op === 'add') {
          const n = m.addObject(VP, 'a').instanceNumber;
          assert.ok(!used.has(n), `instance ${n} re-used`);
          assert.ok(n > Math.max(0, ...used));
          used.add(n);
          m.addObject(`${VP}${n}.Line.`, 'l');
        } else if (inst === undefined) continue;
        else if (o.op === 'delete') m.deleteObject(`${VP}${inst}.`, 'd');
        else if (o.op === 'name') m.setParameterValues([{ name: `${VP}${inst}.Name`, value: o.value, type: 'string' }], 'n');
        else if (o.op === 'notify') {
          m.setParameterAttributes([{ name: `${VP}${inst}.Line.1.Status`, notificationChange: true, notification: o.n, accessListChange: false, accessList: [] }]);
        } else m.setLocal(`${VP}${inst}.Line.1.Status`, o.up ? 'Up' : 'Error');
        assert.equal(m.getValue(`${VS()}VoiceProfileNumberOfEntries`), String(m.listInstances(VP).length));
      }
      const r = DeviceModel.restore(profile, JSON.parse(JSON.stringify(m.snapshot())));
      assert.deepEqual(r.snapshot(), m.snapshot());
      assert.deepEqual(r.getParameterValues(['Device.']), m.getParameterValues(['Device.']));
      assert.deepEqual(r.getParameterAttributes([VP]), m.getParameterAttributes([VP]));
      assert.equal(r.addObject(VP, 'x').instanceNumber, m.addObject(VP, 'x').instanceNumber);
    }),
    { numRuns: RUNS },
  );
});
