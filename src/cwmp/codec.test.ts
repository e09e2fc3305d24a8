import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CodecError,
  CWMP_NAMESPACES,
  buildEnvelope,
  methodsInVersion,
  namespaceForVersion,
  parseEnvelope,
  type CodecErrorCode,
  type CwmpEnvelope,
  type CwmpHeader,
  type CwmpMessage,
  type CwmpMethodName,
  type CwmpVersion,
} from './index.ts';
import { SAMPLE_MESSAGES } from './samples.ts';

const VERSIONS: CwmpVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];
const ALL_METHODS = Object.keys(SAMPLE_MESSAGES) as CwmpMethodName[];

function throwsCode(fn: () => unknown, code: CodecErrorCode, re?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CodecError, `expected CodecError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** Methods of the list in the spec (every CPE/ACS method and response) plus Fault, per version. */
function methodsFor(v: CwmpVersion): CwmpMethodName[] {
  return [...methodsInVersion(v), 'Fault'];
}

describe('round trip: every message type, every version it exists in', () => {
  it('covers every method of types.ts with a sample', () => {
    // 20 CPE methods + responses (40), 8 ACS methods + responses less the shared GetRPCMethods pair (14), Fault.
    assert.equal(ALL_METHODS.length, 55);
    assert.deepEqual(new Set(methodsFor('1.4')), new Set(ALL_METHODS));
  });

  for (const v of VERSIONS) {
    it(`CWMP ${v}: build -> parse is the identity, parse -> build -> parse is stable`, () => {
      const methods = methodsFor(v);
      assert.ok(methods.length >= 40);
      for (const m of methods) {
        const env: CwmpEnvelope = { header: { id: `id-${m}` }, body: SAMPLE_MESSAGES[m] };
        const xml = buildEnvelope(env, { version: v });
        const parsed = parseEnvelope(xml);
        assert.deepEqual(parsed.body, env.body, `${m} body in ${v}`);
        assert.deepEqual(parsed.header, env.header, `${m} header in ${v}`);
        assert.equal(parsed.namespace, namespaceForVersion(v));
        const xml2 = buildEnvelope(parsed, { version: v });
        assert.equal(xml2, xml, `${m}: rebuild of the parsed envelope is byte-identical`);
        assert.deepEqual(parseEnvelope(xml2).body, parsed.body);
      }
    });
  }

  it('refuses to build a method the version does not define', () => {
    throwsCode(() => buildEnvelope({ header: {}, body: SAMPLE_MESSAGES.ChangeDUState }, { version: '1.1' }), 'UNKNOWN_METHOD', /ChangeDUState/);
    throwsCode(() => buildEnvelope({ header: {}, body: SAMPLE_MESSAGES.GetAllQueuedTransfers }, { version: '1.0' }), 'UNKNOWN_METHOD');
    throwsCode(() => buildEnvelope({ header: {}, body: { method: 'Nope' } as unknown as CwmpMessage }, { version: '1.2' }), 'UNKNOWN_METHOD');
  });
});

describe('headers', () => {
  const full: CwmpHeader = { id: 'abc<&>', holdRequests: true, sessionTimeout: 60, supportedCwmpVersions: '1.0,1.1,1.2,1.3,1.4', useCwmpVersion: '1.4' };

  it('round-trips every header in 1.4 and detects the version', () => {
    const xml = buildEnvelope({ header: full, body: SAMPLE_MESSAGES.InformResponse }, { version: '1.4' });
    assert.match(xml, /<cwmp:ID soap-env:mustUnderstand="1">abc&lt;&amp;&gt;<\/cwmp:ID>/);
    assert.match(xml, /<cwmp:HoldRequests soap-env:mustUnderstand="1">true<\/cwmp:HoldRequests>/);
    assert.match(xml, /<cwmp:SessionTimeout soap-env:mustUnderstand="0">60<\/cwmp:SessionTimeout>/);
    assert.match(xml, /<cwmp:SupportedCWMPVersions soap-env:mustUnderstand="0">/);
    assert.match(xml, /<cwmp:UseCWMPVersion soap-env:mustUnderstand="1">1.4<\/cwmp:UseCWMPVersion>/);
    const p = parseEnvelope(xml);
    assert.deepEqual(p.header, full);
    assert.equal(p.version, '1.4');
  });

  it('version: 1.3 from SessionTimeout, 1.2 without, 1.0/1.1 from the namespace', () => {
    const v13 = parseEnvelope(buildEnvelope({ header: { sessionTimeout: 30 }, body: SAMPLE_MESSAGES.InformResponse }, { version: '1.3' }));
    assert.equal(v13.version, '1.3');
    const v12 = parseEnvelope(buildEnvelope({ header: { id: '1' }, body: SAMPLE_MESSAGES.InformResponse }, { version: '1.3' }));
    assert.equal(v12.version, '1.2');
    assert.equal(parseEnvelope(buildEnvelope({ header: {}, body: SAMPLE_MESSAGES.InformResponse }, { version: '1.0' })).version, '1.0');
    assert.equal(parseEnvelope(buildEnvelope({ header: {}, body: SAMPLE_MESSAGES.InformResponse }, { version: '1.1' })).version, '1.1');
  });

  it('refuses headers the version schema does not have (UNSUPPORTED_HEADER)', () => {
    const cases: [keyof CwmpHeader, CwmpHeader, CwmpVersion[]][] = [
      ['sessionTimeout', { sessionTimeout: 30 }, ['1.0', '1.1', '1.2']],
      ['supportedCwmpVersions', { supportedCwmpVersions: '1.0' }, ['1.0', '1.1', '1.2', '1.3']],
      ['useCwmpVersion', { useCwmpVersion: '1.2' }, ['1.0', '1.1', '1.2', '1.3']],
      ['noMoreRequests', { noMoreRequests: true }, VERSIONS],
    ];
    for (const [name, header, bad] of cases) {
      for (const v of VERSIONS) {
        const build = () => buildEnvelope({ header, body: SAMPLE_MESSAGES.InformResponse }, { version: v });
        if (bad.includes(v)) throwsCode(build, 'UNSUPPORTED_HEADER', new RegExp(name));
        else assert.doesNotThrow(build);
      }
    }
  });

  it('parses NoMoreRequests and HoldRequests in 0/1 form from peers', () => {
    const xml = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="${CWMP_NAMESPACES['1.0']}"><s:Header><c:NoMoreRequests>1</c:NoMoreRequests><c:HoldRequests s:mustUnderstand="1">0</c:HoldRequests></s:Header><s:Body/></s:Envelope>`;
    const p = parseEnvelope(xml);
    assert.deepEqual(p.header, { noMoreRequests: true, holdRequests: false });
    assert.equal(p.body, null);
    assert.equal(p.namespace, CWMP_NAMESPACES['1.0']);
  });
});

describe('empty bodies', () => {
  it('builds "" for no body and no header, parses ""/whitespace to body null', () => {
    assert.equal(buildEnvelope({ header: {}, body: null }, { version: '1.2' }), '');
    for (const s of ['', '   ', '\r\n\t ', '\uFEFF']) {
      const p = parseEnvelope(s);
      assert.equal(p.body, null);
      assert.equal(p.namespace, null);
      assert.deepEqual(p.header, {});
    }
    assert.equal(parseEnvelope(new Uint8Array(0)).body, null);
  });

  it('an envelope with a header and no body round-trips', () => {
    const xml = buildEnvelope({ header: { id: '7' }, body: null }, { version: '1.2' });
    const p = parseEnvelope(xml);
    assert.deepEqual(p, { header: { id: '7' }, body: null, namespace: CWMP_NAMESPACES['1.2'], version: '1.2' });
  });
});

describe('builder refuses values the schema forbids (INVALID_MESSAGE naming the field)', () => {
  const bad: [string, CwmpMessage, CwmpVersion, RegExp][] = [
    ['OUI pattern', { ...SAMPLE_MESSAGES.Inform, deviceId: { ...(SAMPLE_MESSAGES.Inform as { deviceId: object }).deviceId, oui: '00b0c2' } } as CwmpMessage, '1.2', /DeviceId\/OUI/],
    ['event code in 1.0', { ...SAMPLE_MESSAGES.Inform, event: [{ eventCode: '10 AUTONOMOUS TRANSFER COMPLETE', commandKey: '' }] } as CwmpMessage, '1.0', /EventCode/],
    ['CommandKey > 32', { method: 'Reboot', commandKey: 'x'.repeat(33) }, '1.2', /Reboot\/CommandKey/],
    ['empty ParameterNames', { method: 'GetParameterValues', parameterNames: [] }, '1.2', /ParameterNames/],
    ['ObjectName without dot', { method: 'AddObject', objectName: 'A.B', parameterKey: '' }, '1.2', /ObjectName/],
    ['Status 2', { method: 'SetParameterValuesResponse', status: 2 as 0 }, '1.2', /Status/],
    ['notification 4 in 1.1', { method: 'GetParameterAttributesResponse', parameterList: [{ name: 'A', notification: 4, accessList: [] }] }, '1.1', /Notification/],
    ['bad int value', { method: 'SetParameterValues', parameterList: [{ name: 'A', value: 'x', type: 'int' }], parameterKey: '' }, '1.2', /ParameterList\[0\]\/Value/],
    ['C0 control char', { method: 'SetParameterValues', parameterList: [{ name: 'A', value: 'a\u0001b', type: 'string' }], parameterKey: '' }, '1.2', /U\+0001/],
    ['lone surrogate', { method: 'GetParameterValues', parameterNames: ['\uD800'] }, '1.2', /U\+D800/],
    ['fault 9020 in 1.0', { ...SAMPLE_MESSAGES.Fault, faultCode: 9020 } as CwmpMessage, '1.0', /FaultCode/],
    ['SPV fault 8003 in 1.2', { ...SAMPLE_MESSAGES.Fault, setParameterValuesFaults: [{ parameterName: 'A', faultCode: 8003, faultString: '' }] } as CwmpMessage, '1.2', /SetParameterValuesFault/],
    ['TransferComplete 9013', { ...SAMPLE_MESSAGES.TransferComplete, faultStruct: { faultCode: 9013, faultString: '' } } as CwmpMessage, '1.2', /FaultStruct\/FaultCode/],
    ['too many time windows', { ...SAMPLE_MESSAGES.ScheduleDownload, timeWindowList: [1, 2, 3].map(() => ({ windowStart: 0, windowEnd: 1, windowMode: '1 At Any Time', userMessage: '', maxRetries: 0 })) } as CwmpMessage, '1.2', /TimeWindowList/],
    ['bad UUID', { method: 'ChangeDUState', operations: [{ op: 'Uninstall', uuid: 'nope' }], commandKey: '' }, '1.2', /Operations\[0\]\/UUID/],
    ['bad dateTime', { ...SAMPLE_MESSAGES.TransferComplete, startTime: '2025-13-01T00:00:00Z' } as CwmpMessage, '1.2', /StartTime/],
    ['missing field', { method: 'Reboot' } as CwmpMessage, '1.2', /CommandKey/],
    ['AccessList value', { method: 'GetParameterAttributesResponse', parameterList: [{ name: 'A', notification: 0, accessList: ['Admin'] }] }, '1.2', /AccessList/],
  ];
  for (const [name, body, v, re] of bad) {
    it(name, () => throwsCode(() => buildEnvelope({ header: {}, body }, { version: v }), 'INVALID_MESSAGE', re));
  }

  it('escapes the five XML specials, CR and C1 controls', () => {
    const body: CwmpMessage = { method: 'SetParameterValues', parameterList: [{ name: 'A', value: `<a href="x">&'\r\n\u0085\t`, type: 'string' }], parameterKey: '' };
    const xml = buildEnvelope({ header: {}, body }, { version: '1.2' });
    assert.match(xml, /<Value xsi:type="xsd:string">&lt;a href=&quot;x&quot;&gt;&amp;&apos;&#13;\n&#133;\t<\/Value>/);
    assert.deepEqual(parseEnvelope(xml).body, body);
  });

  it('arrayType carries the item count and the right base type', () => {
    const xml = buildEnvelope({ header: {}, body: SAMPLE_MESSAGES.Inform }, { version: '1.2' });
    assert.match(xml, /<Event soap-enc:arrayType="cwmp:EventStruct\[2\]">/);
    assert.match(xml, /<ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct\[10\]">/);
    const gpv = buildEnvelope({ header: {}, body: SAMPLE_MESSAGES.GetParameterValues }, { version: '1.0' });
    assert.match(gpv, /<ParameterNames soap-enc:arrayType="xsd:string\[2\]">/);
    assert.match(gpv, /xmlns:cwmp="urn:dslforum-org:cwmp-1-0"/);
    const v = buildEnvelope({ header: {}, body: SAMPLE_MESSAGES.SetVouchers }, { version: '1.0' });
    assert.match(v, /<VoucherList soap-enc:arrayType="soap-enc:base64\[2\]">/);
  });
});

describe('parser: values and types', () => {
  const wrap = (inner: string, ns: string = CWMP_NAMESPACES['1.2']) =>
    `<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="${ns}"><soapenv:Body>${inner}</soapenv:Body></soapenv:Envelope>`;

  it('xsi:type: known, missing (untyped), unknown (rawType), base64 aliases, unbound prefix', () => {
    const xml = wrap(`<cwmp:GetParameterValuesResponse><ParameterList>
      <ParameterValueStruct><Name>a</Name><Value xsi:type="xsd:unsignedLong">18446744073709551615</Value></ParameterValueStruct>
      <ParameterValueStruct><Name>b</Name><Value>plain</Value></ParameterValueStruct>
      <ParameterValueStruct><Name>c</Name><Value xsi:type="xsd:IPAddress">10.0.0.1</Value></ParameterValueStruct>
      <ParameterValueStruct><Name>d</Name><Value xsi:type="xsd:base64Binary">AAEC</Value></ParameterValueStruct>
      <ParameterValueStruct><Name>e</Name><Value xsi:type="xs:boolean">1</Value></ParameterValueStruct>
      <ParameterValueStruct><Name>f</Name><Value xsi:type="xsd:dateTime">0001-01-01T00:00:00Z</Value></ParameterValueStruct>
      <ParameterValueStruct><Name>g</Name><Value xsi:type="xsd:string"> keep  spaces </Value></ParameterValueStruct>
      <ParameterValueStruct><Name>h</Name><Value xsi:type="xsd:string"/></ParameterValueStruct>
    </ParameterList></cwmp:GetParameterValuesResponse>`);
    const body = parseEnvelope(xml).body;
    assert.deepEqual(body, {
      method: 'GetParameterValuesResponse',
      parameterList: [
        { name: 'a', value: '18446744073709551615', type: 'unsignedLong' },
        { name: 'b', value: 'plain', type: 'string', untyped: true },
        { name: 'c', value: '10.0.0.1', type: 'string', rawType: 'xsd:IPAddress' },
        { name: 'd', value: 'AAEC', type: 'base64' },
        { name: 'e', value: '1', type: 'boolean' },
        { name: 'f', value: '0001-01-01T00:00:00Z', type: 'dateTime' },
        { name: 'g', value: ' keep  spaces ', type: 'string' },
        { name: 'h', value: '', type: 'string' },
      ],
    });
  });

  it('arrayType count mismatch and missing arrayType are accepted; a single EventStruct is an array of one', () => {
    const xml = wrap(`<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><OUI>000B82</OUI><ProductClass>P</ProductClass><SerialNumber>S</SerialNumber></DeviceId>
      <Event soap-enc:arrayType="cwmp:EventStruct[5]" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><EventStruct><EventCode>2 PERIODIC</EventCode><CommandKey/></EventStruct></Event>
      <MaxEnvelopes>1</MaxEnvelopes><CurrentTime>2025-01-01T00:00:00Z</CurrentTime><RetryCount>3</RetryCount>
      <ParameterList><ParameterValueStruct><Name>x</Name><Value xsi:type="xsd:int">-5</Value></ParameterValueStruct></ParameterList></cwmp:Inform>`);
    const p = parseEnvelope(xml);
    assert.equal(p.body?.method, 'Inform');
    if (p.body?.method !== 'Inform') return;
    assert.deepEqual(p.body.event, [{ eventCode: '2 PERIODIC', commandKey: '' }]);
    assert.equal(p.body.retryCount, 3);
    assert.deepEqual(p.body.parameterList, [{ name: 'x', value: '-5', type: 'int' }]);
  });

  it('InformResponse without MaxEnvelopes defaults to 1 (CPE tolerance)', () => {
    assert.deepEqual(parseEnvelope(wrap('<cwmp:InformResponse/>')).body, { method: 'InformResponse', maxEnvelopes: 1 });
  });

  it('refuses bad typed fields with INVALID_MESSAGE and the path', () => {
    throwsCode(() => parseEnvelope(wrap('<cwmp:SetParameterValuesResponse><Status>7</Status></cwmp:SetParameterValuesResponse>')), 'INVALID_MESSAGE', /SetParameterValuesResponse\/Status/);
    throwsCode(() => parseEnvelope(wrap('<cwmp:GetParameterNames><ParameterPath>A.</ParameterPath><NextLevel>maybe</NextLevel></cwmp:GetParameterNames>')), 'INVALID_MESSAGE', /NextLevel/);
    throwsCode(() => parseEnvelope(wrap('<cwmp:InformResponse><MaxEnvelopes>4294967296</MaxEnvelopes></cwmp:InformResponse>')), 'INVALID_MESSAGE', /MaxEnvelopes/);
    throwsCode(() => parseEnvelope(wrap('<cwmp:Reboot/><cwmp:Reboot/>')), 'INVALID_MESSAGE', /one RPC/);
    throwsCode(() => parseEnvelope(wrap('<cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Value>1</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>')), 'INVALID_MESSAGE', /ParameterList\[0\]\/Name/);
  });

  it('error paths are exact at every depth (built only when a message fails)', () => {
    const failure = (fn: () => unknown): { path: string | undefined; message: string } => {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof CodecError && e.code === 'INVALID_MESSAGE', String(e));
        return { path: e.path, message: e.message };
      }
      assert.fail('no error');
    };
    const cases: [string, () => unknown, string, string][] = [
      [
        'repeated element item',
        () => parseEnvelope(wrap('<cwmp:ChangeDUState><Operations xsi:type="cwmp:InstallOpStruct"><URL>http://a</URL></Operations><Operations xsi:type="cwmp:Nope"/><CommandKey/></cwmp:ChangeDUState>')),
        'ChangeDUState/Operations[1]',
        'xsi:type "cwmp:Nope" is not InstallOpStruct, UpdateOpStruct or UninstallOpStruct',
      ],
      ['repeated element count', () => parseEnvelope(wrap('<cwmp:ChangeDUState><CommandKey/></cwmp:ChangeDUState>')), 'ChangeDUState/Operations', 'at least 1 expected'],
      [
        'array item field',
        () =>
          parseEnvelope(
            wrap(
              `<cwmp:GetParameterAttributesResponse><ParameterList>${['0', '1', 'x'].map((n) => `<ParameterAttributeStruct><Name>A</Name><Notification>${n}</Notification><AccessList/></ParameterAttributeStruct>`).join('')}</ParameterList></cwmp:GetParameterAttributesResponse>`,
            ),
          ),
        'GetParameterAttributesResponse/ParameterList[2]/Notification',
        '"x" is not an integer',
      ],
      ['struct field', () => parseEnvelope(wrap('<cwmp:Inform><DeviceId><Manufacturer>M</Manufacturer><ProductClass>P</ProductClass><SerialNumber>S</SerialNumber></DeviceId><CurrentTime>2020-01-01T00:00:00Z</CurrentTime></cwmp:Inform>')), 'Inform/DeviceId/OUI', 'missing'],
      ['header', () => parseEnvelope(wrap('<cwmp:Reboot/>').replace('<soapenv:Body>', '<soapenv:Header><cwmp:HoldRequests>maybe</cwmp:HoldRequests></soapenv:Header><soapenv:Body>')), 'Header/HoldRequests', '"maybe" is not a boolean'],
      [
        'built name too long',
        () => buildEnvelope({ header: {}, body: { method: 'SetParameterValues', parameterList: [{ name: 'A', value: '', type: 'string' }, { name: 'B'.repeat(300), value: '', type: 'string' }], parameterKey: '' } }, { version: '1.2' }),
        'SetParameterValues/ParameterList[1]/Name',
        '300 characters, at most 256 allowed',
      ],
      [
        'built value: an illegal character is reported before the length',
        () => buildEnvelope({ header: {}, body: { method: 'SetParameterValues', parameterList: [{ name: `${'N'.repeat(300)}\u0001`, value: '', type: 'string' }], parameterKey: '' } }, { version: '1.2' }),
        'SetParameterValues/ParameterList[0]/Name',
        'character U+0001 at index 300 cannot be carried by XML 1.0',
      ],
      [
        'built struct in array',
        () => buildEnvelope({ header: {}, body: { ...SAMPLE_MESSAGES.ScheduleDownload, timeWindowList: [{ windowStart: -1, windowEnd: 1, windowMode: '1 At Any Time', userMessage: '', maxRetries: 0 }] } as CwmpMessage }, { version: '1.2' }),
        'ScheduleDownload/TimeWindowList[0]/WindowStart',
        '-1 is out of range 0..4294967295',
      ],
      [
        'built repeated element',
        () => buildEnvelope({ header: {}, body: { method: 'ChangeDUState', operations: [{ op: 'Uninstall', uuid: '6ba7b810-9dad-11d1-80b4-00c04fd430c8' }, { op: 'Nope' }], commandKey: '' } as unknown as CwmpMessage }, { version: '1.2' }),
        'ChangeDUState/Operations[1]',
        'op must be Install, Update or Uninstall',
      ],
      ['built header', () => buildEnvelope({ header: { id: 7 as unknown as string }, body: null }, { version: '1.2' }), 'Header/ID', 'expected a string, got number'],
      ['built PVS value type', () => buildEnvelope({ header: {}, body: { method: 'GetParameterValuesResponse', parameterList: [{ name: 'A', value: 'x', type: 'int' }] } }, { version: '1.2' }), 'GetParameterValuesResponse/ParameterList[0]/Value', '"x": not an xsd:int (digits with optional sign)'],
    ];
    for (const [name, fn, path, reason] of cases) {
      assert.deepEqual(failure(fn), { path, message: `INVALID_MESSAGE: ${path}: ${reason}` }, name);
    }
  });

  it('GetParameterNames with xsi:nil ParameterPath (1.0/1.1 nillable) gives ""', () => {
    const p = parseEnvelope(wrap('<cwmp:GetParameterNames><ParameterPath xsi:nil="true"/><NextLevel>false</NextLevel></cwmp:GetParameterNames>', CWMP_NAMESPACES['1.0']));
    assert.deepEqual(p.body, { method: 'GetParameterNames', parameterPath: '', nextLevel: false });
  });

  it('SOAP faults: prefixed faultcode, SOAP 1.2-style names, no detail', () => {
    const f = (code: string, detail: string) => wrap(`<soapenv:Fault><faultcode>${code}</faultcode><faultstring>CWMP fault</faultstring>${detail}</soapenv:Fault>`);
    const d = '<detail><cwmp:Fault><FaultCode>8005</FaultCode><FaultString>Retry request</FaultString></cwmp:Fault></detail>';
    const p = parseEnvelope(f('soapenv:Server', d));
    assert.deepEqual(p.body, { method: 'Fault', faultcode: 'Server', faultstring: 'CWMP fault', faultCode: 8005, faultString: 'Retry request', setParameterValuesFaults: [] });
    assert.equal(p.namespace, CWMP_NAMESPACES['1.2']);
    assert.equal((parseEnvelope(f('SOAP-ENV:Client', d)).body as { faultcode: string }).faultcode, 'Client');
    throwsCode(() => parseEnvelope(f('Server', '')), 'INVALID_MESSAGE', /cwmp:Fault/);
  });
});
