/**
 * Every Download outcome gives its own TransferComplete fault (see src/cpe/firmware.ts and
 * src/cpe/file-transfer.ts for the table); DelaySeconds is honoured; file-server Digest credentials
 * work; a verified firmware image is installed and reported.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import type { Download, TransferComplete } from '../../src/cwmp/index.ts';
import { buildFirmwareImage } from '../../src/cpe/firmware.ts';
import { startHarness, type Harness } from './harness.ts';

const SV = 'Device.DeviceInfo.SoftwareVersion';

function download(h: Harness, key: string, path: string, extra: Partial<Download> = {}): Download {
  return {
    method: 'Download',
    commandKey: key,
    fileType: '1 Firmware Upgrade Image',
    url: h.files.url(path),
    username: '',
    password: '',
    fileSize: 0,
    targetFileName: '',
    delaySeconds: 0,
    successURL: '',
    failureURL: '',
    ...extra,
  };
}

/** Sends the Download, waits for the session carrying its TransferComplete, returns it. */
async function outcome(h: Harness, dl: Download): Promise<TransferComplete> {
  const { answers } = await h.session([dl]);
  assert.equal(answers[0]?.method, 'DownloadResponse', JSON.stringify(answers[0]));
  for (let i = 0; i < 3; i++) {
    await h.agent.nextSession();
    const tc = h.acs.received.find((p) => p.message?.method === 'TransferComplete' && (p.message as TransferComplete).commandKey === dl.commandKey);
    if (tc) return tc.message as TransferComplete;
  }
  assert.fail(`no TransferComplete for ${dl.commandKey}`);
}

describe('Download outcomes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ model: 'GXP2160', serial: '000B82C0FFEE' });
  });
  after(async () => {
    await h.validateAll();
    await h.close();
  });

  const sv = (): string => h.agent.model.getValue(SV) ?? '';

  test('wrong model: 9010, firmware unchanged', async () => {
    const before = sv();
    h.files.files.set('/wrong.bin', { body: buildFirmwareImage({ model: 'HT502', version: '9.9.9.9' }) });
    const tc = await outcome(h, download(h, 'wrong-model', '/wrong.bin'));
    assert.equal(tc.faultStruct.faultCode, 9010);
    assert.match(tc.faultStruct.faultString, /HT502/);
    assert.equal(sv(), before);
  });

  test('bad checksum: 9018', async () => {
    const img = buildFirmwareImage({ model: 'GXP2160', version: '2.0.0.1', payload: 'x'.repeat(100) });
    img[img.length - 64 - 10] ^= 0x20;
    h.files.files.set('/corrupt.bin', { body: img });
    assert.equal((await outcome(h, download(h, 'corrupt', '/corrupt.bin'))).faultStruct.faultCode, 9018);
  });

  test('bad signature (another key): 9019', async () => {
    const img = buildFirmwareImage({ model: 'GXP2160', version: '2.0.0.2', key: generateKeyPairSync('ed25519').privateKey });
    h.files.files.set('/unsigned.bin', { body: img });
    assert.equal((await outcome(h, download(h, 'bad-sig', '/unsigned.bin'))).faultStruct.faultCode, 9019);
  });

  test('missing file (404): 9016', async () => {
    assert.equal((await outcome(h, download(h, 'missing', '/nope.bin'))).faultStruct.faultCode, 9016);
  });

  test('size mismatch with the announced FileSize: 9017', async () => {
    const img = buildFirmwareImage({ model: 'GXP2160', version: '2.0.0.3' });
    h.files.files.set('/size.bin', { body: img });
    assert.equal((await outcome(h, download(h, 'size', '/size.bin', { fileSize: img.length + 10 }))).faultStruct.faultCode, 9017);
  });

  test('transfer cut short by the server: 9017', async () => {
    const img = buildFirmwareImage({ model: 'GXP2160', version: '2.0.0.4', payload: 'y'.repeat(5000) });
    h.files.files.set('/cut.bin', { body: img, truncateTo: 1000 });
    assert.equal((await outcome(h, download(h, 'cut', '/cut.bin'))).faultStruct.faultCode, 9017);
  });

  test('file server refuses the credentials: 9012', async () => {
    h.files.files.set('/secret.bin', { body: buildFirmwareImage({ model: 'GXP2160', version: '2.0.0.5' }), digest: { username: 'fw', password: 'right' } });
    assert.equal((await outcome(h, download(h, 'auth', '/secret.bin', { username: 'fw', password: 'wrong' }))).faultStruct.faultCode, 9012);
  });

  test('file server unreachable: 9015', async () => {
    const dl = download(h, 'unreachable', '/x.bin');
    dl.url = 'http://127.0.0.1:9/x.bin';
    assert.equal((await outcome(h, dl)).faultStruct.faultCode, 9015);
  });

  test('malformed configuration file: 9018; configuration file for another MAC: 9010', async () => {
    h.files.files.set('/bad.xml', { body: '<gs_provision version="1"><config version="1"><P47>oops</config>' });
    h.files.files.set('/other.xml', { body: '<gs_provision version="1"><mac>000b82000000</mac><config version="1"><P47>x</P47></config></gs_provision>' });
    assert.equal((await outcome(h, download(h, 'bad-cfg', '/bad.xml', { fileType: '3 Vendor Configuration File' }))).faultStruct.faultCode, 9018);
    assert.equal((await outcome(h, download(h, 'mac-cfg', '/other.xml', { fileType: '3 Vendor Configuration File' }))).faultStruct.faultCode, 9010);
  });

  test('configuration file applied: TR-104 values change, TransferComplete 0', async () => {
    h.files.files.set('/cfg000b82c0ffee.xml', {
      body: '<?xml version="1.0" encoding="UTF-8"?><gs_provision version="1"><mac>000b82c0ffee</mac><config version="1"><P47>sip.example.net</P47><P35>1001</P35></config></gs_provision>',
    });
    const tc = await outcome(h, download(h, 'cfg', '/cfg000b82c0ffee.xml', { fileType: '3 Vendor Configuration File' }));
    assert.equal(tc.faultStruct.faultCode, 0);
    const vp = 'Device.Services.VoiceService.1.VoiceProfile.1.';
    const values = [h.agent.model.getValue(`${vp}SIP.RegistrarServer`), h.agent.model.getValue(`${vp}SIP.ProxyServer`), h.agent.model.getValue(`${vp}Line.1.SIP.AuthUserName`)];
    assert.ok(values.includes('sip.example.net'), JSON.stringify(values));
  });

  test('DelaySeconds is honoured and Digest file-server credentials work: firmware installed and reported', async () => {
    const img = buildFirmwareImage({ model: 'GXP2160', version: '1.0.9.135' });
    h.files.files.set('/gxp2160fw.bin', { body: img, digest: { username: 'fw', password: 'right' } });
    const asked = Date.now();
    const tc = await outcome(h, download(h, 'fw-ok', '/gxp2160fw.bin', { username: 'fw', password: 'right', delaySeconds: 1, fileSize: img.length }));
    assert.equal(tc.faultStruct.faultCode, 0, tc.faultStruct.faultString);
    assert.ok(Date.parse(tc.startTime) >= Math.floor(asked / 1000) * 1000 + 1000, `started ${tc.startTime}, asked ${new Date(asked).toISOString()}`);
    assert.ok(Date.parse(tc.completeTime) >= Date.parse(tc.startTime));
    assert.equal(sv(), '1.0.9.135');
    const inform = h.acs.informs.at(-1)!;
    assert.equal(inform.parameterList.find((p) => p.name === SV)?.value, '1.0.9.135');
    assert.ok(inform.event.some((e) => e.eventCode === '1 BOOT'));
  });
});

test('a CWMP 1.0 device reports codes its schema lacks (9016) as 9010, the precise code in the FaultString', async () => {
  const h = await startHarness({ agent: { cwmpVersion: '1.0' } });
  try {
    const tc = await outcome(h, download(h, 'v10-missing', '/nowhere.bin'));
    assert.equal(tc.faultStruct.faultCode, 9010);
    assert.match(tc.faultStruct.faultString, /^9016 /);
    await h.validateAll();
  } finally {
    await h.close();
  }
});
