/**
 * Failed-login throttling: after `maxFailures` failures of one key (a username, a remote address)
 * within `windowMs`, that key is refused for `blockMs`. Memory is bounded: the oldest keys are
 * dropped first when `maxKeys` is reached (an attacker cycling keys only forgets their own).
 */

export interface ThrottleOptions {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  maxKeys: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { maxFailures: 5, windowMs: 10 * 60_000, blockMs: 60_000, maxKeys: 10_000 };

/**
 * Where failed logins are counted: in memory (`LoginThrottle`, one ACS) or in the shared database
 * (`PostgresUserStore.loginThrottle()` in postgres.ts, several ACS instances: an attacker spreading attempts over the
 * instances meets one limit). Same semantics.
 */
export interface LoginThrottleBackend {
  /** @returns ms until the key may try again, or 0 when it may try now. */
  retryAfterMs(key: string, now: number): Promise<number> | number;
  /** Records a failure; blocks the key once it reaches the limit within the window. */
  fail(key: string, now: number): Promise<void> | void;
  /** Forgets a key (after a successful login). */
  succeed(key: string): Promise<void> | void;
}

interface Entry {
  failures: number;
  firstAt: number;
  blockedUntil: number;
}

export class LoginThrottle implements LoginThrottleBackend {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ThrottleOptions = DEFAULT_THROTTLE) {}

  /** @returns ms until the key may try again, or 0 when it may try now. */
  retryAfterMs(key: string, now: number): number {
    const e = this.entries.get(key);
    return e && e.blockedUntil > now ? e.blockedUntil - now : 0;
  }

  /** Records a failure; blocks the key once it reaches the limit within the window. */
  fail(key: string, now: number): void {
    let e = this.entries.get(key);
    if (!e || now - e.firstAt > this.options.windowMs) {
      e = { failures: 0, firstAt: now, blockedUntil: 0 };
      this.entries.delete(key);
      if (this.entries.size >= this.options.maxKeys) this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(key, e);
    }
    e.failures++;
    if (e.failures >= this.options.maxFailures) {
      e.blockedUntil = now + this.options.blockMs;
      e.failures = 0;
      e.firstAt = now;
    }
  }

  /** Forgets a key (after a successful login). */
  succeed(key: string): void {
    this.entries.delete(key);
  }
}
