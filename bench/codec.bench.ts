/**
 * Codec benchmark: parse and build a typical Inform (Grandstream GXP2140-like,
 * 10 parameters) and a 1,000-parameter GetParameterValuesResponse with
 *   - the chosen approach: saxes (namespace-aware, well-formedness checking) -> element tree -> CWMP decoder,
 *     and the string-concatenation builder (src/cwmp);
 *   - the baseline: fast-xml-parser 5 (XMLValidator for well-formedness + XMLParser, namespaces
 *     resolved by us) -> same element tree -> same CWMP decoder; its XMLBuilder serialising a
 *     ready-made ordered object tree (object construction not even counted);
 *   - for reference, a hand-written tokenizer (parse only, NO well-formedness checks): the upper
 *     bound a hand-written parser could reach.
 *
 * A second table measures the messages of one storm session (`npm run bench -- storm`: an HT502's
 * BOOTSTRAP Inform, the empty POST, a ten-parameter SetParameterValues and GetParameterValues and
 * their responses) on each side: what the ACS parses and builds per device, what the load
 * generator parses (from bytes, as it receives them) and builds, with the time the garbage
 * collector took meanwhile (V8 'gc' performance entries) per 1,000 device sessions.
 *
 * Run: npm run bench -- codec [--quick]. Prints the tables, writes bench/results/codec.json and
 * prints one JSON line last.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { buildEnvelope, decodeEnvelopeTree, parseEnvelope, type CwmpEnvelope } from '../src/cwmp/index.ts';
import { sampleGpvResponse, sampleInform } from '../src/cwmp/samples.ts';
import { CodecError } from '../src/cwmp/errors.ts';
import { refuseDtd, XSI_NS_URI, type XmlAttr, type XmlElement } from '../src/cwmp/xml.ts';
import type { CwmpVersion, EventStruct } from '../src/cwmp/types.ts';
import { DeviceModel } from '../src/datamodel/model.ts';
import { loadProfile } from '../src/datamodel/profile.ts';
import { round } from './lib/stats.ts';
import { sipAccountValues } from './lib/sip-accounts.ts';
import { STORM_MODEL } from './lib/models.ts';

const RESULTS_DIR = new URL('./results/', import.meta.url);
const FULL_MS = 1500;
const QUICK_MS = 200;
const WARMUP_MS_FRACTION = 0.2;
const GPVR_PARAMS = 1000;
const XMLNS_URI = 'http://www.w3.org/2000/xmlns/';

interface Figures {
  informParsePerSec: number;
  informBuildPerSec: number;
  gpvr1000ParamsParsePerSec: number;
  gpvr1000ParamsBuildPerSec: number;
}

/** Runs `fn` repeatedly for about `ms` milliseconds (after a warm-up) and returns operations per second. */
function opsPerSec(fn: () => unknown, ms: number): number {
  const warmEnd = performance.now() + ms * WARMUP_MS_FRACTION;
  while (performance.now() < warmEnd) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    fn();
    n++;
    t = performance.now();
  }
  return Math.round((n * 1000) / (t - t0));
}

// ---------------------------------------------------------------------------
// Baseline: fast-xml-parser -> XmlElement tree (namespaces resolved here)
// ---------------------------------------------------------------------------

type FxpNode = Record<string, unknown>;
const fxpParser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

function fxpToTree(nodes: FxpNode[], scope: Map<string, string>, depth: number): XmlElement[] {
  const out: XmlElement[] = [];
  for (const node of nodes) {
    const tag = Object.keys(node).find((k) => k !== ':@');
    if (!tag || tag === '#text' || tag === '#comment') continue;
    const rawAttrs = (node[':@'] ?? {}) as Record<string, string>;
    let local = scope;
    for (const [k, v] of Object.entries(rawAttrs)) {
      if (k === 'xmlns' || k.startsWith('xmlns:')) {
        if (local === scope) local = new Map(scope);
        local.set(k === 'xmlns' ? '' : k.slice(6), v);
      }
    }
    const split = (q: string, isAttr: boolean): { uri: string; local: string } => {
      const i = q.indexOf(':');
      if (i === -1) return { uri: isAttr ? '' : (local.get('') ?? ''), local: q };
      const uri = local.get(q.slice(0, i));
      if (uri === undefined) throw new CodecError('MALFORMED_XML', `unbound prefix in ${q}`);
      return { uri, local: q.slice(i + 1) };
    };
    const name = split(tag, false);
    const attrs: XmlAttr[] = [];
    let xsiType: XmlElement['xsiType'];
    for (const [k, v] of Object.entries(rawAttrs)) {
      if (k === 'xmlns' || k.startsWith('xmlns:')) continue;
      const a = split(k, true);
      if (a.uri === XMLNS_URI) continue;
      attrs.push({ uri: a.uri, local: a.local, value: v });
      if (a.uri === XSI_NS_URI && a.local === 'type') {
        const i = v.indexOf(':');
        xsiType = { raw: v, uri: i === -1 ? (local.get('') ?? '') : (local.get(v.slice(0, i)) ?? null), local: v.slice(i + 1) };
      }
    }
    const kids = node[tag] as FxpNode[];
    let text = '';
    for (const k of kids) if ('#text' in k) text += String(k['#text']);
    const el: XmlElement = { uri: name.uri, local: name.local, attrs, children: fxpToTree(kids, local, depth + 1), text };
    if (xsiType) el.xsiType = xsiType;
    out.push(el);
  }
  return out;
}

function parseWithFxp(xml: string): CwmpEnvelope {
  refuseDtd(xml);
  const v = XMLValidator.validate(xml);
  if (v !== true) throw new CodecError('MALFORMED_XML', v.err.msg);
  const tree = fxpToTree(fxpParser.parse(xml) as FxpNode[], new Map(), 0);
  return decodeEnvelopeTree(tree[0]);
}

const fxpBuilder = new XMLBuilder({ preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', suppressEmptyNode: true });

// ---------------------------------------------------------------------------
// Reference: hand-written tokenizer without any well-formedness checking
// ---------------------------------------------------------------------------

const TOKEN = /<(\/?)([^\s/>]+)((?:\s+[^\s=]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|([^<]+)/g;
const ATTR = /([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
const ENTITY = /&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;
const unescape = (s: string): string =>
  s.indexOf('&') === -1
    ? s
    : s.replace(ENTITY, (_, e: string) =>
        e === 'amp' ? '&' : e === 'lt' ? '<' : e === 'gt' ? '>' : e === 'quot' ? '"' : e === 'apos' ? "'" : String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)),
      );

function parseHandwritten(xml: string): CwmpEnvelope {
  refuseDtd(xml);
  const stack: { el: XmlElement; scope: Map<string, string> }[] = [];
  let root: XmlElement | undefined;
  let scope = new Map<string, string>();
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(xml); m; m = TOKEN.exec(xml)) {
    if (m[5] !== undefined) {
      if (stack.length) stack[stack.length - 1].el.text += unescape(m[5]);
      continue;
    }
    if (m[2] === undefined) continue;
    if (m[1] === '/') {
      scope = stack.pop()!.scope;
      continue;
    }
    const raw: [string, string][] = [];
    let local = scope;
    ATTR.lastIndex = 0;
    for (let a = ATTR.exec(m[3]); a; a = ATTR.exec(m[3])) {
      const v = unescape(a[2] ?? a[3]);
      if (a[1] === 'xmlns' || a[1].startsWith('xmlns:')) {
        if (local === scope) local = new Map(scope);
        local.set(a[1] === 'xmlns' ? '' : a[1].slice(6), v);
      } else raw.push([a[1], v]);
    }
    const q = m[2];
    const i = q.indexOf(':');
    const attrs: XmlAttr[] = [];
    const el: XmlElement = { uri: (i === -1 ? local.get('') : local.get(q.slice(0, i))) ?? '', local: q.slice(i + 1), attrs, children: [], text: '' };
    for (const [k, v] of raw) {
      const j = k.indexOf(':');
      const uri = j === -1 ? '' : (local.get(k.slice(0, j)) ?? '');
      attrs.push({ uri, local: k.slice(j + 1), value: v });
      if (uri === XSI_NS_URI && k.slice(j + 1) === 'type') {
        const c = v.indexOf(':');
        el.xsiType = { raw: v, uri: c === -1 ? '' : (local.get(v.slice(0, c)) ?? null), local: v.slice(c + 1) };
      }
    }
    if (stack.length) (stack[stack.length - 1].el.children as XmlElement[]).push(el);
    else root = el;
    if (m[4] !== '/') {
      stack.push({ el, scope });
      scope = local;
    }
  }
  if (!root) throw new CodecError('MALFORMED_XML', 'no root');
  return decodeEnvelopeTree(root);
}

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
// The storm's messages
// ---------------------------------------------------------------------------

const STORM_VERSION: CwmpVersion = '1.2';
const STORM_SERIAL = '000B82000001';
const STORM_EVENTS: EventStruct[] = [
  { eventCode: '0 BOOTSTRAP', commandKey: '' },
  { eventCode: '1 BOOT', commandKey: '' },
];
const STORM_TIME = '2026-01-01T00:00:00Z';
/** Sessions per timed round of the session figures (one round = this many devices' codec work). */
const SESSIONS_PER_ROUND = 100;
const PER_THOUSAND = 1000;

/** One storm session's envelopes, as each side sees them. */
interface StormMessages {
  inform: CwmpEnvelope;
  informResponse: CwmpEnvelope;
  spv: CwmpEnvelope;
  spvr: CwmpEnvelope;
  gpv: CwmpEnvelope;
  gpvr: CwmpEnvelope;
}

function stormMessages(): StormMessages {
  const model = DeviceModel.create(loadProfile(STORM_MODEL), { serialNumber: STORM_SERIAL });
  const values = sipAccountValues(STORM_SERIAL);
  return {
    inform: {
      header: { id: 'cpe-1' },
      body: { method: 'Inform', deviceId: model.deviceId(), event: STORM_EVENTS, maxEnvelopes: 1, currentTime: STORM_TIME, retryCount: 0, parameterList: model.informParameters() },
    },
    informResponse: { header: { id: 'cpe-1' }, body: { method: 'InformResponse', maxEnvelopes: 1 } },
    spv: { header: { id: 'acs-1' }, body: { method: 'SetParameterValues', parameterList: values, parameterKey: 'preset-1' } },
    spvr: { header: { id: 'acs-1' }, body: { method: 'SetParameterValuesResponse', status: 0 } },
    gpv: { header: { id: 'acs-2' }, body: { method: 'GetParameterValues', parameterNames: values.map((v) => v.name) } },
    gpvr: { header: { id: 'acs-2' }, body: { method: 'GetParameterValuesResponse', parameterList: values } },
  };
}

/**
 * Runs `fn` for about `ms` and returns µs per call and GC milliseconds per call (V8 'gc' entries).
 * Yields to the event loop between calls: V8 reports GC entries from it, not during a busy loop.
 */
async function timeWithGc(fn: () => unknown, ms: number): Promise<{ usPerCall: number; gcMsPerCall: number }> {
  const warmEnd = performance.now() + ms * WARMUP_MS_FRACTION;
  while (performance.now() < warmEnd) fn();
  let gcMs = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  let n = 0;
  let busyMs = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const t = performance.now();
    fn();
    busyMs += performance.now() - t;
    n++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setImmediate(resolve));
  for (const e of obs.takeRecords()) gcMs += e.duration;
  obs.disconnect();
  return { usPerCall: (busyMs * 1000) / n, gcMsPerCall: gcMs / n };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** Benchmark entry point (see file comment). Args: --quick for short runs. */
export async function run(args: string[]): Promise<void> {
  const ms = args.includes('--quick') ? QUICK_MS : FULL_MS;
  const inform: CwmpEnvelope = { header: { id: 'inform-1' }, body: sampleInform() };
  const gpvr: CwmpEnvelope = { header: { id: 'gpv-1' }, body: sampleGpvResponse(GPVR_PARAMS) };
  const informXml = buildEnvelope(inform, { version: '1.2' });
  const gpvrXml = buildEnvelope(gpvr, { version: '1.2' });

  // Every approach must produce the same result before it is timed.
  for (const [name, parse] of [
    ['fast-xml-parser', parseWithFxp],
    ['hand-written', parseHandwritten],
  ] as const) {
    for (const [xml, env] of [
      [informXml, inform],
      [gpvrXml, gpvr],
    ] as const) {
      const got = parse(xml);
      if (JSON.stringify(got.body) !== JSON.stringify(env.body)) throw new Error(`${name} parses differently`);
    }
  }
  const fxpInformObj = fxpParser.parse(informXml) as unknown;
  const fxpGpvrObj = fxpParser.parse(gpvrXml) as unknown;

  const chosen: Figures = {
    informParsePerSec: opsPerSec(() => parseEnvelope(informXml), ms),
    informBuildPerSec: opsPerSec(() => buildEnvelope(inform, { version: '1.2' }), ms),
    gpvr1000ParamsParsePerSec: opsPerSec(() => parseEnvelope(gpvrXml), ms),
    gpvr1000ParamsBuildPerSec: opsPerSec(() => buildEnvelope(gpvr, { version: '1.2' }), ms),
  };
  const baseline: Figures = {
    informParsePerSec: opsPerSec(() => parseWithFxp(informXml), ms),
    informBuildPerSec: opsPerSec(() => fxpBuilder.build(fxpInformObj), ms),
    gpvr1000ParamsParsePerSec: opsPerSec(() => parseWithFxp(gpvrXml), ms),
    gpvr1000ParamsBuildPerSec: opsPerSec(() => fxpBuilder.build(fxpGpvrObj), ms),
  };
  const handwritten = {
    informParsePerSec: opsPerSec(() => parseHandwritten(informXml), ms),
    gpvr1000ParamsParsePerSec: opsPerSec(() => parseHandwritten(gpvrXml), ms),
  };
  const ratio = (a: number, b: number): number => round(a / b);
  const ratios = {
    informParse: ratio(chosen.informParsePerSec, baseline.informParsePerSec),
    informBuild: ratio(chosen.informBuildPerSec, baseline.informBuildPerSec),
    gpvr1000ParamsParse: ratio(chosen.gpvr1000ParamsParsePerSec, baseline.gpvr1000ParamsParsePerSec),
    gpvr1000ParamsBuild: ratio(chosen.gpvr1000ParamsBuildPerSec, baseline.gpvr1000ParamsBuildPerSec),
    handwrittenOverChosenGpvrParse: ratio(handwritten.gpvr1000ParamsParsePerSec, chosen.gpvr1000ParamsParsePerSec),
  };

  // One storm session's codec work on each side.
  const sm = stormMessages();
  const wire = {
    inform: buildEnvelope(sm.inform, { version: STORM_VERSION }),
    informResponse: buildEnvelope(sm.informResponse, { version: STORM_VERSION }),
    spv: buildEnvelope(sm.spv, { version: STORM_VERSION }),
    spvr: buildEnvelope(sm.spvr, { version: STORM_VERSION }),
    gpv: buildEnvelope(sm.gpv, { version: STORM_VERSION }),
    gpvr: buildEnvelope(sm.gpvr, { version: STORM_VERSION }),
  };
  const bytes = { spv: Buffer.from(wire.spv, 'utf8'), gpv: Buffer.from(wire.gpv, 'utf8') };
  for (const k of ['inform', 'informResponse', 'spv', 'spvr', 'gpv', 'gpvr'] as const) {
    if (JSON.stringify(parseEnvelope(wire[k]).body) !== JSON.stringify(sm[k].body)) throw new Error(`storm ${k} does not round-trip`);
  }
  const b = { version: STORM_VERSION };
  const perMessage = {
    parse: {
      inform: opsPerSec(() => parseEnvelope(wire.inform), ms),
      emptyPost: opsPerSec(() => parseEnvelope(''), ms),
      spvr: opsPerSec(() => parseEnvelope(wire.spvr), ms),
      gpvr: opsPerSec(() => parseEnvelope(wire.gpvr), ms),
      spvFromBytes: opsPerSec(() => parseEnvelope(bytes.spv), ms),
      gpvFromBytes: opsPerSec(() => parseEnvelope(bytes.gpv), ms),
    },
    build: {
      informResponse: opsPerSec(() => buildEnvelope(sm.informResponse, b), ms),
      spv: opsPerSec(() => buildEnvelope(sm.spv, b), ms),
      gpv: opsPerSec(() => buildEnvelope(sm.gpv, b), ms),
      spvr: opsPerSec(() => buildEnvelope(sm.spvr, b), ms),
      gpvr: opsPerSec(() => buildEnvelope(sm.gpvr, b), ms),
    },
  };
  const acsSession = (): void => {
    for (let i = 0; i < SESSIONS_PER_ROUND; i++) {
      parseEnvelope(wire.inform);
      buildEnvelope(sm.informResponse, b);
      parseEnvelope('');
      buildEnvelope(sm.spv, b);
      parseEnvelope(wire.spvr);
      buildEnvelope(sm.gpv, b);
      parseEnvelope(wire.gpvr);
    }
  };
  const loadSession = (): void => {
    for (let i = 0; i < SESSIONS_PER_ROUND; i++) {
      parseEnvelope(bytes.spv);
      buildEnvelope(sm.spvr, b);
      parseEnvelope(bytes.gpv);
      buildEnvelope(sm.gpvr, b);
    }
  };
  const acs = await timeWithGc(acsSession, ms);
  const load = await timeWithGc(loadSession, ms);
  const session = {
    acsUsPerDevice: round(acs.usPerCall / SESSIONS_PER_ROUND),
    acsGcMsPer1000Devices: round((acs.gcMsPerCall * PER_THOUSAND) / SESSIONS_PER_ROUND),
    loadUsPerDevice: round(load.usPerCall / SESSIONS_PER_ROUND),
    loadGcMsPer1000Devices: round((load.gcMsPerCall * PER_THOUSAND) / SESSIONS_PER_ROUND),
  };

  const rows: [string, string, string, string, string][] = [
    ['approach (messages/s)', 'Inform parse', 'Inform build', `GPVR ${GPVR_PARAMS} parse`, `GPVR ${GPVR_PARAMS} build`],
    ['saxes + tree + decoder (chosen)', fmt(chosen.informParsePerSec), fmt(chosen.informBuildPerSec), fmt(chosen.gpvr1000ParamsParsePerSec), fmt(chosen.gpvr1000ParamsBuildPerSec)],
    ['fast-xml-parser 5 (baseline)', fmt(baseline.informParsePerSec), fmt(baseline.informBuildPerSec), fmt(baseline.gpvr1000ParamsParsePerSec), fmt(baseline.gpvr1000ParamsBuildPerSec)],
    ['hand-written, unchecked (ref.)', fmt(handwritten.informParsePerSec), '-', fmt(handwritten.gpvr1000ParamsParsePerSec), '-'],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  console.log(`codec benchmark (Inform ${informXml.length} B, GPVR ${gpvrXml.length} B, ${ms} ms per figure)`);
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  console.log(`\nstorm session messages (HT502, CWMP ${STORM_VERSION}; Inform ${wire.inform.length} B, SPV ${wire.spv.length} B, GPVR ${wire.gpvr.length} B), messages/s:`);
  console.log(
    `  ACS parses:  Inform ${fmt(perMessage.parse.inform)}  empty POST ${fmt(perMessage.parse.emptyPost)}  SPVResponse ${fmt(perMessage.parse.spvr)}  GPVResponse ${fmt(perMessage.parse.gpvr)}`,
  );
  console.log(`  ACS builds:  InformResponse ${fmt(perMessage.build.informResponse)}  SPV ${fmt(perMessage.build.spv)}  GPV ${fmt(perMessage.build.gpv)}`);
  console.log(`  load parses (bytes): SPV ${fmt(perMessage.parse.spvFromBytes)}  GPV ${fmt(perMessage.parse.gpvFromBytes)};  builds: SPVResponse ${fmt(perMessage.build.spvr)}  GPVResponse ${fmt(perMessage.build.gpvr)}`);
  console.log(
    `  per device session: ACS ${session.acsUsPerDevice} µs (GC ${session.acsGcMsPer1000Devices} ms per 1,000), load ${session.loadUsPerDevice} µs (GC ${session.loadGcMsPer1000Devices} ms per 1,000)`,
  );

  const result = {
    bench: 'codec',
    ...chosen,
    baseline: { name: 'fast-xml-parser 5 (XMLValidator + XMLParser; XMLBuilder)', ...baseline },
    ratios,
    reference: { name: 'hand-written tokenizer without well-formedness checks', ...handwritten },
    messageBytes: { inform: informXml.length, gpvr1000: gpvrXml.length, stormInform: wire.inform.length, stormSpv: wire.spv.length, stormGpvr: wire.gpvr.length },
    storm: { perMessage, session },
    node: process.version,
    at: new Date().toISOString(),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(new URL('codec.json', RESULTS_DIR), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
}
