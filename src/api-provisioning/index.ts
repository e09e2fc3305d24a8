/**
 * REST routes of provisioning (issue #5): presets and dry runs, files, variables (CSV import),
 * zero-touch bootstrap records and the unknown-device policy, firmware rollouts, webhooks and their
 * delivery log, parameter history, and the public file download route devices use.
 *
 * Mounting (done by src/api/index.ts when `BuildApiOptions.provisioning` is given):
 * - `registerProvisioningApi(api, ctx, options)` inside the encapsulated `/api` plugin, so the
 *   routes share the API's authentication, roles, audit log, JSON parser and validator;
 * - `registerFileDownloadRoutes(app, options)` on the root instance: `GET|HEAD /files/:id/:name`
 *   outside `/api` (devices have no API token), with HEAD, Range, ETag and per-file Basic/Digest.
 *
 * Errors are `{ code, message }`: the API's codes for authentication and validation, the codes of
 * ./errors.ts for provisioning objects. Bodies that may hold secrets (CSV, uploads) are replaced by
 * a summary before the audit entry is written.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../api/context.ts';
import { CsvError } from '../provisioning/csv.ts';
import { FileUploadError } from '../provisioning/files.ts';
import { RolloutError } from '../provisioning/rollouts.ts';
import { ProvisioningValidationError } from '../provisioning/schemas.ts';
import type { ProvisioningService } from '../provisioning/service.ts';
import { ProvisioningApiError, provisioningError } from './errors.ts';
import { registerBootstrapRoutes } from './routes/bootstrap.ts';
import { registerDeviceProvisioningRoutes } from './routes/devices.ts';
import { registerFileRoutes } from './routes/files.ts';
import { registerPresetRoutes } from './routes/presets.ts';
import { registerRolloutRoutes } from './routes/rollouts.ts';
import { registerVariableRoutes } from './routes/variables.ts';
import { registerWebhookRoutes } from './routes/webhooks.ts';

export { registerFileDownloadRoutes } from './download.ts';
export { PROVISIONING_ERRORS, PROVISIONING_ERROR_CODES } from './errors.ts';

/** What buildApi needs to mount the provisioning routes. */
export interface ProvisioningApiOptions {
  service: ProvisioningService;
  /** Largest CSV body (default 16 MiB). */
  csvBodyLimit?: number;
}

/** Shared by the route modules. */
export interface ProvisioningRouteContext extends ApiContext {
  service: ProvisioningService;
}

const DEFAULT_CSV_LIMIT = 16 * 1024 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    /** The raw CSV text or upload stream, moved off `body` so the audit never copies it. */
    rawUpload: unknown;
  }
}

/**
 * Maps provisioning errors to their answer.
 * @returns the API error, or null for errors the API's own handler maps.
 */
export function toProvisioningError(error: unknown): ProvisioningApiError | null {
  if (error instanceof ProvisioningApiError) return error;
  if (error instanceof ProvisioningValidationError) {
    const issues = error.issues.slice(0, 5).map((i) => `${i.path || '(whole body)'}: ${i.message}`).join('; ');
    return provisioningError('VALIDATION_FAILED', { part: 'body', issues: issues + (error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '') }, { part: 'body', issues: error.issues });
  }
  if (error instanceof CsvError) return provisioningError('INVALID_CSV', { reason: error.message });
  if (error instanceof FileUploadError) {
    if (error.code === 'too_large') return provisioningError('FILE_TOO_LARGE', { limit: error.limit ?? 0 });
    if (error.code === 'empty') return provisioningError('EMPTY_FILE');
    return provisioningError('VALIDATION_FAILED', { part: 'body', issues: error.message });
  }
  if (error instanceof RolloutError) {
    switch (error.code) {
      case 'file_not_found':
      case 'not_firmware':
        return provisioningError('INVALID_FILE_REFERENCE', { reason: error.message });
      case 'no_devices':
        return provisioningError('NO_MATCHING_DEVICES');
      case 'bad_state':
        return provisioningError('ROLLOUT_STATE', { reason: error.message.replace(/\.$/, '') });
      case 'not_found':
        return provisioningError('ROLLOUT_NOT_FOUND', { id: error.message.replace(/^.*"(.*)".*$/, '$1') });
    }
  }
  return null;
}

/**
 * Registers the provisioning routes in the API's `/api` plugin (an encapsulated child: its error
 * handler and body parsers stay local; everything else is inherited).
 * @throws Error when a route fails to register (a bug).
 */
export async function registerProvisioningApi(api: FastifyInstance, ctx: ApiContext, options: ProvisioningApiOptions): Promise<void> {
  const rctx: ProvisioningRouteContext = { ...ctx, service: options.service };
  await api.register(async (child) => {
    child.decorateRequest('rawUpload', undefined);
    const csvLimit = options.csvBodyLimit ?? DEFAULT_CSV_LIMIT;
    for (const type of ['text/csv', 'application/csv']) {
      child.addContentTypeParser(type, { parseAs: 'string', bodyLimit: csvLimit }, (_req, body, done) => done(null, body));
    }
    // Uploads stream straight to disk: the route reads the request stream itself.
    child.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    child.addHook('preValidation', async (request) => {
      const type = String(request.headers['content-type'] ?? '');
      if (/^(text|application)\/csv\b/.test(type) && typeof request.body === 'string') {
        request.rawUpload = request.body;
        request.body = { csvBytes: Buffer.byteLength(request.body) };
      } else if (/^application\/octet-stream\b/.test(type) && request.body && typeof (request.body as { pipe?: unknown }).pipe === 'function') {
        request.rawUpload = request.body;
        request.body = { upload: 'binary' };
      }
    });
    child.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const mapped = toProvisioningError(error);
      // Anything else (authentication, schema validation, store trouble) is the API's to answer.
      if (!mapped) throw error;
      request.auditErrorCode = mapped.code;
      return reply.code(mapped.statusCode).type('application/json').send(mapped.toBody());
    });
    registerPresetRoutes(child, rctx);
    registerFileRoutes(child, rctx);
    registerVariableRoutes(child, rctx);
    registerBootstrapRoutes(child, rctx);
    registerRolloutRoutes(child, rctx);
    registerWebhookRoutes(child, rctx);
    registerDeviceProvisioningRoutes(child, rctx);
  });
}
