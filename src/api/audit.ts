/**
 * The audit trail of the REST API: every write (POST, PUT, PATCH, DELETE) by an authenticated
 * caller, allowed or refused, and every explicit read of secrets, becomes one `AuditEntry`.
 *
 * The entry is written in the `onSend` hook, i.e. before the answer leaves, so that a client that
 * got its answer can rely on the entry being there. Its detail holds the method, the route, the
 * answer's status, the error code when there was one, and the request body with secrets redacted.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JsonObject, JsonValue, NewAuditEntry } from '../store/types.ts';
import type { Principal } from './auth.ts';
import { redactJson } from './secrets.ts';

/** Methods that change state and are therefore always audited. */
export const WRITE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Bodies larger than this (as JSON) are summarised by their size instead of copied into the log. */
const MAX_BODY_IN_DETAIL = 8192;

/** What a handler may add to its request's audit entry. */
export interface AuditNote {
  /** Overrides the route's `config.auditAction`. */
  action?: string;
  /** The object acted on; defaults to the `id` path parameter. */
  target?: string;
  /** Extra detail (must not contain secrets). */
  detail?: JsonObject;
}

/** Returns the audit entry for a finished request, or null when the request is not audited. */
export function auditEntryFor(
  request: FastifyRequest,
  reply: FastifyReply,
  principal: Principal | undefined,
  note: AuditNote | undefined,
  errorCode: string | undefined,
): NewAuditEntry | null {
  if (!principal) return null; // anonymous requests were refused with 401 before doing anything
  if (!WRITE_METHODS.has(request.method) && !note) return null;
  const route = request.routeOptions.url ?? request.url;
  const configured = request.routeOptions.config as { auditAction?: string } | undefined;
  const params = (request.params ?? {}) as Record<string, unknown>;
  const target = note?.target ?? (typeof params.id === 'string' ? params.id : null);
  const detail: JsonObject = {
    method: request.method,
    route,
    status: reply.statusCode,
    tokenId: principal.tokenId,
    role: principal.role,
  };
  if (errorCode !== undefined) detail.error = errorCode;
  if (WRITE_METHODS.has(request.method) && request.body !== undefined && request.body !== null) {
    detail.body = summariseBody(request.body as JsonValue);
  }
  const query = request.query as Record<string, JsonValue> | undefined;
  if (query && Object.keys(query).length > 0) detail.query = redactJson(query);
  if (note?.detail) Object.assign(detail, note.detail);
  return {
    actor: principal.name,
    action: note?.action ?? configured?.auditAction ?? `${request.method} ${route}`,
    target,
    detail,
  };
}

function summariseBody(body: JsonValue): JsonValue {
  const redacted = redactJson(body);
  const size = JSON.stringify(redacted).length;
  return size > MAX_BODY_IN_DETAIL ? { truncated: true, bytes: size } : redacted;
}
