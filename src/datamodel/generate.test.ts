import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateAll, GENERATED_DIR } from './generate.ts';
import type { GeneratedModel, ParamDef } from './definitions.ts';

const generated = generateAll();

function param(file: string, path: string): ParamDef {
  const m = generated.get(file)?.model as GeneratedModel;
  const p = m.parameters.find((x) => x.path === path);
  assert.ok(p, `${path} in ${file}`);
  return p;
}

test('the committed JSON is exactly what the generator derives from the BBF XML', () => {
  assert.deepEqual([...generated.keys()].sort(), ['device-1.json', 'igd-1.json', 'voiceservice-1.1.json']);
  for (const [file, { text }] of generated) {
    assert.equal(readFileSync(join(GENERATED_DIR, file), 'utf8'), text, `${file} is stale: run npx tsx src/datamodel/generate.ts`);
  }
});

test('metadata keeps the Broadband Forum licence and names the sources', () => {
  for (const { model } of generated.values()) {
    assert.match(model.meta.license, /Copyright \(c\) [0-9-]+, Broadband Forum/);
    assert.match(model.meta.license, /Redistribution and use in source and binary forms/);
    assert.ok(model.meta.sources.length > 0 && model.meta.sources.every((s) => s.file.endsWith('.xml')));
  }
  assert.equal(generated.get('voiceservice-1.1.json')?.model.meta.mountPoint, 'Services.');
});

test('definitions carry access, type facets and flags from the XML', () => {
  assert.deepEqual(param('device-1.json', 'Device.ManagementServer.ParameterKey'), {
    path: 'Device.ManagementServer.ParameterKey',
    type: 'string',
    access: 'readOnly',
    maxLength: 32,
    forcedInform: true,
    activeNotify: 'canDeny',
  });
  assert.equal(param('device-1.json', 'Device.ManagementServer.Password').hidden, true);
  assert.deepEqual(param('device-1.json', 'Device.ManagementServer.CWMPRetryIntervalMultiplier').ranges, [{ min: '1000', max: '65535' }]);
  assert.equal(param('device-1.json', 'Device.ManagementServer.EnableCWMP').default, 'true');
  assert.equal(param('device-1.json', 'Device.ManagementServer.EnableCWMP').defaultType, 'factory');
  const lanIp = param('device-1.json', 'Device.LAN.IPAddress');
  assert.equal(lanIp.dataType, 'IPAddress');
  assert.equal(lanIp.maxLength, 45, 'named type resolved to its base facets');
  assert.equal(param('igd-1.json', 'InternetGatewayDevice.DeviceInfo.SoftwareVersion').activeNotify, 'forceEnabled');
  const vs = 'VoiceService.{i}.VoiceProfile.{i}.';
  assert.equal(param('voiceservice-1.1.json', `${vs}Line.{i}.SIP.AuthPassword`).hidden, true);
  assert.deepEqual(param('voiceservice-1.1.json', `${vs}Line.{i}.Enable`).enumeration, ['Disabled', 'Quiescent', 'Enabled']);
  assert.equal(param('voiceservice-1.1.json', `${vs}SIP.ProxyServerTransport`).enumerationRef, '.Capabilities.SIP.Transports');
  const srtp = param('voiceservice-1.1.json', 'VoiceService.{i}.Capabilities.SRTPEncryptionKeySizes');
  assert.equal(srtp.list, true);
  assert.equal(srtp.type, 'string', 'lists travel as strings');
  assert.equal(srtp.itemType, 'unsignedInt');
  assert.equal(param('voiceservice-1.1.json', 'VoiceServiceNumberOfEntries').type, 'unsignedInt');
});

test('the subset: SIP parts kept, MGCP/H.323 and unselected tables (with their counters) dropped', () => {
  const vs = generated.get('voiceservice-1.1.json')?.model as GeneratedModel;
  assert.ok(vs.objects.some((o) => o.path === 'VoiceService.{i}.VoiceProfile.{i}.Line.{i}.Stats.'));
  assert.ok(!vs.objects.some((o) => /MGCP|H323/.test(o.path)));
  assert.ok(!vs.parameters.some((p) => /\.(MGCP|H323)\./.test(p.path)));
  const table = vs.objects.find((o) => o.path === 'VoiceService.{i}.VoiceProfile.{i}.');
  assert.deepEqual(table, { path: 'VoiceService.{i}.VoiceProfile.{i}.', access: 'readWrite', multi: true, numEntriesParameter: 'VoiceProfileNumberOfEntries', enableParameter: 'Enable' });
  const dev = generated.get('device-1.json')?.model as GeneratedModel;
  assert.ok(!dev.parameters.some((p) => p.path === 'Device.UserNumberOfEntries'), 'User table not selected, so no counter');
  assert.ok(dev.parameters.some((p) => p.path === 'Device.DeviceInfo.VendorConfigFileNumberOfEntries'));
  assert.ok(dev.parameters.some((p) => p.path === 'Device.ManagementServer.UDPConnectionRequestAddress'), 'TR-111 parameters');
  assert.ok(dev.parameters.some((p) => p.path === 'Device.ManagementServer.STUNServerAddress'));
});
