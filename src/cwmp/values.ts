/**
 * xsd value helpers for CWMP parameter values (TR-106 base types on the wire).
 * Values stay strings everywhere in the codec; these helpers check and convert
 * them where a caller needs to.
 */
import type { XsdType } from './types.ts';

export const XSD_TYPES: readonly XsdType[] = [
  'string',
  'int',
  'unsignedInt',
  'long',
  'unsignedLong',
  'boolean',
  'dateTime',
  'base64',
  'hexBinary',
  'decimal',
];

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const UINT_MAX = 2 ** 32 - 1;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
const ULONG_MAX = 2n ** 64n - 1n;

/** XML Schema whitespace: space, TAB, LF, CR (not the wider Unicode set of \s). */
const XSD_WS = /^[ \t\n\r]+|[ \t\n\r]+$/g;
/** Non-string xsd types collapse surrounding whitespace before checking the lexical form. */
function collapse(value: string): string {
  return value.replace(XSD_WS, '');
}

const INTEGER_RE = /^[+-]?[0-9]+$/;
const DECIMAL_RE = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;
const HEX_RE = /^([0-9a-fA-F]{2})*$/;
// XSD base64Binary lexical space: groups of 4 base64 characters, optional single spaces between characters, '=' padding.
const B64_CHAR = '[A-Za-z0-9+/]';
const B64_RE = new RegExp(
  `^((${B64_CHAR} ?){4})*((${B64_CHAR} ?){3}${B64_CHAR}|(${B64_CHAR} ?){2}[AEIMQUYcgkosw048] ?=|${B64_CHAR} ?[AQgw] ?= ?=)?$`,
);
const DATETIME_RE = /^(-?)([0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$/;

function daysInMonth(year: bigint, month: number): number {
  if (month === 2) {
    const leap = (year % 4n === 0n && year % 100n !== 0n) || year % 400n === 0n;
    return leap ? 29 : 28;
  }
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function checkDateTime(v: string): string | null {
  const m = DATETIME_RE.exec(v);
  if (!m) return 'not an xsd:dateTime (YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm])';
  const [, sign, y, mo, d, h, mi, s, , tz] = m;
  if (y.length > 4 && y.startsWith('0')) return 'year with more than 4 digits must not start with 0';
  const year = BigInt((sign ?? '') + y);
  if (year === 0n) return 'year 0000 is not allowed';
  const month = Number(mo);
  if (month < 1 || month > 12) return 'month out of range';
  const day = Number(d);
  if (day < 1 || day > daysInMonth(year < 0n ? -year : year, month)) return 'day out of range';
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (hour === 24) {
    if (minute !== 0 || second !== 0 || (m[8] !== undefined && /[1-9]/.test(m[8]))) return '24:00:00 is the only allowed time with hour 24';
  } else if (hour > 23) return 'hour out of range';
  if (minute > 59) return 'minute out of range';
  if (second > 59) return 'second out of range';
  if (tz !== undefined && tz !== 'Z') {
    const tzh = Number(tz.slice(1, 3));
    const tzm = Number(tz.slice(4, 6));
    if (tzm > 59 || tzh > 14 || (tzh === 14 && tzm !== 0)) return 'time zone offset out of range';
  }
  return null;
}

function checkIntegerRange(v: string, min: bigint, max: bigint, typeName: string): string | null {
  if (!INTEGER_RE.test(v)) return `not an xsd:${typeName} (digits with optional sign)`;
  const n = BigInt(v);
  if (n < min || n > max) return `xsd:${typeName} out of range ${min}..${max}`;
  return null;
}

/**
 * Checks `value` against the lexical space of xsd type `type` (as the schema
 * validator would, after whitespace collapsing for non-string types).
 * Returns null when valid, else a short English reason.
 */
export function validateXsdValue(type: XsdType, value: string): string | null {
  if (type === 'string') return null;
  const v = collapse(value);
  switch (type) {
    case 'int':
      return checkIntegerRange(v, BigInt(INT_MIN), BigInt(INT_MAX), 'int');
    case 'unsignedInt':
      return checkIntegerRange(v, 0n, BigInt(UINT_MAX), 'unsignedInt');
    case 'long':
      return checkIntegerRange(v, LONG_MIN, LONG_MAX, 'long');
    case 'unsignedLong':
      return checkIntegerRange(v, 0n, ULONG_MAX, 'unsignedLong');
    case 'boolean':
      return v === 'true' || v === 'false' || v === '1' || v === '0' ? null : 'not an xsd:boolean (true, false, 1, 0)';
    case 'dateTime':
      return checkDateTime(v);
    case 'base64':
      return B64_RE.test(v) ? null : 'not base64';
    case 'hexBinary':
      return HEX_RE.test(v) ? null : 'not hexBinary (pairs of hex digits)';
    case 'decimal':
      return DECIMAL_RE.test(v) ? null : 'not an xsd:decimal';
    default: {
      const never: never = type;
      return `unknown type ${String(never)}`;
    }
  }
}

/** True when `s` names one of the codec's xsd types. */
export function isXsdType(s: string): s is XsdType {
  return (XSD_TYPES as readonly string[]).includes(s);
}

/**
 * Parses an xsd:boolean lexical value ("true"/"false"/"1"/"0", surrounding
 * whitespace allowed; case-insensitive as a tolerance for sloppy peers).
 * Returns the boolean, or null when the text is not a boolean.
 */
export function parseBoolean(value: string): boolean | null {
  switch (collapse(value).toLowerCase()) {
    case 'true':
    case '1':
      return true;
    case 'false':
    case '0':
      return false;
    default:
      return null;
  }
}

/** Formats a boolean for the wire: "true"/"false" (style "word") or "1"/"0" (style "digit"). */
export function formatBoolean(b: boolean, style: 'word' | 'digit' = 'word'): string {
  if (style === 'digit') return b ? '1' : '0';
  return b ? 'true' : 'false';
}

/**
 * Normalises an xsd:dateTime to UTC with a "Z" suffix and no fraction when it is
 * zero (e.g. "2024-01-02T03:04:05+02:00" -> "2024-01-02T01:04:05Z"). The Unknown
 * Time 0001-01-01T00:00:00Z and dates without a time zone are returned unchanged
 * (no zone means "local, unknown offset": it cannot be converted).
 * Returns the normalised text; throws RangeError when `value` is not a dateTime.
 */
export function normalizeDateTime(value: string): string {
  const v = collapse(value);
  const err = checkDateTime(v);
  if (err) throw new RangeError(`${JSON.stringify(value)}: ${err}`);
  const m = DATETIME_RE.exec(v)!;
  const tz = m[9];
  if (tz === undefined || m[1] === '-' || m[2].length > 4) return v;
  const frac = m[8] ?? '';
  const ms = Date.parse(`${m[2]}-${m[3]}-${m[4]}T${m[5]}:${m[6]}:${m[7]}${tz}`);
  if (Number.isNaN(ms)) return v;
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (year < 1 || year > 9999) return v;
  const iso = d.toISOString().slice(0, 19); // drops JS milliseconds (always .000 here)
  const fracTrimmed = frac.replace(/0+$/, '');
  return `${iso}${fracTrimmed === '.' ? '' : fracTrimmed}Z`;
}

/** Formats a JS Date as xsd:dateTime in UTC without milliseconds ("2024-01-02T03:04:05Z"). */
export function formatDateTime(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

/** Parses an xsd integer type value to a JS number when it is a safe integer, else null. */
export function parseXsdInteger(value: string): number | null {
  const v = collapse(value);
  if (!INTEGER_RE.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}
