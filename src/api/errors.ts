/**
 * The one registry of REST API errors.
 *
 * Every error the API answers with is `{ "code": "SOME_CODE", "message": "a readable sentence" }`
 * (plus optional `details`), where `code` is a key of `API_ERRORS`. Each entry fixes the HTTP status
 * and a message template whose `{placeholders}` are filled from the arguments given to `apiError`.
 * The OpenAPI document (components.schemas.ErrorCode) and src/api/README.md list every code; a
 * test fails when one of them misses a code.
 */

/** One registry entry: the HTTP status, the message template and what the code means (for docs). */
export interface ApiErrorDefinition {
  status: number;
  /** Message template; `{name}` is replaced by the argument `name`. */
  message: string;
  /** When the code is answered (documentation). */
  description: string;
}

export const API_ERRORS = {
  UNAUTHORIZED: {
    status: 401,
    message: 'This route needs an "Authorization: Bearer <token>" header.',
    description: 'No Authorization header, or one that is not a bearer token.',
  },
  INVALID_TOKEN: {
    status: 401,
    message: 'The bearer token is unknown or has been revoked.',
    description: 'The bearer token does not match a stored token, or that token was revoked.',
  },
  FORBIDDEN: {
    status: 403,
    message: 'The role "{role}" may not {action}; it needs the role "{needed}".',
    description: 'The token is valid but its role is too low for the route (e.g. a viewer writing).',
  },
  MALFORMED_JSON: {
    status: 400,
    message: 'The request body is not valid JSON: {reason}.',
    description: 'The body could not be parsed as JSON (or was empty with a JSON content type).',
  },
  VALIDATION_FAILED: {
    status: 400,
    message: 'Invalid {part}: {issues}.',
    description: 'A path parameter, query parameter or body field violates the route schema; the message names the field.',
  },
  INVALID_TASK: {
    status: 400,
    message: 'Invalid task: {issues}.',
    description: 'The task JSON has an unknown type, a missing field, an extra field or a bad value; the message names the field.',
  },
  INVALID_FILTER: {
    status: 400,
    message: 'Invalid parameter filter "{filter}": {reason}.',
    description: 'A `where` device filter is not `<parameter name> <op> <value>` with op eq, ne, prefix, lt, gt, lte or gte.',
  },
  INVALID_CURSOR: {
    status: 400,
    message: 'The pagination cursor is not valid for this query: {reason}.',
    description: 'A `cursor` did not come from a previous page of the same query (or the same sort).',
  },
  BAD_REQUEST: {
    status: 400,
    message: 'The request is malformed: {reason}.',
    description: 'A request problem that no more specific code covers (e.g. a URL with broken percent-encoding).',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'Request bodies must be JSON (Content-Type: application/json), not "{contentType}".',
    description: 'A body was sent with a content type other than application/json.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    message: 'The request body is larger than the limit of {limit} bytes.',
    description: 'The body exceeds the configured body limit.',
  },
  ROUTE_NOT_FOUND: {
    status: 404,
    message: 'There is no route {method} {url}.',
    description: 'No API route matches the method and path.',
  },
  DEVICE_NOT_FOUND: {
    status: 404,
    message: 'No device has the id "{id}".',
    description: 'The device id (OUI-ProductClass-SerialNumber, URL-encoded in paths) is unknown.',
  },
  TASK_NOT_FOUND: {
    status: 404,
    message: 'No task has the id "{id}".',
    description: 'The task id is unknown.',
  },
  FAULT_NOT_FOUND: {
    status: 404,
    message: 'No fault has the id "{id}".',
    description: 'The fault id is unknown.',
  },
  TOKEN_NOT_FOUND: {
    status: 404,
    message: 'No API token has the id "{id}".',
    description: 'The token id is unknown.',
  },
  TAG_NOT_FOUND: {
    status: 404,
    message: 'The device "{id}" has no tag "{tag}".',
    description: 'DELETE of a tag the device does not carry.',
  },
  DEVICE_EXISTS: {
    status: 409,
    message: 'A device with the id "{id}" already exists.',
    description: 'Pre-registration of a device id that is already known.',
  },
  DEVICE_IN_SESSION: {
    status: 409,
    message: 'The device "{id}" is in a CWMP session now; try again when the session has ended.',
    description: 'Deleting a device while it talks to the ACS.',
  },
  TASK_ALREADY_FINISHED: {
    status: 409,
    message: 'The task "{id}" has already finished with status "{status}" and cannot be cancelled.',
    description: 'Cancelling a task that is done or failed.',
  },
  LAST_ADMIN_TOKEN: {
    status: 409,
    message: 'The token "{id}" is the last active admin token; create another admin token before revoking it.',
    description: 'Revoking the only active admin token would lock every administrator out.',
  },
  TOKEN_NAME_TAKEN: {
    status: 409,
    message: 'An API token named "{name}" already exists; token names identify actors in the audit log and must be unique.',
    description: 'Creating a token with the name of an existing (even revoked) token.',
  },
  CONFLICT: {
    status: 409,
    message: 'The request conflicts with the stored state: {reason}.',
    description: 'The store refused a write because of a concurrent or contradictory change.',
  },
  STORE_UNAVAILABLE: {
    status: 503,
    message: 'The storage backend is unavailable; try again later.',
    description: 'The store is closed or cannot be reached.',
  },
  INTERNAL_ERROR: {
    status: 500,
    message: 'An internal error occurred (request {requestId}); it has been logged.',
    description: 'A bug; the details are in the server log, never in the answer.',
  },
} as const satisfies Record<string, ApiErrorDefinition>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Every registered code, in registry order. */
export const API_ERROR_CODES = Object.keys(API_ERRORS) as ApiErrorCode[];

/** The JSON body of every error answer. */
export interface ApiErrorBody {
  code: ApiErrorCode;
  message: string;
  /** Structured extra information (e.g. the list of validation issues); never secrets. */
  details?: unknown;
}

/** Arguments that fill a template's placeholders. */
export type ApiErrorArgs = Record<string, string | number>;

/** A typed API error: thrown by route code and turned into the JSON answer by the error handler. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly details: unknown;

  constructor(code: ApiErrorCode, args: ApiErrorArgs = {}, details?: unknown) {
    super(formatErrorMessage(code, args));
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = API_ERRORS[code].status;
    this.details = details;
  }

  /** The JSON answer for this error. */
  toBody(): ApiErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * Fills the template of `code` with `args`. A placeholder without an argument stays visible as
 * `{name}` so that a missing argument shows in tests instead of producing a silent "undefined".
 */
export function formatErrorMessage(code: ApiErrorCode, args: ApiErrorArgs = {}): string {
  return API_ERRORS[code].message.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.hasOwn(args, name) ? String(args[name]) : whole,
  );
}

/** Shorthand for `new ApiError(code, args, details)`. */
export function apiError(code: ApiErrorCode, args: ApiErrorArgs = {}, details?: unknown): ApiError {
  return new ApiError(code, args, details);
}
