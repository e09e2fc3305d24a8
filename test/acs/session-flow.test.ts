/**
 * Session engine: the TR-069 session flow, CPE-originated methods, HoldRequests, versions and
 * namespaces, session binding edge cases, and the ACS faults 8000-8006. Driven with XML strings;
 * every ACS message is validated against the BBF schema at the end of each test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { ScriptedCpe, makeEngine, informMessage, deviceIdOf, methodOf, faultCodeOf, param } from './engine-harness.ts';
import type { Store } from '../../src/store/types.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

const T = (serial: string) => deviceIdOf(serial);

describe('session flow', () => {
  it('bootstrap Inform: InformResponse echoes the ID, 204 ends, the device and its Inform are stored', async () => {
    const { engine, store, clock } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    const ir = await cpe.send(informMessage({ events: ['0 BOOTSTRAP', '1 BOOT'] }), { id: 'inform-42' });
    assert.equal(ir.reply.status, 200);
    assert.match(ir.reply.headers['content-type'], /^text\/xml/);
    assert.equal(ir.parsed?.body?.method, 'InformResponse');
    assert.equal(ir.parsed?.header.id, 'inform-42');
    assert.equal(ir.parsed?.body?.method === 'InformResponse' && ir.parsed.body.maxEnvelopes, 1);
    assert.equal(ir.parsed?.header.holdRequests, undefined);
    assert.ok(cpe.session);
    clock.advance(1000);
    const end = await cpe.send(null);
    assert.equal(end.reply.status, 204);
    assert.equal(end.reply.body, '');
    assert.equal(cpe.session, null);

    const d = await store.getDevice(T('SN0001'));
    assert.ok(d);
    assert.equal(d.softwareVersion, '1.0.3.10');
    assert.equal(d.hardwareVersion, 'V2.1A');
    assert.equal(d.connectionRequestUrl, 'http://10.0.0.5:7547/cr-SN0001');
    assert.equal(d.lastBootstrap, '2025-06-01T10:00:00.000Z');
    assert.equal(d.lastBoot, '2025-06-01T10:00:00.000Z');
    assert.equal(d.firstContact, '2025-06-01T10:00:00.000Z');
    assert.equal(d.sourceAddress, '10.0.0.5');
    assert.equal(d.cwmpVersion, '1.0');
    const params = await store.getParameters(d.id);
    assert.deepEqual(params.map((p) => p.name).sort(), [
      'InternetGatewayDevice.DeviceInfo.HardwareVersion',
      'InternetGatewayDevice.DeviceInfo.SoftwareVersion',
      'InternetGatewayDevice.ManagementServer.ConnectionRequestURL',
      'InternetGatewayDevice.ManagementServer.PeriodicInformInterval',
    ]);
    assert.equal(params.find((p) => p.name.endsWith('PeriodicInformInterval'))?.type, 'unsignedInt');
    const { sessions } = await store.listSessions({ deviceId: d.id });
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0].outcome, 'completed');
    assert.deepEqual(sessions[0].events.map((e) => e.eventCode), ['0 BOOTSTRAP', '1 BOOT']);
    assert.equal(sessions[0].endedAt, '2025-06-01T10:00:01.000Z');
    // the lock was released with the commit
    assert.deepEqual(await store.acquireSessionLock(d.id, 'someone', 1000), { acquired: true });
    assert.deepEqual(cpe.notices.map((n) => n.type), ['session-started', 'session-ended']);
    await cpe.assertAllValid();
  });

  it('periodic Inform of a never-seen device creates it; a later boot keeps firstContact and updates lastBoot', async () => {
    const { engine, store, clock } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    assert.equal(methodOf(await cpe.informAndEmpty({ events: ['2 PERIODIC'] })), '204');
    let d = await store.getDevice(T('SN0001'));
    assert.equal(d?.lastBoot, null);
    assert.equal(d?.lastBootstrap, null);
    clock.advance(60_000);
    await cpe.informAndEmpty({ events: ['1 BOOT', ['M Reboot', 'k1']] });
    d = await store.getDevice(T('SN0001'));
    assert.equal(d?.firstContact, '2025-06-01T10:00:00.000Z');
    assert.equal(d?.lastBoot, '2025-06-01T10:01:00.000Z');
    assert.equal(d?.lastContact, '2025-06-01T10:01:00.000Z');
    const { sessions } = await store.listSessions({ deviceId: T('SN0001') });
    assert.deepEqual(sessions[0].events, [{ eventCode: '1 BOOT', commandKey: '' }, { eventCode: 'M Reboot', commandKey: 'k1' }]);
    await cpe.assertAllValid();
  });

  it('0 BOOTSTRAP drops the stored parameter tree of a factory-reset device', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await cpe.informAndEmpty({ parameters: [param('InternetGatewayDevice.X_Old', 'stale'), param('InternetGatewayDevice.DeviceInfo.SoftwareVersion', '1')] });
    await cpe.informAndEmpty({ events: ['0 BOOTSTRAP', '1 BOOT'], parameters: [param('InternetGatewayDevice.DeviceInfo.SoftwareVersion', '2')] });
    const names = (await store.getParameters(T('SN0001'))).map((p) => `${p.name}=${p.value}`);
    assert.deepEqual(names, ['InternetGatewayDevice.DeviceInfo.SoftwareVersion=2']);
    await cpe.assertAllValid();
  });

  it('answers every CPE-originated method (CWMP 1.2)', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    await cpe.send(informMessage({ events: ['7 TRANSFER COMPLETE', '10 AUTONOMOUS TRANSFER COMPLETE', '11 DU STATE CHANGE COMPLETE'] }));
    const rpc = await cpe.send({ method: 'GetRPCMethods' });
    assert.equal(rpc.parsed?.body?.method, 'GetRPCMethodsResponse');
    if (rpc.parsed?.body?.method === 'GetRPCMethodsResponse') {
      assert.deepEqual([...rpc.parsed.body.methodList].sort(), [
        'AutonomousDUStateChangeComplete', 'AutonomousTransferComplete', 'DUStateChangeComplete', 'GetRPCMethods', 'Inform', 'Kicked', 'RequestDownload', 'TransferComplete',
      ]);
    }
    const fault = { faultCode: 0, faultString: '' };
    const times = { startTime: '2025-06-01T09:59:00Z', completeTime: '2025-06-01T09:59:30Z' };
    const op = {
      uuid: '6ba7b810-9dad-11d1-80b4-00c04fd430c8', deploymentUnitRef: '', version: '1.0', currentState: 'Installed', resolved: true,
      executionUnitRefList: '', startTime: times.startTime, completeTime: times.completeTime, fault,
    };
    const cases: [Parameters<ScriptedCpe['send']>[0], string][] = [
      [{ method: 'TransferComplete', commandKey: 'none', faultStruct: fault, ...times }, 'TransferCompleteResponse'],
      [{ method: 'AutonomousTransferComplete', announceURL: '', transferURL: 'http://f/x.bin', isDownload: true, fileType: '1 Firmware Upgrade Image', fileSize: 10, targetFileName: '', faultStruct: fault, ...times }, 'AutonomousTransferCompleteResponse'],
      [{ method: 'RequestDownload', fileType: '3 Vendor Configuration File', fileTypeArg: [{ name: 'Version', value: '2' }] }, 'RequestDownloadResponse'],
      [{ method: 'DUStateChangeComplete', results: [op], commandKey: 'dk' }, 'DUStateChangeCompleteResponse'],
      [{ method: 'AutonomousDUStateChangeComplete', results: [{ ...op, operationPerformed: 'Install' }] }, 'AutonomousDUStateChangeCompleteResponse'],
    ];
    for (const [msg, expected] of cases) {
      const ex = await cpe.send(msg, { id: `req-${expected}` });
      assert.equal(methodOf(ex), expected);
      assert.equal(ex.parsed?.header.id, `req-${expected}`);
    }
    const kicked = await cpe.send({ method: 'Kicked', command: 'login', referer: 'http://portal/', arg: 'a=1', next: 'http://portal/next' });
    assert.equal(methodOf(kicked), 'KickedResponse');
    assert.equal(kicked.parsed?.body?.method === 'KickedResponse' && kicked.parsed.body.nextURL, 'http://portal/next');
    assert.equal(methodOf(await cpe.send(null)), '204');
    const cpeRequests = cpe.notices.filter((n) => n.type === 'cpe-request').map((n) => (n.type === 'cpe-request' ? n.method : ''));
    assert.deepEqual(cpeRequests, ['AutonomousTransferComplete', 'RequestDownload', 'AutonomousDUStateChangeComplete', 'Kicked']);
    await cpe.assertAllValid();
  });

  it('GetRPCMethods in CWMP 1.0 lists only the 1.0 ACS methods', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.0' });
    await cpe.send(informMessage());
    const rpc = await cpe.send({ method: 'GetRPCMethods' });
    assert.ok(rpc.parsed?.body?.method === 'GetRPCMethodsResponse');
    assert.equal(rpc.parsed.body.methodList.includes('DUStateChangeComplete'), false);
    assert.equal(rpc.parsed.body.methodList.includes('TransferComplete'), true);
    await cpe.assertAllValid();
  });

  it('a failed AutonomousTransferComplete is recorded as a device fault', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.1' });
    await cpe.send(informMessage({ events: ['10 AUTONOMOUS TRANSFER COMPLETE'] }));
    await cpe.send({
      method: 'AutonomousTransferComplete', announceURL: '', transferURL: 'http://f/x.bin', isDownload: true, fileType: '1 Firmware Upgrade Image',
      fileSize: 0, targetFileName: '', faultStruct: { faultCode: 9018, faultString: 'corrupted' }, startTime: '2025-06-01T09:59:00Z', completeTime: '2025-06-01T09:59:30Z',
    });
    const { faults } = await store.listFaults({ deviceId: T('SN0001') });
    assert.equal(faults.length, 1);
    assert.equal(faults[0].code, '9018');
    assert.equal(faults[0].source, 'cpe');
    await cpe.assertAllValid();
  });
});

describe('HoldRequests', () => {
  it('is set when an operator waits for a task, and a CPE request in the held POST gets 8001', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    await cpe.informAndEmpty();
    await store.createTask({ deviceId: T('SN0001'), payload: { type: 'getRPCMethods' }, connectionRequest: true });
    const ir = await cpe.send(informMessage({ events: ['6 CONNECTION REQUEST'] }));
    assert.equal(ir.parsed?.header.holdRequests, true);
    const denied = await cpe.send({ method: 'GetRPCMethods' }, { id: 'held' });
    assert.equal(faultCodeOf(denied), 8001);
    assert.equal(denied.parsed?.header.id, 'held');
    // the hold applies to one POST only: the next request is answered
    assert.equal(methodOf(await cpe.send({ method: 'GetRPCMethods' })), 'GetRPCMethodsResponse');
    const rpc = await cpe.send(null);
    assert.equal(methodOf(rpc), 'GetRPCMethods');
    await cpe.assertAllValid();
  });

  it('is not set without a waiting operator, nor when the Inform announces a transfer completion', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    await cpe.informAndEmpty();
    await store.createTask({ deviceId: T('SN0001'), payload: { type: 'getRPCMethods' } });
    const plain = await cpe.send(informMessage({ events: ['2 PERIODIC'] }));
    assert.equal(plain.parsed?.header.holdRequests, undefined);
    await cpe.send(null);
    await cpe.send(null);
    await store.createTask({ deviceId: T('SN0001'), payload: { type: 'getRPCMethods' }, connectionRequest: true });
    const tc = await cpe.send(informMessage({ events: ['6 CONNECTION REQUEST', '7 TRANSFER COMPLETE', ['M Download', 'x']] }));
    assert.equal(tc.parsed?.header.holdRequests, undefined);
    await cpe.assertAllValid();
  });
});

describe('versions and namespaces', () => {
  const rawInform = (ns: string, prefix: string, header = '') => `<?xml version="1.0"?>
<${prefix}:Envelope xmlns:${prefix}="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"
  xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cw="${ns}">
 <${prefix}:Header><cw:ID ${prefix}:mustUnderstand="1">raw-1</cw:ID>${header}</${prefix}:Header>
 <${prefix}:Body><cw:Inform>
  <DeviceId><Manufacturer>Grandstream</Manufacturer><OUI>000B82</OUI><ProductClass>HT502</ProductClass><SerialNumber>NS1</SerialNumber></DeviceId>
  <Event soapenc:arrayType="cw:EventStruct[2]"><EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey></CommandKey></EventStruct></Event>
  <MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2025-06-01T10:00:00Z</CurrentTime><RetryCount>0</RetryCount>
  <ParameterList soapenc:arrayType="cw:ParameterValueStruct[1]"><ParameterValueStruct><Name>Device.DeviceInfo.SoftwareVersion</Name><Value>9.9</Value></ParameterValueStruct></ParameterList>
 </cw:Inform></${prefix}:Body></${prefix}:Envelope>`;

  for (const [version, ns, prefix] of [
    ['1.0', 'urn:dslforum-org:cwmp-1-0', 'SOAP-ENV'],
    ['1.1', 'urn:dslforum-org:cwmp-1-1', 'soapenv'],
    ['1.2', 'urn:dslforum-org:cwmp-1-2', 's'],
  ] as const) {
    it(`answers a CWMP ${version} Inform (prefix ${prefix}, untyped value, wrong arrayType count) in its namespace`, async () => {
      const { engine, store } = makeEngine();
      const cpe = new ScriptedCpe(engine, { version });
      const ex = await cpe.send(rawInform(ns, prefix));
      assert.equal(methodOf(ex), 'InformResponse');
      assert.equal(ex.parsed?.namespace, ns);
      assert.equal(ex.parsed?.header.id, 'raw-1');
      assert.equal(methodOf(await cpe.send(null)), '204');
      const d = await store.getDevice(deviceIdOf('NS1'));
      assert.equal(d?.softwareVersion, '9.9');
      assert.equal(d?.cwmpVersion, version);
      const [p] = await store.getParameters(deviceIdOf('NS1'));
      assert.equal(p.type, null, 'a value sent without xsi:type is stored untyped');
      await cpe.assertAllValid();
    });
  }

  it('CWMP 1.4: UseCWMPVersion picks the highest common version; the session continues in it', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    const ex = await cpe.send(rawInform('urn:dslforum-org:cwmp-1-2', 'soap-env', '<cw:SupportedCWMPVersions soap-env:mustUnderstand="0">1.0,1.1,1.2,1.3,1.4</cw:SupportedCWMPVersions>'));
    assert.equal(methodOf(ex), 'InformResponse');
    assert.equal(ex.parsed?.header.useCwmpVersion, '1.4');
    assert.match(ex.reply.body, /<cwmp:UseCWMPVersion soap-env:mustUnderstand="1">1\.4<\/cwmp:UseCWMPVersion>/);
    assert.equal(cpe.session?.version, '1.4');
    await cpe.send(null);
    assert.equal((await store.getDevice(deviceIdOf('NS1')))?.cwmpVersion, '1.4');
    await cpe.assertAllValid();
  });

  it('CWMP 1.4: an ACS restricted to 1.0-1.2 answers UseCWMPVersion 1.2', async () => {
    const { engine } = makeEngine({ versions: ['1.0', '1.1', '1.2'] });
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    const ex = await cpe.send(rawInform('urn:dslforum-org:cwmp-1-2', 'soap-env', '<cw:SupportedCWMPVersions soap-env:mustUnderstand="0">1.2,1.3,1.4</cw:SupportedCWMPVersions>'));
    assert.equal(ex.parsed?.header.useCwmpVersion, '1.2');
    assert.equal(cpe.session?.version, '1.2');
    await cpe.assertAllValid();
  });

  it('8006 when the CPE supports no version of ours', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine, { version: '1.2' });
    const ex = await cpe.send(rawInform('urn:dslforum-org:cwmp-1-2', 'soap-env', '<cw:SupportedCWMPVersions soap-env:mustUnderstand="0">2.0,2.1</cw:SupportedCWMPVersions>'));
    assert.equal(faultCodeOf(ex), 8006);
    assert.equal(ex.parsed?.header.id, 'raw-1');
    assert.equal(cpe.session, null);
    await cpe.assertAllValid();
  });
});

describe('session binding edge cases', () => {
  it('a stale session (ended) with a new Inform starts a new session', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await cpe.send(informMessage());
    const old = cpe.session!;
    await cpe.send(null);
    cpe.session = old; // the CPE presents the cookie of the finished session
    const ex = await cpe.send(informMessage({ events: ['2 PERIODIC'] }));
    assert.equal(methodOf(ex), 'InformResponse');
    assert.notEqual(cpe.session?.id, old.id);
    assert.equal(methodOf(await cpe.send(null)), '204');
    await cpe.assertAllValid();
  });

  it('a second Inform in a live session closes the old session as aborted and starts a new one', async () => {
    const { engine, store } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await cpe.send(informMessage());
    const first = cpe.session!;
    const ex = await cpe.send(informMessage({ events: ['2 PERIODIC'] }));
    assert.equal(methodOf(ex), 'InformResponse');
    assert.notEqual(cpe.session?.id, first.id);
    assert.equal(first.phase, 'ended');
    await cpe.send(null);
    const { sessions } = await store.listSessions({ deviceId: T('SN0001') });
    assert.deepEqual(sessions.map((s) => s.outcome), ['completed', 'aborted']);
    assert.match(sessions[1].detail ?? '', /superseded/);
    await cpe.assertAllValid();
  });

  it('a concurrent Inform for a device in session gets 503 with Retry-After', async () => {
    const { engine } = makeEngine({ busyRetryAfterSeconds: 7 });
    const a = new ScriptedCpe(engine);
    const b = new ScriptedCpe(engine, { remoteAddress: '10.0.0.99' });
    await a.send(informMessage());
    const busy = await b.send(informMessage());
    assert.equal(busy.reply.status, 503);
    assert.equal(busy.reply.headers['retry-after'], '7');
    assert.equal(b.session, null);
    assert.equal(methodOf(await a.send(null)), '204');
    assert.equal(methodOf(await b.send(informMessage())), 'InformResponse');
    await a.assertAllValid();
    await b.assertAllValid();
  });

  it('an empty POST without a session is answered 204', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    assert.equal(methodOf(await cpe.send(null)), '204');
    await cpe.assertAllValid();
  });

  it('decodes gzip bodies', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    const { buildEnvelope } = await import('../../src/cwmp/codec.ts');
    const xml = buildEnvelope({ header: { id: 'gz' }, body: informMessage() }, { version: '1.0' });
    const ex = await cpe.send(gzipSync(Buffer.from(xml)), {}, { contentEncoding: 'gzip' });
    assert.equal(methodOf(ex), 'InformResponse');
    assert.equal(ex.parsed?.header.id, 'gz');
    await cpe.assertAllValid();
  });
});

describe('ACS faults when the CPE breaks the rules', () => {
  it('8003: a first message that is not an Inform', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    const ex = await cpe.send({ method: 'TransferComplete', commandKey: 'k', faultStruct: { faultCode: 0, faultString: '' }, startTime: '2025-06-01T09:00:00Z', completeTime: '2025-06-01T09:00:01Z' }, { id: 'tc' });
    assert.equal(faultCodeOf(ex), 8003);
    assert.equal(ex.parsed?.body?.method === 'Fault' && ex.parsed.body.faultcode, 'Client');
    assert.equal(ex.parsed?.header.id, 'tc');
    assert.equal(cpe.session, null);
    await cpe.assertAllValid();
  });

  it('8003: malformed XML, and the session goes on', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await cpe.send(informMessage());
    const ex = await cpe.send('<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body><oops');
    assert.equal(faultCodeOf(ex), 8003);
    assert.ok(cpe.session);
    assert.equal(methodOf(await cpe.send(null)), '204');
    await cpe.assertAllValid();
  });

  it('8003: an Inform without OUI/SerialNumber; and a DTD is refused', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    const bad = informMessage({ serial: '' });
    assert.equal(faultCodeOf(await cpe.send(bad)), 8003);
    const dtd = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>';
    assert.equal(faultCodeOf(await cpe.send(dtd)), 8003);
    await cpe.assertAllValid();
  });

  it('8003: a response when no ACS request is outstanding', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await cpe.send(informMessage());
    const ex = await cpe.send({ method: 'RebootResponse' });
    assert.equal(faultCodeOf(ex), 8003);
    await cpe.assertAllValid();
  });

  it('8000: an unknown method, and a CPE-side method sent as a request', async () => {
    const { engine } = makeEngine();
    const cpe = new ScriptedCpe(engine);
    await cpe.send(informMessage());
    const unknown = `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
      <soap-env:Body><cwmp:X_Vendor_Frobnicate/></soap-env:Body></soap-env:Envelope>`;
    assert.equal(faultCodeOf(await cpe.send(unknown)), 8000);
    const reboot = await cpe.send({ method: 'Reboot', commandKey: 'x' }, { id: 'r1' });
    assert.equal(faultCodeOf(reboot), 8000);
    assert.equal(reboot.parsed?.header.id, 'r1');
    assert.equal(methodOf(await cpe.send(null)), '204');
    await cpe.assertAllValid();
  });

  it('8004: a body over the size limit', async () => {
    const { engine } = makeEngine({ maxBodyBytes: 2048 });
    const cpe = new ScriptedCpe(engine);
    const big = informMessage({ parameters: Array.from({ length: 50 }, (_, i) => param(`Device.X.${i}`, 'v'.repeat(50))) });
    const ex = await cpe.send(big);
    assert.equal(faultCodeOf(ex), 8004);
    await cpe.assertAllValid();
  });

  it('8002: the store fails when the session starts', async () => {
    const real = openSqliteStore({ file: ':memory:' });
    const broken: Store = Object.assign(Object.create(real) as Store, {
      acquireSessionLock: async () => {
        throw new Error('disk on fire');
      },
    });
    const { engine } = makeEngine({}, broken);
    const cpe = new ScriptedCpe(engine);
    const ex = await cpe.send(informMessage(), { id: 'i1' });
    assert.equal(faultCodeOf(ex), 8002);
    assert.equal(ex.parsed?.header.id, 'i1');
    assert.equal(cpe.session, null);
    await cpe.assertAllValid();
  });

  it('8005: the store cannot record a TransferComplete; the CPE resends it and it is recorded', async () => {
    const real = openSqliteStore({ file: ':memory:' });
    let failCommits = false;
    const flaky: Store = Object.assign(Object.create(real) as Store, {
      commitSession: async (c: Parameters<Store['commitSession']>[0]) => {
        if (failCommits) throw new Error('database is locked');
        return real.commitSession(c);
      },
    });
    const { engine } = makeEngine({}, flaky);
    const cpe = new ScriptedCpe(engine);
    await cpe.informAndEmpty();
    const task = await real.createTask({ deviceId: T('SN0001'), payload: { type: 'download', fileType: '1 Firmware Upgrade Image', url: 'http://files/fw.bin', commandKey: 'fw1' } });
    const dl = await cpe.informAndEmpty({ events: ['2 PERIODIC'] });
    assert.equal(methodOf(dl), 'Download');
    assert.equal(methodOf(await cpe.answer(dl, { method: 'DownloadResponse', status: 1, startTime: '0001-01-01T00:00:00Z', completeTime: '0001-01-01T00:00:00Z' })), '204');
    await cpe.send(informMessage({ events: ['7 TRANSFER COMPLETE', ['M Download', 'fw1']] }));
    const tc = { method: 'TransferComplete' as const, commandKey: 'fw1', faultStruct: { faultCode: 0, faultString: '' }, startTime: '2025-06-01T10:01:00Z', completeTime: '2025-06-01T10:02:00Z' };
    failCommits = true;
    const retry = await cpe.send(tc, { id: 'tc1' });
    assert.equal(faultCodeOf(retry), 8005);
    assert.equal((await real.getTask(task.id))?.status, 'running');
    failCommits = false;
    assert.equal(methodOf(await cpe.send(tc, { id: 'tc2' })), 'TransferCompleteResponse');
    const done = await real.getTask(task.id);
    assert.equal(done?.status, 'done');
    assert.deepEqual((done?.result as { transfer: unknown }).transfer, { faultCode: 0, faultString: '', startTime: '2025-06-01T10:01:00Z', completeTime: '2025-06-01T10:02:00Z' });
    await cpe.assertAllValid();
  });
});
