import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { percentile, percentileSorted, round, SampleBuffer, sortedCopy, summarize } from './stats.ts';

test('nearest-rank percentiles of 1..100 are the rank itself', () => {
  const values = Array.from({ length: 100 }, (_, i) => 100 - i); // unsorted on purpose
  assert.equal(percentile(values, 50), 50);
  assert.equal(percentile(values, 99), 99);
  assert.equal(percentile(values, 100), 100);
  assert.equal(percentile(values, 1), 1);
  assert.equal(percentile(values, 0), 1);
  assert.equal(percentile(values, 99.5), 100);
});

test('percentiles of small sets pick observed values (no interpolation)', () => {
  assert.equal(percentile([10, 20], 50), 10);
  assert.equal(percentile([10, 20], 51), 20);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.throws(() => percentile([1], 101), RangeError);
  assert.throws(() => percentile([1], -1), RangeError);
  assert.throws(() => percentile([1], Number.NaN), RangeError);
});

test('percentile matches its definition on random samples', () => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }), fc.double({ min: 0.001, max: 100, noNaN: true }), (xs, p) => {
      const v = percentile(xs, p);
      const atOrBelow = xs.filter((x) => x <= v).length;
      const below = xs.filter((x) => x < v).length;
      // the smallest observed value with at least p% of the samples at or below it
      assert.ok(xs.includes(v));
      assert.ok(atOrBelow >= (p / 100) * xs.length - 1e-9);
      assert.ok(below < (p / 100) * xs.length + 1e-9);
    }),
    { numRuns: 200 },
  );
});

test('summarize gives count, min, mean, p50, p90, p99, max rounded to 2 decimals', () => {
  const s = summarize([3, 1, 2, 4, 1000]);
  assert.deepEqual(s, { count: 5, min: 1, mean: 202, p50: 3, p90: 1000, p99: 1000, max: 1000 });
  assert.equal(summarize([1 / 3]).mean, 0.33);
  const empty = summarize([]);
  assert.equal(empty.count, 0);
  assert.ok(Number.isNaN(empty.p50));
  assert.equal(JSON.parse(JSON.stringify(empty)).p99, null);
});

test('sortedCopy sorts numerically and leaves the input alone', () => {
  const xs = [10, 9, 100, 1];
  assert.deepEqual([...sortedCopy(xs)], [1, 9, 10, 100]);
  assert.deepEqual(xs, [10, 9, 100, 1]);
  assert.equal(percentileSorted(sortedCopy(xs), 75), 10);
});

test('round keeps the requested decimals', () => {
  assert.equal(round(1.23456), 1.23);
  assert.equal(round(1.235, 1), 1.2);
  assert.equal(round(1234.5678, 0), 1235);
  assert.ok(Number.isNaN(round(Number.NaN)));
});

test('SampleBuffer grows past its capacity and keeps every sample in order', () => {
  const b = new SampleBuffer(16);
  for (let i = 0; i < 1000; i++) b.push(i);
  assert.equal(b.length, 1000);
  const v = b.values();
  assert.equal(v.length, 1000);
  assert.equal(v[0], 0);
  assert.equal(v[999], 999);
  assert.equal(summarize(v).p50, 499);
  b.clear();
  assert.equal(b.length, 0);
  assert.equal(b.values().length, 0);
});
