/**
 * A small scripted ACS for the CPE agent's tests (node:http on 127.0.0.1:0).
 *
 * It answers Informs with InformResponse, CPE requests with their responses, and after the empty
 * POST hands out the ACS requests queued in `queue` one per HTTP response, recording everything
 * the CPE sends (raw XML, parsed message, headers, TCP connection). `hooks.beforeReply` lets a
 * test take over any POST (401 challenges, redirects, faults, dropped connections).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  buildEnvelope,
  makeFault,
  parseEnvelope,
  type CpeRequest,
  type CwmpHeader,
  type CwmpMessage,
  type CwmpVersion,
  type Inform,
} from '../../src/cwmp/index.ts';

/** An ACS request given as envelope text (for requests the strict builder refuses to make). */
export interface RawRequest {
  raw: string;
}

export interface ReceivedPost {
  /** Session number at this ACS (1-based), counted by Informs. */
  session: number;
  xml: string;
  message: CwmpMessage | null;
  header: CwmpHeader;
  version: CwmpVersion;
  headers: http.IncomingHttpHeaders;
  /** Remote port of the TCP connection (same value = same connection). */
  remotePort: number;
  url: string;
}

export interface ScriptedAcsHooks {
  /**
   * Called for every POST before the default behaviour; return true when the hook answered.
   * `post` is undefined for POSTs the hook sees before parsing (e.g. to challenge with 401).
   */
  beforeReply?(req: http.IncomingMessage, res: http.ServerResponse, post: ReceivedPost): boolean | Promise<boolean>;
  /** InformResponse header additions (HoldRequests, UseCWMPVersion ...). */
  informResponseHeader?(inform: Inform, session: number): CwmpHeader;
  /** Answer TransferComplete with a fault code instead (e.g. 8005). */
  transferCompleteFault?(session: number): number | undefined;
  /** Version to answer in (default: the version of the Inform, 1.2 namespace for 1.2+). */
  answerVersion?: CwmpVersion;
}

export class ScriptedAcs {
  readonly received: ReceivedPost[] = [];
  /** ACS requests to send, in order, after the CPE's empty POST (`{ raw }` = envelope text as is). */
  readonly queue: (CpeRequest | RawRequest)[] = [];
  /** Responses (or faults) the CPE gave to queued requests, in order. */
  readonly answers: { request: CpeRequest | RawRequest; message: CwmpMessage | null; header: CwmpHeader }[] = [];
  readonly informs: Inform[] = [];
  private server: http.Server;
  private sockets = new Set<Socket>();
  private sessionCount = 0;
  private outstanding: CpeRequest | RawRequest | null = null;
  /** Version of the current session (from its Inform's namespace). */
  private sessionVersion: CwmpVersion = '1.2';
  private waiters: { n: number; resolve: () => void }[] = [];
  private idCounter = 0;
  sessionsEnded = 0;
  port = 0;

  constructor(readonly hooks: ScriptedAcsHooks = {}) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/acs`;
  }

  get sessions(): number {
    return this.sessionCount;
  }

  /** Resolves once `n` sessions have ended with the ACS's 204. */
  waitForSessions(n: number, timeoutMs = 10_000): Promise<void> {
    if (this.sessionsEnded >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting for ${n} sessions (have ${this.sessionsEnded})`)), timeoutMs);
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  /** POSTs of one session. */
  postsOf(session: number): ReceivedPost[] {
    return this.received.filter((p) => p.session === session);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Sends a message as the ACS would (helpers for hooks). */
  reply(res: http.ServerResponse, message: CwmpMessage, header: CwmpHeader, version: CwmpVersion, extraHeaders: http.OutgoingHttpHeaders = {}): void {
    const xml = buildEnvelope({ header, body: message }, { version });
    res.writeHead(200, { 'content-type': 'text/xml; charset="utf-8"', 'content-length': Buffer.byteLength(xml), ...extraHeaders });
    res.end(xml);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const xml = Buffer.concat(chunks).toString('utf8');
    let parsed: { header: CwmpHeader; body: CwmpMessage | null; version: CwmpVersion };
    try {
      parsed = parseEnvelope(xml);
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
      return;
    }
    if (parsed.body?.method === 'Inform') {
      this.sessionCount++;
      this.sessionVersion = parsed.version === '1.0' || parsed.version === '1.1' ? parsed.version : '1.2';
    }
    const post: ReceivedPost = {
      session: this.sessionCount,
      xml,
      message: parsed.body,
      header: parsed.header,
      version: parsed.version,
      headers: req.headers,
      remotePort: req.socket.remotePort ?? 0,
      url: req.url ?? '',
    };
    if (this.hooks.beforeReply && (await this.hooks.beforeReply(req, res, post))) return;
    this.received.push(post);
    const v: CwmpVersion = this.hooks.answerVersion ?? this.sessionVersion;
    const body = parsed.body;
    if (body === null) {
      this.outstanding = null;
      this.sendNext(res, v);
      return;
    }
    switch (body.method) {
      case 'Inform': {
        this.informs.push(body);
        this.outstanding = null;
        const extra = this.hooks.informResponseHeader?.(body, this.sessionCount) ?? {};
        // UseCWMPVersion exists only in the 1.4 schema (same namespace as 1.2).
        const hv: CwmpVersion = extra.useCwmpVersion ? '1.4' : v;
        this.reply(res, { method: 'InformResponse', maxEnvelopes: 1 }, { ...(parsed.header.id ? { id: parsed.header.id } : {}), ...extra }, hv);
        return;
      }
      case 'TransferComplete': {
        const fault = this.hooks.transferCompleteFault?.(this.sessionCount);
        if (fault) this.reply(res, makeFault(fault), { id: parsed.header.id ?? 'x' }, v);
        else this.reply(res, { method: 'TransferCompleteResponse' }, parsed.header.id ? { id: parsed.header.id } : {}, v);
        return;
      }
      case 'RequestDownload':
        this.reply(res, { method: 'RequestDownloadResponse' }, parsed.header.id ? { id: parsed.header.id } : {}, v);
        return;
      case 'GetRPCMethods':
        this.reply(res, { method: 'GetRPCMethodsResponse', methodList: ['Inform', 'TransferComplete', 'RequestDownload', 'GetRPCMethods'] }, {}, v);
        return;
      default:
        // A response (or fault) to the outstanding ACS request.
        if (this.outstanding) this.answers.push({ request: this.outstanding, message: body, header: parsed.header });
        this.outstanding = null;
        this.sendNext(res, v);
    }
  }

  private sendNext(res: http.ServerResponse, v: CwmpVersion): void {
    const next = this.queue.shift();
    if (!next) {
      res.writeHead(204).end();
      this.sessionsEnded++;
      for (const w of this.waiters.filter((x) => this.sessionsEnded >= x.n)) w.resolve();
      this.waiters = this.waiters.filter((x) => this.sessionsEnded < x.n);
      return;
    }
    this.outstanding = next;
    if ('raw' in next) {
      res.writeHead(200, { 'content-type': 'text/xml; charset="utf-8"' }).end(next.raw);
      return;
    }
    this.reply(res, next, { id: `acs-${++this.idCounter}` }, v);
  }
}
