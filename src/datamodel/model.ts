/**
 * The runtime data model of one device: answers the CWMP parameter RPCs
 * (Get/SetParameterValues, Get/SetParameterAttributes, GetParameterNames, Add/DeleteObject),
 * keeps the value-change bookkeeping for notifications, applies Grandstream configuration
 * files and serialises to a JSON snapshot.
 *
 * Memory: the definitions and factory state live in the shared DeviceProfile; a device stores
 * only values and attributes that differ from it, its instance lists (shared with the profile
 * until the first Add/DeleteObject) and its pending notifications.
 */

import { SaxesParser } from 'saxes';
import type {
  DeviceIdStruct,
  NotificationValue,
  ParameterAttributeStruct,
  ParameterInfoStruct,
  ParameterValueStruct,
  SetParameterAttributesStruct,
  SetParameterValuesFault,
} from '../cwmp/types.ts';
import { ConfigFileError, FaultCode, LocalWriteError, SnapshotError, rpcFault, spvFault } from './errors.ts';
import type { DeviceProfile, RootName } from './profile.ts';
import type { ObjectNode, ParamNode, TableNode } from './schema.ts';
import { checkValue, codePointsAbove, splitList } from './validate.ts';
import { factoryValueOf, ownCopy, pathIndexOf, type PathEntry, type PathIndex, type Resolved } from './path-index.ts';

export { loadProfile, listProfiles, loadProfileFile, validateProfileFile } from './profile.ts';
export type { DeviceProfile, ProfileFile, RootName } from './profile.ts';

/** Longest ParameterKey / CommandKey (TR-069: string(32)). */
const MAX_PARAMETER_KEY = 32;
/** Notification values that put a changed parameter in the next Inform (1 passive; 4 and 6 include passive). */
const PASSIVE_NOTIFICATIONS: ReadonlySet<number> = new Set([1, 4, 6]);
/** Notification values that ask for active (or active lightweight) reporting: canDeny parameters may refuse them. */
const ACTIVE_NOTIFICATIONS: ReadonlySet<number> = new Set([2, 5, 6]);
const ACTIVE = 2;
const SNAPSHOT_FORMAT = 'switchboard-device-model';
const SNAPSHOT_VERSION = 1;

export interface DeviceIdentity {
  serialNumber: string;
  /** MAC address in any common notation; defaults to the serial number when that is 12 hex digits. */
  macAddress?: string;
}

interface Attr {
  notification: NotificationValue;
  accessList: string[];
}

/** JSON-serialisable state of one device. */
export interface DeviceModelSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  model: string;
  root: RootName;
  ident: DeviceIdentity;
  parameterKey: string;
  /** Values that differ from the profile's factory values (hidden ones included: this is device storage). */
  values: Record<string, string>;
  /** Attributes that differ from the defaults. */
  attributes: Record<string, Attr>;
  /** Instance numbers per table; null when still the factory set. */
  instances: Record<string, number[]> | null;
  /** Next instance number per table, where it is not simply max+1. */
  nextInstance: Record<string, number>;
  pending: { passive: string[]; active: string[] };
}

/** Result of applying a Grandstream gs_provision configuration file. */
export interface ConfigApplyResult {
  /** P-values that were applied (in file order). */
  applied: string[];
  /** P-values this profile does not map. */
  unknown: string[];
  /** P-values whose value the data model refused (nothing changed for them). */
  rejected: { pvalue: string; path: string; reason: string }[];
  /** Data-model parameters whose value changed. */
  changed: string[];
}


/** A dynamic value provider (e.g. UpTime); its values are computed on read and never notified. */
export type ValueProvider = (path: string) => string;

const INSTANCE_RE = /^[1-9][0-9]*$/;
const DEVICE_PARAM_KEY = 'Device.ManagementServer.ParameterKey';
const IGD_PARAM_KEY = 'InternetGatewayDevice.ManagementServer.ParameterKey';

function normaliseMac(mac: string): string {
  return mac.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

function formatMac(mac: string): string {
  return normaliseMac(mac).replace(/(..)(?!$)/g, '$1:');
}

export class DeviceModel {
  readonly profile: DeviceProfile;
  readonly root: RootName;
  private readonly ident: DeviceIdentity;
  private values = new Map<string, string>();
  private attrs = new Map<string, Attr>();
  /** Shared with the profile (read-only) until the first change. */
  private instances: ReadonlyMap<string, readonly number[]>;
  private ownInstances = false;
  private nextInstance = new Map<string, number>();
  private pendingPassive = new Set<string>();
  private pendingActive = new Set<string>();
  private providers: Map<string, ValueProvider> | undefined;
  /** The profile's shared path index (what a path means, independent of this device's instances). */
  private readonly index: PathIndex;

  private constructor(profile: DeviceProfile, ident: DeviceIdentity) {
    this.profile = profile;
    this.index = pathIndexOf(profile);
    this.root = profile.root;
    this.ident = { ...ident };
    this.instances = profile.factoryInstances;
  }

  /**
   * A device at factory defaults: the profile's instances (one VoiceProfile with one Line per
   * account, codecs, physical ports) and values, plus the identity (serial number, MAC).
   */
  static create(profile: DeviceProfile, ident: DeviceIdentity): DeviceModel {
    if (!ident.serialNumber) throw new LocalWriteError('DeviceInfo.SerialNumber', 'a serial number is required');
    if (ident.macAddress !== undefined && !/^[0-9A-F]{12}$/.test(normaliseMac(ident.macAddress))) {
      throw new LocalWriteError('macAddress', `"${ident.macAddress}" is not a MAC address (12 hex digits)`);
    }
    const m = new DeviceModel(profile, ident);
    m.applyIdentity();
    return m;
  }

  /** Rebuilds a device from `snapshot()` output. Throws SnapshotError when it does not fit the profile. */
  static restore(profile: DeviceProfile, snapshot: DeviceModelSnapshot): DeviceModel {
    const s = snapshot as Partial<DeviceModelSnapshot> | null;
    if (!s || s.format !== SNAPSHOT_FORMAT || s.version !== SNAPSHOT_VERSION) throw new SnapshotError('not a device-model snapshot (format/version)');
    if (s.model !== profile.model) throw new SnapshotError(`snapshot is for model ${String(s.model)}, profile is ${profile.model}`);
    if (s.root !== profile.root) throw new SnapshotError(`snapshot root ${String(s.root)} differs from the profile root ${profile.root}`);
    if (!s.ident || typeof s.ident.serialNumber !== 'string') throw new SnapshotError('snapshot has no identity');
    const m = new DeviceModel(profile, s.ident);
    if (s.instances !== null && s.instances !== undefined) {
      const inst = new Map<string, number[]>();
      for (const [table, list] of Object.entries(s.instances)) {
        if (!Array.isArray(list) || list.some((n) => !Number.isInteger(n) || n < 1)) throw new SnapshotError(`bad instance list for ${table}`);
        inst.set(table, [...list]);
      }
      m.instances = inst;
      m.ownInstances = true;
    }
    for (const [t, n] of Object.entries(s.nextInstance ?? {})) m.nextInstance.set(t, n);
    for (const [path, value] of Object.entries(s.values ?? {})) {
      if (typeof value !== 'string') throw new SnapshotError(`value of ${path} is not a string`);
      const r = m.resolve(path);
      if (!r || r.kind !== 'param') throw new SnapshotError(`snapshot value for unknown parameter ${path}`);
      m.values.set(path, value);
    }
    for (const [path, a] of Object.entries(s.attributes ?? {})) {
      const r = m.resolve(path);
      if (!r || r.kind !== 'param') throw new SnapshotError(`snapshot attribute for unknown parameter ${path}`);
      m.attrs.set(path, { notification: a.notification, accessList: [...a.accessList] });
    }
    for (const p of s.pending?.passive ?? []) m.pendingPassive.add(p);
    for (const p of s.pending?.active ?? []) m.pendingActive.add(p);
    if (typeof s.parameterKey === 'string') m.storeValue(m.paramKeyPath(), s.parameterKey);
    return m;
  }

  /** JSON-serialisable copy of the device state (see DeviceModelSnapshot). */
  snapshot(): DeviceModelSnapshot {
    const instances: Record<string, number[]> | null = this.ownInstances
      ? Object.fromEntries([...this.instances].map(([k, v]) => [k, [...v]]))
      : null;
    return {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      model: this.profile.model,
      root: this.root,
      ident: { ...this.ident },
      parameterKey: this.parameterKey,
      values: Object.fromEntries(this.values),
      attributes: Object.fromEntries([...this.attrs].map(([k, a]) => [k, { notification: a.notification, accessList: [...a.accessList] }])),
      instances,
      nextInstance: Object.fromEntries(this.nextInstance),
      pending: { passive: [...this.pendingPassive], active: [...this.pendingActive] },
    };
  }

  // -------------------------------------------------------------------------
  // Identity and convenience
  // -------------------------------------------------------------------------

  get serialNumber(): string {
    return this.ident.serialNumber;
  }

  /** The MAC address as 12 upper-case hex digits ("" when unknown). */
  get macAddress(): string {
    const mac = this.ident.macAddress ?? (/^[0-9A-Fa-f]{12}$/.test(this.ident.serialNumber) ? this.ident.serialNumber : '');
    return normaliseMac(mac);
  }

  /** Current `ManagementServer.ParameterKey`. */
  get parameterKey(): string {
    return this.getValue(this.paramKeyPath()) ?? '';
  }

  /** The Inform DeviceId of this device. */
  deviceId(): DeviceIdStruct {
    return {
      manufacturer: this.profile.manufacturer,
      oui: this.profile.oui,
      productClass: this.profile.productClass,
      serialNumber: this.ident.serialNumber,
    };
  }

  /** True when `path` names an existing parameter or object (objects end with '.'). */
  has(path: string): boolean {
    return this.resolve(path) !== null;
  }

  /** Instance numbers of a table (`...VoiceProfile.`); [] for unknown tables. */
  listInstances(tablePath: string): number[] {
    return [...this.instancesOf(tablePath)];
  }

  /**
   * Registers a provider computing a parameter's value on read (e.g. DeviceInfo.UpTime);
   * `pattern` is a full path pattern with `{i}`. Pass undefined to remove it.
   * Such values are not stored, not snapshotted and not notified.
   */
  setDynamic(pattern: string, provider: ValueProvider | undefined): void {
    const node = this.profile.schema.byPattern.get(pattern);
    if (!node || node.kind !== 'param') throw new LocalWriteError(pattern, 'no such parameter pattern');
    if (!provider) this.providers?.delete(pattern);
    else (this.providers ??= new Map()).set(pattern, provider);
  }

  // -------------------------------------------------------------------------
  // Path resolution and traversal
  // -------------------------------------------------------------------------

  private paramKeyPath(): string {
    return this.profile.root === 'Device' ? DEVICE_PARAM_KEY : IGD_PARAM_KEY;
  }

  private instancesOf(tablePath: string): readonly number[] {
    return this.instances.get(tablePath) ?? [];
  }

  private mutableInstances(): Map<string, number[]> {
    if (!this.ownInstances) {
      this.instances = new Map([...this.instances].map(([k, v]) => [k, [...v]]));
      this.ownInstances = true;
    }
    return this.instances as Map<string, number[]>;
  }

  /**
   * Resolves a concrete path (parameter, or object/table ending with '.') against the existing
   * instances: the profile's index says what the path is, this device's instance lists whether
   * it exists here.
   */
  private resolve(path: string): Resolved | null {
    const e = this.entryOf(path);
    return e === null ? null : e.resolved;
  }

  /** The index entry of `path` when it exists on this device (see resolve), else null. */
  private entryOf(path: string): PathEntry | null {
    const e = this.index.lookup(path);
    if (!e) return null;
    if (!this.ownInstances) return e.inFactory ? e : null;
    for (const step of e.steps) if (this.instances.get(step.table)?.includes(step.n) !== true) return null;
    return e;
  }

  /** Everything below an object or table (not the object itself), depth first in definition order. */
  private *descend(node: ObjectNode | TableNode, path: string): Generator<Resolved> {
    if (node.kind === 'table') {
      for (const n of this.instancesOf(path)) {
        const ip = `${path}${n}.`;
        yield { kind: 'object', node: node.instance, path: ip };
        yield* this.descend(node.instance, ip);
      }
      return;
    }
    for (const child of node.children) {
      if (child.kind === 'param') yield { kind: 'param', node: child, path: path + child.name };
      else {
        const cp = `${path}${child.name}.`;
        if (child.kind === 'object') yield { kind: 'object', node: child, path: cp };
        else yield { kind: 'table', node: child, path: cp };
        yield* this.descend(child, cp);
      }
    }
  }

  /** Immediate children of an object or table. */
  private *children(node: ObjectNode | TableNode, path: string): Generator<Resolved> {
    if (node.kind === 'table') {
      for (const n of this.instancesOf(path)) yield { kind: 'object', node: node.instance, path: `${path}${n}.` };
      return;
    }
    for (const child of node.children) {
      if (child.kind === 'param') yield { kind: 'param', node: child, path: path + child.name };
      else if (child.kind === 'object') yield { kind: 'object', node: child, path: `${path}${child.name}.` };
      else yield { kind: 'table', node: child, path: `${path}${child.name}.` };
    }
  }

  /** The parameters a name selects: itself, or all below a partial path ("" = everything). Null if unknown. */
  private selectParams(name: string): { node: ParamNode; path: string }[] | null {
    const r = name === '' ? ({ kind: 'object', node: this.profile.schema.root, path: `${this.root}.` } as Resolved) : this.resolve(name);
    if (!r) return null;
    if (r.kind === 'param') return [{ node: r.node, path: r.path }];
    const out: { node: ParamNode; path: string }[] = [];
    for (const e of this.descend(r.node, r.path)) if (e.kind === 'param') out.push({ node: e.node, path: e.path });
    return out;
  }

  /** Concrete paths of every existing instance of a pattern (e.g. a forcedInform parameter below a table). */
  private expandPattern(pattern: string): string[] {
    const segs = pattern.split('.');
    let paths = [`${segs[0]}.`];
    for (let k = 1; k < segs.length; k++) {
      const seg = segs[k];
      if (seg === '') break;
      const last = k === segs.length - 1;
      if (seg === '{i}') paths = paths.flatMap((p) => this.instancesOf(p).map((n) => `${p}${n}.`));
      else paths = paths.map((p) => (last ? p + seg : `${p}${seg}.`));
    }
    return paths;
  }

  private writable(r: Resolved): boolean {
    if (r.kind === 'param') return r.node.def.access === 'readWrite';
    if (r.kind === 'table') return r.node.def.access === 'readWrite';
    // An instance is deletable when its table allows Add/Delete; single objects never are.
    return r.node.table !== undefined && r.node.table.def.access === 'readWrite';
  }

  // -------------------------------------------------------------------------
  // Values
  // -------------------------------------------------------------------------

  /** Factory value of a concrete parameter path (no device changes). */
  private defaultFor(node: ParamNode, path: string): string {
    const e = this.index.lookup(path);
    return e?.factoryValue ?? factoryValueOf(this.profile, node, path);
  }

  /** The real current value (hidden ones included). */
  private read(node: ParamNode, path: string): string {
    if (node.countOf) {
      const objPath = path.slice(0, path.length - node.name.length);
      return String(this.instancesOf(`${objPath}${node.countOf.name}.`).length);
    }
    const provider = this.providers?.get(node.pattern);
    if (provider) return provider(path);
    return this.values.get(path) ?? this.defaultFor(node, path);
  }

  private storeValue(path: string, value: string): void {
    const e = this.entryOf(path);
    if (e) this.storeEntry(e, value);
  }

  /** Stores a value of an existing parameter (nothing for objects). */
  private storeEntry(e: PathEntry, value: string): void {
    if (e.factoryValue === undefined) return;
    // Storing only differences keeps a 10,000-device fleet small.
    if (value === e.factoryValue) this.values.delete(e.resolved.path);
    else this.values.set(e.resolved.path, ownCopy(value));
  }

  /** The allowed values from an enumerationRef target, or undefined when there is none. */
  private enumRefValues(node: ParamNode, path: string): string[] | undefined {
    const ref = node.def.enumerationRef;
    if (!ref) return undefined;
    let target: string;
    if (ref.startsWith('.')) {
      target = path.split('.').slice(0, node.modelTopSegments).join('.') + ref;
    } else {
      let obj = path.slice(0, path.length - node.name.length);
      let rest = ref;
      while (rest.startsWith('#')) {
        // '#' climbs one object level (an instance number belongs to its table's level).
        const segs = obj.split('.').slice(0, -1);
        segs.pop();
        if (segs.length > 0 && INSTANCE_RE.test(segs[segs.length - 1])) segs.pop();
        obj = `${segs.join('.')}.`;
        rest = rest.slice(1);
      }
      target = obj + rest.replace(/^\./, '');
    }
    const r = this.resolve(target);
    if (!r || r.kind !== 'param') return undefined;
    return splitList(this.read(r.node, r.path));
  }

  private outputValue(node: ParamNode, path: string): ParameterValueStruct {
    return { name: path, value: node.def.hidden ? '' : this.read(node, path), type: node.def.type };
  }

  /** Internal/local read of a parameter's real value (hidden values too); undefined when it does not exist. */
  getValue(path: string): string | undefined {
    const r = this.resolve(path);
    return r && r.kind === 'param' ? this.read(r.node, r.path) : undefined;
  }

  // -------------------------------------------------------------------------
  // RPCs
  // -------------------------------------------------------------------------

  /**
   * GetParameterNames. `path` "" = whole model (with nextLevel: just the root object); a partial
   * path ends with '.'. Objects are returned with a trailing '.'; Writable of a table = AddObject
   * allowed, of an instance = DeleteObject allowed. Throws CwmpFaultError 9005 (unknown path) or
   * 9003 (a parameter name with nextLevel true).
   */
  getParameterNames(path: string, nextLevel: boolean): ParameterInfoStruct[] {
    const info = (r: Resolved): ParameterInfoStruct => ({ name: r.path, writable: this.writable(r) });
    const rootEntry: Resolved = { kind: 'object', node: this.profile.schema.root, path: `${this.root}.` };
    if (path === '') {
      if (nextLevel) return [info(rootEntry)];
      return [info(rootEntry), ...[...this.descend(rootEntry.node as ObjectNode, rootEntry.path)].map(info)];
    }
    const r = this.resolve(path);
    if (!r) throw rpcFault(FaultCode.INVALID_PARAMETER_NAME, path);
    if (r.kind === 'param') {
      if (nextLevel) throw rpcFault(FaultCode.INVALID_ARGUMENTS, `NextLevel true with the parameter name ${path}`);
      return [info(r)];
    }
    if (nextLevel) return [...this.children(r.node, r.path)].map(info);
    return [info(r), ...[...this.descend(r.node, r.path)].map(info)];
  }

  /**
   * GetParameterValues. Each name is a parameter or a partial path (all parameters below it).
   * Hidden parameters read back as "". Throws CwmpFaultError 9005 when any name is unknown.
   */
  getParameterValues(names: string[]): ParameterValueStruct[] {
    const out: ParameterValueStruct[] = [];
    for (const name of names) {
      // a full parameter name (the common case) needs no selection list
      const r = name === '' ? null : this.resolve(name);
      if (r !== null && r.kind === 'param') {
        out.push(this.outputValue(r.node, r.path));
        continue;
      }
      const sel = this.selectParams(name);
      if (!sel) throw rpcFault(FaultCode.INVALID_PARAMETER_NAME, name);
      for (const p of sel) out.push(this.outputValue(p.node, p.path));
    }
    return out;
  }

  /**
   * SetParameterValues, atomic: every value is checked first and nothing changes unless all pass.
   * On success sets ParameterKey and returns status 0. Throws CwmpFaultError 9003 with one
   * SetParameterValuesFault per bad parameter (9005 unknown, 9006 wrong xsi:type, 9007 bad value,
   * 9008 read-only), or plain 9003 for a repeated name or an over-long ParameterKey.
   * Changes made this way are not notified back to the ACS.
   */
  setParameterValues(list: ParameterValueStruct[], parameterKey: string): { status: 0 | 1 } {
    this.checkParameterKey(parameterKey);
    const seen = new Set<string>();
    let dups: Set<string> | null = null;
    for (const p of list) {
      if (seen.has(p.name)) (dups ??= new Set()).add(p.name);
      seen.add(p.name);
    }
    if (dups !== null) throw rpcFault(FaultCode.INVALID_ARGUMENTS, `parameter given more than once: ${[...dups].join(', ')}`);
    const faults: SetParameterValuesFault[] = [];
    const accepted: { entry: PathEntry; value: string }[] = [];
    for (const p of list) {
      const e = this.entryOf(p.name);
      const r = e === null ? null : e.resolved;
      if (!e || !r || r.kind !== 'param') {
        faults.push(spvFault(p.name, FaultCode.INVALID_PARAMETER_NAME));
        continue;
      }
      const def = r.node.def;
      if (def.access !== 'readWrite' || r.node.countOf) {
        faults.push(spvFault(p.name, FaultCode.NON_WRITABLE_PARAMETER));
        continue;
      }
      if (p.rawType !== undefined || (!p.untyped && p.type !== def.type)) {
        const sent = p.rawType ?? p.type;
        faults.push(spvFault(p.name, FaultCode.INVALID_PARAMETER_TYPE, `expected xsd:${def.type}, got ${sent}`));
        continue;
      }
      const checked = checkValue(def, p.value, this.enumRefValues(r.node, r.path));
      if (!checked.ok) {
        faults.push(spvFault(p.name, FaultCode.INVALID_PARAMETER_VALUE, checked.reason));
        continue;
      }
      accepted.push({ entry: e, value: checked.value });
    }
    if (faults.length > 0) throw rpcFault(FaultCode.INVALID_ARGUMENTS, undefined, faults);
    for (const a of accepted) {
      this.storeEntry(a.entry, a.value);
      // The ACS knows the value it has just set: nothing left to report for it.
      const path = a.entry.resolved.path;
      if (this.pendingPassive.size > 0) this.pendingPassive.delete(path);
      if (this.pendingActive.size > 0) this.pendingActive.delete(path);
    }
    this.storeValue(this.paramKeyPath(), parameterKey);
    return { status: 0 };
  }

  private checkParameterKey(key: string): void {
    if (typeof key !== 'string' || codePointsAbove(key, MAX_PARAMETER_KEY)) {
      throw rpcFault(FaultCode.INVALID_ARGUMENTS, `ParameterKey longer than ${MAX_PARAMETER_KEY} characters`);
    }
  }

  private defaultAttr(node: ParamNode): Attr {
    return { notification: node.defaultNotification, accessList: [] };
  }

  private attrOf(node: ParamNode, path: string): Attr {
    return this.attrs.get(path) ?? this.defaultAttr(node);
  }

  /** GetParameterAttributes; partial paths expand. Throws CwmpFaultError 9005 for unknown names. */
  getParameterAttributes(names: string[]): ParameterAttributeStruct[] {
    const out: ParameterAttributeStruct[] = [];
    for (const name of names) {
      const sel = this.selectParams(name);
      if (!sel) throw rpcFault(FaultCode.INVALID_PARAMETER_NAME, name);
      for (const p of sel) {
        const a = this.attrOf(p.node, p.path);
        out.push({ name: p.path, notification: a.notification, accessList: [...a.accessList] });
      }
    }
    return out;
  }

  /**
   * SetParameterAttributes, atomic. A partial path applies to every parameter below it, skipping
   * those that cannot take the requested notification (canDeny + active, forceEnabled + not active).
   * Named parameters are strict: throws CwmpFaultError 9009 for active notification on a canDeny
   * parameter or for turning a forceEnabled one off; 9005 unknown name; 9003 bad notification or
   * access-list value.
   */
  setParameterAttributes(list: SetParameterAttributesStruct[]): void {
    const plan: { node: ParamNode; path: string; s: SetParameterAttributesStruct }[] = [];
    for (const s of list) {
      const sel = this.selectParams(s.name);
      if (!sel) throw rpcFault(FaultCode.INVALID_PARAMETER_NAME, s.name);
      if (s.notificationChange && !(Number.isInteger(s.notification) && s.notification >= 0 && s.notification <= 6)) {
        throw rpcFault(FaultCode.INVALID_ARGUMENTS, `notification ${s.notification} for ${s.name}`);
      }
      if (s.accessListChange && s.accessList.some((e) => e !== 'Subscriber')) {
        throw rpcFault(FaultCode.INVALID_ARGUMENTS, `access list entries other than "Subscriber" for ${s.name}`);
      }
      const explicit = sel.length === 1 && sel[0].path === s.name;
      for (const p of sel) {
        const refusal = s.notificationChange ? this.notificationRefusal(p.node, s.notification) : null;
        if (refusal && explicit) throw rpcFault(FaultCode.NOTIFICATION_REJECTED, `${p.path}: ${refusal}`);
        plan.push({ node: p.node, path: p.path, s: refusal ? { ...s, notificationChange: false } : s });
      }
    }
    for (const { node, path, s } of plan) {
      const cur = this.attrOf(node, path);
      const next: Attr = {
        notification: s.notificationChange ? s.notification : cur.notification,
        accessList: s.accessListChange ? [...s.accessList] : cur.accessList,
      };
      const def = this.defaultAttr(node);
      if (next.notification === def.notification && next.accessList.length === 0) this.attrs.delete(path);
      else this.attrs.set(path, next);
      if (!PASSIVE_NOTIFICATIONS.has(next.notification)) this.pendingPassive.delete(path);
      if (next.notification !== ACTIVE) this.pendingActive.delete(path);
    }
  }

  /** Why a notification value cannot be set on a parameter, or null when it can. */
  private notificationRefusal(node: ParamNode, n: NotificationValue): string | null {
    const an = node.def.activeNotify;
    if (an === 'canDeny' && ACTIVE_NOTIFICATIONS.has(n)) return 'active notification is denied for this parameter';
    if (an === 'forceEnabled' && n !== ACTIVE) return 'active notification is forced on for this parameter';
    return null;
  }

  /**
   * AddObject on a table path (`...VoiceProfile.`). Returns the new instance number (never
   * re-used) and status 0; sets ParameterKey. Throws CwmpFaultError 9005 (not an existing table),
   * 9001 (table does not allow AddObject), 9004 (maxEntries reached), 9003 (ParameterKey).
   */
  addObject(objectName: string, parameterKey: string): { instanceNumber: number; status: 0 | 1 } {
    this.checkParameterKey(parameterKey);
    const r = this.resolve(objectName);
    if (!r || r.kind !== 'table') throw rpcFault(FaultCode.INVALID_PARAMETER_NAME, `${objectName} is not a multi-instance object`);
    if (r.node.def.access !== 'readWrite') throw rpcFault(FaultCode.REQUEST_DENIED, `${objectName} does not allow AddObject`);
    const n = this.createInstance(r.node, r.path);
    this.storeValue(this.paramKeyPath(), parameterKey);
    return { instanceNumber: n, status: 0 };
  }

  /**
   * DeleteObject on an instance path (`...VoiceProfile.2.`): removes it and everything below;
   * sets ParameterKey. Throws CwmpFaultError 9005 (not an existing instance), 9001 (table does not
   * allow DeleteObject), 9003 (ParameterKey).
   */
  deleteObject(objectName: string, parameterKey: string): { status: 0 | 1 } {
    this.checkParameterKey(parameterKey);
    const r = this.resolve(objectName);
    if (!r || r.kind !== 'object' || !r.node.table) throw rpcFault(FaultCode.INVALID_PARAMETER_NAME, `${objectName} is not an object instance`);
    if (r.node.table.def.access !== 'readWrite') throw rpcFault(FaultCode.REQUEST_DENIED, `${objectName} does not allow DeleteObject`);
    this.removeInstance(r.path);
    this.storeValue(this.paramKeyPath(), parameterKey);
    return { status: 0 };
  }

  /** Creates an instance on the device side (no access check, no ParameterKey). Returns its number. */
  addLocalInstance(tablePath: string): number {
    const r = this.resolve(tablePath);
    if (!r || r.kind !== 'table') throw new LocalWriteError(tablePath, 'not a multi-instance object');
    return this.createInstance(r.node, r.path);
  }

  /** Deletes an instance on the device side (no access check, no ParameterKey). */
  deleteLocalInstance(instancePath: string): void {
    const r = this.resolve(instancePath);
    if (!r || r.kind !== 'object' || !r.node.table) throw new LocalWriteError(instancePath, 'not an object instance');
    this.removeInstance(r.path);
  }

  private nextNumber(tablePath: string): number {
    const explicit = this.nextInstance.get(tablePath);
    if (explicit !== undefined) return explicit;
    const list = this.instancesOf(tablePath);
    return list.length === 0 ? 1 : Math.max(...list) + 1;
  }

  private createInstance(table: TableNode, tablePath: string): number {
    const max = table.def.maxEntries;
    if (max !== undefined && this.instancesOf(tablePath).length >= max) {
      throw rpcFault(FaultCode.RESOURCES_EXCEEDED, `${tablePath} already has ${max} entries`);
    }
    const n = this.nextNumber(tablePath);
    const inst = this.mutableInstances();
    inst.set(tablePath, [...(inst.get(tablePath) ?? []), n]);
    this.nextInstance.set(tablePath, n + 1);
    // A new line comes with the device's codec list, as at factory defaults.
    if (table.pattern.endsWith('.VoiceProfile.{i}.Line.')) {
      inst.set(`${tablePath}${n}.Codec.List.`, this.profile.file.codecs.map((_, i) => i + 1));
    }
    return n;
  }

  private removeInstance(instancePath: string): void {
    const m = /^(.*\.)([0-9]+)\.$/.exec(instancePath);
    if (!m) return;
    const tablePath = m[1];
    const n = Number(m[2]);
    // Keep numbering monotonic even when the highest instance goes away.
    this.nextInstance.set(tablePath, Math.max(this.nextNumber(tablePath), n + 1));
    const inst = this.mutableInstances();
    inst.set(tablePath, (inst.get(tablePath) ?? []).filter((x) => x !== n));
    for (const key of [...inst.keys()]) if (key.startsWith(instancePath)) inst.delete(key);
    for (const key of [...this.nextInstance.keys()]) if (key.startsWith(instancePath)) this.nextInstance.delete(key);
    for (const map of [this.values, this.attrs]) for (const key of [...map.keys()]) if (key.startsWith(instancePath)) map.delete(key);
    for (const set of [this.pendingPassive, this.pendingActive]) for (const key of [...set]) if (key.startsWith(instancePath)) set.delete(key);
  }

  // -------------------------------------------------------------------------
  // Device-side changes and notifications
  // -------------------------------------------------------------------------

  /**
   * A change made on the device itself (web page, config file, line status, counters). The value
   * is checked against the definition (read-only parameters may be set). When the value changes
   * and the parameter's notification attribute asks for it, it becomes pending for the next
   * Inform (passive) or for an immediate session (active). Returns whether the value changed.
   * Throws LocalWriteError for unknown/computed parameters or invalid values.
   */
  setLocal(path: string, value: string): boolean {
    const r = this.resolve(path);
    if (!r || r.kind !== 'param') throw new LocalWriteError(path, 'no such parameter');
    if (r.node.countOf) throw new LocalWriteError(path, 'computed from the number of instances');
    const checked = checkValue(r.node.def, value, this.enumRefValues(r.node, r.path));
    if (!checked.ok) throw new LocalWriteError(path, checked.reason);
    if (this.read(r.node, r.path) === checked.value) return false;
    this.storeValue(r.path, checked.value);
    const n = this.attrOf(r.node, r.path).notification;
    if (n === ACTIVE) this.pendingActive.add(r.path);
    else if (PASSIVE_NOTIFICATIONS.has(n)) this.pendingPassive.add(r.path);
    return true;
  }

  /**
   * Parameters for the next Inform: every forcedInform parameter (all instances), then the
   * changed parameters pending notification. Hidden values are "".
   */
  informParameters(): ParameterValueStruct[] {
    const out: ParameterValueStruct[] = [];
    const seen = new Set<string>();
    const push = (path: string): void => {
      if (seen.has(path)) return;
      const r = this.resolve(path);
      if (!r || r.kind !== 'param') return;
      seen.add(path);
      out.push(this.outputValue(r.node, r.path));
    };
    for (const node of this.profile.schema.forcedInform) for (const p of this.expandPattern(node.pattern)) push(p);
    for (const p of this.pendingActive) push(p);
    for (const p of this.pendingPassive) push(p);
    return out;
  }

  /** Parameters changed locally whose notification is passive (1) / active (2), not yet reported. */
  pendingNotifications(): { passive: string[]; active: string[] } {
    return { passive: [...this.pendingPassive], active: [...this.pendingActive] };
  }

  /**
   * Call after an Inform carrying the pending changes was delivered. With `delivered` (the
   * Inform's ParameterList or its names) only those are cleared, so a change made while the
   * session was running stays pending; without it everything pending is cleared.
   */
  markNotificationsDelivered(delivered?: readonly (string | ParameterValueStruct)[]): void {
    if (!delivered) {
      this.pendingPassive.clear();
      this.pendingActive.clear();
      return;
    }
    for (const d of delivered) {
      const name = typeof d === 'string' ? d : d.name;
      // A value that changed again after the Inform was built is still unreported.
      if (typeof d !== 'string' && !this.sameAsReported(name, d.value)) continue;
      this.pendingPassive.delete(name);
      this.pendingActive.delete(name);
    }
  }

  private sameAsReported(path: string, reported: string): boolean {
    const r = this.resolve(path);
    if (!r || r.kind !== 'param') return true;
    return (r.node.def.hidden ? '' : this.read(r.node, r.path)) === reported;
  }

  /** Factory reset: profile defaults and instances back, attributes cleared, ParameterKey "", identity kept. */
  factoryReset(): void {
    this.values.clear();
    this.attrs.clear();
    this.instances = this.profile.factoryInstances;
    this.ownInstances = false;
    this.nextInstance.clear();
    this.pendingPassive.clear();
    this.pendingActive.clear();
    this.applyIdentity();
  }

  private applyIdentity(): void {
    const r = `${this.root}.`;
    this.storeValue(`${r}DeviceInfo.SerialNumber`, this.ident.serialNumber);
    const mac = this.macAddress;
    if (mac) {
      const macPath = this.root === 'Device' ? `${r}LAN.MACAddress` : `${r}WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.MACAddress`;
      this.storeValue(macPath, formatMac(mac));
    }
  }

  // -------------------------------------------------------------------------
  // Grandstream configuration files
  // -------------------------------------------------------------------------

  /**
   * Applies a Grandstream `gs_provision` XML configuration file (P-values) through the profile's
   * P-value map, as a device-side change (subject to notification). Unknown P-values are
   * listed, values the data model refuses are reported in `rejected`.
   * Throws ConfigFileError for malformed XML, another root element, an unsupported config
   * version, or a `<mac>` that is not this device's.
   */
  applyConfigFile(xml: string): ConfigApplyResult {
    const entries = parseGsProvision(xml);
    if (entries.mac !== undefined && this.macAddress && normaliseMac(entries.mac) !== this.macAddress) {
      throw new ConfigFileError('MAC_MISMATCH', `file is for MAC ${entries.mac}, this device is ${this.macAddress}`);
    }
    const result: ConfigApplyResult = { applied: [], unknown: [], rejected: [], changed: [] };
    for (const { pvalue, value } of entries.values) {
      const target = this.profile.pvalues.get(pvalue);
      if (!target) {
        result.unknown.push(pvalue);
        continue;
      }
      const mapped = target.map?.[value] ?? target.mapDefault ?? value;
      let ok = true;
      for (const path of target.targets) {
        try {
          if (this.setLocal(path, mapped)) result.changed.push(path);
        } catch (e) {
          ok = false;
          result.rejected.push({ pvalue, path, reason: e instanceof LocalWriteError ? e.message : String(e) });
        }
      }
      if (ok) result.applied.push(pvalue);
    }
    return result;
  }

  /**
   * The device's settings as P-values (the reverse of applyConfigFile, through the profile's
   * map): the first target of each P-value, its value mapped back to the config-file form.
   * Hidden values are left out unless `includeHidden` (device-local use only).
   */
  configFileValues(options: { includeHidden?: boolean } = {}): { pvalue: string; value: string }[] {
    const out: { pvalue: string; value: string }[] = [];
    for (const pv of this.profile.pvalues.values()) {
      const path = pv.targets[0];
      const r = path === undefined ? null : this.resolve(path);
      if (!r || r.kind !== 'param') continue;
      if (r.node.def.hidden && !options.includeHidden) continue;
      let value = this.read(r.node, r.path);
      if (pv.map) {
        const key = Object.entries(pv.map).find(([, v]) => v === value)?.[0];
        if (key !== undefined) value = key;
        else if (pv.mapDefault === value && pv.reverseDefault !== undefined) value = pv.reverseDefault;
      }
      out.push({ pvalue: pv.pvalue, value });
    }
    return out;
  }

  /** A Grandstream gs_provision XML file with `configFileValues(options)`; applyConfigFile reads it back. */
  exportConfigFile(options: { includeHidden?: boolean } = {}): string {
    const lines = this.configFileValues(options).map(({ pvalue, value }) => `    <${pvalue}>${escapeXml(value)}</${pvalue}>`);
    const mac = this.macAddress.toLowerCase();
    return `<?xml version="1.0" encoding="UTF-8"?>\n<gs_provision version="1">\n${mac ? `  <mac>${mac}</mac>\n` : ''}  <config version="1">\n${lines.join('\n')}\n  </config>\n</gs_provision>\n`;
  }
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Parses `<gs_provision><mac/><config version="1"><Pnnn>value</Pnnn>...</config></gs_provision>`. */
function parseGsProvision(xml: string): { mac?: string; values: { pvalue: string; value: string }[] } {
  const parser = new SaxesParser();
  const stack: string[] = [];
  const values: { pvalue: string; value: string }[] = [];
  let mac: string | undefined;
  let text = '';
  let error: ConfigFileError | undefined;
  parser.on('error', (e) => {
    error ??= new ConfigFileError('MALFORMED_XML', e.message);
  });
  parser.on('doctype', () => {
    error ??= new ConfigFileError('MALFORMED_XML', 'DOCTYPE is not allowed');
  });
  parser.on('opentag', (tag) => {
    if (stack.length === 0 && tag.name !== 'gs_provision') {
      error ??= new ConfigFileError('NOT_GS_PROVISION', `root element is <${tag.name}>, expected <gs_provision>`);
    }
    if (tag.name === 'config' && stack.length === 1) {
      const version = tag.attributes['version'];
      if (typeof version === 'string' && version !== '1') {
        error ??= new ConfigFileError('UNSUPPORTED_VERSION', `config version ${version} (only version 1, P-values, is supported)`);
      }
    }
    stack.push(tag.name);
    text = '';
  });
  parser.on('text', (t) => {
    text += t;
  });
  parser.on('cdata', (t) => {
    text += t;
  });
  parser.on('closetag', (tag) => {
    const depth = stack.length;
    stack.pop();
    if (depth === 2 && tag.name === 'mac') mac = text.trim();
    if (depth === 3 && stack[1] === 'config' && /^P[0-9]+$/.test(tag.name)) values.push({ pvalue: tag.name, value: text.trim() });
    text = '';
  });
  try {
    parser.write(xml).close();
  } catch (e) {
    error ??= new ConfigFileError('MALFORMED_XML', (e as Error).message);
  }
  if (error) throw error;
  return mac === undefined ? { values } : { mac, values };
}
