/**
 * HTTP transport of one CWMP session, CPE side (TR-069 §3.4).
 *
 * - One keep-alive agent with a single socket per session, so every POST of the session (and the
 *   retry after a 401) travels on the same TCP connection; if the ACS closes it, the agent opens a
 *   new one and the session goes on (§3.4.2). No pipelining: one request at a time.
 * - Cookies set by the ACS are sent back on every later POST of the session.
 * - 401: Digest (MD5, MD5-sess, qop=auth) or Basic (HTTPS only), answered on the same connection.
 * - Redirects 301/302/307/308 switch the URL for the rest of the session (at most 5).
 * - Header rules: an envelope carries `Content-Type: text/xml; charset="utf-8"` and an empty
 *   `SOAPAction`; the empty POST carries neither, only `Content-Length: 0`.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { CookieJar } from './cookies.ts';
import { ClientAuthError, ClientAuthenticator, type Credentials } from './http-auth.ts';

/** At least five redirects per session must be followed (CWMP-CHECKLIST §2). */
export const MAX_REDIRECTS = 5;
/** The CPE must wait at least 30 s for a response before declaring the session failed. */
export const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
/** Refuse ACS responses beyond this size (protects a device with little memory). */
export const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export type PostKind = 'envelope' | 'empty';

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered (after redirects). */
  url: URL;
  /** Local port of the socket that carried the answer (tests check connection reuse). */
  localPort: number | undefined;
}

export class TransportError extends Error {
  constructor(
    readonly kind: 'network' | 'timeout' | 'auth' | 'redirects' | 'too-large' | 'tls',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

/**
 * Supplies keep-alive agents; the fleet recycles them across sessions to save TCP handshakes.
 * Agents disable Nagle's algorithm (`noDelay`): node:http writes a POST's head and body as two
 * segments, and with Nagle on the body waits for the ACS's delayed ACK (40 ms on Linux) on every
 * exchange; 10 devices in session could then not do more than ~200 sessions/s against any ACS
 * (bench/lib/loadgen.ts measured it).
 */
export interface AgentSource {
  acquire(url: URL): http.Agent;
  release(agent: http.Agent, reusable: boolean): void;
}

export interface TransportOptions {
  credentials?: Credentials | null;
  /** Extra CA certificate(s) (PEM) trusted for HTTPS. */
  ca?: string | Buffer;
  responseTimeoutMs?: number;
  agents?: AgentSource;
  now?: () => number;
  userAgent?: string;
}

/** A fresh single-socket keep-alive agent per session (the single-device default). */
export class FreshAgentSource implements AgentSource {
  constructor(private readonly ca?: string | Buffer) {}
  acquire(url: URL): http.Agent {
    return url.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, maxSockets: 1, noDelay: true, ca: this.ca ? [this.ca] : undefined })
      : new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
  }
  release(agent: http.Agent): void {
    agent.destroy();
  }
}

/**
 * A pool of single-socket keep-alive agents shared by many devices: a finished session hands its
 * agent (and its open TCP connection) to the next session. An Inform always starts a new session at
 * the ACS, so reusing a connection across devices is safe.
 */
export class PooledAgentSource implements AgentSource {
  private idle: { http: http.Agent[]; https: https.Agent[] } = { http: [], https: [] };

  constructor(
    private readonly ca?: string | Buffer,
    private readonly maxIdle = 256,
  ) {}

  acquire(url: URL): http.Agent {
    const secure = url.protocol === 'https:';
    const list = secure ? this.idle.https : this.idle.http;
    const a = list.pop();
    if (a) return a;
    return secure
      ? new https.Agent({ keepAlive: true, maxSockets: 1, noDelay: true, ca: this.ca ? [this.ca] : undefined })
      : new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
  }

  release(agent: http.Agent, reusable: boolean): void {
    const list = agent instanceof https.Agent ? this.idle.https : this.idle.http;
    if (reusable && list.length < this.maxIdle) list.push(agent);
    else agent.destroy();
  }

  /** Closes every idle connection. */
  destroy(): void {
    for (const a of [...this.idle.http, ...this.idle.https]) a.destroy();
    this.idle = { http: [], https: [] };
  }
}

/** The HTTP side of one CWMP session. Call `close()` when the session ends. */
export class SessionTransport {
  readonly cookies: CookieJar;
  private readonly auth: ClientAuthenticator;
  private agent: http.Agent;
  private agentProtocol: string;
  private redirects = 0;
  private closed = false;
  private failed = false;
  private readonly timeoutMs: number;
  private readonly agents: AgentSource;
  /** Local ports of every TCP connection used so far (tests and diagnostics). */
  readonly localPorts = new Set<number>();

  constructor(
    private url: URL,
    private readonly opts: TransportOptions = {},
  ) {
    this.cookies = new CookieJar(opts.now);
    this.auth = new ClientAuthenticator(opts.credentials ?? null);
    this.timeoutMs = Math.max(1, opts.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS);
    this.agents = opts.agents ?? new FreshAgentSource(opts.ca);
    this.agent = this.agents.acquire(url);
    this.agentProtocol = url.protocol;
  }

  /** The URL the session currently talks to (changes after a redirect). */
  get currentUrl(): URL {
    return this.url;
  }

  get redirectCount(): number {
    return this.redirects;
  }

  /**
   * POSTs an envelope (or the empty POST when `xml` is null) and returns the final reply, after
   * answering 401 challenges and following redirects. Throws TransportError on network errors,
   * timeouts, refused authentication or too many redirects.
   */
  async post(xml: string | null): Promise<HttpReply> {
    if (this.closed) throw new TransportError('network', 'session transport is closed');
    const body = xml === null ? null : Buffer.from(xml, 'utf8');
    let authAttempts = 0;
    for (;;) {
      const reply = await this.send(body);
      if (reply.status === 401) {
        authAttempts++;
        if (authAttempts > 2) throw new TransportError('auth', 'authentication failed (repeated 401)');
        try {
          this.auth.respond(reply.headers['www-authenticate'], this.url);
        } catch (err) {
          if (err instanceof ClientAuthError) throw new TransportError('auth', err.message);
          throw err;
        }
        continue;
      }
      if (REDIRECT_STATUSES.has(reply.status)) {
        const loc = reply.headers.location;
        if (!loc) return reply;
        if (++this.redirects > MAX_REDIRECTS) throw new TransportError('redirects', `more than ${MAX_REDIRECTS} redirects`);
        let next: URL;
        try {
          next = new URL(loc, this.url);
        } catch {
          throw new TransportError('network', `bad redirect location ${JSON.stringify(loc)}`);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:') {
          throw new TransportError('network', `redirect to unsupported scheme ${next.protocol}`);
        }
        this.switchUrl(next);
        continue;
      }
      return reply;
    }
  }

  /** Ends the session: the connection is closed (or handed back to the pool when healthy). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.agents.release(this.agent, !this.failed);
  }

  private switchUrl(next: URL): void {
    if (next.protocol !== this.agentProtocol || next.host !== this.url.host) {
      // A new origin: a new connection (the old one is of no use any more).
      this.agents.release(this.agent, false);
      this.agent = this.agents.acquire(next);
      this.agentProtocol = next.protocol;
    }
    this.url = next;
  }

  private send(body: Buffer | null): Promise<HttpReply> {
    const url = this.url;
    const headers: http.OutgoingHttpHeaders = {};
    if (body === null) {
      headers['content-length'] = 0;
    } else {
      headers['content-type'] = 'text/xml; charset="utf-8"';
      headers['soapaction'] = '';
      headers['content-length'] = body.length;
    }
    if (this.opts.userAgent) headers['user-agent'] = this.opts.userAgent;
    const cookie = this.cookies.headerFor(url);
    if (cookie) headers.cookie = cookie;
    const authz = this.auth.authorization('POST', url);
    if (authz) headers.authorization = authz;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise<HttpReply>((resolve, reject) => {
      let settled = false;
      const fail = (err: TransportError): void => {
        if (settled) return;
        settled = true;
        this.failed = true;
        reject(err);
      };
      const req = mod.request(
        url,
        {
          method: 'POST',
          headers,
          agent: this.agent,
          timeout: this.timeoutMs,
          ca: url.protocol === 'https:' && this.opts.ca ? [this.opts.ca] : undefined,
        },
        (res: IncomingMessage) => {
          // Read now: after 'end' the socket goes back to the agent and res.socket may be gone.
          const localPort = res.socket?.localPort;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE_BYTES) {
              res.destroy();
              fail(new TransportError('too-large', `ACS response larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            this.cookies.setFromHeaders(url, res.headers['set-cookie']);
            if (localPort !== undefined) this.localPorts.add(localPort);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url, localPort });
          });
          res.on('error', (err) => fail(new TransportError('network', `response error: ${err.message}`, { cause: err })));
        },
      );
      req.on('timeout', () => {
        req.destroy();
        fail(new TransportError('timeout', `no response from ${url.origin} within ${this.timeoutMs} ms`));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        const tls = typeof err.code === 'string' && /CERT|SSL|TLS|SELF_SIGNED/i.test(err.code);
        fail(new TransportError(tls ? 'tls' : 'network', `${url.origin}: ${err.message}`, { cause: err }));
      });
      req.end(body ?? undefined);
    });
  }
}
