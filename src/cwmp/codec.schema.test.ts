/**
 * Every message the codec builds, for every type and every version whose schema
 * has it, is valid against the BBF schema in strict envelope mode (xmllint-wasm,
 * one batch per version).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildEnvelope, makeFault, methodsInVersion, type CwmpEnvelope, type CwmpHeader, type CwmpVersion } from './index.ts';
import { SAMPLE_MESSAGES, sampleGpvResponse, sampleInform } from './samples.ts';
import { validateEnvelopes } from '../../test/helpers/schema.ts';

const VERSIONS: CwmpVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];

function headersFor(v: CwmpVersion): CwmpHeader[] {
  const hs: CwmpHeader[] = [{}, { id: 'req-1' }, { id: '', holdRequests: false }, { id: 'x&y', holdRequests: true }];
  if (v === '1.3' || v === '1.4') hs.push({ id: '9', sessionTimeout: 30 });
  if (v === '1.4') hs.push({ id: '10', sessionTimeout: 60, supportedCwmpVersions: '1.0,1.1,1.2,1.3,1.4' }, { id: '11', useCwmpVersion: '1.4', holdRequests: false });
  return hs;
}

function envelopesFor(v: CwmpVersion): { label: string; xml: string }[] {
  const out: { label: string; xml: string }[] = [];
  const headers = headersFor(v);
  let i = 0;
  const methods = [...methodsInVersion(v), 'Fault' as const];
  for (const m of methods) {
    // Rotate through the header variants so every header combination meets many bodies.
    const env: CwmpEnvelope = { header: headers[i++ % headers.length], body: SAMPLE_MESSAGES[m] };
    out.push({ label: `${m} ${JSON.stringify(env.header)}`, xml: buildEnvelope(env, { version: v }) });
  }
  for (const h of headers) out.push({ label: `header only ${JSON.stringify(h)}`, xml: buildEnvelope({ header: h, body: SAMPLE_MESSAGES.InformResponse }, { version: v }) });
  // Edge shapes: empty arrays, all value types, faults of both origins, escaping.
  const extra: CwmpEnvelope['body'][] = [
    { method: 'GetParameterValuesResponse', parameterList: [] },
    { ...sampleInform(), event: [], parameterList: [] },
    {
      method: 'SetParameterValues',
      parameterKey: '',
      parameterList: [
        { name: 'A.int', value: '-2147483648', type: 'int' },
        { name: 'A.uint', value: '4294967295', type: 'unsignedInt' },
        { name: 'A.long', value: '-9223372036854775808', type: 'long' },
        { name: 'A.ulong', value: '18446744073709551615', type: 'unsignedLong' },
        { name: 'A.bool', value: 'false', type: 'boolean' },
        { name: 'A.dt', value: '2025-01-01T00:00:00.123-05:30', type: 'dateTime' },
        { name: 'A.b64', value: 'SGVsbG8=', type: 'base64' },
        { name: 'A.hex', value: '00ff10AB', type: 'hexBinary' },
        { name: 'A.dec', value: '-12.50', type: 'decimal' },
        { name: 'A.str', value: '<&>"\'\r\n\t\u0085 é 中文 😀', type: 'string' },
        { name: 'A.untyped', value: 'x', type: 'string', untyped: true },
      ],
    },
    makeFault(8005),
    makeFault(9000, 'Method not supported'),
    { method: 'GetParameterAttributesResponse', parameterList: [{ name: 'A.', notification: 1, accessList: [] }] },
  ];
  if (v !== '1.0' && v !== '1.1') {
    extra.push({ method: 'SetParameterAttributes', parameterList: [{ name: 'A.', notificationChange: true, notification: 6, accessListChange: false, accessList: [] }] });
    extra.push({ ...SAMPLE_MESSAGES.Inform, event: [{ eventCode: '13 WAKEUP', commandKey: '' }, { eventCode: 'X 000B82 Custom', commandKey: 'k' }] } as CwmpEnvelope['body']);
  }
  if (v === '1.4') extra.push(makeFault(8006));
  for (const b of extra) out.push({ label: `extra ${b?.method}`, xml: buildEnvelope({ header: { id: 'e' }, body: b }, { version: v }) });
  return out;
}

describe('built envelopes validate against the BBF schema (strict)', () => {
  for (const v of VERSIONS) {
    it(`CWMP ${v}: every message type + header variants`, async () => {
      const items = envelopesFor(v);
      assert.ok(items.length > 40);
      const results = await validateEnvelopes(
        items.map((x) => x.xml),
        v,
      );
      const failures = results.map((r, i) => (r.valid ? null : `${items[i].label}:\n  ${r.errors.join('\n  ')}`)).filter((x) => x !== null);
      assert.deepEqual(failures, []);
    });
  }

  it('the 1,000-parameter GetParameterValuesResponse validates (1.2)', async () => {
    const [r] = await validateEnvelopes([buildEnvelope({ header: { id: 'big' }, body: sampleGpvResponse(1000) }, { version: '1.2' })], '1.2');
    assert.deepEqual(r.errors, []);
  });

  it('a 1.4-only header fails strict validation in 1.2 (the check can fail)', async () => {
    const xml14 = buildEnvelope({ header: { useCwmpVersion: '1.4' }, body: SAMPLE_MESSAGES.InformResponse }, { version: '1.4' });
    const [r] = await validateEnvelopes([xml14], '1.2');
    assert.equal(r.valid, false);
  });
});
