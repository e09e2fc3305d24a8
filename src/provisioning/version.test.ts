import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareVersions, versionInRange } from './version.ts';

describe('compareVersions', () => {
  it('compares segments numerically, not as text', () => {
    assert.ok(compareVersions('1.0.3.10', '1.0.10.0') < 0);
    assert.ok(compareVersions('1.0.10.0', '1.0.3.10') > 0);
    assert.ok(compareVersions('1.0.1.26', '1.0.1.9') > 0);
    assert.ok(compareVersions('1.0.6.12', '1.0.6.12') === 0);
  });

  it('treats missing trailing segments as zero', () => {
    assert.equal(compareVersions('1.0', '1.0.0.0'), 0);
    assert.ok(compareVersions('1.0.0.1', '1.0') > 0);
  });

  it('orders letters after numbers and compares text case-insensitively', () => {
    assert.ok(compareVersions('1.0.4.2b', '1.0.4.2') > 0);
    assert.ok(compareVersions('1.0.4.2a', '1.0.4.2b') < 0);
    assert.equal(compareVersions('2.0-RC1', '2.0-rc1'), 0);
    assert.ok(compareVersions('2.0-rc1', '2.0-rc2') < 0);
  });

  it('handles numbers beyond double precision', () => {
    assert.ok(compareVersions('1.99999999999999999999', '1.99999999999999999998') > 0);
  });

  const version = fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 5 }).map((a) => a.join('.'));

  it('is antisymmetric and reflexive (property)', () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        // `+ 0`: equal versions give 0 both ways, and -0 is not strictly equal to 0
        assert.equal(Math.sign(compareVersions(a, b)), -Math.sign(compareVersions(b, a)) + 0);
        assert.equal(compareVersions(a, a), 0);
      }),
      { numRuns: 200 },
    );
  });

  it('is transitive and agrees with numeric tuple order (property)', () => {
    const tuple = (v: string) => v.split('.').map(Number).concat([0, 0, 0, 0, 0]).slice(0, 5);
    const lex = (a: number[], b: number[]) => {
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return Math.sign(a[i] - b[i]);
      return 0;
    };
    fc.assert(
      fc.property(version, version, version, (a, b, c) => {
        assert.equal(Math.sign(compareVersions(a, b)), lex(tuple(a), tuple(b)));
        if (compareVersions(a, b) <= 0 && compareVersions(b, c) <= 0) assert.ok(compareVersions(a, c) <= 0);
      }),
      { numRuns: 200 },
    );
  });
});

describe('versionInRange', () => {
  it('checks every bound', () => {
    assert.equal(versionInRange('1.0.3.10', { gte: '1.0.3.10', lt: '1.0.10.0' }), true);
    assert.equal(versionInRange('1.0.10.0', { gte: '1.0.3.10', lt: '1.0.10.0' }), false);
    assert.equal(versionInRange('1.0.2.99', { gte: '1.0.3.10' }), false);
    assert.equal(versionInRange('1.0.1', { ne: '1.0.1.0' }), false);
  });

  it('fails on an unknown version unless there is no bound', () => {
    assert.equal(versionInRange(null, {}), true);
    assert.equal(versionInRange(null, { lt: '9' }), false);
    assert.equal(versionInRange('', { gt: '0' }), false);
  });
});
