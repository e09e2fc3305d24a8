/**
 * HTTP authentication as the CPE agent uses it, on top of the shared helpers of src/cwmp/auth.ts:
 *  - `ClientAuthenticator`: towards the ACS and file servers. Digest (MD5, MD5-sess, qop=auth) is
 *    always allowed, Basic only over HTTPS (TR-069 §3.4.4). After the first challenge every later
 *    request of the session carries credentials.
 *  - `ConnectionRequestAuth`: the server side of Connection Requests, with stateless nonces so ten
 *    thousand simulated devices need no nonce table.
 */
import { randomBytes } from 'node:crypto';
import {
  DigestClient,
  buildDigestChallenge,
  checkDigest,
  createNonce,
  parseAuthenticate,
  parseAuthorization,
  selectChallenge,
} from '../cwmp/auth.ts';

export interface Credentials {
  username: string;
  password: string;
}

/** Why the client could not (or must not) authenticate. */
export class ClientAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClientAuthError';
  }
}

/** Client-side authentication state for one session (or one file transfer). */
export class ClientAuthenticator {
  private readonly clients = new Map<boolean, DigestClient>();
  private chosen: DigestClient | null = null;

  constructor(private readonly creds: Credentials | null) {}

  /** True once a challenge was accepted (later requests carry credentials). */
  get active(): boolean {
    return this.chosen !== null;
  }

  /**
   * Takes the WWW-Authenticate value(s) of a 401 to a request for `url`.
   * Returns normally when the request should be retried with credentials.
   * Throws ClientAuthError when it must not be: no credentials, credentials refused, only Basic offered
   * over plain HTTP, or no scheme we can answer.
   */
  respond(wwwAuthenticate: string | string[] | undefined, url: URL): void {
    if (!this.creds) throw new ClientAuthError('server requires authentication and no credentials are configured');
    const secure = url.protocol === 'https:';
    const challenges = parseAuthenticate(wwwAuthenticate ?? []);
    if (!selectChallenge(challenges, { allowBasic: secure })) {
      if (!secure && challenges.some((c) => c.scheme === 'Basic')) {
        throw new ClientAuthError('refusing Basic authentication over plain HTTP');
      }
      throw new ClientAuthError('no supported authentication scheme offered');
    }
    let client = this.clients.get(secure);
    if (!client) {
      client = new DigestClient({ username: this.creds.username, password: this.creds.password, allowBasic: secure });
      this.clients.set(secure, client);
    }
    if (!client.handleChallenge(wwwAuthenticate)) throw new ClientAuthError('server refused the credentials');
    this.chosen = client;
  }

  /** The Authorization header for a request, or undefined before any challenge. */
  authorization(method: string, url: URL): string | undefined {
    return this.chosen?.authorization(method, `${url.pathname}${url.search}`) ?? undefined;
  }
}

/** Outcome of checking a Connection Request's Authorization header. */
export type ServerAuthResult =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'malformed' | 'bad-credentials' | 'stale-nonce' | 'scheme-not-allowed' };

/** How long a Connection Request nonce stays valid. */
const NONCE_LIFETIME_MS = 5 * 60 * 1000;

/** Which schemes a Connection Request may use. */
export interface AllowedSchemes {
  digest: boolean;
  basic: boolean;
}

/**
 * Server-side Digest/Basic for Connection Requests with stateless HMAC nonces.
 * A replayed request within the nonce lifetime is accepted; the rate limiter bounds its effect
 * (a Connection Request carries no data).
 */
export class ConnectionRequestAuth {
  private readonly secret: Buffer;

  constructor(
    readonly realm: string,
    private readonly now: () => number = Date.now,
    secret?: Buffer,
  ) {
    this.secret = secret ?? randomBytes(32);
  }

  /** The WWW-Authenticate header values for a 401: Digest (qop=auth, MD5), plus Basic when allowed. */
  challenges(allow: AllowedSchemes, stale = false): string[] {
    const out: string[] = [];
    if (allow.digest) out.push(buildDigestChallenge({ realm: this.realm, nonce: createNonce(this.secret, this.now()), stale }));
    if (allow.basic) out.push(`Basic realm="${this.realm}"`);
    return out;
  }

  /** Checks an Authorization header for `method` against `creds`. Never throws. */
  verify(header: string | undefined, method: string, creds: Credentials, allow: AllowedSchemes): ServerAuthResult {
    if (!header) return { ok: false, reason: 'missing' };
    const parsed = parseAuthorization(header);
    if (!parsed) return { ok: false, reason: 'malformed' };
    if (parsed.scheme === 'Basic') {
      if (!allow.basic) return { ok: false, reason: 'scheme-not-allowed' };
      const ok = constantTimeEqual(parsed.username, creds.username) && constantTimeEqual(parsed.password, creds.password);
      return ok ? { ok: true } : { ok: false, reason: 'bad-credentials' };
    }
    if (!allow.digest) return { ok: false, reason: 'scheme-not-allowed' };
    if (!constantTimeEqual(parsed.username, creds.username)) return { ok: false, reason: 'bad-credentials' };
    const alg = parsed.algorithm === 'MD5-sess' ? 'MD5-sess' : 'MD5';
    const r = checkDigest({
      authorization: parsed,
      method,
      password: creds.password,
      realm: this.realm,
      algorithm: alg,
      allowNoQop: true,
      nonceSecret: this.secret,
      maxNonceAgeMs: NONCE_LIFETIME_MS,
      now: this.now(),
    });
    if (r.ok) return { ok: true };
    return { ok: false, reason: r.reason === 'stale-nonce' ? 'stale-nonce' : 'bad-credentials' };
  }
}

function constantTimeEqual(a: string, b: string): boolean {
  // Walks the longer string fully whatever the content, so timing does not reveal where they differ.
  const ha = Buffer.from(a);
  const hb = Buffer.from(b);
  let diff = ha.length ^ hb.length;
  for (let i = 0; i < Math.max(ha.length, hb.length); i++) diff |= (ha[i] ?? 0) ^ (hb[i] ?? 0);
  return diff === 0;
}
