/**
 * JSON shapes of what operators write (presets, rollouts, webhooks, bootstrap records, files'
 * metadata), as TypeBox schemas (served in OpenAPI by the API plugin), plus the checks a schema
 * cannot express (templates parse, table paths end with `.`, windows are real times...).
 * `validateX` functions return the typed value or throw `ProvisioningValidationError` listing every
 * problem with its JSON pointer, which the API answers as 400 `{ code, message }`.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { WEBHOOK_EVENTS } from '../store/provisioning/types.ts';
import { isTemplate, parseTemplate, TemplateSyntaxError } from './template.ts';
import { parseClock } from './window.ts';

const ParameterName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^.\\s][^\\s]*[^.\\s]$', description: 'full parameter name' });
const RelativeName = Type.String({ minLength: 1, maxLength: 256, pattern: '^[^.\\s]([^\\s]*[^.\\s])?$', description: 'name relative to the instance' });
const TablePath = Type.String({ minLength: 2, maxLength: 256, pattern: '^[^\\s]+\\.$', description: 'table path ending with "."' });
const Scalar = Type.Union([Type.String({ maxLength: 16384 }), Type.Number(), Type.Boolean()]);
const Notification = Type.Integer({ minimum: 0, maximum: 6, description: '0 off, 1 passive, 2 active, 3-6 lightweight (CWMP 1.4)' });
const AccessList = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16 });
const Tag = Type.String({ minLength: 1, maxLength: 128, pattern: '^[^,]+$' });
const VersionText = Type.String({ minLength: 1, maxLength: 64 });
const Clock = Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$', description: 'HH:MM, UTC' });
const Weekday = Type.Union(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => Type.Literal(d)));
const XsdTypeName = Type.Union(
  ['string', 'int', 'unsignedInt', 'long', 'unsignedLong', 'boolean', 'dateTime', 'base64', 'hexBinary', 'decimal'].map((t) => Type.Literal(t)),
);
const NameList = (max: number) => Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: max });

export const VersionBoundsSchema = Type.Object(
  { eq: Type.Optional(VersionText), ne: Type.Optional(VersionText), lt: Type.Optional(VersionText), lte: Type.Optional(VersionText), gt: Type.Optional(VersionText), gte: Type.Optional(VersionText) },
  { additionalProperties: false, description: 'version bounds, compared segment by segment (1.0.3.10 < 1.0.10.0)' },
);

export const DeviceFilterSchema = Type.Object(
  {
    ids: Type.Optional(NameList(10000)),
    oui: Type.Optional(Type.Array(Type.String({ pattern: '^[0-9A-Fa-f]{6}$' }), { maxItems: 100 })),
    productClass: Type.Optional(NameList(100)),
    manufacturer: Type.Optional(NameList(100)),
    serialNumber: Type.Optional(NameList(10000)),
    tags: Type.Optional(
      Type.Object({ all: Type.Optional(Type.Array(Tag, { maxItems: 32 })), any: Type.Optional(Type.Array(Tag, { maxItems: 32 })), none: Type.Optional(Type.Array(Tag, { maxItems: 32 })) }, { additionalProperties: false }),
    ),
    softwareVersion: Type.Optional(VersionBoundsSchema),
    parameters: Type.Optional(
      Type.Array(
        Type.Object(
          {
            name: ParameterName,
            op: Type.Union(['eq', 'ne', 'prefix', 'lt', 'gt', 'lte', 'gte', 'exists', 'absent'].map((o) => Type.Literal(o))),
            value: Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Number()])),
          },
          { additionalProperties: false },
        ),
        { maxItems: 32 },
      ),
    ),
  },
  { additionalProperties: false, description: 'every given field must hold; lists match any entry' },
);

export const TimeWindowSchema = Type.Object(
  { start: Clock, end: Clock, days: Type.Optional(Type.Array(Weekday, { minItems: 1, maxItems: 7 })) },
  { additionalProperties: false, description: 'daily window in UTC; end before start wraps past midnight' },
);

const AttributeSpecSchema = Type.Object({ notification: Type.Optional(Notification), accessList: Type.Optional(AccessList) }, { additionalProperties: false });

export const DesiredSpecSchema = Type.Object(
  {
    parameters: Type.Optional(
      Type.Array(
        Type.Object(
          { name: ParameterName, value: Scalar, type: Type.Optional(XsdTypeName), secret: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        { maxItems: 1000 },
      ),
    ),
    attributes: Type.Optional(Type.Array(Type.Object({ name: ParameterName, notification: Type.Optional(Notification), accessList: Type.Optional(AccessList) }, { additionalProperties: false }), { maxItems: 1000 })),
    objects: Type.Optional(
      Type.Array(
        Type.Object(
          {
            path: TablePath,
            key: Type.Optional(Type.Array(RelativeName, { minItems: 1, maxItems: 8 })),
            instances: Type.Array(
              Type.Object(
                { values: Type.Record(Type.String(), Scalar), attributes: Type.Optional(Type.Record(Type.String(), AttributeSpecSchema)) },
                { additionalProperties: false },
              ),
              { maxItems: 64 },
            ),
            create: Type.Optional(Type.Boolean()),
            deleteUnlisted: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        { maxItems: 32 },
      ),
    ),
    firmware: Type.Optional(
      Type.Object({ version: VersionText, fileId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })), allowDowngrade: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    ),
    configFile: Type.Optional(Type.Object({ fileId: Type.String({ minLength: 1, maxLength: 64 }) }, { additionalProperties: false })),
    tags: Type.Optional(Type.Object({ add: Type.Optional(Type.Array(Tag, { maxItems: 32 })), remove: Type.Optional(Type.Array(Tag, { maxItems: 32 })) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

export const PresetTriggerSchema = Type.Union(['always', 'bootstrap', 'boot', 'periodic', 'value-change', 'connection-request', 'transfer-complete'].map((t) => Type.Literal(t)));

export const PresetInputSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    description: Type.Optional(Type.String({ maxLength: 1024 })),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    weight: Type.Optional(Type.Integer({ minimum: -1000000, maximum: 1000000, default: 0 })),
    precondition: Type.Optional(DeviceFilterSchema),
    triggers: Type.Optional(Type.Array(PresetTriggerSchema, { maxItems: 7, description: 'default ["always"] (every session), or [] with a schedule' })),
    schedule: Type.Optional(
      Type.Object({ intervalSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 31536000 })), window: Type.Optional(TimeWindowSchema) }, { additionalProperties: false }),
    ),
    desired: DesiredSpecSchema,
  },
  { additionalProperties: false, title: 'PresetInput' },
);
export type PresetInput = Static<typeof PresetInputSchema>;

export const RolloutInputSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    fileId: Type.String({ minLength: 1, maxLength: 64 }),
    target: DeviceFilterSchema,
    stages: Type.Array(
      Type.Object(
        { name: Type.Optional(Type.String({ maxLength: 64 })), count: Type.Optional(Type.Integer({ minimum: 1 })), percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100 })) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 20, description: 'cumulative: a count of devices or a percentage of the eligible devices' },
    ),
    maxConcurrent: Type.Integer({ minimum: 1, maximum: 100000 }),
    failureThreshold: Type.Object({ count: Type.Optional(Type.Integer({ minimum: 1 })), percent: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100 })) }, { additionalProperties: false }),
    window: Type.Optional(TimeWindowSchema),
    kick: Type.Optional(Type.Boolean()),
    downloadTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 604800 })),
    allowDowngrade: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, title: 'RolloutInput' },
);
export type RolloutInput = Static<typeof RolloutInputSchema>;

export const WebhookEventSchema = Type.Union([...WEBHOOK_EVENTS, '*'].map((e) => Type.Literal(e)));

export const WebhookInputSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    url: Type.String({ minLength: 8, maxLength: 2048, pattern: '^https?://', description: 'http:// or https:// URL receiving the POSTs' }),
    secret: Type.String({ minLength: 16, maxLength: 256, description: 'HMAC-SHA256 key (at least 16 characters)' }),
    events: Type.Array(WebhookEventSchema, { minItems: 1, maxItems: 16 }),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 20 })),
  },
  { additionalProperties: false, title: 'WebhookInput' },
);
export type WebhookInput = Static<typeof WebhookInputSchema>;

const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

export const BootstrapInputSchema = Type.Object(
  {
    acsUrl: Type.Optional(Nullable(Type.String({ minLength: 8, maxLength: 256, pattern: '^https?://' }))),
    acsUsername: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    acsPassword: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    connectionRequestUsername: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    connectionRequestPassword: Type.Optional(Nullable(Type.String({ maxLength: 256 }))),
    periodicInformInterval: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: 4294967295 }))),
    variables: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]*$' }), Type.String({ maxLength: 4096 }))),
    tags: Type.Optional(Type.Array(Tag, { maxItems: 32 })),
    note: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
  },
  { additionalProperties: false, title: 'BootstrapInput' },
);
export type BootstrapInput = Static<typeof BootstrapInputSchema>;

export const FileTypeSchema = Type.String({
  minLength: 3,
  maxLength: 64,
  pattern: '^([1-9][0-9]* .+|X [0-9A-F]{6} .+)$',
  description: 'TR-069 FileType, e.g. "1 Firmware Upgrade Image", "3 Vendor Configuration File"',
});

export const FileAuthSchema = Type.Object(
  {
    scheme: Type.Union([Type.Literal('none'), Type.Literal('basic'), Type.Literal('digest')]),
    username: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 256, pattern: '^[^:\\r\\n]+$' }))),
    password: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 256 }))),
  },
  { additionalProperties: false },
);

export const FilePatchSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[^/\\\\\\s]+$' })),
    fileType: Type.Optional(FileTypeSchema),
    oui: Type.Optional(Nullable(Type.String({ pattern: '^[0-9A-Fa-f]{6}$' }))),
    productClass: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64 }))),
    version: Type.Optional(Nullable(VersionText)),
    description: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
    auth: Type.Optional(FileAuthSchema),
  },
  { additionalProperties: false, title: 'FilePatch' },
);
export type FilePatchInput = Static<typeof FilePatchSchema>;

export const UnknownDevicePolicySchema = Type.Union([Type.Literal('accept'), Type.Literal('quarantine'), Type.Literal('refuse')]);

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

export interface ValidationIssue {
  path: string;
  message: string;
}

/** Thrown by the validators; the API maps it to 400 with code VALIDATION_FAILED and the issues. */
export class ProvisioningValidationError extends Error {
  readonly issues: ValidationIssue[];
  constructor(what: string, issues: ValidationIssue[]) {
    super(`invalid ${what}: ${issues.slice(0, 5).map((i) => `${i.path || '/'}: ${i.message}`).join('; ')}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}`);
    this.name = 'ProvisioningValidationError';
    this.issues = issues;
  }
}

const checkers = new Map<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

function schemaIssues(schema: TSchema, value: unknown): ValidationIssue[] {
  let c = checkers.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    checkers.set(schema, c);
  }
  if (c.Check(value)) return [];
  const seen = new Set<string>();
  const out: ValidationIssue[] = [];
  for (const e of c.Errors(value)) {
    if (seen.has(e.path)) continue;
    seen.add(e.path);
    out.push({ path: e.path, message: e.message });
    if (out.length >= 20) break;
  }
  return out;
}

function templateIssue(path: string, value: unknown): ValidationIssue | null {
  if (typeof value !== 'string' || !isTemplate(value)) return null;
  try {
    parseTemplate(value);
    return null;
  } catch (err) {
    return { path, message: err instanceof TemplateSyntaxError ? `template: ${err.message}` : String(err) };
  }
}

function checkWindow(path: string, w: { start: string; end: string } | undefined, issues: ValidationIssue[]): void {
  if (!w) return;
  if (parseClock(w.start) === null) issues.push({ path: `${path}/start`, message: 'must be HH:MM' });
  if (parseClock(w.end) === null) issues.push({ path: `${path}/end`, message: 'must be HH:MM' });
}

function checkFilter(path: string, f: Static<typeof DeviceFilterSchema> | undefined, issues: ValidationIssue[]): void {
  (f?.parameters ?? []).forEach((c, i) => {
    if (c.op !== 'exists' && c.op !== 'absent' && c.value === undefined) issues.push({ path: `${path}/parameters/${i}/value`, message: `is required with op "${c.op}"` });
  });
}

/**
 * Checks a preset body and fills its defaults.
 * @returns the preset spec ready to store.
 * @throws ProvisioningValidationError listing every problem.
 */
export function validatePresetInput(input: unknown): Static<typeof PresetInputSchema> & { enabled: boolean; weight: number; precondition: Static<typeof DeviceFilterSchema>; triggers: Static<typeof PresetTriggerSchema>[] } {
  const issues = schemaIssues(PresetInputSchema, input);
  if (issues.length > 0) throw new ProvisioningValidationError('preset', issues);
  const p = input as PresetInput;
  const d = p.desired;
  checkFilter('/precondition', p.precondition, issues);
  checkWindow('/schedule/window', p.schedule?.window, issues);
  const names = new Set<string>();
  d.parameters?.forEach((x, i) => {
    if (names.has(x.name)) issues.push({ path: `/desired/parameters/${i}/name`, message: `duplicate parameter ${x.name}` });
    names.add(x.name);
    const t = templateIssue(`/desired/parameters/${i}/value`, x.value);
    if (t) issues.push(t);
    if (typeof x.value === 'number' && !Number.isFinite(x.value)) issues.push({ path: `/desired/parameters/${i}/value`, message: 'must be finite' });
  });
  d.attributes?.forEach((a, i) => {
    if (a.notification === undefined && a.accessList === undefined) issues.push({ path: `/desired/attributes/${i}`, message: 'must set notification or accessList' });
  });
  const paths = new Set<string>();
  d.objects?.forEach((o, i) => {
    if (paths.has(o.path)) issues.push({ path: `/desired/objects/${i}/path`, message: `duplicate table ${o.path}` });
    paths.add(o.path);
    o.instances.forEach((inst, j) => {
      for (const [rel, v] of Object.entries(inst.values)) {
        if (!/^[^.\s]([^\s]*[^.\s])?$/.test(rel)) issues.push({ path: `/desired/objects/${i}/instances/${j}/values/${rel}`, message: 'must be a relative parameter name' });
        const t = templateIssue(`/desired/objects/${i}/instances/${j}/values/${rel}`, v);
        if (t) issues.push(t);
      }
      for (const [rel, a] of Object.entries(inst.attributes ?? {})) {
        if (a.notification === undefined && a.accessList === undefined) issues.push({ path: `/desired/objects/${i}/instances/${j}/attributes/${rel}`, message: 'must set notification or accessList' });
      }
      for (const k of o.key ?? []) {
        if (!(k in inst.values)) issues.push({ path: `/desired/objects/${i}/instances/${j}/values`, message: `must give the key parameter ${k}` });
      }
    });
  });
  if (p.triggers !== undefined && p.triggers.length === 0 && !p.schedule) {
    issues.push({ path: '/triggers', message: 'an empty trigger list needs a schedule (or the preset never applies)' });
  }
  if (issues.length > 0) throw new ProvisioningValidationError('preset', issues);
  return {
    ...p,
    enabled: p.enabled ?? true,
    weight: p.weight ?? 0,
    precondition: p.precondition ?? {},
    triggers: p.triggers ?? (p.schedule ? [] : ['always']),
  };
}

/**
 * Checks a rollout body.
 * @returns the body.
 * @throws ProvisioningValidationError.
 */
export function validateRolloutInput(input: unknown): RolloutInput {
  const issues = schemaIssues(RolloutInputSchema, input);
  if (issues.length > 0) throw new ProvisioningValidationError('rollout', issues);
  const r = input as RolloutInput;
  r.stages.forEach((s, i) => {
    if ((s.count === undefined) === (s.percent === undefined)) issues.push({ path: `/stages/${i}`, message: 'must give exactly one of count or percent' });
  });
  if (r.failureThreshold.count === undefined && r.failureThreshold.percent === undefined) {
    issues.push({ path: '/failureThreshold', message: 'must give count or percent' });
  }
  checkFilter('/target', r.target, issues);
  checkWindow('/window', r.window, issues);
  if (issues.length > 0) throw new ProvisioningValidationError('rollout', issues);
  return r;
}

/**
 * Checks a webhook body and fills its defaults.
 * @throws ProvisioningValidationError.
 */
export function validateWebhookInput(input: unknown): WebhookInput & { enabled: boolean } {
  const issues = schemaIssues(WebhookInputSchema, input);
  if (issues.length > 0) throw new ProvisioningValidationError('webhook', issues);
  const w = input as WebhookInput;
  try {
    const u = new URL(w.url);
    if (u.username || u.password) issues.push({ path: '/url', message: 'must not carry credentials (the signature authenticates the sender)' });
  } catch {
    issues.push({ path: '/url', message: 'is not a valid URL' });
  }
  if (issues.length > 0) throw new ProvisioningValidationError('webhook', issues);
  return { ...w, enabled: w.enabled ?? true };
}

/**
 * Checks a bootstrap record body.
 * @throws ProvisioningValidationError.
 */
export function validateBootstrapInput(input: unknown): BootstrapInput {
  const issues = schemaIssues(BootstrapInputSchema, input);
  if (issues.length > 0) throw new ProvisioningValidationError('bootstrap record', issues);
  const b = input as BootstrapInput;
  for (const name of Object.keys(b.variables ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(name)) issues.push({ path: `/variables/${name}`, message: 'is not a variable name (letters, digits, _ and -, not starting with a digit)' });
  }
  if (b.acsPassword && !b.acsUsername) issues.push({ path: '/acsPassword', message: 'needs acsUsername' });
  if (b.connectionRequestPassword && !b.connectionRequestUsername) issues.push({ path: '/connectionRequestPassword', message: 'needs connectionRequestUsername' });
  if (b.acsUrl) {
    try {
      new URL(b.acsUrl);
    } catch {
      issues.push({ path: '/acsUrl', message: 'is not a valid URL' });
    }
  }
  if (issues.length > 0) throw new ProvisioningValidationError('bootstrap record', issues);
  return b;
}

/**
 * Checks a file metadata patch.
 * @throws ProvisioningValidationError.
 */
export function validateFilePatch(input: unknown): FilePatchInput {
  const issues = schemaIssues(FilePatchSchema, input);
  if (issues.length > 0) throw new ProvisioningValidationError('file metadata', issues);
  const f = input as FilePatchInput;
  if (f.auth) checkAuth('/auth', f.auth, issues);
  if (issues.length > 0) throw new ProvisioningValidationError('file metadata', issues);
  return f;
}

/** Credentials are required exactly when a scheme protects the file. */
export function checkAuth(path: string, auth: Static<typeof FileAuthSchema>, issues: ValidationIssue[]): void {
  if (auth.scheme === 'none') {
    if (auth.username || auth.password) issues.push({ path, message: 'scheme "none" takes no username or password' });
  } else if (!auth.username || !auth.password) {
    issues.push({ path, message: `scheme "${auth.scheme}" needs a username and a password` });
  }
}

/** Returns a deep copy with defaults applied (for schemas with `default`). */
export function withDefaults<T>(schema: TSchema, value: T): T {
  return Value.Default(schema, Value.Clone(value)) as T;
}
