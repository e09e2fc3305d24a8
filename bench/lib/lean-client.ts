/**
 * The lean HTTP side of the load generator: raw keep-alive TCP connections (Nagle off), each
 * request (head + body) written in ONE write, reads through net's `onread` into one shared buffer,
 * a minimal HTTP/1.1 response reader (status, Content-Length, Set-Cookie, Connection) and one
 * interval for all request timeouts. Why: on this 2-core machine the load and the server share the CPU, and
 * node:http's client (ClientRequest, agents, streams) cost the load process about as much CPU per
 * session as the ACS itself (measured with --cpu-prof on the storm), which would cap every figure
 * at the generator's speed. The CWMP messages are the codec's own bytes (see loadgen.ts), so the
 * server sees the same session shape as from the CPE agent's session client.
 *
 * Limits (fine for a benchmark against our own servers): plain HTTP, no authentication, no
 * redirects, bodies framed by Content-Length (what the ACS and the fixed server send), one request
 * at a time per connection.
 */
import net from 'node:net';

/** What the generator needs from a response. */
export interface LeanReply {
  status: number;
  /** `name=value` of the first Set-Cookie, if any. */
  cookie: string | null;
  /** The server asked to close the connection. */
  close: boolean;
  body: Buffer;
}

export class LeanHttpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeanHttpError';
  }
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF2_LENGTH = 4;
const EMPTY = Buffer.alloc(0);
const HTTP_STATUS_OFFSET = 9;
const HTTP_STATUS_LENGTH = 3;
/** Bigger responses are refused (the benchmark's ACS messages are a few KB). */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;
/**
 * How often in-flight requests are checked against their deadline. One shared interval instead
 * of a timer armed and cleared per request (timers cost the load process CPU on every exchange);
 * a timeout therefore fires up to this much late.
 */
export const TIMEOUT_SWEEP_MS = 50;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const DECIMAL = 10;
/** ASCII letters differ from their lower case by this bit. */
const LOWER_CASE_BIT = 0x20;
const CHAR_C = 0x63;
const CHAR_S = 0x73;
const CHAR_T = 0x74;

/** The parsed head of the response being received. */
interface ResponseHead {
  status: number;
  cookie: string | null;
  close: boolean;
  /** Offset of the body in the receive buffer. */
  bodyStart: number;
  length: number;
}

/** A parsed head, or why it is refused. */
type HeadParse = { ok: true; head: ResponseHead } | { ok: false; reason: string };

/** Lower-cased header name of `line` when it is `name`, compared without allocating for others. */
function headerIs(head: string, start: number, colon: number, name: string): boolean {
  let end = colon;
  while (end > start && head.charCodeAt(end - 1) === 0x20) end--;
  if (end - start !== name.length) return false;
  for (let k = 0; k < name.length; k++) {
    const c = head.charCodeAt(start + k);
    // header names are tokens (ASCII); only letters change with case
    if ((c >= 0x41 && c <= 0x5a ? c | LOWER_CASE_BIT : c) !== name.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * Parses a response head (`head` = the bytes before the blank line, latin1). Only the status and
 * the headers the generator needs are read: Content-Length, the first Set-Cookie, Connection,
 * Transfer-Encoding (refused: the servers frame bodies by length).
 */
export function parseResponseHead(head: string, bodyStart: number): HeadParse {
  let status = 0;
  for (let k = HTTP_STATUS_OFFSET; k < HTTP_STATUS_OFFSET + HTTP_STATUS_LENGTH; k++) {
    const c = head.charCodeAt(k);
    if (!(c >= DIGIT_0 && c <= DIGIT_9)) return { ok: false, reason: `malformed response head: ${JSON.stringify(head.slice(0, 80))}` };
    status = status * DECIMAL + (c - DIGIT_0);
  }
  if (!head.startsWith('HTTP/1.') || (head.length > HTTP_STATUS_OFFSET + HTTP_STATUS_LENGTH && head.charCodeAt(HTTP_STATUS_OFFSET + HTTP_STATUS_LENGTH) !== 0x20)) {
    return { ok: false, reason: `malformed response head: ${JSON.stringify(head.slice(0, 80))}` };
  }
  let length = 0;
  let cookie: string | null = null;
  let close = false;
  let lineStart = head.indexOf('\r\n');
  while (lineStart >= 0) {
    lineStart += 2;
    let lineEnd = head.indexOf('\r\n', lineStart);
    if (lineEnd < 0) lineEnd = head.length;
    const first = head.charCodeAt(lineStart) | LOWER_CASE_BIT;
    // only lines starting with c, s or t can be headers we read: skip the rest unparsed
    if (first === CHAR_C || first === CHAR_S || first === CHAR_T) {
      const colon = head.indexOf(':', lineStart);
      if (colon > 0 && colon < lineEnd) {
        if (headerIs(head, lineStart, colon, 'content-length')) {
          const value = head.slice(colon + 1, lineEnd).trim();
          length = /^[0-9]+$/.test(value) ? Number(value) : -1;
        } else if (cookie === null && headerIs(head, lineStart, colon, 'set-cookie')) {
          const value = head.slice(colon + 1, lineEnd);
          const semi = value.indexOf(';');
          cookie = (semi < 0 ? value : value.slice(0, semi)).trim();
        } else if (headerIs(head, lineStart, colon, 'connection')) {
          close = head.slice(colon + 1, lineEnd).trim().toLowerCase() === 'close';
        } else if (headerIs(head, lineStart, colon, 'transfer-encoding')) {
          return { ok: false, reason: `unsupported transfer-encoding ${head.slice(colon + 1, lineEnd).trim()}` };
        }
      }
    }
    lineStart = lineEnd < head.length ? lineEnd : -1;
  }
  if (!Number.isSafeInteger(length) || length < 0) return { ok: false, reason: `malformed response head: ${JSON.stringify(head.slice(0, 80))}` };
  return { ok: true, head: { status, cookie, close, bodyStart, length } };
}

/** Bytes of one socket read; a response is a few KB. */
const READ_BUFFER_BYTES = 64 * 1024;
/**
 * The buffer every connection reads into (net's `onread`): no Buffer allocated per read and no
 * stream machinery per chunk. One is enough because each read is consumed synchronously.
 */
const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);

/** Connections with a request in flight, checked by one interval (see TIMEOUT_SWEEP_MS). */
const inFlight = new Set<LeanConnection>();
let sweeper: NodeJS.Timeout | null = null;

function watch(c: LeanConnection): void {
  inFlight.add(c);
  if (!sweeper) {
    sweeper = setInterval(sweep, TIMEOUT_SWEEP_MS);
    // a benchmark process ends when its work is done, not when this interval says so
    sweeper.unref();
  }
}

function unwatch(c: LeanConnection): void {
  inFlight.delete(c);
  if (inFlight.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

function sweep(): void {
  const now = performance.now();
  for (const c of inFlight) c.checkDeadline(now);
}

/*
 * A Promise executor runs synchronously inside `new Promise`: one module-level executor hands
 * the settle functions over through these variables, instead of a closure allocated per request.
 */
let capturedResolve: ((r: LeanReply) => void) | null = null;
let capturedReject: ((e: Error) => void) | null = null;

function captureSettlers(resolve: (r: LeanReply) => void, reject: (e: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

interface Waiting {
  resolve: (r: LeanReply) => void;
  reject: (e: Error) => void;
  deadline: number;
  timeoutMs: number;
}

/** One keep-alive connection; `request` must not be called again before the previous one settled. */
export class LeanConnection {
  /** Received bytes not yet consumed (during a read possibly a view of the shared read buffer). */
  private buf: Buffer = EMPTY;
  /** Head of the response being received, once its blank line arrived. */
  private head: ResponseHead | null = null;
  private waiting: Waiting | null = null;
  private dead = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('error', (err) => this.fail(new LeanHttpError(`connection error: ${err.message}`)));
    socket.on('close', () => this.fail(new LeanHttpError('connection closed by the server')));
  }

  /** Opens a connection. Rejects when the server cannot be reached within `timeoutMs`. */
  static open(host: string, port: number, timeoutMs: number): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      let conn: LeanConnection | null = null;
      const s = net.connect({
        host,
        port,
        noDelay: true,
        // reads land in the shared buffer and are handed over here, not as 'data' chunks
        onread: {
          buffer: readBuffer,
          callback: (n: number) => {
            if (conn) conn.onRead(n);
            return true;
          },
        },
      });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new LeanHttpError(`could not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        conn = new LeanConnection(s);
        resolve(conn);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(new LeanHttpError(`could not connect: ${err.message}`));
      };
      s.once('error', onError);
    });
  }

  get usable(): boolean {
    return !this.dead;
  }

  /**
   * Sends one request and resolves the response. `head` is the serialised head (ASCII, ending
   * with the blank line); `body` a string (sent as UTF-8 in the same write as the head: one
   * write, no Buffer built here) or bytes. Rejects with LeanHttpError when the connection is
   * closed or busy, fails, or no complete response arrives within `timeoutMs`.
   */
  request(head: string, body: string | Buffer | null, timeoutMs: number): Promise<LeanReply> {
    if (this.dead) return Promise.reject(new LeanHttpError('connection is closed'));
    if (this.waiting) return Promise.reject(new LeanHttpError('a request is already in flight on this connection'));
    const promise = new Promise<LeanReply>(captureSettlers);
    this.waiting = { resolve: capturedResolve!, reject: capturedReject!, deadline: performance.now() + timeoutMs, timeoutMs };
    capturedResolve = capturedReject = null;
    watch(this);
    if (body === null || body.length === 0) this.socket.write(head, 'latin1');
    else if (typeof body === 'string') this.socket.write(head + body, 'utf8');
    else {
      const out = Buffer.allocUnsafe(head.length + body.length);
      out.write(head, 0, 'latin1');
      body.copy(out, head.length);
      this.socket.write(out);
    }
    return promise;
  }

  /** Fails the request in flight when its deadline passed (called by the shared sweeper). */
  checkDeadline(now: number): void {
    const w = this.waiting;
    if (w && now >= w.deadline) this.fail(new LeanHttpError(`no response within ${w.timeoutMs} ms`));
  }

  destroy(): void {
    this.dead = true;
    unwatch(this);
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.dead = true;
    const w = this.waiting;
    this.waiting = null;
    unwatch(this);
    if (w) w.reject(err);
    this.socket.destroy();
  }

  /**
   * `n` new bytes at the start of the shared read buffer. They are consumed here: a complete
   * response's body is copied out, an incomplete rest is kept as a copy (the buffer is
   * overwritten by the next read of any connection).
   */
  private onRead(n: number): void {
    const chunk = readBuffer.subarray(0, n);
    const shared = this.buf.length === 0;
    this.buf = shared ? chunk : Buffer.concat([this.buf, chunk], this.buf.length + n);
    this.consume();
    if (shared && this.buf.length > 0) this.buf = Buffer.from(this.buf);
  }

  private consume(): void {
    if (this.buf.length > MAX_RESPONSE_BYTES) {
      this.fail(new LeanHttpError('response too large'));
      return;
    }
    let head = this.head;
    if (head === null) {
      const end = this.buf.indexOf(CRLF2);
      if (end < 0) return;
      const parsed = parseResponseHead(this.buf.toString('latin1', 0, end), end + CRLF2_LENGTH);
      if (!parsed.ok) {
        this.fail(new LeanHttpError(parsed.reason));
        return;
      }
      head = this.head = parsed.head;
    }
    const total = head.bodyStart + head.length;
    if (this.buf.length < total) return;
    // a copy: the receive buffer may be the shared read buffer
    const body = Buffer.from(this.buf.subarray(head.bodyStart, total));
    this.buf = this.buf.length > total ? this.buf.subarray(total) : EMPTY;
    this.head = null;
    const w = this.waiting;
    this.waiting = null;
    if (!w) {
      this.fail(new LeanHttpError('response without a request'));
      return;
    }
    unwatch(this);
    if (head.close) this.dead = true;
    w.resolve({ status: head.status, cookie: head.cookie, close: head.close, body });
    // One request at a time: bytes after the response answer nothing that was asked.
    if (this.buf.length > 0) this.fail(new LeanHttpError('response without a request'));
  }
}

/** Idle connections to one server, reused across sessions (like the fleet's agent pool). */
export class LeanConnectionPool {
  private idle: LeanConnection[] = [];

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxIdle: number,
  ) {}

  /** An idle connection, or a new one. Rejects when a new one cannot be opened within `timeoutMs`. */
  async acquire(timeoutMs: number): Promise<LeanConnection> {
    return this.takeIdle() ?? LeanConnection.open(this.host, this.port, timeoutMs);
  }

  /** An idle usable connection, or null (then `acquire` opens one): no promise when one is at hand. */
  takeIdle(): LeanConnection | null {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) if (c.usable) return c;
    return null;
  }

  release(c: LeanConnection): void {
    if (c.usable && this.idle.length < this.maxIdle) this.idle.push(c);
    else c.destroy();
  }

  destroy(): void {
    for (const c of this.idle) c.destroy();
    this.idle = [];
  }
}

/**
 * CWMP POST heads to one URL (what the CPE agent's transport sends: text/xml with an empty
 * SOAPAction, or an empty body): the fixed part is built once, a request adds its length and cookie.
 */
export class PostHeads {
  private readonly withBody: string;
  private readonly empty: string;

  constructor(path: string, host: string) {
    const start = `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n`;
    this.withBody = `${start}Content-Type: text/xml; charset="utf-8"\r\nSOAPAction: \r\n`;
    this.empty = start;
  }

  /** The head of a POST with a body of `bodyLength` bytes (0: empty POST) and the session cookie. */
  head(bodyLength: number, cookie: string | null): string {
    const h = bodyLength > 0 ? this.withBody : this.empty;
    return cookie ? `${h}Cookie: ${cookie}\r\nContent-Length: ${bodyLength}\r\n\r\n` : `${h}Content-Length: ${bodyLength}\r\n\r\n`;
  }
}
