/**
 * The XML layer's own namespace resolution (saxes runs without its namespace mode, see TreeParser)
 * against a reference: the previous implementation, saxes' `xmlns: true` mode building the same
 * tree. Every document below, and generated ones, must give the same tree or fail with the same
 * CodecError code in both. Plus: parser reuse after failures, and the parser object keeping V8 fast
 * properties (the reason the number of saxes handlers is kept low).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { SaxesParser, type SaxesTagNS } from 'saxes';
import { CodecError } from './errors.ts';
import { parseXmlTree, refuseDtd, XSI_NS_URI, type XmlAttr, type XmlElement, type XmlLimits } from './xml.ts';

const LIMITS: XmlLimits = { maxDepth: 32, maxItems: 20000 };
const XSI = XSI_NS_URI;
const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';
const CWMP = 'urn:dslforum-org:cwmp-1-2';
const RUNS = 300;

/** The reference: saxes resolving namespaces itself (the implementation before TreeParser). */
function referenceTree(xml: string, limits: XmlLimits): XmlElement {
  refuseDtd(xml);
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: { uri: string; local: string; attrs: XmlAttr[]; children: XmlElement[]; text: string; xsiType?: XmlElement['xsiType'] }[] = [];
  let root: XmlElement | null = null;
  parser.on('error', (err: Error) => {
    throw new CodecError('MALFORMED_XML', err.message);
  });
  parser.on('opentag', (tag: SaxesTagNS) => {
    if (stack.length >= limits.maxDepth) throw new CodecError('TOO_DEEP', 'too deep');
    const attrs: XmlAttr[] = [];
    let xsiType: XmlElement['xsiType'];
    for (const key in tag.attributes) {
      const a = tag.attributes[key];
      if (a.uri === 'http://www.w3.org/2000/xmlns/') continue;
      attrs.push({ uri: a.uri, local: a.local, value: a.value });
      if (a.local === 'type' && a.uri === XSI) {
        const raw = a.value.trim();
        const colon = raw.indexOf(':');
        const prefix = colon === -1 ? '' : raw.slice(0, colon);
        const uri = parser.resolve(prefix);
        xsiType = { raw: a.value, uri: uri ?? (prefix === '' ? '' : null), local: raw.slice(colon + 1) };
      }
    }
    const el = { uri: tag.uri, local: tag.local, attrs, children: [] as XmlElement[], text: '', xsiType };
    const parent = stack[stack.length - 1];
    if (parent) {
      if (parent.children.length >= limits.maxItems) throw new CodecError('TOO_MANY_ITEMS', 'too many');
      parent.children.push(el);
    } else root = el;
    stack.push(el);
  });
  parser.on('closetag', () => void stack.pop());
  parser.on('text', (t: string) => {
    if (stack.length) stack[stack.length - 1].text += t;
  });
  parser.on('cdata', (t: string) => {
    if (stack.length) stack[stack.length - 1].text += t;
  });
  parser.on('processinginstruction', () => {});
  try {
    parser.write(xml).close();
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError('MALFORMED_XML', String(e));
  }
  if (!root) throw new CodecError('MALFORMED_XML', 'no root element');
  return root;
}

interface PlainElement {
  uri: string;
  local: string;
  attrs: XmlAttr[];
  children: PlainElement[];
  text: string;
  xsiType: XmlElement['xsiType'] | null;
}

function plain(el: XmlElement): PlainElement {
  return {
    uri: el.uri,
    local: el.local,
    attrs: el.attrs.map((a) => ({ ...a })),
    children: el.children.map(plain),
    text: el.text,
    xsiType: el.xsiType ? { ...el.xsiType } : null,
  };
}

type Outcome = { ok: true; tree: PlainElement } | { ok: false; code: string; message: string };

function outcome(parse: (xml: string, limits: XmlLimits) => XmlElement, xml: string, limits = LIMITS): Outcome {
  try {
    return { ok: true, tree: plain(parse(xml, limits)) };
  } catch (e) {
    assert.ok(e instanceof CodecError, `not a CodecError: ${String(e)}`);
    return { ok: false, code: e.code, message: e.message };
  }
}

/** saxes' "line:column: " prefix: declarations are now checked at the end of the tag, not at the attribute. */
const POSITION = /^(MALFORMED_XML: )\d+:\d+: /;

/** Same tree, or the same error code (and the same message, position aside, when `sameMessage`). */
function sameAsReference(xml: string, sameMessage = true): Outcome {
  const want = outcome(referenceTree, xml);
  const got = outcome(parseXmlTree, xml);
  if (!want.ok && !got.ok) {
    assert.equal(got.code, want.code, `${xml}\n${got.message} / ${want.message}`);
    if (sameMessage) assert.equal(got.message.replace(POSITION, '$1'), want.message.replace(POSITION, '$1'), xml);
  } else assert.deepEqual(got, want, xml);
  return got;
}

const env = (attrs: string, inner: string): string => `<s:Envelope xmlns:s="${SOAP}" ${attrs}><s:Body>${inner}</s:Body></s:Envelope>`;

describe('XML namespace resolution (own, without saxes namespace mode) = saxes namespace mode', () => {
  const accepted: Record<string, string> = {
    'usual CWMP envelope': env(`xmlns:cwmp="${CWMP}" xmlns:xsi="${XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema"`, '<cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>A</Name><Value xsi:type="xsd:string">v</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>'),
    'prefix redeclared on an inner element, then back in scope': env(`xmlns:c="urn:other"`, `<c:A xmlns:c="${CWMP}"><c:B/></c:A><c:C/>`),
    'default namespace on the body element, undeclared below': env('', `<Inform xmlns="${CWMP}"><DeviceId xmlns=""><OUI>1</OUI></DeviceId><Event/></Inform>`),
    'xmlns attributes on the Body': `<s:Envelope xmlns:s="${SOAP}"><s:Body xmlns:cwmp="${CWMP}" xmlns:xsi="${XSI}"><cwmp:Reboot><CommandKey xsi:nil="true"/></cwmp:Reboot></s:Body></s:Envelope>`,
    'declaration after its use in the same tag': `<c:a c:x="1" xmlns:c="urn:c"/>`,
    'unprefixed attributes are in no namespace even with a default namespace': `<a xmlns="urn:d" x="1"><b y="2"/></a>`,
    'an unprefixed and a prefixed attribute with the same local name': `<a xmlns:p="urn:p" x="1" p:x="2"/>`,
    'xml prefix predeclared (xml:lang), and bound to its own namespace explicitly': `<a xml:lang="en" xmlns:xml="http://www.w3.org/XML/1998/namespace"><b xml:space="preserve"/></a>`,
    'xsi:type resolved with a prefix declared on the same element': `<a xmlns:i="${XSI}"><V xmlns:t="http://www.w3.org/2001/XMLSchema" i:type="t:int">1</V></a>`,
    'xsi:type with an unbound prefix (kept, uri null)': `<a xmlns:xsi="${XSI}"><V xsi:type="q:int">1</V></a>`,
    'xsi:type unprefixed, with and without a default namespace': `<a xmlns:xsi="${XSI}"><V xsi:type="int"/><W xmlns="urn:d" xsi:type=" boolean "/></a>`,
    'entities, character references and CDATA in text': `<a>x &amp; &lt;y&gt; &#65;&#x42; <![CDATA[<c>&]]></a>`,
    'whitespace-padded namespace URI (trimmed)': `<p:a xmlns:p="  urn:p  "/>`,
    'whitespace-padded known namespace URIs (trimmed, then the codec constants)': `<s:Envelope xmlns:s=" ${SOAP}\n" xmlns:c="\t${CWMP} "><s:Body><c:Reboot/></s:Body></s:Envelope>`,
    'comments and a processing instruction': `<?xml version="1.0"?><!-- c --><a><?pi data?><b/></a>`,
    'XML 1.1 may undeclare a prefix': `<?xml version="1.1"?><a xmlns:p="urn:p"><b xmlns:p=""><c p:x="1"/></b></a>`,
    'the same attribute on consecutive elements, its prefix redeclared in between': `<a xmlns:xsi="${XSI}" xmlns:t="urn:1"><V xsi:type="t:int"/><V xsi:type="t:int"/><b xmlns:t="urn:2"><V xsi:type="t:int"/></b><V xsi:type="t:int"/><c xmlns:xsi="urn:not-xsi"><V xsi:type="t:int"/></c></a>`,
    'the same attribute with another value, and beside a declaration': `<a xmlns:p="urn:p"><V p:x="1"/><V p:x="2"/><V p:x="2" xmlns:q="urn:q"/><V p:x="2"/></a>`,
    'nine prefixed attributes (duplicate check with a set), none clashing': `<a xmlns:p="urn:p" ${Array.from({ length: 9 }, (_, i) => `p:a${i}="${i}"`).join(' ')}/>`,
  };
  for (const [name, xml] of Object.entries(accepted)) {
    it(`accepts: ${name}`, () => {
      const got = sameAsReference(xml);
      assert.ok(got.ok, name);
    });
  }

  it('resolves what it should (spot checks)', () => {
    const inner = parseXmlTree(accepted['prefix redeclared on an inner element, then back in scope'], LIMITS).children[0];
    assert.deepEqual(
      inner.children.map((c) => [c.local, c.uri]),
      [
        ['A', CWMP],
        ['C', 'urn:other'],
      ],
    );
    assert.equal(inner.children[0].children[0].uri, CWMP);
    const a = parseXmlTree(accepted['an unprefixed and a prefixed attribute with the same local name'], LIMITS);
    assert.deepEqual(a.attrs, [
      { uri: '', local: 'x', value: '1' },
      { uri: 'urn:p', local: 'x', value: '2' },
    ]);
  });

  it('an attribute shared by consecutive elements is resolved again when the bindings change', () => {
    const root = parseXmlTree(accepted['the same attribute on consecutive elements, its prefix redeclared in between'], LIMITS);
    const values = [root.children[0], root.children[1], root.children[2].children[0], root.children[3], root.children[4].children[0]];
    assert.deepEqual(
      values.map((v) => v.xsiType?.uri ?? null),
      ['urn:1', 'urn:1', 'urn:2', 'urn:1', null],
    );
    assert.equal(values[4].attrs[0].uri, 'urn:not-xsi');
    // Shared when nothing changed (and then frozen, so no element can alter another's).
    assert.equal(values[0].attrs, values[1].attrs);
    assert.ok(Object.isFrozen(values[0].attrs) && Object.isFrozen(values[0].attrs[0]) && Object.isFrozen(values[0].xsiType));
    // Across documents: same text, other binding.
    const doc = (ns: string) => `<a xmlns:xsi="${XSI}" xmlns:t="${ns}"><V xsi:type="t:int"/></a>`;
    assert.equal(parseXmlTree(doc('urn:1'), LIMITS).children[0].xsiType?.uri, 'urn:1');
    assert.equal(parseXmlTree(doc('urn:2'), LIMITS).children[0].xsiType?.uri, 'urn:2');
    assert.equal(parseXmlTree('<a><V t="1"/></a>', LIMITS).children[0].xsiType, undefined);
  });

  const refused: Record<string, string> = {
    'unbound element prefix': env('', '<cwmp:Inform/>'),
    'unbound attribute prefix': `<a q:x="1"/>`,
    'prefix used outside the element that declared it': `<a><b xmlns:p="urn:p"/><p:c/></a>`,
    'same expanded attribute name through two prefixes': `<a xmlns:p="urn:x" xmlns:q="urn:x" p:n="1" q:n="2"/>`,
    'same expanded attribute name among nine prefixed attributes': `<a xmlns:p="urn:p" xmlns:q="urn:p" ${Array.from({ length: 8 }, (_, i) => `p:a${i}="${i}"`).join(' ')} q:a7="x"/>`,
    'same raw attribute name': `<a x="1" x="2"/>`,
    'same namespace declared twice': `<a xmlns:p="urn:1" xmlns:p="urn:2"/>`,
    'XML 1.0 cannot undeclare a prefix': `<a xmlns:p="urn:p"><b xmlns:p=""/></a>`,
    'xml prefix bound elsewhere': `<a xmlns:xml="urn:x"/>`,
    'xml namespace bound to another prefix': `<a xmlns:p="http://www.w3.org/XML/1998/namespace"/>`,
    'default namespace set to the xml namespace': `<a xmlns="http://www.w3.org/XML/1998/namespace"/>`,
    'xmlns prefix declared': `<a xmlns:xmlns="http://www.w3.org/2000/xmlns/"/>`,
    'prefix bound to the xmlns namespace': `<a xmlns:p="http://www.w3.org/2000/xmlns/"/>`,
    'default namespace set to the xmlns namespace': `<a xmlns="http://www.w3.org/2000/xmlns/"/>`,
    'element with the xmlns prefix': `<xmlns:a/>`,
    'element name with an empty local part': `<a:/>`,
    'element name with two colons': `<a:b:c xmlns:a="urn:a"/>`,
    'element name starting with a colon': `<:a/>`,
    'attribute name with an empty prefix': `<a :x="1"/>`,
    'attribute name with two colons': `<a xmlns:p="urn:p" p:x:y="1"/>`,
    'namespace declaration with an empty prefix': `<a xmlns:="urn:p"/>`,
    'namespace declaration with two colons': `<a xmlns:p:q="urn:p"/>`,
    'processing instruction target with a colon': `<a><?p:i data?></a>`,
    'processing instruction target with a colon after an XML declaration': `<?xml version="1.0"?>\n<a/><?p:i?>`,
    'XML declaration not at the start': ` <?xml version="1.0"?><a/>`,
  };
  // saxes without namespaces sees the raw name: "duplicate attribute: xmlns:p." instead of "{http://www.w3.org/2000/xmlns/}p".
  const otherMessage = new Set(['same namespace declared twice']);
  for (const [name, xml] of Object.entries(refused)) {
    it(`refuses: ${name}`, () => {
      const got = sameAsReference(xml, !otherMessage.has(name));
      assert.ok(!got.ok && got.code === 'MALFORMED_XML', `${name}: ${JSON.stringify(got)}`);
      // The message comes from saxes' fail(): it carries a line:column position.
      assert.match(got.message, /^MALFORMED_XML: \d+:\d+: /);
    });
  }

  it('limits: depth and children per element, same outcome', () => {
    const deep = '<a>'.repeat(5) + '</a>'.repeat(5);
    assert.equal((outcome(parseXmlTree, deep, { maxDepth: 4, maxItems: 10 }) as { code: string }).code, 'TOO_DEEP');
    assert.equal(outcome(parseXmlTree, deep, { maxDepth: 5, maxItems: 10 }).ok, true);
    const wide = `<a>${'<b/>'.repeat(4)}</a>`;
    assert.equal((outcome(parseXmlTree, wide, { maxDepth: 4, maxItems: 3 }) as { code: string }).code, 'TOO_MANY_ITEMS');
    assert.equal(outcome(parseXmlTree, wide, { maxDepth: 4, maxItems: 4 }).ok, true);
  });

  it('generated documents: random prefixes, declarations, redeclarations and attributes', () => {
    const prefix = fc.constantFrom('', 'a', 'b', 'xsi', 'xml', 'xmlns', 'p:q');
    const uri = fc.constantFrom('urn:1', 'urn:2', '', ' urn:1 ', XSI, 'http://www.w3.org/XML/1998/namespace', 'http://www.w3.org/2000/xmlns/');
    const decl = fc.tuple(prefix, uri).map(([p, u]) => (p === '' ? `xmlns="${u}"` : `xmlns:${p}="${u}"`));
    const qname = fc.tuple(prefix, fc.constantFrom('x', 'type', 'y', '')).map(([p, l]) => (p === '' ? l || 'e' : `${p}:${l}`));
    const attr = fc.tuple(qname, fc.constantFrom('1', 'a:int', 'int', ' b:t ')).map(([n, v]) => `${n}="${v}"`);
    const element: fc.Memo<string> = fc.memo((n) =>
      fc
        .tuple(qname, fc.array(fc.oneof(decl, attr), { maxLength: 4 }), n <= 1 ? fc.constant([]) : fc.array(element(n - 1), { maxLength: 3 }), fc.constantFrom('', 't', '&amp;'))
        .map(([name, attrs, kids, text]) => `<${name}${attrs.map((a) => ` ${a}`).join('')}>${text}${kids.join('')}</${name}>`),
    );
    let accepted = 0;
    fc.assert(
      fc.property(element(3), (xml) => {
        if (sameAsReference(xml, false).ok) accepted++;
      }),
      { numRuns: RUNS },
    );
    // The generator must exercise both outcomes.
    assert.ok(accepted > 0 && accepted < RUNS, `${accepted} of ${RUNS} accepted`);
  });
});

describe('TreeParser reuse and V8 object shape', () => {
  it('a failed parse does not affect the next one (the parser is dropped after a failure)', () => {
    const good = env(`xmlns:cwmp="${CWMP}"`, '<cwmp:Reboot><CommandKey>k</CommandKey></cwmp:Reboot>');
    const expected = plain(parseXmlTree(good, LIMITS));
    const bad = [`<a xmlns:p="urn:p"><p:b>`, `<a><b></a>`, `<a q:x="1"/>`, '<a>&nope;</a>', `<a>${'<b/>'.repeat(5)}</a>`];
    for (const xml of bad) {
      assert.throws(() => parseXmlTree(xml, { maxDepth: 32, maxItems: 4 }), CodecError);
      assert.deepEqual(plain(parseXmlTree(good, LIMITS)), expected);
    }
    // Bindings of one document never leak into the next.
    parseXmlTree(`<a xmlns:q="urn:q"><q:b/></a>`, LIMITS);
    assert.throws(() => parseXmlTree(`<q:b/>`, LIMITS), /unbound namespace prefix/);
  });

  it('the saxes parser keeps fast properties (too many handlers made it a 4x slower dictionary object)', () => {
    const xmlTs = fileURLToPath(new URL('./xml.ts', import.meta.url));
    const script = `
      import { TreeParser } from ${JSON.stringify(xmlTs)};
      const out = [];
      for (const pi of [false, true]) {
        const t = new TreeParser(pi);
        t.parse('<?xml version="1.0"?><a xmlns:p="urn:p" p:x="1"><b>t</b><![CDATA[c]]></a>', { maxDepth: 8, maxItems: 8 });
        out.push(%HasFastProperties(t.parser));
      }
      console.log(JSON.stringify(out));`;
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), [true, true]);
  });
});
