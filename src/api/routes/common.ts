/**
 * Query-string pieces shared by several route modules.
 */
import { Type } from '@sinclair/typebox';
import type { ApiError } from '../errors.ts';
import { validationError } from '../validation.ts';

/** `?includeSecrets=true`: admin only, audited. */
export const IncludeSecretsQuery = Type.Boolean({
  default: false,
  description: 'show passwords and secret parameter values (admin only; the read is audited)',
});

/** An ISO 8601 date-time with a time zone (Z or ±hh:mm); seconds and fractions optional. */
export const TimestampQuery = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'ISO 8601 date-time with a time zone, e.g. 2025-01-31T12:00:00Z',
});

/**
 * Normalises a validated TimestampQuery to the store's form (UTC with milliseconds), which sorts
 * lexicographically; `2025-01-31T13:00+01:00` becomes `2025-01-31T12:00:00.000Z`.
 * @throws ApiError VALIDATION_FAILED naming `field` when the text is not a real date (e.g. month 13).
 */
export function toUtcTimestamp(text: string, field: string): string {
  const time = Date.parse(text);
  if (Number.isNaN(time)) throw invalidDate(field);
  return new Date(time).toISOString();
}

function invalidDate(field: string): ApiError {
  return validationError('querystring', [{ path: `/${field}`, message: 'Expected a real date and time' }]);
}
