/**
 * Device filters: preset preconditions and rollout targets (`DeviceFilter`).
 *
 * A filter is JSON (validated when stored), evaluated against what the ACS knows about a device:
 * its identity, tags, SoftwareVersion and known parameter values. Every given field must hold;
 * inside a list any entry may match. `explainFilter` says which field failed, for dry runs and for
 * the API's "why does this preset not apply" answers.
 */
import type { DeviceFilter, ParameterConditionSpec } from '../store/provisioning/types.ts';
import { versionInRange } from './version.ts';

/** What a filter looks at. */
export interface DeviceFacts {
  id: string;
  oui: string;
  productClass: string;
  manufacturer: string;
  serialNumber: string;
  softwareVersion: string | null;
  tags: readonly string[];
  /** Known value of a parameter: undefined when the ACS does not know it. */
  parameter(name: string): string | undefined;
}

function numeric(text: string): number | null {
  if (text.trim() === '') return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

function compare(actual: string, expected: string | number): number | null {
  if (typeof expected === 'number') {
    const n = numeric(actual);
    return n === null ? null : n - expected;
  }
  return actual < expected ? -1 : actual > expected ? 1 : 0;
}

/** Returns true when the condition holds for the known value (`undefined` = unknown). */
export function conditionHolds(c: ParameterConditionSpec, actual: string | undefined): boolean {
  if (c.op === 'exists') return actual !== undefined;
  if (c.op === 'absent') return actual === undefined;
  if (actual === undefined || c.value === undefined) return false;
  if (c.op === 'eq') return typeof c.value === 'number' ? numeric(actual) === c.value : actual === c.value;
  if (c.op === 'ne') return typeof c.value === 'number' ? numeric(actual) !== c.value : actual !== c.value;
  if (c.op === 'prefix') return actual.startsWith(String(c.value));
  const d = compare(actual, c.value);
  if (d === null) return false;
  switch (c.op) {
    case 'lt':
      return d < 0;
    case 'lte':
      return d <= 0;
    case 'gt':
      return d > 0;
    case 'gte':
      return d >= 0;
  }
}

function inList(list: readonly string[] | undefined, value: string, caseInsensitive = false): boolean {
  if (list === undefined || list.length === 0) return true;
  return caseInsensitive ? list.some((x) => x.toLowerCase() === value.toLowerCase()) : list.includes(value);
}

/**
 * Evaluates a filter.
 * @returns the reasons the device does not match (empty = it matches).
 */
export function explainFilter(filter: DeviceFilter, d: DeviceFacts): string[] {
  const why: string[] = [];
  if (!inList(filter.ids, d.id)) why.push(`device id ${d.id} is not listed`);
  if (!inList(filter.oui, d.oui, true)) why.push(`OUI ${d.oui} is not one of ${filter.oui!.join(', ')}`);
  if (!inList(filter.productClass, d.productClass)) why.push(`product class ${d.productClass} is not one of ${filter.productClass!.join(', ')}`);
  if (!inList(filter.manufacturer, d.manufacturer)) why.push(`manufacturer ${d.manufacturer} is not one of ${filter.manufacturer!.join(', ')}`);
  if (!inList(filter.serialNumber, d.serialNumber)) why.push(`serial number ${d.serialNumber} is not listed`);
  const tags = new Set(d.tags);
  const t = filter.tags;
  if (t?.all && !t.all.every((x) => tags.has(x))) why.push(`does not carry every tag of ${t.all.join(', ')}`);
  if (t?.any && t.any.length > 0 && !t.any.some((x) => tags.has(x))) why.push(`carries none of the tags ${t.any.join(', ')}`);
  if (t?.none && t.none.some((x) => tags.has(x))) why.push(`carries an excluded tag (${t.none.filter((x) => tags.has(x)).join(', ')})`);
  if (filter.softwareVersion && !versionInRange(d.softwareVersion, filter.softwareVersion)) {
    why.push(`software version ${d.softwareVersion ?? '(unknown)'} is outside ${JSON.stringify(filter.softwareVersion)}`);
  }
  for (const c of filter.parameters ?? []) {
    const actual = d.parameter(c.name);
    if (!conditionHolds(c, actual)) {
      why.push(`${c.name} ${c.op}${c.value !== undefined ? ' ' + JSON.stringify(c.value) : ''} does not hold (known value: ${actual === undefined ? 'none' : JSON.stringify(actual)})`);
    }
  }
  return why;
}

/**
 * Returns true when the device matches every field of the filter: `explainFilter(...).length === 0`
 * without building the reasons (every session tests every preset's precondition, and most do not
 * match a given device).
 */
export function matchesFilter(filter: DeviceFilter, d: DeviceFacts): boolean {
  if (!inList(filter.ids, d.id) || !inList(filter.oui, d.oui, true) || !inList(filter.productClass, d.productClass)) return false;
  if (!inList(filter.manufacturer, d.manufacturer) || !inList(filter.serialNumber, d.serialNumber)) return false;
  const t = filter.tags;
  if (t) {
    if (t.all && !t.all.every((x) => d.tags.includes(x))) return false;
    if (t.any && t.any.length > 0 && !t.any.some((x) => d.tags.includes(x))) return false;
    if (t.none && t.none.some((x) => d.tags.includes(x))) return false;
  }
  if (filter.softwareVersion && !versionInRange(d.softwareVersion, filter.softwareVersion)) return false;
  if (filter.parameters) for (const c of filter.parameters) if (!conditionHolds(c, d.parameter(c.name))) return false;
  return true;
}

/** Names of the parameters a filter reads (to load only those). */
export function filterParameterNames(filter: DeviceFilter): string[] {
  return (filter.parameters ?? []).map((c) => c.name);
}
