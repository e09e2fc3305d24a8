/**
 * File transfers of the Download and Upload RPCs over HTTP(S) (TR-069 §A.3.2.8 / A.4.1.5).
 *
 * The Download/Upload Username and Password are for the file server (Digest, or Basic over HTTPS),
 * not the ACS credentials. Every failure is a `TransferFailure` carrying the TransferComplete fault
 * code it maps to:
 *
 * | failure                                              | fault |
 * |------------------------------------------------------|-------|
 * | URL scheme other than http/https                     | 9013  |
 * | cannot connect (refused, DNS, unreachable, TLS)      | 9015  |
 * | 401 without or despite credentials                   | 9012  |
 * | HTTP error status (404, 403, 5xx) on a download      | 9016  |
 * | connection lost / timeout mid-transfer, too large    | 9017  |
 * | upload refused by the server (any non-2xx)           | 9011  |
 */
import http from 'node:http';
import https from 'node:https';
import { ClientAuthError, ClientAuthenticator, type Credentials } from './http-auth.ts';

export class TransferFailure extends Error {
  constructor(
    readonly faultCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'TransferFailure';
  }
}

export interface FileTransferOptions {
  credentials?: Credentials | null;
  ca?: string | Buffer;
  /** Whole-transfer timeout (default 120 s). */
  timeoutMs?: number;
  /** Largest download accepted (default 64 MiB). */
  maxBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const MAX_FILE_REDIRECTS = 5;

/** Fault codes used by this module. */
export const TransferFault = {
  DownloadFailure: 9010,
  UploadFailure: 9011,
  ServerAuthFailure: 9012,
  UnsupportedProtocol: 9013,
  CannotContactServer: 9015,
  CannotAccessFile: 9016,
  CannotComplete: 9017,
} as const;

/** Throws TransferFailure(9013) unless `raw` is an http(s) URL. Returns the parsed URL. */
export function checkTransferUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TransferFailure(TransferFault.UnsupportedProtocol, `not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TransferFailure(TransferFault.UnsupportedProtocol, `unsupported protocol ${url.protocol}`);
  }
  return url;
}

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Downloads `url`. Returns the file bytes.
 * Throws TransferFailure (9013, 9015, 9012, 9016, 9017) as in the table above.
 */
export async function downloadFile(rawUrl: string, opts: FileTransferOptions = {}): Promise<Buffer> {
  const res = await exchange('GET', checkTransferUrl(rawUrl), null, undefined, opts, 'download');
  if (res.status < 200 || res.status >= 300) {
    throw new TransferFailure(TransferFault.CannotAccessFile, `file server answered HTTP ${res.status}`);
  }
  return res.body;
}

/**
 * Uploads `body` with HTTP PUT to `url`.
 * Throws TransferFailure (9013, 9015, 9012, 9011) as in the table above.
 */
export async function uploadFile(rawUrl: string, body: Buffer, contentType: string, opts: FileTransferOptions = {}): Promise<void> {
  const res = await exchange('PUT', checkTransferUrl(rawUrl), body, contentType, opts, 'upload');
  if (res.status < 200 || res.status >= 300) {
    throw new TransferFailure(TransferFault.UploadFailure, `upload server answered HTTP ${res.status}`);
  }
}

async function exchange(
  method: 'GET' | 'PUT',
  start: URL,
  body: Buffer | null,
  contentType: string | undefined,
  opts: FileTransferOptions,
  kind: 'download' | 'upload',
): Promise<RawResponse> {
  const auth = new ClientAuthenticator(opts.credentials && (opts.credentials.username || opts.credentials.password) ? opts.credentials : null);
  const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let url = start;
  let redirects = 0;
  let authTries = 0;
  const agentFor = (u: URL): http.Agent =>
    u.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, maxSockets: 1, ca: opts.ca ? [opts.ca] : undefined })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
  let agent = agentFor(url);
  try {
    for (;;) {
      const res = await once(method, url, body, contentType, auth.authorization(method, url), agent, opts, deadline, kind);
      if (res.status === 401) {
        if (++authTries > 2) throw new TransferFailure(TransferFault.ServerAuthFailure, 'file server refused the credentials');
        try {
          auth.respond(res.headers['www-authenticate'], url);
        } catch (err) {
          if (err instanceof ClientAuthError) throw new TransferFailure(TransferFault.ServerAuthFailure, `file server: ${err.message}`);
          throw err;
        }
        continue;
      }
      if ([301, 302, 303, 307, 308].includes(res.status) && res.headers.location) {
        if (++redirects > MAX_FILE_REDIRECTS) throw new TransferFailure(kind === 'download' ? TransferFault.CannotAccessFile : TransferFault.UploadFailure, 'too many redirects');
        const next = checkTransferUrl(new URL(res.headers.location, url).href);
        if (next.origin !== url.origin) {
          agent.destroy();
          agent = agentFor(next);
        }
        url = next;
        continue;
      }
      return res;
    }
  } finally {
    agent.destroy();
  }
}

function once(
  method: string,
  url: URL,
  body: Buffer | null,
  contentType: string | undefined,
  authorization: string | undefined,
  agent: http.Agent,
  opts: FileTransferOptions,
  deadline: number,
  kind: 'download' | 'upload',
): Promise<RawResponse> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const headers: http.OutgoingHttpHeaders = {};
  if (authorization) headers.authorization = authorization;
  if (body) {
    headers['content-length'] = body.length;
    headers['content-type'] = contentType ?? 'application/octet-stream';
  }
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise<RawResponse>((resolve, reject) => {
    let responseStarted = false;
    let done = false;
    const finish = (err: TransferFailure | null, value?: RawResponse): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value!);
    };
    const req = mod.request(url, { method, headers, agent }, (res) => {
      responseStarted = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          req.destroy();
          finish(new TransferFailure(TransferFault.CannotComplete, `file larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        if (!res.complete) {
          finish(new TransferFailure(TransferFault.CannotComplete, 'connection closed before the whole file arrived'));
          return;
        }
        finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('aborted', () => finish(new TransferFailure(TransferFault.CannotComplete, 'transfer aborted by the server')));
      res.on('error', (e) => finish(new TransferFailure(TransferFault.CannotComplete, `transfer failed: ${e.message}`)));
    });
    const timer = setTimeout(
      () => {
        req.destroy();
        finish(
          new TransferFailure(
            responseStarted ? TransferFault.CannotComplete : TransferFault.CannotContactServer,
            `${kind} timed out`,
          ),
        );
      },
      Math.max(1, deadline - Date.now()),
    );
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (responseStarted) finish(new TransferFailure(TransferFault.CannotComplete, `transfer failed: ${e.message}`));
      else finish(new TransferFailure(TransferFault.CannotContactServer, `cannot contact ${url.host}: ${e.message}`));
    });
    req.end(body ?? undefined);
  });
}
