/**
 * Device profiles: one JSON file per model in `src/cpe/profiles/`, validated here and compiled
 * into a shared, immutable `DeviceProfile` (definitions tree + factory state) that every
 * DeviceModel of that model uses.
 *
 * Paths inside a profile file are relative to the root object (`Device.` or
 * `InternetGatewayDevice.`), so one file serves both roots.
 */

import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NotificationValue, XsdType } from '../cwmp/types.ts';
import type { GeneratedModel, ParamDef, RangeDef } from './definitions.ts';
import { ProfileError, UnknownProfileError } from './errors.ts';
import { Schema, toPattern, type ParamNode } from './schema.ts';
import { checkValue } from './validate.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** Where the profile files live (overridable for tests through `loadProfileFile`). */
export const PROFILES_DIR = join(HERE, '..', 'cpe', 'profiles');
const GENERATED_DIR = join(HERE, 'generated');

export type RootName = 'Device' | 'InternetGatewayDevice';
export type DeviceKind = 'ata' | 'gateway' | 'phone' | 'videophone';

/** A vendor (X_GRANDSTREAM_) parameter declared by a profile. */
export interface VendorParameterSpec {
  /** Root-relative path pattern, e.g. `UserInterface.X_GRANDSTREAM_AdminLoginPassword`. */
  path: string;
  type: XsdType;
  access: 'readOnly' | 'readWrite';
  default?: string;
  maxLength?: number;
  ranges?: RangeDef[];
  enumeration?: string[];
  /** Reads back as "" (passwords, keys). */
  hidden?: boolean;
  description: string;
  /**
   * The device really uses a name without an X_<VENDOR>_ prefix (TR-106 wants one); set only
   * where public material shows such a name, e.g. `SIP.UseOutboundProxy`.
   */
  nonStandardName?: boolean;
}

/** One codec the device offers (Capabilities.Codecs and each line's Codec.List). */
export interface CodecSpec {
  codec: string;
  bitRate: number;
  /** Comma-separated list of packetization periods in ms. */
  packetizationPeriod: string;
  silenceSuppression: boolean;
}

/** Where a configuration-file P-value goes. */
export interface PValueTarget {
  /** Root-relative parameter paths; in `accountFields`, `{n}` stands for the account number. */
  paths: string[];
  /** Config-file value -> data-model value; values not listed pass through unchanged (or take mapDefault). */
  map?: Record<string, string>;
  mapDefault?: string;
  /** Config-file value to write back when the data-model value is `mapDefault` and no map key gives it. */
  reverseDefault?: string;
  note?: string;
}

export interface PValueMap {
  /** Device-wide settings: P-value -> target. */
  global: Record<string, PValueTarget>;
  /** Per-account fields: field name -> target with `{n}` in its paths. */
  accountFields: Record<string, PValueTarget>;
  /** For account 1..N: field name -> P-value (accounts may leave fields out). */
  accounts: Record<string, string>[];
}

/** The content of a profile file. */
export interface ProfileFile {
  $comment?: string | string[];
  model: string;
  manufacturer: string;
  oui: string;
  productClass: string;
  modelName: string;
  description: string;
  kind: DeviceKind;
  root?: RootName;
  softwareVersion: string;
  minTr069Firmware: string;
  hardwareVersion: string;
  accounts: number;
  /** Where the account count comes from (public fact or assumption). */
  accountsNote: string;
  fxsPorts?: number;
  fxoPorts?: number;
  /** Programmable line keys of a phone (may exceed the SIP accounts). */
  lineKeys?: number;
  periodicInformInterval: number;
  sipTransports: string[];
  codecs: CodecSpec[];
  /** Root-relative path (pattern with `{i}` or concrete) -> factory value. */
  values?: Record<string, string>;
  /**
   * Root-relative parameter (pattern) -> notification attribute at factory defaults, e.g.
   * ConnectionRequestURL active so the ACS learns address changes.
   */
  notifications?: Record<string, NotificationValue>;
  /** Extra instances to create at factory defaults (root-relative concrete instance paths). */
  instances?: string[];
  vendorParameters: VendorParameterSpec[];
  pvalues: PValueMap;
}

/** A compiled P-value entry: full concrete target paths. */
export interface CompiledPValue {
  pvalue: string;
  targets: string[];
  map?: Record<string, string>;
  mapDefault?: string;
  reverseDefault?: string;
}

/** A profile ready for use; immutable and shared by all devices of the model. */
export interface DeviceProfile {
  readonly model: string;
  readonly manufacturer: string;
  readonly oui: string;
  readonly productClass: string;
  readonly softwareVersion: string;
  readonly hardwareVersion: string;
  readonly accounts: number;
  readonly kind: DeviceKind;
  readonly root: RootName;
  readonly periodicInformInterval: number;
  readonly file: Readonly<ProfileFile>;
  /** @internal definitions tree */
  readonly schema: Schema;
  /** @internal factory instances: concrete table path -> instance numbers */
  readonly factoryInstances: ReadonlyMap<string, readonly number[]>;
  /** @internal factory values of concrete paths (full names) */
  readonly concreteDefaults: ReadonlyMap<string, string>;
  /** @internal defaults that depend only on the last instance number: pattern -> (number -> value) */
  readonly lastInstanceDefaults: ReadonlyMap<string, ReadonlyMap<number, string>>;
  /** P-value -> full target paths and value map (file order: global first, then accounts). */
  readonly pvalues: ReadonlyMap<string, CompiledPValue>;
}

const XSD_TYPES = new Set<string>(['string', 'int', 'unsignedInt', 'long', 'unsignedLong', 'boolean', 'dateTime', 'base64', 'hexBinary', 'decimal']);
const KINDS = new Set<string>(['ata', 'gateway', 'phone', 'videophone']);
const VENDOR_PREFIX = /(^|\.)X_[A-Z0-9]+_/;
const FIRMWARE_RE = /^[0-9]+(\.[0-9]+){3}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compares dotted firmware versions numerically; negative when a < b. */
export function compareFirmware(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Checks the shape of a parsed profile file. Returns the list of problems (empty = valid).
 * This is the profile-file schema, written as code so the messages can name the field.
 */
export function validateProfileFile(data: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(data)) return ['profile must be a JSON object'];
  const str = (k: string, re?: RegExp): void => {
    const v = data[k];
    if (typeof v !== 'string' || v === '') problems.push(`${k} must be a non-empty string`);
    else if (re && !re.test(v)) problems.push(`${k} "${v}" does not match ${re}`);
  };
  const int = (k: string, min: number, optional = false): void => {
    const v = data[k];
    if (v === undefined && optional) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) problems.push(`${k} must be an integer >= ${min}`);
  };
  str('model', /^[A-Za-z0-9_-]+$/);
  str('manufacturer');
  str('oui', /^[0-9A-F]{6}$/);
  str('productClass');
  str('modelName');
  str('description');
  str('softwareVersion', FIRMWARE_RE);
  str('minTr069Firmware', FIRMWARE_RE);
  str('hardwareVersion');
  str('accountsNote');
  int('accounts', 1);
  int('fxsPorts', 0, true);
  int('fxoPorts', 0, true);
  int('lineKeys', 0, true);
  int('periodicInformInterval', 1);
  if (typeof data.kind !== 'string' || !KINDS.has(data.kind)) problems.push(`kind must be one of ${[...KINDS].join(', ')}`);
  if (data.root !== undefined && data.root !== 'Device' && data.root !== 'InternetGatewayDevice') {
    problems.push('root must be "Device" or "InternetGatewayDevice"');
  }
  if (typeof data.softwareVersion === 'string' && typeof data.minTr069Firmware === 'string' && compareFirmware(data.softwareVersion, data.minTr069Firmware) < 0) {
    problems.push(`softwareVersion ${data.softwareVersion} is older than the minimum TR-069 firmware ${data.minTr069Firmware}`);
  }
  if (!Array.isArray(data.sipTransports) || data.sipTransports.some((t) => !['UDP', 'TCP', 'TLS', 'SCTP'].includes(t as string))) {
    problems.push('sipTransports must be a list of UDP/TCP/TLS/SCTP');
  }
  if (!Array.isArray(data.codecs) || data.codecs.length === 0) problems.push('codecs must be a non-empty list');
  else {
    data.codecs.forEach((c, i) => {
      if (!isRecord(c) || typeof c.codec !== 'string' || typeof c.bitRate !== 'number' || typeof c.packetizationPeriod !== 'string' || typeof c.silenceSuppression !== 'boolean') {
        problems.push(`codecs[${i}] needs codec (string), bitRate (number), packetizationPeriod (string), silenceSuppression (boolean)`);
      }
    });
  }
  if (data.values !== undefined) {
    if (!isRecord(data.values) || Object.values(data.values).some((v) => typeof v !== 'string')) problems.push('values must map paths to strings');
  }
  if (data.notifications !== undefined) {
    if (!isRecord(data.notifications) || Object.values(data.notifications).some((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 6)) {
      problems.push('notifications must map paths to notification values 0-6');
    }
  }
  if (data.instances !== undefined) {
    if (!Array.isArray(data.instances) || data.instances.some((v) => typeof v !== 'string' || !/\.[0-9]+\.$/.test(v))) {
      problems.push('instances must be a list of instance paths ending with ".<number>."');
    }
  }
  if (!Array.isArray(data.vendorParameters)) problems.push('vendorParameters must be a list');
  else {
    data.vendorParameters.forEach((p, i) => {
      const where = `vendorParameters[${i}]`;
      if (!isRecord(p)) return void problems.push(`${where} must be an object`);
      if (typeof p.path !== 'string' || p.path.endsWith('.') || (!VENDOR_PREFIX.test(p.path) && p.nonStandardName !== true)) {
        problems.push(`${where}.path must be a parameter path containing an X_<VENDOR>_ name (or be marked nonStandardName)`);
      }
      if (typeof p.type !== 'string' || !XSD_TYPES.has(p.type)) problems.push(`${where}.type must be an xsd type`);
      if (p.access !== 'readOnly' && p.access !== 'readWrite') problems.push(`${where}.access must be readOnly or readWrite`);
      if (typeof p.description !== 'string' || p.description === '') problems.push(`${where}.description is required`);
      if (p.default !== undefined && typeof p.default !== 'string') problems.push(`${where}.default must be a string`);
      if (p.enumeration !== undefined && (!Array.isArray(p.enumeration) || p.enumeration.some((e) => typeof e !== 'string'))) {
        problems.push(`${where}.enumeration must be a list of strings`);
      }
    });
  }
  const pv = data.pvalues;
  if (!isRecord(pv)) problems.push('pvalues must be an object');
  else {
    const checkTarget = (t: unknown, where: string, needsN: boolean): void => {
      if (!isRecord(t) || !Array.isArray(t.paths) || t.paths.length === 0 || t.paths.some((p) => typeof p !== 'string')) {
        return void problems.push(`${where}.paths must be a non-empty list of paths`);
      }
      if (needsN && t.paths.some((p) => !(p as string).includes('{n}'))) problems.push(`${where}.paths must contain {n}`);
      if (t.map !== undefined && (!isRecord(t.map) || Object.values(t.map).some((v) => typeof v !== 'string'))) {
        problems.push(`${where}.map must map strings to strings`);
      }
    };
    if (!isRecord(pv.global)) problems.push('pvalues.global must be an object');
    else for (const [k, t] of Object.entries(pv.global)) {
      if (!/^P[0-9]+$/.test(k)) problems.push(`pvalues.global key ${k} is not a P-value`);
      checkTarget(t, `pvalues.global.${k}`, false);
    }
    if (!isRecord(pv.accountFields)) problems.push('pvalues.accountFields must be an object');
    else for (const [k, t] of Object.entries(pv.accountFields)) checkTarget(t, `pvalues.accountFields.${k}`, true);
    if (!Array.isArray(pv.accounts)) problems.push('pvalues.accounts must be a list');
    else {
      if (typeof data.accounts === 'number' && pv.accounts.length !== data.accounts) {
        problems.push(`pvalues.accounts has ${pv.accounts.length} entries but accounts is ${data.accounts}`);
      }
      const seen = new Set<string>(isRecord(pv.global) ? Object.keys(pv.global) : []);
      pv.accounts.forEach((a, i) => {
        if (!isRecord(a)) return void problems.push(`pvalues.accounts[${i}] must be an object`);
        for (const [field, p] of Object.entries(a)) {
          if (isRecord(pv.accountFields) && !(field in pv.accountFields)) problems.push(`pvalues.accounts[${i}].${field} is not an accountFields entry`);
          if (typeof p !== 'string' || !/^P[0-9]+$/.test(p)) problems.push(`pvalues.accounts[${i}].${field} must be a P-value`);
          else if (seen.has(p)) problems.push(`P-value ${p} is mapped twice`);
          else seen.add(p);
        }
      });
    }
  }
  return problems;
}

// ---------------------------------------------------------------------------
// Generated definitions (loaded once per process)
// ---------------------------------------------------------------------------

const generatedCache = new Map<string, GeneratedModel>();

function generated(file: string): GeneratedModel {
  let g = generatedCache.get(file);
  if (!g) {
    g = JSON.parse(readFileSync(join(GENERATED_DIR, file), 'utf8')) as GeneratedModel;
    generatedCache.set(file, g);
  }
  return g;
}

/** Number of segments in a pattern path (`Device.Services.VoiceService.{i}.` -> 4). */
function segmentCount(pattern: string): number {
  return pattern.split('.').filter((s) => s !== '').length;
}

/** Builds the definitions tree for a root with the VoiceService:1.1 service model mounted. */
function buildSchema(file: ProfileFile, root: RootName, where: string): Schema {
  const schema = new Schema(root);
  const rootModel = generated(root === 'Device' ? 'device-1.json' : 'igd-1.json');
  for (const o of rootModel.objects) schema.ensureObject(o.path, o);
  for (const p of rootModel.parameters) schema.addParam(p);
  const vs = generated('voiceservice-1.1.json');
  const mount = `${root}.${vs.meta.mountPoint ?? 'Services.'}`;
  const vsTop = segmentCount(`${mount}VoiceService.{i}.`);
  for (const o of vs.objects) schema.ensureObject(mount + o.path, { ...o, path: mount + o.path }, vsTop);
  for (const p of vs.parameters) {
    const inService = p.path.startsWith('VoiceService.');
    schema.addParam({ ...p, path: mount + p.path }, inService ? vsTop : 1);
  }
  for (const v of file.vendorParameters) {
    const def: ParamDef = { path: `${root}.${v.path}`, type: v.type, access: v.access, vendor: true };
    if (v.maxLength !== undefined) def.maxLength = v.maxLength;
    if (v.ranges) def.ranges = v.ranges;
    if (v.enumeration) def.enumeration = v.enumeration;
    if (v.hidden) def.hidden = true;
    if (v.default !== undefined) def.default = v.default;
    try {
      // Vendor objects inherit the model top of where they hang (VoiceService or root).
      const top = def.path.startsWith(`${mount}VoiceService.{i}.`) ? vsTop : 1;
      schema.addParam(def, top);
    } catch (e) {
      throw new ProfileError(where, [`vendor parameter ${v.path}: ${(e as Error).message}`]);
    }
  }
  schema.linkCounters();
  return schema;
}

/** Enumerated values a profile advertises in the capability lists the BBF refers to by enumerationRef. */
function deviceSummary(root: RootName, accounts: number): string {
  const rootModel = root === 'Device' ? 'Device:1.14[](Baseline:1)' : 'InternetGatewayDevice:1.14[](Baseline:1)';
  void accounts;
  return `${rootModel}, VoiceService:1.1[1](SIPEndpoint:1)`;
}

interface FactoryState {
  instances: Map<string, number[]>;
  concrete: Map<string, string>;
  lastInstance: Map<string, Map<number, string>>;
}

/** Compiles the factory instances and values of a profile. */
function buildFactory(file: ProfileFile, root: RootName, schema: Schema, where: string): FactoryState {
  const r = `${root}.`;
  const vs = `${r}Services.VoiceService.`;
  const vs1 = `${vs}1.`;
  const instances = new Map<string, number[]>();
  const concrete = new Map<string, string>();
  const lastInstance = new Map<string, Map<number, string>>();
  const problems: string[] = [];
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
  const addInstances = (table: string, numbers: number[]): void => {
    if (schema.byPattern.get(toPattern(table))?.kind !== 'table') problems.push(`${table} is not a table`);
    instances.set(table, numbers);
  };
  const perInstance = (pattern: string, n: number, value: string): void => {
    let m = lastInstance.get(pattern);
    if (!m) lastInstance.set(pattern, (m = new Map()));
    m.set(n, value);
  };

  addInstances(vs, [1]);
  addInstances(`${vs1}VoiceProfile.`, range(file.accounts));
  for (let a = 1; a <= file.accounts; a++) {
    addInstances(`${vs1}VoiceProfile.${a}.Line.`, [1]);
    addInstances(`${vs1}VoiceProfile.${a}.Line.1.Codec.List.`, range(file.codecs.length));
  }
  addInstances(`${vs1}Capabilities.Codecs.`, range(file.codecs.length));
  const phys = (file.fxsPorts ?? 0) + (file.fxoPorts ?? 0) || 1;
  addInstances(`${vs1}PhyInterface.`, range(phys));
  if (root === 'InternetGatewayDevice') {
    addInstances(`${r}WANDevice.`, [1]);
    addInstances(`${r}WANDevice.1.WANConnectionDevice.`, [1]);
    addInstances(`${r}WANDevice.1.WANConnectionDevice.1.WANIPConnection.`, [1]);
  }
  for (const inst of file.instances ?? []) {
    const full = r + inst;
    const m = /^(.*\.)([0-9]+)\.$/.exec(full);
    if (!m) continue;
    const list = instances.get(m[1]) ?? [];
    if (!list.includes(Number(m[2]))) list.push(Number(m[2]));
    addInstances(m[1], list.sort((a, b) => a - b));
  }

  const set = (path: string, value: string): void => {
    const node = schema.byPattern.get(toPattern(path));
    if (!node || node.kind !== 'param') return void problems.push(`factory value for unknown parameter ${path}`);
    concrete.set(path, value);
  };
  set(`${r}DeviceSummary`, deviceSummary(root, file.accounts));
  set(`${r}DeviceInfo.Manufacturer`, file.manufacturer);
  set(`${r}DeviceInfo.ManufacturerOUI`, file.oui);
  set(`${r}DeviceInfo.ProductClass`, file.productClass);
  set(`${r}DeviceInfo.ModelName`, file.modelName);
  set(`${r}DeviceInfo.Description`, file.description);
  set(`${r}DeviceInfo.HardwareVersion`, file.hardwareVersion);
  set(`${r}DeviceInfo.SoftwareVersion`, file.softwareVersion);
  set(`${r}ManagementServer.PeriodicInformInterval`, String(file.periodicInformInterval));
  set(`${vs1}Capabilities.MaxProfileCount`, String(file.accounts));
  set(`${vs1}Capabilities.MaxLineCount`, String(file.accounts));
  set(`${vs1}Capabilities.SignalingProtocols`, 'SIP');
  set(`${vs1}Capabilities.SIP.Role`, 'UserAgent');
  set(`${vs1}Capabilities.SIP.Transports`, file.sipTransports.join(','));
  set(`${vs1}Capabilities.SIP.URISchemes`, 'sip');
  const codecTable = `${vs}{i}.Capabilities.Codecs.{i}.`;
  const lineCodec = `${vs}{i}.VoiceProfile.{i}.Line.{i}.Codec.List.{i}.`;
  file.codecs.forEach((c, i) => {
    const n = i + 1;
    for (const base of [codecTable, lineCodec]) {
      perInstance(`${base}EntryID`, n, String(n));
      perInstance(`${base}Codec`, n, c.codec);
      perInstance(`${base}BitRate`, n, String(c.bitRate));
      perInstance(`${base}PacketizationPeriod`, n, c.packetizationPeriod);
      perInstance(`${base}SilenceSuppression`, n, String(c.silenceSuppression));
    }
    perInstance(`${lineCodec}Priority`, n, String(n));
  });
  const phyTable = `${vs}{i}.PhyInterface.{i}.`;
  for (let n = 1; n <= phys; n++) {
    perInstance(`${phyTable}InterfaceID`, n, String(n));
    const isFxo = file.fxoPorts !== undefined && n > (file.fxsPorts ?? 0);
    const port = file.kind === 'phone' || file.kind === 'videophone' ? 'Handset' : isFxo ? `FXO ${n - (file.fxsPorts ?? 0)}` : `FXS ${n}`;
    perInstance(`${phyTable}Description`, n, port);
    perInstance(`${phyTable}PhyPort`, n, String(n).padStart(2, '0'));
  }
  // Each account's line uses the physical port of the same number on ATAs/gateways.
  for (let a = 1; a <= file.accounts; a++) {
    const phy = Math.min(a, phys);
    set(`${vs1}VoiceProfile.${a}.Line.1.PhyReferenceList`, String(phy));
  }

  // Profile-provided values: patterns become defaults of the definition, concrete paths factory values.
  for (const [rel, value] of Object.entries(file.values ?? {})) {
    const full = r + rel;
    const pattern = toPattern(full);
    const node = schema.byPattern.get(pattern);
    if (!node || node.kind !== 'param') {
      problems.push(`values: unknown parameter ${rel}`);
      continue;
    }
    const checked = checkValue(node.def, value);
    if (!checked.ok && !node.def.enumerationRef) {
      problems.push(`values: ${rel} = "${value}": ${checked.reason}`);
      continue;
    }
    const canonical = checked.ok ? checked.value : value;
    if (full === pattern) (node as ParamNode).defaultValue = canonical;
    else concrete.set(full, canonical);
  }
  for (const [rel, n] of Object.entries(file.notifications ?? {})) {
    const node = schema.byPattern.get(toPattern(r + rel));
    if (!node || node.kind !== 'param') problems.push(`notifications: unknown parameter ${rel}`);
    else if (node.def.activeNotify === 'canDeny' && n === 2) problems.push(`notifications: ${rel} is canDeny and cannot default to active`);
    else if (node.def.activeNotify === 'forceEnabled' && n !== 2) problems.push(`notifications: ${rel} is forceEnabled (always active)`);
    else node.defaultNotification = n;
  }
  if (problems.length > 0) throw new ProfileError(where, problems);
  return { instances, concrete, lastInstance };
}

function compilePValues(file: ProfileFile, root: RootName): Map<string, CompiledPValue> {
  const out = new Map<string, CompiledPValue>();
  const add = (pvalue: string, targets: string[], t: PValueTarget): void => {
    const c: CompiledPValue = { pvalue, targets };
    if (t.map) c.map = t.map;
    if (t.mapDefault !== undefined) c.mapDefault = t.mapDefault;
    if (t.reverseDefault !== undefined) c.reverseDefault = t.reverseDefault;
    out.set(pvalue, c);
  };
  for (const [p, t] of Object.entries(file.pvalues.global)) add(p, t.paths.map((x) => `${root}.${x}`), t);
  file.pvalues.accounts.forEach((fields, i) => {
    for (const [field, p] of Object.entries(fields)) {
      const t = file.pvalues.accountFields[field];
      if (t) add(p, t.paths.map((x) => `${root}.${x.replaceAll('{n}', String(i + 1))}`), t);
    }
  });
  return out;
}

/** Compiles a parsed profile file (already shape-checked) into a DeviceProfile. */
export function compileProfile(file: ProfileFile, where: string, rootOverride?: RootName): DeviceProfile {
  const root = rootOverride ?? file.root ?? 'Device';
  const schema = buildSchema(file, root, where);
  const factory = buildFactory(file, root, schema, where);
  return Object.freeze({
    model: file.model,
    manufacturer: file.manufacturer,
    oui: file.oui,
    productClass: file.productClass,
    softwareVersion: file.softwareVersion,
    hardwareVersion: file.hardwareVersion,
    accounts: file.accounts,
    kind: file.kind,
    root,
    periodicInformInterval: file.periodicInformInterval,
    file,
    schema,
    factoryInstances: factory.instances,
    concreteDefaults: factory.concrete,
    lastInstanceDefaults: factory.lastInstance,
    pvalues: compilePValues(file, root),
  });
}

/** Reads, validates and compiles one profile file. Throws ProfileError when invalid. */
export function loadProfileFile(path: string, rootOverride?: RootName): DeviceProfile {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ProfileError(path, [`cannot read JSON: ${(e as Error).message}`]);
  }
  const problems = validateProfileFile(data);
  if (problems.length > 0) throw new ProfileError(path, problems);
  return compileProfile(data as ProfileFile, path, rootOverride);
}

/** Model names of every profile file in `src/cpe/profiles/` (sorted). */
export function listProfiles(): string[] {
  return readdirSync(PROFILES_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

const profileCache = new Map<string, DeviceProfile>();

/**
 * Returns the compiled profile of a model (case-insensitive name, e.g. "GXP2140"), cached so
 * every device of a model shares it. `options.root` selects the other root object.
 * Throws UnknownProfileError (listing the known models) or ProfileError (broken file).
 */
export function loadProfile(model: string, options: { root?: RootName } = {}): DeviceProfile {
  const known = listProfiles();
  const name = known.find((k) => k.toLowerCase() === model.toLowerCase());
  if (!name) throw new UnknownProfileError(model, known);
  const key = `${name}|${options.root ?? ''}`;
  let p = profileCache.get(key);
  if (!p) {
    p = loadProfileFile(join(PROFILES_DIR, `${name}.json`), options.root);
    profileCache.set(key, p);
  }
  return p;
}
