import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CwmpFaultError, FAULTS, FaultCode, buildEnvelope, faultText, makeFault, parseEnvelope, soapFaultcodeFor } from './index.ts';

describe('fault registry', () => {
  it('has every standard code: CPE 9000-9032 and ACS 8000-8006', () => {
    for (let c = 9000; c <= 9032; c++) assert.ok(FAULTS.has(c), `missing ${c}`);
    for (let c = 8000; c <= 8006; c++) assert.ok(FAULTS.has(c), `missing ${c}`);
    assert.equal(FAULTS.size, 33 + 7);
    for (const [code, info] of FAULTS) assert.equal(info.origin, code >= 9000 ? 'CPE' : 'ACS');
  });

  it('classifies Client/Server per the TR-069 table', () => {
    for (const c of [9003, 9005, 9006, 9007, 9008, 9021, 9022, 9032, 8003]) assert.equal(soapFaultcodeFor(c), 'Client', String(c));
    for (const c of [9000, 9001, 9002, 9004, 9009, 9010, 9020, 8000, 8005, 8006]) assert.equal(soapFaultcodeFor(c), 'Server', String(c));
    assert.equal(soapFaultcodeFor(9850), 'Server');
  });

  it('faultText: standard, vendor and unknown codes', () => {
    assert.equal(faultText(9005), 'Invalid parameter name');
    assert.equal(faultText(8005), 'Retry request');
    assert.equal(faultText(9850), 'Vendor defined fault');
    assert.equal(faultText(12), 'Unknown fault');
  });

  it('makeFault builds a SoapFault that round-trips through the codec', () => {
    const f = makeFault(FaultCode.INVALID_ARGUMENTS, undefined, [{ parameterName: 'A.B', faultCode: 9007, faultString: 'bad' }]);
    assert.deepEqual(f, {
      method: 'Fault',
      faultcode: 'Client',
      faultstring: 'CWMP fault',
      faultCode: 9003,
      faultString: 'Invalid arguments',
      setParameterValuesFaults: [{ parameterName: 'A.B', faultCode: 9007, faultString: 'bad' }],
    });
    const xml = buildEnvelope({ header: { id: '1' }, body: f }, { version: '1.0' });
    assert.match(xml, /<faultcode>Client<\/faultcode><faultstring>CWMP fault<\/faultstring><detail><cwmp:Fault><FaultCode>9003<\/FaultCode>/);
    assert.deepEqual(parseEnvelope(xml).body, f);
  });

  it('CwmpFaultError carries the fault', () => {
    const e = new CwmpFaultError(9000);
    assert.ok(e instanceof Error);
    assert.equal(e.code, 9000);
    assert.equal(e.fault.faultString, 'Method not supported');
    assert.equal(e.fault.faultcode, 'Server');
    assert.match(e.message, /9000/);
  });
});
