/**
 * UDP Connection Request (TR-111 Part 2, now TR-069 Annex G).
 *
 * The ACS wakes a CPE behind a NAT by sending one UDP datagram holding an HTTP/1.1 GET without a body:
 *
 *   GET http://{host}:{port}?ts={ts}&id={id}&un={un}&cn={cn}&sig={sig} HTTP/1.1\r\n
 *   Host: {host}:{port}\r\n
 *   \r\n
 *
 * `ts` is the Unix time in seconds, `id` a message id shared by retransmissions of the same request,
 * `un` the CPE's ConnectionRequestUsername, `cn` a random cnonce, and `sig` the hex HMAC-SHA1 keyed
 * with ConnectionRequestPassword over `ts + id + un + cn` (concatenated, no separators, values as
 * they appear decoded in the query). The CPE never answers the datagram.
 *
 * Pure functions: no I/O. Parsing never throws; it returns a typed `UdpCrError` instead.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';

/** A parsed, not yet verified, UDP Connection Request. */
export interface UdpConnectionRequest {
  /** Decimal Unix time in seconds, exactly as sent (the signature covers the text). */
  ts: string;
  /** Decimal message id, exactly as sent. */
  id: string;
  /** `un`: the ConnectionRequestUsername the ACS used. */
  username: string;
  /** `cn`: the cnonce. */
  cnonce: string;
  /** `sig`: 40 hex digits, case as sent. */
  signature: string;
  /** Host from the absolute request-target or else the Host header; undefined when neither has one. */
  host?: string;
  port?: number;
}

export type UdpCrErrorCode =
  | 'too-large'
  | 'not-http'
  | 'not-get'
  | 'bad-request-target'
  | 'missing-parameter'
  | 'bad-parameter'
  | 'has-body';

/** Why a datagram is not a well-formed UDP Connection Request. */
export interface UdpCrError {
  error: UdpCrErrorCode;
  message: string;
}

/** Narrows a parse result. */
export function isUdpCrError(x: UdpConnectionRequest | UdpCrError): x is UdpCrError {
  return 'error' in x;
}

export interface BuildUdpConnectionRequestOptions {
  /** The CPE's public address (the host part of UDPConnectionRequestAddress); IPv6 without brackets. */
  host: string;
  /** Port; omitted from the text when 80. */
  port: number;
  /** Unix time in seconds (integer). */
  ts: number;
  /** Message id, a 32-bit unsigned integer; reuse it for retransmissions of the same request. */
  id: number;
  /** ConnectionRequestUsername. */
  username: string;
  /** Random string; see `randomCnonce()`. */
  cnonce: string;
  /** ConnectionRequestPassword (the HMAC key). */
  password: string;
}

const UINT32_MAX = 0xffffffff;
const HTTP_DEFAULT_PORT = 80;
const MAX_PORT = 65535;
/** A real request is ~200 bytes; anything much larger is not one (and not worth parsing). */
export const UDP_CR_MAX_DATAGRAM_BYTES = 4096;
const SIG_HEX = /^[0-9a-fA-F]{40}$/;
/** Decimal unsigned integer without sign; 20 digits covers anything a peer could mean by ts or id. */
const DECIMAL = /^[0-9]{1,20}$/;
const CNONCE_BYTES = 8;

/**
 * The signature text's HMAC.
 * @returns lower-case hex HMAC-SHA1(key = password, text = ts + id + un + cn).
 */
export function udpConnectionRequestSignature(ts: string | number, id: string | number, username: string, cnonce: string, password: string): string {
  return createHmac('sha1', password).update(`${ts}${id}${username}${cnonce}`, 'utf8').digest('hex');
}

/** A random cnonce (16 upper-case hex digits). */
export function randomCnonce(): string {
  return randomBytes(CNONCE_BYTES).toString('hex').toUpperCase();
}

function hostPort(host: string, port: number): string {
  const h = isIPv6(host) ? `[${host}]` : host;
  return port === HTTP_DEFAULT_PORT ? h : `${h}:${port}`;
}

/**
 * Builds the datagram text of a UDP Connection Request.
 * @returns the HTTP/1.1 GET text (CRLF line ends, empty body).
 * @throws TypeError for a host with whitespace/CR/LF/brackets, a port outside 1..65535,
 *         or ts/id that are not non-negative integers (id at most 2^32-1).
 */
export function buildUdpConnectionRequest(opts: BuildUdpConnectionRequestOptions): string {
  if (!/^[^\s/?#@[\]]+$/.test(opts.host) && !isIPv6(opts.host)) throw new TypeError(`invalid host ${JSON.stringify(opts.host)}`);
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > MAX_PORT) throw new TypeError(`invalid port ${opts.port}`);
  if (!Number.isSafeInteger(opts.ts) || opts.ts < 0) throw new TypeError(`invalid ts ${opts.ts}`);
  if (!Number.isInteger(opts.id) || opts.id < 0 || opts.id > UINT32_MAX) throw new TypeError(`invalid id ${opts.id}`);
  const sig = udpConnectionRequestSignature(opts.ts, opts.id, opts.username, opts.cnonce, opts.password);
  const authority = hostPort(opts.host, opts.port);
  const query = [
    `ts=${opts.ts}`,
    `id=${opts.id}`,
    `un=${encodeURIComponent(opts.username)}`,
    `cn=${encodeURIComponent(opts.cnonce)}`,
    `sig=${sig}`,
  ].join('&');
  return `GET http://${authority}?${query} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
}

/**
 * Splits "host:port", "[v6]:port", "host" (port 80) as found in UDPConnectionRequestAddress.
 * @returns { host, port } (IPv6 without brackets) or null when malformed; never throws.
 */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/?#@]+))(?::([0-9]{1,5}))?$/.exec(text.trim());
  if (!m) return null;
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && !isIPv6(m[1])) return null;
  const port = m[3] === undefined ? HTTP_DEFAULT_PORT : Number(m[3]);
  if (port < 1 || port > MAX_PORT) return null;
  return { host, port };
}

function err(error: UdpCrErrorCode, message: string): UdpCrError {
  return { error, message };
}

/**
 * Parses a UDP Connection Request datagram. Accepts an absolute request-target (the standard form),
 * with or without a "/" path, and also origin-form ("/?ts=…") from lax senders; header names are
 * case-insensitive; LF line ends are tolerated.
 * @returns the request fields (signature not checked) or a UdpCrError; never throws.
 */
export function parseUdpConnectionRequest(datagram: Uint8Array | string): UdpConnectionRequest | UdpCrError {
  const size = typeof datagram === 'string' ? Buffer.byteLength(datagram, 'utf8') : datagram.byteLength;
  if (size > UDP_CR_MAX_DATAGRAM_BYTES) return err('too-large', `datagram of ${size} bytes`);
  const text = typeof datagram === 'string' ? datagram : Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength).toString('latin1');
  const headEnd = /\r?\n\r?\n/.exec(text);
  const head = headEnd ? text.slice(0, headEnd.index) : text.replace(/\r?\n$/, '');
  const body = headEnd ? text.slice(headEnd.index + headEnd[0].length) : '';
  const lines = head.split(/\r?\n/);
  const requestLine = /^([A-Za-z]+) (\S+) HTTP\/1\.[0-9]$/.exec(lines[0] ?? '');
  if (!requestLine) return err('not-http', 'first line is not an HTTP request line');
  if (requestLine[1] !== 'GET') return err('not-get', `method ${requestLine[1]}`);

  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return err('not-http', 'malformed header line');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  const contentLength = headers.get('content-length');
  if (body.length > 0 || (contentLength !== undefined && contentLength !== '0')) return err('has-body', 'a UDP Connection Request has no body');

  const target = requestLine[2];
  let authority: string | undefined;
  let query: string;
  const absolute = /^http:\/\/([^/?#]+)[^?#]*\?([^#]*)$/i.exec(target);
  if (absolute) {
    authority = absolute[1];
    query = absolute[2];
  } else {
    const origin = /^\/?[^?#]*\?([^#]*)$/.exec(target);
    if (!origin || target.includes('://')) return err('bad-request-target', 'request-target has no query');
    query = origin[1];
    authority = headers.get('host');
  }
  let where: { host: string; port: number } | null = null;
  if (authority !== undefined) {
    where = parseHostPort(authority);
    if (where === null) return err('bad-request-target', `bad authority ${JSON.stringify(authority)}`);
  }

  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    return err('bad-parameter', 'undecodable query');
  }
  const get = (k: string): string | null => params.get(k);
  const ts = get('ts');
  const id = get('id');
  const un = get('un');
  const cn = get('cn');
  const sig = get('sig');
  if (ts === null || id === null || un === null || cn === null || sig === null) {
    return err('missing-parameter', 'ts, id, un, cn and sig are all required');
  }
  if (!DECIMAL.test(ts)) return err('bad-parameter', 'ts is not a decimal integer');
  if (!DECIMAL.test(id)) return err('bad-parameter', 'id is not a decimal integer');
  if (!SIG_HEX.test(sig)) return err('bad-parameter', 'sig is not 40 hex digits');
  return { ts, id, username: un, cnonce: cn, signature: sig, host: where?.host, port: where?.port };
}

/** "007" and "7" are the same id. */
function normaliseDecimal(s: string): string {
  return s.replace(/^0+(?=[0-9])/, '');
}

export type UdpCrRejectReason = 'bad-signature' | 'wrong-username' | 'replayed-id' | 'stale-timestamp' | 'malformed';

export type UdpCrVerifyResult = { ok: true } | { ok: false; reason: UdpCrRejectReason };

export interface VerifyUdpConnectionRequestOptions {
  /** ConnectionRequestUsername. */
  username: string;
  /** ConnectionRequestPassword. */
  password: string;
  /** The last request this CPE accepted (persist across restarts if possible). */
  lastAccepted?: { ts: string | number; id: string | number };
  /** Unix time in seconds; only used with maxSkewSeconds. */
  now?: number;
  /**
   * When set, a ts further than this from `now` (either way) is refused as stale. Off by default:
   * many CPEs have no reliable clock before their first session.
   */
  maxSkewSeconds?: number;
}

/**
 * Verifies a parsed UDP Connection Request, in this order: well-formed, `un` equals the username,
 * signature (constant time, hex case-insensitive), not a retransmission of the last accepted id,
 * `ts` not older than the last accepted one (equal is allowed: ts has a one-second resolution and
 * two requests may share it), and optionally within `maxSkewSeconds` of `now`.
 * On { ok: true } the caller should store { ts, id } as the new lastAccepted.
 * @returns { ok: true } or { ok: false, reason }; never throws.
 */
export function verifyUdpConnectionRequest(req: UdpConnectionRequest | UdpCrError, opts: VerifyUdpConnectionRequestOptions): UdpCrVerifyResult {
  if (isUdpCrError(req)) return { ok: false, reason: 'malformed' };
  if (!DECIMAL.test(req.ts) || !DECIMAL.test(req.id) || !SIG_HEX.test(req.signature)) return { ok: false, reason: 'malformed' };
  if (req.username !== opts.username) return { ok: false, reason: 'wrong-username' };
  const expected = Buffer.from(udpConnectionRequestSignature(req.ts, req.id, req.username, req.cnonce, opts.password), 'utf8');
  const got = Buffer.from(req.signature.toLowerCase(), 'utf8');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return { ok: false, reason: 'bad-signature' };
  const ts = Number(req.ts);
  if (opts.lastAccepted !== undefined) {
    if (normaliseDecimal(req.id) === normaliseDecimal(String(opts.lastAccepted.id))) return { ok: false, reason: 'replayed-id' };
    if (ts < Number(opts.lastAccepted.ts)) return { ok: false, reason: 'stale-timestamp' };
  }
  if (opts.maxSkewSeconds !== undefined) {
    const now = opts.now ?? Math.floor(Date.now() / 1000);
    if (Math.abs(now - ts) > opts.maxSkewSeconds) return { ok: false, reason: 'stale-timestamp' };
  }
  return { ok: true };
}
