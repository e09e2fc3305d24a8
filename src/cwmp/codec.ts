/**
 * CWMP SOAP envelope parser and builder, driven by the message table in
 * messages.ts. The XML layer (and the choice of saxes, with measurements) is in
 * xml.ts; bytes and charsets are in encoding.ts.
 *
 * Parsing is tolerant (any prefix, missing xsi:type, arrayType mismatches, a few
 * omitted elements get defaults) but bounded (size, depth, children per element,
 * no DTD). Building is strict: the output is valid against the BBF schema of the
 * requested version in strict envelope mode, or a CodecError says why not.
 */
import { CodecError } from './errors.ts';
import { DEFAULT_MAX_BYTES, decodeHttpBody } from './encoding.ts';
import {
  MESSAGES,
  OPERATION_FIELDS,
  faultCodeCheck,
  schemaGen,
  spvFaultCodeCheck,
  type FieldSpec,
  type MessageSpec,
  type ScalarType,
  type SchemaGen,
  type ValueType,
} from './messages.ts';
import {
  CWMP_NAMESPACES,
  SOAP_ENC_NS,
  SOAP_ENV_NS,
  XSD_NS,
  XSI_NS,
  type ChangeDUStateOperation,
  type CwmpEnvelope,
  type CwmpHeader,
  type CwmpMessage,
  type CwmpNamespace,
  type CwmpVersion,
  type ParameterValueStruct,
  type SetParameterValuesFault,
  type SoapFault,
  type XsdType,
} from './types.ts';
import { isXsdType, parseBoolean, parseXsdInteger, validateXsdValue } from './values.ts';
import { attr, escapeXml, findIllegalXmlChar, isPlainXmlText, parseXmlTree, type XmlElement } from './xml.ts';

export interface ParseOptions {
  /** Maximum body size in bytes (UTF-8 for strings). Default 4 MiB. */
  maxBytes?: number;
  /** Maximum element nesting depth. Default 32. */
  maxDepth?: number;
  /** Maximum child elements of any one element (array items). Default 20000. */
  maxItems?: number;
}

export interface ParsedEnvelope extends CwmpEnvelope {
  /** The CWMP namespace of the message; null for an empty body without CWMP headers. */
  namespace: CwmpNamespace | null;
  /**
   * From the namespace: 1.0/1.1/1.2; '1.3' when a SessionTimeout header is seen,
   * '1.4' when SupportedCWMPVersions or UseCWMPVersion is seen. '1.0' when nothing tells.
   */
  version: CwmpVersion;
}

export const DEFAULT_MAX_DEPTH = 32;
export const DEFAULT_MAX_ITEMS = 20000;

const VERSIONS: readonly CwmpVersion[] = ['1.0', '1.1', '1.2', '1.3', '1.4'];
const NAMESPACE_VERSION: ReadonlyMap<string, CwmpVersion> = new Map([
  [CWMP_NAMESPACES['1.0'], '1.0'],
  [CWMP_NAMESPACES['1.1'], '1.1'],
  [CWMP_NAMESPACES['1.2'], '1.2'],
]);
const UINT_MAX = 2 ** 32 - 1;
const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

/** The CWMP namespace URI of a version (1.2, 1.3 and 1.4 share cwmp-1-2). */
export function namespaceForVersion(v: CwmpVersion): CwmpNamespace {
  switch (v) {
    case '1.0':
      return CWMP_NAMESPACES['1.0'];
    case '1.1':
      return CWMP_NAMESPACES['1.1'];
    case '1.2':
    case '1.3':
    case '1.4':
      return CWMP_NAMESPACES['1.2'];
    default:
      throw new CodecError('UNKNOWN_NAMESPACE', `unknown CWMP version ${JSON.stringify(v)}`);
  }
}

function isCwmpNamespace(uri: string): uri is CwmpNamespace {
  // Three comparisons (newest first) cost less than hashing a namespace string read from the message.
  return uri === CWMP_NAMESPACES['1.2'] || uri === CWMP_NAMESPACES['1.1'] || uri === CWMP_NAMESPACES['1.0'];
}

// ===========================================================================
// Parsing
// ===========================================================================

function invalid(path: string, message: string): CodecError {
  return new CodecError('INVALID_MESSAGE', `${path}: ${message}`, { path });
}

/**
 * A failure inside a message, thrown with the path below the element that failed and completed
 * on the way up (`under`), then turned into an INVALID_MESSAGE CodecError (`asCodecError`). So the
 * path strings ("Inform/ParameterList[3]/Name") are only built for a message that fails, not for
 * every element of every message.
 */
class Where {
  constructor(
    public path: string,
    readonly reason: string,
  ) {}
}

function fail(reason: string, path = ''): Where {
  return new Where(path, reason);
}

/** `e` with `segment` put in front of its path when it is a Where; else `e`. Returns what to rethrow. */
function under(e: unknown, segment: string): unknown {
  if (e instanceof Where) e.path = segment + e.path;
  return e;
}

/** The CodecError for a Where below `root`; anything else unchanged. Returns what to rethrow. */
function asCodecError(e: unknown, root: string): unknown {
  return e instanceof Where ? invalid(root + e.path, e.reason) : e;
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

const XML_WS_ONLY = /^[ \t\n\r]*$/;

/**
 * Parses a CWMP SOAP envelope (text, or raw bytes whose charset is found from a
 * BOM or the XML declaration; use decodeHttpBody first when you have HTTP headers).
 * An empty or whitespace-only input gives `body: null`.
 * Returns the typed envelope with its namespace and version.
 * Throws CodecError (TOO_LARGE, BAD_ENCODING, DTD_FORBIDDEN, MALFORMED_XML, TOO_DEEP,
 * TOO_MANY_ITEMS, NOT_SOAP, UNKNOWN_NAMESPACE, UNKNOWN_METHOD, INVALID_MESSAGE) and nothing else.
 */
export function parseEnvelope(input: string | Uint8Array, options?: ParseOptions): ParsedEnvelope {
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_BYTES;
  let text: string;
  if (typeof input === 'string') {
    // Each UTF-16 unit is at least one UTF-8 byte: cheap early refusal before counting exactly.
    if (input.length > maxBytes || (input.length * 3 > maxBytes && utf8Length(input) > maxBytes)) {
      throw new CodecError('TOO_LARGE', `body larger than ${maxBytes} bytes`);
    }
    text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  } else if (input instanceof Uint8Array) {
    text = decodeHttpBody(input, {}, { maxBytes });
  } else {
    throw new CodecError('NOT_SOAP', 'input is neither a string nor bytes');
  }
  if (XML_WS_ONLY.test(text)) return { header: {}, body: null, namespace: null, version: '1.0' };
  const root = parseXmlTree(text, {
    maxDepth: options?.maxDepth ?? DEFAULT_MAX_DEPTH,
    maxItems: options?.maxItems ?? DEFAULT_MAX_ITEMS,
  });
  return decodeEnvelopeTree(root);
}

function elementChildren(el: XmlElement, uri: string, local: string): XmlElement | undefined {
  for (const c of el.children) if (c.local === local && c.uri === uri) return c;
  return undefined;
}

/** First child with this local name, in any namespace (CWMP body elements are unqualified; peers vary). */
function child(el: XmlElement, local: string): XmlElement | undefined {
  for (const c of el.children) if (c.local === local) return c;
  return undefined;
}

/**
 * Decodes an already parsed element tree (root = soap-env:Envelope) into a CWMP envelope.
 * Exposed so that other XML front ends can share the CWMP layer (the benchmark does).
 * Returns the envelope; throws CodecError.
 */
export function decodeEnvelopeTree(root: XmlElement): ParsedEnvelope {
  if (root.local !== 'Envelope' || root.uri !== SOAP_ENV_NS) {
    throw new CodecError('NOT_SOAP', `root element is {${root.uri}}${root.local}, expected a SOAP 1.1 Envelope`);
  }
  const headerEl = elementChildren(root, SOAP_ENV_NS, 'Header');
  const bodyEl = elementChildren(root, SOAP_ENV_NS, 'Body');
  if (!bodyEl) throw new CodecError('NOT_SOAP', 'SOAP Envelope without Body');

  const { header, headerNamespace, headerVersion } = decodeHeader(headerEl);
  const bodyChildren = bodyEl.children;
  if (bodyChildren.length > 1) throw invalid('Body', `${bodyChildren.length} elements in the SOAP Body (one RPC per envelope)`);

  let namespace: CwmpNamespace | null = headerNamespace;
  let body: CwmpMessage | null = null;
  const rpc = bodyChildren[0];
  if (rpc) {
    if (rpc.local === 'Fault' && rpc.uri === SOAP_ENV_NS) {
      const fault = decodeFault(rpc);
      body = fault.fault;
      namespace = fault.namespace ?? namespace;
    } else {
      if (!isCwmpNamespace(rpc.uri)) {
        throw new CodecError('UNKNOWN_NAMESPACE', `body element {${rpc.uri}}${rpc.local} is not in a CWMP namespace`);
      }
      namespace = rpc.uri;
      const spec = MESSAGES.get(rpc.local);
      if (!spec) throw new CodecError('UNKNOWN_METHOD', `unknown CWMP method ${rpc.local}`);
      body = decodeMessage(rpc, spec);
    }
  }
  let version: CwmpVersion = namespace ? NAMESPACE_VERSION.get(namespace)! : '1.0';
  if (headerVersion && version === '1.2') version = headerVersion;
  return { header, body, namespace, version };
}

function decodeHeader(headerEl: XmlElement | undefined): {
  header: CwmpHeader;
  headerNamespace: CwmpNamespace | null;
  headerVersion: '1.3' | '1.4' | null;
} {
  const header: CwmpHeader = {};
  let headerNamespace: CwmpNamespace | null = null;
  let headerVersion: '1.3' | '1.4' | null = null;
  if (!headerEl) return { header, headerNamespace, headerVersion };
  for (const h of headerEl.children) {
    if (!isCwmpNamespace(h.uri)) continue; // foreign headers are ignored
    headerNamespace ??= h.uri;
    switch (h.local) {
      case 'ID':
        header.id = h.text;
        break;
      case 'HoldRequests':
        header.holdRequests = boolOrThrow(h.text, `Header/${h.local}`);
        break;
      case 'NoMoreRequests':
        header.noMoreRequests = boolOrThrow(h.text, `Header/${h.local}`);
        break;
      case 'SessionTimeout':
        header.sessionTimeout = intOrThrow(h.text, `Header/${h.local}`, 0, UINT_MAX);
        if (headerVersion === null) headerVersion = '1.3';
        break;
      case 'SupportedCWMPVersions':
        header.supportedCwmpVersions = h.text.trim();
        headerVersion = '1.4';
        break;
      case 'UseCWMPVersion':
        header.useCwmpVersion = h.text.trim();
        headerVersion = '1.4';
        break;
      default:
        break; // unknown CWMP header: ignored (tolerance)
    }
  }
  return { header, headerNamespace, headerVersion };
}

function boolOrThrow(text: string, path: string): boolean {
  try {
    return boolOf(text);
  } catch (e) {
    throw asCodecError(e, path);
  }
}

function intOrThrow(text: string, path: string, min: number, max: number): number {
  try {
    return intOf(text, min, max);
  } catch (e) {
    throw asCodecError(e, path);
  }
}

/** The boolean `text` stands for; throws a Where. */
function boolOf(text: string): boolean {
  const b = parseBoolean(text);
  if (b === null) throw fail(`${JSON.stringify(truncate(text))} is not a boolean`);
  return b;
}

/** The integer `text` stands for, within min..max; throws a Where. */
function intOf(text: string, min: number, max: number): number {
  const n = parseXsdInteger(text);
  if (n === null) throw fail(`${JSON.stringify(truncate(text))} is not an integer`);
  if (n < min || n > max) throw fail(`${n} is out of range ${min}..${max}`);
  return n;
}

function truncate(s: string): string {
  const MAX_SHOWN = 40;
  return s.length > MAX_SHOWN ? `${s.slice(0, MAX_SHOWN)}...` : s;
}

function decodeFault(el: XmlElement): { fault: SoapFault; namespace: CwmpNamespace | null } {
  const codeText = child(el, 'faultcode')?.text.trim() ?? '';
  const localCode = codeText.slice(codeText.indexOf(':') + 1);
  // SOAP 1.2 names (Sender/Receiver) and dotted subcodes are tolerated.
  const faultcode: SoapFault['faultcode'] = /^(Client|Sender)/i.test(localCode) ? 'Client' : 'Server';
  const faultstring = child(el, 'faultstring')?.text ?? '';
  const detail = child(el, 'detail');
  const cwmpFault = detail?.children.find((c) => c.local === 'Fault' && isCwmpNamespace(c.uri));
  if (!cwmpFault) throw invalid('Fault', 'SOAP Fault without a cwmp:Fault detail');
  const codeEl = child(cwmpFault, 'FaultCode');
  if (!codeEl) throw invalid('Fault/detail/Fault/FaultCode', 'missing');
  const faultCode = intOrThrow(codeEl.text, 'Fault/detail/Fault/FaultCode', 0, UINT_MAX);
  const faultString = child(cwmpFault, 'FaultString')?.text ?? '';
  const setParameterValuesFaults: SetParameterValuesFault[] = [];
  let i = 0;
  for (const c of cwmpFault.children) {
    if (c.local !== 'SetParameterValuesFault') continue;
    const path = `Fault/detail/Fault/SetParameterValuesFault[${i++}]`;
    const pcode = child(c, 'FaultCode');
    if (!pcode) throw invalid(`${path}/FaultCode`, 'missing');
    setParameterValuesFaults.push({
      parameterName: child(c, 'ParameterName')?.text ?? '',
      faultCode: intOrThrow(pcode.text, `${path}/FaultCode`, 0, UINT_MAX),
      faultString: child(c, 'FaultString')?.text ?? '',
    });
  }
  return {
    fault: { method: 'Fault', faultcode, faultstring, faultCode, faultString, setParameterValuesFaults },
    namespace: cwmpFault.uri as CwmpNamespace,
  };
}

function decodeMessage(el: XmlElement, spec: MessageSpec): CwmpMessage {
  const out: Record<string, unknown> = { method: spec.method };
  try {
    decodeFields(el, spec.fields, out);
  } catch (e) {
    throw asCodecError(e, spec.method);
  }
  return out as unknown as CwmpMessage;
}

/** Decodes `fields` of `el` into `out`. Throws a Where (path relative to `el`). */
function decodeFields(el: XmlElement, fields: readonly FieldSpec[], out: Record<string, unknown>): void {
  for (const field of fields) {
    try {
      if (field.repeated) {
        const items: unknown[] = [];
        for (const c of el.children) {
          if (c.local !== field.el) continue;
          try {
            items.push(decodeValue(c, field.type));
          } catch (e) {
            throw under(e, `[${items.length}]`);
          }
        }
        if (items.length < field.repeated.minItems) throw fail(`at least ${field.repeated.minItems} expected`);
        out[field.prop] = items;
        continue;
      }
      const c = child(el, field.el);
      if (!c) {
        if (field.optional) continue;
        if (field.parseDefault !== undefined) {
          out[field.prop] = Array.isArray(field.parseDefault) ? [] : field.parseDefault;
          continue;
        }
        throw fail('missing');
      }
      out[field.prop] = decodeValue(c, field.type);
    } catch (e) {
      throw under(e, `/${field.el}`);
    }
  }
}

function isNil(el: XmlElement): boolean {
  const v = attr(el, XSI_NS, 'nil');
  return v !== undefined && (v.trim() === 'true' || v.trim() === '1');
}

/** Decodes one element as `type`. Throws a Where (path relative to `el`). */
function decodeValue(el: XmlElement, type: ValueType): unknown {
  switch (type.t) {
    case 'scalar':
      return decodeScalar(el, type);
    case 'struct': {
      const out: Record<string, unknown> = {};
      decodeFields(el, type.fields, out);
      return out;
    }
    case 'array': {
      // Items are the element children whatever their name; soap-enc:arrayType (and its count) is not trusted.
      const kids = el.children;
      const items: unknown[] = new Array(kids.length);
      for (let i = 0; i < kids.length; i++) {
        try {
          items[i] = decodeValue(kids[i], type.of);
        } catch (e) {
          throw under(e, `[${i}]`);
        }
      }
      return items;
    }
    case 'custom':
      return type.name === 'ParameterValueStruct' ? decodePvs(el) : decodeOperation(el);
  }
}

function decodeScalar(el: XmlElement, type: ScalarType): unknown {
  const text = el.text;
  if (type.nillable && isNil(el)) return '';
  switch (type.kind) {
    case 'string':
    case 'dateTime':
    case 'base64':
    case 'anyURI':
      return text;
    case 'uintText':
      return text.trim();
    case 'bool':
    case 'intBool':
      return boolOf(text);
    case 'uint':
    case 'int': {
      const n = type.kind === 'uint' ? intOf(text, 0, UINT_MAX) : intOf(text, INT_MIN, INT_MAX);
      if (type.enumeration && !type.enumeration.includes(n)) throw fail(`${n} is not one of ${type.enumeration.join(', ')}`);
      return n;
    }
  }
}

/** xsi:type local names accepted for each codec type (xsd:base64Binary and soap-enc:base64 are both "base64"). */
const TYPE_ALIASES: ReadonlyMap<string, XsdType> = new Map([['base64Binary', 'base64']]);

function decodePvs(el: XmlElement): ParameterValueStruct {
  const nameEl = child(el, 'Name');
  if (!nameEl) throw fail('missing', '/Name');
  const valueEl = child(el, 'Value');
  const t = valueEl?.xsiType;
  if (!t) return { name: nameEl.text, value: valueEl?.text ?? '', type: 'string', untyped: true };
  const pvs: ParameterValueStruct = { name: nameEl.text, value: valueEl.text, type: 'string' };
  // Known when the prefix maps to the XSD or SOAP-ENC namespace, or is unbound (a common peer mistake).
  const nsOk = t.uri === null || t.uri === XSD_NS || t.uri === SOAP_ENC_NS || t.uri === '';
  const local = TYPE_ALIASES.get(t.local) ?? t.local;
  if (nsOk && isXsdType(local)) pvs.type = local;
  else pvs.rawType = t.raw;
  return pvs;
}

function decodeOperation(el: XmlElement): ChangeDUStateOperation {
  const kind = el.xsiType?.local;
  const op = kind === 'InstallOpStruct' ? 'Install' : kind === 'UpdateOpStruct' ? 'Update' : kind === 'UninstallOpStruct' ? 'Uninstall' : null;
  if (!op) throw fail(`xsi:type ${JSON.stringify(el.xsiType?.raw ?? '')} is not InstallOpStruct, UpdateOpStruct or UninstallOpStruct`);
  const out: Record<string, unknown> = { op };
  decodeFields(el, OPERATION_FIELDS[op], out);
  return out as unknown as ChangeDUStateOperation;
}

// ===========================================================================
// Building
// ===========================================================================

const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';
const ENVELOPE_OPEN = (ns: string): string =>
  `<soap-env:Envelope xmlns:soap-env="${SOAP_ENV_NS}" xmlns:soap-enc="${SOAP_ENC_NS}" xmlns:xsd="${XSD_NS}" xmlns:xsi="${XSI_NS}" xmlns:cwmp="${ns}">`;
const ENVELOPE_CLOSE = '</soap-env:Envelope>';
/** XML declaration + Envelope start tag of each version, made once. */
const ENVELOPE_HEAD: Readonly<Record<CwmpVersion, string>> = {
  '1.0': XML_DECL + ENVELOPE_OPEN(namespaceForVersion('1.0')),
  '1.1': XML_DECL + ENVELOPE_OPEN(namespaceForVersion('1.1')),
  '1.2': XML_DECL + ENVELOPE_OPEN(namespaceForVersion('1.2')),
  '1.3': XML_DECL + ENVELOPE_OPEN(namespaceForVersion('1.3')),
  '1.4': XML_DECL + ENVELOPE_OPEN(namespaceForVersion('1.4')),
};
const BODY_CLOSE = `</soap-env:Body>${ENVELOPE_CLOSE}`;

/** Body element tags of each method, made once: `<cwmp:M>`, `</cwmp:M>`, `<cwmp:M/>`. */
const BODY_TAGS: ReadonlyMap<string, { open: string; close: string; empty: string }> = new Map(
  [...MESSAGES.keys()].map((m) => [m, { open: `<cwmp:${m}>`, close: `</cwmp:${m}>`, empty: `<cwmp:${m}/>` }]),
);

/** Header elements and the versions whose schema declares them. NoMoreRequests is in none of the BBF schemas. */
const HEADER_VERSIONS: Readonly<Record<keyof CwmpHeader, readonly CwmpVersion[]>> = {
  id: VERSIONS,
  holdRequests: VERSIONS,
  noMoreRequests: [],
  sessionTimeout: ['1.3', '1.4'],
  supportedCwmpVersions: ['1.4'],
  useCwmpVersion: ['1.4'],
};

/**
 * Builds the SOAP envelope text for `envelope` in CWMP version `options.version`
 * (prefixes soap-env, soap-enc, xsd, xsi, cwmp; UTF-8 XML declaration).
 * A null body with an empty header gives '' (the empty HTTP body).
 * Returns XML valid against the version's BBF schema.
 * Throws CodecError: UNSUPPORTED_HEADER (header not in that version's schema),
 * UNKNOWN_METHOD (method not in that version), INVALID_MESSAGE (a value the schema forbids).
 */
export function buildEnvelope(envelope: CwmpEnvelope, options: { version: CwmpVersion }): string {
  const version = options?.version;
  if (typeof envelope !== 'object' || envelope === null) throw new CodecError('INVALID_MESSAGE', 'envelope is not an object');
  if (!VERSIONS.includes(version)) throw new CodecError('UNKNOWN_NAMESPACE', `unknown CWMP version ${JSON.stringify(version)}`);
  const gen = schemaGen(version);
  const headerXml = buildHeader(envelope.header ?? {}, version);
  const body = envelope.body;
  if (body === null && headerXml === '') return '';
  const out = new Out(ENVELOPE_HEAD[version]);
  if (headerXml) out.push('<soap-env:Header>', headerXml, '</soap-env:Header>');
  out.push('<soap-env:Body>');
  if (body !== null) {
    if (typeof body !== 'object' || typeof (body as { method?: unknown }).method !== 'string') {
      throw new CodecError('INVALID_MESSAGE', 'body is not a CWMP message object');
    }
    if (body.method === 'Fault') buildFault(body, gen, out);
    else {
      const spec = MESSAGES.get(body.method);
      if (!spec) throw new CodecError('UNKNOWN_METHOD', `unknown CWMP method ${JSON.stringify(body.method)}`);
      if (spec.since > gen) throw new CodecError('UNKNOWN_METHOD', `${body.method} does not exist in CWMP ${version}`);
      const tags = BODY_TAGS.get(spec.method)!;
      if (spec.fields.length === 0) out.push(tags.empty);
      else {
        out.push(tags.open);
        try {
          buildFields(body as unknown as Record<string, unknown>, spec.fields, gen, out);
        } catch (e) {
          throw asCodecError(e, spec.method);
        }
        out.push(tags.close);
      }
    }
  }
  out.push(BODY_CLOSE);
  return out.s;
}

/** Output accumulator: V8 string concatenation (ropes) beats pushing to an array and joining. */
class Out {
  constructor(public s: string) {}
  push(a: string, b?: string, c?: string, d?: string, e?: string, f?: string): void {
    this.s += a;
    if (b !== undefined) this.s += b;
    if (c !== undefined) this.s += c;
    if (d !== undefined) this.s += d;
    if (e !== undefined) this.s += e;
    if (f !== undefined) this.s += f;
  }
}

function buildHeader(header: CwmpHeader, version: CwmpVersion): string {
  let out = '';
  for (const key of Object.keys(header) as (keyof CwmpHeader)[]) {
    if (header[key] === undefined) continue;
    const allowed = HEADER_VERSIONS[key];
    if (!allowed) throw new CodecError('UNSUPPORTED_HEADER', `unknown header field ${JSON.stringify(key)}`);
    if (!allowed.includes(version)) {
      throw new CodecError('UNSUPPORTED_HEADER', `header ${key} is not defined by the CWMP ${version} schema`, { path: `Header/${key}` });
    }
  }
  if (header.id !== undefined) out += `<cwmp:ID soap-env:mustUnderstand="1">${text(header.id, 'Header/ID')}</cwmp:ID>`;
  if (header.holdRequests !== undefined) {
    out += `<cwmp:HoldRequests soap-env:mustUnderstand="1">${bool(header.holdRequests, 'Header/HoldRequests')}</cwmp:HoldRequests>`;
  }
  if (header.sessionTimeout !== undefined) {
    out += `<cwmp:SessionTimeout soap-env:mustUnderstand="0">${integer(header.sessionTimeout, 0, UINT_MAX, 'Header/SessionTimeout')}</cwmp:SessionTimeout>`;
  }
  if (header.supportedCwmpVersions !== undefined) {
    out += `<cwmp:SupportedCWMPVersions soap-env:mustUnderstand="0">${text(header.supportedCwmpVersions, 'Header/SupportedCWMPVersions')}</cwmp:SupportedCWMPVersions>`;
  }
  if (header.useCwmpVersion !== undefined) {
    out += `<cwmp:UseCWMPVersion soap-env:mustUnderstand="1">${text(header.useCwmpVersion, 'Header/UseCWMPVersion')}</cwmp:UseCWMPVersion>`;
  }
  return out;
}

/** Checks a string can travel in XML 1.0 and returns it escaped; throws CodecError INVALID_MESSAGE at `path`. */
function text(value: unknown, path: string, maxLength?: number): string {
  try {
    return textOf(value, maxLength);
  } catch (e) {
    throw asCodecError(e, path);
  }
}

/** Checks a string can travel in XML 1.0 and returns it escaped; throws a Where. */
function textOf(value: unknown, maxLength?: number): string {
  if (typeof value !== 'string') throw fail(`expected a string, got ${typeof value}`);
  // Most values hold nothing to refuse or escape: one scan instead of two.
  const plain = isPlainXmlText(value);
  if (!plain) {
    const bad = findIllegalXmlChar(value);
    if (bad !== -1) {
      throw fail(`character U+${value.charCodeAt(bad).toString(16).toUpperCase().padStart(4, '0')} at index ${bad} cannot be carried by XML 1.0`);
    }
  }
  if (maxLength !== undefined && value.length > maxLength) {
    // xs:maxLength counts characters (code points), not UTF-16 units.
    let n = 0;
    for (const _ of value) n++;
    if (n > maxLength) throw fail(`${n} characters, at most ${maxLength} allowed`);
  }
  return plain ? value : escapeXml(value);
}

function bool(value: unknown, path: string): string {
  try {
    return boolText(value);
  } catch (e) {
    throw asCodecError(e, path);
  }
}

function boolText(value: unknown): string {
  if (typeof value !== 'boolean') throw fail(`expected a boolean, got ${typeof value}`);
  return value ? 'true' : 'false';
}

function integer(value: unknown, min: number, max: number, path: string): string {
  try {
    return integerText(value, min, max);
  } catch (e) {
    throw asCodecError(e, path);
  }
}

function integerText(value: unknown, min: number, max: number): string {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw fail(`expected an integer, got ${String(value)}`);
  if (value < min || value > max) throw fail(`${value} is out of range ${min}..${max}`);
  return String(value);
}

/** Writes `fields` of `obj`. Throws a Where (path relative to the element holding the fields). */
function buildFields(obj: Record<string, unknown>, fields: readonly FieldSpec[], gen: SchemaGen, out: Out): void {
  if (typeof obj !== 'object' || obj === null) throw fail('expected an object');
  for (const field of fields) {
    const v = obj[field.prop];
    try {
      if (v === undefined) {
        if (field.optional) continue;
        throw fail(`missing (${field.prop})`);
      }
      if (field.repeated) {
        if (!Array.isArray(v)) throw fail('expected an array');
        if (v.length < field.repeated.minItems) throw fail(`at least ${field.repeated.minItems} item(s) required`);
        for (let i = 0; i < v.length; i++) {
          try {
            buildElement(field.el, field.open, field.close, v[i], field.type, gen, out);
          } catch (e) {
            throw under(e, `[${i}]`);
          }
        }
        continue;
      }
      buildElement(field.el, field.open, field.close, v, field.type, gen, out);
    } catch (e) {
      throw under(e, `/${field.el}`);
    }
  }
}

/** Writes element `el` (start and end tags `open`, `close`) holding `v`. Throws a Where (path relative to it). */
function buildElement(el: string, open: string, close: string, v: unknown, type: ValueType, gen: SchemaGen, out: Out): void {
  switch (type.t) {
    case 'scalar':
      out.push(open, buildScalar(v, type, gen), close);
      return;
    case 'struct':
      out.push(open);
      buildFields(v as Record<string, unknown>, type.fields, gen, out);
      out.push(close);
      return;
    case 'array': {
      if (!Array.isArray(v)) throw fail('expected an array');
      if (type.minItems !== undefined && v.length < type.minItems) throw fail(`at least ${type.minItems} item(s) required`);
      if (type.maxItems !== undefined && v.length > type.maxItems) throw fail(`at most ${type.maxItems} item(s) allowed`);
      out.push(`<${el} soap-enc:arrayType="${type.arrayType}[${v.length}]">`);
      for (let i = 0; i < v.length; i++) {
        try {
          buildElement(type.itemEl, type.itemOpen, type.itemClose, v[i], type.of, gen, out);
        } catch (e) {
          throw under(e, `[${i}]`);
        }
      }
      out.push(close);
      return;
    }
    case 'custom':
      if (type.name === 'ParameterValueStruct') buildPvs(open, close, v, out);
      else buildOperation(el, close, v, gen, out);
      return;
  }
}

/** The text of scalar `v`. Throws a Where. */
function buildScalar(v: unknown, type: ScalarType, gen: SchemaGen): string {
  let result: string;
  switch (type.kind) {
    case 'string':
    case 'anyURI': {
      result = textOf(v, type.maxLength);
      if (type.kind === 'anyURI' && /[ \t\n\r]/.test(v as string)) throw fail('a URI cannot contain whitespace');
      if (type.enumeration && !type.enumeration.includes(v as string)) throw fail(`${JSON.stringify(v)} is not one of ${type.enumeration.join(', ')}`);
      break;
    }
    case 'dateTime':
    case 'base64':
    case 'uintText': {
      result = textOf(v);
      const err = validateXsdValue(type.kind === 'uintText' ? 'unsignedInt' : type.kind, v as string);
      if (err) throw fail(err);
      break;
    }
    case 'bool':
      return boolText(v);
    case 'intBool':
      if (typeof v !== 'boolean') throw fail(`expected a boolean, got ${typeof v}`);
      return v ? '1' : '0';
    case 'uint':
    case 'int': {
      result = type.kind === 'uint' ? integerText(v, type.min ?? 0, UINT_MAX) : integerText(v, type.min ?? INT_MIN, INT_MAX);
      if (type.enumeration && !type.enumeration.includes(v as number)) throw fail(`${String(v)} is not one of ${type.enumeration.join(', ')}`);
      break;
    }
  }
  if (type.check) {
    const err = (type.check as (value: unknown, gen: SchemaGen) => string | null)(v, gen);
    if (err) throw fail(err);
  }
  return result;
}

/** xsi:type attribute written for each codec type. base64 uses soap-enc:base64, the type the CWMP schemas themselves use. */
const XSI_TYPE_ATTR: Readonly<Record<XsdType, string>> = {
  string: ' xsi:type="xsd:string"',
  int: ' xsi:type="xsd:int"',
  unsignedInt: ' xsi:type="xsd:unsignedInt"',
  long: ' xsi:type="xsd:long"',
  unsignedLong: ' xsi:type="xsd:unsignedLong"',
  boolean: ' xsi:type="xsd:boolean"',
  dateTime: ' xsi:type="xsd:dateTime"',
  base64: ' xsi:type="soap-enc:base64"',
  hexBinary: ' xsi:type="xsd:hexBinary"',
  decimal: ' xsi:type="xsd:decimal"',
};

const NAME_MAX = 256;

function buildPvs(open: string, close: string, v: unknown, out: Out): void {
  if (typeof v !== 'object' || v === null) throw fail('expected a ParameterValueStruct');
  const p = v as ParameterValueStruct;
  let name: string;
  try {
    name = textOf(p.name, NAME_MAX);
  } catch (e) {
    throw under(e, '/Name');
  }
  let value: string;
  try {
    value = textOf(p.value);
  } catch (e) {
    throw under(e, '/Value');
  }
  if (!isXsdType(p.type)) throw fail(`unknown type ${JSON.stringify(p.type)}`, '/Value');
  const err = validateXsdValue(p.type, p.value);
  if (err) throw fail(`${JSON.stringify(truncate(p.value))}: ${err}`, '/Value');
  // A value that arrived without xsi:type is passed on without one (valid: Value is xs:anySimpleType).
  const typeAttr = p.untyped === true && p.type === 'string' ? '' : XSI_TYPE_ATTR[p.type];
  out.push(open, '<Name>', name, '</Name><Value', typeAttr, '>');
  out.push(value, '</Value>', close);
}

function buildOperation(el: string, close: string, v: unknown, gen: SchemaGen, out: Out): void {
  const op = (v as { op?: unknown } | null)?.op;
  if (op !== 'Install' && op !== 'Update' && op !== 'Uninstall') throw fail(`op must be Install, Update or Uninstall`);
  out.push(`<${el} xsi:type="cwmp:${op}OpStruct">`);
  buildFields(v as Record<string, unknown>, OPERATION_FIELDS[op], gen, out);
  out.push(close);
}

function buildFault(fault: SoapFault, gen: SchemaGen, out: Out): void {
  if (fault.faultcode !== 'Client' && fault.faultcode !== 'Server') throw invalid('Fault/faultcode', 'must be Client or Server');
  const code = integer(fault.faultCode, 0, UINT_MAX, 'Fault/detail/Fault/FaultCode');
  const codeErr = faultCodeCheck(fault.faultCode, gen);
  if (codeErr) throw invalid('Fault/detail/Fault/FaultCode', codeErr);
  out.push(
    '<soap-env:Fault>',
    `<faultcode>${fault.faultcode}</faultcode>`,
    `<faultstring>${text(fault.faultstring, 'Fault/faultstring')}</faultstring>`,
    '<detail><cwmp:Fault>',
    `<FaultCode>${code}</FaultCode>`,
    `<FaultString>${text(fault.faultString, 'Fault/detail/Fault/FaultString')}</FaultString>`,
  );
  const spv = fault.setParameterValuesFaults ?? [];
  if (!Array.isArray(spv)) throw invalid('Fault/detail/Fault/SetParameterValuesFault', 'expected an array');
  for (let i = 0; i < spv.length; i++) {
    const p = spv[i];
    const path = `Fault/detail/Fault/SetParameterValuesFault[${i}]`;
    const pcode = integer(p?.faultCode, 0, UINT_MAX, `${path}/FaultCode`);
    const err = spvFaultCodeCheck(p.faultCode, gen);
    if (err) throw invalid(`${path}/FaultCode`, err);
    out.push(
      '<SetParameterValuesFault>',
      `<ParameterName>${text(p.parameterName, `${path}/ParameterName`)}</ParameterName>`,
      `<FaultCode>${pcode}</FaultCode>`,
      `<FaultString>${text(p.faultString, `${path}/FaultString`)}</FaultString>`,
      '</SetParameterValuesFault>',
    );
  }
  out.push('</cwmp:Fault></detail></soap-env:Fault>');
}
