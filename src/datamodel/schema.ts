/**
 * The immutable definition tree of one device profile: BBF objects and parameters (from the
 * generated JSON), mounted service model, vendor parameters, plus the factory defaults.
 * Built once per profile and shared by every DeviceModel of that profile, so a device only
 * stores what differs from it.
 */

import type { NotificationValue } from '../cwmp/types.ts';
import type { ObjectDef, ParamDef } from './definitions.ts';
import { typeDefault } from './validate.ts';

/** Notification value 2 (active). */
export const ACTIVE_NOTIFICATION = 2;

export interface ParamNode {
  kind: 'param';
  name: string;
  /** Full path pattern with `{i}`. */
  pattern: string;
  def: ParamDef;
  parent: ObjectNode;
  /** Default for any instance (profile override, else BBF default, else type default). */
  defaultValue: string;
  /** Notification attribute at factory defaults (active for forceEnabled/forceDefaultEnabled, profile overrides). */
  defaultNotification: NotificationValue;
  /** Set on `...NumberOfEntries` parameters: the table they count. */
  countOf?: TableNode;
  /** `Alias` of a multi-instance object: defaults to `cpe-<instance number>`. */
  isInstanceAlias: boolean;
  /**
   * Number of path segments of the top of the data model the parameter belongs to, for
   * resolving `enumerationRef` paths that start with `.` (1 = root, 4 = `Device.Services.VoiceService.{i}`).
   */
  modelTopSegments: number;
}

export interface ObjectNode {
  kind: 'object';
  name: string;
  /** Full path pattern ending with `.` (instances end with `{i}.`). */
  pattern: string;
  def: ObjectDef;
  children: ChildNode[];
  byName: Map<string, ChildNode>;
  /** The table this node is the instance of. */
  table?: TableNode;
  modelTopSegments: number;
}

/** A multi-instance object's table, `Foo.` (its instances are `Foo.{i}.`). */
export interface TableNode {
  kind: 'table';
  name: string;
  /** Path pattern of the table, e.g. `Device.Services.VoiceService.{i}.VoiceProfile.`. */
  pattern: string;
  def: ObjectDef;
  instance: ObjectNode;
  parent: ObjectNode;
  countParam?: ParamNode;
}

export type ChildNode = ParamNode | ObjectNode | TableNode;

/** The definitions tree plus indexes; immutable after build. */
export class Schema {
  readonly root: ObjectNode;
  readonly rootName: string;
  /** Pattern path -> node (params by full name, objects/tables with trailing `.`, instances with `{i}.`). */
  readonly byPattern = new Map<string, ChildNode>();
  readonly forcedInform: ParamNode[] = [];

  constructor(rootName: string) {
    this.rootName = rootName;
    const path = `${rootName}.`;
    this.root = {
      kind: 'object',
      name: rootName,
      pattern: path,
      def: { path, access: 'readOnly', multi: false },
      children: [],
      byName: new Map(),
      modelTopSegments: 1,
    };
    this.byPattern.set(path, this.root);
  }

  /** Creates (or returns) the object node for a pattern path ending with `.`, creating missing ancestors. */
  ensureObject(path: string, def?: ObjectDef, modelTopSegments = 1): ObjectNode {
    const existing = this.byPattern.get(path);
    if (existing && existing.kind === 'object') {
      if (def) existing.def = def;
      return existing;
    }
    const segs = path.split('.').slice(0, -1);
    if (segs[0] !== this.rootName) throw new Error(`${path} is not below ${this.rootName}.`);
    let node = this.root;
    let prefix = `${this.rootName}.`;
    for (let k = 1; k < segs.length; k++) {
      const seg = segs[k];
      const isTable = segs[k + 1] === '{i}';
      const childPattern = prefix + seg + '.';
      let child = node.byName.get(seg);
      if (!child) {
        const isLast = isTable ? k + 1 === segs.length - 1 : k === segs.length - 1;
        if (isTable) {
          const instPattern = `${childPattern}{i}.`;
          const instDef: ObjectDef = isLast && def ? def : { path: instPattern, access: 'readOnly', multi: true };
          const table: TableNode = {
            kind: 'table',
            name: seg,
            pattern: childPattern,
            def: instDef,
            parent: node,
            instance: undefined as unknown as ObjectNode,
          };
          table.instance = {
            kind: 'object',
            name: '{i}',
            pattern: instPattern,
            def: instDef,
            children: [],
            byName: new Map(),
            table,
            modelTopSegments,
          };
          child = table;
          this.byPattern.set(childPattern, table);
          this.byPattern.set(instPattern, table.instance);
        } else {
          const objDef: ObjectDef = isLast && def ? def : { path: childPattern, access: 'readOnly', multi: false };
          child = { kind: 'object', name: seg, pattern: childPattern, def: objDef, children: [], byName: new Map(), modelTopSegments };
          this.byPattern.set(childPattern, child);
        }
        node.children.push(child);
        node.byName.set(seg, child);
      }
      if (child.kind === 'param') throw new Error(`${childPattern} is a parameter, not an object`);
      if (child.kind === 'table') {
        if (!isTable) throw new Error(`${childPattern} is a table; expected ${childPattern}{i}.`);
        if (k + 1 === segs.length - 1 && def) {
          child.def = def;
          child.instance.def = def;
        }
        node = child.instance;
        prefix = `${childPattern}{i}.`;
        k++;
      } else {
        if (isTable) throw new Error(`${childPattern} is a single object, not a table`);
        node = child;
        prefix = childPattern;
      }
    }
    return node;
  }

  /** Adds a parameter definition (its object is created when missing). */
  addParam(def: ParamDef, modelTopSegments = 1, defaultOverride?: string): ParamNode {
    const cut = def.path.lastIndexOf('.');
    const objPath = def.path.slice(0, cut + 1);
    const name = def.path.slice(cut + 1);
    const parent = this.ensureObject(objPath, undefined, modelTopSegments);
    const existing = parent.byName.get(name);
    if (existing) throw new Error(`duplicate definition of ${def.path}`);
    const node: ParamNode = {
      kind: 'param',
      name,
      pattern: def.path,
      def,
      parent,
      defaultValue: defaultOverride ?? def.default ?? fallbackDefault(def),
      defaultNotification: def.activeNotify === 'forceEnabled' || def.activeNotify === 'forceDefaultEnabled' ? ACTIVE_NOTIFICATION : 0,
      isInstanceAlias: name === 'Alias' && parent.table !== undefined,
      modelTopSegments,
    };
    parent.children.push(node);
    parent.byName.set(name, node);
    this.byPattern.set(def.path, node);
    if (def.forcedInform) this.forcedInform.push(node);
    return node;
  }

  /** Links every table to its `...NumberOfEntries` parameter (after all definitions are in). */
  linkCounters(): void {
    for (const node of this.byPattern.values()) {
      if (node.kind !== 'table' || !node.def.numEntriesParameter) continue;
      const counter = node.parent.byName.get(node.def.numEntriesParameter);
      if (counter && counter.kind === 'param') {
        node.countParam = counter;
        counter.countOf = node;
      }
    }
  }
}

/**
 * Default of a parameter the BBF gives none for: the type's zero value, or the first
 * enumeration value when the empty string is not allowed (e.g. a TestState enum).
 */
function fallbackDefault(def: ParamDef): string {
  if (def.list) return '';
  if (def.enumeration && def.enumeration.length > 0 && !def.enumeration.includes('')) return def.enumeration[0];
  const zero = typeDefault(def.type);
  // A numeric parameter whose ranges exclude 0 starts at the lowest allowed value.
  const ranges = def.ranges;
  if (ranges && ranges.length > 0 && zero === '0') {
    const fits = ranges.some((r) => (r.min === undefined || Number(r.min) <= 0) && (r.max === undefined || Number(r.max) >= 0));
    if (!fits) {
      const mins = ranges.map((r) => r.min).filter((m): m is string => m !== undefined);
      if (mins.length > 0) return mins.reduce((a, b) => (Number(b) < Number(a) ? b : a));
    }
  }
  return zero;
}

/** Replaces every all-digit path segment by `{i}` (concrete path -> pattern). */
export function toPattern(path: string): string {
  return path.replace(/(^|\.)[0-9]+(?=\.|$)/g, '$1{i}');
}
