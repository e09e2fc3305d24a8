/**
 * Storage contract of the provisioning part of Switchboard: presets (desired state), files,
 * per-device variables, what the planner remembers per device, firmware rollouts, webhooks and
 * their deliveries, zero-touch bootstrap records, and the history of reported parameter values.
 *
 * Like the core `Store` (src/store/types.ts) it is one async interface with no SQL in its types.
 * Two backends implement it, kept equivalent by the shared suite in contract.ts: SQLite (sqlite.ts,
 * its tables in the core store's database file) and PostgreSQL (postgres.ts, for several ACS
 * instances sharing one database). Both keep their tables prefixed `prov_`.
 *
 * Conventions are the core store's: ISO 8601 UTC timestamps with milliseconds, `undefined` keeps a
 * stored value and `null` clears it, expected failures reject with `StoreError`.
 */
import type { IsoTimestamp, JsonObject } from '../types.ts';

// ---------------------------------------------------------------------------------------------
// Device filters (preset preconditions, rollout targets)
// ---------------------------------------------------------------------------------------------

/** Version bounds; every given bound must hold (see src/provisioning/version.ts for the order). */
export interface VersionBounds {
  eq?: string;
  ne?: string;
  lt?: string;
  lte?: string;
  gt?: string;
  gte?: string;
}

export type ConditionOperator = 'eq' | 'ne' | 'prefix' | 'lt' | 'gt' | 'lte' | 'gte' | 'exists' | 'absent';

/** A condition on a parameter value the ACS knows (numbers compare numerically, text by code point). */
export interface ParameterConditionSpec {
  name: string;
  op: ConditionOperator;
  /** Required for every operator except `exists`/`absent`. */
  value?: string | number;
}

/** Which devices something applies to; every given field must hold (AND), lists are OR inside. */
export interface DeviceFilter {
  ids?: string[];
  oui?: string[];
  productClass?: string[];
  manufacturer?: string[];
  serialNumber?: string[];
  tags?: { all?: string[]; any?: string[]; none?: string[] };
  softwareVersion?: VersionBounds;
  parameters?: ParameterConditionSpec[];
}

// ---------------------------------------------------------------------------------------------
// Presets
// ---------------------------------------------------------------------------------------------

/**
 * When a preset is considered: the Inform events that trigger it (`always` = every session).
 * `bootstrap` 0 BOOTSTRAP, `boot` 1 BOOT, `periodic` 2 PERIODIC, `value-change` 4 VALUE CHANGE,
 * `connection-request` 6 CONNECTION REQUEST, `transfer-complete` 7 TRANSFER COMPLETE.
 */
export type PresetTrigger = 'always' | 'bootstrap' | 'boot' | 'periodic' | 'value-change' | 'connection-request' | 'transfer-complete';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** A daily time window in UTC; `end` before `start` wraps past midnight. */
export interface TimeWindowSpec {
  /** `HH:MM`, UTC. */
  start: string;
  /** `HH:MM`, UTC. */
  end: string;
  /** Days the window opens on (the day of `start`); all days when absent. */
  days?: Weekday[];
}

/** A schedule trigger: the preset applies in a session inside the window, at most once per interval. */
export interface PresetSchedule {
  intervalSeconds?: number;
  window?: TimeWindowSpec;
}

export type XsdTypeName = 'string' | 'int' | 'unsignedInt' | 'long' | 'unsignedLong' | 'boolean' | 'dateTime' | 'base64' | 'hexBinary' | 'decimal';

/** A scalar desired value; strings may be templates (src/provisioning/template.ts). */
export type DesiredScalar = string | number | boolean;

export interface DesiredParameter {
  /** Full parameter name. */
  name: string;
  value: DesiredScalar;
  /** xsd type to send; default: the type the device reported, else inferred from the JSON type. */
  type?: XsdTypeName;
  /**
   * A value the device never reads back (passwords): compared with what the ACS last set instead
   * of with the device's value. Default: true for names ending in Password/Secret/Passphrase...
   */
  secret?: boolean;
}

export interface AttributeSpec {
  notification?: number;
  accessList?: string[];
}

export interface DesiredAttribute extends AttributeSpec {
  /** Full parameter name (no partial paths: the planner must compare each parameter). */
  name: string;
}

export interface DesiredObjectInstance {
  /** Values by name relative to the instance (`Line.1.SIP.AuthUserName`). */
  values: Record<string, DesiredScalar>;
  /** Attributes by relative name. */
  attributes?: Record<string, AttributeSpec>;
}

/**
 * Instances a table must hold. With `key`, an existing instance whose key parameters equal the
 * desired ones is that instance; otherwise instances are taken in instance-number order (account 1 =
 * the first instance, as on Grandstream phones). Desired instances left without a match take an
 * unmatched existing instance (lowest number first), then a new one (AddObject) when `create`.
 */
export interface DesiredObjects {
  /** Table path ending with `.`, e.g. `Device.Services.VoiceService.1.VoiceProfile.`. */
  path: string;
  /** Relative names of the key parameters. */
  key?: string[];
  instances: DesiredObjectInstance[];
  /** AddObject for missing instances (default true). */
  create?: boolean;
  /** DeleteObject for instances no desired instance took (default false). */
  deleteUnlisted?: boolean;
}

export interface DesiredFirmware {
  /** SoftwareVersion the device must run. */
  version: string;
  /** A file id; default: the newest-added firmware file of that version for the device's OUI/product class. */
  fileId?: string;
  /** Also install when the device runs a newer version (default false: only upgrades). */
  allowDowngrade?: boolean;
}

export interface DesiredSpec {
  parameters?: DesiredParameter[];
  attributes?: DesiredAttribute[];
  objects?: DesiredObjects[];
  firmware?: DesiredFirmware;
  /** A "3 Vendor Configuration File" to download once per content (sha256). */
  configFile?: { fileId: string };
  tags?: { add?: string[]; remove?: string[] };
}

/** What an operator writes. */
export interface PresetSpec {
  name: string;
  description?: string;
  enabled: boolean;
  /** Higher weight wins when presets want different values for the same parameter. */
  weight: number;
  precondition: DeviceFilter;
  triggers: PresetTrigger[];
  schedule?: PresetSchedule;
  desired: DesiredSpec;
}

export interface Preset extends PresetSpec {
  id: string;
  /** Bumped on every change (a refused value is retried when the preset's revision changes). */
  revision: number;
  createdAt: IsoTimestamp;
  updatedAt: IsoTimestamp;
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/** How the public download route protects a file. */
export type FileAuthScheme = 'none' | 'basic' | 'digest';

export interface FileAuth {
  scheme: FileAuthScheme;
  username: string | null;
  /** SECRET: given to devices in the Download RPC; never shown to API viewers. */
  password: string | null;
}

export interface FileRecord {
  id: string;
  /** File name (TargetFileName, last URL segment), e.g. `gxp2140fw.bin`. */
  name: string;
  /** TR-069 FileType, e.g. `1 Firmware Upgrade Image`, `3 Vendor Configuration File`. */
  fileType: string;
  /** OUI the file is for; null = any. */
  oui: string | null;
  /** Product class the file is for; null = any. */
  productClass: string | null;
  /** Firmware version (SoftwareVersion after install), or a config version; null when none. */
  version: string | null;
  size: number;
  /** Lower-case hex SHA-256 of the content (also the content's name on disk). */
  sha256: string;
  description: string | null;
  auth: FileAuth;
  createdAt: IsoTimestamp;
  updatedAt: IsoTimestamp;
}

export type NewFileRecord = Omit<FileRecord, 'id' | 'createdAt' | 'updatedAt'>;

export interface FilePatch {
  name?: string;
  fileType?: string;
  oui?: string | null;
  productClass?: string | null;
  version?: string | null;
  description?: string | null;
  auth?: FileAuth;
}

export interface FileQuery {
  fileType?: string;
  oui?: string;
  productClass?: string;
  version?: string;
  sha256?: string;
  limit?: number;
  cursor?: string;
}

// ---------------------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------------------

/** The variables of one key (a serial number, a MAC as 12 upper-case hex digits, or a device id). */
export interface VariableSet {
  key: string;
  variables: Record<string, string>;
  updatedAt: IsoTimestamp;
}

export interface VariableQuery {
  keyPrefix?: string;
  limit?: number;
  cursor?: string;
}

// ---------------------------------------------------------------------------------------------
// Planner memory per device
// ---------------------------------------------------------------------------------------------

/**
 * What the planner remembers about a device between sessions:
 * - `applied`: the hash of the value the ACS last set successfully (secrets cannot be read back);
 * - `refused`: a desired value the device refused (hash of value + preset revision), not retried
 *   until it changes; `detail` holds the fault;
 * - `preset-run`: when a scheduled preset last applied (name = preset id);
 * - `bootstrap`: the bootstrap record revision applied (name = record key);
 * - `config-file`: the sha256 of the vendor configuration file last applied (name = file id).
 */
export type DeviceMemoryKind = 'applied' | 'refused' | 'preset-run' | 'bootstrap' | 'config-file' | 'firmware';

export interface DeviceMemoryEntry {
  deviceId: string;
  kind: DeviceMemoryKind;
  name: string;
  hash: string;
  detail: JsonObject | null;
  at: IsoTimestamp;
}

// ---------------------------------------------------------------------------------------------
// Rollouts
// ---------------------------------------------------------------------------------------------

export type RolloutState = 'running' | 'paused' | 'stopped' | 'cancelled' | 'completed';
export const FINAL_ROLLOUT_STATES: readonly RolloutState[] = ['stopped', 'cancelled', 'completed'];

/** A stage ends when this many devices (cumulative) are admitted: a count or a percentage of the target. */
export interface RolloutStage {
  name?: string;
  count?: number;
  percent?: number;
}

export interface RolloutSpec {
  name: string;
  fileId: string;
  target: DeviceFilter;
  stages: RolloutStage[];
  /** Devices downloading at the same time. */
  maxConcurrent: number;
  /** The rollout stops when more devices than this failed (count, or percent of the devices finished). */
  failureThreshold: { count?: number; percent?: number };
  window?: TimeWindowSpec;
  /** Send connection requests to admitted devices instead of waiting for their next Inform (default true). */
  kick?: boolean;
  /** A device that has not reported its upgrade this long after the Download fails (default 3600). */
  downloadTimeoutSeconds?: number;
  allowDowngrade?: boolean;
}

export interface Rollout extends RolloutSpec {
  id: string;
  state: RolloutState;
  /** Index of the stage being rolled out. */
  stageIndex: number;
  /** Why it stopped, or the operator's note. */
  reason: string | null;
  createdAt: IsoTimestamp;
  updatedAt: IsoTimestamp;
  finishedAt: IsoTimestamp | null;
}

export type RolloutDeviceState = 'pending' | 'downloading' | 'succeeded' | 'failed' | 'skipped';
export const FINAL_ROLLOUT_DEVICE_STATES: readonly RolloutDeviceState[] = ['succeeded', 'failed', 'skipped'];

export type RolloutDevicePhase = 'sent' | 'accepted' | 'installed';

export interface RolloutDevice {
  rolloutId: string;
  deviceId: string;
  /** Order in the rollout (deterministic shuffle: the canary is a sample, not the first ids). */
  position: number;
  /** Stage index that admits the device. */
  stage: number;
  state: RolloutDeviceState;
  /** Progress inside `downloading`: `sent` (Download queued), `accepted` (CPE accepted), `installed` (TransferComplete OK, new version not seen yet). */
  phase: RolloutDevicePhase | null;
  fromVersion: string | null;
  commandKey: string | null;
  taskId: string | null;
  faultCode: number | null;
  /** Failure or skip reason, or progress note. */
  detail: string | null;
  startedAt: IsoTimestamp | null;
  finishedAt: IsoTimestamp | null;
  updatedAt: IsoTimestamp;
  /**
   * When a connection request last woke this pending device (`claimKickSlot`); null once it was in
   * session. Kept in the store, not per process, so that ACS instances sharing the store agree.
   */
  kickedAt: IsoTimestamp | null;
}

export type NewRolloutDevice = Pick<RolloutDevice, 'deviceId' | 'position' | 'stage' | 'state' | 'fromVersion' | 'detail'>;

export interface RolloutDeviceUpdate {
  state?: RolloutDeviceState;
  phase?: RolloutDevicePhase | null;
  commandKey?: string | null;
  taskId?: string | null;
  faultCode?: number | null;
  detail?: string | null;
  startedAt?: IsoTimestamp | null;
  finishedAt?: IsoTimestamp | null;
  kickedAt?: IsoTimestamp | null;
}

/** A condition on the current row: the write happens only when it holds (compare-and-set). */
export interface RolloutDeviceExpectation {
  states: RolloutDeviceState[];
}

/** A condition on the current rollout row; every given field must hold. */
export interface RolloutExpectation {
  states?: RolloutState[];
  stageIndex?: number;
}

export type RolloutCounts = Record<RolloutDeviceState, number>;

export interface RolloutPatch {
  state?: RolloutState;
  stageIndex?: number;
  reason?: string | null;
  finishedAt?: IsoTimestamp | null;
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

export const WEBHOOK_EVENTS = [
  'device.registered',
  'device.booted',
  'device.bootstrapped',
  'parameter.changed',
  'task.done',
  'task.failed',
  'transfer.complete',
  'fault',
  'provisioning.applied',
  'rollout.finished',
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookSpec {
  name: string;
  url: string;
  /** SECRET: HMAC-SHA256 key of the signature header. */
  secret: string;
  /** Events delivered; `*` = all. */
  events: (WebhookEvent | '*')[];
  enabled: boolean;
  /** Delivery attempts before a delivery is marked failed (default 6). */
  maxAttempts?: number;
}

export interface Webhook extends WebhookSpec {
  id: string;
  createdAt: IsoTimestamp;
  updatedAt: IsoTimestamp;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: string;
  webhookId: string;
  event: WebhookEvent | 'ping';
  /** The JSON body sent (exact text, so retries send the same bytes and the same signature input). */
  body: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: IsoTimestamp | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: IsoTimestamp;
  finishedAt: IsoTimestamp | null;
}

export interface DeliveryUpdate {
  status?: DeliveryStatus;
  attempts?: number;
  nextAttemptAt?: IsoTimestamp | null;
  lastStatusCode?: number | null;
  lastError?: string | null;
  finishedAt?: IsoTimestamp | null;
}

// ---------------------------------------------------------------------------------------------
// Zero-touch bootstrap
// ---------------------------------------------------------------------------------------------

export interface BootstrapSpec {
  /** Serial number or MAC (normalised to 12 upper-case hex digits when it is a MAC). */
  key: string;
  /** ACS the device must use; when it is not this ACS the device is moved there. */
  acsUrl?: string | null;
  acsUsername?: string | null;
  /** SECRET. */
  acsPassword?: string | null;
  connectionRequestUsername?: string | null;
  /** SECRET. */
  connectionRequestPassword?: string | null;
  periodicInformInterval?: number | null;
  variables?: Record<string, string>;
  tags?: string[];
  note?: string | null;
}

export interface BootstrapRecord extends Required<Omit<BootstrapSpec, 'note'>> {
  note: string | null;
  revision: number;
  createdAt: IsoTimestamp;
  updatedAt: IsoTimestamp;
  /** Device that used the record last, and when its values were confirmed. */
  appliedDeviceId: string | null;
  appliedAt: IsoTimestamp | null;
}

export type UnknownDevicePolicy = 'accept' | 'quarantine' | 'refuse';

// ---------------------------------------------------------------------------------------------
// Parameter history
// ---------------------------------------------------------------------------------------------

export interface HistoryEntry {
  id: string;
  deviceId: string;
  name: string;
  value: string;
  /** The value the ACS knew before (null when it knew none). */
  previous: string | null;
  /** `value-change` = carried by an Inform with 4 VALUE CHANGE; `inform` = another Inform. */
  source: 'value-change' | 'inform';
  at: IsoTimestamp;
}

export type NewHistoryEntry = Omit<HistoryEntry, 'id'>;

export interface HistoryQuery {
  deviceId: string;
  name?: string;
  since?: IsoTimestamp;
  limit?: number;
  cursor?: string;
}

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

// ---------------------------------------------------------------------------------------------
// Change notifications
// ---------------------------------------------------------------------------------------------

/**
 * The kinds of object a change notification names (`variables`: any variable set, no id;
 * `setting`: the setting's name as id).
 */
export const PROVISIONING_CHANGE_KINDS = ['preset', 'file', 'rollout', 'webhook', 'bootstrap', 'variables', 'setting'] as const;
export type ProvisioningChangeKind = (typeof PROVISIONING_CHANGE_KINDS)[number];

/**
 * A committed change of operator-made provisioning data, told to `subscribe` listeners of EVERY
 * store instance on the same database. `id` names the object (preset/file/rollout/webhook id,
 * bootstrap key); absent = reload everything of that kind (a bulk change, or a listener that may
 * have missed messages, e.g. after the PostgreSQL listener reconnected).
 *
 * Sent after the change is committed (a reader that reloads on it sees the change). Not sent for
 * per-session data (device memory, history), deliveries, or rollout DEVICE progress
 * (only the rollout's own row: state, stage). Listeners must be cheap and must not throw.
 */
export interface ProvisioningChange {
  kind: ProvisioningChangeKind;
  id?: string;
}

export type ProvisioningChangeListener = (change: ProvisioningChange) => void;

// ---------------------------------------------------------------------------------------------
// The interface
// ---------------------------------------------------------------------------------------------

/**
 * Storage of the provisioning features. Methods reject with `StoreError` (`not_found`, `conflict`,
 * `invalid`, `unavailable`) for expected failures.
 */
export interface ProvisioningStore {
  readonly name: string;

  // Presets ------------------------------------------------------------------------------------
  /** Rejects with `conflict` when the name is taken. */
  createPreset(spec: PresetSpec): Promise<Preset>;
  getPreset(id: string): Promise<Preset | null>;
  /** All presets, by name. */
  listPresets(): Promise<Preset[]>;
  /** Replaces the spec (revision + 1); null when unknown; `conflict` for a taken name. */
  updatePreset(id: string, spec: PresetSpec): Promise<Preset | null>;
  deletePreset(id: string): Promise<boolean>;

  // Files --------------------------------------------------------------------------------------
  createFile(record: NewFileRecord): Promise<FileRecord>;
  getFile(id: string): Promise<FileRecord | null>;
  listFiles(query: FileQuery): Promise<Page<FileRecord>>;
  updateFile(id: string, patch: FilePatch): Promise<FileRecord | null>;
  deleteFile(id: string): Promise<boolean>;
  /** How many file records use this content. */
  countFilesWithContent(sha256: string): Promise<number>;

  // Variables ----------------------------------------------------------------------------------
  getVariables(keys: string[]): Promise<VariableSet[]>;
  listVariables(query: VariableQuery): Promise<Page<VariableSet>>;
  /** Writes variables: `merge` keeps other names of the key, `replace` drops them. Empty values delete a name. */
  putVariables(sets: { key: string; variables: Record<string, string> }[], mode: 'merge' | 'replace'): Promise<number>;
  /** Deletes every variable of the keys (all keys when `all`). Resolves how many keys went. */
  deleteVariables(selector: { keys?: string[]; all?: boolean }): Promise<number>;

  // Planner memory ------------------------------------------------------------------------------
  getDeviceMemory(deviceId: string, kinds?: DeviceMemoryKind[]): Promise<DeviceMemoryEntry[]>;
  putDeviceMemory(entries: DeviceMemoryEntry[]): Promise<void>;
  /** Deletes entries of a device (all kinds, or the given kinds, optionally one name). */
  deleteDeviceMemory(deviceId: string, kinds?: DeviceMemoryKind[], name?: string): Promise<number>;

  // Rollouts -----------------------------------------------------------------------------------
  /** Creates the rollout with its devices in one transaction. */
  createRollout(spec: RolloutSpec, devices: NewRolloutDevice[]): Promise<Rollout>;
  getRollout(id: string): Promise<Rollout | null>;
  listRollouts(query: { states?: RolloutState[]; limit?: number; cursor?: string }): Promise<Page<Rollout>>;
  /**
   * Changes the rollout. With `expect`, only when the current row matches it (atomically): that is
   * how several ACS instances running the rollout tick avoid advancing a stage twice or finishing
   * a rollout twice. Resolves the updated rollout, or null when unknown or `expect` did not hold.
   */
  updateRollout(id: string, patch: RolloutPatch, expect?: RolloutExpectation): Promise<Rollout | null>;
  listRolloutDevices(rolloutId: string, query: { states?: RolloutDeviceState[]; limit?: number; cursor?: string }): Promise<Page<RolloutDevice>>;
  getRolloutDevice(rolloutId: string, deviceId: string): Promise<RolloutDevice | null>;
  /** Rollouts (not final) that include the device, newest first. */
  rolloutsOfDevice(deviceId: string): Promise<{ rollout: Rollout; device: RolloutDevice }[]>;
  /**
   * Changes one device of a rollout; with `expect`, only when its current state is one of those
   * (atomically). Resolves the updated device, or null when unknown or `expect` did not hold.
   */
  updateRolloutDevice(rolloutId: string, deviceId: string, update: RolloutDeviceUpdate, expect?: RolloutDeviceExpectation): Promise<RolloutDevice | null>;
  /** Applies updates to many devices of a rollout at once (e.g. skipping the rest). */
  updateRolloutDevices(rolloutId: string, where: { states: RolloutDeviceState[] }, update: RolloutDeviceUpdate): Promise<number>;
  /**
   * Atomically moves a `pending` device to `downloading` when fewer than `maxConcurrent` devices of
   * the rollout are `downloading`. Resolves the updated device, or null when no slot is free or the
   * device is not pending. `startedAt` defaults to the store's clock when the slot is taken: a time
   * read by the caller before it waited for the rollout's lock may precede the finish of the device
   * whose slot it takes (another ACS instance's).
   */
  claimDownloadSlot(rolloutId: string, deviceId: string, maxConcurrent: number, update: RolloutDeviceUpdate): Promise<RolloutDevice | null>;
  /**
   * Atomically records a connection request to a `pending` device (`kickedAt = at`) when the device
   * was not kicked since `kickedSince`, and the rollout's downloading devices plus its pending
   * devices kicked since `kickedSince` are fewer than `maxConcurrent` (a woken device will take a
   * slot: no more devices are woken than can download). Resolves true when this caller may send the
   * connection request, false otherwise. Serialised with `claimDownloadSlot` on the same rollout.
   */
  claimKickSlot(rolloutId: string, deviceId: string, maxConcurrent: number, at: IsoTimestamp, kickedSince: IsoTimestamp): Promise<boolean>;
  rolloutCounts(rolloutId: string, stageAtMost?: number): Promise<RolloutCounts>;

  // Webhooks -----------------------------------------------------------------------------------
  createWebhook(spec: WebhookSpec): Promise<Webhook>;
  getWebhook(id: string): Promise<Webhook | null>;
  listWebhooks(): Promise<Webhook[]>;
  updateWebhook(id: string, spec: WebhookSpec): Promise<Webhook | null>;
  deleteWebhook(id: string): Promise<boolean>;
  createDeliveries(deliveries: Omit<WebhookDelivery, 'id'>[]): Promise<WebhookDelivery[]>;
  getDelivery(id: string): Promise<WebhookDelivery | null>;
  /** Pending deliveries due at `now`, oldest first. */
  dueDeliveries(now: IsoTimestamp, limit: number): Promise<WebhookDelivery[]>;
  /**
   * Takes up to `limit` pending deliveries due at `now` (oldest first) for one attempt, atomically:
   * their `nextAttemptAt` becomes `leaseUntil`, so no other caller (another ACS instance) takes them
   * before then. The caller records the attempt with `updateDelivery`; if it dies first, the lease
   * runs out and the delivery is attempted again. Resolves the taken deliveries (as updated).
   */
  claimDueDeliveries(now: IsoTimestamp, limit: number, leaseUntil: IsoTimestamp): Promise<WebhookDelivery[]>;
  updateDelivery(id: string, update: DeliveryUpdate): Promise<WebhookDelivery | null>;
  /** Newest first. */
  listDeliveries(query: { webhookId?: string; status?: DeliveryStatus; limit?: number; cursor?: string }): Promise<Page<WebhookDelivery>>;

  // Bootstrap ----------------------------------------------------------------------------------
  /** Creates or replaces the record of `spec.key` (revision + 1 on replace). */
  putBootstrap(spec: BootstrapSpec): Promise<{ record: BootstrapRecord; created: boolean }>;
  getBootstrap(key: string): Promise<BootstrapRecord | null>;
  /** The first record whose key is one of `keys` (in the given order). */
  findBootstrap(keys: string[]): Promise<BootstrapRecord | null>;
  listBootstrap(query: { limit?: number; cursor?: string }): Promise<Page<BootstrapRecord>>;
  markBootstrapApplied(key: string, deviceId: string, at: IsoTimestamp): Promise<void>;
  deleteBootstrap(key: string): Promise<boolean>;

  // Settings -----------------------------------------------------------------------------------
  getSetting<T>(name: string): Promise<T | null>;
  /** Stores a setting (JSON); subscribers are told `{ kind: 'setting', id: name }` (callers cache settings). */
  putSetting(name: string, value: unknown): Promise<void>;

  // History ------------------------------------------------------------------------------------
  appendHistory(entries: NewHistoryEntry[]): Promise<void>;
  /** Newest first. */
  listHistory(query: HistoryQuery): Promise<Page<HistoryEntry>>;
  /** Deletes history older than `before`; resolves how many entries went. */
  pruneHistory(before: IsoTimestamp): Promise<number>;

  // Change notifications -----------------------------------------------------------------------
  /**
   * Calls `listener` after every committed change of presets, files, rollouts, webhooks, bootstrap
   * records or variables made through ANY store instance on the same database (this one included),
   * until the returned function is called. See `ProvisioningChange`. Optional: a backend without it
   * gives no notifications (callers then must not cache).
   */
  subscribe?(listener: ProvisioningChangeListener): () => void;

  close(): Promise<void>;
}
