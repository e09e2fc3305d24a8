/**
 * What the provisioning routes answer: API views of stored objects (secrets hidden unless an
 * admin asked for them) and their TypeBox response schemas (fields not listed are never sent).
 */
import { Type, type TSchema } from '@sinclair/typebox';
import type { BootstrapRecord, FileRecord, Preset, Rollout, RolloutDevice, VariableSet, Webhook, WebhookDelivery } from '../store/provisioning/types.ts';
import type { RolloutProgress } from '../provisioning/rollouts.ts';
import { isSecretName } from '../provisioning/desired.ts';
import { isTemplate } from '../provisioning/template.ts';
import { DeviceFilterSchema, DesiredSpecSchema, PresetTriggerSchema, TimeWindowSchema } from '../provisioning/schemas.ts';

export const REDACTED = '[redacted]';
const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);
const Timestamp = Type.String({ description: 'ISO 8601 UTC timestamp' });

/** Hides a literal secret value (templates stay visible: they name a variable, not a secret). */
function hide(secret: boolean, value: unknown): unknown {
  return secret && typeof value === 'string' && value !== '' && !isTemplate(value) ? REDACTED : value;
}

/** Returns the preset with literal secret values hidden unless `withSecrets`. */
export function presetView(p: Preset, withSecrets: boolean): Preset {
  if (withSecrets) return p;
  const d = p.desired;
  return {
    ...p,
    desired: {
      ...d,
      parameters: d.parameters?.map((x) => ({ ...x, value: hide(x.secret ?? isSecretName(x.name), x.value) as typeof x.value })),
      objects: d.objects?.map((o) => ({
        ...o,
        instances: o.instances.map((i) => ({ ...i, values: Object.fromEntries(Object.entries(i.values).map(([k, v]) => [k, hide(isSecretName(k), v) as typeof v])) })),
      })),
    },
  };
}

export const PresetSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    description: Type.Optional(Type.String()),
    enabled: Type.Boolean(),
    weight: Type.Integer(),
    precondition: DeviceFilterSchema,
    triggers: Type.Array(PresetTriggerSchema),
    schedule: Type.Optional(Type.Object({ intervalSeconds: Type.Optional(Type.Integer()), window: Type.Optional(TimeWindowSchema) })),
    desired: DesiredSpecSchema,
    revision: Type.Integer(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'Preset' },
);

export interface FileView extends Omit<FileRecord, 'auth'> {
  auth: { scheme: FileRecord['auth']['scheme']; username: string | null; passwordSet: boolean; password?: string | null };
  url: string;
}

export function fileView(f: FileRecord, url: string, withSecrets: boolean): FileView {
  const auth: FileView['auth'] = { scheme: f.auth.scheme, username: f.auth.username, passwordSet: f.auth.password !== null };
  if (withSecrets) auth.password = f.auth.password;
  return { ...f, auth, url };
}

export const FileSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    fileType: Type.String(),
    oui: Nullable(Type.String()),
    productClass: Nullable(Type.String()),
    version: Nullable(Type.String()),
    size: Type.Integer(),
    sha256: Type.String(),
    description: Nullable(Type.String()),
    auth: Type.Object({ scheme: Type.String(), username: Nullable(Type.String()), passwordSet: Type.Boolean(), password: Type.Optional(Nullable(Type.String())) }),
    url: Type.String({ description: 'public download URL devices are given' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'File' },
);

/** Variables with secret-looking names (`sip1_password`) hidden unless `withSecrets`. */
export function variablesView(v: VariableSet, withSecrets: boolean): VariableSet {
  if (withSecrets) return v;
  return { ...v, variables: Object.fromEntries(Object.entries(v.variables).map(([k, val]) => [k, /(password|secret|passphrase|pin)$/i.test(k) ? REDACTED : val])) };
}

export const VariableSetSchema = Type.Object({ key: Type.String(), variables: Type.Record(Type.String(), Type.String()), updatedAt: Timestamp }, { title: 'VariableSet' });

export interface BootstrapView extends Omit<BootstrapRecord, 'acsPassword' | 'connectionRequestPassword'> {
  acsPasswordSet: boolean;
  connectionRequestPasswordSet: boolean;
  acsPassword?: string | null;
  connectionRequestPassword?: string | null;
}

export function bootstrapView(b: BootstrapRecord, withSecrets: boolean): BootstrapView {
  const { acsPassword, connectionRequestPassword, ...rest } = b;
  const view: BootstrapView = { ...rest, acsPasswordSet: acsPassword !== null, connectionRequestPasswordSet: connectionRequestPassword !== null };
  if (withSecrets) {
    view.acsPassword = acsPassword;
    view.connectionRequestPassword = connectionRequestPassword;
  }
  return view;
}

export const BootstrapSchema = Type.Object(
  {
    key: Type.String(),
    acsUrl: Nullable(Type.String()),
    acsUsername: Nullable(Type.String()),
    acsPasswordSet: Type.Boolean(),
    acsPassword: Type.Optional(Nullable(Type.String())),
    connectionRequestUsername: Nullable(Type.String()),
    connectionRequestPasswordSet: Type.Boolean(),
    connectionRequestPassword: Type.Optional(Nullable(Type.String())),
    periodicInformInterval: Nullable(Type.Integer()),
    variables: Type.Record(Type.String(), Type.String()),
    tags: Type.Array(Type.String()),
    note: Nullable(Type.String()),
    revision: Type.Integer(),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    appliedDeviceId: Nullable(Type.String()),
    appliedAt: Nullable(Timestamp),
  },
  { title: 'BootstrapRecord' },
);

export interface WebhookView extends Omit<Webhook, 'secret'> {
  secretSet: boolean;
}

export function webhookView(w: Webhook): WebhookView {
  const { secret, ...rest } = w;
  return { ...rest, secretSet: secret.length > 0 };
}

export const WebhookSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    url: Type.String(),
    secretSet: Type.Boolean(),
    events: Type.Array(Type.String()),
    enabled: Type.Boolean(),
    maxAttempts: Type.Optional(Type.Integer()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { title: 'Webhook' },
);

export function deliveryView(d: WebhookDelivery): Omit<WebhookDelivery, 'body'> & { payload: unknown } {
  const { body, ...rest } = d;
  let payload: unknown = null;
  try {
    payload = JSON.parse(body);
  } catch {
    payload = body;
  }
  return { ...rest, payload };
}

export const DeliverySchema = Type.Object(
  {
    id: Type.String(),
    webhookId: Type.String(),
    event: Type.String(),
    payload: Type.Unknown(),
    status: Type.String(),
    attempts: Type.Integer(),
    nextAttemptAt: Nullable(Timestamp),
    lastStatusCode: Nullable(Type.Integer()),
    lastError: Nullable(Type.String()),
    createdAt: Timestamp,
    finishedAt: Nullable(Timestamp),
  },
  { title: 'WebhookDelivery' },
);

const Counts = Type.Object({ pending: Type.Integer(), downloading: Type.Integer(), succeeded: Type.Integer(), failed: Type.Integer(), skipped: Type.Integer() });

export const RolloutSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    fileId: Type.String(),
    target: DeviceFilterSchema,
    stages: Type.Array(Type.Object({ name: Type.Optional(Type.String()), count: Type.Optional(Type.Integer()), percent: Type.Optional(Type.Number()) })),
    maxConcurrent: Type.Integer(),
    failureThreshold: Type.Object({ count: Type.Optional(Type.Integer()), percent: Type.Optional(Type.Number()) }),
    window: Type.Optional(TimeWindowSchema),
    kick: Type.Optional(Type.Boolean()),
    downloadTimeoutSeconds: Type.Optional(Type.Integer()),
    allowDowngrade: Type.Optional(Type.Boolean()),
    state: Type.String(),
    stageIndex: Type.Integer(),
    reason: Nullable(Type.String()),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    finishedAt: Nullable(Timestamp),
  },
  { title: 'Rollout' },
);

export const RolloutProgressSchema = Type.Object(
  {
    rollout: RolloutSchema,
    counts: Counts,
    total: Type.Integer(),
    stages: Type.Array(Type.Object({ index: Type.Integer(), name: Nullable(Type.String()), size: Type.Integer(), counts: Counts })),
    windowOpen: Type.Boolean(),
  },
  { title: 'RolloutProgress' },
);

export function progressView(p: RolloutProgress): RolloutProgress {
  return p;
}

export const RolloutDeviceSchema = Type.Object(
  {
    rolloutId: Type.String(),
    deviceId: Type.String(),
    position: Type.Integer(),
    stage: Type.Integer(),
    state: Type.String(),
    phase: Nullable(Type.String()),
    fromVersion: Nullable(Type.String()),
    commandKey: Nullable(Type.String()),
    taskId: Nullable(Type.String()),
    faultCode: Nullable(Type.Integer()),
    detail: Nullable(Type.String()),
    startedAt: Nullable(Timestamp),
    finishedAt: Nullable(Timestamp),
    updatedAt: Timestamp,
  },
  { title: 'RolloutDevice' },
);

export type { Rollout, RolloutDevice };
