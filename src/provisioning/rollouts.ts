/**
 * Firmware rollouts: one firmware file to a filtered set of devices, in stages.
 *
 * At creation the target filter is resolved to a fixed device list (devices that appear later are
 * not included: a rollout is a plan an operator can review). Devices that cannot take the file
 * (other product class/OUI, already on that version, newer unless downgrades are allowed) are
 * `skipped`. The others are put in a deterministic pseudo-random order (so the canary is a sample
 * of the fleet, not the lowest serial numbers) and cut into cumulative stages: `{count: 5}` then
 * `{percent: 100}` means five canaries, then everybody else.
 *
 * A device of an open stage gets the Download in its next session (or, with `kick`, right away
 * through a connection request) when fewer than `maxConcurrent` devices are downloading and the
 * time window is open. Per device: `pending` -> `downloading` (phases sent, accepted, installed) ->
 * `succeeded` when the device reports the file's version after its TransferComplete, or `failed`
 * (Download refused, TransferComplete fault, another version reported after the reboot, or no
 * report within the timeout). A stage is done when none of its devices is pending or downloading;
 * the next stage then opens. When failures reach the threshold the rollout `stopped`: no new
 * downloads, devices never started become `skipped`, downloads in flight still report.
 *
 * Several ACS instances may share the provisioning store, each running the tick. Everything that
 * must happen once is decided by the store, not by this process: download slots and kicks are
 * claimed under the rollout row's lock (`claimDownloadSlot`, `claimKickSlot`: no more devices are
 * downloading or being woken than `maxConcurrent`, and a device is woken by one instance once per
 * interval), and rollout state changes are compare-and-set (`updateRollout` with `expect`): a stage
 * opens once, a rollout finishes once (one `onFinished`, one webhook), a timed-out download fails
 * only if it is still downloading.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ConnectionRequestResult } from '../acs/connection-request.ts';
import type { DownloadTaskPayload } from '../acs/tasks/schema.ts';
import type { Device, Store } from '../store/types.ts';
import {
  FINAL_ROLLOUT_STATES,
  type FileRecord,
  type NewRolloutDevice,
  type ProvisioningStore,
  type Rollout,
  type RolloutCounts,
  type RolloutDevice,
  type RolloutSpec,
  type RolloutStage,
} from '../store/provisioning/types.ts';
import { fileUrl } from './files.ts';
import { explainFilter, filterParameterNames, type DeviceFacts } from './filter.ts';
import { compareVersions } from './version.ts';
import { inWindow } from './window.ts';

/** CommandKey prefix of rollout downloads: `ro:<rollout id>` (at most 32 characters). */
export const ROLLOUT_COMMAND_KEY_PREFIX = 'ro:';
const DEFAULT_DOWNLOAD_TIMEOUT_S = 3600;
/** A device is kicked again at most this often while it stays pending. */
const KICK_INTERVAL_MS = 60_000;
const DEVICE_PAGE = 1000;
const PERCENT = 100;

/**
 * False when a connection request's result says the device was NOT woken by it: another caller's
 * request was answered instead (`deduplicated`: the device may have had that session already), or
 * the device is in a session now (which may be past the point where it would take a download).
 * Anything else — including a failure, retried after the kick interval — counts as a wake-up.
 */
export function wokeDevice(result: unknown): boolean {
  const r = result as Partial<ConnectionRequestResult> | null | undefined;
  return !(r && (r.deduplicated === true || r.transport === 'session'));
}

/** Returns the command key of a rollout's downloads. */
export function rolloutCommandKey(rolloutId: string): string {
  return `${ROLLOUT_COMMAND_KEY_PREFIX}${rolloutId}`.slice(0, 32);
}

/** The rollout id of a command key, or null when it is not a rollout's. */
export function rolloutIdOfCommandKey(commandKey: string): string | null {
  return commandKey.startsWith(ROLLOUT_COMMAND_KEY_PREFIX) ? commandKey.slice(ROLLOUT_COMMAND_KEY_PREFIX.length) : null;
}

/** A problem with a rollout request (the API answers 400/409). */
export class RolloutError extends Error {
  constructor(
    readonly code: 'file_not_found' | 'not_firmware' | 'no_devices' | 'bad_state' | 'not_found',
    message: string,
  ) {
    super(message);
    this.name = 'RolloutError';
  }
}

export interface StageProgress {
  index: number;
  name: string | null;
  size: number;
  counts: RolloutCounts;
}

export interface RolloutProgress {
  rollout: Rollout;
  counts: RolloutCounts;
  total: number;
  stages: StageProgress[];
  /** The rollout's window is open now (always true without a window). */
  windowOpen: boolean;
}

export interface RolloutManagerOptions {
  store: Store;
  provisioning: ProvisioningStore;
  /** Base URL of the public file route, e.g. `http://acs.example.net:7557`. */
  fileBaseUrl: string;
  now?: () => number;
  /** Asks a device to open a session (AcsControl.connectionRequest); absent = no kicks. */
  connectionRequest?: (deviceId: string) => Promise<unknown>;
  /** Called when a rollout ends (completed, stopped, cancelled). */
  onFinished?: (rollout: Rollout, counts: RolloutCounts) => void;
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

/** The device facts a filter needs, loaded from the store. */
export async function deviceFacts(store: Store, device: Device, parameterNames: string[]): Promise<DeviceFacts> {
  const params = parameterNames.length > 0 ? await store.getParameters(device.id, { names: parameterNames }) : [];
  const values = new Map(params.map((p) => [p.name, p.value]));
  return {
    id: device.id,
    oui: device.oui,
    productClass: device.productClass,
    manufacturer: device.manufacturer,
    serialNumber: device.serialNumber,
    softwareVersion: device.softwareVersion,
    tags: device.tags,
    parameter: (n) => values.get(n) ?? undefined,
  };
}

/**
 * Lists the devices matching a filter (the store narrows by what it can, the rest is checked here).
 * @returns matching devices in id order.
 */
export async function devicesMatching(store: Store, filter: RolloutSpec['target']): Promise<Device[]> {
  const out: Device[] = [];
  const names = filterParameterNames(filter);
  let cursor: string | undefined;
  do {
    const page = await store.queryDevices({
      ids: filter.ids,
      oui: filter.oui?.length === 1 ? filter.oui[0] : undefined,
      productClass: filter.productClass?.length === 1 ? filter.productClass[0] : undefined,
      tags: filter.tags?.all,
      limit: DEVICE_PAGE,
      cursor,
    });
    for (const d of page.devices) if (explainFilter(filter, await deviceFacts(store, d, names)).length === 0) out.push(d);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
}

/** Why a device cannot take a file, or null when it can. */
export function skipReason(file: FileRecord, device: Pick<Device, 'oui' | 'productClass' | 'softwareVersion'>, allowDowngrade: boolean): string | null {
  if (file.productClass !== null && file.productClass.toLowerCase() !== device.productClass.toLowerCase()) {
    return `the file is for ${file.productClass}, the device is a ${device.productClass}`;
  }
  if (file.oui !== null && file.oui.toUpperCase() !== device.oui.toUpperCase()) return `the file is for OUI ${file.oui}`;
  if (file.version !== null && device.softwareVersion) {
    const c = compareVersions(device.softwareVersion, file.version);
    if (c === 0) return `already runs ${file.version}`;
    if (c > 0 && !allowDowngrade) return `runs ${device.softwareVersion}, newer than ${file.version}`;
  }
  return null;
}

/** Cumulative device count at the end of each stage (the last stage always reaches `eligible`). */
export function stageBoundaries(stages: readonly RolloutStage[], eligible: number): number[] {
  const bounds: number[] = [];
  let prev = 0;
  for (const s of stages) {
    const raw = s.count !== undefined ? s.count : Math.ceil((eligible * (s.percent ?? PERCENT)) / PERCENT);
    const b = Math.min(eligible, Math.max(prev, raw));
    bounds.push(b);
    prev = b;
  }
  if (bounds.length === 0 || bounds[bounds.length - 1] < eligible) bounds.push(eligible);
  return bounds;
}

function emptyCounts(): RolloutCounts {
  return { pending: 0, downloading: 0, succeeded: 0, failed: 0, skipped: 0 };
}

/** See the module comment. */
export class RolloutManager {
  private readonly store: Store;
  private readonly p: ProvisioningStore;
  private fileBaseUrl: string;
  private readonly now: () => number;
  private kick: ((deviceId: string) => Promise<unknown>) | undefined;
  private readonly onFinished: RolloutManagerOptions['onFinished'];
  private readonly log: RolloutManagerOptions['logger'];
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;

  constructor(options: RolloutManagerOptions) {
    this.store = options.store;
    this.p = options.provisioning;
    this.fileBaseUrl = options.fileBaseUrl;
    this.now = options.now ?? Date.now;
    this.kick = options.connectionRequest;
    this.onFinished = options.onFinished;
    this.log = options.logger;
  }

  /** Sets how devices are asked to open a session (AcsControl.connectionRequest). */
  setConnectionRequest(fn: (deviceId: string) => Promise<unknown>): void {
    this.kick = fn;
  }

  /** Changes the base URL of the Download URLs given from now on. */
  setFileBaseUrl(url: string): void {
    this.fileBaseUrl = url;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  /** Starts the periodic evaluation (timeouts, stages, kicks). */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.ticking ?? Promise.resolve();
  }

  /**
   * Creates a rollout and its device list.
   * @returns the rollout.
   * @throws RolloutError (unknown or non-firmware file, no matching device); StoreError.
   */
  async create(spec: RolloutSpec): Promise<Rollout> {
    const file = await this.p.getFile(spec.fileId);
    if (!file) throw new RolloutError('file_not_found', `no file has the id "${spec.fileId}"`);
    if (!file.fileType.startsWith('1')) throw new RolloutError('not_firmware', `file "${file.id}" is a "${file.fileType}", not a "1 Firmware Upgrade Image"`);
    const devices = await devicesMatching(this.store, spec.target);
    if (devices.length === 0) throw new RolloutError('no_devices', 'no device matches the target filter');
    const seed = randomBytes(8).toString('hex');
    const order = (id: string) => createHash('sha256').update(seed + id).digest('hex');
    const sorted = [...devices].sort((a, b) => (order(a.id) < order(b.id) ? -1 : 1));
    const eligible = sorted.filter((d) => skipReason(file, d, spec.allowDowngrade ?? false) === null);
    const bounds = stageBoundaries(spec.stages, eligible.length);
    const stageOf = (i: number) => bounds.findIndex((b) => i < b);
    const rows: NewRolloutDevice[] = [];
    let position = 0;
    let eligibleIndex = 0;
    for (const d of sorted) {
      const reason = skipReason(file, d, spec.allowDowngrade ?? false);
      if (reason) rows.push({ deviceId: d.id, position: position++, stage: 0, state: 'skipped', fromVersion: d.softwareVersion, detail: reason });
      else rows.push({ deviceId: d.id, position: position++, stage: Math.max(0, stageOf(eligibleIndex++)), state: 'pending', fromVersion: d.softwareVersion, detail: null });
    }
    // An implicit last stage takes the devices the operator's stages left out.
    const stages: RolloutStage[] = bounds.length > spec.stages.length ? [...spec.stages, { name: 'rest', percent: PERCENT }] : spec.stages;
    const rollout = await this.p.createRollout({ ...spec, stages }, rows);
    this.log?.info({ rolloutId: rollout.id, devices: rows.length, eligible: eligible.length, stages: bounds }, 'rollout created');
    await this.evaluate(rollout.id);
    return (await this.p.getRollout(rollout.id)) ?? rollout;
  }

  /** Progress of a rollout, per stage. Null when unknown. */
  async progress(id: string): Promise<RolloutProgress | null> {
    const rollout = await this.p.getRollout(id);
    if (!rollout) return null;
    const counts = await this.p.rolloutCounts(id);
    const stages: StageProgress[] = [];
    let below = emptyCounts();
    for (let i = 0; i < rollout.stages.length; i++) {
      const upTo = await this.p.rolloutCounts(id, i);
      const c = emptyCounts();
      for (const k of Object.keys(c) as (keyof RolloutCounts)[]) c[k] = upTo[k] - below[k];
      below = upTo;
      // skipped devices are all in stage 0 but belong to no stage's size
      const size = c.pending + c.downloading + c.succeeded + c.failed + (i === 0 ? 0 : c.skipped);
      stages.push({ index: i, name: rollout.stages[i].name ?? null, size, counts: c });
    }
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    return { rollout, counts, total, stages, windowOpen: !rollout.window || inWindow(rollout.window, this.now()) };
  }

  /** Pauses (no new downloads). @throws RolloutError not_found / bad_state. */
  async pause(id: string, reason?: string): Promise<Rollout> {
    const r = await this.require(id);
    const paused = r.state === 'running' ? await this.p.updateRollout(id, { state: 'paused', reason: reason ?? null }, { states: ['running'] }) : null;
    if (!paused) throw new RolloutError('bad_state', `rollout "${id}" is ${(await this.require(id)).state}, only a running rollout can be paused`);
    return paused;
  }

  /** Resumes a paused rollout. @throws RolloutError not_found / bad_state. */
  async resume(id: string): Promise<Rollout> {
    const r = await this.require(id);
    const resumed = r.state === 'paused' ? await this.p.updateRollout(id, { state: 'running', reason: null }, { states: ['paused'] }) : null;
    if (!resumed) throw new RolloutError('bad_state', `rollout "${id}" is ${(await this.require(id)).state}, only a paused rollout can be resumed`);
    await this.evaluate(id);
    return (await this.p.getRollout(id))!;
  }

  /** Cancels: devices not started become skipped; downloads in flight still report. @throws RolloutError. */
  async cancel(id: string, reason?: string): Promise<Rollout> {
    const r = await this.require(id);
    const done = FINAL_ROLLOUT_STATES.includes(r.state) ? null : await this.finish(r, 'cancelled', reason ?? 'cancelled by an operator');
    if (!done) throw new RolloutError('bad_state', `rollout "${id}" is already ${(await this.require(id)).state}`);
    return done;
  }

  private async require(id: string): Promise<Rollout> {
    const r = await this.p.getRollout(id);
    if (!r) throw new RolloutError('not_found', `no rollout has the id "${id}"`);
    return r;
  }

  /**
   * Ends a rollout that is still open. @returns the finished rollout, or null when it was already
   * final (another instance, or another evaluation here, finished it first: nothing is done twice).
   */
  private async finish(r: Rollout, state: 'completed' | 'stopped' | 'cancelled', reason: string | null): Promise<Rollout | null> {
    const at = this.iso();
    const done = await this.p.updateRollout(r.id, { state, reason, finishedAt: at }, { states: ['running', 'paused'] });
    if (!done) return null;
    // After the state change: a final rollout is never offered to devices again (rolloutsOfDevice),
    // so no device can start downloading between the two writes.
    if (state !== 'completed') {
      await this.p.updateRolloutDevices(r.id, { states: ['pending'] }, { state: 'skipped', detail: `rollout ${state}: ${reason ?? ''}`.trim(), finishedAt: at });
    }
    const counts = await this.p.rolloutCounts(r.id);
    this.log?.info({ rolloutId: r.id, state, reason, counts }, 'rollout finished');
    this.onFinished?.(done, counts);
    return done;
  }

  /**
   * Re-evaluates a rollout: failure threshold, stage completion, completion.
   * @returns the rollout after the evaluation (null when unknown).
   */
  async evaluate(id: string): Promise<Rollout | null> {
    let r = await this.p.getRollout(id);
    if (!r || FINAL_ROLLOUT_STATES.includes(r.state)) return r;
    const counts = await this.p.rolloutCounts(id);
    const finished = counts.succeeded + counts.failed;
    const t = r.failureThreshold;
    if (counts.failed > 0) {
      let why: string | null = null;
      if (t.count !== undefined && counts.failed >= t.count) why = `failure threshold reached: ${counts.failed} devices failed (threshold ${t.count})`;
      else if (t.percent !== undefined && finished > 0 && (counts.failed * PERCENT) / finished >= t.percent) {
        why = `failure threshold reached: ${counts.failed} of ${finished} finished devices failed (threshold ${t.percent}%)`;
      }
      if (why !== null) return (await this.finish(r, 'stopped', why)) ?? this.p.getRollout(id);
    }
    if (r.state !== 'running') return r;
    // Open the next stages whose predecessors are done.
    while (true) {
      const upTo = await this.p.rolloutCounts(id, r.stageIndex);
      if (upTo.pending + upTo.downloading > 0) break;
      if (r.stageIndex >= r.stages.length - 1) {
        if (counts.pending + counts.downloading === 0) return (await this.finish(r, 'completed', null)) ?? this.p.getRollout(id);
        break;
      }
      // Compare-and-set: when another instance opened the stage (or paused/ended the rollout)
      // meanwhile, continue from what the store holds now instead of advancing again.
      const opened = await this.p.updateRollout(id, { stageIndex: r.stageIndex + 1 }, { stageIndex: r.stageIndex, states: ['running'] });
      if (opened) {
        r = opened;
        this.log?.info({ rolloutId: id, stage: r.stageIndex }, 'rollout stage opened');
        continue;
      }
      const now = await this.p.getRollout(id);
      if (!now || now.state !== 'running') return now;
      r = now;
    }
    return r;
  }

  /** Evaluates every open rollout: download timeouts, thresholds, stages, kicks. */
  tick(): Promise<void> {
    if (this.ticking) return this.ticking;
    this.ticking = (async () => {
      try {
        const page = await this.p.listRollouts({ states: ['running', 'paused'], limit: 1000 });
        for (const r of page.items) {
          await this.expireDownloads(r);
          const after = await this.evaluate(r.id);
          if (after && after.state === 'running') await this.kickPending(after);
        }
      } catch (err) {
        this.log?.warn({ err }, 'rollout evaluation failed');
      } finally {
        this.ticking = null;
      }
    })();
    return this.ticking;
  }

  private async expireDownloads(r: Rollout): Promise<void> {
    const limitMs = (r.downloadTimeoutSeconds ?? DEFAULT_DOWNLOAD_TIMEOUT_S) * 1000;
    const page = await this.p.listRolloutDevices(r.id, { states: ['downloading'], limit: 1000 });
    for (const d of page.items) {
      if (d.startedAt && this.now() - Date.parse(d.startedAt) > limitMs) {
        // only if it is still downloading (its session may have just reported success elsewhere)
        await this.p.updateRolloutDevice(
          r.id,
          d.deviceId,
          { state: 'failed', phase: null, detail: `no upgrade reported within ${Math.round(limitMs / 1000)} s of the Download`, finishedAt: this.iso() },
          { states: ['downloading'] },
        );
      }
    }
  }

  private async kickPending(r: Rollout): Promise<void> {
    if (!this.kick || r.kick === false) return;
    if (r.window && !inWindow(r.window, this.now())) return;
    const now = this.now();
    const kickedSince = new Date(now - KICK_INTERVAL_MS).toISOString();
    // A kicked device that has not opened its session yet will take a slot: the store counts it as
    // busy, so that no more devices are woken than can download (a woken device finding no slot
    // would wait), whichever instance woke it.
    const counts = await this.p.rolloutCounts(r.id);
    if (counts.downloading >= r.maxConcurrent) return;
    const page = await this.p.listRolloutDevices(r.id, { states: ['pending'], limit: 1000 });
    for (const d of page.items) {
      if (d.stage > r.stageIndex) continue;
      if (d.kickedAt !== null && d.kickedAt >= kickedSince) continue;
      if (!(await this.p.claimKickSlot(r.id, d.deviceId, r.maxConcurrent, new Date(now).toISOString(), kickedSince))) {
        // Full, or another instance just kicked this device: try again at the next tick.
        break;
      }
      void this.kick(d.deviceId)
        .then(async (result) => {
          // Not woken by this request: free the kick so the next tick tries again, instead of
          // waiting a whole interval for a session that is not coming.
          if (!wokeDevice(result)) await this.p.updateRolloutDevice(r.id, d.deviceId, { kickedAt: null }, { states: ['pending'] });
        })
        .catch((err: unknown) => this.log?.warn({ err, deviceId: d.deviceId }, 'rollout kick failed'));
    }
  }

  /**
   * In a session: the Download a device should get now from a rollout, if any. Claims a download
   * slot (so concurrent sessions respect `maxConcurrent`).
   * @param requested the device asked for firmware (RequestDownload): its stage need not be open yet.
   * @returns the task payload and rollout, or null.
   */
  async planDownload(device: Pick<Device, 'id' | 'oui' | 'productClass' | 'softwareVersion'>, requested: boolean): Promise<{ payload: DownloadTaskPayload; rollout: Rollout; file: FileRecord } | null> {
    const entries = await this.p.rolloutsOfDevice(device.id);
    for (const { rollout, device: rd } of entries) {
      // The device is in session: a kick sent to it has been answered; it no longer holds a wake slot.
      if (rd.kickedAt !== null && rd.state === 'pending') await this.p.updateRolloutDevice(rollout.id, device.id, { kickedAt: null }, { states: ['pending'] });
      if (rollout.state !== 'running' || rd.state !== 'pending') continue;
      if (!requested && rd.stage > rollout.stageIndex) continue;
      if (rollout.window && !inWindow(rollout.window, this.now())) continue;
      const file = await this.p.getFile(rollout.fileId);
      if (!file) {
        await this.p.updateRolloutDevice(rollout.id, device.id, { state: 'failed', detail: 'the firmware file was deleted', finishedAt: this.iso() }, { states: ['pending'] });
        continue;
      }
      const reason = skipReason(file, device, rollout.allowDowngrade ?? false);
      if (reason) {
        await this.p.updateRolloutDevice(rollout.id, device.id, { state: 'skipped', detail: reason, finishedAt: this.iso() }, { states: ['pending'] });
        await this.evaluate(rollout.id);
        continue;
      }
      const commandKey = rolloutCommandKey(rollout.id);
      const claimed = await this.p.claimDownloadSlot(rollout.id, device.id, rollout.maxConcurrent, {
        phase: 'sent',
        commandKey,
        detail: 'Download sent',
      });
      if (!claimed) continue;
      return { payload: downloadPayload(file, this.fileBaseUrl, commandKey), rollout, file };
    }
    return null;
  }

  /** The Download RPC of a rollout was answered. */
  async onDownloadAnswer(rolloutId: string, deviceId: string, accepted: boolean, detail: string, faultCode: number | null): Promise<void> {
    if (accepted) {
      await this.p.updateRolloutDevice(rolloutId, deviceId, { phase: 'accepted', detail });
      return;
    }
    await this.p.updateRolloutDevice(rolloutId, deviceId, { state: 'failed', phase: null, faultCode, detail, finishedAt: this.iso() }, { states: ['downloading'] });
    await this.evaluate(rolloutId);
  }

  /** Records the task that carried a rollout's Download. */
  async setTask(rolloutId: string, deviceId: string, taskId: string): Promise<void> {
    await this.p.updateRolloutDevice(rolloutId, deviceId, { taskId });
  }

  /**
   * A TransferComplete for a rollout's Download.
   * @param reportedVersion SoftwareVersion in this session's Inform; `rebooted` = the Inform had 1 BOOT.
   */
  async onTransferComplete(rolloutId: string, deviceId: string, faultCode: number, faultString: string, reportedVersion: string | null, rebooted: boolean): Promise<RolloutDevice | null> {
    const r = await this.p.getRollout(rolloutId);
    const d = await this.p.getRolloutDevice(rolloutId, deviceId);
    if (!r || !d || d.state !== 'downloading') return d;
    const at = this.iso();
    if (faultCode !== 0) {
      await this.p.updateRolloutDevice(rolloutId, deviceId, { state: 'failed', phase: null, faultCode, detail: `TransferComplete fault ${faultCode}: ${faultString}`, finishedAt: at }, { states: ['downloading'] });
    } else {
      await this.checkVersion(r, d, reportedVersion, rebooted);
    }
    await this.evaluate(rolloutId);
    return this.p.getRolloutDevice(rolloutId, deviceId);
  }

  /** An Inform: resolves devices that installed and must now report the new version. */
  async onInform(deviceId: string, reportedVersion: string | null, rebooted: boolean): Promise<void> {
    for (const { rollout, device } of await this.p.rolloutsOfDevice(deviceId)) {
      if (device.state === 'downloading' && device.phase === 'installed') {
        await this.checkVersion(rollout, device, reportedVersion, rebooted);
        await this.evaluate(rollout.id);
      }
    }
  }

  private async checkVersion(r: Rollout, d: RolloutDevice, reportedVersion: string | null, rebooted: boolean): Promise<void> {
    const file = await this.p.getFile(r.fileId);
    const target = file?.version ?? null;
    const at = this.iso();
    // Each write only while the device is still downloading (an instance's timeout may have failed it).
    const downloading = { states: ['downloading' as const] };
    if (target === null || (reportedVersion !== null && compareVersions(reportedVersion, target) === 0)) {
      await this.p.updateRolloutDevice(r.id, d.deviceId, { state: 'succeeded', phase: null, detail: `runs ${reportedVersion ?? '(unknown)'}`, finishedAt: at }, downloading);
    } else if (rebooted) {
      await this.p.updateRolloutDevice(r.id, d.deviceId, { state: 'failed', phase: null, detail: `reports ${reportedVersion ?? '(no version)'} after the upgrade to ${target}`, finishedAt: at }, downloading);
    } else {
      await this.p.updateRolloutDevice(r.id, d.deviceId, { phase: 'installed', detail: `installed; waiting for the device to report ${target}` }, downloading);
    }
  }
}

/** The task JSON of a Download of a library file. */
export function downloadPayload(file: FileRecord, baseUrl: string, commandKey: string): DownloadTaskPayload {
  const payload: DownloadTaskPayload = {
    type: 'download',
    fileType: file.fileType,
    url: fileUrl(baseUrl, file),
    fileSize: file.size,
    targetFileName: file.name,
    commandKey,
  };
  if (file.auth.scheme !== 'none') {
    payload.username = file.auth.username ?? '';
    payload.password = file.auth.password ?? '';
  }
  return payload;
}
