import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertValidEnvelope, checkMustUnderstand, validateEnvelope, validateEnvelopes } from './schema.ts';

const sample = (name: string) => readFileSync(new URL(`../../standards/bbf/validate/${name}`, import.meta.url), 'utf8');

describe('schema helper', () => {
  it('validates the BBF samples like validate-cwmp.mjs does', async () => {
    const [good, bad, typo] = await validateEnvelopes([sample('inform-1-2.xml'), sample('inform-1-2-bad.xml'), sample('inform-1-2-typo.xml')], '1.2');
    assert.deepEqual(good, { valid: true, errors: [] });
    assert.equal(bad.valid, false);
    assert.ok(bad.errors.some((e) => /arrayType' is required but missing/.test(e)), bad.errors.join('\n'));
    assert.ok(bad.errors.some((e) => /mustUnderstand="0"/.test(e)), 'mustUnderstand checked by the helper');
    assert.equal(typo.valid, false);
    assert.ok(typo.errors.some((e) => /Infrom/.test(e)));
  });

  it('lax mode skips undeclared body elements, strict mode does not', async () => {
    assert.equal((await validateEnvelope(sample('inform-1-2-typo.xml'), '1.2', { strict: false })).valid, true);
    assert.equal((await validateEnvelope(sample('inform-1-2-typo.xml'), '1.2')).valid, false);
  });

  it('1.4 headers are valid in 1.4 and refused in 1.2 (strict)', async () => {
    const x = sample('setparameterattributes-1-4.xml');
    await assertValidEnvelope(x, '1.4');
    await assert.rejects(assertValidEnvelope(x, '1.2'), /not valid CWMP 1.2/);
    await assertValidEnvelope(sample('cwmp-fault-8006-1-4.xml'), '1.4');
  });

  it('checkMustUnderstand', () => {
    const env = (h: string) => `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-2"><s:Header>${h}</s:Header><s:Body/></s:Envelope>`;
    assert.deepEqual(checkMustUnderstand(env('<c:ID s:mustUnderstand="1">1</c:ID>')), []);
    assert.equal(checkMustUnderstand(env('<c:ID>1</c:ID>')).length, 1);
    assert.equal(checkMustUnderstand(env('<c:HoldRequests s:mustUnderstand="true">1</c:HoldRequests>')).length, 1);
    assert.equal(checkMustUnderstand(env('<c:SessionTimeout s:mustUnderstand="1">30</c:SessionTimeout>')).length, 1);
    assert.deepEqual(checkMustUnderstand(env('<c:SessionTimeout>30</c:SessionTimeout>')), []);
    assert.equal(checkMustUnderstand(env('<c:UseCWMPVersion s:mustUnderstand="0">1.4</c:UseCWMPVersion>')).length, 1);
  });

  it('reports malformed input as invalid instead of throwing', async () => {
    const r = await validateEnvelope('<a><b></a>', '1.2');
    assert.equal(r.valid, false);
    assert.ok(r.errors.length > 0);
  });
});
