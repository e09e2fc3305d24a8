/**
 * The desired-state planner: given what a device should have (`ResolvedDesired`), what the ACS
 * knows about it (`KnownState`: the stored tree plus this session's answers) and what it remembers
 * (`PlannerMemory`), it picks the next RPC of the session, one at a time, so that a session ends
 * with the fewest RPCs that bring the device to the desired state:
 *
 *   1. GetParameterNames (nextLevel) of each table whose instances are not known yet;
 *   2. ONE batched GetParameterValues of every value it needs but does not know (instance keys,
 *      desired parameters); secrets are never read (devices read passwords as empty);
 *   3. AddObject for each missing instance, then a GetParameterValues of the new instances;
 *   4. DeleteObject for unlisted instances when asked;
 *   5. ONE batched SetParameterValues of the values that differ (secrets: those whose value differs
 *      from what the ACS set last);
 *   6. ONE GetParameterAttributes of attributes it does not know, then ONE SetParameterAttributes
 *      of those that differ;
 *   7. a verifying GetParameterValues of what it set in this session.
 *
 * Termination: every step records what it asked in the `PlanSession`, and nothing is asked twice
 * in a session; a session makes at most `MAX_STEPS` planner RPCs. Refusals: a value the device
 * refuses is remembered by the hash of (name, value, source preset and revision) and not sent again
 * until one of them changes, so a refusal yields one fault record, not one per session.
 *
 * Everything here is pure: the caller (service.ts) runs the steps as tasks and persists effects.
 */
import type { TaskPayload } from '../acs/tasks/schema.ts';
import type { JsonObject, JsonValue, StoredParameter } from '../store/types.ts';
import type { AttributeSpec, DesiredScalar } from '../store/provisioning/types.ts';
import { desiredHash, valueHash, type DesiredAttributeValue, type DesiredValue, type ResolvedDesired, type ResolvedObjects } from './desired.ts';

/** Planner RPCs allowed in one session (a safety net; a normal first session needs about six). */
export const MAX_STEPS = 40;
/** Names per GetParameterValues / SetParameterValues / attribute RPC. */
export const MAX_BATCH = 200;

/** CPE faults that say the request's arguments are wrong (worth splitting a batch to find the culprit). */
const ARGUMENT_FAULTS: ReadonlySet<number> = new Set([9003, 9005, 9006, 9007, 9008]);
const INVALID_NAME_FAULT = 9005;

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/** What the ACS knows about the device's parameters. */
export interface KnownState {
  get(name: string): StoredParameter | undefined;
  /** Instance numbers of a table, from the object nodes known (`Table.3.`). */
  instances(table: string): number[];
  /** True when at least one node under the path is known. */
  hasUnder(path: string): boolean;
}

/**
 * `KnownState` over a map of stored parameters (a class, not closures: three planning steps of
 * every session build one, and each closure costs its creation and naming under tsx).
 */
class KnownMap implements KnownState {
  /** Sorted names, once and only when a table asks (plain values, all a storm has, never do). */
  private sortedNames: string[] | null = null;

  constructor(private readonly byName: ReadonlyMap<string, StoredParameter>) {}

  get(name: string): StoredParameter | undefined {
    return this.byName.get(name);
  }

  private sorted(): string[] {
    return (this.sortedNames ??= [...this.byName.keys()].sort());
  }

  instances(table: string): number[] {
    const out = new Set<number>();
    const re = /^(\d+)\./;
    for (const n of this.sorted()) {
      if (!n.startsWith(table)) continue;
      const m = re.exec(n.slice(table.length));
      if (m) out.add(Number(m[1]));
    }
    return [...out].sort((a, b) => a - b);
  }

  hasUnder(path: string): boolean {
    for (const n of this.sorted()) if (n.startsWith(path) && n !== path) return true;
    return false;
  }
}

/** Builds a `KnownState` over a list of stored parameters (the last one of a name wins). */
export function knownStateFrom(params: readonly StoredParameter[]): KnownState {
  const byName = new Map<string, StoredParameter>();
  for (const p of params) byName.set(p.name, p);
  return new KnownMap(byName);
}

export interface Refusal {
  hash: string;
  faultCode: number | null;
  faultString: string;
}

/** What the planner remembers per device between sessions. */
export interface PlannerMemory {
  /** Hash of the value last set successfully, by full name. */
  applied: Map<string, string>;
  /** Refused desired values by memory name (`name`, `attr:name`, `add:table`). */
  refused: Map<string, Refusal>;
}

export function emptyMemory(): PlannerMemory {
  return { applied: new Map(), refused: new Map() };
}

/** What the planner tracks during one session. */
export interface PlanSession {
  gpnDone: Set<string>;
  /** Names read with GetParameterValues in this session, or deliberately not read (`neverSeen`). */
  gpvAsked: Set<string>;
  /** A batched read failed with 9005: read only names whose existence a GPN confirmed. */
  validateNames: boolean;
  gpaAsked: Set<string>;
  /**
   * name -> desired value sent in this session; a value counts as the same when its desired hash
   * would be (`sameDesired`: same text, same source revision), without computing the hash.
   */
  spvTried: Map<string, DesiredValue>;
  spaTried: Set<string>;
  addTried: Map<string, number>;
  addBlocked: Set<string>;
  deleteTried: Set<string>;
  /** Batches still to try after a batch failed without saying which name was wrong. */
  split: { kind: 'set-values' | 'set-attributes'; names: string[] }[];
  /** Values set in this session, to verify (secrets excluded: they cannot be read back). */
  toVerify: Map<string, DesiredValue>;
  verifyDone: boolean;
  steps: number;
  /**
   * The ACS has never seen the device before this session (registered at its Inform): it knows
   * none of its values, and reading them only to skip writing the equal ones costs a round trip
   * per device in a boot storm. The first read of plain values is then skipped (they are written
   * as if read and found different; the verifying read after the write still checks them).
   */
  neverSeen: boolean;
}

/** Options of a new plan session. */
export interface PlanSessionOptions {
  /** See `PlanSession.neverSeen`. Default false. */
  neverSeen?: boolean;
}

export function newPlanSession(options: PlanSessionOptions = {}): PlanSession {
  return {
    neverSeen: options.neverSeen ?? false,
    gpnDone: new Set(),
    gpvAsked: new Set(),
    validateNames: false,
    gpaAsked: new Set(),
    spvTried: new Map(),
    spaTried: new Set(),
    addTried: new Map(),
    addBlocked: new Set(),
    deleteTried: new Set(),
    split: [],
    toVerify: new Map(),
    verifyDone: false,
    steps: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Value comparison
// ---------------------------------------------------------------------------------------------

const NUMERIC_TYPES = new Set(['int', 'unsignedInt', 'long', 'unsignedLong', 'decimal']);

function boolOf(v: DesiredScalar | string): boolean | null {
  if (typeof v === 'boolean') return v;
  const t = String(v).trim().toLowerCase();
  if (t === 'true' || t === '1') return true;
  if (t === 'false' || t === '0') return false;
  return null;
}

/**
 * Compares a desired value with the device's, by the parameter's type: booleans by truth (`1` =
 * `true`), numbers numerically (`0300` = `300`), dateTimes as instants, everything else as text.
 * @returns true when the device already has the value.
 */
export function sameValue(desired: DesiredScalar, actual: string, type: string | null): boolean {
  if (type === 'boolean' || typeof desired === 'boolean') {
    const a = boolOf(desired);
    const b = boolOf(actual);
    if (a !== null && b !== null) return a === b;
  }
  if ((type !== null && NUMERIC_TYPES.has(type)) || typeof desired === 'number') {
    const a = Number(desired);
    const b = Number(actual);
    if (String(desired).trim() !== '' && actual.trim() !== '' && Number.isFinite(a) && Number.isFinite(b)) return a === b;
  }
  if (type === 'dateTime') {
    const a = Date.parse(String(desired));
    const b = Date.parse(actual);
    if (Number.isFinite(a) && Number.isFinite(b)) return a === b;
  }
  return String(desired) === actual;
}

function sameAttributes(desired: AttributeSpec, p: StoredParameter): boolean | null {
  if (desired.notification !== undefined) {
    if (p.notification === null) return null;
    if (p.notification !== desired.notification) return false;
  }
  if (desired.accessList !== undefined) {
    if (p.accessList === null) return null;
    const a = [...desired.accessList].sort().join(',');
    const b = [...p.accessList].sort().join(',');
    if (a !== b) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Analysis: desired vs known
// ---------------------------------------------------------------------------------------------

export type ValueStatus =
  /** The device has it. */
  | 'equal'
  /** It differs (or is a secret not set yet, or could not be read): to be set. */
  | 'differs'
  /** Not known yet: to be read first. */
  | 'unknown'
  /** The device refused this value before (same value and source revision). */
  | 'refused'
  /** The device has no such parameter (a GetParameterNames of its parent did not list it). */
  | 'invalid';

export interface ValueDiff {
  name: string;
  desired: DesiredValue;
  current: string | null;
  status: ValueStatus;
  hash: string;
}

export interface AttributeDiff {
  name: string;
  desired: DesiredAttributeValue;
  current: { notification: number | null; accessList: string[] | null } | null;
  status: ValueStatus;
  hash: string;
}

export interface InstanceAssignment {
  /** Index in the desired instance list. */
  index: number;
  /** Instance number, or null when a new instance is needed. */
  instance: number | null;
}

export interface TableDiff {
  path: string;
  /** The instance list is known (from stored nodes or a GetParameterNames in this session). */
  enumerated: boolean;
  instances: number[];
  /** Key values still unknown: matching waits for them. */
  unknownKeys: string[];
  assignments: InstanceAssignment[];
  /** Desired instances that cannot be placed (unresolved key, no free instance and create false). */
  skipped: { index: number; reason: string }[];
  toDelete: number[];
  source: ResolvedObjects['source'];
}

export interface Analysis {
  values: ValueDiff[];
  attributes: AttributeDiff[];
  tables: TableDiff[];
  /** Names to read with GetParameterValues (not yet asked in this session). */
  toRead: string[];
  /** Names whose attributes must be read. */
  attributesToRead: string[];
}

function parentOf(name: string): string {
  return name.slice(0, name.lastIndexOf('.') + 1);
}

/** A hash computed for one desired value object under one name (see `desiredHashOf`). */
interface MemoHash {
  name: string;
  hash: string;
}
const desiredHashes = new WeakMap<DesiredValue, MemoHash>();
const valueHashes = new WeakMap<DesiredValue, MemoHash>();
const attributeHashes = new WeakMap<DesiredAttributeValue, MemoHash>();

/**
 * `desiredHash` of a desired value under `name`, once per value object: the values of presets
 * without templates are the same objects for every device (desired.ts), and a session asks for
 * a hash again at later steps. Desired values are never mutated once resolved. Only refusals
 * (and the memory of them) need this hash: see `ValueEntry`.
 */
function desiredHashOf(name: string, d: DesiredValue): string {
  const m = desiredHashes.get(d);
  if (m !== undefined && m.name === name) return m.hash;
  const hash = desiredHash(name, d.value, d.source);
  desiredHashes.set(d, { name, hash });
  return hash;
}

/** `valueHash` of a desired value under `name`, once per value object (see `desiredHashOf`). */
function valueHashOf(name: string, d: DesiredValue): string {
  const m = valueHashes.get(d);
  if (m !== undefined && m.name === name) return m.hash;
  const hash = valueHash(name, d.value);
  valueHashes.set(d, { name, hash });
  return hash;
}

/** The desired hash of an attribute value under `name`, once per value object. */
function attributeHashOf(name: string, d: DesiredAttributeValue): string {
  const m = attributeHashes.get(d);
  if (m !== undefined && m.name === name) return m.hash;
  const spec: AttributeSpec = { notification: d.notification, accessList: d.accessList };
  const hash = desiredHash(`attr:${name}`, JSON.stringify(spec), d.source);
  attributeHashes.set(d, { name, hash });
  return hash;
}

/**
 * True when two desired values of one name have the same desired hash (same text, same source
 * revision): what `spvTried` compares, without hashing.
 */
function sameDesired(a: DesiredValue | undefined, b: DesiredValue): boolean {
  if (a === b) return true;
  if (a === undefined) return false;
  return String(a.value) === String(b.value) && a.source.kind === b.source.kind && a.source.id === b.source.id && a.source.revision === b.source.revision;
}

/**
 * A `ValueDiff` whose `hash` is computed when first read: a SHA-256 per value and device was the
 * planner's largest cost in a boot storm, and only refusals read it (a device that takes every
 * value never does).
 */
class ValueEntry implements ValueDiff {
  constructor(
    readonly name: string,
    readonly desired: DesiredValue,
    readonly current: string | null,
    readonly status: ValueStatus,
  ) {}

  get hash(): string {
    return desiredHashOf(this.name, this.desired);
  }
}

function valueStatus(name: string, d: DesiredValue, known: KnownState, memory: PlannerMemory, session: PlanSession): ValueDiff {
  const refusal = memory.refused.get(name);
  const p = known.get(name);
  const current = p === undefined ? null : p.value;
  if (refusal !== undefined && refusal.hash === desiredHashOf(name, d)) return new ValueEntry(name, d, current, 'refused');
  if (d.secret) {
    // Write-only: the value the ACS set last is the truth.
    const applied = memory.applied.get(name);
    return new ValueEntry(name, d, current, applied !== undefined && applied === valueHashOf(name, d) ? 'equal' : 'differs');
  }
  if (p === undefined && session.gpnDone.size > 0 && session.gpnDone.has(parentOf(name))) return new ValueEntry(name, d, current, 'invalid');
  if (current === null) return new ValueEntry(name, d, current, session.gpvAsked.has(name) ? 'differs' : 'unknown');
  return new ValueEntry(name, d, current, sameValue(d.value, current, p?.type ?? d.type) ? 'equal' : 'differs');
}

function attributeStatus(name: string, d: DesiredAttributeValue, known: KnownState, memory: PlannerMemory, session: PlanSession): AttributeDiff {
  const spec: AttributeSpec = { notification: d.notification, accessList: d.accessList };
  const hash = attributeHashOf(name, d);
  const p = known.get(name);
  const current = p ? { notification: p.notification, accessList: p.accessList } : null;
  const refusal = memory.refused.get(`attr:${name}`);
  if (refusal && refusal.hash === hash) return { name, desired: d, current, status: 'refused', hash };
  if (p === undefined && session.gpnDone.has(parentOf(name))) return { name, desired: d, current, status: 'invalid', hash };
  const same = p ? sameAttributes(spec, p) : null;
  if (same === null) return { name, desired: d, current, status: session.gpaAsked.has(name) ? 'differs' : 'unknown', hash };
  return { name, desired: d, current, status: same ? 'equal' : 'differs', hash };
}

function keyOf(values: string[]): string {
  return JSON.stringify(values);
}

function analyzeTable(obj: ResolvedObjects, known: KnownState, session: PlanSession): TableDiff {
  const instances = known.instances(obj.path);
  const enumerated = instances.length > 0 || session.gpnDone.has(obj.path);
  const diff: TableDiff = { path: obj.path, enumerated, instances, unknownKeys: [], assignments: [], skipped: [], toDelete: [], source: obj.source };
  if (!enumerated) return diff;
  const used = new Set<number>();
  const pending: number[] = [];
  if (obj.key) {
    const keyOfInstance = new Map<number, string>();
    for (const n of instances) {
      const vals: string[] = [];
      for (const k of obj.key) {
        const name = `${obj.path}${n}.${k}`;
        const v = known.get(name)?.value ?? null;
        if (v === null && !session.gpvAsked.has(name)) diff.unknownKeys.push(name);
        vals.push(v ?? '');
      }
      keyOfInstance.set(n, keyOf(vals));
    }
    if (diff.unknownKeys.length > 0) return diff;
    obj.instances.forEach((inst, index) => {
      if (inst.keyValues === null) {
        diff.skipped.push({ index, reason: 'a key value is unresolved' });
        return;
      }
      const wanted = keyOf(inst.keyValues);
      const match = instances.find((n) => !used.has(n) && keyOfInstance.get(n) === wanted);
      if (match !== undefined) {
        used.add(match);
        diff.assignments.push({ index, instance: match });
      } else pending.push(index);
    });
  } else {
    obj.instances.forEach((_inst, index) => pending.push(index));
  }
  // Unmatched desired instances take unmatched existing ones (lowest number first), then new ones.
  const free = instances.filter((n) => !used.has(n));
  for (const index of pending) {
    const n = free.shift();
    if (n !== undefined) {
      used.add(n);
      diff.assignments.push({ index, instance: n });
    } else if (obj.create) diff.assignments.push({ index, instance: null });
    else diff.skipped.push({ index, reason: 'no free instance and create is false' });
  }
  diff.assignments.sort((a, b) => a.index - b.index);
  if (obj.deleteUnlisted) diff.toDelete = instances.filter((n) => !used.has(n));
  return diff;
}

/**
 * Compares the desired state with what is known.
 * @returns per-value, per-attribute and per-table differences, and the names to read.
 */
export function analyze(desired: ResolvedDesired, known: KnownState, memory: PlannerMemory, session: PlanSession): Analysis {
  if (desired.objects.length === 0) return analyzeFlat(desired, known, memory, session);
  const values = new Map<string, ValueDiff>();
  const attributes = new Map<string, AttributeDiff>();
  const toRead = new Set<string>();
  for (const [name, d] of desired.values) values.set(name, valueStatus(name, d, known, memory, session));
  for (const [name, a] of desired.attributes) attributes.set(name, attributeStatus(name, a, known, memory, session));
  const tables: TableDiff[] = [];
  for (const obj of desired.objects) {
    const t = analyzeTable(obj, known, session);
    tables.push(t);
    for (const k of t.unknownKeys) toRead.add(k);
    if (t.unknownKeys.length > 0) {
      // Matching waits for the keys; read every desired parameter of every instance in the same
      // batch so that the values are known once the instances are matched (one GPV, not two).
      const rels = new Set<string>();
      for (const inst of obj.instances) for (const [rel, v] of inst.values) if (!v.secret) rels.add(rel);
      for (const n of t.instances) for (const rel of rels) {
        const name = `${obj.path}${n}.${rel}`;
        if ((known.get(name)?.value ?? null) === null && !session.gpvAsked.has(name)) toRead.add(name);
      }
      continue;
    }
    for (const a of t.assignments) {
      if (a.instance === null) continue;
      const inst = obj.instances[a.index];
      for (const [rel, v] of inst.values) {
        const name = `${obj.path}${a.instance}.${rel}`;
        if (!values.has(name)) values.set(name, valueStatus(name, { ...v, name }, known, memory, session));
      }
      for (const [rel, at] of inst.attributes) {
        const name = `${obj.path}${a.instance}.${rel}`;
        if (!attributes.has(name)) attributes.set(name, attributeStatus(name, { ...at, name }, known, memory, session));
      }
    }
  }
  for (const v of values.values()) if (v.status === 'unknown') toRead.add(v.name);
  const attributesToRead = [...attributes.values()].filter((a) => a.status === 'unknown').map((a) => a.name);
  return { values: [...values.values()], attributes: [...attributes.values()], tables, toRead: [...toRead].sort(), attributesToRead: attributesToRead.sort() };
}

/**
 * `analyze` without tables (a fleet's usual presets: plain parameters): the same result, built
 * without the maps and sets that merging instance values needs (it runs at every planning step).
 */
function analyzeFlat(desired: ResolvedDesired, known: KnownState, memory: PlannerMemory, session: PlanSession): Analysis {
  const values: ValueDiff[] = [];
  const toRead: string[] = [];
  for (const [name, d] of desired.values) {
    const v = valueStatus(name, d, known, memory, session);
    values.push(v);
    if (v.status === 'unknown') toRead.push(name);
  }
  const attributes: AttributeDiff[] = [];
  const attributesToRead: string[] = [];
  for (const [name, a] of desired.attributes) {
    const at = attributeStatus(name, a, known, memory, session);
    attributes.push(at);
    if (at.status === 'unknown') attributesToRead.push(name);
  }
  return { values, attributes, tables: [], toRead: toRead.sort(), attributesToRead: attributesToRead.sort() };
}

// ---------------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------------

export type PlanStep =
  | { kind: 'discover-instances'; path: string }
  | { kind: 'discover-names'; path: string }
  | { kind: 'get-values'; names: string[]; purpose: 'read' | 'verify' }
  | { kind: 'add-instance'; table: string; hash: string; source: DesiredValue['source'] }
  | { kind: 'delete-instance'; instance: string }
  | { kind: 'set-values'; values: { name: string; desired: DesiredValue; hash: string }[] }
  | { kind: 'get-attributes'; names: string[] }
  | { kind: 'set-attributes'; attributes: { name: string; desired: DesiredAttributeValue; hash: string }[] };

/** A memory change the caller must persist. */
export type MemoryEffect =
  | { kind: 'applied'; name: string; hash: string }
  | { kind: 'refused'; name: string; hash: string; faultCode: number | null; faultString: string; source: DesiredValue['source'] };

/** A fault record the caller must write (the engine already records faults of failed RPCs). */
export interface FaultEffect {
  code: string;
  message: string;
  detail: JsonObject;
}

export interface StepEffects {
  memory: MemoryEffect[];
  faults: FaultEffect[];
}

function noEffects(): StepEffects {
  return { memory: [], faults: [] };
}

/** The task JSON that performs a step (validated by the engine like any other task). */
export function stepPayload(step: PlanStep, parameterKey: string): TaskPayload {
  switch (step.kind) {
    case 'discover-instances':
    case 'discover-names':
      return { type: 'getParameterNames', path: step.path, nextLevel: true };
    case 'get-values':
      return { type: 'getParameterValues', names: step.names };
    case 'add-instance':
      return { type: 'addObject', objectName: step.table, parameterKey };
    case 'delete-instance':
      return { type: 'deleteObject', objectName: step.instance, parameterKey };
    case 'set-values':
      return {
        type: 'setParameterValues',
        parameters: step.values.map((v) => (v.desired.type ? { name: v.name, value: v.desired.value, type: v.desired.type } : { name: v.name, value: v.desired.value })),
        parameterKey,
      };
    case 'get-attributes':
      return { type: 'getParameterAttributes', names: step.names };
    case 'set-attributes':
      return {
        type: 'setParameterAttributes',
        parameters: step.attributes.map((a) => {
          const out: { name: string; notification?: number; accessList?: string[] } = { name: a.name };
          if (a.desired.notification !== undefined) out.notification = a.desired.notification;
          if (a.desired.accessList !== undefined) out.accessList = a.desired.accessList;
          return out;
        }),
      };
  }
}

function chunk<T>(list: readonly T[]): T[] {
  return list.slice(0, MAX_BATCH);
}

/** Records an invalid name once (a refusal without a fault record of its own: no RPC failed for it). */
function invalidEffects(analysis: Analysis, memory: PlannerMemory): StepEffects {
  const effects = noEffects();
  for (const v of analysis.values) {
    if (v.status === 'invalid' && memory.refused.get(v.name)?.hash !== v.hash) {
      effects.memory.push({ kind: 'refused', name: v.name, hash: v.hash, faultCode: INVALID_NAME_FAULT, faultString: 'the device has no such parameter', source: v.desired.source });
      effects.faults.push({ code: String(INVALID_NAME_FAULT), message: `${v.name}: the device has no such parameter`, detail: { parameter: v.name, preset: v.desired.source.name } });
    }
  }
  return effects;
}

/**
 * Picks the next RPC of the session.
 * @returns the step (null when the device is in the desired state as far as this session can
 *          tell) and effects to persist now (names found not to exist).
 */
export function nextStep(desired: ResolvedDesired, known: KnownState, memory: PlannerMemory, session: PlanSession): { step: PlanStep | null; effects: StepEffects; analysis: Analysis } {
  let analysis = analyze(desired, known, memory, session);
  if (skipFirstRead(analysis, desired, session)) analysis = readSkipped(analysis);
  const effects = invalidEffects(analysis, memory);
  const step = pick(analysis, desired, known, memory, session);
  if (step) session.steps += 1;
  return { step, effects, analysis };
}

/**
 * For a device the ACS has never seen (`PlanSession.neverSeen`), once: when the only reads the
 * plan needs are of plain desired values (no tables in the desired state), marks them as
 * read-and-unknown so that they are written without the read.
 * @returns true when it did (the caller marks those reads done: readSkipped).
 */
function skipFirstRead(analysis: Analysis, desired: ResolvedDesired, session: PlanSession): boolean {
  if (!session.neverSeen) return false;
  session.neverSeen = false;
  const toRead = analysis.toRead.filter((n) => !session.gpvAsked.has(n));
  // Tables need a read anyway (instance keys): plain values then ride along in it.
  if (toRead.length === 0 || desired.objects.length > 0 || session.validateNames || !toRead.every((n) => desired.values.has(n))) return false;
  for (const n of toRead) session.gpvAsked.add(n);
  return true;
}

/**
 * The analysis as `analyze` gives it again after `skipFirstRead` marked every name to read as
 * read: only those values change, from `unknown` to `differs` (nothing else depends on
 * `gpvAsked` when there are no tables), and nothing is left to read. Saves a second analysis of
 * every value in each never-seen device's first step.
 */
function readSkipped(analysis: Analysis): Analysis {
  const values = analysis.values.map((v) => (v.status === 'unknown' ? new ValueEntry(v.name, v.desired, v.current, 'differs') : v));
  return { values, attributes: analysis.attributes, tables: analysis.tables, toRead: [], attributesToRead: analysis.attributesToRead };
}

function pick(analysis: Analysis, desired: ResolvedDesired, known: KnownState, memory: PlannerMemory, session: PlanSession): PlanStep | null {
  if (session.steps >= MAX_STEPS) return null;

  // Batches split after a failure come first: they finish what the failed RPC started.
  while (session.split.length > 0) {
    const batch = session.split.shift()!;
    if (batch.kind === 'set-values') {
      const byName = new Map(analysis.values.map((v) => [v.name, v]));
      const values = batch.names.map((n) => byName.get(n)).filter((v): v is ValueDiff => v !== undefined && v.status === 'differs');
      if (values.length > 0) {
        for (const v of values) session.spvTried.set(v.name, v.desired);
        return { kind: 'set-values', values };
      }
    } else {
      const byName = new Map(analysis.attributes.map((a) => [a.name, a]));
      const attrs = batch.names.map((n) => byName.get(n)).filter((a): a is AttributeDiff => a !== undefined && a.status === 'differs');
      if (attrs.length > 0) {
        for (const a of attrs) session.spaTried.add(a.name);
        return { kind: 'set-attributes', attributes: attrs.map((a) => ({ name: a.name, desired: a.desired, hash: a.hash })) };
      }
    }
  }

  // 1. Instance lists.
  for (const t of analysis.tables) {
    if (!t.enumerated && !session.gpnDone.has(t.path)) {
      session.gpnDone.add(t.path);
      return { kind: 'discover-instances', path: t.path };
    }
  }

  // 2. One batched read of what is needed and unknown.
  let toRead = analysis.toRead.filter((n) => !session.gpvAsked.has(n));
  if (session.validateNames) {
    // After a read failed on an unknown name: learn which names exist, parent by parent.
    const unconfirmed = toRead.filter((n) => known.get(n) === undefined);
    const parent = unconfirmed.map(parentOf).find((p) => !session.gpnDone.has(p));
    if (parent !== undefined) {
      session.gpnDone.add(parent);
      return { kind: 'discover-names', path: parent };
    }
    toRead = toRead.filter((n) => known.get(n) !== undefined);
  }
  if (toRead.length > 0) {
    const names = chunk(toRead);
    for (const n of names) session.gpvAsked.add(n);
    return { kind: 'get-values', names, purpose: 'read' };
  }

  // 3. Missing instances, one AddObject each.
  for (const t of analysis.tables) {
    if (!t.enumerated || t.unknownKeys.length > 0 || session.addBlocked.has(t.path)) continue;
    const needed = t.assignments.filter((a) => a.instance === null).length;
    const obj = desired.objects.find((o) => o.path === t.path)!;
    const tried = session.addTried.get(t.path) ?? 0;
    const hash = desiredHash(`add:${t.path}`, obj.instances.length, obj.source);
    if (memory.refused.get(`add:${t.path}`)?.hash === hash) continue;
    if (needed > 0 && tried < obj.instances.length) {
      session.addTried.set(t.path, tried + 1);
      return { kind: 'add-instance', table: t.path, hash, source: obj.source };
    }
  }

  // 4. Unlisted instances.
  for (const t of analysis.tables) {
    const n = t.toDelete.find((i) => !session.deleteTried.has(`${t.path}${i}.`));
    if (n !== undefined) {
      const instance = `${t.path}${n}.`;
      session.deleteTried.add(instance);
      return { kind: 'delete-instance', instance };
    }
  }

  // 5. One batched write of what differs.
  const toSet = analysis.values.filter((v) => v.status === 'differs' && !sameDesired(session.spvTried.get(v.name), v.desired));
  if (toSet.length > 0) {
    const values = chunk(toSet);
    for (const v of values) session.spvTried.set(v.name, v.desired);
    // the diffs themselves: their hash is computed only if a refusal needs it
    return { kind: 'set-values', values };
  }

  // 6. Attributes: read what is unknown, then write what differs.
  const attrsToRead = analysis.attributesToRead.filter((n) => !session.gpaAsked.has(n) && (!session.validateNames || known.get(n) !== undefined));
  if (attrsToRead.length > 0) {
    const names = chunk(attrsToRead);
    for (const n of names) session.gpaAsked.add(n);
    return { kind: 'get-attributes', names };
  }
  const attrsToSet = analysis.attributes.filter((a) => a.status === 'differs' && !session.spaTried.has(a.name));
  if (attrsToSet.length > 0) {
    const attrs = chunk(attrsToSet);
    for (const a of attrs) session.spaTried.add(a.name);
    return { kind: 'set-attributes', attributes: attrs.map((a) => ({ name: a.name, desired: a.desired, hash: a.hash })) };
  }

  // 7. Verify what was set in this session.
  if (!session.verifyDone && session.toVerify.size > 0) {
    session.verifyDone = true;
    return { kind: 'get-values', names: chunk([...session.toVerify.keys()].sort()), purpose: 'verify' };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

/** How a step's RPC ended. */
export type StepResult =
  | { ok: true; result: JsonValue }
  | {
      ok: false;
      faultCode: number | null;
      faultString: string;
      /** Per-parameter faults of a SetParameterValues fault. */
      parameterFaults: { name: string; faultCode: number; faultString: string }[];
    };

function halves(names: string[]): string[][] {
  const mid = Math.ceil(names.length / 2);
  return [names.slice(0, mid), names.slice(mid)].filter((h) => h.length > 0);
}

/**
 * Updates the session after a step's RPC and says what to remember.
 * @returns memory changes and fault records to persist.
 */
export function applyStepResult(step: PlanStep, result: StepResult, session: PlanSession): StepEffects {
  const effects = noEffects();
  switch (step.kind) {
    case 'discover-instances':
    case 'discover-names':
    case 'delete-instance':
      return effects;
    case 'get-values': {
      if (result.ok) {
        if (step.purpose === 'verify') verifyEffects(step.names, result.result, session, effects);
        return effects;
      }
      if (step.purpose === 'read' && result.faultCode === INVALID_NAME_FAULT) {
        // Read again after checking which names exist (GetParameterNames per parent).
        session.validateNames = true;
        for (const n of step.names) session.gpvAsked.delete(n);
      }
      return effects;
    }
    case 'get-attributes':
      if (!result.ok && result.faultCode === INVALID_NAME_FAULT) {
        session.validateNames = true;
        for (const n of step.names) session.gpaAsked.delete(n);
      }
      return effects;
    case 'add-instance':
      if (!result.ok) {
        session.addBlocked.add(step.table);
        effects.memory.push({ kind: 'refused', name: `add:${step.table}`, hash: step.hash, faultCode: result.faultCode, faultString: result.faultString, source: step.source });
      }
      return effects;
    case 'set-values': {
      if (result.ok) {
        for (const v of step.values) {
          effects.memory.push({ kind: 'applied', name: v.name, hash: valueHashOf(v.name, v.desired) });
          if (!v.desired.secret) session.toVerify.set(v.name, v.desired);
        }
        session.verifyDone = false;
        return effects;
      }
      const named = new Map(result.parameterFaults.map((f) => [f.name, f]));
      const refusedNames = new Set<string>();
      if (named.size > 0) {
        for (const v of step.values) {
          const f = named.get(v.name);
          if (!f) continue;
          refusedNames.add(v.name);
          effects.memory.push({ kind: 'refused', name: v.name, hash: v.hash, faultCode: f.faultCode, faultString: f.faultString, source: v.desired.source });
        }
      } else if (step.values.length === 1) {
        const v = step.values[0];
        refusedNames.add(v.name);
        effects.memory.push({ kind: 'refused', name: v.name, hash: v.hash, faultCode: result.faultCode, faultString: result.faultString, source: v.desired.source });
      } else if (result.faultCode !== null && ARGUMENT_FAULTS.has(result.faultCode)) {
        // The device did not say which value it refused: try halves to find it.
        for (const h of halves(step.values.map((v) => v.name))) session.split.push({ kind: 'set-values', names: h });
      }
      // SetParameterValues is atomic: the values not refused were not applied either; send them again.
      if (refusedNames.size > 0) {
        const rest = step.values.filter((v) => !refusedNames.has(v.name)).map((v) => v.name);
        if (rest.length > 0) session.split.push({ kind: 'set-values', names: rest });
      }
      for (const v of step.values) if (!refusedNames.has(v.name)) session.spvTried.delete(v.name);
      if (named.size === 0 && step.values.length > 1 && !(result.faultCode !== null && ARGUMENT_FAULTS.has(result.faultCode))) {
        // A passing condition (busy, internal error): try again at the next session, not now.
        for (const v of step.values) session.spvTried.set(v.name, v.desired);
      }
      return effects;
    }
    case 'set-attributes': {
      if (result.ok) return effects;
      if (step.attributes.length === 1) {
        const a = step.attributes[0];
        effects.memory.push({ kind: 'refused', name: `attr:${a.name}`, hash: a.hash, faultCode: result.faultCode, faultString: result.faultString, source: a.desired.source });
      } else if (result.faultCode !== null && ARGUMENT_FAULTS.has(result.faultCode)) {
        for (const h of halves(step.attributes.map((a) => a.name))) session.split.push({ kind: 'set-attributes', names: h });
        for (const a of step.attributes) session.spaTried.delete(a.name);
      }
      return effects;
    }
  }
}

function verifyEffects(names: string[], result: JsonValue, session: PlanSession, effects: StepEffects): void {
  const list = (result as { parameters?: { name: string; value: string; type?: string }[] } | null)?.parameters ?? [];
  const got = new Map<string, { name: string; value: string; type?: string }>();
  for (const p of list) got.set(p.name, p);
  for (const name of names) {
    const d = session.toVerify.get(name);
    session.toVerify.delete(name);
    const p = got.get(name);
    if (!d || !p) continue;
    if (sameValue(d.value, p.value, p.type ?? d.type)) continue;
    const hash = desiredHashOf(name, d);
    const message = `${name}: the device accepted ${JSON.stringify(String(d.value))} but reports ${JSON.stringify(p.value)}`;
    effects.memory.push({ kind: 'refused', name, hash, faultCode: null, faultString: message, source: d.source });
    effects.faults.push({ code: 'provisioning_verify_mismatch', message, detail: { parameter: name, desired: String(d.value), reported: p.value, preset: d.source.name } });
  }
}
