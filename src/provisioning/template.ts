/**
 * Value templates: how one preset provisions a whole fleet.
 *
 * A desired value such as `{{ sip_user }}@{{ device.serialNumber | lower }}` is rendered per device
 * from its variables (imported as CSV, or from its bootstrap record) and its identity. Syntax:
 *
 * - `{{ name }}` a variable of the device (same as `{{ var.name }}`);
 * - `{{ device.field }}` one of the device's fields: `id`, `serialNumber`, `oui`, `productClass`,
 *   `manufacturer`, `softwareVersion`, `hardwareVersion`, `mac` (the serial number's 12 hex digits
 *   when it is a MAC, as Grandstream's are);
 * - filters after `|`: `default("text")` (used when the value is missing), `upper`, `lower`, `trim`;
 * - `\{{` writes a literal `{{`.
 *
 * A reference to a variable the device does not have, without `default`, makes the whole value
 * unresolved: the planner then leaves that parameter alone (and the dry run says why) instead of
 * writing an empty or half-rendered value to the device.
 */

/** One `{{ ... }}` expression. */
export interface TemplateExpression {
  kind: 'expression';
  /** `var` for device variables, `device` for identity fields. */
  scope: 'var' | 'device';
  name: string;
  filters: TemplateFilter[];
}

export type TemplateFilter = { name: 'default'; argument: string } | { name: 'upper' } | { name: 'lower' } | { name: 'trim' };

export type TemplateNode = { kind: 'text'; text: string } | TemplateExpression;

/** Device fields a template may name. */
export const DEVICE_TEMPLATE_FIELDS = ['id', 'serialNumber', 'oui', 'productClass', 'manufacturer', 'softwareVersion', 'hardwareVersion', 'mac'] as const;
export type DeviceTemplateField = (typeof DEVICE_TEMPLATE_FIELDS)[number];

/** What a template is rendered with. */
export interface TemplateContext {
  /** The device's variables by name. */
  variables: Readonly<Record<string, string>>;
  /** Identity fields; null when unknown. */
  device: Readonly<Partial<Record<DeviceTemplateField, string | null>>>;
}

export type RenderResult = { ok: true; value: string } | { ok: false; missing: string[] };

/** Thrown by `parseTemplate` for a template that cannot be understood. */
export class TemplateSyntaxError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
    this.name = 'TemplateSyntaxError';
  }
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** Longest template accepted (TR-069 string values are at most a few KiB). */
const MAX_TEMPLATE_LENGTH = 16384;
const MAX_EXPRESSIONS = 64;

function parseFilter(raw: string, at: number): TemplateFilter {
  const text = raw.trim();
  const m = /^default\s*\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)$/.exec(text);
  if (m) {
    const quoted = m[1] ?? m[2] ?? '';
    return { name: 'default', argument: quoted.replace(/\\(.)/g, '$1') };
  }
  if (text === 'upper' || text === 'lower' || text === 'trim') return { name: text };
  throw new TemplateSyntaxError(`unknown filter "${text}" (known: default("..."), upper, lower, trim)`, at);
}

/** Splits on `|` outside quotes. */
function splitPipes(body: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quote) {
      current += c;
      if (c === '\\' && i + 1 < body.length) current += body[++i];
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") {
      quote = c;
      current += c;
    } else if (c === '|') {
      parts.push(current);
      current = '';
    } else current += c;
  }
  if (quote) throw new TemplateSyntaxError('unterminated quoted string', body.length);
  parts.push(current);
  return parts;
}

function parseExpression(body: string, at: number): TemplateExpression {
  const [head, ...filters] = splitPipes(body);
  const ref = head.trim();
  if (ref === '') throw new TemplateSyntaxError('empty {{ }} expression', at);
  let scope: 'var' | 'device' = 'var';
  let name = ref;
  const dot = ref.indexOf('.');
  if (dot >= 0) {
    const prefix = ref.slice(0, dot);
    if (prefix !== 'var' && prefix !== 'device') {
      throw new TemplateSyntaxError(`"${ref}": a dotted name must start with "var." or "device."`, at);
    }
    scope = prefix;
    name = ref.slice(dot + 1);
  }
  if (!NAME_RE.test(name)) throw new TemplateSyntaxError(`"${ref}" is not a valid name (letters, digits, _ and -)`, at);
  if (scope === 'device' && !(DEVICE_TEMPLATE_FIELDS as readonly string[]).includes(name)) {
    throw new TemplateSyntaxError(`device.${name} is not a device field (known: ${DEVICE_TEMPLATE_FIELDS.join(', ')})`, at);
  }
  return { kind: 'expression', scope, name, filters: filters.map((f) => parseFilter(f, at)) };
}

/**
 * Parses a template.
 * @returns its nodes (a plain value is one text node).
 * @throws TemplateSyntaxError for an unclosed `{{`, an unknown filter or field, or a bad name.
 */
export function parseTemplate(text: string): TemplateNode[] {
  if (text.length > MAX_TEMPLATE_LENGTH) throw new TemplateSyntaxError(`longer than ${MAX_TEMPLATE_LENGTH} characters`, 0);
  const nodes: TemplateNode[] = [];
  let literal = '';
  let i = 0;
  let expressions = 0;
  while (i < text.length) {
    if (text.startsWith('\\{{', i)) {
      literal += '{{';
      i += 3;
      continue;
    }
    if (text.startsWith('{{', i)) {
      const close = text.indexOf('}}', i + 2);
      if (close < 0) throw new TemplateSyntaxError('"{{" without a closing "}}"', i);
      if (++expressions > MAX_EXPRESSIONS) throw new TemplateSyntaxError(`more than ${MAX_EXPRESSIONS} expressions`, i);
      if (literal) nodes.push({ kind: 'text', text: literal });
      literal = '';
      nodes.push(parseExpression(text.slice(i + 2, close), i));
      i = close + 2;
      continue;
    }
    literal += text[i];
    i++;
  }
  if (literal) nodes.push({ kind: 'text', text: literal });
  return nodes;
}

/** Parsed templates kept by `compiledTemplate` (preset values: few distinct texts). */
const COMPILED_LIMIT = 4096;
const compiled = new Map<string, readonly TemplateNode[]>();

/**
 * `parseTemplate` once per distinct text: every session renders its presets' templates again, and
 * parsing was most of the rendering. The nodes are shared: callers must not change them.
 * @returns the nodes. @throws like `parseTemplate` (errors are not cached).
 */
export function compiledTemplate(text: string): readonly TemplateNode[] {
  let nodes = compiled.get(text);
  if (!nodes) {
    nodes = parseTemplate(text);
    // a bound, not an LRU: past it (templates built per device?) start again rather than grow
    if (compiled.size >= COMPILED_LIMIT) compiled.clear();
    compiled.set(text, nodes);
  }
  return nodes;
}

/** True when the text contains at least one `{{ }}` expression. */
export function isTemplate(text: string): boolean {
  return /(^|[^\\])\{\{/.test(text);
}

/**
 * Names a template refers to, as `var.x` / `device.y`.
 * @throws TemplateSyntaxError like `parseTemplate`.
 */
export function templateReferences(text: string): string[] {
  return parseTemplate(text)
    .filter((n): n is TemplateExpression => n.kind === 'expression')
    .map((n) => `${n.scope}.${n.name}`);
}

function lookup(expr: TemplateExpression, ctx: TemplateContext): string | null {
  if (expr.scope === 'device') {
    const v = ctx.device[expr.name as DeviceTemplateField];
    return v === undefined || v === null ? null : v;
  }
  return Object.hasOwn(ctx.variables, expr.name) ? ctx.variables[expr.name] : null;
}

/**
 * Renders parsed template nodes.
 * @returns the value, or the list of missing references (`var.sip_user`) when any has no value and no default.
 */
export function renderNodes(nodes: readonly TemplateNode[], ctx: TemplateContext): RenderResult {
  let out = '';
  // allocated only when a reference is missing (rendering runs for every templated value of every session)
  let missing: string[] | null = null;
  for (const node of nodes) {
    if (node.kind === 'text') {
      out += node.text;
      continue;
    }
    let value = lookup(node, ctx);
    for (const f of node.filters) {
      if (f.name === 'default') {
        if (value === null || value === '') value = f.argument;
      } else if (value !== null) {
        value = f.name === 'upper' ? value.toUpperCase() : f.name === 'lower' ? value.toLowerCase() : value.trim();
      }
    }
    if (value === null) (missing ??= []).push(`${node.scope}.${node.name}`);
    else out += value;
  }
  return missing !== null ? { ok: false, missing } : { ok: true, value: out };
}

/**
 * Parses and renders a template.
 * @returns as `renderNodes`.
 * @throws TemplateSyntaxError for a malformed template (presets are validated when stored, so this
 *         only happens for templates that never went through validation).
 */
export function renderTemplate(text: string, ctx: TemplateContext): RenderResult {
  return renderNodes(parseTemplate(text), ctx);
}

const PLAIN_MAC = /^[0-9A-Fa-f]{12}$/;

/** The 12 upper-case hex digits of a MAC address written in any usual way, or null when it is not one. */
export function normaliseMac(text: string): string | null {
  // the usual case (serial numbers of Grandstream devices): 12 hex digits already
  if (text.length === 12 && PLAIN_MAC.test(text)) return text.toUpperCase();
  const hex = text.replace(/[:\-. ]/g, '').toUpperCase();
  return /^[0-9A-F]{12}$/.test(hex) ? hex : null;
}
