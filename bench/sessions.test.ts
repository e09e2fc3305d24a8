import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineLoads } from './sessions.bench.ts';
import type { LoadResult } from './lib/loadgen.ts';

const window = (ok: number, elapsedMs: number, p50: number, p99: number, failures: Record<string, number> = {}): LoadResult => ({
  sessions: ok,
  ok,
  failed: Object.values(failures).reduce((n, v) => n + v, 0),
  failures,
  elapsedMs,
  sessionsPerSec: ok / (elapsedMs / 1000),
  latencyMs: { count: ok, min: 1, mean: p50, p50, p90: p99 / 2, p99, max: p99 * 2 },
  acsRequests: 0,
  devicesSeen: ok,
  totalSessions: ok + 10,
});

test('combineLoads: the mean rate over equal windows, the median p50, the worst p99, failures added up', () => {
  const c = combineLoads([window(1000, 1000, 10, 50), window(3000, 1000, 30, 90, { reset: 2 }), window(2000, 1000, 20, 70, { reset: 1, timeout: 4 })]);
  assert.equal(c.sessionsPerSec, 2000);
  assert.equal(c.ok, 6000);
  assert.equal(c.elapsedMs, 3000);
  assert.equal(c.totalSessions, 6030);
  assert.equal(c.latencyMs.p50, 20);
  assert.equal(c.latencyMs.p99, 90);
  assert.equal(c.latencyMs.max, 180);
  assert.equal(c.latencyMs.count, 6000);
  assert.equal(c.latencyMs.mean, 23.33); // (1000 x 10 + 3000 x 30 + 2000 x 20) / 6000, to 2 places
  assert.deepEqual(c.failures, { reset: 3, timeout: 4 });
  assert.equal(c.failed, 7);
});

test('combineLoads: one window is itself; none is refused', () => {
  const w = window(500, 2000, 5, 9);
  const c = combineLoads([w]);
  assert.equal(c.sessionsPerSec, 250);
  assert.deepEqual(c.latencyMs, w.latencyMs);
  assert.throws(() => combineLoads([]), /no results/);
});
