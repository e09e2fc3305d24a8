/**
 * Memoised path resolution, shared by every device of a profile.
 *
 * Resolving a concrete path (`Device.Services.VoiceService.1.VoiceProfile.1.Line.1.SIP.AuthUserName`)
 * walks the definition tree segment by segment; only one part of the answer depends on the
 * device: whether the instances the path goes through (VoiceService 1, VoiceProfile 1, Line 1)
 * exist on it. Everything else (which node, param/object/table, the factory value) depends only
 * on the profile, so it is computed once per path and profile and kept here. A device then
 * resolves a path with one map lookup plus, when its instance lists differ from the factory
 * ones, one membership check per instance step. Why: a simulated fleet (the storm benchmark's
 * load generator) resolves the same few paths for thousands of devices, and the walk was the
 * data model's largest cost.
 */
import type { DeviceProfile } from './profile.ts';
import type { ObjectNode, ParamNode, TableNode } from './schema.ts';

/** A path resolved against the definition tree. Shared between devices: never mutate it. */
export type Resolved =
  | { readonly kind: 'param'; readonly node: ParamNode; readonly path: string }
  | { readonly kind: 'object'; readonly node: ObjectNode; readonly path: string }
  | { readonly kind: 'table'; readonly node: TableNode; readonly path: string };

/** An instance a path goes through: `table` (e.g. `...VoiceProfile.`) must hold instance `n`. */
export interface InstanceStep {
  readonly table: string;
  readonly n: number;
}

/** What a path means for every device of the profile. */
export interface PathEntry {
  readonly resolved: Resolved;
  /** The instances the path goes through, outermost first; a device has the path when it has them all. */
  readonly steps: readonly InstanceStep[];
  /** All steps exist in the profile's factory instances (so every device still at them has the path). */
  readonly inFactory: boolean;
  /** Factory value of a parameter path (no device changes); undefined for objects and tables. */
  readonly factoryValue: string | undefined;
}

/**
 * Most paths kept per profile. Paths with any instance number are structurally valid, so an ACS
 * asking for ever new numbers could otherwise grow the index without bound; past this size it
 * starts afresh (the entries are cheap to rebuild).
 */
export const MAX_PATH_ENTRIES = 50_000;

const INSTANCE_RE = /^[1-9][0-9]*$/;

/** V8 makes shorter substrings copies, longer ones views of their parent string. */
const MIN_SLICED_STRING = 13;

/**
 * `s` as a string of its own. Why: values come from an XML parser as views into the whole
 * message text, so storing them as they are would keep every device's last SetParameterValues
 * message alive (kilobytes per device in a fleet). Concatenating flattens into a new string; the
 * view taken of it keeps only that small copy alive.
 */
export function ownCopy(s: string): string {
  return s.length < MIN_SLICED_STRING ? s : (' ' + s).slice(1);
}

/** The instance number of the object that holds `path` (`...List.3.Codec` -> 3), or 0. */
export function lastInstanceNumber(path: string): number {
  const m = /\.([0-9]+)\.[^.]*$/.exec(path);
  return m ? Number(m[1]) : 0;
}

/** Factory value of a concrete parameter path of `profile` (no device changes). */
export function factoryValueOf(profile: DeviceProfile, node: ParamNode, path: string): string {
  const c = profile.concreteDefaults.get(path);
  if (c !== undefined) return c;
  const per = profile.lastInstanceDefaults.get(node.pattern);
  if (per) {
    const v = per.get(lastInstanceNumber(path));
    if (v !== undefined) return v;
  }
  if (node.isInstanceAlias) return `cpe-${lastInstanceNumber(path)}`;
  return node.defaultValue;
}

/** The path index of one profile (see the module comment). */
export class PathIndex {
  private readonly entries = new Map<string, PathEntry>();

  /** `maxEntries`: see MAX_PATH_ENTRIES (smaller in tests). */
  constructor(
    private readonly profile: DeviceProfile,
    private readonly maxEntries = MAX_PATH_ENTRIES,
  ) {}

  /** How many paths are memoised. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The entry of a concrete path (parameter, or object/table ending with '.'), or null when no
   * device of the profile can have it (unknown name, bad instance number, object without its
   * trailing dot). Unknown paths are not memoised.
   */
  lookup(path: string): PathEntry | null {
    const hit = this.entries.get(path);
    if (hit !== undefined) return hit;
    const e = this.build(path);
    if (e) {
      if (this.entries.size >= this.maxEntries) this.entries.clear();
      this.entries.set(e.resolved.path, e);
    }
    return e;
  }

  private build(lookedUp: string): PathEntry | null {
    // shared by all devices for long: not a view into the message it came from
    const path = ownCopy(lookedUp);
    const root = this.profile.root;
    const segs = path.split('.');
    if (segs[0] !== root || segs.length < 2) return null;
    let node: ObjectNode | TableNode = this.profile.schema.root;
    let prefix = `${root}.`;
    const steps: InstanceStep[] = [];
    for (let k = 1; k < segs.length; k++) {
      const seg = segs[k];
      const last = k === segs.length - 1;
      if (seg === '') {
        if (!last) return null;
        return this.entry(node.kind === 'table' ? { kind: 'table', node, path } : { kind: 'object', node, path }, steps);
      }
      if (node.kind === 'table') {
        if (!INSTANCE_RE.test(seg)) return null;
        steps.push({ table: prefix, n: Number(seg) });
        node = node.instance;
        prefix += `${seg}.`;
        continue;
      }
      const child = node.byName.get(seg);
      if (!child) return null;
      if (child.kind === 'param') return last ? this.entry({ kind: 'param', node: child, path }, steps) : null;
      node = child;
      prefix += `${seg}.`;
    }
    // An object name without its trailing dot is not a valid path.
    return null;
  }

  /** `resolved.path` is the looked-up string itself: every device of the profile shares it. */
  private entry(resolved: Resolved, steps: InstanceStep[]): PathEntry {
    const factory = this.profile.factoryInstances;
    return Object.freeze({
      resolved: Object.freeze(resolved),
      steps: Object.freeze(steps.map((s) => Object.freeze(s))),
      inFactory: steps.every((s) => factory.get(s.table)?.includes(s.n) === true),
      factoryValue: resolved.kind === 'param' ? factoryValueOf(this.profile, resolved.node, resolved.path) : undefined,
    });
  }
}

const indexes = new WeakMap<DeviceProfile, PathIndex>();

/** The (shared) path index of a profile, created on first use. */
export function pathIndexOf(profile: DeviceProfile): PathIndex {
  let ix = indexes.get(profile);
  if (!ix) indexes.set(profile, (ix = new PathIndex(profile)));
  return ix;
}
