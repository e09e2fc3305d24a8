/**
 * From presets to one device's desired state.
 *
 * 1. `selectPresets` keeps the enabled presets whose precondition matches the device and that are
 *    triggered in this session (an Inform event, every session, or a due schedule).
 * 2. `resolveDesired` merges them, lowest weight first so that the heaviest preset wins a
 *    parameter both set (ties: by name), renders templates with the device's variables, and keeps
 *    the source (preset and revision) of every value: a refused value is remembered per source
 *    revision, so editing the preset retries it.
 *
 * Both are pure; the caller loads presets, variables and known parameters.
 */
import { createHash, hash as oneShotHash } from 'node:crypto';
import type {
  AttributeSpec,
  DesiredObjects,
  DesiredParameter,
  DesiredScalar,
  Preset,
  PresetTrigger,
  XsdTypeName,
} from '../store/provisioning/types.ts';
import { explainFilter, matchesFilter, type DeviceFacts } from './filter.ts';
import { compiledTemplate, isTemplate, renderNodes, type TemplateContext } from './template.ts';
import { inWindow } from './window.ts';

/** Where a desired value comes from. */
export interface DesiredSource {
  /** `preset` or the zero-touch `bootstrap` record. */
  kind: 'preset' | 'bootstrap';
  id: string;
  name: string;
  revision: number;
}

export interface DesiredValue {
  /** Full name (flat values) or name relative to the instance (object instances). */
  name: string;
  value: DesiredScalar;
  type: XsdTypeName | null;
  secret: boolean;
  source: DesiredSource;
}

export interface DesiredAttributeValue extends AttributeSpec {
  name: string;
  source: DesiredSource;
}

export interface ResolvedInstance {
  values: Map<string, DesiredValue>;
  attributes: Map<string, DesiredAttributeValue>;
  /** Rendered key values in `key` order; null when a key value is unresolved (the instance is skipped). */
  keyValues: string[] | null;
}

export interface ResolvedObjects {
  path: string;
  key: string[] | null;
  create: boolean;
  deleteUnlisted: boolean;
  instances: ResolvedInstance[];
  source: DesiredSource;
}

/** Something the planner cannot do as asked, reported by the dry run and logs. */
export type DesiredIssue =
  | { kind: 'unresolved'; name: string; missing: string[]; source: DesiredSource }
  | { kind: 'template-error'; name: string; message: string; source: DesiredSource }
  | { kind: 'overridden'; name: string; winner: DesiredSource; loser: DesiredSource };

export interface ResolvedDesired {
  values: Map<string, DesiredValue>;
  attributes: Map<string, DesiredAttributeValue>;
  objects: ResolvedObjects[];
  firmware: { version: string; fileId: string | null; allowDowngrade: boolean; source: DesiredSource } | null;
  configFile: { fileId: string; source: DesiredSource } | null;
  tagsAdd: Set<string>;
  tagsRemove: Set<string>;
  issues: DesiredIssue[];
}

/** Inform event codes that fire each trigger. */
export const TRIGGER_EVENTS: Record<Exclude<PresetTrigger, 'always'>, string> = {
  bootstrap: '0 BOOTSTRAP',
  boot: '1 BOOT',
  periodic: '2 PERIODIC',
  'value-change': '4 VALUE CHANGE',
  'connection-request': '6 CONNECTION REQUEST',
  'transfer-complete': '7 TRANSFER COMPLETE',
};

/** Leaf names whose values the device never reads back (TR-106: passwords read as empty). */
const SECRET_LEAF = /(password|passphrase|presharedkey|secret|privatekey)$/i;

/** Returns true when a parameter (full or relative name) holds a secret by its leaf name. */
export function isSecretName(name: string): boolean {
  return SECRET_LEAF.test(name.slice(name.lastIndexOf('.') + 1));
}

export interface PresetSelection {
  preset: Preset;
  applies: boolean;
  /** Why it applies (`event 1 BOOT`, `schedule`) or why not. */
  reasons: string[];
  /** It applies because its schedule is due (the caller records the run). */
  bySchedule: boolean;
}

export interface SelectionContext {
  facts: DeviceFacts;
  /** Inform event codes of the session; null = consider every trigger fired (dry run). */
  events: readonly string[] | null;
  nowMs: number;
  /** Last scheduled run per preset id (ms), from the device memory. */
  lastScheduledRun: ReadonlyMap<string, number>;
  /**
   * False: a preset whose precondition does not match gets the one reason `NOT_MATCHING` instead
   * of the list of fields that fail (a session reads no reasons; a dry run does). Default true.
   */
  explain?: boolean;
}

/** The reason of a non-matching preset when `SelectionContext.explain` is false. */
export const NOT_MATCHING = 'the precondition does not match';

function triggeredBy(preset: Preset, events: readonly string[] | null): string | null {
  for (const t of preset.triggers) {
    if (t === 'always') return 'every session';
    if (events === null) return `trigger ${t}`;
    if (events.includes(TRIGGER_EVENTS[t])) return `event ${TRIGGER_EVENTS[t]}`;
  }
  return null;
}

function scheduleDue(preset: Preset, ctx: SelectionContext): boolean {
  const s = preset.schedule;
  if (!s) return false;
  if (s.window && !inWindow(s.window, ctx.nowMs)) return false;
  if (s.intervalSeconds !== undefined) {
    const last = ctx.lastScheduledRun.get(preset.id);
    if (last !== undefined && ctx.nowMs - last < s.intervalSeconds * 1000) return false;
  }
  return true;
}

/**
 * Decides which presets apply to a device in a session.
 * @returns one entry per preset, in the input order, with the reasons.
 */
export function selectPresets(presets: readonly Preset[], ctx: SelectionContext): PresetSelection[] {
  return presets.map((preset) => {
    if (!preset.enabled) return { preset, applies: false, reasons: ['disabled'], bySchedule: false };
    if (ctx.explain === false) {
      if (!matchesFilter(preset.precondition, ctx.facts)) return { preset, applies: false, reasons: [NOT_MATCHING], bySchedule: false };
    } else {
      const mismatch = explainFilter(preset.precondition, ctx.facts);
      if (mismatch.length > 0) return { preset, applies: false, reasons: mismatch, bySchedule: false };
    }
    const trigger = triggeredBy(preset, ctx.events);
    if (trigger) return { preset, applies: true, reasons: [trigger], bySchedule: false };
    if (scheduleDue(preset, ctx)) return { preset, applies: true, reasons: ['schedule due'], bySchedule: true };
    const wanted = preset.triggers.map((t) => (t === 'always' ? t : TRIGGER_EVENTS[t]));
    const why = wanted.length > 0 ? `not triggered (waits for ${wanted.join(', ')})` : 'schedule not due';
    return { preset, applies: false, reasons: [why], bySchedule: false };
  });
}

/** A preset-like contribution: presets and the bootstrap record both produce these. */
export interface Contribution {
  source: DesiredSource;
  weight: number;
  spec: Preset['desired'];
}

type Render = { ok: true; value: DesiredScalar } | { ok: false; issue: DesiredIssue };

function render(name: string, value: DesiredScalar, ctx: TemplateContext, source: DesiredSource): Render {
  if (typeof value !== 'string' || !isTemplate(value)) {
    // `\{{` escapes are still unescaped for plain strings.
    if (typeof value === 'string' && value.includes('\\{{')) return { ok: true, value: value.replace(/\\\{\{/g, '{{') };
    return { ok: true, value };
  }
  try {
    const r = renderNodes(compiledTemplate(value), ctx);
    if (r.ok) return { ok: true, value: r.value };
    return { ok: false, issue: { kind: 'unresolved', name, missing: r.missing, source } };
  } catch (err) {
    return { ok: false, issue: { kind: 'template-error', name, message: err instanceof Error ? err.message : String(err), source } };
  }
}

function resolveObjects(spec: DesiredObjects, ctx: TemplateContext, source: DesiredSource, issues: DesiredIssue[]): ResolvedObjects {
  const key = spec.key && spec.key.length > 0 ? spec.key : null;
  const instances: ResolvedInstance[] = [];
  spec.instances.forEach((inst, index) => {
    const values = new Map<string, DesiredValue>();
    for (const [rel, raw] of Object.entries(inst.values)) {
      const r = render(`${spec.path}[${index}].${rel}`, raw, ctx, source);
      if (!r.ok) {
        issues.push(r.issue);
        continue;
      }
      values.set(rel, { name: rel, value: r.value, type: null, secret: isSecretName(rel), source });
    }
    const attributes = new Map<string, DesiredAttributeValue>();
    for (const [rel, a] of Object.entries(inst.attributes ?? {})) attributes.set(rel, { ...a, name: rel, source });
    let keyValues: string[] | null = null;
    if (key) {
      const kv = key.map((k) => values.get(k));
      keyValues = kv.every((v) => v !== undefined) ? kv.map((v) => String(v!.value)) : null;
    }
    instances.push({ values, attributes, keyValues });
  });
  return { path: spec.path, key, create: spec.create ?? true, deleteUnlisted: spec.deleteUnlisted ?? false, instances, source };
}

/**
 * Desired values of plain (non-template) preset parameters, per preset parameter object: every
 * device's session resolves the same value from the same (cached) preset, and sharing the object
 * lets the planner's per-object hashes (planner.ts `hashOnce`) be computed once for all devices.
 * Desired values are never mutated.
 */
const plainValues = new WeakMap<DesiredParameter, DesiredValue>();

function sameSource(a: DesiredSource, b: DesiredSource): boolean {
  return a.kind === b.kind && a.id === b.id && a.name === b.name && a.revision === b.revision;
}

/** The desired value of preset parameter `p` rendered as `value` (shared when `p` is no template). */
function plainOrNew(p: DesiredParameter, value: DesiredScalar, source: DesiredSource): DesiredValue {
  const plain = p.value === value;
  const cached = plain ? plainValues.get(p) : undefined;
  if (cached && sameSource(cached.source, source)) return cached;
  const d: DesiredValue = { name: p.name, value, type: p.type ?? null, secret: p.secret ?? isSecretName(p.name), source };
  if (plain) plainValues.set(p, d);
  return d;
}

/**
 * Merges contributions into one desired state for a device.
 * @returns the desired state; unresolved templates are left out and listed in `issues`.
 */
export function resolveDesired(contributions: readonly Contribution[], ctx: TemplateContext): ResolvedDesired {
  // one contribution (a fleet's usual case) needs no sorted copy
  const sorted = contributions.length < 2 ? contributions : [...contributions].sort((a, b) => a.weight - b.weight || a.source.name.localeCompare(b.source.name));
  const out: ResolvedDesired = {
    values: new Map(),
    attributes: new Map(),
    objects: [],
    firmware: null,
    configFile: null,
    tagsAdd: new Set(),
    tagsRemove: new Set(),
    issues: [],
  };
  const objectsByPath = new Map<string, ResolvedObjects>();
  for (const c of sorted) {
    const d = c.spec;
    for (const p of d.parameters ?? []) {
      const r = render(p.name, p.value, ctx, c.source);
      if (!r.ok) {
        out.issues.push(r.issue);
        continue;
      }
      const previous = out.values.get(p.name);
      if (previous && previous.source.id !== c.source.id && previous.value !== r.value) {
        out.issues.push({ kind: 'overridden', name: p.name, winner: c.source, loser: previous.source });
      }
      out.values.set(p.name, plainOrNew(p, r.value, c.source));
    }
    for (const a of d.attributes ?? []) out.attributes.set(a.name, { ...a, source: c.source });
    for (const o of d.objects ?? []) objectsByPath.set(o.path, resolveObjects(o, ctx, c.source, out.issues));
    if (d.firmware) out.firmware = { version: d.firmware.version, fileId: d.firmware.fileId ?? null, allowDowngrade: d.firmware.allowDowngrade ?? false, source: c.source };
    if (d.configFile) out.configFile = { fileId: d.configFile.fileId, source: c.source };
    for (const t of d.tags?.add ?? []) {
      out.tagsAdd.add(t);
      out.tagsRemove.delete(t);
    }
    for (const t of d.tags?.remove ?? []) {
      out.tagsRemove.add(t);
      out.tagsAdd.delete(t);
    }
  }
  out.objects = [...objectsByPath.values()];
  return out;
}

/**
 * SHA-256 of `text` as hex: the one-shot `crypto.hash` where Node has it (20.12+: no Hash object,
 * a third of the cost for these short inputs; a boot storm hashes about ten values per device),
 * else `createHash`. Both give the same digest.
 */
const sha256Hex: (text: string) => string =
  typeof oneShotHash === 'function' ? (text) => oneShotHash('sha256', text, 'hex') : (text) => createHash('sha256').update(text).digest('hex');

/**
 * Hash identifying one desired value from one source revision (what a refusal is remembered by).
 * @returns 32 hex characters.
 */
export function desiredHash(name: string, value: DesiredScalar, source: DesiredSource): string {
  return sha256Hex(JSON.stringify([name, String(value), source.kind, source.id, source.revision])).slice(0, 32);
}

/**
 * Hash of a value the ACS set (what `applied` memory stores; independent of the source).
 * @returns 32 hex characters.
 */
export function valueHash(name: string, value: DesiredScalar): string {
  return sha256Hex(JSON.stringify([name, String(value)])).slice(0, 32);
}
