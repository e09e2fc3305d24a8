import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deviceView, isSecretParameterName, parameterView, redactJson, REDACTED, taskView } from './secrets.ts';
import type { Device, StoredParameter, Task } from '../store/types.ts';

describe('isSecretParameterName()', () => {
  it('matches password-like leaves of every data model, not their siblings', () => {
    for (const name of [
      'Device.ManagementServer.Password',
      'InternetGatewayDevice.ManagementServer.ConnectionRequestPassword',
      'Device.ManagementServer.STUNPassword',
      'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthPassword',
      'Device.UserInterface.X_GRANDSTREAM_AdminLoginPassword',
      'Device.WiFi.AccessPoint.1.Security.KeyPassphrase',
      'Device.WiFi.AccessPoint.1.Security.PreSharedKey',
    ]) {
      assert.equal(isSecretParameterName(name), true, name);
    }
    for (const name of ['Device.ManagementServer.Username', 'Device.ManagementServer.ConnectionRequestUsername', 'Device.ManagementServer.', 'Device.PasswordPolicy.MinLength']) {
      assert.equal(isSecretParameterName(name), false, name);
    }
  });
});

describe('redaction', () => {
  const device: Device = {
    id: 'o-p-s', oui: 'o', productClass: 'p', serialNumber: 's', manufacturer: 'm', firstContact: null, lastContact: null, lastBoot: null,
    lastBootstrap: null, sourceAddress: null, softwareVersion: null, hardwareVersion: null, connectionRequestUrl: null,
    udpConnectionRequestAddress: null, cwmpVersion: null, tags: [],
    credentials: { acsUsername: 'u', acsPassword: 'p1', connectionRequestUsername: 'c', connectionRequestPassword: null },
  };

  it('deviceView() hides passwords unless asked', () => {
    const hidden = deviceView(device, false);
    assert.deepEqual(hidden.credentials, { acsUsername: 'u', connectionRequestUsername: 'c', acsPasswordSet: true, connectionRequestPasswordSet: false });
    assert.ok(!JSON.stringify(hidden).includes('p1'));
    assert.equal(deviceView(device, true).credentials.acsPassword, 'p1');
  });

  it('parameterView() hides secret values but keeps empty ones visible', () => {
    const p = (name: string, value: string | null): StoredParameter => ({ name, value, type: 'string', writable: true, notification: null, accessList: null, object: false, updatedAt: 't' });
    assert.equal(parameterView(p('Device.ManagementServer.Password', 'x'), false).value, REDACTED);
    assert.equal(parameterView(p('Device.ManagementServer.Password', ''), false).value, '');
    assert.equal(parameterView(p('Device.ManagementServer.Password', 'x'), true).value, 'x');
    assert.equal(parameterView(p('Device.ManagementServer.URL', 'http://a'), false).value, 'http://a');
  });

  it('redactJson() hides secret keys, secret-named values and name-keyed maps, deeply', () => {
    assert.deepEqual(
      redactJson({
        type: 'setParameterValues',
        parameters: [{ name: 'Device.ManagementServer.Password', value: 'x' }, { name: 'Device.A', value: 'y' }],
        nested: { password: 'z', list: [{ token: 't' }] },
        result: { 'Device.X.AuthPassword': 'q', 'Device.X.URI': 'sip:1' },
      }),
      {
        type: 'setParameterValues',
        parameters: [{ name: 'Device.ManagementServer.Password', value: REDACTED }, { name: 'Device.A', value: 'y' }],
        nested: { password: REDACTED, list: [{ token: REDACTED }] },
        result: { 'Device.X.AuthPassword': REDACTED, 'Device.X.URI': 'sip:1' },
      },
    );
  });

  it('taskView() redacts payload and result', () => {
    const task = { payload: { type: 'download', password: 'pw' }, result: [{ name: 'Device.X.Password', value: 'v' }] } as unknown as Task;
    const view = taskView(task, false);
    assert.deepEqual(view.payload, { type: 'download', password: REDACTED });
    assert.deepEqual(view.result, [{ name: 'Device.X.Password', value: REDACTED }]);
    assert.equal(taskView(task, true), task);
  });
});
