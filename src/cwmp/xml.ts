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
 * Safety: the input size is checked first; a DOCTYPE or ENTITY declaration anywhere
 * is refused by a linear scan BEFORE parsing (so nothing is ever expanded; the text
 * "<!DOCTYPE" inside a CDATA section or comment is refused too, deliberately); depth
 * and children-per-element are counted while parsing and abort it on the first
 * excess, so every input is handled in time linear in its (bounded) size.
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { CodecError } from './errors.ts';

export interface XmlAttr {
  uri: string;
  local: string;
  value: string;
}

export interface XmlElement {
  /** Namespace URI ('' when the element is in no namespace). */
  uri: string;
  local: string;
  attrs: XmlAttr[];
  children: XmlElement[];
  /** Character data directly inside this element (text and CDATA, concatenated). */
  text: string;
  /**
   * xsi:type resolved against the in-scope namespaces when present:
   * `typeUri` is the namespace of the prefix ('' when unprefixed, null when the prefix is not bound).
   */
  xsiType?: { raw: string; uri: string | null; local: string };
}

export interface XmlLimits {
  maxDepth: number;
  maxItems: number;
}

export const XSI_NS_URI = 'http://www.w3.org/2001/XMLSchema-instance';

/** Attribute value by namespace URI and local name, or undefined. */
export function attr(el: XmlElement, uri: string, local: string): string | undefined {
  for (const a of el.attrs) if (a.local === local && a.uri === uri) return a.value;
  return undefined;
}

/**
 * Refuses DTDs and entity declarations before any parsing. XML is case-sensitive,
 * but a lower-case `<!doctype` is refused too (it would be malformed anyway).
 * Returns nothing; throws CodecError DTD_FORBIDDEN.
 */
export function refuseDtd(xml: string): void {
  let i = xml.indexOf('<!');
  while (i !== -1) {
    const next = xml.charCodeAt(i + 2);
    // '<!-' (comment) and '<![' (CDATA) are fine; anything else starting with a letter is a declaration.
    if (next !== 0x2d && next !== 0x5b) {
      const word = xml.slice(i + 2, i + 9).toUpperCase();
      if (word.startsWith('DOCTYPE') || word.startsWith('ENTITY')) {
        throw new CodecError('DTD_FORBIDDEN', `${word.startsWith('DOCTYPE') ? 'DOCTYPE' : 'ENTITY'} declaration at offset ${i} (DTDs and entities are not accepted)`);
      }
    }
    i = xml.indexOf('<!', i + 2);
  }
}

/**
 * Parses an XML document into a namespace-resolved element tree.
 * Returns the root element. Throws CodecError: DTD_FORBIDDEN, MALFORMED_XML,
 * TOO_DEEP (more than limits.maxDepth nested elements), TOO_MANY_ITEMS (an element
 * with more than limits.maxItems child elements).
 */
export function parseXmlTree(xml: string, limits: XmlLimits): XmlElement {
  refuseDtd(xml);
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;

  parser.on('error', (err: Error) => {
    throw new CodecError('MALFORMED_XML', err.message);
  });
  parser.on('doctype', () => {
    throw new CodecError('DTD_FORBIDDEN', 'DOCTYPE declaration');
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    if (stack.length >= limits.maxDepth) {
      throw new CodecError('TOO_DEEP', `elements nested deeper than ${limits.maxDepth}`);
    }
    const attrs: XmlAttr[] = [];
    let xsiType: XmlElement['xsiType'];
    for (const key in tag.attributes) {
      const a = tag.attributes[key];
      if (a.uri === 'http://www.w3.org/2000/xmlns/') continue;
      attrs.push({ uri: a.uri, local: a.local, value: a.value });
      if (a.local === 'type' && a.uri === XSI_NS_URI) {
        const raw = a.value.trim();
        const colon = raw.indexOf(':');
        const prefix = colon === -1 ? '' : raw.slice(0, colon);
        const uri = parser.resolve(prefix);
        xsiType = { raw: a.value, uri: uri ?? (prefix === '' ? '' : null), local: raw.slice(colon + 1) };
      }
    }
    const el: XmlElement = { uri: tag.uri, local: tag.local, attrs, children: [], text: '' };
    if (xsiType) el.xsiType = xsiType;
    const parent = stack[stack.length - 1];
    if (parent) {
      if (parent.children.length >= limits.maxItems) {
        throw new CodecError('TOO_MANY_ITEMS', `<${parent.local}> has more than ${limits.maxItems} child elements`);
      }
      parent.children.push(el);
    } else {
      root = el;
    }
    stack.push(el);
  });
  parser.on('closetag', () => {
    stack.pop();
  });
  parser.on('text', (t: string) => {
    const cur = stack[stack.length - 1];
    if (cur) cur.text += t;
  });
  parser.on('cdata', (t: string) => {
    const cur = stack[stack.length - 1];
    if (cur) cur.text += t;
  });

  try {
    parser.write(xml).close();
  } catch (e) {
    if (e instanceof CodecError) throw e;
    // saxes reports through the error handler; anything else is an internal failure of the parser.
    throw new CodecError('MALFORMED_XML', e instanceof Error ? e.message : String(e), { cause: e });
  }
  if (!root) throw new CodecError('MALFORMED_XML', 'no root element');
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
