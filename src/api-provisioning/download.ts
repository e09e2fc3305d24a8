/**
 * The public file route devices download from: `GET|HEAD /files/:id/:name`, outside `/api` (a
 * device has no API token). What a device gets in a Download RPC is this URL, the file size, its
 * name and, for protected files, the credentials of the file.
 *
 * HTTP behaviour: a strong ETag (`"<sha256>"`: content-addressed, so it never changes for an id),
 * `If-None-Match` (304), single byte ranges (`Range: bytes=a-b`, `a-`, `-n`; 206 with
 * Content-Range, 416 when unsatisfiable; `If-Range` with a different ETag gets the whole file;
 * several ranges get the whole file, which RFC 9110 allows), HEAD without a body. Protected files
 * answer 401 with a Basic or Digest challenge (Digest: qop=auth, stateless HMAC nonces, stale nonces
 * re-challenged with stale=true); credentials are compared in constant time.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildDigestChallenge, checkDigest, createNonce, parseAuthorization } from '../cwmp/auth.ts';
import type { ProvisioningService } from '../provisioning/service.ts';
import type { FileRecord } from '../store/provisioning/types.ts';

export interface FileDownloadOptions {
  service: ProvisioningService;
  /** Realm of the challenges (default "Switchboard files"). */
  realm?: string;
  /** Key of the Digest nonces (default: random per process, so nonces die with a restart). */
  nonceSecret?: Buffer;
}

const DEFAULT_REALM = 'Switchboard files';
const NONCE_MAX_AGE_MS = 5 * 60 * 1000;

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** A parsed `Range` header against a size: the inclusive range, 'unsatisfiable', or null (serve everything). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=([^,]*)$/.exec(header.trim());
  if (!m) return null; // several ranges or another unit: the whole file
  const spec = m[1].trim();
  const r = /^(\d*)-(\d*)$/.exec(spec);
  if (!r || (r[1] === '' && r[2] === '')) return null;
  if (r[1] === '') {
    const suffix = Number(r[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(r[1]);
  const end = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return null;
  return { start, end };
}

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).type('application/json').send({ code, message });
}

/**
 * Registers the public download route on the root instance.
 * @throws Error when the route cannot be registered (a bug).
 */
export function registerFileDownloadRoutes(app: FastifyInstance, options: FileDownloadOptions): void {
  const realm = options.realm ?? DEFAULT_REALM;
  const nonceSecret = options.nonceSecret ?? randomBytes(32);
  const service = options.service;

  const authorized = (request: FastifyRequest, reply: FastifyReply, file: FileRecord): boolean => {
    const auth = file.auth;
    if (auth.scheme === 'none') return true;
    const parsed = parseAuthorization(request.headers.authorization);
    let stale = false;
    if (auth.scheme === 'basic' && parsed?.scheme === 'Basic') {
      if (sameText(parsed.username, auth.username ?? '') && sameText(parsed.password, auth.password ?? '')) return true;
    } else if (auth.scheme === 'digest' && parsed?.scheme === 'Digest' && parsed.username === auth.username) {
      const r = checkDigest({ authorization: parsed, method: request.method, password: auth.password ?? '', realm, uri: request.url, nonceSecret, maxNonceAgeMs: NONCE_MAX_AGE_MS });
      if (r.ok) return true;
      stale = r.reason === 'stale-nonce';
    }
    const challenge = auth.scheme === 'basic' ? `Basic realm="${realm}", charset="UTF-8"` : buildDigestChallenge({ realm, nonce: createNonce(nonceSecret), qop: 'auth', algorithm: 'MD5', stale });
    reply.header('www-authenticate', challenge);
    sendError(reply, 401, 'UNAUTHORIZED', 'This file needs credentials (the ones given in the Download request).');
    return false;
  };

  app.route<{ Params: { id: string; name: string } }>({
    method: ['GET', 'HEAD'],
    url: '/files/:id/:name',
    schema: { hide: true },
    handler: async (request, reply) => {
      const file = await service.provisioning.getFile(request.params.id);
      if (!file || file.name !== request.params.name) return sendError(reply, 404, 'FILE_NOT_FOUND', 'No such file.');
      if (!authorized(request, reply, file)) return reply;
      if (!(await service.files.hasContent(file))) {
        request.log.error({ fileId: file.id, sha256: file.sha256 }, 'file content missing on disk');
        return sendError(reply, 404, 'FILE_NOT_FOUND', 'The file content is missing.');
      }
      const etag = `"${file.sha256}"`;
      reply.header('etag', etag).header('accept-ranges', 'bytes').header('last-modified', new Date(file.createdAt).toUTCString()).header('cache-control', 'private, no-transform');
      const inmHeader = request.headers['if-none-match'];
      const inm = Array.isArray(inmHeader) ? inmHeader.join(',') : inmHeader;
      if (inm && (inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag))) return reply.code(304).send();
      let range = parseRange(request.headers.range, file.size);
      const ifRange = request.headers['if-range'];
      if (range !== null && ifRange !== undefined && String(ifRange).trim() !== etag) range = null;
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${file.size}`);
        return sendError(reply, 416, 'RANGE_NOT_SATISFIABLE', `The range is outside the file (${file.size} bytes).`);
      }
      reply.type('application/octet-stream');
      if (range) {
        reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${file.size}`).header('content-length', String(range.end - range.start + 1));
      } else {
        reply.header('content-length', String(file.size));
      }
      if (request.method === 'HEAD') return reply.send();
      return reply.send(service.files.open(file, range ?? undefined));
    },
  });
}
