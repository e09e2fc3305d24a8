/**
 * The one error type the codec throws. Every refusal (bad bytes, bad XML, a
 * message the schema does not allow) surfaces as a CodecError with a code the
 * caller can map to an HTTP status or a CWMP fault, and a detail naming what is
 * wrong. Anything else escaping the codec is a bug.
 */

export type CodecErrorCode =
  | 'TOO_LARGE'
  | 'MALFORMED_XML'
  | 'DTD_FORBIDDEN'
  | 'TOO_DEEP'
  | 'TOO_MANY_ITEMS'
  | 'NOT_SOAP'
  | 'UNKNOWN_NAMESPACE'
  | 'UNKNOWN_METHOD'
  | 'INVALID_MESSAGE'
  | 'BAD_ENCODING'
  | 'UNSUPPORTED_HEADER';

export const CODEC_ERROR_CODES: readonly CodecErrorCode[] = [
  'TOO_LARGE',
  'MALFORMED_XML',
  'DTD_FORBIDDEN',
  'TOO_DEEP',
  'TOO_MANY_ITEMS',
  'NOT_SOAP',
  'UNKNOWN_NAMESPACE',
  'UNKNOWN_METHOD',
  'INVALID_MESSAGE',
  'BAD_ENCODING',
  'UNSUPPORTED_HEADER',
];

export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly code: CodecErrorCode;
  /** Where the problem is, when known (e.g. "Inform/DeviceId/OUI"). */
  readonly path?: string;

  constructor(code: CodecErrorCode, message: string, options?: { path?: string; cause?: unknown }) {
    super(`${code}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options?.path !== undefined) this.path = options.path;
  }
}

/** True when `e` is a CodecError (optionally with the given code). */
export function isCodecError(e: unknown, code?: CodecErrorCode): e is CodecError {
  return e instanceof CodecError && (code === undefined || e.code === code);
}
