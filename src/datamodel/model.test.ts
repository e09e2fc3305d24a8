import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CwmpFaultError } from '../cwmp/faults.ts';
import type { ParameterValueStruct, SetParameterAttributesStruct } from '../cwmp/types.ts';
import { ConfigFileError, LocalWriteError, SnapshotError, UnknownProfileError } from './errors.ts';
import { DeviceModel, loadProfile, listProfiles } from './model.ts';

const SERIAL = '000B82AABBCC';
const VS = 'Device.Services.VoiceService.1.';
const VP = `${VS}VoiceProfile.`;

function gxp2140(): DeviceModel {
  return DeviceModel.create(loadProfile('GXP2140'), { serialNumber: SERIAL });
}

function str(name: string, value: string): ParameterValueStruct {
  return { name, value, type: 'string' };
}

/** Runs fn, expects a CwmpFaultError and returns it. */
function fault(fn: () => unknown): CwmpFaultError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CwmpFaultError, `expected CwmpFaultError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a CWMP fault');
}

function attr(name: string, notification: SetParameterAttributesStruct['notification']): SetParameterAttributesStruct {
  return { name, notificationChange: true, notification, accessListChange: false, accessList: [] };
}

describe('profiles', () => {
  test('loadProfile is case-insensitive and cached; unknown models list the known ones', () => {
    assert.equal(loadProfile('gxp2140'), loadProfile('GXP2140'));
    assert.throws(
      () => loadProfile('GXP9999'),
      (e: unknown) => e instanceof UnknownProfileError && e.known.includes('HT502') && e.message.includes('GXP2170'),
    );
    assert.ok(listProfiles().length >= 11);
  });
});

describe('GetParameterNames', () => {
  test('"" with NextLevel true returns only the root object', () => {
    assert.deepEqual(gxp2140().getParameterNames('', true), [{ name: 'Device.', writable: false }]);
  });

  test('"" with NextLevel false returns the root and everything below it', () => {
    const m = gxp2140();
    const all = m.getParameterNames('', false);
    assert.equal(all[0].name, 'Device.');
    const names = new Set(all.map((e) => e.name));
    assert.equal(names.size, all.length, 'no duplicates');
    assert.ok(names.has('Device.DeviceInfo.SerialNumber'));
    assert.ok(names.has(`${VP}4.Line.1.SIP.AuthPassword`));
    assert.ok(!names.has(`${VP}5.`));
    const params = all.filter((e) => !e.name.endsWith('.'));
    assert.equal(params.length, m.getParameterValues(['']).length);
  });

  test('NextLevel true on the root lists immediate children only, objects with a trailing dot', () => {
    const list = gxp2140().getParameterNames('Device.', true);
    const names = list.map((e) => e.name);
    assert.ok(names.includes('Device.DeviceSummary'));
    assert.ok(names.includes('Device.Services.'));
    assert.ok(names.includes('Device.X_GRANDSTREAM_Upgrade.'));
    assert.ok(!names.includes('Device.'));
    for (const n of names) assert.equal(n.slice('Device.'.length).replace(/\.$/, '').includes('.'), false, n);
  });

  test('tables and instances: Writable means AddObject / DeleteObject allowed', () => {
    const m = gxp2140();
    const vps = m.getParameterNames(VP, true);
    assert.deepEqual(vps, [1, 2, 3, 4].map((n) => ({ name: `${VP}${n}.`, writable: true })));
    const inVs = m.getParameterNames(VS, true);
    assert.deepEqual(inVs.find((e) => e.name === `${VS}VoiceProfile.`), { name: `${VS}VoiceProfile.`, writable: true });
    assert.deepEqual(inVs.find((e) => e.name === `${VS}Capabilities.`), { name: `${VS}Capabilities.`, writable: false });
    const codecs = m.getParameterNames(`${VS}Capabilities.Codecs.`, true);
    assert.ok(codecs.length > 0 && codecs.every((e) => !e.writable), 'read-only table instances are not deletable');
  });

  test('partial path with NextLevel false starts with the object itself', () => {
    const m = gxp2140();
    const path = `${VP}2.Line.1.`;
    const list = m.getParameterNames(path, false);
    assert.deepEqual(list[0], { name: path, writable: true });
    assert.ok(list.every((e) => e.name.startsWith(path)));
    assert.ok(list.some((e) => e.name === `${path}SIP.AuthUserName` && e.writable));
    assert.ok(list.some((e) => e.name === `${path}Status` && !e.writable));
    assert.ok(list.some((e) => e.name === `${path}Codec.List.6.Codec`));
  });

  test('full parameter name: itself with NextLevel false, fault 9003 with NextLevel true', () => {
    const m = gxp2140();
    assert.deepEqual(m.getParameterNames('Device.ManagementServer.URL', false), [{ name: 'Device.ManagementServer.URL', writable: true }]);
    assert.equal(fault(() => m.getParameterNames('Device.ManagementServer.URL', true)).fault.faultCode, 9003);
  });

  test('unknown paths give 9005', () => {
    const m = gxp2140();
    for (const p of ['Device.Nope.', 'Device.DeviceInfo', `${VP}9.`, `${VP}x.`, 'InternetGatewayDevice.', 'Device.DeviceInfo.SerialNumber.']) {
      assert.equal(fault(() => m.getParameterNames(p, false)).fault.faultCode, 9005, p);
    }
  });
});

describe('GetParameterValues', () => {
  test('hidden parameters read back empty, the device keeps the real value', () => {
    const m = gxp2140();
    const pw = `${VP}1.Line.1.SIP.AuthPassword`;
    m.setParameterValues([str(pw, 's3cret'), str('Device.ManagementServer.Password', 'acs-pw')], 'k1');
    assert.deepEqual(m.getParameterValues([pw]), [{ name: pw, value: '', type: 'string' }]);
    assert.equal(m.getParameterValues(['Device.ManagementServer.Password'])[0].value, '');
    assert.equal(m.getParameterValues(['Device.UserInterface.X_GRANDSTREAM_AdminLoginPassword'])[0].value, '');
    assert.equal(m.getValue(pw), 's3cret');
    assert.equal(m.getValue('Device.UserInterface.X_GRANDSTREAM_AdminLoginPassword'), 'admin');
  });

  test('partial paths expand, values carry their xsd type, identity and profile values are set', () => {
    const m = gxp2140();
    const info = m.getParameterValues(['Device.DeviceInfo.']);
    const byName = new Map(info.map((v) => [v.name, v]));
    assert.equal(byName.get('Device.DeviceInfo.SerialNumber')?.value, SERIAL);
    assert.equal(byName.get('Device.DeviceInfo.Manufacturer')?.value, 'Grandstream');
    assert.equal(byName.get('Device.DeviceInfo.ManufacturerOUI')?.value, '000B82');
    assert.equal(byName.get('Device.DeviceInfo.ProductClass')?.value, 'GXP2140');
    assert.equal(byName.get('Device.DeviceInfo.UpTime')?.type, 'unsignedInt');
    const [pii, enable] = m.getParameterValues(['Device.ManagementServer.PeriodicInformInterval', 'Device.ManagementServer.EnableCWMP']);
    assert.deepEqual(pii, { name: 'Device.ManagementServer.PeriodicInformInterval', value: '86400', type: 'unsignedInt' });
    assert.equal(enable.type, 'boolean');
    assert.equal(m.getValue('Device.LAN.MACAddress'), '00:0B:82:AA:BB:CC');
  });

  test('identity: an explicit MAC is used, a malformed one is refused', () => {
    const m = DeviceModel.create(loadProfile('HT502'), { serialNumber: 'SN1', macAddress: '00-0b-82-01-02-03' });
    assert.equal(m.macAddress, '000B82010203');
    assert.equal(m.getValue('Device.LAN.MACAddress'), '00:0B:82:01:02:03');
    assert.throws(() => DeviceModel.create(loadProfile('HT502'), { serialNumber: 'SN1', macAddress: 'hello' }), LocalWriteError);
    assert.throws(() => DeviceModel.create(loadProfile('HT502'), { serialNumber: '' }), LocalWriteError);
  });

  test('one unknown name fails the whole call with 9005', () => {
    const m = gxp2140();
    const f = fault(() => m.getParameterValues(['Device.DeviceInfo.SerialNumber', 'Device.DeviceInfo.Bogus']));
    assert.equal(f.fault.faultCode, 9005);
  });

  test('NumberOfEntries parameters follow the instances', () => {
    const m = gxp2140();
    assert.equal(m.getValue(`${VS}VoiceProfileNumberOfEntries`), '4');
    assert.equal(m.getValue('Device.Services.VoiceServiceNumberOfEntries'), '1');
    assert.equal(m.getValue(`${VP}1.NumberOfLines`), '1');
  });

  test('dynamic providers compute values on read', () => {
    const m = gxp2140();
    let up = 5;
    m.setDynamic('Device.DeviceInfo.UpTime', () => String(up));
    assert.equal(m.getParameterValues(['Device.DeviceInfo.UpTime'])[0].value, '5');
    up = 6;
    assert.equal(m.getValue('Device.DeviceInfo.UpTime'), '6');
    assert.throws(() => m.setDynamic('Device.Nope', () => ''), LocalWriteError);
  });
});

describe('SetParameterValues', () => {
  test('is atomic: several faults reported, nothing changed, ParameterKey kept', () => {
    const m = gxp2140();
    m.setParameterValues([str('Device.ManagementServer.URL', 'http://acs.example/')], 'before');
    const snap = JSON.stringify(m.snapshot());
    const f = fault(() =>
      m.setParameterValues(
        [
          str('Device.ManagementServer.Username', 'changed'),
          str('Device.ManagementServer.NoSuchThing', 'x'),
          { name: 'Device.ManagementServer.PeriodicInformInterval', value: '60', type: 'string' },
          { name: `${VP}1.SIP.ProxyServerPort`, value: '70000', type: 'unsignedInt' },
          str('Device.DeviceInfo.SerialNumber', 'X'),
        ],
        'after',
      ),
    );
    assert.equal(f.fault.faultCode, 9003);
    const codes = Object.fromEntries(f.fault.setParameterValuesFaults.map((x) => [x.parameterName, x.faultCode]));
    assert.deepEqual(codes, {
      'Device.ManagementServer.NoSuchThing': 9005,
      'Device.ManagementServer.PeriodicInformInterval': 9006,
      [`${VP}1.SIP.ProxyServerPort`]: 9007,
      'Device.DeviceInfo.SerialNumber': 9008,
    });
    assert.equal(JSON.stringify(m.snapshot()), snap);
    assert.equal(m.getValue('Device.ManagementServer.Username'), '');
    assert.equal(m.parameterKey, 'before');
  });

  test('the same parameter twice is 9003 without per-parameter faults', () => {
    const m = gxp2140();
    const f = fault(() => m.setParameterValues([str('Device.ManagementServer.URL', 'a'), str('Device.ManagementServer.URL', 'b')], 'k'));
    assert.equal(f.fault.faultCode, 9003);
    assert.equal(f.fault.setParameterValuesFaults.length, 0);
    assert.equal(m.getValue('Device.ManagementServer.URL'), '');
  });

  test('type, enumeration, range, size and boolean checks', () => {
    const m = gxp2140();
    const bad: [ParameterValueStruct, number][] = [
      [str(`${VP}1.Line.1.Enable`, 'Maybe'), 9007],
      [str(`${VP}1.Line.1.DirectoryNumber`, '1'.repeat(33)), 9007],
      [{ name: 'Device.ManagementServer.PeriodicInformInterval', value: '0', type: 'unsignedInt' }, 9007],
      [{ name: 'Device.ManagementServer.PeriodicInformInterval', value: '-5', type: 'unsignedInt' }, 9007],
      [{ name: 'Device.ManagementServer.PeriodicInformEnable', value: 'yes', type: 'boolean' }, 9007],
      [{ name: 'Device.ManagementServer.PeriodicInformEnable', value: 'true', type: 'string' }, 9006],
      [{ name: 'Device.ManagementServer.PeriodicInformTime', value: 'yesterday', type: 'dateTime' }, 9007],
      [{ name: 'Device.ManagementServer.URL', value: 'x', type: 'string', rawType: 'xsd:anyURI' }, 9006],
      [str(`${VP}1.SIP.ProxyServerTransport`, 'SCTP'), 9007],
      [str('Device.X_GRANDSTREAM_Upgrade.UpgradeVia', 'FTP'), 9007],
    ];
    for (const [p, code] of bad) {
      const f = fault(() => m.setParameterValues([p], 'k'));
      assert.equal(f.fault.setParameterValuesFaults[0]?.faultCode, code, `${p.name}=${p.value}`);
    }
    m.setParameterValues(
      [
        { name: 'Device.ManagementServer.PeriodicInformEnable', value: '1', type: 'boolean' },
        { name: 'Device.ManagementServer.PeriodicInformInterval', value: '+600', type: 'unsignedInt' },
        { name: 'Device.ManagementServer.PeriodicInformTime', value: '2024-01-02T03:04:05Z', type: 'dateTime' },
        str(`${VP}1.Line.1.Enable`, 'Enabled'),
        str(`${VP}1.SIP.ProxyServerTransport`, 'TLS'),
        { name: 'Device.ManagementServer.Username', value: 'u', type: 'string', untyped: true },
      ],
      'ok',
    );
    assert.equal(m.getValue('Device.ManagementServer.PeriodicInformEnable'), 'true');
    assert.equal(m.getValue('Device.ManagementServer.PeriodicInformInterval'), '600');
    assert.equal(m.getValue(`${VP}1.SIP.ProxyServerTransport`), 'TLS');
  });

  test('enumerationRef follows the device capabilities (HT502 has no TLS)', () => {
    const m = DeviceModel.create(loadProfile('HT502'), { serialNumber: SERIAL });
    const f = fault(() => m.setParameterValues([str(`${VP}1.SIP.ProxyServerTransport`, 'TLS')], 'k'));
    assert.equal(f.fault.setParameterValuesFaults[0].faultCode, 9007);
    m.setParameterValues([str(`${VP}1.SIP.ProxyServerTransport`, 'TCP')], 'k');
    assert.equal(m.getValue(`${VP}1.SIP.ProxyServerTransport`), 'TCP');
  });

  test('ParameterKey: set only by successful SPV / AddObject / DeleteObject; at most 32 characters', () => {
    const m = gxp2140();
    assert.equal(m.parameterKey, '');
    m.setParameterValues([str('Device.ManagementServer.URL', 'http://a/')], 'spv-1');
    assert.equal(m.parameterKey, 'spv-1');
    assert.equal(m.getParameterValues(['Device.ManagementServer.ParameterKey'])[0].value, 'spv-1');
    fault(() => m.setParameterValues([str('Device.Nope', 'x')], 'spv-2'));
    assert.equal(m.parameterKey, 'spv-1');
    assert.equal(fault(() => m.setParameterValues([], 'k'.repeat(33))).fault.faultCode, 9003);
    m.addObject(VP, 'add-1');
    assert.equal(m.parameterKey, 'add-1');
    fault(() => m.addObject('Device.DeviceInfo.', 'add-2'));
    assert.equal(m.parameterKey, 'add-1');
    m.deleteObject(`${VP}5.`, 'del-1');
    assert.equal(m.parameterKey, 'del-1');
    const f = fault(() => m.setParameterValues([str('Device.ManagementServer.ParameterKey', 'x')], 'k'));
    assert.equal(f.fault.setParameterValuesFaults[0].faultCode, 9008);
  });
});

describe('AddObject / DeleteObject', () => {
  test('instance numbers grow monotonically and are never re-used; NumberOfEntries follows', () => {
    const m = gxp2140();
    assert.deepEqual(m.addObject(VP, 'k'), { instanceNumber: 5, status: 0 });
    assert.equal(m.getValue(`${VS}VoiceProfileNumberOfEntries`), '5');
    m.deleteObject(`${VP}5.`, 'k');
    assert.equal(m.getValue(`${VS}VoiceProfileNumberOfEntries`), '4');
    assert.equal(m.addObject(VP, 'k').instanceNumber, 6, 'the deleted highest number is not re-used');
    m.deleteObject(`${VP}2.`, 'k');
    assert.equal(m.addObject(VP, 'k').instanceNumber, 7);
    assert.deepEqual(m.listInstances(VP), [1, 3, 4, 6, 7]);
    assert.equal(fault(() => m.getParameterValues([`${VP}2.Name`])).fault.faultCode, 9005);
  });

  test('a new instance has the object defaults; a deleted one leaves nothing behind', () => {
    const m = gxp2140();
    m.setParameterValues([str(`${VP}4.Name`, 'old')], 'k');
    m.setParameterAttributes([attr(`${VP}4.Name`, 1)]);
    m.deleteObject(`${VP}4.`, 'k');
    const n = m.addObject(VP, 'k').instanceNumber;
    const p = `${VP}${n}.`;
    assert.equal(m.getValue(`${p}Enable`), 'Disabled');
    assert.equal(m.getValue(`${p}Name`), '');
    assert.equal(m.getValue(`${p}SIP.ProxyServerPort`), '5060');
    assert.equal(m.getValue(`${p}DTMFMethod`), 'RFC2833', 'profile pattern default');
    assert.equal(m.getValue(`${p}Alias`), `cpe-${n}`);
    assert.equal(m.getValue(`${p}NumberOfLines`), '0');
    assert.ok(!JSON.stringify(m.snapshot()).includes(`${VP}4.`));
    const line = m.addObject(`${p}Line.`, 'k').instanceNumber;
    assert.equal(line, 1);
    assert.equal(m.getValue(`${p}NumberOfLines`), '1');
    assert.equal(m.getValue(`${p}Line.1.Codec.List.1.Codec`), 'G.711MuLaw', 'new lines get the codec list');
  });

  test('faults: non-table 9005, read-only table 9001, bad instance 9005', () => {
    const m = gxp2140();
    assert.equal(fault(() => m.addObject('Device.DeviceInfo.', 'k')).fault.faultCode, 9005);
    assert.equal(fault(() => m.addObject(`${VP}1.`, 'k')).fault.faultCode, 9005);
    assert.equal(fault(() => m.addObject(`${VP}1.Name`, 'k')).fault.faultCode, 9005);
    assert.equal(fault(() => m.addObject(`${VS}Capabilities.Codecs.`, 'k')).fault.faultCode, 9001);
    assert.equal(fault(() => m.deleteObject(`${VS}Capabilities.Codecs.1.`, 'k')).fault.faultCode, 9001);
    assert.equal(fault(() => m.deleteObject(`${VP}`, 'k')).fault.faultCode, 9005);
    assert.equal(fault(() => m.deleteObject(`${VP}9.`, 'k')).fault.faultCode, 9005);
    assert.equal(fault(() => m.deleteObject('Device.DeviceInfo.', 'k')).fault.faultCode, 9005);
  });
});

describe('attributes and notifications', () => {
  test('passive: a local change is pending for the next Inform, then delivered', () => {
    const m = gxp2140();
    const status = `${VP}1.Line.1.Status`;
    assert.equal(m.getParameterAttributes([status])[0].notification, 0);
    m.setLocal(status, 'Up');
    assert.deepEqual(m.pendingNotifications(), { passive: [], active: [] }, 'notification off: nothing pending');
    m.setParameterAttributes([attr(status, 1)]);
    assert.deepEqual(m.getParameterAttributes([status]), [{ name: status, notification: 1, accessList: [] }]);
    assert.equal(m.setLocal(status, 'Up'), false, 'same value is no change');
    assert.deepEqual(m.pendingNotifications().passive, []);
    assert.equal(m.setLocal(status, 'Registering'), true);
    assert.deepEqual(m.pendingNotifications(), { passive: [status], active: [] });
    const inform = m.informParameters();
    assert.deepEqual(inform.find((p) => p.name === status), { name: status, value: 'Registering', type: 'string' });
    m.markNotificationsDelivered();
    assert.deepEqual(m.pendingNotifications(), { passive: [], active: [] });
    assert.equal(m.informParameters().find((p) => p.name === status), undefined);
  });

  test('markNotificationsDelivered(list) keeps changes made after the Inform was built', () => {
    const m = gxp2140();
    const a = `${VP}1.Line.1.Status`;
    const b = `${VP}2.Line.1.Status`;
    m.setParameterAttributes([attr(a, 1), attr(b, 1)]);
    m.setLocal(a, 'Up');
    const inform = m.informParameters();
    m.setLocal(a, 'Error');
    m.setLocal(b, 'Up');
    m.markNotificationsDelivered(inform);
    assert.deepEqual(m.pendingNotifications().passive.sort(), [a, b].sort(), 'a changed again, b is new');
    m.markNotificationsDelivered(m.informParameters());
    assert.deepEqual(m.pendingNotifications().passive, []);
  });

  test('active notification and changes made by the ACS', () => {
    const m = gxp2140();
    const url = 'Device.ManagementServer.ConnectionRequestURL';
    assert.equal(m.getParameterAttributes([url])[0].notification, 2, 'profile default: active');
    m.setLocal(url, 'http://10.0.0.2:7547/');
    assert.deepEqual(m.pendingNotifications().active, [url]);
    const name = `${VP}1.Name`;
    m.setParameterAttributes([attr(name, 2)]);
    m.setParameterValues([str(name, 'by ACS')], 'k');
    assert.ok(!m.pendingNotifications().active.includes(name), 'SPV changes are not notified');
  });

  test('forced inform parameters are always in the Inform', () => {
    const m = gxp2140();
    const names = m.informParameters().map((p) => p.name);
    for (const n of [
      'Device.DeviceSummary',
      'Device.DeviceInfo.HardwareVersion',
      'Device.DeviceInfo.SoftwareVersion',
      'Device.ManagementServer.ParameterKey',
      'Device.ManagementServer.ConnectionRequestURL',
      'Device.LAN.IPAddress',
    ]) {
      assert.ok(names.includes(n), n);
    }
  });

  test('canDeny: explicit active request is 9009; partial paths skip such parameters', () => {
    const m = gxp2140();
    const callState = `${VP}1.Line.1.CallState`;
    const f = fault(() => m.setParameterAttributes([attr(callState, 2)]));
    assert.equal(f.fault.faultCode, 9009);
    m.setParameterAttributes([attr(callState, 1)]);
    assert.equal(m.getParameterAttributes([callState])[0].notification, 1);
    m.setParameterAttributes([attr(`${VP}1.Line.1.`, 2)]);
    const after = new Map(m.getParameterAttributes([`${VP}1.Line.1.`]).map((a) => [a.name, a.notification]));
    assert.equal(after.get(callState), 1, 'canDeny parameter kept its value');
    assert.equal(after.get(`${VP}1.Line.1.Status`), 2);
    assert.equal(after.get(`${VP}1.Line.1.Codec.List.1.Alias`), 0, 'canDeny Alias untouched');
  });

  test('SetParameterAttributes is atomic and validates names and values', () => {
    const m = gxp2140();
    const f = fault(() => m.setParameterAttributes([attr('Device.ManagementServer.URL', 1), attr('Device.Nope', 1)]));
    assert.equal(f.fault.faultCode, 9005);
    assert.equal(m.getParameterAttributes(['Device.ManagementServer.URL'])[0].notification, 0);
    assert.equal(fault(() => m.setParameterAttributes([attr('Device.ManagementServer.URL', 9 as 6)])).fault.faultCode, 9003);
    m.setParameterAttributes([{ name: 'Device.ManagementServer.URL', notificationChange: false, notification: 0, accessListChange: true, accessList: ['Subscriber'] }]);
    assert.deepEqual(m.getParameterAttributes(['Device.ManagementServer.URL'])[0], { name: 'Device.ManagementServer.URL', notification: 0, accessList: ['Subscriber'] });
  });

  test('forceEnabled cannot be turned off (IGD SoftwareVersion)', () => {
    const m = DeviceModel.create(loadProfile('HT502', { root: 'InternetGatewayDevice' }), { serialNumber: SERIAL });
    const sw = 'InternetGatewayDevice.DeviceInfo.SoftwareVersion';
    assert.equal(m.getParameterAttributes([sw])[0].notification, 2);
    assert.equal(fault(() => m.setParameterAttributes([attr(sw, 0)])).fault.faultCode, 9009);
    m.setParameterAttributes([attr('InternetGatewayDevice.DeviceInfo.', 0)]);
    assert.equal(m.getParameterAttributes([sw])[0].notification, 2);
    m.setLocal(sw, '1.0.9.1');
    assert.ok(m.pendingNotifications().active.includes(sw));
    assert.ok(m.informParameters().some((p) => p.name === 'InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress'));
  });

  test('setLocal refuses unknown, computed and invalid values', () => {
    const m = gxp2140();
    assert.throws(() => m.setLocal('Device.Nope', 'x'), LocalWriteError);
    assert.throws(() => m.setLocal(`${VS}VoiceProfileNumberOfEntries`, '9'), LocalWriteError);
    assert.throws(() => m.setLocal(`${VP}1.Line.1.Status`, 'Sleeping'), LocalWriteError);
  });
});

describe('snapshot / restore / factory reset', () => {
  test('restore(snapshot) gives an equal device that continues the same way', () => {
    const m = gxp2140();
    m.setParameterValues([str('Device.ManagementServer.URL', 'http://acs/'), str(`${VP}2.Line.1.SIP.AuthPassword`, 'pw')], 'k1');
    m.addObject(VP, 'k2');
    m.deleteObject(`${VP}5.`, 'k3');
    m.setParameterAttributes([attr(`${VP}1.Line.1.Status`, 1)]);
    m.setLocal(`${VP}1.Line.1.Status`, 'Up');
    const snap = JSON.parse(JSON.stringify(m.snapshot()));
    const r = DeviceModel.restore(loadProfile('GXP2140'), snap);
    assert.deepEqual(r.snapshot(), m.snapshot());
    assert.deepEqual(r.getParameterValues(['']), m.getParameterValues(['']));
    assert.deepEqual(r.getParameterAttributes(['Device.']), m.getParameterAttributes(['Device.']));
    assert.deepEqual(r.getParameterNames('', false), m.getParameterNames('', false));
    assert.equal(r.getValue(`${VP}2.Line.1.SIP.AuthPassword`), 'pw');
    assert.equal(r.parameterKey, 'k3');
    assert.deepEqual(r.pendingNotifications(), m.pendingNotifications());
    assert.equal(r.addObject(VP, 'k').instanceNumber, 6);
    assert.equal(m.addObject(VP, 'k').instanceNumber, 6);
  });

  test('restore refuses snapshots of another model or with unknown paths', () => {
    const snap = gxp2140().snapshot();
    assert.throws(() => DeviceModel.restore(loadProfile('HT502'), snap), SnapshotError);
    assert.throws(() => DeviceModel.restore(loadProfile('GXP2140'), { ...snap, values: { 'Device.Bogus': 'x' } }), SnapshotError);
    assert.throws(() => DeviceModel.restore(loadProfile('GXP2140'), { ...snap, version: 2 } as unknown as typeof snap), SnapshotError);
  });

  test('factory reset restores defaults, clears ParameterKey, keeps identity', () => {
    const m = gxp2140();
    const fresh = JSON.stringify(m.snapshot());
    m.setParameterValues([str('Device.ManagementServer.URL', 'http://acs/')], 'k');
    m.addObject(VP, 'k');
    m.setParameterAttributes([attr('Device.ManagementServer.URL', 1)]);
    m.factoryReset();
    assert.equal(JSON.stringify(m.snapshot()), fresh);
    assert.equal(m.parameterKey, '');
    assert.equal(m.getValue('Device.DeviceInfo.SerialNumber'), SERIAL);
    assert.equal(m.addObject(VP, 'k').instanceNumber, 5);
  });
});

describe('applyConfigFile', () => {
  const cfg = (body: string, mac = '000b82aabbcc'): string =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<gs_provision version="1">\n  <mac>${mac}</mac>\n  <config version="1">\n${body}\n  </config>\n</gs_provision>\n`;

  test('maps P-values to the data model as device-side changes', () => {
    const m = gxp2140();
    m.setParameterAttributes([attr(`${VP}1.SIP.ProxyServer`, 1)]);
    const res = m.applyConfigFile(
      cfg(`<P271>1</P271><P47>sip.example.net</P47><P35>1001</P35><P34>secret</P34><P3>Alice</P3>
<P404>2002</P404><P4503>https://acs.example.net/</P4503><P212>2</P212><P52>1</P52><P9999>x</P9999><P4507>soon</P4507><P48></P48>`),
    );
    assert.deepEqual(res.unknown, ['P9999']);
    assert.deepEqual(res.rejected.map((r) => r.pvalue), ['P4507']);
    assert.ok(res.applied.includes('P271') && res.applied.includes('P48') && !res.applied.includes('P4507'));
    assert.equal(m.getValue(`${VP}1.Enable`), 'Enabled');
    assert.equal(m.getValue(`${VP}1.Line.1.Enable`), 'Enabled');
    assert.equal(m.getValue(`${VP}1.SIP.ProxyServer`), 'sip.example.net');
    assert.equal(m.getValue(`${VP}1.SIP.RegistrarServer`), 'sip.example.net');
    assert.equal(m.getValue(`${VP}1.Line.1.DirectoryNumber`), '1001');
    assert.equal(m.getValue(`${VP}2.Line.1.DirectoryNumber`), '2002');
    assert.equal(m.getValue(`${VP}1.Line.1.SIP.X_GRANDSTREAM_DisplayName`), 'Alice');
    assert.equal(m.getValue(`${VP}1.STUNEnable`), 'true');
    assert.equal(m.getValue('Device.X_GRANDSTREAM_Upgrade.UpgradeVia'), 'HTTPS');
    assert.equal(m.getValue('Device.ManagementServer.URL'), 'https://acs.example.net/');
    assert.equal(m.getValue('Device.ManagementServer.PeriodicInformInterval'), '86400');
    assert.equal(m.getParameterValues([`${VP}1.Line.1.SIP.AuthPassword`])[0].value, '');
    assert.equal(m.getValue(`${VP}1.Line.1.SIP.AuthPassword`), 'secret');
    assert.ok(res.changed.includes(`${VP}1.SIP.ProxyServer`));
    assert.ok(m.pendingNotifications().passive.includes(`${VP}1.SIP.ProxyServer`), 'config-file changes are notified');
    assert.equal(m.parameterKey, '', 'not an ACS change');
  });

  test('exportConfigFile round-trips through applyConfigFile', () => {
    const m = gxp2140();
    m.applyConfigFile(cfg('<P271>1</P271><P47>pbx.example</P47><P34>pw&amp;1</P34><P52>2</P52><P212>0</P212><P4507>600</P4507><P3>A &lt;B&gt;</P3>'));
    assert.equal(m.getValue(`${VP}1.STUNEnable`), 'false');
    const values = new Map(m.configFileValues().map((v) => [v.pvalue, v.value]));
    assert.equal(values.get('P271'), '1');
    assert.equal(values.get('P52'), '0', 'reverseDefault for an unmapped value');
    assert.equal(values.get('P212'), '0');
    assert.equal(values.get('P3'), 'A <B>');
    assert.equal(values.has('P34'), false, 'hidden values are left out by default');
    const copy = DeviceModel.create(loadProfile('GXP2140'), { serialNumber: SERIAL });
    const res = copy.applyConfigFile(m.exportConfigFile({ includeHidden: true }));
    assert.deepEqual(res.unknown, []);
    assert.deepEqual(res.rejected, []);
    assert.deepEqual(copy.getParameterValues(['Device.']), m.getParameterValues(['Device.']));
    assert.equal(copy.getValue(`${VP}1.Line.1.SIP.AuthPassword`), 'pw&1');
  });

  test('typed errors for bad files', () => {
    const m = gxp2140();
    const code = (xml: string): string | undefined => {
      try {
        m.applyConfigFile(xml);
      } catch (e) {
        if (e instanceof ConfigFileError) return e.code;
        throw e;
      }
      return undefined;
    };
    assert.equal(code('<gs_provision><config><P2>x</P2></config>'), 'MALFORMED_XML');
    assert.equal(code('not xml at all'), 'MALFORMED_XML');
    assert.equal(code('<other/>'), 'NOT_GS_PROVISION');
    assert.equal(code(cfg('<P2>x</P2>', '000b82000001')), 'MAC_MISMATCH');
    assert.equal(code('<gs_provision version="1"><config version="2"><item name="a">b</item></config></gs_provision>'), 'UNSUPPORTED_VERSION');
    assert.equal(code('<!DOCTYPE x [<!ENTITY a "b">]><gs_provision/>'), 'MALFORMED_XML');
    assert.equal(m.getValue('Device.UserInterface.X_GRANDSTREAM_AdminLoginPassword'), 'admin', 'nothing applied');
    assert.equal(code(cfg('<P2>new</P2>', '00:0B:82:AA:BB:CC')), undefined);
    assert.equal(m.getValue('Device.UserInterface.X_GRANDSTREAM_AdminLoginPassword'), 'new');
  });
});

describe('capability-driven values', () => {
  test('SRTP keying follows Capabilities; Alias must start with a letter', () => {
    const m = gxp2140();
    const srtp = `${VP}1.RTP.SRTP.`;
    m.setParameterValues([str(`${srtp}KeyingMethods`, 'SDP'), str(`${srtp}EncryptionKeySizes`, '128')], 'k');
    const f = fault(() => m.setParameterValues([str(`${srtp}KeyingMethods`, 'SDP,IKE')], 'k'));
    assert.equal(f.fault.setParameterValuesFaults[0].faultCode, 9007);
    const ata = DeviceModel.create(loadProfile('HT502'), { serialNumber: SERIAL });
    assert.equal(fault(() => ata.setParameterValues([str(`${srtp}KeyingMethods`, 'SDP')], 'k')).fault.setParameterValuesFaults[0].faultCode, 9007);
    assert.equal(fault(() => m.setParameterValues([str(`${VP}1.Alias`, '1abc')], 'k')).fault.setParameterValuesFaults[0].faultCode, 9007);
    m.setParameterValues([str(`${VP}1.Alias`, 'office')], 'k');
    assert.equal(m.getValue(`${VP}1.Alias`), 'office');
  });
});
