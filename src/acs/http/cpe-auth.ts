/**
 * Authentication of CPEs by the ACS (TR-069 §3.4.5): off, one shared credential, or per-device
 * credentials (`Device.credentials.acsUsername/acsPassword`, set through the API).
 *
 * - Digest (RFC 7616, qop=auth, MD5) over HTTP and HTTPS; Basic only over HTTPS (a Basic header on
 *   plain HTTP is ignored and answered with a Digest challenge, so the password never crosses the
 *   wire in clear).
 * - Nonces: a new nonce per TCP connection (the first challenge on a connection makes one). They are
 *   HMAC-signed and carry their issue time (`createNonce`), so a CPE that answers a 401 on a NEW
 *   connection (field-robustness.md) is accepted too; a nonce older than `nonceMaxAgeMs` gets a
 *   fresh challenge with `stale=true` (the CPE retries without treating it as a wrong password).
 * - Only the Inform (session start) is authenticated; later POSTs of the session are tied to it by
 *   the session cookie (random, 128 bits) or the TCP connection.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { buildDigestChallenge, checkDigest, createNonce, parseAuthorization } from '../../cwmp/auth.ts';
import type { Store } from '../../store/types.ts';

export type CpeAuthMode = 'none' | 'shared' | 'per-device';

export type CpeAuthConfig =
  | { mode: 'none' }
  | { mode: 'shared'; username: string; password: string }
  /** Devices without stored credentials fall back to `shared` when given, else are refused. */
  | { mode: 'per-device'; shared?: { username: string; password: string } };

export interface CpeAuthOptions {
  realm?: string;
  /** HMAC key of the nonces; random per process by default. */
  nonceSecret?: Buffer;
  /** Default 5 minutes. */
  nonceMaxAgeMs?: number;
  clock?: () => number;
}

export interface AuthRequest {
  authorization: string | undefined;
  method: string;
  /** Request-target (path and query) for the Digest uri check. */
  url: string;
  /** Arrived over TLS. */
  secure: boolean;
  /** The TCP connection (a Digest nonce is kept per connection). */
  socket: object;
}

export type AuthOutcome =
  | { ok: true; username: string | null }
  | {
      ok: false;
      /** Why, for the log (never contains a password). */
      reason: string;
      /** WWW-Authenticate header values to send with the 401. */
      challenges: string[];
    };

const DEFAULT_NONCE_MAX_AGE_MS = 5 * 60 * 1000;

/** Checks CPE credentials and builds challenges; one instance per ACS. */
export class CpeAuthenticator {
  readonly mode: CpeAuthMode;
  private readonly realm: string;
  private readonly secret: Buffer;
  private readonly maxAge: number;
  private readonly clock: () => number;
  private readonly connectionNonces = new WeakMap<object, string>();

  constructor(
    private readonly config: CpeAuthConfig,
    private readonly store: Store,
    options: CpeAuthOptions = {},
  ) {
    this.mode = config.mode;
    this.realm = options.realm ?? 'Switchboard ACS';
    this.secret = options.nonceSecret ?? randomBytes(32);
    this.maxAge = options.nonceMaxAgeMs ?? DEFAULT_NONCE_MAX_AGE_MS;
    this.clock = options.clock ?? Date.now;
  }

  /**
   * Authenticates the POST carrying the Inform of device `deviceId`.
   * Returns ok, or the reason and the challenges for a 401. Never throws (store errors refuse).
   */
  async authenticate(req: AuthRequest, deviceId: string): Promise<AuthOutcome> {
    if (this.config.mode === 'none') return { ok: true, username: null };
    let expected: { username: string; password: string } | null;
    try {
      expected = await this.credentialsFor(deviceId);
    } catch {
      return this.refuse(req, 'credential lookup failed', false);
    }
    const parsed = parseAuthorization(req.authorization);
    if (parsed === null) return this.refuse(req, req.authorization ? 'unreadable Authorization header' : 'no credentials', false);
    if (expected === null) return this.refuse(req, `no credentials configured for ${deviceId}`, false);
    if (parsed.scheme === 'Basic') {
      if (!req.secure) return this.refuse(req, 'Basic credentials over plain HTTP are not accepted', false);
      const ok = parsed.username === expected.username && constantTimeEqual(parsed.password, expected.password);
      return ok ? { ok: true, username: parsed.username } : this.refuse(req, 'wrong Basic credentials', false);
    }
    if (parsed.username !== expected.username) return this.refuse(req, 'unknown username', false);
    const result = checkDigest({
      authorization: parsed,
      method: req.method,
      password: expected.password,
      realm: this.realm,
      uri: req.url,
      nonceSecret: this.secret,
      maxNonceAgeMs: this.maxAge,
      now: this.clock(),
    });
    if (result.ok) return { ok: true, username: parsed.username };
    return this.refuse(req, `digest ${result.reason}`, result.reason === 'stale-nonce');
  }

  private async credentialsFor(deviceId: string): Promise<{ username: string; password: string } | null> {
    const c = this.config;
    if (c.mode === 'shared') return { username: c.username, password: c.password };
    if (c.mode === 'per-device') {
      const device = await this.store.getDevice(deviceId);
      const u = device?.credentials.acsUsername;
      const p = device?.credentials.acsPassword;
      if (u && p !== null && p !== undefined) return { username: u, password: p };
      return c.shared ?? null;
    }
    return null;
  }

  private refuse(req: AuthRequest, reason: string, stale: boolean): AuthOutcome {
    return { ok: false, reason, challenges: this.challenges(req, stale) };
  }

  /** The challenges for a 401 on this connection (Digest; plus Basic over TLS). */
  challenges(req: Pick<AuthRequest, 'secure' | 'socket'>, stale = false): string[] {
    let nonce = this.connectionNonces.get(req.socket);
    if (!nonce || stale) {
      nonce = createNonce(this.secret, this.clock());
      this.connectionNonces.set(req.socket, nonce);
    }
    const out = [buildDigestChallenge({ realm: this.realm, nonce, qop: 'auth', algorithm: 'MD5', stale })];
    if (req.secure) out.push(`Basic realm="${this.realm}", charset="UTF-8"`);
    return out;
  }
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function constantTimeEqual(a: string, b: string): boolean {
  const digest = (x: string) => createHash('sha256').update(x).digest();
  return timingSafeEqual(digest(a), digest(b));
}
