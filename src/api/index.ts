/**
 * The REST API of Switchboard, mounted under `/api` of the ACS's HTTP port.
 *
 * `buildApi` returns a Fastify instance that is not listening yet; the ACS core listens on it and
 * closes it. Everything under `/api` is the API (bearer tokens, roles, audit, JSON errors from the
 * registry in errors.ts); the root `/` is left free for the web console, which registers its own
 * routes on the same instance.
 */
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { ApiBuildOptions } from '../acs/app.ts';
import { TaskValidationError } from '../acs/tasks/schema.ts';
import { StoreError } from '../store/types.ts';
import { auditEntryFor } from './audit.ts';
import { authenticate, authorize } from './auth.ts';
import type { ApiContext } from './context.ts';
import { ApiError, apiError } from './errors.ts';
import { registerCors, registerSecurityHeaders, type CorsOptions } from './http-headers.ts';
import { openApiOptions } from './openapi.ts';
import { registerAuditRoutes } from './routes/audit.ts';
import { registerDeviceRoutes } from './routes/devices.ts';
import { registerFaultRoutes } from './routes/faults.ts';
import { registerMetaRoutes } from './routes/meta.ts';
import { registerTaskRoutes } from './routes/tasks.ts';
import { registerTokenRoutes } from './routes/tokens.ts';
import { registerNatRoutes, stunOf } from '../acs/nat/api-routes.ts';
import { registerJsonBodyParser } from './json-body.ts';
import { invalidTaskError, typeboxValidatorCompiler } from './validation.ts';
import { registerFileDownloadRoutes, registerProvisioningApi, type ProvisioningApiOptions } from '../api-provisioning/index.ts';

export { hashToken, generateToken } from './auth.ts';
export { API_ERRORS, type ApiErrorCode } from './errors.ts';

/** Where the API lives on the HTTP port. */
export const API_PREFIX = '/api';

/** Default request body limit: a setParameterValues of 1000 parameters fits with room to spare. */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** Default upper bound of `?wait=` (ms) on task creation. */
export const DEFAULT_MAX_WAIT_MS = 120_000;
/** Device ids (OUI-ProductClass-SerialNumber, URL-encoded) can exceed find-my-way's default of 100. */
const MAX_PARAM_LENGTH = 1024;

/** A registered API route (Fastify path syntax, e.g. `/api/devices/:id`). */
export interface ApiRoute {
  method: string;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every API route registered by `buildApi` (HEAD variants left out). */
    apiRoutes: readonly ApiRoute[];
  }
}

/** Options of `buildApi`: the ACS core's contract plus API settings. */
export interface BuildApiOptions extends ApiBuildOptions {
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: number;
  /** CORS allow-list; off when absent. */
  cors?: CorsOptions;
  /** Upper bound of `?wait=` in ms (default 120 s). */
  maxWaitMs?: number;
  /** The clock (tests pin it). */
  now?: () => Date;
}

/**
 * Builds the HTTP application with the REST API under `/api`.
 * @returns a Fastify instance, ready to `listen()` or `inject()`; routes can still be added at `/`.
 * @throws Error when a route or plugin fails to register (a bug).
 */
export async function buildApi(options: BuildApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A malformed URL (bad percent-encoding) never reaches a route: answer it with the registry's JSON.
    frameworkErrors: (error, _request, reply) => {
      const body = apiError('BAD_REQUEST', { reason: error.message.replace(/\.$/, '') }).toBody();
      void (reply as unknown as FastifyReply).code(400).type('application/json').send(body);
    },
  }) as unknown as FastifyInstance;

  const ctx: ApiContext = {
    store: options.store,
    acs: options.acs,
    now: options.now ?? (() => new Date()),
    maxWaitMs: options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
  };

  const routes: ApiRoute[] = [];
  app.decorate('apiRoutes', routes);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith(API_PREFIX)) return;
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });

  registerSecurityHeaders(app, API_PREFIX);
  registerCors(app, API_PREFIX, options.cors);
  await app.register(swagger, openApiOptions());
  await app.register(async (api) => apiPlugin(api, ctx, options.provisioning), { prefix: API_PREFIX });
  if (options.provisioning) registerFileDownloadRoutes(app, { service: options.provisioning.service });
  return app;
}

/** The encapsulated `/api` part: its hooks, validator and error handler do not touch the console. */
async function apiPlugin(api: FastifyInstance, ctx: ApiContext, provisioning?: ProvisioningApiOptions): Promise<void> {
  api.decorateRequest('principal', undefined);
  api.decorateRequest('auditNote', undefined);
  api.decorateRequest('auditErrorCode', undefined);
  api.setValidatorCompiler(typeboxValidatorCompiler);
  registerJsonBodyParser(api);

  api.addHook('onRequest', async (request) => {
    const access = request.is404 ? 'viewer' : (request.routeOptions.config.access ?? 'admin');
    if (access === 'public') return;
    request.principal = await authenticate(ctx.store, request, ctx.now);
    authorize(request.principal, access, `${request.method} ${request.routeOptions.url ?? request.url}`);
  });

  api.addHook('onSend', async (request, reply, payload) => {
    const entry = auditEntryFor(request, reply, request.principal, request.auditNote, request.auditErrorCode);
    if (entry) {
      try {
        await ctx.store.appendAudit(entry);
      } catch (err) {
        // The write itself already happened; failing the answer now would mislead the client.
        request.log.error({ err, action: entry.action }, 'could not record the audit entry');
      }
    }
    return payload;
  });

  api.setErrorHandler((error: FastifyError, request, reply) => sendError(toApiError(error, request), request, reply));
  api.setNotFoundHandler((request, reply) =>
    sendError(apiError('ROUTE_NOT_FOUND', { method: request.method, url: request.url.split('?')[0] }), request, reply),
  );

  registerMetaRoutes(api, ctx);
  registerDeviceRoutes(api, ctx);
  registerTaskRoutes(api, ctx);
  registerFaultRoutes(api, ctx);
  registerTokenRoutes(api, ctx);
  registerAuditRoutes(api, ctx);
  // TR-111: device-gateway association and NAT bindings (src/acs/nat).
  registerNatRoutes(api, { store: ctx.store, stun: () => stunOf(ctx.acs) });
  // Presets, files, variables, bootstrap, rollouts, webhooks, history (src/api-provisioning).
  if (provisioning) await registerProvisioningApi(api, ctx, provisioning);
}

function sendError(error: ApiError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  request.auditErrorCode = error.code;
  return reply.code(error.statusCode).type('application/json').send(error.toBody());
}

/** Maps anything thrown during a request to a registry error (unknown errors become INTERNAL_ERROR and are logged). */
function toApiError(error: FastifyError | Error, request: FastifyRequest): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof TaskValidationError) return invalidTaskError(error);
  if (error instanceof StoreError) {
    switch (error.code) {
      case 'conflict':
        return apiError('CONFLICT', { reason: error.message });
      case 'invalid':
        return /cursor/i.test(error.message)
          ? apiError('INVALID_CURSOR', { reason: error.message })
          : apiError('BAD_REQUEST', { reason: error.message });
      case 'unavailable':
        return apiError('STORE_UNAVAILABLE');
      case 'not_found':
        return apiError('BAD_REQUEST', { reason: error.message });
    }
  }
  const code = (error as FastifyError).code;
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return apiError('UNSUPPORTED_MEDIA_TYPE', { contentType: String(request.headers['content-type'] ?? '') });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return apiError('PAYLOAD_TOO_LARGE', { limit: request.routeOptions.bodyLimit ?? DEFAULT_BODY_LIMIT });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return apiError('MALFORMED_JSON', { reason: 'the body is empty' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return apiError('MALFORMED_JSON', { reason: error.message.replace(/\.$/, '') });
  }
  const status = (error as FastifyError).statusCode;
  if (error instanceof SyntaxError && status === 400) return apiError('MALFORMED_JSON', { reason: error.message.replace(/\.$/, '') });
  if (typeof status === 'number' && status >= 400 && status < 500) return apiError('BAD_REQUEST', { reason: error.message.replace(/\.$/, '') });
  request.log.error({ err: error }, 'unexpected error in an API route');
  return apiError('INTERNAL_ERROR', { requestId: request.id });
}
