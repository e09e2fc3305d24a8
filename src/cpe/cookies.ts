/**
 * A small cookie jar for one CWMP session (RFC 6265 subset).
 *
 * ACSs tie the POSTs of a session together with cookies; the CPE must keep several of them, with
 * attributes (Path, Domain, Max-Age, Expires, Secure, HttpOnly), and send them back on every later
 * POST of the same session. Cookies are not kept across sessions, so the jar lives with the session.
 */

interface StoredCookie {
  name: string;
  value: string;
  /** Lower-case host the cookie belongs to. */
  domain: string;
  /** True when the Domain attribute was given (the cookie also matches sub-domains). */
  domainMatchSubdomains: boolean;
  path: string;
  secure: boolean;
  /** Expiry in ms since the epoch; Infinity for a session cookie. */
  expires: number;
}

/** Cookie storage limit per jar; the spec asks for at least 512 bytes, we allow far more. */
const MAX_JAR_BYTES = 16 * 1024;

export class CookieJar {
  private cookies: StoredCookie[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Stores the cookies of one or more `Set-Cookie` header values received from `url`. Malformed ones are ignored. */
  setFromHeaders(url: URL, headers: string | string[] | undefined): void {
    if (headers === undefined) return;
    for (const h of Array.isArray(headers) ? headers : [headers]) this.setCookie(url, h);
  }

  /** Stores one `Set-Cookie` value received from `url`. */
  setCookie(url: URL, header: string): void {
    const parts = header.split(';');
    const first = parts.shift() ?? '';
    const eq = first.indexOf('=');
    if (eq <= 0) return;
    const name = first.slice(0, eq).trim();
    const value = stripQuotes(first.slice(eq + 1).trim());
    if (!name) return;
    const host = url.hostname.toLowerCase();
    const cookie: StoredCookie = {
      name,
      value,
      domain: host,
      domainMatchSubdomains: false,
      path: defaultPath(url),
      secure: false,
      expires: Infinity,
    };
    let maxAgeSeen = false;
    for (const raw of parts) {
      const i = raw.indexOf('=');
      const attr = (i < 0 ? raw : raw.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : raw.slice(i + 1).trim();
      switch (attr) {
        case 'path':
          if (val.startsWith('/')) cookie.path = val;
          break;
        case 'domain': {
          const d = val.replace(/^\./, '').toLowerCase();
          // A server may only set cookies for its own domain (or a parent of it).
          if (d && (host === d || host.endsWith(`.${d}`))) {
            cookie.domain = d;
            cookie.domainMatchSubdomains = true;
          } else if (d) {
            return;
          }
          break;
        }
        case 'max-age': {
          const n = Number.parseInt(val, 10);
          if (Number.isFinite(n)) {
            cookie.expires = n <= 0 ? 0 : this.now() + n * 1000;
            maxAgeSeen = true;
          }
          break;
        }
        case 'expires': {
          const t = Date.parse(val);
          if (!maxAgeSeen && Number.isFinite(t)) cookie.expires = t;
          break;
        }
        case 'secure':
          cookie.secure = true;
          break;
        default:
          // HttpOnly, SameSite and unknown attributes do not change what a CPE sends.
          break;
      }
    }
    this.cookies = this.cookies.filter(
      (c) => !(c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path),
    );
    if (cookie.expires > this.now()) this.cookies.push(cookie);
    this.enforceLimit();
  }

  /** Returns the `Cookie` header value for a request to `url`, or undefined if no cookie applies. */
  headerFor(url: URL): string | undefined {
    const now = this.now();
    this.cookies = this.cookies.filter((c) => c.expires > now);
    const host = url.hostname.toLowerCase();
    const path = url.pathname || '/';
    const matching = this.cookies
      .filter(
        (c) =>
          (c.domain === host || (c.domainMatchSubdomains && host.endsWith(`.${c.domain}`))) &&
          pathMatches(path, c.path) &&
          (!c.secure || url.protocol === 'https:'),
      )
      // Longer paths first (RFC 6265 §5.4).
      .sort((a, b) => b.path.length - a.path.length);
    if (!matching.length) return undefined;
    return matching.map((c) => `${c.name}=${c.value}`).join('; ');
  }

  /** Number of cookies stored. */
  size(): number {
    return this.cookies.length;
  }

  private enforceLimit(): void {
    let bytes = this.cookies.reduce((n, c) => n + c.name.length + c.value.length, 0);
    while (bytes > MAX_JAR_BYTES && this.cookies.length) {
      const dropped = this.cookies.shift();
      if (dropped) bytes -= dropped.name.length + dropped.value.length;
    }
  }
}

function stripQuotes(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** RFC 6265 §5.1.4 default-path. */
function defaultPath(url: URL): string {
  const p = url.pathname;
  if (!p.startsWith('/')) return '/';
  const last = p.lastIndexOf('/');
  return last <= 0 ? '/' : p.slice(0, last);
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
