/**
 * Serves the built console (src/console/dist, made by `npm run build:console`) at `/`.
 *
 * Files are registered one by one (no wildcard route), so an unknown `/api/...` path still reaches
 * the API's JSON 404 handler; every other unknown GET gets index.html (the console routes in the
 * browser: /devices/..., /rollouts...). Hashed assets are cached for a year, index.html never.
 * A strict Content-Security-Policy allows only same-origin scripts, styles and requests.
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the bundler writes the console. */
export const CONSOLE_DIST_DIR = fileURLToPath(new URL('../dist/', import.meta.url));

/** One year: hashed asset names change with their content. */
const IMMUTABLE_MAX_AGE_S = 31_536_000;

export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(reply: FastifyReply): void {
  reply.header('content-security-policy', CONSOLE_CSP);
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('x-frame-options', 'DENY');
}

const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchboard console not built</title></head>
<body><main><h1>The Switchboard console is not built</h1><p>Run <code>npm run build:console</code> (or <code>npm start</code>, which builds it first) and reload.</p></main></body></html>`;

export interface StaticOptions {
  /** Directory of the built console (default src/console/dist). */
  distDir?: string;
}

/**
 * Registers the console's files and the SPA fallback on the root instance.
 * @returns whether a built console was found.
 */
export async function registerConsoleStatic(app: FastifyInstance, options: StaticOptions = {}): Promise<boolean> {
  const distDir = options.distDir ?? CONSOLE_DIST_DIR;
  const built = existsSync(`${distDir}/index.html`);
  if (built) {
    await app.register(fastifyStatic, {
      root: distDir,
      prefix: '/',
      wildcard: false,
      index: false,
      setHeaders: (reply, path) => {
        securityHeaders(reply);
        reply.header('cache-control', /[\\/]assets[\\/]/.test(path) ? `public, max-age=${IMMUTABLE_MAX_AGE_S}, immutable` : 'no-cache');
      },
    });
  }

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0];
    // /api has its own 404 handler; this one only sees other paths.
    const wantsPage = (request.method === 'GET' || request.method === 'HEAD') && !/\.[a-z0-9]+$/i.test(path);
    securityHeaders(reply);
    if (!wantsPage) {
      return reply.code(404).type('application/json').send({ code: 'NOT_FOUND', message: `There is nothing at ${request.method} ${path}.` });
    }
    reply.header('cache-control', 'no-cache');
    if (!built) return reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT_PAGE);
    return reply.type('text/html; charset=utf-8').sendFile('index.html', distDir);
  });
  return built;
}
