/**
 * Property-based tests (fast-check):
 *  - build-then-parse is the identity for arbitrary messages of every version;
 *  - arbitrary built messages validate against the BBF schema (one xmllint batch per version);
 *  - random bytes, random XML-ish text and mutated valid envelopes never make the
 *    parser throw anything but CodecError.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError, buildEnvelope, decodeHttpBody, parseEnvelope, type CwmpVersion } from './index.ts';
import { envelopeArbitrary, headerArbitrary, messageArbitrary } from './arbitraries.ts';
import { SAMPLE_MESSAGES } from './samples.ts';
import { validateEnvelopes } from '../../test/helpers/schema.ts';

const RUNS = 300;
const VERSIONS: CwmpVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];

/** Runs `fn`; passes when it returns or throws a CodecError, fails on anything else. */
function onlyCodecErrors(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof CodecError) return true;
    throw new Error(`non-CodecError thrown: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

describe('codec properties', () => {
  it('build -> parse is the identity (arbitrary messages, headers, unicode, all value types)', () => {
    fc.assert(
      fc.property(envelopeArbitrary, ({ version, envelope }) => {
        const xml = buildEnvelope(envelope, { version });
        const parsed = parseEnvelope(xml);
        assert.deepEqual(parsed.body, envelope.body);
        assert.deepEqual(parsed.header, envelope.header);
        // parse -> build is stable (byte-identical) once a message has been through the codec.
        assert.equal(buildEnvelope(parsed, { version }), xml);
      }),
      { numRuns: RUNS },
    );
  });

  it('the same holds through bytes: UTF-8 / gzip encoding and decodeHttpBody', async () => {
    const { gzipSync } = await import('node:zlib');
    fc.assert(
      fc.property(envelopeArbitrary, fc.boolean(), ({ version, envelope }, gzip) => {
        const bytes = Buffer.from(buildEnvelope(envelope, { version }), 'utf8');
        const body = gzip ? gzipSync(bytes) : bytes;
        const parsed = parseEnvelope(decodeHttpBody(body, { contentEncoding: gzip ? 'gzip' : undefined, contentType: 'text/xml; charset="utf-8"' }));
        assert.deepEqual(parsed.body, envelope.body);
      }),
      { numRuns: 100 },
    );
  });

  for (const v of VERSIONS) {
    it(`arbitrary messages built for ${v} validate against the BBF schema (strict)`, async () => {
      const samples = fc.sample(fc.record({ header: headerArbitrary(v), body: messageArbitrary(v) }, { noNullPrototype: true }), { numRuns: 60 });
      const xmls = samples.map((e) => buildEnvelope(e, { version: v }));
      const results = await validateEnvelopes(xmls, v);
      const failures = results.flatMap((r, i) => (r.valid ? [] : [`${r.errors.join('; ')}\n${xmls[i]}`]));
      assert.deepEqual(failures, []);
    });
  }

  it('random bytes never throw anything but CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.constantFrom(undefined, 'gzip', 'deflate', 'br', 'weird'), (bytes, enc) => {
        onlyCodecErrors(() => parseEnvelope(bytes));
        onlyCodecErrors(() => parseEnvelope(decodeHttpBody(bytes, { contentEncoding: enc, contentType: 'text/xml; charset=utf-8' })));
      }),
      { numRuns: RUNS },
    );
  });

  const TOKENS = [
    '<', '>', '</', '/>', '&', '&amp;', '&#0;', '&#x1F600;', '&bogus;', '<!DOCTYPE x>', '<!ENTITY e "x">', '<![CDATA[', ']]>', '<!--', '-->', '<?xml version="1.0"?>',
    '"', "'", '=', 'xmlns:x="urn:x"', 'xmlns=""', 'xsi:type="xsd:int"', 'xsi:type="q:"', 'soap-enc:arrayType="x[1]"', '\uFEFF', '\u0000', '\uD800', '\r', 'Envelope',
    'Body', 'Header', 'cwmp:', '<a>', '</a>', '<Value>', '</Value>', '<Name>', '<ParameterValueStruct>', 'urn:dslforum-org:cwmp-1-3', '9999999999999',
  ];
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ unit: 'binary', maxLength: 4 })) }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 80 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );
  function mutate(s: string, muts: fc.Arbitrary<never>[] | { kind: string; at: number; len?: number; text?: string }[]): string {
    let out = s;
    for (const m of muts as { kind: string; at: number; len?: number; text?: string }[]) {
      const at = out.length === 0 ? 0 : m.at % out.length;
      if (m.kind === 'delete') out = out.slice(0, at) + out.slice(at + (m.len ?? 1));
      else if (m.kind === 'insert') out = out.slice(0, at) + (m.text ?? '') + out.slice(at);
      else if (m.kind === 'duplicate') out = out.slice(0, at) + out.slice(at, at + (m.len ?? 1)) + out.slice(at);
      else out = out.slice(0, at);
    }
    return out;
  }

  it('mutated valid envelopes never throw anything but CodecError', () => {
    const bases = VERSIONS.flatMap((v) =>
      [SAMPLE_MESSAGES.Inform, SAMPLE_MESSAGES.SetParameterValues, SAMPLE_MESSAGES.Fault, SAMPLE_MESSAGES.GetParameterValuesResponse].map((b) =>
        buildEnvelope({ header: { id: '1', ...(v === '1.4' ? { sessionTimeout: 30, supportedCwmpVersions: '1.4' } : {}) }, body: b }, { version: v === '1.1' || v === '1.0' ? v : v }),
      ),
    );
    let parsedOk = 0;
    fc.assert(
      fc.property(fc.constantFrom(...bases), fc.array(mutation, { minLength: 1, maxLength: 4 }), (base, muts) => {
        const s = mutate(base, muts);
        try {
          parseEnvelope(s);
          parsedOk++;
        } catch (e) {
          if (!(e instanceof CodecError)) throw new Error(`non-CodecError for mutated input: ${e instanceof Error ? e.stack : String(e)}\n${s}`);
        }
        onlyCodecErrors(() => parseEnvelope(Buffer.from(s, 'latin1')));
      }),
      { numRuns: RUNS * 2 },
    );
    // Some mutations are harmless (inside text), so both outcomes must have happened.
    assert.ok(parsedOk > 0 && parsedOk < RUNS * 2, `parsedOk=${parsedOk}`);
  });

  it('random XML-ish token soup never throws anything but CodecError', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...TOKENS, 'x', ' ', 'soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"'), { maxLength: 60 }), (parts) => {
        onlyCodecErrors(() => parseEnvelope(parts.join('')));
      }),
      { numRuns: RUNS },
    );
  });

  it('building arbitrary garbage objects throws only CodecError', () => {
    fc.assert(
      fc.property(fc.constantFrom(...VERSIONS), fc.constantFrom(...Object.keys(SAMPLE_MESSAGES)), fc.anything(), (version, method, junk) => {
        const body = { ...(SAMPLE_MESSAGES as Record<string, object>)[method], ...(typeof junk === 'object' && junk !== null ? junk : { value: junk }) };
        onlyCodecErrors(() => buildEnvelope({ header: {}, body: body as never }, { version }));
      }),
      { numRuns: RUNS },
    );
  });
});
