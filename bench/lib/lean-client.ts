/**
 * The lean HTTP side of the load generator: raw keep-alive TCP connections (Nagle off), each
 * request written as ONE buffer, and a minimal HTTP/1.1 response reader (status, Content-Length,
 * Set-Cookie, Connection). Why: on this 2-core machine the load and the server share the CPU, and
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
const HTTP_STATUS_OFFSET = 9;
const HTTP_STATUS_LENGTH = 3;
/** Bigger responses are refused (the benchmark's ACS messages are a few KB). */
const MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** One keep-alive connection; `request` must not be called again before the previous one settled. */
export class LeanConnection {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: LeanReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | null = null;
  private dead = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new LeanHttpError(`connection error: ${err.message}`)));
    socket.on('close', () => this.fail(new LeanHttpError('connection closed by the server')));
  }

  /** Opens a connection. Rejects when the server cannot be reached within `timeoutMs`. */
  static open(host: string, port: number, timeoutMs: number): Promise<LeanConnection> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host, port, noDelay: true });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new LeanHttpError(`could not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        resolve(new LeanConnection(s));
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

  /** Sends one request (already serialised head + body) and resolves the response. */
  request(head: string, body: Buffer | null, timeoutMs: number): Promise<LeanReply> {
    if (this.dead) return Promise.reject(new LeanHttpError('connection is closed'));
    if (this.waiting) return Promise.reject(new LeanHttpError('a request is already in flight on this connection'));
    return new Promise<LeanReply>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new LeanHttpError(`no response within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = { resolve, reject, timer };
      const headBuf = Buffer.from(head, 'latin1');
      this.socket.write(body && body.length ? Buffer.concat([headBuf, body], headBuf.length + body.length) : headBuf);
    });
  }

  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.dead = true;
    const w = this.waiting;
    this.waiting = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.buf.length > MAX_RESPONSE_BYTES) {
      this.fail(new LeanHttpError('response too large'));
      return;
    }
    const end = this.buf.indexOf(CRLF2);
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const status = Number(head.slice(HTTP_STATUS_OFFSET, HTTP_STATUS_OFFSET + HTTP_STATUS_LENGTH));
    let length = 0;
    let cookie: string | null = null;
    let close = false;
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') length = Number(value);
      else if (name === 'set-cookie' && cookie === null) cookie = value.split(';')[0].trim();
      else if (name === 'connection') close = value.toLowerCase() === 'close';
      else if (name === 'transfer-encoding') {
        this.fail(new LeanHttpError(`unsupported transfer-encoding ${value}`));
        return;
      }
    }
    if (!Number.isInteger(status) || !Number.isInteger(length) || length < 0) {
      this.fail(new LeanHttpError(`malformed response head: ${JSON.stringify(head.slice(0, 80))}`));
      return;
    }
    const total = end + CRLF2.length + length;
    if (this.buf.length < total) return;
    const body = this.buf.subarray(end + CRLF2.length, total);
    this.buf = this.buf.length > total ? this.buf.subarray(total) : Buffer.alloc(0);
    const w = this.waiting;
    this.waiting = null;
    if (!w) {
      this.fail(new LeanHttpError('response without a request'));
      return;
    }
    clearTimeout(w.timer);
    if (close) this.dead = true;
    w.resolve({ status, cookie, close, body });
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

  /** An idle connection, or a new one. */
  async acquire(timeoutMs: number): Promise<LeanConnection> {
    for (let c = this.idle.pop(); c; c = this.idle.pop()) if (c.usable) return c;
    return LeanConnection.open(this.host, this.port, timeoutMs);
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
 * The head of a CWMP POST (what the CPE agent's transport sends: text/xml with an empty SOAPAction,
 * or an empty body), ready to write.
 */
export function postHead(path: string, host: string, bodyLength: number, cookie: string | null): string {
  let h = `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n`;
  if (bodyLength > 0) h += 'Content-Type: text/xml; charset="utf-8"\r\nSOAPAction: \r\n';
  if (cookie) h += `Cookie: ${cookie}\r\n`;
  return `${h}Content-Length: ${bodyLength}\r\n\r\n`;
}
