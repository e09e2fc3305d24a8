import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatBoolean, formatDateTime, normalizeDateTime, parseBoolean, parseXsdInteger, validateXsdValue, XSD_TYPES, type XsdType } from './index.ts';
import { validateEnvelopes } from '../../test/helpers/schema.ts';
import { xsdValue } from './arbitraries.ts';

const CANDIDATES: Record<XsdType, { valid: string[]; invalid: string[] }> = {
  string: { valid: ['', 'x', ' a b ', '<&>'], invalid: [] },
  int: { valid: ['0', '-2147483648', '2147483647', '+5', ' 7 ', '007'], invalid: ['2147483648', '-2147483649', '1.0', '', 'x', '1e3', '- 1'] },
  unsignedInt: { valid: ['0', '4294967295', '+1', '00'], invalid: ['-1', '4294967296', '', '0x10'] },
  long: { valid: ['-9223372036854775808', '9223372036854775807'], invalid: ['9223372036854775808', '1.5'] },
  unsignedLong: { valid: ['0', '18446744073709551615'], invalid: ['18446744073709551616', '-0.0', '-1'] },
  boolean: { valid: ['true', 'false', '1', '0', ' true '], invalid: ['TRUE', 'yes', '2', ''] },
  dateTime: {
    valid: ['0001-01-01T00:00:00Z', '2024-02-29T23:59:59.999+14:00', '2025-01-01T00:00:00', '2025-06-30T12:00:00-05:30', '2000-01-01T24:00:00Z', '-0044-03-15T12:00:00Z', '12345-01-01T00:00:00Z'],
    invalid: ['2023-02-29T00:00:00Z', '2025-13-01T00:00:00Z', '2025-01-01', '2025-01-01T25:00:00Z', '2025-01-01T00:60:00Z', '0000-01-01T00:00:00Z', '2025-01-01T00:00:00+15:00', '2025-1-01T00:00:00Z', '2025-01-01T24:00:01Z', ''],
  },
  base64: { valid: ['', 'AAAA', 'SGVsbG8=', 'SGk=', 'QQ==', 'SGVs bG8='], invalid: ['A', 'AAA', 'SGVsbG8', '====', 'QR==', 'a!bc'] },
  hexBinary: { valid: ['', '00', 'ffFF10', 'AB'], invalid: ['0', 'GG', '0x00', 'abc'] },
  decimal: { valid: ['0', '-1.5', '+.5', '3.', '0001.1000'], invalid: ['1e5', '.', '', 'NaN', '1,5'] },
};

describe('validateXsdValue', () => {
  for (const t of XSD_TYPES) {
    it(`${t}: accepts valid and refuses invalid lexical forms`, () => {
      for (const v of CANDIDATES[t].valid) assert.equal(validateXsdValue(t, v), null, `${t} ${JSON.stringify(v)} should be valid`);
      for (const v of CANDIDATES[t].invalid) assert.equal(typeof validateXsdValue(t, v), 'string', `${t} ${JSON.stringify(v)} should be invalid`);
    });
  }

  it('agrees with libxml2 (the schema validator) on every candidate and on generated values', async () => {
    const generated = XSD_TYPES.flatMap((t) => fc.sample(xsdValue(t), { numRuns: 15 }).map((v) => ({ t, v })));
    const cases = [...XSD_TYPES.flatMap((t) => [...CANDIDATES[t].valid, ...CANDIDATES[t].invalid].map((v) => ({ t, v }))), ...generated];
    const xsiType = (t: XsdType) => (t === 'base64' ? 'soap-enc:base64' : `xsd:${t}`);
    const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/\r/g, '&#13;');
    const xmls = cases.map(
      ({ t, v }) =>
        `<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap-env:Body><cwmp:GetParameterValuesResponse><ParameterList soap-enc:arrayType="cwmp:ParameterValueStruct[1]"><ParameterValueStruct><Name>A</Name><Value xsi:type="${xsiType(t)}">${esc(v)}</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse></soap-env:Body></soap-env:Envelope>`,
    );
    const results = await validateEnvelopes(xmls, '1.2');
    const disagreements = cases
      .map(({ t, v }, i) => ({ t, v, ours: validateXsdValue(t, v) === null, libxml2: results[i].valid, errors: results[i].errors }))
      .filter((c) => c.ours !== c.libxml2);
    assert.deepEqual(disagreements, []);
  });
});

describe('value helpers', () => {
  it('parseBoolean / formatBoolean', () => {
    assert.equal(parseBoolean('true'), true);
    assert.equal(parseBoolean(' 1 '), true);
    assert.equal(parseBoolean('False'), false);
    assert.equal(parseBoolean('0'), false);
    assert.equal(parseBoolean('yes'), null);
    assert.equal(formatBoolean(true), 'true');
    assert.equal(formatBoolean(false, 'digit'), '0');
  });

  it('normalizeDateTime converts offsets to Z and keeps fractions and Unknown Time', () => {
    assert.equal(normalizeDateTime('2024-01-02T03:04:05+02:00'), '2024-01-02T01:04:05Z');
    assert.equal(normalizeDateTime('2024-01-01T01:00:00.250+02:00'), '2023-12-31T23:00:00.25Z');
    assert.equal(normalizeDateTime('0001-01-01T00:00:00Z'), '0001-01-01T00:00:00Z');
    assert.equal(normalizeDateTime('2024-01-02T03:04:05'), '2024-01-02T03:04:05');
    assert.equal(normalizeDateTime('2024-01-02T03:04:05.000Z'), '2024-01-02T03:04:05Z');
    assert.throws(() => normalizeDateTime('yesterday'), RangeError);
  });

  it('normalizeDateTime output is a valid dateTime for any valid input', () => {
    fc.assert(
      fc.property(xsdValue('dateTime'), (v) => {
        assert.equal(validateXsdValue('dateTime', normalizeDateTime(v)), null);
      }),
    );
  });

  it('formatDateTime and parseXsdInteger', () => {
    assert.equal(formatDateTime(new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678))), '2025-01-02T03:04:05Z');
    assert.equal(parseXsdInteger(' 42 '), 42);
    assert.equal(parseXsdInteger('-0'), -0);
    assert.equal(parseXsdInteger('99999999999999999999'), null);
    assert.equal(parseXsdInteger('4.2'), null);
  });
});
