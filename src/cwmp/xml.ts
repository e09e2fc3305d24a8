/**
 * XML layer of the codec: bytes-free text in, a small namespace-resolved element
 * tree out (parseXmlTree), and the escaping used by the builder.
 *
 * XML library decision (measured by bench/codec.bench.ts, `npm run bench -- codec`, same run,
 * Node 20, 2 shared and busy cores (load ~5), so absolute figures are noisy; messages per second
 * for the whole parseEnvelope/buildEnvelope, element tree + CWMP decoding included):
 *
 *   approach                               Inform parse  Inform build  GPVR-1000 parse  GPVR-1000 build
 *   saxes 6 + own builder (chosen)              16,646        75,835              181            1,855
 *   fast-xml-parser 5 (validate+parse; build)    3,996        21,497               68              133
 *   hand-written tokenizer, NO checks (ref.)    35,424             -              424                -
 *
 * (latest run: bench/results/codec.json). saxes is 2.7-4x faster than fast-xml-parser
 * for parsing, is a strict XML 1.0 + Namespaces well-formedness checker (fast-xml-parser
 * needs its separate XMLValidator pass for that and has no namespace resolution, which
 * CWMP needs since any prefix must work), and never expands entities beyond the five
 * predefined ones and character references. A hand-written tokenizer that checks
 * nothing is only ~2-2.5x faster than saxes: not enough to justify owning (and fuzzing)
 * a well-formedness checker, so we stay on a well-kept library.
 * Building is string concatenation with our own escaping, driven by the message table:
 * 3.5-14x faster than fast-xml-parser's XMLBuilder serialising an already-built object.
 *
 * How saxes is driven (issue 9, the boot storm): namespaces are resolved here, not by saxes'
 * `xmlns` mode (see TreeParser), one parser is reused, leaves share frozen empty arrays, an
 * attribute repeated in one scope is resolved once. Codec CPU of one storm session (`npm run
 * bench -- codec`, second table, back-to-back runs of the code before and after): ACS side (parse
 * Inform, empty POST, SPVResponse, GPVResponse; build InformResponse, SPV, GPV) 92 -> 58 us, load
 * side 61 -> 39 us; GC during it 3.8 -> 1.9 ms (ACS) and 2.9 -> 1.3 ms (load) per 1,000 sessions.
 *
 * Safety: the input size is checked first; a DOCTYPE or ENTITY declaration anywhere
 * is refused by a linear scan BEFORE parsing (so nothing is ever expanded; the text
 * "<!DOCTYPE" inside a CDATA section or comment is refused too, deliberately); depth
 * and children-per-element are counted while parsing and abort it on the first
 * excess, so every input is handled in time linear in its (bounded) size.
 */
import { SaxesParser, type SaxesAttributePlain, type SaxesTagPlain } from 'saxes';
import { CodecError } from './errors.ts';
import { CWMP_NAMESPACES, SOAP_ENC_NS, SOAP_ENV_NS, XSD_NS, XSI_NS } from './types.ts';

/** An attribute. Possibly shared by several elements of a document (frozen then): never modify one. */
export interface XmlAttr {
  readonly uri: string;
  readonly local: string;
  readonly value: string;
}

export interface XmlElement {
  /** Namespace URI ('' when the element is in no namespace). */
  uri: string;
  local: string;
  /** Attributes other than namespace declarations (a shared frozen empty array when there are none). */
  attrs: readonly XmlAttr[];
  /** Child elements in document order (a shared frozen empty array when there are none). */
  children: readonly XmlElement[];
  /** Character data directly inside this element (text and CDATA, concatenated). */
  text: string;
  /**
   * xsi:type resolved against the in-scope namespaces when present:
   * `typeUri` is the namespace of the prefix ('' when unprefixed, null when the prefix is not bound).
   */
  xsiType?: { readonly raw: string; readonly uri: string | null; readonly local: string };
}

export interface XmlLimits {
  maxDepth: number;
  maxItems: number;
}

export const XSI_NS_URI = XSI_NS;
/** The namespaces the prefixes `xml` and `xmlns` are bound to by definition (Namespaces in XML 1.0, section 3). */
const XML_NS_URI = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS_URI = 'http://www.w3.org/2000/xmlns/';
const XMLNS = 'xmlns';
const COLON = 0x3a;

/**
 * The namespaces the codec compares element and attribute URIs with, as the very string constants
 * it compares with: a declaration of one of them binds the constant, so each later comparison
 * succeeds on identity instead of comparing ~40 characters.
 */
const CANONICAL_URIS: ReadonlyMap<string, string> = new Map(
  [SOAP_ENV_NS, SOAP_ENC_NS, XSD_NS, XSI_NS, ...Object.values(CWMP_NAMESPACES)].map((u) => [u, u]),
);

/** Shared by every element without attributes / children: leaves are most of a CWMP message. */
const NO_ATTRS: readonly XmlAttr[] = Object.freeze([]);
const NO_CHILDREN: readonly XmlElement[] = Object.freeze([]);
/** Up to this many prefixed attributes on one element, duplicates are looked for pairwise; beyond, with a Set (linear). */
const PAIRWISE_DUPLICATE_MAX = 8;

/** Attribute value by namespace URI and local name, or undefined. */
export function attr(el: XmlElement, uri: string, local: string): string | undefined {
  for (const a of el.attrs) if (a.local === local && a.uri === uri) return a.value;
  return undefined;
}

/** Markup starting with "<!" (comment, CDATA, declaration) or "<?" (XML declaration, processing instruction). */
const BANG_OR_PI = /<[!?]/g;

/**
 * One pass over the text before parsing: refuses DTDs and entity declarations (XML is
 * case-sensitive, but a lower-case `<!doctype` is refused too: it would be malformed anyway),
 * and tells whether there is a processing instruction other than the XML declaration at the start.
 * Returns that flag; throws CodecError DTD_FORBIDDEN.
 */
function prescan(xml: string): boolean {
  let pi = false;
  BANG_OR_PI.lastIndex = 0;
  for (let m = BANG_OR_PI.exec(xml); m !== null; m = BANG_OR_PI.exec(xml)) {
    const i = m.index;
    const next = xml.charCodeAt(i + 2);
    if (xml.charCodeAt(i + 1) === 0x3f) {
      // saxes takes "<?xml" + whitespace at offset 0 as the declaration; anywhere else it is a PI (and an error).
      if (!(i === 0 && xml.startsWith('xml', 2) && isXmlSpace(xml.charCodeAt(5)))) pi = true;
      continue;
    }
    // '<!-' (comment) and '<![' (CDATA) are fine; anything else starting with a letter is a declaration.
    if (next !== 0x2d && next !== 0x5b) {
      const word = xml.slice(i + 2, i + 9).toUpperCase();
      if (word.startsWith('DOCTYPE') || word.startsWith('ENTITY')) {
        throw new CodecError('DTD_FORBIDDEN', `${word.startsWith('DOCTYPE') ? 'DOCTYPE' : 'ENTITY'} declaration at offset ${i} (DTDs and entities are not accepted)`);
      }
    }
  }
  return pi;
}

function isXmlSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Refuses DTDs and entity declarations before any parsing (see prescan).
 * Returns nothing; throws CodecError DTD_FORBIDDEN.
 */
export function refuseDtd(xml: string): void {
  prescan(xml);
}

/**
 * One saxes parser (run WITHOUT its namespace mode) and the element tree it builds.
 *
 * Why not saxes' `xmlns: true`: it costs an object per attribute and per qualified name, a Set and
 * a `{uri}local` string per element with attributes, and a prefix lookup walking every open tag
 * (processAttribsNS was the top saxes function of the storm's profile). CWMP messages declare their
 * few prefixes on the Envelope, so the bindings in scope are kept here in two flat arrays (innermost
 * last) and resolved by a short backwards scan, with the same well-formedness rules as saxes'
 * namespace mode (Namespaces in XML 1.0: malformed qualified names, unbound prefixes, the reserved
 * `xml`/`xmlns` prefixes and namespaces, no undeclaring a prefix in XML 1.0, duplicate attributes by
 * expanded name, no colon in a processing instruction target). Errors go through saxes' own `fail`
 * so that they carry its line:column position.
 *
 * An instance is reused from one document to the next (saxes resets itself at the end of a
 * document): never after a failure (its state is then mid-document), never by two parses at once.
 *
 * Handlers are kept to the minimum on purpose: saxes stores each one as a property added to the
 * parser after construction, and one property too many turns the parser into a dictionary-mode
 * object in V8, which made every parse about 4x slower (measured: 7 handlers fine, 8 not; xml.test.ts
 * checks the parser keeps fast properties). So there is no 'doctype' handler (prescan has refused
 * any DOCTYPE before saxes sees it) and the processing instruction check has its own parser
 * instance, used only for the (rare) documents that contain a processing instruction.
 *
 * Exported for tests only: use parseXmlTree.
 */
export class TreeParser {
  private readonly parser = new SaxesParser({ position: true });
  private maxDepth = 0;
  private maxItems = 0;
  private readonly stack: XmlElement[] = [];
  private root: XmlElement | null = null;
  /** Namespace bindings in scope: prefix ('' for the default namespace) and URI, innermost last. */
  private readonly nsPrefixes: string[] = [];
  private readonly nsUris: string[] = [];
  private nsCount = 0;
  /** The default namespace in scope ('' when none): most CWMP elements are unprefixed. */
  private defaultUri = '';
  /** Changes whenever the bindings in scope change (never repeats, even across documents). */
  private scope = 0;
  /**
   * The last element with exactly one attribute (not a declaration): that attribute's raw name and
   * value, the scope it was resolved in, and the results. The next element with the same attribute
   * in the same scope shares them (frozen): in CWMP that is every `<Value xsi:type="xsd:string">`.
   */
  private lastAttrName = '';
  private lastAttrValue = '';
  private lastAttrScope = -1;
  private lastAttrs: readonly XmlAttr[] = NO_ATTRS;
  private lastXsiType: XmlElement['xsiType'];
  /** nsCount before each open element's own declarations (parallel to `stack`). */
  private readonly nsMarks: number[] = [];
  /** Attributes of the tag being opened, as saxes reported them (names still qualified). */
  private readonly attrNames: string[] = [];
  private readonly attrValues: string[] = [];
  private attrCount = 0;
  /** The prefixed attributes of the tag being opened (duplicate check). */
  private readonly prefixedAttrs: XmlAttr[] = [];

  /** @param checkPiTargets whether to look at processing instructions (see the class comment). */
  constructor(checkPiTargets: boolean) {
    const p = this.parser;
    p.on('error', (err: Error) => {
      throw new CodecError('MALFORMED_XML', err.message);
    });
    if (checkPiTargets) {
      p.on('processinginstruction', (pi) => {
        // saxes' namespace mode requires an NCName target.
        if (pi.target.includes(':')) p.fail('disallowed character in processing instruction name.');
      });
    }
    p.on('attribute', (a: SaxesAttributePlain) => {
      this.attrNames[this.attrCount] = a.name;
      this.attrValues[this.attrCount] = a.value;
      this.attrCount++;
    });
    p.on('opentag', (tag: Pick<SaxesTagPlain, 'name'>) => this.open(tag.name));
    p.on('closetag', () => {
      this.stack.pop();
      const mark = this.nsMarks.pop()!;
      if (mark !== this.nsCount) {
        // The element had declarations: back to its parent's scope.
        this.nsCount = mark;
        this.scope++;
        this.defaultUri = this.lookup('') ?? '';
      }
    });
    p.on('text', (t: string) => {
      const cur = this.stack[this.stack.length - 1];
      if (cur) cur.text += t;
    });
    p.on('cdata', (t: string) => {
      const cur = this.stack[this.stack.length - 1];
      if (cur) cur.text += t;
    });
  }

  /** Parses one document; returns its root element. Throws CodecError (see parseXmlTree). */
  parse(xml: string, limits: XmlLimits): XmlElement {
    this.maxDepth = limits.maxDepth;
    this.maxItems = limits.maxItems;
    try {
      this.parser.write(xml).close();
    } catch (e) {
      if (e instanceof CodecError) throw e;
      // saxes reports through the error handler; anything else is an internal failure of the parser.
      throw new CodecError('MALFORMED_XML', e instanceof Error ? e.message : String(e), { cause: e });
    }
    const root = this.root;
    this.root = null;
    // Nothing of this document stays referenced by the idle parser.
    this.lastAttrName = this.lastAttrValue = '';
    this.lastAttrScope = -1;
    this.lastAttrs = NO_ATTRS;
    this.lastXsiType = undefined;
    this.attrNames.length = 0;
    this.attrValues.length = 0;
    this.prefixedAttrs.length = 0;
    if (!root) throw new CodecError('MALFORMED_XML', 'no root element');
    return root;
  }

  /** The URI bound to `prefix` in scope, or undefined. */
  private lookup(prefix: string): string | undefined {
    const prefixes = this.nsPrefixes;
    for (let i = this.nsCount - 1; i >= 0; i--) if (prefixes[i] === prefix) return this.nsUris[i];
    if (prefix === 'xml') return XML_NS_URI;
    if (prefix === XMLNS) return XMLNS_NS_URI;
    return undefined;
  }

  /** Adds a binding of the element being opened, with saxes' checks. */
  private declare(prefix: string, value: string): void {
    const trimmed = value.trim();
    const uri = CANONICAL_URIS.get(trimmed) ?? trimmed;
    if (prefix !== '' && uri === '' && this.parser.xmlDecl.version !== '1.1') this.parser.fail('invalid attempt to undefine prefix in XML 1.0');
    if (prefix === 'xml' && uri !== XML_NS_URI) this.parser.fail(`xml prefix must be bound to ${XML_NS_URI}.`);
    if (prefix === XMLNS && uri !== XMLNS_NS_URI) this.parser.fail(`xmlns prefix must be bound to ${XMLNS_NS_URI}.`);
    if (uri === XMLNS_NS_URI) {
      this.parser.fail(prefix === '' ? `the default namespace may not be set to ${uri}.` : `may not assign a prefix (even "xmlns") to the URI ${XMLNS_NS_URI}.`);
    }
    if (uri === XML_NS_URI && prefix !== 'xml') {
      this.parser.fail(prefix === '' ? `the default namespace may not be set to ${uri}.` : 'may not assign the xml namespace to another prefix.');
    }
    this.nsPrefixes[this.nsCount] = prefix;
    this.nsUris[this.nsCount] = uri;
    this.nsCount++;
    this.scope++;
    if (prefix === '') this.defaultUri = uri;
  }

  private malformed(name: string): never {
    this.parser.fail(`malformed name: ${name}.`);
    throw new CodecError('MALFORMED_XML', `malformed name: ${name}`); // not reached: the error handler throws
  }

  private open(name: string): void {
    const p = this.parser;
    const names = this.attrNames;
    const values = this.attrValues;
    const count = this.attrCount;
    this.attrCount = 0;
    const mark = this.nsCount;

    // 1. This element's namespace declarations come into scope for its own name and attributes.
    let others = 0;
    for (let i = 0; i < count; i++) {
      const n = names[i];
      if (n.startsWith(XMLNS)) {
        if (n.length === XMLNS.length) {
          this.declare('', values[i]);
          continue;
        }
        if (n.charCodeAt(XMLNS.length) === COLON) {
          const prefix = n.slice(XMLNS.length + 1);
          if (prefix === '' || prefix.includes(':')) this.malformed(n);
          this.declare(prefix, values[i]);
          continue;
        }
      }
      others++;
    }

    // 2. The element's name.
    const colon = name.indexOf(':');
    let local = name;
    let uri: string;
    if (colon === -1) uri = this.defaultUri;
    else {
      const prefix = name.slice(0, colon);
      local = name.slice(colon + 1);
      if (prefix === '' || local === '' || local.includes(':')) this.malformed(name);
      if (prefix === XMLNS) p.fail('tags may not have "xmlns" as prefix.');
      uri = this.lookup(prefix) ?? '';
      if (uri === '') p.fail(`unbound namespace prefix: ${JSON.stringify(prefix)}.`);
    }

    // 3. Other attributes: unprefixed ones are in no namespace (the default namespace does not apply).
    let attrs = NO_ATTRS;
    let xsiType: XmlElement['xsiType'];
    if (count === 1 && others === 1 && names[0] === this.lastAttrName && values[0] === this.lastAttrValue && this.scope === this.lastAttrScope) {
      attrs = this.lastAttrs;
      xsiType = this.lastXsiType;
    } else if (others > 0) {
      const list: XmlAttr[] = [];
      let prefixed = 0;
      for (let i = 0; i < count; i++) {
        const n = names[i];
        if (n.startsWith(XMLNS) && (n.length === XMLNS.length || n.charCodeAt(XMLNS.length) === COLON)) continue;
        const value = values[i];
        const c = n.indexOf(':');
        if (c === -1) {
          list.push({ uri: '', local: n, value });
          continue;
        }
        const prefix = n.slice(0, c);
        const aLocal = n.slice(c + 1);
        if (prefix === '' || aLocal === '' || aLocal.includes(':')) this.malformed(n);
        const aUri = this.lookup(prefix);
        if (aUri === undefined) p.fail(`unbound namespace prefix: ${JSON.stringify(prefix)}.`);
        const a: XmlAttr = { uri: aUri!, local: aLocal, value };
        list.push(a);
        this.prefixedAttrs[prefixed++] = a;
        if (aLocal === 'type' && aUri === XSI_NS_URI) {
          const raw = value.trim();
          const tc = raw.indexOf(':');
          const tPrefix = tc === -1 ? '' : raw.slice(0, tc);
          xsiType = { raw: value, uri: this.lookup(tPrefix) ?? (tPrefix === '' ? '' : null), local: raw.slice(tc + 1) };
        }
      }
      // saxes refused a repeated raw name; two prefixes bound to one URI can still clash. An unprefixed
      // attribute never clashes with a prefixed one (saxes' namespace mode compares `name` with `{uri}local`).
      if (prefixed > 1) this.refuseDuplicates(prefixed);
      attrs = list;
      if (count === 1) {
        Object.freeze(list[0]);
        attrs = this.lastAttrs = Object.freeze(list);
        if (xsiType) Object.freeze(xsiType);
        this.lastXsiType = xsiType;
        this.lastAttrName = names[0];
        this.lastAttrValue = values[0];
        this.lastAttrScope = this.scope;
      }
    }

    // 4. Limits, then the tree.
    const stack = this.stack;
    if (stack.length >= this.maxDepth) throw new CodecError('TOO_DEEP', `elements nested deeper than ${this.maxDepth}`);
    const el: XmlElement = { uri, local, attrs, children: NO_CHILDREN, text: '', xsiType };
    const parent = stack[stack.length - 1];
    if (parent) {
      let kids = parent.children;
      if (kids.length >= this.maxItems) throw new CodecError('TOO_MANY_ITEMS', `<${parent.local}> has more than ${this.maxItems} child elements`);
      if (kids === NO_CHILDREN) parent.children = kids = [];
      (kids as XmlElement[]).push(el);
    } else {
      this.root = el;
    }
    stack.push(el);
    this.nsMarks.push(mark);
  }

  /** Fails on two of the first `n` entries of `prefixedAttrs` with the same expanded name ({uri}local). */
  private refuseDuplicates(n: number): void {
    const list = this.prefixedAttrs;
    if (n <= PAIRWISE_DUPLICATE_MAX) {
      for (let i = 0; i < n; i++) {
        const a = list[i];
        for (let j = i + 1; j < n; j++) if (list[j].local === a.local && list[j].uri === a.uri) this.duplicate(list[j]);
      }
      return;
    }
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const key = `{${list[i].uri}}${list[i].local}`;
      if (seen.has(key)) this.duplicate(list[i]);
      seen.add(key);
    }
  }

  private duplicate(a: XmlAttr): void {
    this.parser.fail(`duplicate attribute: {${a.uri}}${a.local}.`);
  }
}
/** Parsers ready for the next document (see TreeParser): without and with the processing instruction check. */
let idleParser: TreeParser | null = null;
let idlePiParser: TreeParser | null = null;

/**
 * Parses an XML document into a namespace-resolved element tree.
 * Returns the root element. Throws CodecError: DTD_FORBIDDEN, MALFORMED_XML,
 * TOO_DEEP (more than limits.maxDepth nested elements), TOO_MANY_ITEMS (an element
 * with more than limits.maxItems child elements).
 */
export function parseXmlTree(xml: string, limits: XmlLimits): XmlElement {
  // Taken out while in use: a parse that fails leaves its parser mid-document, and it is dropped.
  if (prescan(xml)) {
    const parser = idlePiParser ?? new TreeParser(true);
    idlePiParser = null;
    const root = parser.parse(xml, limits);
    idlePiParser = parser;
    return root;
  }
  const parser = idleParser ?? new TreeParser(false);
  idleParser = null;
  const root = parser.parse(xml, limits);
  idleParser = parser;
  return root;
}

// ---------------------------------------------------------------------------
// Escaping (builder side)
// ---------------------------------------------------------------------------

/** Characters not allowed anywhere in an XML 1.0 document, not even as character references. */
const XML_ILLEGAL_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const XML_ILLEGAL_CHAR_G = new RegExp(XML_ILLEGAL_CHAR.source, 'g');
const NEEDS_ESCAPE = /[&<>"'\r\u007F-\u009F]/;
const NEEDS_ESCAPE_G = /[&<>"'\r\u007F-\u009F]/g;

/**
 * Any character that is not plainly safe as XML text: markup and quote characters, CR, controls
 * (C0 other than TAB/LF, DEL and C1), surrogates (paired or not) and U+FFFE/FFFF. Most values have
 * none, and one scan for this saves the two precise scans (illegal characters, escaping) below.
 */
const NOT_PLAIN_TEXT = /[^\t\n\x20\x21\x23-\x25\x28-\x3B\x3D\x3F-\x7E\u00A0-\uD7FF\uE000-\uFFFD]/;

/** True when `s` can be written as XML text or attribute value as it is (nothing to refuse, nothing to escape). */
export function isPlainXmlText(s: string): boolean {
  return !NOT_PLAIN_TEXT.test(s);
}

/** Index of the first character illegal in XML 1.0 in `s`, or -1. */
export function findIllegalXmlChar(s: string): number {
  const m = XML_ILLEGAL_CHAR.exec(s);
  return m ? m.index : -1;
}

/** `s` without the characters XML 1.0 cannot carry (C0 controls other than TAB/LF/CR, U+FFFE/FFFF, lone surrogates). */
export function stripIllegalXmlChars(s: string): string {
  return s.replace(XML_ILLEGAL_CHAR_G, '');
}

function escapeChar(c: string): string {
  switch (c) {
    case '&':
      return '&amp;';
    case '<':
      return '&lt;';
    case '>':
      return '&gt;';
    case '"':
      return '&quot;';
    case "'":
      return '&apos;';
    default:
      // CR (would be normalised to LF by every parser) and C1 controls travel as character references.
      return `&#${c.charCodeAt(0)};`;
  }
}

/**
 * XML-escapes text content or an attribute value (& < > " ' and CR/C1 controls as
 * character references). The caller must have refused illegal characters first
 * (see findIllegalXmlChar). Returns the escaped text.
 */
export function escapeXml(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(NEEDS_ESCAPE_G, escapeChar);
}
