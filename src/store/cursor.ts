/**
 * Opaque pagination cursors shared by the backends: base64url of a small JSON object, so a cursor
 * made by one backend means the same position to another, and a client cannot mistake it for an id.
 */
import { StoreError, PAGE_LIMITS } from './types.ts';

/** Encodes a cursor position. */
export function encodeCursor(position: Record<string, string | number | null>): string {
  return Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor made by `encodeCursor`.
 * @throws StoreError `invalid` when the text is not such a cursor or lacks one of `keys`.
 */
export function decodeCursor(cursor: string, keys: readonly string[]): Record<string, string | number | null> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new StoreError('invalid', 'malformed cursor');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StoreError('invalid', 'malformed cursor');
  const record = value as Record<string, unknown>;
  for (const k of keys) {
    const v = record[k];
    if (!(k in record) || (v !== null && typeof v !== 'string' && typeof v !== 'number')) {
      throw new StoreError('invalid', 'malformed cursor');
    }
  }
  return record as Record<string, string | number | null>;
}

/**
 * Clamps a requested page size to [1, maxLimit], defaulting to defaultLimit.
 * @throws StoreError `invalid` for a non-integer or negative limit.
 */
export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return PAGE_LIMITS.defaultLimit;
  if (!Number.isInteger(limit) || limit < 0) throw new StoreError('invalid', 'limit must be a non-negative integer');
  return Math.max(1, Math.min(limit, PAGE_LIMITS.maxLimit));
}

/**
 * Validates an offset.
 * @throws StoreError `invalid` for a non-integer or negative offset.
 */
export function pageOffset(offset: number | undefined): number {
  if (offset === undefined) return 0;
  if (!Number.isInteger(offset) || offset < 0) throw new StoreError('invalid', 'offset must be a non-negative integer');
  return offset;
}

/** Normalises tags: trimmed, non-empty, unique, sorted. @throws StoreError `invalid` for a tag with a comma or empty. */
export function normaliseTags(tags: readonly string[]): string[] {
  const out = new Set<string>();
  for (const raw of tags) {
    const t = raw.trim();
    if (t === '' || t.includes(',') || t.length > 128) throw new StoreError('invalid', `invalid tag ${JSON.stringify(raw)}`);
    out.add(t);
  }
  return [...out].sort();
}
