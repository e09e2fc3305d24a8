/**
 * Session retry back-off of TR-069 §3.2.1.1.
 *
 * After the n-th failed attempt in a row the CPE waits a uniformly random time in
 * [m·(k/1000)^(n-1), m·(k/1000)^n] seconds, where m = ManagementServer.CWMPRetryMinimumWaitInterval
 * (default 5 s) and k = CWMPRetryIntervalMultiplier (default 2000, i.e. ×2). From the 10th retry on
 * the 10th range is used. The random source is injected so tests are deterministic.
 */

/** Default ManagementServer.CWMPRetryMinimumWaitInterval (seconds). */
export const DEFAULT_RETRY_MIN_WAIT_S = 5;
/** Default ManagementServer.CWMPRetryIntervalMultiplier (thousandths). */
export const DEFAULT_RETRY_MULTIPLIER = 2000;
/** Retries beyond this count reuse this count's range. */
export const RETRY_EXPONENT_CAP = 10;

/** A source of uniform random numbers in [0, 1). */
export type RandomSource = () => number;

export interface RetryPolicy {
  /** CWMPRetryMinimumWaitInterval, seconds (1-65535). */
  minWaitSeconds: number;
  /** CWMPRetryIntervalMultiplier, thousandths (1000-65535). */
  multiplier: number;
}

/** The wait range in seconds for retry number `retryCount` (>= 1). */
export interface RetryRange {
  minSeconds: number;
  maxSeconds: number;
}

/**
 * Returns the range of the wait before retry `retryCount` (1 = first retry after one failure).
 * Out-of-range policy values are clamped to the data model's ranges.
 */
export function retryRange(retryCount: number, policy: Partial<RetryPolicy> = {}): RetryRange {
  const m = clamp(policy.minWaitSeconds ?? DEFAULT_RETRY_MIN_WAIT_S, 1, 65535);
  const k = clamp(policy.multiplier ?? DEFAULT_RETRY_MULTIPLIER, 1000, 65535) / 1000;
  const n = clamp(Math.floor(retryCount), 1, RETRY_EXPONENT_CAP);
  return { minSeconds: m * k ** (n - 1), maxSeconds: m * k ** n };
}

/** Returns the wait in milliseconds before retry `retryCount`, drawn uniformly from its range. */
export function retryDelayMs(retryCount: number, policy: Partial<RetryPolicy> = {}, random: RandomSource = Math.random): number {
  const { minSeconds, maxSeconds } = retryRange(retryCount, policy);
  return Math.round((minSeconds + random() * (maxSeconds - minSeconds)) * 1000);
}

function clamp(v: number, lo: number, hi: number): number {
  if (!Number.isFinite(v)) return lo;
  return Math.min(hi, Math.max(lo, v));
}

/** A small seeded PRNG (mulberry32) for deterministic simulations. Returns numbers in [0, 1). */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
