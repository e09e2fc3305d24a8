/**
 * Token-bucket rate limiter for Connection Requests (TR-069 §3.2.2: the CPE SHOULD limit the number
 * of Connection Requests it accepts in a time window and answer the rest with 503). Two numbers per
 * device, so it fits in a fleet of ten thousand.
 */

export interface RateLimitPolicy {
  /** Requests accepted in a burst. */
  burst: number;
  /** Window over which `burst` tokens are refilled, in ms. */
  windowMs: number;
}

/** Default: 5 Connection Requests per minute, bursts of 5. */
export const DEFAULT_CR_RATE_LIMIT: RateLimitPolicy = { burst: 5, windowMs: 60_000 };

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly policy: RateLimitPolicy,
    now: number,
  ) {
    this.tokens = policy.burst;
    this.last = now;
  }

  /** Takes one token if available. Returns true when the request is allowed. */
  take(now: number): boolean {
    const { burst, windowMs } = this.policy;
    if (now > this.last) {
      this.tokens = Math.min(burst, this.tokens + ((now - this.last) * burst) / windowMs);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}
