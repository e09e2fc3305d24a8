/**
 * Security headers and the (off by default) CORS policy of the HTTP port.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Headers every answer carries unless a route already set them (the web console may set its own CSP). */
const COMMON_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

/** Extra headers of API answers: JSON is never a document to render, and answers must not be cached. */
const API_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cache-control': 'no-store',
};

/** CORS settings; CORS is off unless origins are listed. */
export interface CorsOptions {
  /** Exact origins allowed to call the API from a browser, e.g. `https://console.example.net`. */
  origins: string[];
}

/** Seconds a browser may cache a CORS preflight answer. */
const CORS_MAX_AGE_SECONDS = 600;

/** Adds the security headers (all answers) and the API-only headers (paths under `apiPrefix`). */
export function registerSecurityHeaders(app: FastifyInstance, apiPrefix: string): void {
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    setMissing(reply, COMMON_HEADERS);
    if (request.url === apiPrefix || request.url.startsWith(apiPrefix + '/') || request.url.startsWith(apiPrefix + '?')) {
      setMissing(reply, API_HEADERS);
    }
    return payload;
  });
}

function setMissing(reply: FastifyReply, headers: Readonly<Record<string, string>>): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!reply.hasHeader(name)) reply.header(name, value);
  }
}

/**
 * Enables CORS for the listed origins on routes under `apiPrefix`: answers preflights and adds the
 * allow headers. Without listed origins nothing is added, so browsers apply the same-origin policy.
 */
export function registerCors(app: FastifyInstance, apiPrefix: string, cors: CorsOptions | undefined): void {
  if (!cors || cors.origins.length === 0) return;
  const allowed = new Set(cors.origins);
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (typeof origin !== 'string' || !allowed.has(origin) || !request.url.startsWith(apiPrefix + '/')) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('vary', 'Origin');
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method']) {
      return reply
        .header('access-control-allow-methods', 'GET, POST, PUT, PATCH, DELETE')
        .header('access-control-allow-headers', 'authorization, content-type')
        .header('access-control-max-age', String(CORS_MAX_AGE_SECONDS))
        .code(204)
        .send();
    }
    return undefined;
  });
}
