/**
 * Error codes of the provisioning routes, in the REST API's shape `{ code, message, details? }`.
 *
 * The core registry (src/api/errors.ts) belongs to the API; codes that only the provisioning
 * routes answer live here, each with its status and message template, and are documented in the
 * OpenAPI document through `provisioningErrorResponses`. Validation failures reuse the core's
 * `VALIDATION_FAILED` code so that clients handle one code for "a field is wrong".
 */
import { Type } from '@sinclair/typebox';

export interface ProvisioningErrorDefinition {
  status: number;
  message: string;
  description: string;
}

export const PROVISIONING_ERRORS = {
  VALIDATION_FAILED: { status: 400, message: 'Invalid {part}: {issues}.', description: 'A field violates the schema or a rule of the object (the message names the field).' },
  INVALID_CSV: { status: 400, message: 'The CSV is not valid: {reason}.', description: 'The CSV body could not be read (quoting, header, column count) or lacks the key column.' },
  INVALID_FILE_REFERENCE: { status: 400, message: 'Invalid file reference: {reason}.', description: 'A preset or rollout names a file that does not exist or has the wrong file type.' },
  NO_MATCHING_DEVICES: { status: 400, message: 'No device matches the rollout target.', description: 'A rollout whose target filter selects no device.' },
  EMPTY_FILE: { status: 400, message: 'The uploaded file is empty.', description: 'An upload without content.' },
  PRESET_NOT_FOUND: { status: 404, message: 'No preset has the id "{id}".', description: 'The preset id is unknown.' },
  FILE_NOT_FOUND: { status: 404, message: 'No file has the id "{id}".', description: 'The file id is unknown.' },
  ROLLOUT_NOT_FOUND: { status: 404, message: 'No rollout has the id "{id}".', description: 'The rollout id is unknown.' },
  WEBHOOK_NOT_FOUND: { status: 404, message: 'No webhook has the id "{id}".', description: 'The webhook id is unknown.' },
  BOOTSTRAP_NOT_FOUND: { status: 404, message: 'No bootstrap record has the key "{key}".', description: 'The serial number or MAC has no bootstrap record.' },
  VARIABLES_NOT_FOUND: { status: 404, message: 'No variables are stored for the key "{key}".', description: 'The key (serial, MAC or device id) has no variables.' },
  DEVICE_NOT_FOUND: { status: 404, message: 'No device has the id "{id}".', description: 'The device id is unknown.' },
  PRESET_NAME_TAKEN: { status: 409, message: 'A preset named "{name}" already exists.', description: 'Preset names are unique.' },
  FILE_IN_USE: { status: 409, message: 'The file "{id}" is used by {users}; change those first.', description: 'Deleting a file a preset or an open rollout refers to.' },
  ROLLOUT_STATE: { status: 409, message: '{reason}.', description: 'Pausing, resuming or cancelling a rollout in a state that does not allow it.' },
  FILE_TOO_LARGE: { status: 413, message: 'The file is larger than the limit of {limit} bytes.', description: 'An upload above the configured file size limit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'This route takes a body of type {expected}, not "{contentType}".', description: 'A body of the wrong content type (CSV routes take text/csv, uploads application/octet-stream).' },
} as const satisfies Record<string, ProvisioningErrorDefinition>;

export type ProvisioningErrorCode = keyof typeof PROVISIONING_ERRORS;
export const PROVISIONING_ERROR_CODES = Object.keys(PROVISIONING_ERRORS) as ProvisioningErrorCode[];

/** A typed error of a provisioning route (turned into the JSON answer by the plugin's error handler). */
export class ProvisioningApiError extends Error {
  readonly code: ProvisioningErrorCode;
  readonly statusCode: number;
  readonly details: unknown;
  constructor(code: ProvisioningErrorCode, args: Record<string, string | number> = {}, details?: unknown) {
    super(PROVISIONING_ERRORS[code].message.replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(args, name) ? String(args[name]) : whole)));
    this.name = 'ProvisioningApiError';
    this.code = code;
    this.statusCode = PROVISIONING_ERRORS[code].status;
    this.details = details;
  }

  toBody(): { code: string; message: string; details?: unknown } {
    return this.details === undefined ? { code: this.code, message: this.message } : { code: this.code, message: this.message, details: this.details };
  }
}

/** Shorthand constructor. */
export function provisioningError(code: ProvisioningErrorCode, args: Record<string, string | number> = {}, details?: unknown): ProvisioningApiError {
  return new ProvisioningApiError(code, args, details);
}

/** Codes the core API answers on every protected route (authentication, roles, JSON). */
const CORE_CODES: Record<number, string[]> = {
  400: ['MALFORMED_JSON', 'VALIDATION_FAILED', 'BAD_REQUEST'],
  401: ['UNAUTHORIZED', 'INVALID_TOKEN'],
  403: ['FORBIDDEN'],
  409: ['CONFLICT'],
  413: ['PAYLOAD_TOO_LARGE'],
  415: ['UNSUPPORTED_MEDIA_TYPE'],
};

/** OpenAPI error responses for the given statuses, listing the codes each may carry. */
export function provisioningErrorResponses(...statuses: number[]) {
  return Object.fromEntries(
    statuses.map((status) => {
      const own = PROVISIONING_ERROR_CODES.filter((c) => PROVISIONING_ERRORS[c].status === status);
      const codes = [...new Set([...(CORE_CODES[status] ?? []), ...own])];
      return [
        status,
        Type.Object(
          {
            code: Type.String({ enum: codes }),
            message: Type.String(),
            details: Type.Optional(Type.Unknown()),
          },
          { description: `Error; code one of ${codes.join(', ')}` },
        ),
      ];
    }),
  );
}
