/**
 * Which task failures are worth another attempt, and when.
 *
 * A CPE fault that says the request itself is wrong (bad name, bad value, unsupported method)
 * fails the task at once: sending it again cannot help. Faults that describe a passing condition
 * (internal error, resources exceeded, file transfer trouble, vendor faults) and session-level
 * failures (no answer, dropped connection, a response that does not fit) are retried at later
 * sessions with exponential back-off until `maxAttempts`.
 */

/** CPE fault codes that never succeed on retry. */
const PERMANENT_CPE_FAULTS: ReadonlySet<number> = new Set([
  9000, 9001, 9003, 9005, 9006, 9007, 9008, 9009, 9013, 9021, 9022, 9023, 9024, 9025, 9026, 9028, 9029, 9030, 9031, 9032,
]);

/** True when a CPE fault code describes a passing condition (retry later). */
export function isTransientCpeFault(code: number): boolean {
  return !PERMANENT_CPE_FAULTS.has(code);
}

export interface RetryPolicy {
  /** Delay after the first failed attempt. */
  baseMs: number;
  /** Upper bound of the delay. */
  maxMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 60_000, maxMs: 3_600_000 };

/** Delay before the next attempt after `attempts` failed attempts (1, 2, 4 ... times baseMs, capped). */
export function retryDelayMs(attempts: number, policy: RetryPolicy = DEFAULT_RETRY_POLICY): number {
  const exponent = Math.max(0, Math.min(attempts - 1, 30));
  return Math.min(policy.baseMs * 2 ** exponent, policy.maxMs);
}
