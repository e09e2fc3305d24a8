/**
 * Conformance suite of the CPE agent: a scripted ACS drives the agent through every RPC it
 * implements, each in a correct and in bad forms, and every envelope the agent sends is validated
 * against the BBF schema of the session's CWMP version (test/helpers/schema.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  CwmpMessage,
  GetParameterValuesResponse,
  Inform,
  SoapFault,
} from '../../src/cwmp/index.ts';
import { buildFirmwareImage } from '../../src/cpe/firmware.ts';
import { SUPPORTED_RPC_METHODS } from '../../src/cpe/rpc-handler.ts';
import { startHarness, type Harness } from './harness.ts';

const MS = 'Device.ManagementServer.';
const LINE1 = 'Device.Services.VoiceService.1.VoiceProfile.1.Line.1.';

function fault(m: CwmpMessage | null | undefined): SoapFault {
  assert.ok(m && m.method === 'Fault', `expected a Fault, got ${m?.method}`);
  return m as SoapFault;
}

function events(i: Inform): string[] {
  return i.event.map((e) => (e.commandKey ? `${e.eventCode}|${e.commandKey}` : e.eventCode));
}

function param(i: Inform, name: string): string | undefined {
  return i.parameterList.find((p) => p.name === name)?.value;
}

async function gpv(h: Harness, names: string[]): Promise<Record<string, string>> {
  const { answers } = await h.session([{ method: 'GetParameterValues', parameterNames: names }]);
  const r = answers[0] as GetParameterValuesResponse;
  assert.equal(r.method, 'GetParameterValuesResponse');
  return Object.fromEntries(r.parameterList.map((p) => [p.name, p.value]));
}

describe('CPE conformance (scripted ACS, every message schema-checked)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.validateAll();
    await h.close();
  });

  test('first contact: Inform with 0 BOOTSTRAP + 1 BOOT, DeviceId, forced parameters, 1.4 headers', async () => {
    const inform = h.acs.informs[0];
    assert.deepEqual(events(inform).slice(0, 2), ['0 BOOTSTRAP', '1 BOOT']);
    assert.deepEqual(inform.deviceId, { manufacturer: 'Grandstream', oui: '000B82', productClass: 'GXP2140', serialNumber: '000B82A1B2C3' });
    assert.equal(inform.retryCount, 0);
    assert.equal(inform.maxEnvelopes, 1);
    for (const p of ['Device.DeviceInfo.SoftwareVersion', `${MS}ParameterKey`, `${MS}ConnectionRequestURL`]) {
      assert.ok(param(inform, p) !== undefined, `${p} in the Inform`);
    }
    const post = h.acs.postsOf(1)[0];
    assert.equal(post.header.supportedCwmpVersions, '1.0,1.1,1.2,1.3,1.4');
    assert.match(post.xml, /urn:dslforum-org:cwmp-1-2/);
  });

  test('HTTP rules: envelopes carry text/xml and an empty SOAPAction; the empty POST carries neither', () => {
    const posts = h.acs.postsOf(1);
    const inform = posts[0];
    assert.match(String(inform.headers['content-type']), /^text\/xml/);
    assert.equal(inform.headers.soapaction, '');
    const empty = posts.find((p) => p.message === null);
    assert.ok(empty, 'an empty POST was sent');
    assert.equal(empty.headers['content-length'], '0');
    assert.equal(empty.headers['content-type'], undefined);
    assert.equal(empty.headers.soapaction, undefined);
  });

  test('GetRPCMethods lists every supported method', async () => {
    const { answers } = await h.session([{ method: 'GetRPCMethods' }]);
    assert.equal(answers[0]?.method, 'GetRPCMethodsResponse');
    assert.deepEqual((answers[0] as { methodList: string[] }).methodList.sort(), [...SUPPORTED_RPC_METHODS].sort());
  });

  test('GetParameterNames: NextLevel true/false, and 9005 / 9003 for bad paths', async () => {
    const { answers } = await h.session([
      { method: 'GetParameterNames', parameterPath: 'Device.ManagementServer.', nextLevel: true },
      { method: 'GetParameterNames', parameterPath: '', nextLevel: true },
      { method: 'GetParameterNames', parameterPath: 'Device.NoSuchObject.', nextLevel: false },
      { method: 'GetParameterNames', parameterPath: `${MS}URL`, nextLevel: true },
    ]);
    const names = (answers[0] as { parameterList: { name: string; writable: boolean }[] }).parameterList;
    assert.ok(names.some((p) => p.name === `${MS}URL` && p.writable));
    assert.ok(names.some((p) => p.name === `${MS}ParameterKey` && !p.writable));
    assert.deepEqual((answers[1] as { parameterList: { name: string }[] }).parameterList.map((p) => p.name), ['Device.']);
    assert.equal(fault(answers[2]).faultCode, 9005);
    assert.equal(fault(answers[3]).faultCode, 9003);
  });

  test('GetParameterValues: typed values, hidden ones empty, 9005 for an unknown name', async () => {
    const { answers } = await h.session([
      { method: 'GetParameterValues', parameterNames: [`${MS}PeriodicInformInterval`, `${MS}ConnectionRequestPassword`, `${LINE1}Stats.`] },
      { method: 'GetParameterValues', parameterNames: [`${MS}URL`, 'Device.Bogus'] },
    ]);
    const list = (answers[0] as GetParameterValuesResponse).parameterList;
    const interval = list.find((p) => p.name === `${MS}PeriodicInformInterval`);
    assert.equal(interval?.type, 'unsignedInt');
    assert.equal(list.find((p) => p.name === `${MS}ConnectionRequestPassword`)?.value, '');
    assert.ok(list.some((p) => p.name === `${LINE1}Stats.PacketsSent`));
    assert.equal(fault(answers[1]).faultCode, 9005);
  });

  test('SetParameterValues: applied atomically with ParameterKey; each bad parameter gets its own code', async () => {
    const { answers } = await h.session([
      {
        method: 'SetParameterValues',
        parameterList: [
          { name: `${LINE1}DirectoryNumber`, value: '1001', type: 'string' },
          { name: `${MS}PeriodicInformInterval`, value: '600', type: 'unsignedInt' },
        ],
        parameterKey: 'spv-1',
      },
      {
        method: 'SetParameterValues',
        parameterList: [
          { name: `${LINE1}DirectoryNumber`, value: '2002', type: 'string' },
          { name: `${MS}ParameterKey`, value: 'x', type: 'string' },
          { name: 'Device.Nope', value: 'x', type: 'string' },
          { name: `${MS}PeriodicInformInterval`, value: '0', type: 'unsignedInt' },
          { name: `${MS}PeriodicInformEnable`, value: '1', type: 'int' },
        ],
        parameterKey: 'spv-2',
      },
      { method: 'GetParameterValues', parameterNames: [`${LINE1}DirectoryNumber`, `${MS}ParameterKey`] },
    ]);
    assert.deepEqual(answers[0], { method: 'SetParameterValuesResponse', status: 0 });
    const f = fault(answers[1]);
    assert.equal(f.faultCode, 9003);
    const codes = Object.fromEntries(f.setParameterValuesFaults.map((x) => [x.parameterName, x.faultCode]));
    assert.equal(codes[`${MS}ParameterKey`], 9008);
    assert.equal(codes['Device.Nope'], 9005);
    assert.equal(codes[`${MS}PeriodicInformInterval`], 9007);
    assert.equal(codes[`${MS}PeriodicInformEnable`], 9006);
    const values = Object.fromEntries((answers[2] as GetParameterValuesResponse).parameterList.map((p) => [p.name, p.value]));
    // The failed call changed nothing, the successful one set the key.
    assert.equal(values[`${LINE1}DirectoryNumber`], '1001');
    assert.equal(values[`${MS}ParameterKey`], 'spv-1');
  });

  test('SetParameterValues with a value that is not of its xsi:type: 9003 with 9006/9007', async () => {
    const raw =
      '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" ' +
      'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">' +
      '<soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">raw-spv</cwmp:ID></soap-env:Header><soap-env:Body><cwmp:SetParameterValues>' +
      '<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformEnable</Name>' +
      '<Value xsi:type="xsd:boolean">maybe</Value></ParameterValueStruct></ParameterList><ParameterKey>k</ParameterKey>' +
      '</cwmp:SetParameterValues></soap-env:Body></soap-env:Envelope>';
    const { answers } = await h.session([{ raw }]);
    const f = fault(answers[0]);
    assert.equal(f.faultCode, 9003);
    const spv = f.setParameterValuesFaults.map((x) => x.faultCode);
    assert.ok(spv.length === 0 || spv.every((c) => c === 9006 || c === 9007), JSON.stringify(f));
  });

  test('SetParameterValues with the same parameter twice is refused with 9003', async () => {
    const { answers } = await h.session([
      {
        method: 'SetParameterValues',
        parameterList: [
          { name: `${LINE1}DirectoryNumber`, value: '1', type: 'string' },
          { name: `${LINE1}DirectoryNumber`, value: '2', type: 'string' },
        ],
        parameterKey: 'dup',
      },
    ]);
    assert.equal(fault(answers[0]).faultCode, 9003);
  });

  test('Get/SetParameterAttributes: set passive notification, read it back; 9009 and 9005 refusals', async () => {
    const { answers } = await h.session([
      {
        method: 'SetParameterAttributes',
        parameterList: [{ name: `${LINE1}Status`, notificationChange: true, notification: 1, accessListChange: true, accessList: ['Subscriber'] }],
      },
      { method: 'GetParameterAttributes', parameterNames: [`${LINE1}Status`] },
      {
        method: 'SetParameterAttributes',
        parameterList: [{ name: 'Device.DeviceInfo.UpTime', notificationChange: true, notification: 2, accessListChange: false, accessList: [] }],
      },
      {
        method: 'SetParameterAttributes',
        parameterList: [{ name: 'Device.Missing', notificationChange: true, notification: 1, accessListChange: false, accessList: [] }],
      },
      { method: 'GetParameterAttributes', parameterNames: ['Device.Missing'] },
    ]);
    assert.equal(answers[0]?.method, 'SetParameterAttributesResponse');
    assert.deepEqual((answers[1] as { parameterList: unknown[] }).parameterList, [{ name: `${LINE1}Status`, notification: 1, accessList: ['Subscriber'] }]);
    assert.equal(fault(answers[2]).faultCode, 9009);
    assert.equal(fault(answers[3]).faultCode, 9005);
    assert.equal(fault(answers[4]).faultCode, 9005);
  });

  test('AddObject / DeleteObject: new instance numbers, ParameterKey, refusals', async () => {
    const table = 'Device.Services.VoiceService.1.VoiceProfile.';
    const { answers } = await h.session([
      { method: 'AddObject', objectName: table, parameterKey: 'add-1' },
      { method: 'AddObject', objectName: 'Device.DeviceInfo.', parameterKey: 'bad' },
      { method: 'AddObject', objectName: 'Device.Services.VoiceService.', parameterKey: 'bad' },
    ]);
    const added = answers[0] as { method: string; instanceNumber: number; status: number };
    assert.equal(added.method, 'AddObjectResponse');
    assert.ok(added.instanceNumber >= 2);
    assert.equal(added.status, 0);
    assert.equal(fault(answers[1]).faultCode, 9005);
    assert.ok([9001, 9005].includes(fault(answers[2]).faultCode));
    const second = await h.session([
      { method: 'DeleteObject', objectName: `${table}${added.instanceNumber}.`, parameterKey: 'del-1' },
      { method: 'DeleteObject', objectName: `${table}${added.instanceNumber}.`, parameterKey: 'del-2' },
      { method: 'GetParameterValues', parameterNames: [`${MS}ParameterKey`] },
    ]);
    assert.deepEqual(second.answers[0], { method: 'DeleteObjectResponse', status: 0 });
    assert.equal(fault(second.answers[1]).faultCode, 9005);
    assert.equal((second.answers[2] as GetParameterValuesResponse).parameterList[0].value, 'del-1');
  });

  test('unsupported methods answer 9000: ChangeDUState, SetVouchers, GetOptions', async () => {
    const { answers } = await h.session([
      { method: 'ChangeDUState', operations: [{ op: 'Uninstall', uuid: '00000000-0000-0000-0000-000000000001' }], commandKey: 'du' },
      { method: 'SetVouchers', voucherList: ['AAAA'] },
      { method: 'GetOptions', optionName: 'x' },
    ]);
    for (const a of answers) assert.equal(fault(a).faultCode, 9000);
  });

  test('an unknown method is answered with 9000 echoing the cwmp:ID', async () => {
    const raw =
      '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">' +
      '<soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">weird-1</cwmp:ID></soap-env:Header>' +
      '<soap-env:Body><cwmp:FrobnicateDevice><Level>3</Level></cwmp:FrobnicateDevice></soap-env:Body></soap-env:Envelope>';
    let served = false;
    h.acs.hooks.beforeReply = (_req, res, post) => {
      if (post.message === null && !served) {
        served = true;
        h.acs.received.push(post);
        res.writeHead(200, { 'content-type': 'text/xml' }).end(raw);
        return true;
      }
      return false;
    };
    try {
      const before = h.acs.received.length;
      await h.session([]);
      const reply = h.acs.received.slice(before).find((p) => p.message?.method === 'Fault');
      assert.ok(reply, 'the CPE answered with a fault');
      assert.equal(fault(reply.message).faultCode, 9000);
      assert.equal(reply.header.id, 'weird-1');
    } finally {
      h.acs.hooks.beforeReply = undefined;
    }
  });

  test('ScheduleInform: 3 SCHEDULED + M ScheduleInform after the delay; DelaySeconds 0 is 9003', async () => {
    const { answers } = await h.session([
      { method: 'ScheduleInform', delaySeconds: 1, commandKey: 'si-1' },
      { method: 'ScheduleInform', delaySeconds: 0, commandKey: 'si-0' },
    ]);
    assert.equal(answers[0]?.method, 'ScheduleInformResponse');
    assert.equal(fault(answers[1]).faultCode, 9003);
    const n = h.acs.informs.length;
    await h.agent.nextSession();
    const inform = h.acs.informs[n];
    assert.ok(events(inform).includes('3 SCHEDULED'));
    assert.ok(events(inform).includes('M ScheduleInform|si-1'));
  });

  test('Download, Upload and ScheduleDownload refuse bad arguments with the right fault', async () => {
    const base = { commandKey: '', username: '', password: '', fileSize: 0, targetFileName: '', delaySeconds: 0, successURL: '', failureURL: '' };
    const { answers } = await h.session([
      { method: 'Download', ...base, fileType: '1 Firmware Upgrade Image', url: 'ftp://files.example.net/fw.bin' },
      { method: 'Download', ...base, fileType: '4 Tone File', url: h.files.url('/tone') },
      { method: 'Download', ...base, fileType: '1 Firmware Upgrade Image', url: '' },
      { method: 'Upload', commandKey: '', fileType: '9 Nonsense', url: h.files.url('/up'), username: '', password: '', delaySeconds: 0 },
      { method: 'Upload', commandKey: '', fileType: '1 Vendor Configuration File', url: 'tftp://x/y', username: '', password: '', delaySeconds: 0 },
      {
        method: 'ScheduleDownload',
        commandKey: 'sd-bad',
        fileType: '1 Firmware Upgrade Image',
        url: h.files.url('/fw'),
        username: '',
        password: '',
        fileSize: 0,
        targetFileName: '',
        timeWindowList: [
          { windowStart: 0, windowEnd: 100, windowMode: '1 At Any Time', userMessage: '', maxRetries: 0 },
          { windowStart: 50, windowEnd: 200, windowMode: '1 At Any Time', userMessage: '', maxRetries: 0 },
        ],
      },
    ]);
    assert.deepEqual(
      answers.map((a) => fault(a).faultCode),
      [9013, 9003, 9003, 9003, 9013, 9003],
    );
  });

  test('GetQueuedTransfers / GetAllQueuedTransfers / CancelTransfer on a delayed download', async () => {
    const dl = {
      method: 'Download' as const,
      commandKey: 'later',
      fileType: '3 Vendor Configuration File',
      url: h.files.url('/cfg-later.xml'),
      username: '',
      password: '',
      fileSize: 0,
      targetFileName: 'cfg.xml',
      delaySeconds: 3600,
      successURL: '',
      failureURL: '',
    };
    const { answers } = await h.session([
      dl,
      { method: 'GetQueuedTransfers' },
      { method: 'GetAllQueuedTransfers' },
      { method: 'CancelTransfer', commandKey: 'later' },
      { method: 'CancelTransfer', commandKey: 'later' },
      { method: 'GetAllQueuedTransfers' },
    ]);
    assert.deepEqual(answers[0], { method: 'DownloadResponse', status: 1, startTime: '0001-01-01T00:00:00Z', completeTime: '0001-01-01T00:00:00Z' });
    assert.deepEqual((answers[1] as { transferList: unknown[] }).transferList, [{ commandKey: 'later', state: 1 }]);
    assert.deepEqual((answers[2] as { transferList: unknown[] }).transferList, [
      { commandKey: 'later', state: 1, isDownload: true, fileType: '3 Vendor Configuration File', fileSize: 0, targetFileName: 'cfg.xml' },
    ]);
    assert.equal(answers[3]?.method, 'CancelTransferResponse');
    assert.equal(fault(answers[4]).faultCode, 9003);
    assert.deepEqual((answers[5] as { transferList: unknown[] }).transferList, []);
  });

  test('Download of a firmware image: reboot, then 1 BOOT + 7 TRANSFER COMPLETE + M Download and TransferComplete', async () => {
    const image = buildFirmwareImage({ model: 'GXP2140', version: '1.0.11.99', payload: 'new firmware' });
    h.files.files.set('/gxp2140fw.bin', { body: image });
    const n = h.acs.informs.length;
    const { answers } = await h.session([
      {
        method: 'Download',
        commandKey: 'fw-1',
        fileType: '1 Firmware Upgrade Image',
        url: h.files.url('/gxp2140fw.bin'),
        username: '',
        password: '',
        fileSize: image.length,
        targetFileName: 'gxp2140fw.bin',
        delaySeconds: 0,
        successURL: '',
        failureURL: '',
      },
    ]);
    assert.equal(answers[0]?.method, 'DownloadResponse');
    await h.agent.nextSession();
    const inform = h.acs.informs[n + 1];
    assert.ok(events(inform).includes('1 BOOT'), events(inform).join());
    assert.ok(events(inform).includes('7 TRANSFER COMPLETE'));
    assert.ok(events(inform).includes('M Download|fw-1'));
    assert.equal(param(inform, 'Device.DeviceInfo.SoftwareVersion'), '1.0.11.99');
    const tc = h.acs.postsOf(h.acs.sessions).find((p) => p.message?.method === 'TransferComplete');
    assert.ok(tc, 'TransferComplete sent in the same session');
    assert.equal((tc.message as { commandKey: string }).commandKey, 'fw-1');
    assert.equal((tc.message as { faultStruct: { faultCode: number } }).faultStruct.faultCode, 0);
    assert.deepEqual(h.agent.pendingEvents(), []);
  });

  test('Upload of the configuration file by HTTP PUT, then TransferComplete with M Upload', async () => {
    h.files.uploadDigest = { username: 'up', password: 'load' };
    const n = h.acs.informs.length;
    await h.session([
      { method: 'Upload', commandKey: 'up-1', fileType: '1 Vendor Configuration File', url: h.files.url('/uploads/cfg.xml'), username: 'up', password: 'load', delaySeconds: 0 },
    ]);
    await h.agent.nextSession();
    const inform = h.acs.informs[n + 1];
    assert.ok(events(inform).includes('M Upload|up-1'), events(inform).join());
    const up = h.files.uploads.at(-1);
    assert.ok(up?.authorized);
    assert.match(up.body.toString(), /<gs_provision version="1">/);
    assert.match(up.body.toString(), /<P4503>http:\/\/127\.0\.0\.1/);
    const tc = h.acs.postsOf(h.acs.sessions).find((p) => p.message?.method === 'TransferComplete');
    assert.equal((tc?.message as { faultStruct: { faultCode: number } }).faultStruct.faultCode, 0);
  });

  test('Upload of the vendor log file', async () => {
    h.files.uploadDigest = undefined;
    await h.session([{ method: 'Upload', commandKey: 'log-1', fileType: '2 Vendor Log File', url: h.files.url('/uploads/log.txt'), username: '', password: '', delaySeconds: 0 }]);
    await h.agent.nextSession();
    const up = h.files.uploads.at(-1);
    assert.equal(up?.path, '/uploads/log.txt');
    assert.match(up.body.toString(), /connection request/);
  });

  test('ScheduleDownload of a configuration file inside its window: TransferComplete with M ScheduleDownload', async () => {
    const mac = '000b82a1b2c3';
    h.files.files.set('/cfg.xml', { body: `<?xml version="1.0"?><gs_provision version="1"><mac>${mac}</mac><config version="1"><P4507>900</P4507></config></gs_provision>` });
    const n = h.acs.informs.length;
    const { answers } = await h.session([
      {
        method: 'ScheduleDownload',
        commandKey: 'sd-1',
        fileType: '3 Vendor Configuration File',
        url: h.files.url('/cfg.xml'),
        username: '',
        password: '',
        fileSize: 0,
        targetFileName: '',
        timeWindowList: [{ windowStart: 0, windowEnd: 600, windowMode: '1 At Any Time', userMessage: '', maxRetries: 0 }],
      },
    ]);
    assert.deepEqual(answers[0], { method: 'ScheduleDownloadResponse' });
    await h.agent.nextSession();
    assert.ok(events(h.acs.informs[n + 1]).includes('M ScheduleDownload|sd-1'));
    const values = await gpv(h, [`${MS}PeriodicInformInterval`]);
    assert.equal(values[`${MS}PeriodicInformInterval`], '900');
  });

  test('Reboot: next Inform carries 1 BOOT and M Reboot with the CommandKey', async () => {
    const n = h.acs.informs.length;
    const { answers } = await h.session([{ method: 'Reboot', commandKey: 'rb-7' }]);
    assert.equal(answers[0]?.method, 'RebootResponse');
    await h.agent.nextSession();
    const e = events(h.acs.informs[n + 1]);
    assert.ok(e.includes('1 BOOT') && e.includes('M Reboot|rb-7'), e.join());
    assert.ok(!e.includes('0 BOOTSTRAP'));
  });

  test('FactoryReset: defaults back, ParameterKey empty, next Inform 0 BOOTSTRAP + 1 BOOT', async () => {
    const n = h.acs.informs.length;
    const { answers } = await h.session([{ method: 'FactoryReset' }]);
    assert.equal(answers[0]?.method, 'FactoryResetResponse');
    await h.agent.nextSession();
    const inform = h.acs.informs[n + 1];
    assert.deepEqual(events(inform).slice(0, 2), ['0 BOOTSTRAP', '1 BOOT']);
    assert.equal(param(inform, `${MS}ParameterKey`), '');
    const values = await gpv(h, [`${LINE1}DirectoryNumber`, `${MS}URL`]);
    assert.equal(values[`${LINE1}DirectoryNumber`], '');
    // The provisioned ACS URL (command line / GAPS) is the factory setting of this device.
    assert.equal(values[`${MS}URL`], h.acs.url);
  });
});

describe('CPE conformance: protocol versions and session control', () => {
  test('CWMP 1.0 device: Inform in the cwmp-1-0 namespace, no 1.4 headers, every message valid for 1.0', async () => {
    const h = await startHarness({ agent: { cwmpVersion: '1.0' } });
    try {
      await h.session([{ method: 'GetParameterValues', parameterNames: [`${MS}URL`] }]);
      assert.match(h.acs.postsOf(1)[0].xml, /urn:dslforum-org:cwmp-1-0/);
      assert.equal(h.acs.postsOf(1)[0].header.supportedCwmpVersions, undefined);
      assert.ok(h.sent.every((s) => s.version === '1.0'));
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('UseCWMPVersion 1.3 from the ACS governs the rest of the session', async () => {
    const h = await startHarness({ hooks: { informResponseHeader: () => ({ useCwmpVersion: '1.3' }) } });
    try {
      await h.session([{ method: 'GetRPCMethods' }]);
      const informs = h.sent.filter((s) => s.xml.includes('<cwmp:Inform>'));
      const others = h.sent.filter((s) => !s.xml.includes('<cwmp:Inform>'));
      assert.ok(informs.every((s) => s.version === '1.4'));
      assert.ok(others.length > 0 && others.every((s) => s.version === '1.3'), h.sent.map((s) => s.version).join());
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('an ACS asking for a version above ours fails the session (retained events, retry)', async () => {
    const h = await startHarness({ agent: { cwmpVersion: '1.2' }, hooks: { informResponseHeader: () => ({ useCwmpVersion: '1.4' }) }, start: false });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.ok, false);
      assert.match(r.failure?.message ?? '', /1\.4/);
      assert.ok(h.agent.pendingEvents().some((e) => e.eventCode === '0 BOOTSTRAP'));
      assert.equal(h.agent.currentRetryCount, 1);
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('HoldRequests: the pending TransferComplete waits for a session without hold', async () => {
    let hold = true;
    const h = await startHarness({ hooks: { informResponseHeader: () => (hold ? { holdRequests: true } : {}) } });
    try {
      h.files.files.set('/c.xml', { body: '<gs_provision version="1"><config version="1"><P4507>700</P4507></config></gs_provision>' });
      const n = h.acs.sessions;
      await h.session([
        {
          method: 'Download',
          commandKey: 'held',
          fileType: '3 Vendor Configuration File',
          url: h.files.url('/c.xml'),
          username: '',
          password: '',
          fileSize: 0,
          targetFileName: '',
          delaySeconds: 0,
          successURL: '',
          failureURL: '',
        },
      ]);
      await h.agent.nextSession(); // the transfer's session: held
      const held = h.acs.postsOf(n + 2);
      assert.ok(held[0].message?.method === 'Inform');
      assert.equal(held[1].message, null, 'empty POST right after a held InformResponse');
      assert.ok(!held.some((p) => p.message?.method === 'TransferComplete'));
      hold = false;
      await h.session([]);
      assert.ok(h.acs.postsOf(n + 3).some((p) => p.message?.method === 'TransferComplete'));
      assert.ok(!h.agent.pendingEvents().some((e) => e.eventCode === 'M Download'));
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('8005 on TransferComplete: not delivered, sent again in a later session', async () => {
    let refuse = true;
    const h = await startHarness({ hooks: { transferCompleteFault: () => (refuse ? 8005 : undefined) } });
    try {
      h.files.files.set('/c.xml', { body: '<gs_provision version="1"><config version="1"><P4507>800</P4507></config></gs_provision>' });
      await h.session([
        {
          method: 'Download',
          commandKey: 'retry-me',
          fileType: '3 Vendor Configuration File',
          url: h.files.url('/c.xml'),
          username: '',
          password: '',
          fileSize: 0,
          targetFileName: '',
          delaySeconds: 0,
          successURL: '',
          failureURL: '',
        },
      ]);
      const r = await h.agent.nextSession();
      assert.equal(r.ok, true);
      assert.ok(h.agent.pendingEvents().some((e) => e.eventCode === 'M Download' && e.commandKey === 'retry-me'));
      assert.equal(h.agent.queuedTransfers().length, 1);
      refuse = false;
      await h.session([]);
      assert.deepEqual(h.agent.pendingEvents(), []);
      assert.equal(h.agent.queuedTransfers().length, 0);
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('an ACS fault to the Inform fails the session and keeps the events', async () => {
    let failIt = true;
    const h = await startHarness({
      start: false,
      hooks: {
        beforeReply: (_req, res, post) => {
          if (failIt && post.message?.method === 'Inform') {
            h.acs.reply(res, { method: 'Fault', faultcode: 'Server', faultstring: 'CWMP fault', faultCode: 8002, faultString: 'Internal error', setParameterValuesFaults: [] }, {}, '1.2');
            return true;
          }
          return false;
        },
      },
    });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.failure?.faultCode, 8002);
      assert.deepEqual(h.agent.pendingEvents().map((e) => e.eventCode).slice(0, 2), ['0 BOOTSTRAP', '1 BOOT']);
      failIt = false;
      await h.session([]);
      assert.deepEqual(events(h.acs.informs.at(-1)!).slice(0, 2), ['0 BOOTSTRAP', '1 BOOT']);
      assert.equal(h.acs.informs.at(-1)!.retryCount, 1);
      await h.validateAll();
    } finally {
      await h.close();
    }
  });

  test('a 200 with an empty body ends the session like a 204; InformResponse without ID and MaxEnvelopes is accepted', async () => {
    const h = await startHarness({
      start: false,
      hooks: {
        beforeReply: (_req, res, post) => {
          if (post.message?.method === 'Inform') {
            h.acs.received.push(post);
            const xml =
              '<?xml version="1.0"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">' +
              '<SOAP-ENV:Body><cwmp:InformResponse/></SOAP-ENV:Body></SOAP-ENV:Envelope>';
            res.writeHead(200, { 'content-type': 'text/xml' }).end(xml);
            return true;
          }
          if (post.message === null) {
            h.acs.received.push(post);
            res.writeHead(200, { 'content-length': 0 }).end();
            return true;
          }
          return false;
        },
      },
    });
    try {
      const first = h.agent.nextSession();
      h.agent.start();
      const r = await first;
      assert.equal(r.ok, true, r.failure?.message);
      assert.deepEqual(h.agent.pendingEvents(), []);
      await h.validateAll();
    } finally {
      await h.close();
    }
  });
});
