/**
 * Checks and bounds both store backends apply to what they are given, so that SQLite and PostgreSQL
 * accept and refuse the same values.
 */
import { StoreError, type IsoTimestamp } from './types.ts';

/** The shapes of ISO 8601 accepted as store timestamps (date, time, optional seconds/fraction, zone). */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$/;

/**
 * Checks a timestamp given to the store (PostgreSQL would otherwise accept words such as `now` or
 * `yesterday` in a `timestamptz` column, SQLite any text). Returns the value unchanged
 * (null/undefined pass through).
 * @throws StoreError `invalid` for anything that is not ISO 8601 with a time zone.
 */
export function isoParam<T extends IsoTimestamp | null | undefined>(value: T, field: string): T {
  if (value === null || value === undefined) return value;
  if (typeof value !== 'string' || !ISO_TIMESTAMP.test(value) || Number.isNaN(Date.parse(value))) {
    throw new StoreError('invalid', `${field} must be an ISO 8601 timestamp with a time zone, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Highest code point: an upper bound for "every name starting with prefix" range scans. */
export const MAX_CHAR = String.fromCodePoint(0x10ffff);
