/**
 * Firmware version comparison.
 *
 * Grandstream versions are dotted numbers (`1.0.3.10`, `1.0.11.3`); comparing them as text gets
 * `1.0.3.10` > `1.0.10.0` wrong, so each dot-separated segment is compared numerically. Vendors also
 * ship versions with letters (`1.0.4.2b`, `2.0-rc1`), so a segment is split into runs of digits and
 * runs of other characters: digit runs compare as numbers, other runs as case-insensitive text, and a
 * number sorts before text at the same position. Missing trailing segments count as zero
 * (`1.0` equals `1.0.0.0`).
 */

/** One run inside a version segment: a number or a piece of text. */
type VersionToken = { kind: 'number'; value: bigint } | { kind: 'text'; value: string };

const SEGMENT_SEPARATORS = /[.\-_+ ]/;
const TOKEN_RE = /(\d+)|([^\d]+)/g;

function tokenize(segment: string): VersionToken[] {
  const out: VersionToken[] = [];
  for (const m of segment.matchAll(TOKEN_RE)) {
    // BigInt: build numbers such as 20240131 would lose nothing, but a 30-digit segment would in a double.
    if (m[1] !== undefined) out.push({ kind: 'number', value: BigInt(m[1]) });
    else out.push({ kind: 'text', value: m[2].toLowerCase() });
  }
  return out;
}

function compareTokens(a: VersionToken | undefined, b: VersionToken | undefined): number {
  // An absent token is a zero: `1.0` == `1.0.0`, `1.0.1` > `1.0`.
  const x = a ?? { kind: 'number', value: 0n };
  const y = b ?? { kind: 'number', value: 0n };
  if (x.kind === 'number' && y.kind === 'number') return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
  if (x.kind === 'text' && y.kind === 'text') return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
  return x.kind === 'number' ? -1 : 1;
}

function compareSegments(a: string, b: string): number {
  const ta = tokenize(a);
  const tb = tokenize(b);
  for (let i = 0; i < Math.max(ta.length, tb.length); i++) {
    const c = compareTokens(ta[i], tb[i]);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * Compares two firmware versions.
 * @returns a negative number when `a` is older than `b`, 0 when they are equal, positive when newer.
 *          Never throws; empty strings compare as `0`.
 */
export function compareVersions(a: string, b: string): number {
  const sa = a.trim().split(SEGMENT_SEPARATORS);
  const sb = b.trim().split(SEGMENT_SEPARATORS);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const c = compareSegments(sa[i] ?? '0', sb[i] ?? '0');
    if (c !== 0) return c < 0 ? -1 : 1;
  }
  return 0;
}

/** A version constraint; every given bound must hold. */
export interface VersionRange {
  eq?: string;
  ne?: string;
  lt?: string;
  lte?: string;
  gt?: string;
  gte?: string;
}

/**
 * Checks a version against a range.
 * @returns true when every bound holds; false when `version` is null (unknown) and any bound is given.
 */
export function versionInRange(version: string | null, range: VersionRange): boolean {
  const bounds = Object.entries(range).filter(([, v]) => v !== undefined) as [keyof VersionRange, string][];
  if (bounds.length === 0) return true;
  if (version === null || version === '') return false;
  return bounds.every(([op, bound]) => {
    const c = compareVersions(version, bound);
    switch (op) {
      case 'eq':
        return c === 0;
      case 'ne':
        return c !== 0;
      case 'lt':
        return c < 0;
      case 'lte':
        return c <= 0;
      case 'gt':
        return c > 0;
      case 'gte':
        return c >= 0;
    }
  });
}
