/**
 * Percentile math for the benchmarks.
 *
 * Percentiles use the nearest-rank definition (the smallest sample such that at least p% of the
 * samples are <= it): no interpolation, so a reported p99 is always a latency that was really
 * observed.
 */

/** Summary of a set of samples (milliseconds for latencies). */
export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** A read-only list of numbers (plain arrays and typed arrays both fit). */
export type Samples = ArrayLike<number>;

/**
 * Nearest-rank percentile of samples that are ALREADY sorted ascending.
 * Returns NaN for an empty list. Throws RangeError when `p` is outside [0, 100].
 */
export function percentileSorted(sorted: Samples, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within [0, 100], got ${p}`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (p === 0) return sorted[0];
  const rank = Math.ceil((p / 100) * n);
  return sorted[Math.min(n, Math.max(1, rank)) - 1];
}

/** Sorted ascending copy (numeric order, as a Float64Array). */
export function sortedCopy(samples: Samples): Float64Array {
  return Float64Array.from(samples).sort();
}

/** Nearest-rank percentile of unsorted samples (copies and sorts). NaN when empty. */
export function percentile(samples: Samples, p: number): number {
  return percentileSorted(sortedCopy(samples), p);
}

/** Rounds to `digits` decimals (figures in results are rounded to keep the JSON readable). */
export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Count, min, mean, p50, p90, p99 and max of the samples (rounded to 2 decimals).
 * An empty list gives count 0 and NaN for the rest (JSON prints NaN as null).
 */
export function summarize(samples: Samples): Summary {
  const s = sortedCopy(samples);
  const n = s.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  return {
    count: n,
    min: round(n ? s[0] : Number.NaN),
    mean: round(n ? sum / n : Number.NaN),
    p50: round(percentileSorted(s, 50)),
    p90: round(percentileSorted(s, 90)),
    p99: round(percentileSorted(s, 99)),
    max: round(n ? s[n - 1] : Number.NaN),
  };
}

/**
 * A growable buffer of latency samples (Float64Array doubling), cheaper than a JS array of
 * boxed numbers when a run records hundreds of thousands of sessions.
 */
export class SampleBuffer {
  private data: Float64Array;
  private n = 0;

  constructor(initialCapacity = 4096) {
    this.data = new Float64Array(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.n;
  }

  push(value: number): void {
    if (this.n === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.n++] = value;
  }

  /** The recorded samples (a view: do not keep it across pushes). */
  values(): Float64Array {
    return this.data.subarray(0, this.n);
  }

  clear(): void {
    this.n = 0;
  }
}
