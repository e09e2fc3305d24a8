/**
 * Generates the compact data-model JSON in `src/datamodel/generated/` from the Broadband
 * Forum data-model XML in `standards/bbf/`.
 *
 * Run once after changing the selection below: `npx tsx src/datamodel/generate.ts`.
 * Parsing the full XML on every start would cost ~1 s; the runtime only reads the JSON.
 *
 * Only the subset of each model that the Grandstream profiles need is kept (see SELECTIONS);
 * `...NumberOfEntries` parameters of tables that are left out are dropped with them.
 */

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname, basename, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import type { XsdType } from '../cwmp/types.ts';
import type { ActiveNotify, GeneratedModel, ObjectDef, ParamDef, RangeDef } from './definitions.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const BBF_DIR = join(REPO, 'standards', 'bbf');
const OUT_DIR = join(HERE, 'generated');

/** XML elements that may repeat and therefore always parse as arrays. */
const ARRAY_TAGS = new Set(['object', 'parameter', 'dataType', 'enumeration', 'pattern', 'range', 'size', 'model', 'component']);

/** The base-type elements of a BBF `<syntax>` (plus `dataType` references). */
const BASE_TYPE_TAGS: Record<string, XsdType> = {
  string: 'string',
  unsignedInt: 'unsignedInt',
  int: 'int',
  long: 'long',
  unsignedLong: 'unsignedLong',
  boolean: 'boolean',
  dateTime: 'dateTime',
  base64: 'base64',
  hexBinary: 'hexBinary',
  decimal: 'decimal',
};

type XmlNode = Record<string, unknown>;

/** One job: a model read from one or more files, filtered to a set of objects. */
interface Selection {
  output: string;
  /** Primary file first; later files only fill in definitions the earlier ones lack. */
  files: string[];
  /** Keep this object (full path pattern as in the XML)? */
  keepObject: (path: string) => boolean;
  mountPoint?: string;
}

const DEVICE_OBJECTS = new Set([
  'Device.',
  'Device.Services.',
  'Device.DeviceInfo.',
  'Device.DeviceInfo.MemoryStatus.',
  'Device.DeviceInfo.ProcessStatus.',
  'Device.DeviceInfo.VendorConfigFile.{i}.',
  'Device.DeviceInfo.SupportedDataModel.{i}.',
  'Device.ManagementServer.',
  'Device.GatewayInfo.',
  'Device.Config.',
  'Device.Time.',
  'Device.UserInterface.',
  'Device.LAN.',
  'Device.LAN.Stats.',
]);

const IGD = 'InternetGatewayDevice.';
const IGD_OBJECTS = new Set(
  [
    '',
    'Services.',
    'DeviceInfo.',
    'DeviceInfo.MemoryStatus.',
    'DeviceInfo.ProcessStatus.',
    'DeviceInfo.VendorConfigFile.{i}.',
    'DeviceConfig.',
    'ManagementServer.',
    'Time.',
    'UserInterface.',
    'WANDevice.{i}.',
    'WANDevice.{i}.WANConnectionDevice.{i}.',
    'WANDevice.{i}.WANConnectionDevice.{i}.WANIPConnection.{i}.',
  ].map((p) => IGD + p),
);

const VS = 'VoiceService.{i}.';
const VOICE_OBJECTS = new Set(
  [
    '',
    'Capabilities.',
    'Capabilities.SIP.',
    'Capabilities.Codecs.{i}.',
    'VoiceProfile.{i}.',
    'VoiceProfile.{i}.ServiceProviderInfo.',
    'VoiceProfile.{i}.SIP.',
    'VoiceProfile.{i}.SIP.EventSubscribe.{i}.',
    'VoiceProfile.{i}.SIP.ResponseMap.{i}.',
    'VoiceProfile.{i}.RTP.',
    'VoiceProfile.{i}.RTP.RTCP.',
    'VoiceProfile.{i}.RTP.SRTP.',
    'VoiceProfile.{i}.RTP.Redundancy.',
    'VoiceProfile.{i}.FaxT38.',
    'VoiceProfile.{i}.Line.{i}.',
    'VoiceProfile.{i}.Line.{i}.SIP.',
    'VoiceProfile.{i}.Line.{i}.SIP.EventSubscribe.{i}.',
    'VoiceProfile.{i}.Line.{i}.CallingFeatures.',
    'VoiceProfile.{i}.Line.{i}.VoiceProcessing.',
    'VoiceProfile.{i}.Line.{i}.Codec.',
    'VoiceProfile.{i}.Line.{i}.Codec.List.{i}.',
    'VoiceProfile.{i}.Line.{i}.Session.{i}.',
    'VoiceProfile.{i}.Line.{i}.Stats.',
    'PhyInterface.{i}.',
    'PhyInterface.{i}.Tests.',
  ].map((p) => VS + p),
);

const SELECTIONS: Selection[] = [
  {
    output: 'device-1.json',
    files: ['tr-181-1-7-0-full.xml', 'tr-106-1-2-0-full.xml'],
    keepObject: (p) => DEVICE_OBJECTS.has(p),
  },
  {
    output: 'igd-1.json',
    files: ['tr-098-1-8-0-full.xml'],
    keepObject: (p) => IGD_OBJECTS.has(p),
  },
  {
    output: 'voiceservice-1.1.json',
    files: ['tr-104-1-1-0-full.xml'],
    keepObject: (p) => VOICE_OBJECTS.has(p),
    mountPoint: 'Services.',
  },
];

/** Facets of a (possibly named) type, merged from the data-type chain and the syntax. */
interface Facets {
  type: XsdType;
  dataType?: string;
  maxLength?: number;
  minLength?: number;
  ranges?: RangeDef[];
  enumeration?: string[];
  enumerationRef?: string;
  enumerationRefNull?: string;
  patterns?: string[];
  units?: string;
}

function asArray(v: unknown): XmlNode[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'object' && x !== null ? (x as XmlNode) : {}));
}

function attr(node: XmlNode, name: string): string | undefined {
  const v = node[`@${name}`];
  return typeof v === 'string' ? v : undefined;
}

function parseXml(file: string): { doc: XmlNode; text: string } {
  const text = readFileSync(join(BBF_DIR, file), 'utf8');
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@',
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    isArray: (name) => ARRAY_TAGS.has(name),
  });
  const parsed = parser.parse(text) as XmlNode;
  const doc = parsed['document'];
  if (typeof doc !== 'object' || doc === null) throw new Error(`${file}: no dm:document root element`);
  return { doc: doc as XmlNode, text };
}

/** The copyright and licence part of the file's leading comment (BSD, Broadband Forum). */
function licenseText(text: string, file: string): string {
  const m = /<!--([\s\S]*?)-->/.exec(text);
  if (!m) throw new Error(`${file}: no leading licence comment`);
  const lines = m[1].split('\n').map((l) => l.replace(/^ {2}/, '').trimEnd());
  const start = lines.findIndex((l) => l.includes('Copyright'));
  const end = lines.findIndex((l) => l.trim().startsWith('Summary:'));
  if (start < 0) throw new Error(`${file}: licence comment has no Copyright line`);
  return lines.slice(start, end > start ? end : undefined).join('\n').trim();
}

/** Reads size/range/enumeration/pattern/units/enumerationRef facets of one type element. */
function applyFacets(into: Facets, el: XmlNode): void {
  for (const size of asArray(el['size'])) {
    const max = attr(size, 'maxLength');
    const min = attr(size, 'minLength');
    if (max !== undefined) into.maxLength = Number(max);
    if (min !== undefined && Number(min) > 0) into.minLength = Number(min);
  }
  const ranges = asArray(el['range']).map((r) => {
    const out: RangeDef = {};
    const min = attr(r, 'minInclusive');
    const max = attr(r, 'maxInclusive');
    const step = attr(r, 'step');
    if (min !== undefined) out.min = min;
    if (max !== undefined) out.max = max;
    if (step !== undefined && step !== '1') out.step = step;
    return out;
  });
  if (ranges.length > 0) into.ranges = ranges;
  const enums = asArray(el['enumeration']).map((e) => attr(e, 'value') ?? '');
  if (enums.length > 0) into.enumeration = enums;
  const patterns = asArray(el['pattern']).map((e) => attr(e, 'value') ?? '');
  if (patterns.length > 0) into.patterns = patterns;
  const ref = el['enumerationRef'];
  if (typeof ref === 'object' && ref !== null) {
    const target = attr(ref as XmlNode, 'targetParam');
    if (target !== undefined) into.enumerationRef = target;
    const nullValue = attr(ref as XmlNode, 'nullValue');
    if (nullValue !== undefined) into.enumerationRefNull = nullValue;
  }
  const units = el['units'];
  if (typeof units === 'object' && units !== null) {
    const v = attr(units as XmlNode, 'value');
    if (v !== undefined) into.units = v;
  }
}

class TypeResolver {
  private readonly raw = new Map<string, XmlNode>();
  private readonly cache = new Map<string, Facets>();

  add(doc: XmlNode): void {
    for (const dt of asArray(doc['dataType'])) {
      const name = attr(dt, 'name');
      if (name !== undefined && !this.raw.has(name)) this.raw.set(name, dt);
    }
  }

  /** Resolves a named data type to its base type and facets (base chain first, then own facets). */
  resolve(name: string): Facets {
    const cached = this.cache.get(name);
    if (cached) return { ...cached };
    const node = this.raw.get(name);
    if (!node) throw new Error(`unknown dataType ${name}`);
    let facets: Facets | undefined;
    const base = attr(node, 'base');
    if (base !== undefined) {
      facets = this.resolve(base);
      applyFacets(facets, node);
    } else {
      for (const [tag, type] of Object.entries(BASE_TYPE_TAGS)) {
        if (tag in node) {
          facets = { type };
          const el = node[tag];
          if (typeof el === 'object' && el !== null) applyFacets(facets, el as XmlNode);
          break;
        }
      }
    }
    if (!facets) throw new Error(`dataType ${name} has no base type`);
    facets.dataType = name;
    this.cache.set(name, facets);
    return { ...facets };
  }
}

/** Parses a parameter's `<syntax>` into the facet fields of a ParamDef. */
function parseSyntax(syntax: XmlNode, types: TypeResolver, where: string): Partial<ParamDef> & { type: XsdType } {
  let facets: Facets | undefined;
  let itemType: XsdType | undefined;
  for (const [tag, type] of Object.entries(BASE_TYPE_TAGS)) {
    if (tag in syntax) {
      facets = { type };
      const el = syntax[tag];
      if (typeof el === 'object' && el !== null) applyFacets(facets, el as XmlNode);
      break;
    }
  }
  if (!facets && 'dataType' in syntax) {
    const ref = asArray(syntax['dataType'])[0];
    const name = attr(ref, 'ref');
    if (name === undefined) throw new Error(`${where}: dataType without ref`);
    facets = types.resolve(name);
    applyFacets(facets, ref);
  }
  if (!facets) throw new Error(`${where}: syntax without a base type`);
  const out: Partial<ParamDef> & { type: XsdType } = { type: facets.type };
  if ('list' in syntax) {
    out.list = true;
    if (facets.type !== 'string') itemType = facets.type;
    out.type = 'string';
    const listEl = syntax['list'];
    if (typeof listEl === 'object' && listEl !== null) {
      for (const size of asArray((listEl as XmlNode)['size'])) {
        const max = attr(size, 'maxLength');
        if (max !== undefined) out.listMaxLength = Number(max);
      }
    }
  }
  if (itemType) out.itemType = itemType;
  if (facets.maxLength !== undefined) out.maxLength = facets.maxLength;
  if (facets.minLength !== undefined) out.minLength = facets.minLength;
  if (facets.ranges) out.ranges = facets.ranges;
  if (facets.enumeration) out.enumeration = facets.enumeration;
  if (facets.enumerationRef !== undefined) out.enumerationRef = facets.enumerationRef;
  if (facets.enumerationRefNull !== undefined) out.enumerationRefNull = facets.enumerationRefNull;
  if (facets.patterns) out.patterns = facets.patterns;
  if (facets.units !== undefined) out.units = facets.units;
  if (facets.dataType !== undefined) out.dataType = facets.dataType;
  if (attr(syntax, 'hidden') === 'true' || attr(syntax, 'secured') === 'true') out.hidden = true;
  const def = syntax['default'];
  if (typeof def === 'object' && def !== null) {
    const value = attr(def as XmlNode, 'value');
    const type = attr(def as XmlNode, 'type');
    if (value !== undefined && (type === 'object' || type === 'factory')) {
      out.default = value;
      out.defaultType = type;
    }
  }
  return out;
}

interface ParsedModel {
  name: string;
  spec?: string;
  objects: { def: ObjectDef; params: ParamDef[] }[];
  /** Model-level parameters (service models only). */
  topParams: ParamDef[];
}

function parseModel(file: string, types: TypeResolver): { model: ParsedModel; license: string } {
  const { doc, text } = parseXml(file);
  types.add(doc);
  const models = asArray(doc['model']);
  if (models.length !== 1) throw new Error(`${file}: expected one <model>, found ${models.length}`);
  const m = models[0];
  const name = attr(m, 'name') ?? basename(file);
  const parseParam = (p: XmlNode, objectPath: string): ParamDef => {
    const pname = attr(p, 'name');
    if (pname === undefined) throw new Error(`${file}: parameter without name in ${objectPath}`);
    const path = objectPath + pname;
    const syntax = p['syntax'];
    if (typeof syntax !== 'object' || syntax === null) throw new Error(`${file}: ${path} has no syntax`);
    const s = parseSyntax(syntax as XmlNode, types, path);
    const access = attr(p, 'access') === 'readWrite' ? 'readWrite' : 'readOnly';
    // Key order: path, type, access first, for readable diffs of the generated JSON.
    const { type, ...facets } = s;
    const ordered: ParamDef = { path, type, access, ...facets };
    if (attr(p, 'forcedInform') === 'true') ordered.forcedInform = true;
    const an = attr(p, 'activeNotify');
    if (an && an !== 'normal') ordered.activeNotify = an as ActiveNotify;
    const status = attr(p, 'status');
    if (status && status !== 'current') ordered.status = status;
    return ordered;
  };
  const objects = asArray(m['object'])
    .filter((o) => attr(o, 'name') !== undefined)
    .map((o) => {
      const path = attr(o, 'name') as string;
      const maxEntries = attr(o, 'maxEntries');
      const multi = path.endsWith('.{i}.');
      const def: ObjectDef = {
        path,
        access: attr(o, 'access') === 'readWrite' ? 'readWrite' : 'readOnly',
        multi,
      };
      if (multi) {
        const minEntries = attr(o, 'minEntries');
        if (minEntries !== undefined && minEntries !== '0') def.minEntries = Number(minEntries);
        if (maxEntries !== undefined && maxEntries !== 'unbounded') def.maxEntries = Number(maxEntries);
      }
      const nep = attr(o, 'numEntriesParameter');
      if (nep) def.numEntriesParameter = nep;
      const ep = attr(o, 'enableParameter');
      if (ep) def.enableParameter = ep;
      const status = attr(o, 'status');
      if (status && status !== 'current') def.status = status;
      return { def, params: asArray(o['parameter']).map((p) => parseParam(p, path)) };
    });
  const topParams = asArray(m['parameter']).map((p) => parseParam(p, ''));
  const spec = attr(doc, 'spec');
  return { model: { name, spec, objects, topParams }, license: licenseText(text, file) };
}

function parentPath(objectPath: string): string {
  const trimmed = objectPath.endsWith('.{i}.') ? objectPath.slice(0, -'{i}.'.length) : objectPath;
  const noDot = trimmed.slice(0, -1);
  const i = noDot.lastIndexOf('.');
  return i < 0 ? '' : noDot.slice(0, i + 1);
}

function runSelection(sel: Selection, types: TypeResolver): GeneratedModel {
  const parsed = sel.files.map((f) => ({ file: f, ...parseModel(f, types) }));
  const primary = parsed[0];
  // Merge: definitions missing from the primary file are taken from the later ones.
  const objects = new Map<string, { def: ObjectDef; params: Map<string, ParamDef> }>();
  const dropCounts = new Set<string>();
  for (const { model } of parsed) {
    for (const o of model.objects) {
      if (!sel.keepObject(o.def.path)) {
        // Its instance counter lives in the parent object and must go too.
        if (o.def.numEntriesParameter) dropCounts.add(parentPath(o.def.path) + o.def.numEntriesParameter);
        continue;
      }
      let entry = objects.get(o.def.path);
      if (!entry) {
        entry = { def: o.def, params: new Map() };
        objects.set(o.def.path, entry);
      }
      for (const p of o.params) if (!entry.params.has(p.path)) entry.params.set(p.path, p);
    }
  }
  const outObjects: ObjectDef[] = [];
  const outParams: ParamDef[] = [];
  for (const p of primary.model.topParams) {
    if (!dropCounts.has(p.path)) outParams.push(p);
  }
  for (const { def, params } of objects.values()) {
    outObjects.push(def);
    for (const p of params.values()) if (!dropCounts.has(p.path)) outParams.push(p);
  }
  const licenses = [...new Set(parsed.map((p) => p.license))];
  const meta: GeneratedModel['meta'] = {
    model: primary.model.name,
    sources: parsed.map((p) => (p.model.spec ? { file: p.file, spec: p.model.spec } : { file: p.file })),
    generatedBy: 'src/datamodel/generate.ts (subset of the Broadband Forum data model; do not edit by hand)',
    license: licenses.join('\n\n'),
  };
  if (sel.mountPoint) meta.mountPoint = sel.mountPoint;
  return { meta, objects: outObjects, parameters: outParams };
}

/** Writes one definition per line: compact, yet diffs stay readable. */
function serialise(model: GeneratedModel): string {
  const lines = [
    '{',
    `"meta": ${JSON.stringify(model.meta, null, 1)},`,
    '"objects": [',
    model.objects.map((o) => JSON.stringify(o)).join(',\n'),
    '],',
    '"parameters": [',
    model.parameters.map((p) => JSON.stringify(p)).join(',\n'),
    ']',
    '}',
  ];
  return lines.join('\n') + '\n';
}

/**
 * Derives every generated file from the BBF XML. Returns file name -> JSON text (what
 * `main` writes); pure apart from reading the XML, so tests can compare it with the committed files.
 */
export function generateAll(): Map<string, { text: string; model: GeneratedModel }> {
  const types = new TypeResolver();
  // Named types of TR-106 first, so every model can refer to them.
  types.add(parseXml('tr-106-types.xml').doc);
  const out = new Map<string, { text: string; model: GeneratedModel }>();
  for (const sel of SELECTIONS) {
    const model = runSelection(sel, types);
    out.set(sel.output, { text: serialise(model), model });
  }
  return out;
}

/** Directory of the committed generated JSON. */
export const GENERATED_DIR = OUT_DIR;

function main(): void {
  mkdirSync(OUT_DIR, { recursive: true });
  for (const [file, { text, model }] of generateAll()) {
    writeFileSync(join(OUT_DIR, file), text);
    console.log(`${file}: ${model.meta.model}, ${model.objects.length} objects, ${model.parameters.length} parameters`);
  }
}

// Only when run as a script (`npx tsx src/datamodel/generate.ts`), not when imported by tests.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
