/**
 * HTTP authentication for CWMP, both sides of the wire.
 *
 * - Server side (ACS towards CPEs, CPE towards the ACS's Connection Requests):
 *   `buildDigestChallenge`, `parseAuthorization`, `checkDigest` / `verifyDigest`, and a stateless
 *   HMAC-signed nonce (`createNonce` / `checkNonce`) so that no nonce table is needed.
 * - Client side (CPE towards the ACS, ACS towards the CPE's Connection Request URL):
 *   `parseAuthenticate`, `selectChallenge`, `buildDigestAuthorization`, `buildBasicAuthorization`,
 *   and `DigestClient`, which remembers the last challenge and counts `nc` per nonce.
 *
 * Digest follows RFC 7616 (qop "auth", algorithms MD5, MD5-sess, SHA-256, SHA-256-sess) and the
 * RFC 2069 form without qop, which old CPEs still send. `auth-int` is not supported: a challenge
 * offering "auth,auth-int" is answered with "auth", one offering only "auth-int" is refused.
 *
 * Parsers never throw: malformed input yields `null` (or an empty list). Builders throw a typed
 * `AuthError` only when asked to do something impossible (e.g. answer an unsupported algorithm).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Digest algorithms we can compute. The `-sess` variants hash the nonce and cnonce into HA1. */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

/** A `Basic` challenge (RFC 7617). */
export interface BasicChallenge {
  scheme: 'Basic';
  realm?: string;
  /** All auth-params, names lower-cased. */
  params: Record<string, string>;
}

/** A `Digest` challenge (RFC 7616). Only challenges with a realm and a nonce are returned. */
export interface DigestChallenge {
  scheme: 'Digest';
  realm: string;
  nonce: string;
  opaque?: string;
  /**
   * The algorithm as sent (canonical spelling when it is one we know, e.g. "md5-SESS" -> "MD5-sess");
   * `undefined` when the challenge had none, which means MD5.
   */
  algorithm?: string;
  /** The qop options offered, lower-cased; empty = RFC 2069 style (no qop). */
  qop: string[];
  stale: boolean;
  /** All auth-params, names lower-cased. */
  params: Record<string, string>;
}

/** Any other scheme (Bearer, Negotiate, ...): kept so that callers can report what was offered. */
export interface OtherChallenge {
  scheme: 'Other';
  /** The scheme name as sent. */
  name: string;
  token68?: string;
  params: Record<string, string>;
}

export type AuthChallenge = BasicChallenge | DigestChallenge | OtherChallenge;

/** Credentials from a `Basic` Authorization header. */
export interface BasicAuthorization {
  scheme: 'Basic';
  username: string;
  password: string;
}

/** The parameters of a `Digest` Authorization header. */
export interface DigestAuthorization {
  scheme: 'Digest';
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm?: string;
  /** "auth" (or whatever the client sent, lower-cased); absent for RFC 2069 clients. */
  qop?: string;
  /** nonce count, 8 hex digits as sent; present whenever qop is. */
  nc?: string;
  cnonce?: string;
  opaque?: string;
  /** All auth-params, names lower-cased. */
  params: Record<string, string>;
}

export type ParsedAuthorization = BasicAuthorization | DigestAuthorization;

export type AuthErrorCode = 'unsupported-algorithm' | 'unsupported-qop' | 'invalid-argument';

/** Thrown by the builders when the request cannot be satisfied; `code` says why. */
export class AuthError extends Error {
  readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string) {
    super(message);
    this.name = 'AuthError';
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Header grammar (RFC 7230 / 7235): token, quoted-string, auth-param lists
// ---------------------------------------------------------------------------------------------

/** Inputs larger than this are refused outright: no legitimate auth header is anywhere near. */
const MAX_HEADER_LENGTH = 16 * 1024;

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

/** A tiny cursor over a header value; every method leaves `pos` unchanged on failure. */
class Cursor {
  pos = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  /** Skips optional whitespace (SP / HTAB). */
  ows(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }
  token(): string | null {
    const start = this.pos;
    while (!this.done && TOKEN_CHAR.test(this.peek())) this.pos++;
    return this.pos > start ? this.s.slice(start, this.pos) : null;
  }
  /** Reads a quoted-string and returns its unescaped content, or null (cursor restored). */
  quoted(): string | null {
    if (this.peek() !== '"') return null;
    const start = this.pos;
    this.pos++;
    let out = '';
    while (!this.done) {
      const ch = this.s[this.pos++];
      if (ch === '"') return out;
      if (ch === '\\') {
        if (this.done) break;
        out += this.s[this.pos++];
      } else {
        out += ch;
      }
    }
    this.pos = start;
    return null;
  }
  /** token68 followed by OWS and then "," or the end; null otherwise (cursor restored). */
  token68(): string | null {
    const start = this.pos;
    while (!this.done && TOKEN68_CHAR.test(this.peek())) this.pos++;
    if (this.pos === start) return null;
    while (this.peek() === '=') this.pos++;
    const value = this.s.slice(start, this.pos);
    const save = this.pos;
    this.ows();
    if (this.done || this.peek() === ',') {
      this.pos = save;
      return value;
    }
    this.pos = start;
    return null;
  }
  /** `token BWS "=" BWS ( token / quoted-string )`; null (cursor restored) when not at one. */
  authParam(): { name: string; value: string } | null {
    const start = this.pos;
    const name = this.token();
    if (name === null) return null;
    this.ows();
    if (this.peek() !== '=') {
      this.pos = start;
      return null;
    }
    this.pos++;
    this.ows();
    const value = this.peek() === '"' ? this.quoted() : this.token();
    if (value === null) {
      this.pos = start;
      return null;
    }
    return { name: name.toLowerCase(), value };
  }
}

/** Skips list separators: OWS and commas (empty list elements are allowed by RFC 7230 §7). */
function skipSeparators(c: Cursor): void {
  for (;;) {
    c.ows();
    if (c.peek() !== ',') return;
    c.pos++;
  }
}

interface RawChallenge {
  name: string;
  token68?: string;
  params: Record<string, string>;
}

/**
 * Parses `1#challenge`. Stops at the first syntax error and returns the complete challenges read
 * before it, so that one broken trailing challenge does not hide a good one.
 */
function parseRawChallenges(header: string): RawChallenge[] {
  const out: RawChallenge[] = [];
  const c = new Cursor(header);
  skipSeparators(c);
  while (!c.done) {
    const name = c.token();
    if (name === null) break;
    const challenge: RawChallenge = { name, params: {} };
    const afterName = c.pos;
    c.ows();
    const hadSpace = c.pos > afterName;
    if (hadSpace && !c.done && c.peek() !== ',') {
      // Either a token68 or a comma-separated auth-param list.
      const first = c.authParam();
      if (first !== null) {
        challenge.params[first.name] = first.value;
        for (;;) {
          const save = c.pos;
          skipSeparators(c);
          if (c.pos === save) break; // no comma: the value must end here
          const p = c.authParam();
          if (p === null) {
            c.pos = save; // maybe the next challenge's scheme
            break;
          }
          // RFC 7235: a parameter occurs once; keep the first if a peer repeats one.
          if (!(p.name in challenge.params)) challenge.params[p.name] = p.value;
        }
      } else {
        const t68 = c.token68();
        if (t68 === null) break; // garbage after the scheme
        challenge.token68 = t68;
      }
    }
    c.ows();
    if (!c.done && c.peek() !== ',') break; // garbage: keep what was complete
    out.push(challenge);
    skipSeparators(c);
  }
  return out;
}

/** Parses a comma-separated list of auth-params (the body of an Authorization header). */
function parseParamList(s: string): Record<string, string> | null {
  const c = new Cursor(s);
  const params: Record<string, string> = {};
  skipSeparators(c);
  while (!c.done) {
    const p = c.authParam();
    if (p === null) return null;
    if (!(p.name in params)) params[p.name] = p.value;
    const save = c.pos;
    skipSeparators(c);
    if (c.pos === save && !c.done) return null;
  }
  return params;
}

/** Quotes a value for a quoted-string, escaping `"` and `\`. */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (m) => `\\${m}`)}"`;
}

function canonicalAlgorithm(value: string): string {
  const found = DIGEST_ALGORITHMS.find((a) => a.toLowerCase() === value.toLowerCase());
  return found ?? value;
}

/** True when `a` (any spelling) is an algorithm this module can compute. */
export function isSupportedAlgorithm(a: string | undefined): boolean {
  return a === undefined || DIGEST_ALGORITHMS.some((x) => x.toLowerCase() === a.toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// Challenge side (server)
// ---------------------------------------------------------------------------------------------

export interface DigestChallengeOptions {
  realm: string;
  nonce: string;
  opaque?: string;
  /** Default 'MD5'; written out explicitly so clients need not guess. */
  algorithm?: DigestAlgorithm;
  /** Default 'auth'. `null` produces an RFC 2069 challenge without qop. */
  qop?: 'auth' | null;
  /** Set when the nonce was well-signed but expired, so the client retries without a new prompt. */
  stale?: boolean;
}

/**
 * Builds a `WWW-Authenticate` header value for a Digest challenge.
 * @returns e.g. `Digest realm="x", qop="auth", nonce="...", opaque="...", algorithm=MD5`
 * @throws AuthError('invalid-argument') when realm or nonce contain CR/LF (header injection).
 */
export function buildDigestChallenge(opts: DigestChallengeOptions): string {
  for (const v of [opts.realm, opts.nonce, opts.opaque ?? '']) {
    if (/[\r\n]/.test(v)) throw new AuthError('invalid-argument', 'challenge values must not contain CR or LF');
  }
  const parts = [`realm=${quote(opts.realm)}`];
  const qop = opts.qop === undefined ? 'auth' : opts.qop;
  if (qop !== null) parts.push(`qop=${quote(qop)}`);
  parts.push(`nonce=${quote(opts.nonce)}`);
  if (opts.opaque !== undefined) parts.push(`opaque=${quote(opts.opaque)}`);
  parts.push(`algorithm=${opts.algorithm ?? 'MD5'}`);
  if (opts.stale) parts.push('stale=true');
  return `Digest ${parts.join(', ')}`;
}

/**
 * Parses a `WWW-Authenticate` (or `Proxy-Authenticate`) value holding one or several challenges.
 * Pass an array when the header occurred several times.
 * @returns the challenges in order; Digest challenges lacking realm or nonce are dropped; never throws.
 */
export function parseAuthenticate(header: string | readonly string[]): AuthChallenge[] {
  const headers = typeof header === 'string' ? [header] : header;
  const out: AuthChallenge[] = [];
  for (const h of headers) {
    if (typeof h !== 'string' || h.length > MAX_HEADER_LENGTH) continue;
    for (const raw of parseRawChallenges(h)) {
      const scheme = raw.name.toLowerCase();
      if (scheme === 'basic') {
        out.push({ scheme: 'Basic', realm: raw.params.realm, params: raw.params });
      } else if (scheme === 'digest') {
        const { realm, nonce } = raw.params;
        if (realm === undefined || nonce === undefined) continue;
        const qop = (raw.params.qop ?? '')
          .split(',')
          .map((q) => q.trim().toLowerCase())
          .filter((q) => q !== '');
        out.push({
          scheme: 'Digest',
          realm,
          nonce,
          opaque: raw.params.opaque,
          algorithm: raw.params.algorithm === undefined ? undefined : canonicalAlgorithm(raw.params.algorithm),
          qop,
          stale: (raw.params.stale ?? '').toLowerCase() === 'true',
          params: raw.params,
        });
      } else {
        out.push({ scheme: 'Other', name: raw.name, token68: raw.token68, params: raw.params });
      }
    }
  }
  return out;
}

/** True when we can answer this Digest challenge (known algorithm; qop absent or includes auth). */
export function canAnswerDigest(ch: DigestChallenge): boolean {
  return isSupportedAlgorithm(ch.algorithm) && (ch.qop.length === 0 || ch.qop.includes('auth'));
}

/**
 * Picks the challenge to answer: the first Digest challenge we can answer (RFC 7616 §3.7: servers
 * list them in order of preference), else Basic when `allowBasic` (callers allow it only over TLS).
 * @returns the chosen challenge or null when none is usable.
 */
export function selectChallenge(
  challenges: readonly AuthChallenge[],
  opts: { allowBasic?: boolean } = {},
): DigestChallenge | BasicChallenge | null {
  for (const ch of challenges) if (ch.scheme === 'Digest' && canAnswerDigest(ch)) return ch;
  if (opts.allowBasic) for (const ch of challenges) if (ch.scheme === 'Basic') return ch;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Digest computation
// ---------------------------------------------------------------------------------------------

function hashName(algorithm: string): 'md5' | 'sha256' {
  return algorithm.toUpperCase().startsWith('SHA-256') ? 'sha256' : 'md5';
}

function isSess(algorithm: string): boolean {
  return algorithm.toLowerCase().endsWith('-sess');
}

function hexHash(algorithm: string, text: string): string {
  return createHash(hashName(algorithm)).update(text, 'utf8').digest('hex');
}

/**
 * HA1 before session keying: H(username:realm:password). Stored in place of a clear password by
 * servers that do not want to keep passwords (pass it as `ha1` to `checkDigest`).
 */
export function digestHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return hexHash(algorithm, `${username}:${realm}:${password}`);
}

interface ResponseInput {
  algorithm: string;
  /** Base HA1 = H(username:realm:password), lower-case hex. */
  ha1: string;
  nonce: string;
  method: string;
  uri: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
}

/** The `response` value (RFC 7616 §3.4.1; RFC 2069 form when qop is absent). */
function computeResponse(r: ResponseInput): string {
  const ha1 = isSess(r.algorithm) ? hexHash(r.algorithm, `${r.ha1}:${r.nonce}:${r.cnonce ?? ''}`) : r.ha1;
  const ha2 = hexHash(r.algorithm, `${r.method}:${r.uri}`);
  if (r.qop === undefined) return hexHash(r.algorithm, `${ha1}:${r.nonce}:${ha2}`);
  return hexHash(r.algorithm, `${ha1}:${r.nonce}:${r.nc ?? ''}:${r.cnonce ?? ''}:${r.qop}:${ha2}`);
}

/** Formats a nonce count as the 8 lower-case hex digits the grammar requires. */
function formatNc(nc: number): string {
  return nc.toString(16).padStart(8, '0');
}

const NC_MAX = 0xffffffff;
const CNONCE_BYTES = 16;

export interface DigestAuthorizationOptions {
  challenge: DigestChallenge;
  username: string;
  password: string;
  method: string;
  /** The request-target exactly as sent on the request line. */
  uri: string;
  /** Default: 16 random bytes, hex. */
  cnonce?: string;
  /** Nonce count, 1 for the first request with this nonce. Default 1. */
  nc?: number;
}

/**
 * Builds the `Authorization` header value answering a Digest challenge.
 * Uses qop=auth when the challenge offers it, the RFC 2069 form when it offers no qop.
 * @throws AuthError('unsupported-algorithm') for algorithms other than MD5/SHA-256(-sess),
 *         AuthError('unsupported-qop') when only auth-int is offered,
 *         AuthError('invalid-argument') for an nc outside 1..2^32-1 or CR/LF in a value.
 */
export function buildDigestAuthorization(opts: DigestAuthorizationOptions): string {
  const ch = opts.challenge;
  if (!isSupportedAlgorithm(ch.algorithm)) {
    throw new AuthError('unsupported-algorithm', `unsupported digest algorithm ${ch.algorithm}`);
  }
  if (ch.qop.length > 0 && !ch.qop.includes('auth')) {
    throw new AuthError('unsupported-qop', `unsupported qop ${ch.qop.join(',')}`);
  }
  const ncNumber = opts.nc ?? 1;
  if (!Number.isInteger(ncNumber) || ncNumber < 1 || ncNumber > NC_MAX) {
    throw new AuthError('invalid-argument', `nc must be an integer in 1..${NC_MAX}`);
  }
  if ([opts.username, opts.uri].some((v) => /[\r\n]/.test(v))) {
    throw new AuthError('invalid-argument', 'username and uri must not contain CR or LF');
  }
  const algorithm = ch.algorithm ?? 'MD5';
  const qop = ch.qop.length > 0 ? 'auth' : undefined;
  // A client-chosen cnonce is needed for qop and for the -sess algorithms (RFC 2617 MD5-sess without qop).
  const cnonce = qop !== undefined || isSess(algorithm) ? (opts.cnonce ?? randomBytes(CNONCE_BYTES).toString('hex')) : undefined;
  const nc = qop !== undefined ? formatNc(ncNumber) : undefined;
  const response = computeResponse({
    algorithm,
    ha1: hexHash(algorithm, `${opts.username}:${ch.realm}:${opts.password}`),
    nonce: ch.nonce,
    method: opts.method,
    uri: opts.uri,
    qop,
    nc,
    cnonce,
  });
  const parts = [
    `username=${quote(opts.username)}`,
    `realm=${quote(ch.realm)}`,
    `nonce=${quote(ch.nonce)}`,
    `uri=${quote(opts.uri)}`,
  ];
  // Echo the algorithm only when the server named one: some RFC 2069 servers choke on unknown params.
  if (ch.algorithm !== undefined) parts.push(`algorithm=${algorithm}`);
  parts.push(`response=${quote(response)}`);
  if (qop !== undefined) parts.push(`qop=${qop}`, `nc=${nc}`);
  if (cnonce !== undefined) parts.push(`cnonce=${quote(cnonce)}`);
  if (ch.opaque !== undefined) parts.push(`opaque=${quote(ch.opaque)}`);
  return `Digest ${parts.join(', ')}`;
}

/**
 * Builds a `Basic` Authorization header value (UTF-8 credentials, RFC 7617).
 * @throws AuthError('invalid-argument') when the user name contains a colon (it cannot be encoded).
 */
export function buildBasicAuthorization(username: string, password: string): string {
  if (username.includes(':')) throw new AuthError('invalid-argument', 'a Basic user name cannot contain ":"');
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// Authorization parsing and verification (server)
// ---------------------------------------------------------------------------------------------

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses an `Authorization` header value.
 * @returns Basic credentials, all Digest parameters, or null when the header is malformed, of another
 *          scheme, or a Digest header lacks username/realm/nonce/uri/response (or nc/cnonce with qop).
 *          Never throws.
 */
export function parseAuthorization(header: string | undefined): ParsedAuthorization | null {
  if (typeof header !== 'string' || header.length > MAX_HEADER_LENGTH) return null;
  const m = /^[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:[ \t]+([\s\S]*))?$/.exec(header);
  if (!m) return null;
  const scheme = m[1].toLowerCase();
  const rest = (m[2] ?? '').trim();
  if (scheme === 'basic') {
    if (!BASE64.test(rest) || rest.length % 4 !== 0) return null;
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    return { scheme: 'Basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (scheme !== 'digest') return null;
  const params = parseParamList(rest);
  if (params === null) return null;
  const { username, realm, nonce, uri, response, qop, nc, cnonce } = params;
  if ([username, realm, nonce, uri, response].some((v) => v === undefined)) return null;
  if (qop !== undefined && (nc === undefined || cnonce === undefined)) return null;
  return {
    scheme: 'Digest',
    username,
    realm,
    nonce,
    uri,
    response,
    algorithm: params.algorithm === undefined ? undefined : canonicalAlgorithm(params.algorithm),
    qop: qop?.toLowerCase(),
    nc,
    cnonce,
    opaque: params.opaque,
    params,
  };
}

/** Constant-time comparison of two strings (length leaks, content does not). */
function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab); // same work either way
    return false;
  }
  return timingSafeEqual(ab, bb);
}

export type DigestCheckFailure =
  | 'wrong-realm'
  | 'wrong-uri'
  | 'wrong-algorithm'
  | 'bad-qop'
  | 'bad-nc'
  | 'no-credentials'
  | 'invalid-nonce'
  | 'stale-nonce'
  | 'bad-response';

export type DigestCheckResult = { ok: true } | { ok: false; reason: DigestCheckFailure };

export interface DigestCheckOptions {
  authorization: DigestAuthorization;
  method: string;
  /** The user's clear password ... */
  password?: string;
  /** ... or its stored base HA1 = H(username:realm:password) (also for the -sess algorithms). */
  ha1?: string;
  /** The realm we challenged with. */
  realm: string;
  /**
   * The request-target of the request being authorised. When given, the header's uri must equal it
   * (or, for an absolute-form header uri, its path and query must equal it).
   */
  uri?: string;
  /** The algorithm we challenged with (default MD5). A header without algorithm means MD5. */
  algorithm?: DigestAlgorithm;
  /** Accept RFC 2069 responses without qop (default false: we always challenge with qop=auth). */
  allowNoQop?: boolean;
  /** When set, the nonce must come from `createNonce(nonceSecret, …)` and be younger than maxNonceAgeMs. */
  nonceSecret?: string | Buffer;
  maxNonceAgeMs?: number;
  /** Clock for the nonce check (ms since epoch); default Date.now(). */
  now?: number;
}

const DEFAULT_MAX_NONCE_AGE_MS = 5 * 60 * 1000;

/** Whether the header uri designates the same resource as the request-target. */
function sameUri(headerUri: string, requestUri: string): boolean {
  if (headerUri === requestUri) return true;
  if (/^https?:\/\//i.test(headerUri)) {
    try {
      const u = new URL(headerUri);
      return `${u.pathname}${u.search}` === requestUri;
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * Checks a Digest Authorization against the expected realm/uri/algorithm and the user's secret.
 * The response is compared in constant time. Nonce freshness is checked only when `nonceSecret`
 * is given (a 'stale-nonce' result means: challenge again with stale=true).
 * @returns { ok: true } or { ok: false, reason }; never throws.
 */
export function checkDigest(opts: DigestCheckOptions): DigestCheckResult {
  const a = opts.authorization;
  if (a.realm !== opts.realm) return { ok: false, reason: 'wrong-realm' };
  if (opts.uri !== undefined && !sameUri(a.uri, opts.uri)) return { ok: false, reason: 'wrong-uri' };
  const expectedAlg = opts.algorithm ?? 'MD5';
  const gotAlg = a.algorithm ?? 'MD5';
  if (gotAlg.toLowerCase() !== expectedAlg.toLowerCase()) return { ok: false, reason: 'wrong-algorithm' };
  if (a.qop === undefined) {
    if (!opts.allowNoQop || isSess(expectedAlg)) return { ok: false, reason: 'bad-qop' };
  } else {
    if (a.qop !== 'auth') return { ok: false, reason: 'bad-qop' };
    if (a.nc === undefined || !/^[0-9a-fA-F]{8}$/.test(a.nc)) return { ok: false, reason: 'bad-nc' };
  }
  if (opts.nonceSecret !== undefined) {
    const state = checkNonce(opts.nonceSecret, a.nonce, opts.now ?? Date.now(), opts.maxNonceAgeMs ?? DEFAULT_MAX_NONCE_AGE_MS);
    if (state === 'invalid') return { ok: false, reason: 'invalid-nonce' };
    if (state === 'stale') return { ok: false, reason: 'stale-nonce' };
  }
  let ha1: string;
  if (opts.ha1 !== undefined) ha1 = opts.ha1.toLowerCase();
  else if (opts.password !== undefined) ha1 = hexHash(expectedAlg, `${a.username}:${a.realm}:${opts.password}`);
  else return { ok: false, reason: 'no-credentials' };
  const expected = computeResponse({
    algorithm: expectedAlg,
    ha1,
    nonce: a.nonce,
    method: opts.method,
    uri: a.uri,
    qop: a.qop,
    nc: a.nc,
    cnonce: a.cnonce,
  });
  return safeEqual(expected, a.response.toLowerCase()) ? { ok: true } : { ok: false, reason: 'bad-response' };
}

/**
 * Boolean form of `checkDigest`.
 * @returns true only when every check passes; never throws.
 */
export function verifyDigest(opts: DigestCheckOptions): boolean {
  return checkDigest(opts).ok;
}

// ---------------------------------------------------------------------------------------------
// Stateless nonces: base64url( issued-at ms (8 bytes) | random (8 bytes) | HMAC-SHA256 truncated (16 bytes) )
// ---------------------------------------------------------------------------------------------

const NONCE_TIME_BYTES = 8;
const NONCE_RANDOM_BYTES = 8;
const NONCE_MAC_BYTES = 16;
const NONCE_BODY_BYTES = NONCE_TIME_BYTES + NONCE_RANDOM_BYTES;
const NONCE_TOTAL_BYTES = NONCE_BODY_BYTES + NONCE_MAC_BYTES;
/** A nonce dated this far in the future was not issued by this clock: treat as forged. */
const NONCE_MAX_FUTURE_MS = 60 * 1000;

function nonceMac(secret: string | Buffer, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(body).digest().subarray(0, NONCE_MAC_BYTES);
}

/**
 * Creates a nonce that carries its own issue time and an HMAC over it, so that any process holding
 * `secret` can later check it without shared state.
 * @returns a 43-character base64url string (no quotes or commas to escape).
 */
export function createNonce(secret: string | Buffer, now: number = Date.now()): string {
  const body = Buffer.alloc(NONCE_BODY_BYTES);
  body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))), 0);
  randomBytes(NONCE_RANDOM_BYTES).copy(body, NONCE_TIME_BYTES);
  return Buffer.concat([body, nonceMac(secret, body)]).toString('base64url');
}

/**
 * Checks a nonce made by `createNonce`.
 * @returns 'ok' when authentic and at most maxAgeMs old, 'stale' when authentic but older,
 *          'invalid' when forged, malformed or dated in the future; never throws.
 */
export function checkNonce(secret: string | Buffer, nonce: string, now: number, maxAgeMs: number): 'ok' | 'stale' | 'invalid' {
  if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]+$/.test(nonce)) return 'invalid';
  const raw = Buffer.from(nonce, 'base64url');
  if (raw.length !== NONCE_TOTAL_BYTES) return 'invalid';
  const body = raw.subarray(0, NONCE_BODY_BYTES);
  if (!timingSafeEqual(nonceMac(secret, body), raw.subarray(NONCE_BODY_BYTES))) return 'invalid';
  const issued = Number(body.readBigUInt64BE(0));
  if (issued > now + NONCE_MAX_FUTURE_MS) return 'invalid';
  return now - issued > maxAgeMs ? 'stale' : 'ok';
}

// ---------------------------------------------------------------------------------------------
// Client state
// ---------------------------------------------------------------------------------------------

export interface DigestClientOptions {
  username: string;
  password: string;
  /** Answer Basic challenges too (only sensible over HTTPS). Default false. */
  allowBasic?: boolean;
}

/**
 * Client-side authentication state for one peer: remembers the chosen challenge so that later
 * requests can be authorised pre-emptively, and counts `nc` per nonce.
 *
 * Typical use: send the request with `authorization(method, uri)` (null at first); on a 401 call
 * `handleChallenge(res.headers['www-authenticate'])` and, if it returns true, retry once.
 */
export class DigestClient {
  private challenge: DigestChallenge | BasicChallenge | null = null;
  private nc = 0;

  constructor(private readonly opts: DigestClientOptions) {}

  /**
   * Takes a 401's WWW-Authenticate value(s).
   * @returns true when a usable challenge was found (retry worth it). A repeated challenge with the
   *          same nonce and without stale=true means the credentials were refused: false.
   */
  handleChallenge(header: string | readonly string[] | undefined): boolean {
    if (header === undefined) return false;
    const chosen = selectChallenge(parseAuthenticate(header), { allowBasic: this.opts.allowBasic });
    if (chosen === null) return false;
    const prev = this.challenge;
    const sameNonce = prev !== null && prev.scheme === 'Digest' && chosen.scheme === 'Digest' && prev.nonce === chosen.nonce;
    const refusedAgain = prev !== null && prev.scheme === chosen.scheme && (chosen.scheme === 'Basic' || (sameNonce && !chosen.stale));
    this.challenge = chosen;
    if (!sameNonce) this.nc = 0;
    return !refusedAgain;
  }

  /** Forgets the challenge (e.g. when the session ends and the peer will issue a new nonce). */
  reset(): void {
    this.challenge = null;
    this.nc = 0;
  }

  /**
   * @returns the Authorization header value for the next request, or null when no challenge is known.
   * @throws AuthError only for CR/LF in the username/uri (the challenge was vetted when stored).
   */
  authorization(method: string, uri: string): string | null {
    const ch = this.challenge;
    if (ch === null) return null;
    if (ch.scheme === 'Basic') return buildBasicAuthorization(this.opts.username, this.opts.password);
    // Wrap rather than exceed 2^32-1: the server will answer stale and we start over.
    this.nc = this.nc >= NC_MAX ? 1 : this.nc + 1;
    return buildDigestAuthorization({ challenge: ch, username: this.opts.username, password: this.opts.password, method, uri, nc: this.nc });
  }
}
