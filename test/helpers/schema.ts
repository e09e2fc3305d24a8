/**
 * Test helper: validates CWMP SOAP envelopes against the BBF schemas in
 * standards/bbf with xmllint-wasm (libxml2 compiled to WASM; no native build,
 * no network). Port of standards/bbf/validate/validate-cwmp.mjs: xmllint-wasm has
 * no catalog support, so every remote schemaLocation is rewritten in memory to a
 * flat local file name.
 *
 * Strict mode (the default) uses soapenv-strict.xsd: every Header/Body child must
 * be a declared element (catches typos and headers from a newer version).
 * libxml2 does not enforce `fixed` on attributes, so the helper also checks
 * mustUnderstand itself: "1" on cwmp:ID / cwmp:HoldRequests / cwmp:UseCWMPVersion,
 * "0" (or absent) on cwmp:SessionTimeout.
 *
 * Usage:
 *   const r = await validateEnvelope(xml, '1.2');               // { valid, errors }
 *   await assertValidEnvelope(xml, '1.4');                      // throws with the errors
 *   const rs = await validateEnvelopes([xml1, xml2], '1.0');    // one xmllint run for many
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { validateXML, type XMLFileInfo } from 'xmllint-wasm';
import type { CwmpVersion } from '../../src/cwmp/types.ts';

export interface SchemaValidationResult {
  valid: boolean;
  errors: string[];
}

export interface ValidateOptions {
  /** soapenv-strict.xsd (default true): Header/Body children must be declared CWMP elements. */
  strict?: boolean;
}

const SCHEMA_DIR = fileURLToPath(new URL('../../standards/bbf/', import.meta.url));
const SOAP_ENV_NS = 'http://schemas.xmlsoap.org/soap/envelope/';
const CWMP_NS_PREFIX = 'urn:dslforum-org:cwmp-';
/** WASM memory for one xmllint run (64 KiB pages): room for a batch of large envelopes. */
const XMLLINT_MAX_MEMORY_PAGES = 4096;

const VERSION_FILE: Readonly<Record<CwmpVersion, string>> = {
  '1.0': '1-0',
  '1.1': '1-1',
  '1.2': '1-2',
  '1.3': '1-3',
  '1.4': '1-4',
};

function localize(s: string): string {
  return s
    .replaceAll('schemaLocation="http://schemas.xmlsoap.org/soap/envelope/"', 'schemaLocation="soapenv.xsd"')
    .replaceAll('schemaLocation="http://schemas.xmlsoap.org/soap/encoding/"', 'schemaLocation="soapenc.xsd"')
    .replace(/schemaLocation="https?:\/\/www\.broadband-forum\.org\/cwmp\//g, 'schemaLocation="');
}

const fileCache = new Map<string, XMLFileInfo>();
function load(path: string, fileName = basename(path)): XMLFileInfo {
  const key = `${path}=>${fileName}`;
  let f = fileCache.get(key);
  if (!f) {
    f = { fileName, contents: localize(readFileSync(path, 'utf8')) };
    fileCache.set(key, f);
  }
  return f;
}

function schemaFiles(version: CwmpVersion, strict: boolean): { schema: XMLFileInfo; preload: XMLFileInfo[] } {
  const v = VERSION_FILE[version];
  if (!v) throw new Error(`unknown CWMP version ${version}`);
  return {
    schema: load(join(SCHEMA_DIR, 'validate', `cwmp-envelope-${v}.xsd`)),
    preload: [
      load(join(SCHEMA_DIR, 'validate', strict ? 'soapenv-strict.xsd' : 'soapenv.xsd'), 'soapenv.xsd'),
      load(join(SCHEMA_DIR, 'validate', 'soapenc.xsd')),
      ...['1-0', '1-1', '1-2', '1-3', '1-4'].map((x) => load(join(SCHEMA_DIR, `cwmp-${x}.xsd`))),
    ],
  };
}

/** Header elements whose mustUnderstand value is fixed by the schemas (null = attribute may be absent). */
const MUST_UNDERSTAND: Readonly<Record<string, { value: string; required: boolean }>> = {
  ID: { value: '1', required: true },
  HoldRequests: { value: '1', required: true },
  UseCWMPVersion: { value: '1', required: true },
  SessionTimeout: { value: '0', required: false },
};

/** Checks what libxml2 does not: mustUnderstand values on CWMP header elements. Returns error texts. */
export function checkMustUnderstand(xml: string): string[] {
  const errors: string[] = [];
  const parser = new SaxesParser({ xmlns: true });
  const stack: { uri: string; local: string }[] = [];
  parser.on('error', (e: Error) => {
    errors.push(`not well-formed: ${e.message}`);
    throw e;
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    const parent = stack[stack.length - 1];
    if (parent && parent.uri === SOAP_ENV_NS && parent.local === 'Header' && tag.uri.startsWith(CWMP_NS_PREFIX)) {
      const rule = MUST_UNDERSTAND[tag.local];
      if (rule) {
        const a = Object.values(tag.attributes).find((x) => x.uri === SOAP_ENV_NS && x.local === 'mustUnderstand');
        if (!a) {
          if (rule.required) errors.push(`cwmp:${tag.local} lacks soap-env:mustUnderstand="${rule.value}"`);
        } else if (a.value !== rule.value) {
          errors.push(`cwmp:${tag.local} has mustUnderstand="${a.value}", the schema fixes "${rule.value}"`);
        }
      }
    }
    stack.push({ uri: tag.uri, local: tag.local });
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  try {
    parser.write(xml).close();
  } catch {
    // already recorded
  }
  return errors;
}

/**
 * Validates several envelopes of one CWMP version in a single xmllint run
 * (schema compiled once). Returns one result per input, in order.
 */
export async function validateEnvelopes(xmls: readonly string[], version: CwmpVersion, opts?: ValidateOptions): Promise<SchemaValidationResult[]> {
  if (xmls.length === 0) return [];
  const { schema, preload } = schemaFiles(version, opts?.strict ?? true);
  const names = xmls.map((_, i) => `msg_${i}.xml`);
  const r = await validateXML({
    xml: xmls.map((contents, i) => ({ fileName: names[i], contents })),
    schema,
    preload,
    maxMemoryPages: XMLLINT_MAX_MEMORY_PAGES,
  });
  const results: SchemaValidationResult[] = xmls.map((xml) => ({ valid: true, errors: checkMustUnderstand(xml) }));
  const index = new Map(names.map((n, i) => [n, i]));
  for (const e of r.errors) {
    const raw = e.rawMessage.trim();
    if (raw === '') continue;
    const fromLoc = e.loc ? index.get(e.loc.fileName) : undefined;
    const failLine = /^(msg_\d+\.xml) fails to validate$/.exec(raw);
    const i = fromLoc ?? (failLine ? index.get(failLine[1]) : undefined);
    if (i === undefined) {
      // Not attributable (schema compile error, ...): every input is reported invalid.
      for (const res of results) res.errors.push(raw);
      continue;
    }
    if (!failLine) results[i].errors.push(raw);
    else results[i].valid = false;
  }
  for (const res of results) if (res.errors.length > 0) res.valid = false;
  if (!r.valid && results.every((x) => x.valid)) {
    for (const res of results) {
      res.valid = false;
      res.errors.push(`xmllint reported failure: ${r.rawOutput.trim().slice(0, 500)}`);
    }
  }
  return results;
}

/** Validates one envelope. Returns { valid, errors }. */
export async function validateEnvelope(xml: string, version: CwmpVersion, opts?: ValidateOptions): Promise<SchemaValidationResult> {
  const [r] = await validateEnvelopes([xml], version, opts);
  return r;
}

/** Throws an Error listing the schema errors when `xml` is not valid for `version` (strict by default). */
export async function assertValidEnvelope(xml: string, version: CwmpVersion, opts?: ValidateOptions): Promise<void> {
  const r = await validateEnvelope(xml, version, opts);
  if (!r.valid) throw new Error(`envelope is not valid CWMP ${version}:\n  ${r.errors.join('\n  ')}\n--- xml ---\n${xml}`);
}
