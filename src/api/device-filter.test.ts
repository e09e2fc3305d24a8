import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseParameterFilter } from './device-filter.ts';
import { ApiError } from './errors.ts';

describe('parseParameterFilter()', () => {
  it('reads name, op and a text value that may contain spaces', () => {
    assert.deepEqual(parseParameterFilter('Device.DeviceInfo.ModelName eq HT 502'), { name: 'Device.DeviceInfo.ModelName', op: 'eq', value: 'HT 502' });
    assert.deepEqual(parseParameterFilter('Device.X prefix 1.0.'), { name: 'Device.X', op: 'prefix', value: '1.0.' });
  });

  it('reads numbers for ordering ops only', () => {
    assert.deepEqual(parseParameterFilter('Device.X gte 300'), { name: 'Device.X', op: 'gte', value: 300 });
    assert.deepEqual(parseParameterFilter('Device.X lt -1.5e2'), { name: 'Device.X', op: 'lt', value: -150 });
    assert.deepEqual(parseParameterFilter('Device.X eq 300'), { name: 'Device.X', op: 'eq', value: '300' });
    assert.deepEqual(parseParameterFilter('Device.X gt 1.0.5'), { name: 'Device.X', op: 'gt', value: '1.0.5' });
    assert.deepEqual(parseParameterFilter('Device.X gt 007'), { name: 'Device.X', op: 'gt', value: '007' });
  });

  it('reads quoted values as JSON strings (text comparison, empty string)', () => {
    assert.deepEqual(parseParameterFilter('Device.X gt "10"'), { name: 'Device.X', op: 'gt', value: '10' });
    assert.deepEqual(parseParameterFilter('Device.X eq ""'), { name: 'Device.X', op: 'eq', value: '' });
    assert.deepEqual(parseParameterFilter('Device.X eq "a \\"b\\""'), { name: 'Device.X', op: 'eq', value: 'a "b"' });
  });

  it('rejects malformed expressions with INVALID_FILTER naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['Device.X', /expected "<parameter name> <op> <value>"/],
      [' eq 1', /expected/],
      ['Device.X like 1', /unknown op "like"/],
      ['Device.X eq', /value is missing/],
      ['Device. eq 1', /object path/],
      ['Device.X eq "unterminated', /quoted value/],
    ];
    for (const [expr, message] of cases) {
      assert.throws(
        () => parseParameterFilter(expr),
        (err: unknown) => err instanceof ApiError && err.code === 'INVALID_FILTER' && message.test(err.message) && err.message.includes(expr),
        expr,
      );
    }
  });
});
