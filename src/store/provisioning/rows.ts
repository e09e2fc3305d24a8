/**
 * Row shapes and row-to-object mapping shared by the provisioning store backends (SQLite and
 * PostgreSQL select the same column names and JSON text, so one mapping serves both), plus the
 * keyset paging helper.
 */
import { randomBytes } from 'node:crypto';
import { encodeCursor } from '../cursor.ts';
import type { JsonObject } from '../types.ts';
import type {
  BootstrapRecord,
  BootstrapSpec,
  DeliveryStatus,
  DeviceMemoryEntry,
  DeviceMemoryKind,
  FileAuthScheme,
  FileRecord,
  HistoryEntry,
  Page,
  Preset,
  PresetSpec,
  Rollout,
  RolloutDevice,
  RolloutDevicePhase,
  RolloutDeviceState,
  RolloutSpec,
  RolloutState,
  VariableSet,
  Webhook,
  WebhookDelivery,
  WebhookEvent,
  WebhookSpec,
} from './types.ts';

/** Random bytes in generated ids (64 bits: unique enough for operator-made objects). */
const ID_BYTES = 8;

/** A new random id with a type prefix (`pre_...`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(ID_BYTES).toString('hex')}`;
}

export interface FileRow {
  id: string;
  name: string;
  file_type: string;
  oui: string | null;
  product_class: string | null;
  version: string | null;
  size: number;
  sha256: string;
  description: string | null;
  auth_scheme: string;
  auth_username: string | null;
  auth_password: string | null;
  created_at: string;
  updated_at: string;
}

export interface RolloutRow {
  id: string;
  spec: string;
  state: string;
  stage_index: number;
  reason: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export interface RolloutDeviceRow {
  rollout_id: string;
  device_id: string;
  position: number;
  stage: number;
  state: string;
  phase: string | null;
  from_version: string | null;
  command_key: string | null;
  task_id: string | null;
  fault_code: number | null;
  detail: string | null;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
  kicked_at: string | null;
}

export interface DeliveryRow {
  id: number;
  webhook_id: string;
  event: string;
  body: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface BootstrapRow {
  key: string;
  spec: string;
  revision: number;
  created_at: string;
  updated_at: string;
  applied_device_id: string | null;
  applied_at: string | null;
}

export interface HistoryRow {
  id: number;
  device_id: string;
  name: string;
  value: string;
  previous: string | null;
  source: string;
  at: string;
}

export function rowToFile(r: FileRow): FileRecord {
  return {
    id: r.id,
    name: r.name,
    fileType: r.file_type,
    oui: r.oui,
    productClass: r.product_class,
    version: r.version,
    size: r.size,
    sha256: r.sha256,
    description: r.description,
    auth: { scheme: r.auth_scheme as FileAuthScheme, username: r.auth_username, password: r.auth_password },
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function rowToRollout(r: RolloutRow): Rollout {
  const spec = JSON.parse(r.spec) as RolloutSpec;
  return {
    ...spec,
    id: r.id,
    state: r.state as RolloutState,
    stageIndex: r.stage_index,
    reason: r.reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

export function rowToRolloutDevice(r: RolloutDeviceRow): RolloutDevice {
  return {
    rolloutId: r.rollout_id,
    deviceId: r.device_id,
    position: r.position,
    stage: r.stage,
    state: r.state as RolloutDeviceState,
    phase: r.phase as RolloutDevicePhase | null,
    fromVersion: r.from_version,
    commandKey: r.command_key,
    taskId: r.task_id,
    faultCode: r.fault_code,
    detail: r.detail,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    updatedAt: r.updated_at,
    kickedAt: r.kicked_at,
  };
}

export function rowToDelivery(r: DeliveryRow): WebhookDelivery {
  return {
    id: String(r.id),
    webhookId: r.webhook_id,
    event: r.event as WebhookEvent | 'ping',
    body: r.body,
    status: r.status as DeliveryStatus,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    createdAt: r.created_at,
    finishedAt: r.finished_at,
  };
}

export function rowToBootstrap(r: BootstrapRow): BootstrapRecord {
  const s = JSON.parse(r.spec) as BootstrapSpec;
  return {
    key: r.key,
    acsUrl: s.acsUrl ?? null,
    acsUsername: s.acsUsername ?? null,
    acsPassword: s.acsPassword ?? null,
    connectionRequestUsername: s.connectionRequestUsername ?? null,
    connectionRequestPassword: s.connectionRequestPassword ?? null,
    periodicInformInterval: s.periodicInformInterval ?? null,
    variables: s.variables ?? {},
    tags: s.tags ?? [],
    note: s.note ?? null,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    appliedDeviceId: r.applied_device_id,
    appliedAt: r.applied_at,
  };
}

export function rowToHistory(r: HistoryRow): HistoryEntry {
  return {
    id: String(r.id),
    deviceId: r.device_id,
    name: r.name,
    value: r.value,
    previous: r.previous,
    source: r.source as HistoryEntry['source'],
    at: r.at,
  };
}

/** Keyset page over rows sorted by one text/number column (ties impossible: the column is unique). */
export function pageOf<R, T>(rows: R[], limit: number, map: (r: R) => T, cursorOf: (r: R) => Record<string, string | number>): Page<T> {
  const more = rows.length > limit;
  const items = (more ? rows.slice(0, limit) : rows).map(map);
  return { items, nextCursor: more ? encodeCursor(cursorOf(rows[limit - 1])) : null };
}

export const ROLLOUT_DEVICE_STATES: readonly RolloutDeviceState[] = ['pending', 'downloading', 'succeeded', 'failed', 'skipped'];


export interface PresetRow {
  id: string;
  spec: string;
  revision: number;
  created_at: string;
  updated_at: string;
}

export function rowToPreset(r: PresetRow): Preset {
  return { ...(JSON.parse(r.spec) as PresetSpec), id: r.id, revision: r.revision, createdAt: r.created_at, updatedAt: r.updated_at };
}

export interface WebhookRow {
  id: string;
  spec: string;
  created_at: string;
  updated_at: string;
}

export function rowToWebhook(r: WebhookRow): Webhook {
  return { ...(JSON.parse(r.spec) as WebhookSpec), id: r.id, createdAt: r.created_at, updatedAt: r.updated_at };
}

export interface VariableRow {
  key: string;
  name: string;
  value: string;
  updated_at: string;
}

/** Groups variable rows (sorted by key) into sets; a set's updatedAt is its newest variable's. */
export function variableSets(rows: VariableRow[]): VariableSet[] {
  const byKey = new Map<string, VariableSet>();
  for (const r of rows) {
    let set = byKey.get(r.key);
    if (!set) {
      set = { key: r.key, variables: {}, updatedAt: r.updated_at };
      byKey.set(r.key, set);
    }
    set.variables[r.name] = r.value;
    if (r.updated_at > set.updatedAt) set.updatedAt = r.updated_at;
  }
  return [...byKey.values()];
}

export interface DeviceMemoryRow {
  device_id: string;
  kind: string;
  name: string;
  hash: string;
  detail: string | null;
  at: string;
}

export function rowToDeviceMemory(r: DeviceMemoryRow): DeviceMemoryEntry {
  return {
    deviceId: r.device_id,
    kind: r.kind as DeviceMemoryKind,
    name: r.name,
    hash: r.hash,
    detail: r.detail === null ? null : (JSON.parse(r.detail) as JsonObject),
    at: r.at,
  };
}

/** The sets of a variables write applied in order, one final value per (key, name) ('' = delete). */
export interface MergedVariables {
  /** Keys whose stored variables go first (`replace` mode). */
  replaced: string[];
  /** key -> name -> value, '' = delete the name. */
  values: Map<string, Map<string, string>>;
}

/**
 * Folds a `putVariables` call into one final value per (key, name), equal to applying the sets one
 * after the other (a bulk statement cannot touch a row twice).
 */
export function mergeVariableSets(sets: { key: string; variables: Record<string, string> }[], mode: 'merge' | 'replace'): MergedVariables {
  const replaced = new Set<string>();
  const values = new Map<string, Map<string, string>>();
  for (const s of sets) {
    let names = values.get(s.key);
    if (!names || mode === 'replace') {
      names = new Map();
      values.set(s.key, names);
    }
    if (mode === 'replace') replaced.add(s.key);
    for (const [name, value] of Object.entries(s.variables)) names.set(name, value);
  }
  return { replaced: [...replaced], values };
}
