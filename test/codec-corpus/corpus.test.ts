/**
 * Corpus of what peers really send (accept-*) and what must be refused (refuse-*),
 * each run through the HTTP path: decodeHttpBody(bytes, headers) -> parseEnvelope.
 * Large hostile inputs (deep nesting, 50 MB, gzip bomb, too many items) are
 * generated here rather than stored.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { CodecError, CWMP_NAMESPACES, decodeHttpBody, parseEnvelope, type CodecErrorCode, type ParsedEnvelope } from '../../src/cwmp/index.ts';

const DIR = new URL('./', import.meta.url);
const HTTP_LIMIT_MS = 2000; // generous: the machine is shared; refusals measured here take a few ms

interface Headers {
  contentEncoding?: string;
  contentType?: string;
}

function run(bytes: Uint8Array, headers: Headers = {}): ParsedEnvelope {
  return parseEnvelope(decodeHttpBody(bytes, headers));
}

function file(name: string): Uint8Array {
  return readFileSync(new URL(name, DIR));
}

function informOf(p: ParsedEnvelope) {
  assert.equal(p.body?.method, 'Inform');
  if (p.body?.method !== 'Inform') throw new Error('not an Inform');
  return p.body;
}

type Accepted = { headers?: Headers; check: (p: ParsedEnvelope) => void };
const ACCEPTED: Record<string, Accepted> = {
  'accept-prefix-soapenv-cwmp-1-0.xml': {
    check: (p) => {
      assert.equal(p.namespace, CWMP_NAMESPACES['1.0']);
      assert.equal(p.version, '1.0');
      assert.deepEqual(p.header, { id: '42' });
      assert.equal(informOf(p).deviceId.oui, '000B82');
    },
  },
  'accept-prefix-SOAP-ENV-cwmp-1-1.xml': { check: (p) => assert.equal(p.version, '1.1') },
  'accept-prefix-none-default-namespaces.xml': {
    check: (p) => {
      assert.equal(p.namespace, CWMP_NAMESPACES['1.2']);
      assert.equal(informOf(p).parameterList.length, 2);
    },
  },
  'accept-prefix-cwmp1-cwmp-1-2.xml': { check: (p) => assert.equal(informOf(p).event[1].eventCode, '2 PERIODIC') },
  'accept-latin1-charset-in-http-header.xml': {
    headers: { contentType: 'text/xml; charset="ISO-8859-1"' },
    check: (p) => assert.equal(informOf(p).deviceId.manufacturer, 'Télécom Société'),
  },
  'accept-latin1-charset-in-xml-decl.xml': { check: (p) => assert.equal(informOf(p).deviceId.manufacturer, 'Télécom Société') },
  'accept-utf8-no-charset.xml': { headers: { contentType: 'text/xml' }, check: (p) => assert.equal(informOf(p).deviceId.manufacturer, 'Télécom Société 中文') },
  'accept-utf8-bom.xml': { check: (p) => assert.equal(informOf(p).deviceId.manufacturer, 'Télécom Société') },
  'accept-unlabelled-latin1-fallback.xml': { check: (p) => assert.equal(informOf(p).deviceId.manufacturer, 'Télécom Société') },
  'accept-utf16-bom.xml': { check: (p) => assert.equal(informOf(p).deviceId.manufacturer, 'Télécom Société') },
  'accept-gzip.xml.gz': { headers: { contentEncoding: 'gzip' }, check: (p) => assert.equal(informOf(p).deviceId.productClass, 'GXP2140') },
  'accept-deflate.xml.deflate': { headers: { contentEncoding: 'deflate' }, check: (p) => assert.equal(informOf(p).deviceId.productClass, 'GXP2140') },
  'accept-whitespace-only-body.xml': { headers: { contentType: 'text/xml' }, check: (p) => assert.deepEqual(p, { header: {}, body: null, namespace: null, version: '1.0' }) },
  'accept-missing-xsi-type.xml': {
    check: (p) => {
      const last = informOf(p).parameterList[2];
      assert.deepEqual(last, { name: 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval', value: '86400', type: 'string', untyped: true });
    },
  },
  'accept-arraytype-count-mismatch.xml': { check: (p) => assert.equal(informOf(p).event.length, 2) },
  'accept-single-eventstruct.xml': { check: (p) => assert.deepEqual(informOf(p).event, [{ eventCode: '6 CONNECTION REQUEST', commandKey: '' }]) },
  'accept-unknown-xsi-type.xml': {
    check: (p) => assert.deepEqual(informOf(p).parameterList[2], { name: 'X.IP', value: '10.0.0.1', type: 'string', rawType: 'cwmp:IPAddress' }),
  },
  'accept-empty-body-element.xml': { check: (p) => assert.equal(p.body, null) },
  'accept-cdata-and-comments.xml': { check: (p) => assert.equal(informOf(p).parameterList[2].value, 'a<b&c') },
  'accept-fault-spv.xml': {
    check: (p) =>
      assert.deepEqual(p.body, {
        method: 'Fault',
        faultcode: 'Client',
        faultstring: 'CWMP fault',
        faultCode: 9003,
        faultString: 'Invalid arguments',
        setParameterValuesFaults: [{ parameterName: 'InternetGatewayDevice.ManagementServer.PeriodicInformInterval', faultCode: 9007, faultString: 'Invalid value' }],
      }),
  },
};

const REFUSED: Record<string, { code: CodecErrorCode; headers?: Headers }> = {
  'refuse-truncated.xml': { code: 'MALFORMED_XML' },
  'refuse-dtd.xml': { code: 'DTD_FORBIDDEN' },
  'refuse-billion-laughs.xml': { code: 'DTD_FORBIDDEN' },
  'refuse-external-entity.xml': { code: 'DTD_FORBIDDEN' },
  'refuse-wrong-namespace.xml': { code: 'UNKNOWN_NAMESPACE' },
  'refuse-soap12-envelope.xml': { code: 'NOT_SOAP' },
  'refuse-unknown-method.xml': { code: 'UNKNOWN_METHOD' },
  'refuse-undefined-entity.xml': { code: 'MALFORMED_XML' },
  'refuse-not-xml.xml': { code: 'MALFORMED_XML' },
  'refuse-no-body.xml': { code: 'NOT_SOAP' },
  'refuse-bad-utf8-declared.xml': { code: 'BAD_ENCODING' },
  'refuse-unknown-charset.xml': { code: 'BAD_ENCODING' },
  'refuse-unbound-prefix.xml': { code: 'MALFORMED_XML' },
  'refuse-missing-required-field.xml': { code: 'INVALID_MESSAGE' },
};

function refusedWith(fn: () => unknown, code: CodecErrorCode): void {
  const t0 = performance.now();
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CodecError, `expected CodecError ${code}, got ${e instanceof Error ? e.stack : String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
  const ms = performance.now() - t0;
  assert.ok(ms < HTTP_LIMIT_MS, `refusal took ${ms.toFixed(0)} ms`);
}

describe('codec corpus', () => {
  it('every file in the corpus is in the table (and every table entry has a file)', () => {
    const files = readdirSync(DIR).filter((f) => f.startsWith('accept-') || f.startsWith('refuse-'));
    assert.deepEqual(new Set(files), new Set([...Object.keys(ACCEPTED), ...Object.keys(REFUSED)]));
  });

  describe('accepted variants', () => {
    for (const [name, { headers, check }] of Object.entries(ACCEPTED)) {
      it(name, () => check(run(file(name), headers)));
    }
    it('gzip body without Content-Encoding header is recognised by its magic bytes', () => {
      assert.equal(informOf(run(file('accept-gzip.xml.gz'))).deviceId.productClass, 'GXP2140');
    });
    it('raw bytes given to parseEnvelope directly use the BOM / XML declaration', () => {
      assert.equal(informOf(parseEnvelope(file('accept-latin1-charset-in-xml-decl.xml'))).deviceId.manufacturer, 'Télécom Société');
      assert.equal(informOf(parseEnvelope(file('accept-utf8-bom.xml'))).deviceId.manufacturer, 'Télécom Société');
    });
  });

  describe('refused inputs (CodecError code, bounded time)', () => {
    for (const [name, { code, headers }] of Object.entries(REFUSED)) {
      it(`${name} -> ${code}`, () => refusedWith(() => run(file(name), headers), code));
    }

    it('10,000-deep nesting -> TOO_DEEP', () => {
      const depth = 10_000;
      const deep = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</soapenv:Body></soapenv:Envelope>`;
      refusedWith(() => parseEnvelope(deep), 'TOO_DEEP');
    });

    it('50 MB body -> TOO_LARGE (string, bytes, HTTP path)', () => {
      const big = 50 * 1024 * 1024;
      const s = `<a>${'x'.repeat(big)}</a>`;
      refusedWith(() => parseEnvelope(s), 'TOO_LARGE');
      const bytes = new Uint8Array(big);
      refusedWith(() => parseEnvelope(bytes), 'TOO_LARGE');
      refusedWith(() => run(bytes, { contentType: 'text/xml' }), 'TOO_LARGE');
    });

    it('gzip bomb (50 MB of zeros in ~50 KB) -> TOO_LARGE without inflating it all', () => {
      const bomb = gzipSync(new Uint8Array(50 * 1024 * 1024));
      assert.ok(bomb.length < 100_000);
      refusedWith(() => run(bomb, { contentEncoding: 'gzip' }), 'TOO_LARGE');
    });

    it('more than maxItems parameters -> TOO_MANY_ITEMS', () => {
      const item = '<ParameterValueStruct><Name>a</Name><Value>1</Value></ParameterValueStruct>';
      const xml = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="${CWMP_NAMESPACES['1.2']}"><s:Body><c:GetParameterValuesResponse><ParameterList>${item.repeat(101)}</ParameterList></c:GetParameterValuesResponse></s:Body></s:Envelope>`;
      refusedWith(() => parseEnvelope(xml, { maxItems: 100 }), 'TOO_MANY_ITEMS');
      assert.equal((parseEnvelope(xml, { maxItems: 101 }).body as { parameterList: unknown[] }).parameterList.length, 101);
      const defaultLimit = 20_000;
      const many = xml.replace(item.repeat(101), item.repeat(defaultLimit + 1));
      refusedWith(() => parseEnvelope(many), 'TOO_MANY_ITEMS');
    });

    it('a custom maxBytes / maxDepth applies', () => {
      const xml = readFileSync(new URL('accept-prefix-soapenv-cwmp-1-0.xml', DIR), 'utf8');
      refusedWith(() => parseEnvelope(xml, { maxBytes: 100 }), 'TOO_LARGE');
      refusedWith(() => parseEnvelope(xml, { maxDepth: 4 }), 'TOO_DEEP');
      assert.equal(parseEnvelope(xml, { maxDepth: 6 }).body?.method, 'Inform');
    });
  });
});
