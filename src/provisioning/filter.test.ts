/**
 * Device filters (filter.ts): `matchesFilter`, the quick yes/no every session asks of every
 * preset, must agree with `explainFilter`, which dry runs use to say why.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DeviceFilter, ParameterConditionSpec } from '../store/provisioning/types.ts';
import { explainFilter, matchesFilter, type DeviceFacts } from './filter.ts';

const few = <T>(arb: fc.Arbitrary<T>) => fc.option(fc.array(arb, { maxLength: 3 }), { nil: undefined });
const word = fc.constantFrom('a', 'b', 'HT502', 'GXP2140', '000B82', '000b82');
const version = fc.constantFrom('1.0.3.10', '1.0.4', '2.0', '0.9');
const condition: fc.Arbitrary<ParameterConditionSpec> = fc.record(
  {
    name: fc.constantFrom('Device.X', 'Device.Y'),
    op: fc.constantFrom('eq', 'ne', 'prefix', 'lt', 'gt', 'lte', 'gte', 'exists', 'absent'),
    value: fc.oneof(fc.constantFrom('1', '10', 'a'), fc.integer({ min: -2, max: 12 })),
  },
  { requiredKeys: ['name', 'op'] },
);
const filter: fc.Arbitrary<DeviceFilter> = fc.record(
  {
    ids: few(word),
    oui: few(word),
    productClass: few(word),
    manufacturer: few(word),
    serialNumber: few(word),
    tags: fc.option(fc.record({ all: few(word), any: few(word), none: few(word) }, { requiredKeys: [] }), { nil: undefined }),
    softwareVersion: fc.option(fc.record({ gte: version, lt: version }, { requiredKeys: [] }), { nil: undefined }),
    parameters: fc.option(fc.array(condition, { maxLength: 2 }), { nil: undefined }),
  },
  { requiredKeys: [] },
);
const facts: fc.Arbitrary<DeviceFacts> = fc
  .record({
    id: word,
    oui: word,
    productClass: word,
    manufacturer: word,
    serialNumber: word,
    softwareVersion: fc.option(version, { nil: null }),
    tags: fc.array(word, { maxLength: 3 }),
    x: fc.option(fc.constantFrom('1', '5', 'abc', ''), { nil: undefined }),
  })
  .map(({ x, ...rest }) => ({ ...rest, parameter: (n: string) => (n === 'Device.X' ? x : undefined) }));

describe('device filters', () => {
  it('matchesFilter agrees with explainFilter (property)', () => {
    fc.assert(
      fc.property(filter, facts, (f, d) => {
        assert.equal(matchesFilter(f, d), explainFilter(f, d).length === 0);
      }),
      { numRuns: 300 },
    );
  });

  it('an empty filter matches; each failing field is a reason', () => {
    const d: DeviceFacts = { id: 'D', oui: '000B82', productClass: 'HT502', manufacturer: 'Grandstream', serialNumber: 'S', softwareVersion: '1.0', tags: ['lab'], parameter: () => undefined };
    assert.equal(matchesFilter({}, d), true);
    const f: DeviceFilter = { oui: ['000b82'], productClass: ['GXP2140'], tags: { none: ['lab'] } };
    assert.equal(matchesFilter(f, d), false);
    assert.equal(explainFilter(f, d).length, 2, 'OUI compared case-insensitively; product class and tag fail');
  });
});
