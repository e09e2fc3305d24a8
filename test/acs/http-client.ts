/**
 * A minimal HTTP CWMP client for the listener tests: POSTs XML on a chosen keep-alive connection
 * (an `http.Agent` with one socket = one TCP connection), keeps cookies only when asked to.
 */
import http from 'node:http';
import https from 'node:https';
import { buildEnvelope, parseEnvelope, type ParsedEnvelope } from '../../src/cwmp/codec.ts';
import type { CwmpHeader, CwmpMessage, CwmpVersion } from '../../src/cwmp/types.ts';

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  parsed: ParsedEnvelope | null;
  /** Local port of the TCP connection used (same port = same connection). */
  localPort: number;
}

export interface PostOptions {
  headers?: Record<string, string>;
  /** Body bytes as given (e.g. gzip). */
  raw?: Buffer;
}

/** One TCP connection (keep-alive agent with a single socket). */
export function connection(options: { tls?: boolean; localAddress?: string } = {}): http.Agent {
  const Agent = options.tls ? https.Agent : http.Agent;
  return new Agent({ keepAlive: true, maxSockets: 1, localAddress: options.localAddress, ...(options.tls ? { rejectUnauthorized: false } : {}) });
}

/** POSTs `body` (XML text, a message, or null for an empty POST) to `url` on `agent`. */
export function post(url: string, agent: http.Agent, body: string | null, options: PostOptions = {}): Promise<HttpReply> {
  const u = new URL(url);
  const data = options.raw ?? (body === null || body === '' ? null : Buffer.from(body));
  const headers: Record<string, string> = { ...options.headers };
  if (data) {
    headers['content-type'] ??= 'text/xml; charset="utf-8"';
    headers.soapaction ??= '';
  }
  headers['content-length'] = String(data ? data.length : 0);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method: 'POST', agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: text,
          parsed: res.statusCode === 200 && text ? parseEnvelope(text) : null,
          localPort: req.socket?.localPort ?? -1,
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

let seq = 0;
/** XML of a CPE message. */
export function xml(message: CwmpMessage, version: CwmpVersion = '1.0', header: CwmpHeader = {}): string {
  return buildEnvelope({ header: { id: `c${++seq}`, ...header }, body: message }, { version });
}

/** The `name=value` part of a Set-Cookie header. */
export function cookieOf(reply: HttpReply): string {
  const sc = reply.headers['set-cookie'];
  const first = Array.isArray(sc) ? sc[0] : sc;
  if (!first) throw new Error('no Set-Cookie');
  return first.split(';')[0];
}
