/**
 * TypeBox schemas of the REST API's answers and shared pieces of requests. Route files use them for
 * validation, for response serialisation (fields not listed here are never sent, which is a second
 * guard against leaking secrets) and for the OpenAPI document.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { API_ERRORS, API_ERROR_CODES, type ApiErrorCode } from './errors.ts';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const Timestamp = Type.String({ description: 'ISO 8601 UTC timestamp', examples: ['2025-01-31T12:00:00.000Z'] });
/** Any JSON value; serialised as is. */
const AnyJson = Type.Unknown();

/** The code of every error answer, documented one by one in the description. */
export const ErrorCodeSchema = Type.Unsafe<ApiErrorCode>({
  type: 'string',
  enum: API_ERROR_CODES,
  title: 'ErrorCode',
  description: API_ERROR_CODES.map((code) => `${code} (${API_ERRORS[code].status}): ${API_ERRORS[code].description}`).join('\n'),
});

export const ErrorSchema = Type.Object(
  {
    code: ErrorCodeSchema,
    message: Type.String({ description: 'a readable sentence naming the offending field or object' }),
    details: Type.Optional(AnyJson),
  },
  { title: 'Error' },
);

/** Returns the schema with a description (OpenAPI uses it as the response's description). */
export function described<T extends TSchema>(schema: T, description: string): T {
  return { ...schema, description };
}

/**
 * Response entries for the error statuses a route may answer. Each lists only the codes of its
 * status (the full list with explanations is components.schemas.ErrorCode), which keeps the
 * document small and tells a client exactly what a 404 of this route can mean.
 */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((status) => {
      const codes = API_ERROR_CODES.filter((c) => API_ERRORS[c].status === status);
      const schema = Type.Object(
        {
          code: Type.Unsafe<ApiErrorCode>({ type: 'string', enum: codes }),
          message: Type.String(),
          details: Type.Optional(AnyJson),
        },
        { description: `Error: ${codes.join(', ')} (see ErrorCode)` },
      );
      return [status, schema];
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------------

export const DeviceIdParam = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'OUI-ProductClass-SerialNumber, URL-encoded',
  examples: ['000B82-HT502-000B82AABBCC'],
});

export const CredentialsSchema = Type.Object({
  acsUsername: Nullable(Type.String()),
  connectionRequestUsername: Nullable(Type.String()),
  acsPasswordSet: Type.Boolean(),
  connectionRequestPasswordSet: Type.Boolean(),
  acsPassword: Type.Optional(Nullable(Type.String({ description: 'only with includeSecrets=true (admin, audited)' }))),
  connectionRequestPassword: Type.Optional(Nullable(Type.String({ description: 'only with includeSecrets=true (admin, audited)' }))),
});

export const DeviceSchema = Type.Object(
  {
    id: Type.String(),
    manufacturer: Type.String(),
    oui: Type.String(),
    productClass: Type.String(),
    serialNumber: Type.String(),
    firstContact: Nullable(Timestamp),
    lastContact: Nullable(Timestamp),
    lastBoot: Nullable(Timestamp),
    lastBootstrap: Nullable(Timestamp),
    sourceAddress: Nullable(Type.String()),
    softwareVersion: Nullable(Type.String()),
    hardwareVersion: Nullable(Type.String()),
    connectionRequestUrl: Nullable(Type.String()),
    udpConnectionRequestAddress: Nullable(Type.String()),
    cwmpVersion: Nullable(Type.String()),
    tags: Type.Array(Type.String()),
    credentials: CredentialsSchema,
  },
  { title: 'Device' },
);

export const ParameterSchema = Type.Object(
  {
    name: Type.String(),
    value: Nullable(Type.String()),
    type: Nullable(Type.String()),
    writable: Nullable(Type.Boolean()),
    notification: Nullable(Type.Integer()),
    accessList: Nullable(Type.Array(Type.String())),
    object: Type.Boolean(),
    updatedAt: Timestamp,
  },
  { title: 'Parameter' },
);

export const TagParam = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[^,\\s]+$',
  description: 'a label without commas or white space',
});

/** Credentials an admin may set; `null` clears a field. */
export const CredentialsInput = Type.Object(
  {
    acsUsername: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    acsPassword: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    connectionRequestUsername: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    connectionRequestPassword: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
  },
  { additionalProperties: false },
);

// ---------------------------------------------------------------------------------------------
// Tasks, sessions, faults
// ---------------------------------------------------------------------------------------------

export const TaskStatusSchema = Type.Union(
  ['pending', 'running', 'done', 'failed', 'cancelled'].map((s) => Type.Literal(s)),
  { title: 'TaskStatus' },
);

export const TaskSchema = Type.Object(
  {
    id: Type.String(),
    deviceId: Type.String(),
    type: Type.String(),
    payload: Type.Record(Type.String(), AnyJson, { description: 'the TaskPayload as created (secrets redacted)' }),
    status: TaskStatusSchema,
    result: AnyJson,
    faultCode: Nullable(Type.Integer()),
    faultString: Nullable(Type.String()),
    attempts: Type.Integer(),
    maxAttempts: Type.Integer(),
    nextAttemptAt: Nullable(Timestamp),
    expiresAt: Nullable(Timestamp),
    createdAt: Timestamp,
    startedAt: Nullable(Timestamp),
    finishedAt: Nullable(Timestamp),
    connectionRequest: Type.Boolean(),
  },
  { title: 'Task' },
);

export const ConnectionRequestResultSchema = Type.Object(
  {
    status: Type.Union(['ok', 'auth-failed', 'unreachable', 'busy', 'no-address', 'error'].map((s) => Type.Literal(s))),
    transport: Type.String(),
    httpStatus: Type.Optional(Type.Integer()),
    detail: Type.String(),
    // Path-choosing requester (src/acs/nat/requester.ts): which path woke the device and every try.
    path: Type.Optional(Nullable(Type.Union(['http', 'udp', 'xmpp'].map((p) => Type.Literal(p)), { description: 'the path that reached the device' }))),
    confirmed: Type.Optional(Nullable(Type.Boolean({ description: 'a session start was seen after an unacknowledged (UDP) request' }))),
    elapsedMs: Type.Optional(Type.Integer()),
    deduplicated: Type.Optional(
      Type.Boolean({ description: 'another caller (this instance or another) had just asked for the same device: its outcome is reported, no second request was sent' }),
    ),
    attempts: Type.Optional(
      Type.Array(
        Type.Object({
          transport: Type.String(),
          status: Type.String(),
          detail: Type.String(),
          httpStatus: Type.Optional(Type.Integer()),
          elapsedMs: Type.Integer(),
          confirmed: Type.Optional(Type.Boolean()),
        }),
      ),
    ),
  },
  { title: 'ConnectionRequestResult' },
);

export const SessionSchema = Type.Object(
  {
    id: Type.String(),
    deviceId: Type.String(),
    startedAt: Timestamp,
    endedAt: Nullable(Timestamp),
    events: Type.Array(Type.Object({ eventCode: Type.String(), commandKey: Type.String() })),
    remoteAddress: Nullable(Type.String()),
    cwmpVersion: Nullable(Type.String()),
    outcome: Type.Union(['completed', 'timeout', 'aborted', 'rejected'].map((s) => Type.Literal(s))),
    rpcCount: Type.Integer(),
    detail: Nullable(Type.String()),
  },
  { title: 'Session' },
);

export const FaultSchema = Type.Object(
  {
    id: Type.String(),
    deviceId: Type.String(),
    taskId: Nullable(Type.String()),
    source: Type.Union(['cpe', 'acs', 'session'].map((s) => Type.Literal(s))),
    code: Type.String(),
    message: Type.String(),
    detail: AnyJson,
    at: Timestamp,
  },
  { title: 'Fault' },
);

// ---------------------------------------------------------------------------------------------
// Tokens and audit
// ---------------------------------------------------------------------------------------------

export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('operator'), Type.Literal('viewer')], {
  title: 'Role',
  description: 'viewer: read only; operator: also tasks, tags, faults; admin: everything incl. tokens, device credentials, audit',
});

export const TokenSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    role: RoleSchema,
    createdAt: Timestamp,
    lastUsedAt: Nullable(Timestamp),
    revokedAt: Nullable(Timestamp),
  },
  { title: 'ApiToken', description: 'A token without its secret (only its SHA-256 hash is stored).' },
);

export const AuditEntrySchema = Type.Object(
  {
    id: Type.String(),
    at: Timestamp,
    actor: Type.String({ description: 'token:<name>:<id>' }),
    action: Type.String({ description: 'e.g. task.create, device.delete, token.revoke, secrets.read' }),
    target: Nullable(Type.String()),
    detail: AnyJson,
  },
  { title: 'AuditEntry' },
);

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

/** Page size limits of list routes. */
export const PAGE = { defaultLimit: 50, maxLimit: 1000 } as const;

export const LimitQuery = Type.Integer({ minimum: 1, maximum: PAGE.maxLimit, default: PAGE.defaultLimit, description: 'page size' });
export const CursorQuery = Type.String({ minLength: 1, maxLength: 2048, description: 'nextCursor of the previous page' });
export const NextCursor = Nullable(Type.String({ description: 'pass as cursor to get the next page; null on the last page' }));
