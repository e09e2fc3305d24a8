/**
 * The CWMP HTTP listener: a thin layer that maps POSTs to sessions and hands them to the session
 * engine. Built on bare `node:http` rather than Fastify: listener-measure.ts found no CPU difference
 * beyond noise on the Inform/empty/204 shape, and a CWMP session (a few XML POSTs on one keep-alive
 * connection, bound to its socket) needs none of Fastify's routing, JSON schemas or hooks.
 *
 * Session binding (field-robustness.md): by our cookie when the CPE echoes it (with or without the
 * attributes of our Set-Cookie), else by the TCP connection, else - as a last resort for CPEs that
 * neither keep the connection nor return cookies - by the remote IP when exactly one session from
 * that IP is open and never saw its cookie. An Inform always starts a new session.
 *
 * One session per device: a new Inform for a device already in session here supersedes that
 * session when it comes from the same IP address or the old session has been idle for
 * `supersedeIdleMs` (the CPE gave up on it); otherwise it gets 503 + Retry-After (see engine.ts).
 * A bound on concurrent sessions (`maxSessions`) answers new Informs 503 + Retry-After.
 *
 * Two ways in: `handle`, a node:http request listener (the listener on the main event loop), and
 * `handleRequest`, a request whose body was already read, with stand-ins for the request and the
 * response (the listener thread, listener-thread.ts, the default of `startAcs` on SQLite).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { informDeviceId, informOf, type EngineLogger, type SessionEngine } from '../session/engine.ts';
import type { Decoded, EngineNotice, EngineReply, SessionState } from '../session/state.ts';
import type { Task } from '../../store/types.ts';
import type { CpeAuthenticator } from './cpe-auth.ts';
import { readBody } from './listener-common.mjs';

export interface CwmpServiceOptions {
  engine: SessionEngine;
  auth: CpeAuthenticator;
  logger: EngineLogger;
  /** A session with no POST for this long is ended (outcome `timeout`). Default 30 s. */
  idleTimeoutMs?: number;
  /** Concurrent sessions; new Informs beyond it get 503. Default 10,000. */
  maxSessions?: number;
  /** Retry-After (s) sent with a 503 for the concurrency bound. Default 30. */
  busyRetryAfterSeconds?: number;
  /** Largest request body on the wire (before decompression). Default 4 MiB. */
  maxRequestBytes?: number;
  cookieName?: string;
  /** See the module comment. Default 5 s. */
  supersedeIdleMs?: number;
  onNotices?: (notices: EngineNotice[]) => void;
  clock?: () => number;
}

/**
 * What the service reads of a request: a node:http IncomingMessage, or the stand-in the listener
 * thread (listener-thread.ts) builds from a message. `socket` identifies the TCP connection (the
 * same object for every request of one connection); `encrypted` is true over TLS.
 */
export interface CwmpRequest {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
  socket: CwmpConnection;
}

/** The TCP connection of a request, compared by identity. */
export interface CwmpConnection {
  remoteAddress?: string;
  encrypted?: boolean;
}

/** What the service calls on a response: a node:http ServerResponse, or the listener thread's stand-in. */
export interface CwmpResponse {
  readonly headersSent: boolean;
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  end(): unknown;
  end(body: string, encoding: 'utf8'): unknown;
  destroy(): unknown;
}

interface LiveSession {
  state: SessionState;
  timer: NodeJS.Timeout;
  ip: string | null;
  /** The CPE returned our cookie at least once. */
  cookieSeen: boolean;
  /** Serialises the POSTs of one session. */
  chain: Promise<void>;
}

const DEFAULTS = {
  idleTimeoutMs: 30_000,
  maxSessions: 10_000,
  busyRetryAfterSeconds: 30,
  maxRequestBytes: 4 * 1024 * 1024,
  cookieName: 'sb_session',
  supersedeIdleMs: 5_000,
} as const;

/** Strips the IPv4-mapped prefix so `::ffff:10.0.0.1` and `10.0.0.1` compare equal. */
function normaliseIp(ip: string | undefined): string | null {
  if (!ip) return null;
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** Our session id from a Cookie header (tolerates echoed attributes such as `Path=/; HttpOnly`). */
export function sessionIdFromCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(/[;,]/)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const v = part.slice(eq + 1).trim().replace(/^"|"$/g, '');
      if (/^[0-9a-f]{32}$/.test(v)) return v;
    }
  }
  return null;
}

/** Maps HTTP requests to CWMP sessions; `handle` is the http(s) request listener. */
export class CwmpService {
  private readonly engine: SessionEngine;
  private readonly auth: CpeAuthenticator;
  private readonly log: EngineLogger;
  private readonly o: Required<Omit<CwmpServiceOptions, 'engine' | 'auth' | 'logger' | 'onNotices' | 'clock'>>;
  private readonly onNotices: (notices: EngineNotice[]) => void;
  private readonly clock: () => number;
  private readonly sessions = new Map<string, LiveSession>();
  private readonly byDevice = new Map<string, string>();
  private readonly byIp = new Map<string, Set<string>>();
  private readonly bySocket = new WeakMap<CwmpConnection, string>();
  private closing = false;
  /** Informs being authenticated/started: they count against the bound before they are sessions. */
  private starting = 0;

  constructor(options: CwmpServiceOptions) {
    this.engine = options.engine;
    this.auth = options.auth;
    this.log = options.logger;
    this.onNotices = options.onNotices ?? (() => {});
    this.clock = options.clock ?? Date.now;
    this.o = {
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      maxSessions: options.maxSessions ?? DEFAULTS.maxSessions,
      busyRetryAfterSeconds: options.busyRetryAfterSeconds ?? DEFAULTS.busyRetryAfterSeconds,
      maxRequestBytes: options.maxRequestBytes ?? DEFAULTS.maxRequestBytes,
      cookieName: options.cookieName ?? DEFAULTS.cookieName,
      supersedeIdleMs: options.supersedeIdleMs ?? DEFAULTS.supersedeIdleMs,
    };
  }

  get idleTimeoutMs(): number {
    return this.o.idleTimeoutMs;
  }

  /** Number of open sessions. */
  activeSessions(): number {
    return this.sessions.size;
  }

  /** The open session of a device, if any. */
  sessionOf(deviceId: string): SessionState | null {
    const id = this.byDevice.get(deviceId);
    return id ? (this.sessions.get(id)?.state ?? null) : null;
  }

  /** Adds a new task to the device's open session (it then runs in that session); false when none. */
  enqueue(deviceId: string, task: Task): boolean {
    const s = this.sessionOf(deviceId);
    return s ? this.engine.enqueue(s, task) : false;
  }

  /** Largest request body on the wire (bytes): the listener thread enforces it before sending a body on. */
  get maxRequestBytes(): number {
    return this.o.maxRequestBytes;
  }

  /** Request listener for http.createServer / https.createServer. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const read = req.method === 'POST' && !this.closing ? readBody(req, this.o.maxRequestBytes) : (req.resume(), Promise.resolve(null));
    read.then(
      (body) => this.handleRequest(req, body, res),
      (err: unknown) => this.failed(err, res),
    );
  };

  /**
   * Serves one request whose body has been read (`body` null: over `maxRequestBytes`, or not read
   * because the method is not POST or the service is closing). Never rejects: a failure answers 500.
   */
  readonly handleRequest = (req: CwmpRequest, body: Buffer | null, res: CwmpResponse): void => {
    this.serve(req, body, res).catch((err: unknown) => this.failed(err, res));
  };

  private failed(err: unknown, res: CwmpResponse): void {
    this.log.error({ err }, 'CWMP request failed');
    if (!res.headersSent) {
      res.writeHead(500, { 'content-length': '0' });
      res.end();
    } else res.destroy();
  }

  private async serve(req: CwmpRequest, body: Buffer | null, res: CwmpResponse): Promise<void> {
    if (req.method !== 'POST') {
      send(res, 405, { allow: 'POST', 'content-type': 'text/plain' }, 'CWMP endpoint: POST only\n');
      return;
    }
    if (this.closing) {
      send(res, 503, { 'retry-after': String(this.o.busyRetryAfterSeconds), connection: 'close' }, '');
      return;
    }
    if (body === null) {
      this.log.warn({ remoteAddress: req.socket.remoteAddress }, 'CWMP request body too large');
      send(res, 413, { connection: 'close' }, '');
      return;
    }
    const decoded = this.engine.decode({ body, contentType: header(req, 'content-type'), contentEncoding: header(req, 'content-encoding') });
    const inform = informOf(decoded);
    // An Inform never binds by IP: another device behind the same address must not end a session.
    const bound = this.findSession(req, inform === null);
    if (inform) {
      await this.onInform(req, res, decoded, informDeviceId(inform), bound);
      return;
    }
    if (!bound) {
      const reply = await this.engine.handle(null, decoded, { remoteAddress: remoteOf(req) });
      this.respond(res, reply, null);
      return;
    }
    // POSTs of one session are handled one at a time, in arrival order.
    const run = bound.chain.then(async () => {
      const reply = await this.engine.handle(bound.state, decoded, { remoteAddress: remoteOf(req) });
      this.afterReply(req, reply, bound);
      this.respond(res, reply, null);
    });
    bound.chain = run.catch(() => {});
    await run;
  }

  private async onInform(req: CwmpRequest, res: CwmpResponse, decoded: Decoded, deviceId: string, bound: LiveSession | null): Promise<void> {
    const ip = normaliseIp(req.socket.remoteAddress);
    // the device's own open session, if any: supersede it or refuse the newcomer
    const existingId = this.byDevice.get(deviceId);
    const existing = existingId ? (this.sessions.get(existingId) ?? null) : null;
    let previous: LiveSession | null = null;
    if (existing) {
      const idle = this.clock() - existing.state.lastActivityAt;
      if (existing === bound || existing.ip === ip || idle >= this.o.supersedeIdleMs) previous = existing;
      // else: the engine finds the lock held and answers 503
    } else if (this.sessions.size + this.starting >= this.o.maxSessions) {
      this.log.warn({ deviceId, sessions: this.sessions.size }, 'concurrent session bound reached: 503');
      send(res, 503, { 'retry-after': String(this.o.busyRetryAfterSeconds) }, '');
      return;
    }
    this.starting++;
    try {
      await this.startFromInform(req, res, decoded, deviceId, bound, previous);
    } finally {
      this.starting--;
    }
  }

  private async startFromInform(req: CwmpRequest, res: CwmpResponse, decoded: Decoded, deviceId: string, bound: LiveSession | null, previous: LiveSession | null): Promise<void> {
    const auth = await this.auth.authenticate(
      { authorization: header(req, 'authorization'), method: 'POST', url: req.url ?? '/', secure: isTls(req), socket: req.socket },
      deviceId,
    );
    if (!auth.ok) {
      // A missing header is the normal first step of the handshake; anything else is worth a warning.
      const level = auth.reason === 'no credentials' ? 'debug' : 'warn';
      this.log[level]({ deviceId, remoteAddress: req.socket.remoteAddress, reason: auth.reason }, 'CPE authentication failed');
      res.writeHead(401, { 'www-authenticate': auth.challenges, 'content-length': '0' });
      res.end();
      return;
    }
    // A session bound by cookie/connection to another device (a gateway proxying?) ends on its own.
    if (bound && bound !== previous && bound.state.phase !== 'ended') {
      const notices = await this.engine.end(bound.state, 'aborted', 'superseded by a new Inform on its connection');
      this.unregister(bound);
      this.onNotices(notices);
    }
    if (previous) {
      await previous.chain;
      this.unregister(previous);
    }
    const reply = await this.engine.handle(previous?.state ?? null, decoded, { remoteAddress: remoteOf(req) });
    let setCookie: string | null = null;
    if (reply.session) {
      this.register(reply.session, req);
      setCookie = `${this.o.cookieName}=${reply.session.id}; Path=/; HttpOnly${isTls(req) ? '; Secure' : ''}`;
    }
    this.respond(res, reply, setCookie);
  }

  /** Finds the session a POST belongs to: by cookie, by connection, then (if allowed) by IP. */
  private findSession(req: CwmpRequest, byIp: boolean): LiveSession | null {
    const cookieId = sessionIdFromCookie(header(req, 'cookie'), this.o.cookieName);
    if (cookieId) {
      const s = this.sessions.get(cookieId);
      if (s) {
        s.cookieSeen = true;
        this.bySocket.set(req.socket, cookieId);
        return s;
      }
    }
    const socketId = this.bySocket.get(req.socket);
    if (socketId) {
      const s = this.sessions.get(socketId);
      if (s) return s;
    }
    if (!byIp) return null;
    const ip = normaliseIp(req.socket.remoteAddress);
    const candidates = ip ? this.byIp.get(ip) : undefined;
    if (candidates && candidates.size === 1) {
      const s = this.sessions.get([...candidates][0]);
      if (s && !s.cookieSeen) {
        this.bySocket.set(req.socket, s.state.id);
        return s;
      }
    }
    return null;
  }

  private register(state: SessionState, req: CwmpRequest): void {
    const ip = normaliseIp(req.socket.remoteAddress);
    const live: LiveSession = { state, ip, cookieSeen: false, chain: Promise.resolve(), timer: this.idleTimer(state.id) };
    this.sessions.set(state.id, live);
    this.byDevice.set(state.deviceId, state.id);
    this.bySocket.set(req.socket, state.id);
    if (ip) {
      let set = this.byIp.get(ip);
      if (!set) this.byIp.set(ip, (set = new Set()));
      set.add(state.id);
    }
  }

  private unregister(live: LiveSession): void {
    clearTimeout(live.timer);
    if (this.sessions.get(live.state.id) !== live) return;
    this.sessions.delete(live.state.id);
    if (this.byDevice.get(live.state.deviceId) === live.state.id) this.byDevice.delete(live.state.deviceId);
    if (live.ip) {
      const set = this.byIp.get(live.ip);
      set?.delete(live.state.id);
      if (set && set.size === 0) this.byIp.delete(live.ip);
    }
  }

  private idleTimer(sessionId: string): NodeJS.Timeout {
    const t = setTimeout(() => void this.expire(sessionId), this.o.idleTimeoutMs);
    t.unref();
    return t;
  }

  private async expire(sessionId: string): Promise<void> {
    const live = this.sessions.get(sessionId);
    if (!live) return;
    await live.chain;
    if (this.sessions.get(sessionId) !== live) return;
    this.unregister(live);
    const notices = await this.engine.end(live.state, 'timeout', `no message for ${Math.round(this.o.idleTimeoutMs / 1000)} s`);
    this.log.info({ deviceId: live.state.deviceId, sessionId }, 'CWMP session timed out');
    this.onNotices(notices);
  }

  private afterReply(req: CwmpRequest, reply: EngineReply, live: LiveSession): void {
    if (reply.session === null || live.state.phase === 'ended') this.unregister(live);
    else {
      live.timer.refresh();
      this.bySocket.set(req.socket, live.state.id);
    }
  }

  private respond(res: CwmpResponse, reply: EngineReply, setCookie: string | null): void {
    const headers: Record<string, string> = { ...reply.headers };
    if (setCookie) headers['set-cookie'] = setCookie;
    send(res, reply.status, headers, reply.body);
    if (reply.notices.length) this.onNotices(reply.notices);
  }

  /** Ends every open session (shutdown); resolves when their commits are done. */
  async closeAll(reason: string): Promise<void> {
    this.closing = true;
    const all = [...this.sessions.values()];
    await Promise.all(
      all.map(async (live) => {
        await live.chain;
        this.unregister(live);
        this.onNotices(await this.engine.end(live.state, 'aborted', reason));
      }),
    );
  }
}

function header(req: CwmpRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function remoteOf(req: CwmpRequest): string | null {
  return normaliseIp(req.socket.remoteAddress);
}

function isTls(req: CwmpRequest): boolean {
  return req.socket.encrypted === true;
}

/**
 * Writes a whole response. The body goes to `end` as a string: node:http then sends head and body
 * in one write of one string, where a Buffer body costs a copy and a two-chunk writev. `headers` must
 * be the caller's own object: Content-Length is added to it.
 */
function send(res: CwmpResponse, status: number, headers: Record<string, string | string[]>, body: string): void {
  headers['content-length'] = String(body === '' ? 0 : Buffer.byteLength(body, 'utf8'));
  res.writeHead(status, headers);
  if (body === '') res.end();
  else res.end(body, 'utf8');
}
