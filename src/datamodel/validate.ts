/**
 * Value checks for data-model parameters: base xsd type, then the facets of the definition
 * (ranges, enumeration, size, patterns, list syntax). Pure functions; the enumeration of an
 * `enumerationRef` is passed in by the caller, which knows where the referenced list lives.
 */

import type { XsdType } from '../cwmp/types.ts';
import type { ParamDef, RangeDef } from './definitions.ts';

/** The outcome of a check: the canonical value to store, or why the value is refused. */
export type CheckResult = { ok: true; value: string } | { ok: false; reason: string };

const INT_RE = /^[+-]?[0-9]+$/;
const DECIMAL_RE = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$/;
const HEX_RE = /^([0-9a-fA-F]{2})*$/;
const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DATETIME_RE = /^-?[0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?$/;

const HIGH_SURROGATE_MIN = 0xd800;
const HIGH_SURROGATE_MAX = 0xdbff;
const LOW_SURROGATE_MIN = 0xdc00;
const LOW_SURROGATE_MAX = 0xdfff;

const INTEGER_BOUNDS: Partial<Record<XsdType, { min: bigint; max: bigint }>> = {
  int: { min: -(2n ** 31n), max: 2n ** 31n - 1n },
  unsignedInt: { min: 0n, max: 2n ** 32n - 1n },
  long: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  unsignedLong: { min: 0n, max: 2n ** 64n - 1n },
};

/** Type default used when neither the BBF nor the profile gives one. */
export function typeDefault(type: XsdType): string {
  switch (type) {
    case 'int':
    case 'unsignedInt':
    case 'long':
    case 'unsignedLong':
    case 'decimal':
      return '0';
    case 'boolean':
      return 'false';
    case 'dateTime':
      return '0001-01-01T00:00:00Z';
    default:
      return '';
  }
}

function inRanges(n: number, ranges: RangeDef[]): boolean {
  // BBF: several ranges form a union.
  return ranges.some((r) => {
    if (r.min !== undefined && n < Number(r.min)) return false;
    if (r.max !== undefined && n > Number(r.max)) return false;
    if (r.step !== undefined && r.min !== undefined && (n - Number(r.min)) % Number(r.step) !== 0) return false;
    return true;
  });
}

function describeRanges(ranges: RangeDef[]): string {
  return ranges.map((r) => `[${r.min ?? ''}:${r.max ?? ''}${r.step ? ` step ${r.step}` : ''}]`).join(' or ');
}

/** Checks a single value against an xsd base type; returns its canonical form. */
export function checkBaseType(type: XsdType, raw: string): CheckResult {
  if (type === 'string') return { ok: true, value: raw };
  const v = raw.trim();
  const bounds = INTEGER_BOUNDS[type];
  if (bounds) {
    if (!INT_RE.test(v)) return { ok: false, reason: `not an ${type}` };
    const n = BigInt(v);
    if (n < bounds.min || n > bounds.max) return { ok: false, reason: `out of the ${type} range` };
    return { ok: true, value: n.toString() };
  }
  switch (type) {
    case 'boolean': {
      const lower = v.toLowerCase();
      if (lower === 'true' || v === '1') return { ok: true, value: 'true' };
      if (lower === 'false' || v === '0') return { ok: true, value: 'false' };
      return { ok: false, reason: 'not a boolean (0, 1, true, false)' };
    }
    case 'dateTime':
      if (!DATETIME_RE.test(v)) return { ok: false, reason: 'not an xsd:dateTime' };
      if (!v.startsWith('0001-') && Number.isNaN(Date.parse(v))) return { ok: false, reason: 'not a valid date/time' };
      return { ok: true, value: v };
    case 'base64':
      return BASE64_RE.test(v) ? { ok: true, value: v } : { ok: false, reason: 'not base64' };
    case 'hexBinary':
      return HEX_RE.test(v) ? { ok: true, value: v } : { ok: false, reason: 'not hexBinary' };
    case 'decimal':
      return DECIMAL_RE.test(v) ? { ok: true, value: v } : { ok: false, reason: 'not a decimal' };
    default:
      return { ok: false, reason: `unsupported type ${type}` };
  }
}

const patternCache = new Map<string, RegExp | null>();

/** XSD patterns match the whole value; a pattern JS cannot compile is ignored (and cached as such). */
function compiledPattern(p: string): RegExp | null {
  let re = patternCache.get(p);
  if (re === undefined) {
    try {
      re = new RegExp(`^(?:${p})$`, 'u');
    } catch {
      re = null;
    }
    patternCache.set(p, re);
  }
  return re;
}

const patternListCache = new WeakMap<readonly string[], RegExp[]>();

/** The patterns of a definition that JS can compile (memoised per definition's pattern list). */
function compiledPatterns(patterns: readonly string[]): RegExp[] {
  let list = patternListCache.get(patterns);
  if (!list) {
    list = patterns.map(compiledPattern).filter((r): r is RegExp => r !== null);
    patternListCache.set(patterns, list);
  }
  return list;
}

/**
 * Whether `value` has more than `limit` Unicode code points. A string never has more code points
 * than UTF-16 units, nor fewer than half of them, so most answers need no count (and no array).
 */
export function codePointsAbove(value: string, limit: number): boolean {
  if (value.length <= limit) return false;
  if (value.length > 2 * limit) return true;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    // A high surrogate followed by a low one is a single code point.
    if (c >= HIGH_SURROGATE_MIN && c <= HIGH_SURROGATE_MAX && i + 1 < value.length) {
      const d = value.charCodeAt(i + 1);
      if (d >= LOW_SURROGATE_MIN && d <= LOW_SURROGATE_MAX) i++;
    }
    if (++n > limit) return true;
  }
  return false;
}

/** Checks one scalar (or one list item) against the definition's facets. */
function checkScalar(def: ParamDef, type: XsdType, raw: string, allowed: string[] | undefined): CheckResult {
  const base = checkBaseType(type, raw);
  if (!base.ok) return base;
  const value = base.value;
  if (type === 'string') {
    if (def.maxLength !== undefined && codePointsAbove(value, def.maxLength)) return { ok: false, reason: `longer than ${def.maxLength} characters` };
    if (def.minLength !== undefined && !codePointsAbove(value, def.minLength - 1)) return { ok: false, reason: `shorter than ${def.minLength} characters` };
  } else if (def.ranges && type !== 'boolean' && type !== 'dateTime') {
    if (!inRanges(Number(value), def.ranges)) return { ok: false, reason: `outside ${describeRanges(def.ranges)}` };
  }
  if (def.enumeration && !def.enumeration.includes(value)) {
    return { ok: false, reason: `not one of ${def.enumeration.map((e) => JSON.stringify(e)).join(', ')}` };
  }
  if (allowed && !allowed.includes(value) && value !== def.enumerationRefNull) {
    return { ok: false, reason: `not one of the supported values ${allowed.join(', ') || '(none)'}` };
  }
  // TR-106 _AliasCWMP: non-empty and starting with a letter.
  if (def.dataType === 'Alias' && !/^[A-Za-z]/.test(value)) return { ok: false, reason: 'an Alias must start with a letter' };
  if (def.patterns && def.patterns.length > 0) {
    const compiled = compiledPatterns(def.patterns);
    if (compiled.length > 0 && !compiled.some((r) => r.test(value))) return { ok: false, reason: 'does not match the required pattern' };
  }
  return { ok: true, value };
}

/** Splits a TR-106 comma-separated list (whitespace around items is ignored). */
export function splitList(value: string): string[] {
  if (value.trim() === '') return [];
  return value.split(',').map((s) => s.trim());
}

/**
 * Checks a value for a parameter. `allowed` is the enumeration taken from an
 * `enumerationRef` target (undefined when the definition has none or it cannot be resolved).
 * Returns the canonical value (booleans as `true`/`false`, integers without sign noise).
 */
export function checkValue(def: ParamDef, raw: string, allowed?: string[]): CheckResult {
  if (!def.list) return checkScalar(def, def.type, raw, allowed);
  if (def.listMaxLength !== undefined && codePointsAbove(raw, def.listMaxLength)) {
    return { ok: false, reason: `list longer than ${def.listMaxLength} characters` };
  }
  const items = splitList(raw);
  const out: string[] = [];
  for (const item of items) {
    const r = checkScalar(def, def.itemType ?? 'string', item, allowed);
    if (!r.ok) return { ok: false, reason: `item "${item}": ${r.reason}` };
    out.push(r.value);
  }
  return { ok: true, value: out.join(',') };
}
