/**
 * The CPE agent: one simulated Grandstream device speaking TR-069 to an ACS.
 *
 * It owns the device's data model (src/datamodel), its pending Inform events, its transfer queue,
 * its scheduled informs and the timers that drive sessions (boot, periodic inform, retries,
 * ScheduleInform, delayed transfers). Timers go through a shared `Scheduler`, the Connection Request
 * listener and the HTTP agent pool are shared too (`CpeRuntime`), so a fleet of thousands of agents
 * in one process costs little more than their data models.
 *
 * Invariants:
 *  - at most one session at a time; triggers during a session start another one afterwards;
 *  - the state is saved (atomically) before an RPC that changed it is answered;
 *  - an event leaves the queue only when the response that completes it arrived;
 *  - every message sent goes through the codec's strict builder (schema-valid by construction).
 */
import type { KeyObject } from 'node:crypto';
import { CwmpFaultError, FaultCode } from '../cwmp/faults.ts';
import type { AcsRequest, CpeRequest, CpeResponse, CwmpVersion, EventStruct, FaultStruct, Inform } from '../cwmp/types.ts';
import { formatDateTime, parseBoolean } from '../cwmp/values.ts';
import { isUdpCrError, parseUdpConnectionRequest, verifyUdpConnectionRequest } from '../cwmp/udp-connection-request.ts';
import { DeviceModel, type DeviceModelSnapshot, type DeviceProfile } from '../datamodel/model.ts';
import { ConfigFileError } from '../datamodel/errors.ts';
import type { ConnectionRequestServer, ConnectionRequestTarget } from './connection-request-server.ts';
import { EventCode, EventQueue } from './event-queue.ts';
import { FirmwareError, verifyFirmwareImage } from './firmware.ts';
import { TransferFailure, downloadFile, uploadFile } from './file-transfer.ts';
import type { AllowedSchemes, Credentials } from './http-auth.ts';
import { NullStateStore, type StateStore } from './persistence.ts';
import { DEFAULT_CR_RATE_LIMIT, TokenBucket, type RateLimitPolicy } from './rate-limit.ts';
import { retryDelayMs, type RandomSource } from './retry.ts';
import { handleRpc, type RpcContext } from './rpc-handler.ts';
import type { Scheduler, TimerHandle } from './scheduler.ts';
import { runSession, type SessionHandler, type SessionResult } from './session.ts';
import { FileType, transferEventCode, type TransferRecord } from './transfers.ts';
import type { AgentSource } from './transport.ts';
import type { StunSettings, UdpConnectionRequestEndpoint, UdpConnectionRequestTarget } from './udp-endpoint.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Things every agent of a process shares. */
export interface CpeRuntime {
  scheduler: Scheduler;
  random: RandomSource;
  /** Shared Connection Request listener (optional: without it no HTTP Connection Requests). */
  connectionRequests?: ConnectionRequestServer;
  /** HTTP agents for sessions (default: a fresh single-socket agent per session). */
  agents?: AgentSource;
  /** Shared UDP Connection Request socket (TR-111), with STUN when a single device uses it. */
  udp?: UdpConnectionRequestEndpoint;
  /** Limits concurrent sessions of the process (fleets). */
  gate?: SessionGate;
  /** Extra CA certificates for HTTPS (ACS and file servers). */
  ca?: string | Buffer;
  /** Public key firmware images must be signed with (default: the project's simulated-device key). */
  firmwareKey?: KeyObject;
  log?(serial: string, level: LogLevel, message: string): void;
  /** Every envelope sent (tests validate them against the schema). */
  onSend?(serial: string, xml: string, version: CwmpVersion): void;
  /** Every finished session (statistics). */
  onSessionEnd?(serial: string, result: SessionResult): void;
}

/** Bounds the number of sessions running at once; waiters are served in order. */
export class SessionGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(readonly max: number) {}
  /** Resolves with a release function once a slot is free. */
  async acquire(): Promise<() => void> {
    // A released slot is handed straight to the next waiter, so `running` never exceeds `max`.
    if (this.running >= this.max) await new Promise<void>((r) => this.waiting.push(r));
    else this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
  }

  /** Sessions waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }
  get active(): number {
    return this.running;
  }
}

/** Factory provisioning (command line, GAPS): applied at first start, after a factory reset, and when changed. */
export interface Provisioning {
  acsUrl?: string;
  acsUsername?: string;
  acsPassword?: string;
  connectionRequestUsername?: string;
  connectionRequestPassword?: string;
  periodicInformEnable?: boolean;
  periodicInformInterval?: number;
}

export interface CpeAgentOptions {
  profile: DeviceProfile;
  serial: string;
  store?: StateStore<PersistedCpeState>;
  provisioning?: Provisioning;
  /** Configured CWMP version (default 1.4: Inform in the 1.2 namespace with SupportedCWMPVersions). */
  cwmpVersion?: CwmpVersion;
  /** Path of this device on the shared Connection Request listener (default: serial + random suffix). */
  connectionRequestPath?: string;
  /** Also accept Basic authentication on Connection Requests (Digest is always accepted). */
  connectionRequestBasic?: boolean;
  crRateLimit?: RateLimitPolicy;
  /** Wait for each ACS response (default 30 s, the TR-069 minimum). */
  responseTimeoutMs?: number;
  sessionTimeoutMs?: number;
  /** Power-on delay after start() (fleets spread their devices with it). */
  bootDelayMs?: number;
  /** Simulated reboot duration. */
  rebootDurationMs?: number;
  /** Ask the ACS for new firmware (RequestDownload) every so often; 0/undefined = never. */
  requestDownloadIntervalMs?: number;
  /** Keep this many log lines for "2 Vendor Log File" uploads (default 200; fleets use 0). */
  logLines?: number;
  /** Reject UDP Connection Requests whose ts is further than this from our clock (default 24 h). */
  udpCrMaxSkewSeconds?: number;
  /**
   * TR-111 Part 1: the home gateway this device is behind, as DHCP option 125 (enterprise 3561,
   * sub-options 4/5/6) would tell it. Written to GatewayInfo at every boot; a change is notified
   * (GatewayInfo is under forced active notification).
   */
  gateway?: { oui: string; productClass: string; serialNumber: string };
}

/** What the state directory holds. */
export interface PersistedCpeState {
  format: 'switchboard-cpe-state';
  version: 1;
  model: DeviceModelSnapshot;
  events: EventStruct[];
  retryCount: number;
  /** The ACS URL for which BOOTSTRAP was raised (a change raises it again). */
  bootstrapUrl: string | null;
  transfers: TransferRecord[];
  scheduledInforms: ScheduledInform[];
  pendingAction: PendingAction | null;
  /** Last accepted UDP Connection Request (replay protection across restarts). */
  lastUdpCr: { ts: string; id: string } | null;
  /** A RequestDownload waiting to be sent. */
  requestDownload: { fileType: string; args: { name: string; value: string }[] } | null;
  lastSession: LastSession | null;
  /** Provisioning last applied, so that a changed command line is applied again. */
  provisioning: Provisioning;
  /** Path on the Connection Request listener (stable across restarts). */
  connectionRequestPath?: string;
}

export interface ScheduledInform {
  at: number;
  commandKey: string;
}

export type PendingAction = { kind: 'reboot' } | { kind: 'factory-reset' };

export interface LastSession {
  at: number;
  ok: boolean;
  message: string;
  events: string[];
  durationMs: number;
}

/** The settings of the seed's TR-069 web form. */
export interface Tr069Settings {
  acsUrl: string;
  acsUsername: string;
  acsPassword: string;
  periodicInformEnable: boolean;
  periodicInformInterval: number;
  connectionRequestUsername: string;
  connectionRequestPassword: string;
}

const STATE_FORMAT = 'switchboard-cpe-state';
const MS_PER_S = 1000;
const DEFAULT_REBOOT_MS = 1000;
const DEFAULT_LOG_LINES = 200;
const DEFAULT_UDP_SKEW_S = 24 * 3600;

/** One simulated device. */
export class CpeAgent implements ConnectionRequestTarget, UdpConnectionRequestTarget {
  readonly serial: string;
  readonly profile: DeviceProfile;
  model: DeviceModel;
  private readonly rt: CpeRuntime;
  private readonly opts: CpeAgentOptions;
  private readonly store: StateStore<PersistedCpeState>;
  private readonly persistent: boolean;
  private events: EventQueue;
  private transfers: TransferRecord[] = [];
  private scheduledInforms: ScheduledInform[] = [];
  private pendingAction: PendingAction | null = null;
  private retryCount = 0;
  private bootstrapUrl: string | null = null;
  private lastUdpCr: { ts: string; id: string } | null = null;
  private requestDownload: PersistedCpeState['requestDownload'] = null;
  private provisioningApplied: Provisioning = {};
  lastSession: LastSession | null = null;

  private running = false;
  private booting = false;
  private inSession = false;
  private sessionAgain = false;
  private pendingConnectionRequest = false;
  private bootTime = 0;
  private lastSessionEnd = 0;
  private readonly crBucket: TokenBucket;
  private crPathValue: string;
  private timers: {
    start?: TimerHandle;
    retry?: TimerHandle;
    periodic?: TimerHandle;
    requestDownload?: TimerHandle;
    boot?: TimerHandle;
  } = {};
  private periodicKey = '';
  private informTimers = new Map<ScheduledInform, TimerHandle>();
  private transferTimers = new Map<TransferRecord, TimerHandle>();
  private readonly logRing: string[] | null;
  private sessionWaiters: ((r: SessionResult) => void)[] = [];
  private currentSession: Promise<void> | null = null;

  constructor(opts: CpeAgentOptions, runtime: CpeRuntime) {
    this.opts = opts;
    this.rt = runtime;
    this.profile = opts.profile;
    this.serial = opts.serial;
    this.store = opts.store ?? new NullStateStore<PersistedCpeState>();
    this.persistent = !(this.store instanceof NullStateStore);
    this.model = DeviceModel.create(opts.profile, { serialNumber: opts.serial });
    this.events = new EventQueue();
    this.crBucket = new TokenBucket(opts.crRateLimit ?? DEFAULT_CR_RATE_LIMIT, runtime.scheduler.now());
    // A random path per device (TR-069 §3.2.2 SHOULD); kept in the state so the URL survives restarts.
    this.crPathValue = opts.connectionRequestPath ?? `cr/${opts.serial}-${Math.floor(runtime.random() * 0xffffffff).toString(36)}`;
    const lines = opts.logLines ?? DEFAULT_LOG_LINES;
    this.logRing = lines > 0 ? [] : null;
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle
  // -------------------------------------------------------------------------------------------

  /**
   * Loads the saved state (or starts at factory defaults), applies the provisioning and boots.
   * Throws StateStoreError / SnapshotError when the state directory holds something unusable.
   */
  start(): void {
    if (this.running) return;
    const saved = this.store.load();
    if (saved) this.restore(saved);
    this.running = true;
    if (this.pendingAction?.kind === 'factory-reset') this.doFactoryReset();
    this.pendingAction = null;
    this.applyProvisioning(this.opts.provisioning ?? {}, !saved);
    this.rt.connectionRequests?.register(this.crPath, this);
    this.rt.udp?.register(this);
    const delay = this.opts.bootDelayMs ?? 0;
    if (delay > 0) {
      // Powered on later: fleets stagger their devices so that periodic informs stay spread.
      this.booting = true;
      this.timers.boot = this.rt.scheduler.after(delay, () => {
        this.timers.boot = undefined;
        if (this.running) this.boot();
      });
    } else {
      this.boot();
    }
  }

  /** Stops every timer and waits for a running session to end. Nothing is lost: the state is saved. */
  async stop(): Promise<void> {
    this.running = false;
    this.cancelAllTimers();
    this.rt.connectionRequests?.unregister(this.crPath);
    if (this.currentSession) await this.currentSession;
    this.persist();
  }

  /** Resolves with the result of the next session that ends (tests). */
  nextSession(): Promise<SessionResult> {
    return new Promise((r) => this.sessionWaiters.push(r));
  }

  /** Path of this device on the Connection Request listener. */
  get crPath(): string {
    return this.crPathValue;
  }

  get isInSession(): boolean {
    return this.inSession;
  }

  /** Pending events (copy). */
  pendingEvents(): EventStruct[] {
    return this.events.list();
  }

  /** Transfers queued or waiting for TransferComplete (copy). */
  queuedTransfers(): TransferRecord[] {
    return this.transfers.map((t) => ({ ...t }));
  }

  /** When the next periodic Inform is due (ms since the epoch), or undefined when periodic informs are off. */
  nextPeriodicInform(): number | undefined {
    return this.timers.periodic?.at;
  }

  get currentRetryCount(): number {
    return this.retryCount;
  }

  private restore(s: PersistedCpeState): void {
    if (s.format !== STATE_FORMAT || s.version !== 1) throw new Error(`state file is not a ${STATE_FORMAT} v1 file`);
    this.model = DeviceModel.restore(this.profile, s.model);
    this.events = new EventQueue(s.events ?? []);
    this.retryCount = s.retryCount ?? 0;
    this.bootstrapUrl = s.bootstrapUrl ?? null;
    this.transfers = s.transfers ?? [];
    this.scheduledInforms = s.scheduledInforms ?? [];
    this.pendingAction = s.pendingAction ?? null;
    this.lastUdpCr = s.lastUdpCr ?? null;
    this.requestDownload = s.requestDownload ?? null;
    this.lastSession = s.lastSession ?? null;
    this.provisioningApplied = s.provisioning ?? {};
    if (!this.opts.connectionRequestPath && typeof s.connectionRequestPath === 'string' && s.connectionRequestPath) {
      this.crPathValue = s.connectionRequestPath;
    }
  }

  /** Saves the state durably (no-op for devices without a state directory). */
  persist(): void {
    if (!this.persistent) return;
    this.store.save({
      format: STATE_FORMAT,
      version: 1,
      model: this.model.snapshot(),
      events: this.events.list(),
      retryCount: this.retryCount,
      bootstrapUrl: this.bootstrapUrl,
      transfers: this.transfers,
      scheduledInforms: this.scheduledInforms,
      pendingAction: this.pendingAction,
      lastUdpCr: this.lastUdpCr,
      requestDownload: this.requestDownload,
      lastSession: this.lastSession,
      provisioning: this.provisioningApplied,
      connectionRequestPath: this.crPathValue,
    });
  }

  /**
   * Applies provisioning values: all of them on a fresh device (or after a factory reset), else
   * only those that differ from what was applied last time (a changed command line wins, a value
   * the ACS changed since is otherwise kept).
   */
  private applyProvisioning(p: Provisioning, all: boolean): void {
    const ms = this.msPath('');
    const set = (key: keyof Provisioning, path: string, value: string | undefined): void => {
      if (value === undefined) return;
      const before = this.provisioningApplied[key];
      if (!all && before !== undefined && String(before) === value) return;
      try {
        this.model.setLocal(`${ms}${path}`, value);
      } catch (err) {
        this.log('warn', `provisioning ${path}=${JSON.stringify(value)} refused: ${(err as Error).message}`);
      }
    };
    set('acsUrl', 'URL', p.acsUrl);
    set('acsUsername', 'Username', p.acsUsername);
    set('acsPassword', 'Password', p.acsPassword);
    set('connectionRequestUsername', 'ConnectionRequestUsername', p.connectionRequestUsername);
    set('connectionRequestPassword', 'ConnectionRequestPassword', p.connectionRequestPassword);
    set('periodicInformEnable', 'PeriodicInformEnable', p.periodicInformEnable === undefined ? undefined : p.periodicInformEnable ? 'true' : 'false');
    set('periodicInformInterval', 'PeriodicInformInterval', p.periodicInformInterval === undefined ? undefined : String(p.periodicInformInterval));
    this.provisioningApplied = { ...p };
  }

  /** Power-on or end of a reboot. */
  private boot(): void {
    this.booting = false;
    this.bootTime = this.rt.scheduler.now();
    this.events.reboot();
    this.retryCount = 0;
    this.installPendingFirmware();
    // An interrupted download starts over.
    for (const t of this.transfers) if (t.state === 'in-progress' && !t.installVersion) t.state = 'queued';
    try {
      this.model.setDynamic(`${this.model.root}.DeviceInfo.UpTime`, () => String(Math.floor((this.rt.scheduler.now() - this.bootTime) / MS_PER_S)));
    } catch {
      /* profile without UpTime */
    }
    this.updateConnectionRequestUrl();
    this.applyGateway();
    void this.rt.udp?.reconfigure(this);
    this.checkBootstrap();
    this.persist();
    this.periodicKey = '';
    this.armPeriodic();
    for (const si of this.scheduledInforms) this.armScheduledInform(si);
    for (const t of this.transfers) this.armTransfer(t);
    this.armRequestDownload();
    this.timers.start?.cancel();
    this.timers.start = this.rt.scheduler.after(0, () => {
      this.timers.start = undefined;
      this.startSession();
    });
  }

  private cancelAllTimers(): void {
    for (const h of Object.values(this.timers)) h?.cancel();
    this.timers = {};
    for (const h of this.informTimers.values()) h.cancel();
    this.informTimers.clear();
    for (const h of this.transferTimers.values()) h.cancel();
    this.transferTimers.clear();
  }

  /** Simulated reboot: timers stop, the device is "off" for rebootDurationMs, then boots. */
  private reboot(): void {
    this.cancelAllTimers();
    this.booting = true;
    this.persist();
    this.log('info', 'rebooting');
    this.timers.boot = this.rt.scheduler.after(this.opts.rebootDurationMs ?? DEFAULT_REBOOT_MS, () => {
      this.timers.boot = undefined;
      if (this.running) this.boot();
    });
  }

  private doFactoryReset(): void {
    this.log('info', 'factory reset');
    this.model.factoryReset();
    for (const h of this.transferTimers.values()) h.cancel();
    this.transferTimers.clear();
    for (const h of this.informTimers.values()) h.cancel();
    this.informTimers.clear();
    this.transfers = [];
    this.scheduledInforms = [];
    this.requestDownload = null;
    this.lastUdpCr = null;
    this.bootstrapUrl = null;
    this.events.bootstrap();
    this.applyProvisioning(this.opts.provisioning ?? {}, true);
  }

  // -------------------------------------------------------------------------------------------
  // ManagementServer settings
  // -------------------------------------------------------------------------------------------

  private msPath(name: string): string {
    return `${this.model.root}.ManagementServer.${name}`;
  }

  private ms(name: string): string {
    return this.model.getValue(this.msPath(name)) ?? '';
  }

  private msInt(name: string, fallback: number): number {
    const n = Number.parseInt(this.ms(name), 10);
    return Number.isFinite(n) ? n : fallback;
  }

  private msBool(name: string): boolean {
    return parseBoolean(this.ms(name)) === true;
  }

  get acsUrl(): string {
    return this.ms('URL');
  }

  /** ConnectionRequestTarget: current credentials. */
  connectionRequestCredentials(): Credentials {
    return { username: this.ms('ConnectionRequestUsername'), password: this.ms('ConnectionRequestPassword') };
  }

  connectionRequestSchemes(): AllowedSchemes {
    return { digest: true, basic: this.opts.connectionRequestBasic === true };
  }

  /** The gateway identity learned at boot (simulated DHCP option 125) into GatewayInfo. */
  private applyGateway(): void {
    const gw = this.opts.gateway;
    if (!gw) return;
    const values: [string, string][] = [
      ['ManufacturerOUI', gw.oui],
      ['ProductClass', gw.productClass],
      ['SerialNumber', gw.serialNumber],
    ];
    for (const [name, value] of values) {
      try {
        this.model.setLocal(`${this.model.root}.GatewayInfo.${name}`, value);
      } catch (err) {
        // An InternetGatewayDevice-rooted model has no GatewayInfo: it is the gateway.
        this.log('warn', `cannot set GatewayInfo.${name}: ${(err as Error).message}`);
      }
    }
  }

  private updateConnectionRequestUrl(): void {
    const crs = this.rt.connectionRequests;
    if (!crs) return;
    try {
      this.model.setLocal(this.msPath('ConnectionRequestURL'), crs.urlFor(this.crPath));
    } catch (err) {
      this.log('warn', `cannot set ConnectionRequestURL: ${(err as Error).message}`);
    }
  }

  /** A new ACS URL (or none before): BOOTSTRAP, dropping what was pending for the old ACS. */
  private checkBootstrap(): void {
    const url = this.acsUrl;
    if (!url || url === this.bootstrapUrl) return;
    this.log('info', `ACS URL is now ${url}: BOOTSTRAP`);
    this.events.bootstrap();
    for (const h of this.transferTimers.values()) h.cancel();
    this.transferTimers.clear();
    for (const h of this.informTimers.values()) h.cancel();
    this.informTimers.clear();
    this.transfers = [];
    this.scheduledInforms = [];
    this.requestDownload = null;
    this.bootstrapUrl = url;
  }

  /** Re-reads the ManagementServer settings after they may have changed (SPV, web page, config file). */
  private reconcile(): void {
    if (!this.running || this.booting) return;
    const before = this.bootstrapUrl;
    this.checkBootstrap();
    this.armPeriodic();
    void this.rt.udp?.reconfigure(this);
    if (before !== this.bootstrapUrl) {
      this.persist();
      this.requestSession('bootstrap');
    }
  }

  private armPeriodic(): void {
    const enable = this.msBool('PeriodicInformEnable');
    const interval = Math.max(1, this.msInt('PeriodicInformInterval', this.profile.periodicInformInterval));
    const time = this.ms('PeriodicInformTime');
    const key = `${enable}|${interval}|${time}`;
    if (key === this.periodicKey) return;
    this.periodicKey = key;
    this.timers.periodic?.cancel();
    this.timers.periodic = undefined;
    if (!enable) return;
    const now = this.rt.scheduler.now();
    const intervalMs = interval * MS_PER_S;
    const ref = time && !time.startsWith('0001-01-01') ? Date.parse(time) : Number.NaN;
    let next: number;
    if (Number.isFinite(ref)) {
      // PeriodicInformTime fixes the phase: informs at ref + n * interval.
      next = ref + Math.ceil((now - ref) / intervalMs) * intervalMs;
      if (next <= now) next += intervalMs;
    } else {
      next = now + intervalMs;
    }
    this.timers.periodic = this.rt.scheduler.at(next, () => {
      this.timers.periodic = undefined;
      this.periodicKey = '';
      this.events.add(EventCode.Periodic);
      this.requestSession('periodic');
      this.armPeriodic();
    });
  }

  private armScheduledInform(si: ScheduledInform): void {
    this.informTimers.get(si)?.cancel();
    this.informTimers.set(
      si,
      this.rt.scheduler.at(si.at, () => {
        this.informTimers.delete(si);
        this.scheduledInforms = this.scheduledInforms.filter((x) => x !== si);
        this.events.add(EventCode.Scheduled);
        this.events.add(EventCode.MScheduleInform, si.commandKey);
        this.persist();
        this.requestSession('scheduled');
      }),
    );
  }

  private armRequestDownload(): void {
    const every = this.opts.requestDownloadIntervalMs;
    if (!every || every <= 0) return;
    this.timers.requestDownload?.cancel();
    this.timers.requestDownload = this.rt.scheduler.after(every, () => {
      this.timers.requestDownload = undefined;
      this.checkForFirmware();
      this.armRequestDownload();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Sessions
  // -------------------------------------------------------------------------------------------

  /**
   * Asks for a session: now if idle, after the current one otherwise. A pending retry wait is cut
   * short (a new event is a reason to retry at once); active notifications respect
   * DefaultActiveNotificationThrottle.
   */
  requestSession(reason: 'periodic' | 'scheduled' | 'connection-request' | 'active-notification' | 'transfer' | 'bootstrap' | 'request-download' | 'retry-later'): void {
    if (!this.running || this.booting) return;
    if (this.inSession) {
      this.sessionAgain = true;
      return;
    }
    let at = this.rt.scheduler.now();
    if (reason === 'active-notification') {
      const throttle = this.msInt('DefaultActiveNotificationThrottle', 0) * MS_PER_S;
      at = Math.max(at, this.lastSessionEnd + throttle);
    }
    if (this.timers.retry) {
      this.timers.retry.cancel();
      this.timers.retry = undefined;
    }
    if (this.timers.start && this.timers.start.at <= at) return;
    this.timers.start?.cancel();
    this.timers.start = this.rt.scheduler.at(at, () => {
      this.timers.start = undefined;
      this.startSession();
    });
  }

  private startSession(): void {
    if (!this.running || this.booting || this.inSession) return;
    if (!this.acsUrl) {
      this.log('warn', 'no ACS URL configured: no session');
      return;
    }
    if (parseBoolean(this.ms('EnableCWMP')) === false) {
      // TR-069 switched off on the device (P1409 = 0): events wait until it is switched on.
      this.log('info', 'EnableCWMP is false: no session');
      return;
    }
    this.inSession = true;
    this.sessionAgain = false;
    this.currentSession = this.session().finally(() => {
      this.currentSession = null;
    });
  }

  private buildInform(): { inform: Inform; sent: EventStruct[]; notifiedKey: string } {
    if (this.pendingConnectionRequest) {
      this.pendingConnectionRequest = false;
      this.events.add(EventCode.ConnectionRequest);
    }
    const pending = this.model.pendingNotifications();
    const notifiedKey = [...pending.active, '|', ...pending.passive].join('\n');
    if (pending.active.length || pending.passive.length) this.events.add(EventCode.ValueChange);
    const sent = this.events.forInform();
    return {
      sent,
      notifiedKey,
      inform: {
        method: 'Inform',
        deviceId: this.model.deviceId(),
        event: sent,
        maxEnvelopes: 1,
        currentTime: formatDateTime(new Date(this.rt.scheduler.now())),
        retryCount: this.retryCount,
        parameterList: this.model.informParameters(),
      },
    };
  }

  private async session(): Promise<void> {
    const release = this.rt.gate ? await this.rt.gate.acquire() : null;
    if (!this.running) {
      // Stopped while waiting for a slot.
      release?.();
      this.inSession = false;
      return;
    }
    let result: SessionResult = {
      ok: false,
      informAccepted: false,
      version: this.opts.cwmpVersion ?? '1.4',
      acsRequests: 0,
      connections: 0,
      redirects: 0,
      durationMs: 0,
    };
    const after = { retryLater: false };
    try {
      const { inform, sent, notifiedKey } = this.buildInform();
      const sentKeys = new Set(sent.map((e) => `${e.eventCode}\u0000${e.commandKey}`));
      const wasSent = (code: string, key = ''): boolean => sentKeys.has(`${code}\u0000${key}`);
      let holdCpeRequests = false;
      let sessionVersion: CwmpVersion = this.opts.cwmpVersion ?? '1.4';
      const handler: SessionHandler = {
        informAccepted: (version) => {
          sessionVersion = version;
          this.events.informDelivered(sent);
          const p = this.model.pendingNotifications();
          // Only clear what was reported: a change made meanwhile must go in the next Inform.
          if ([...p.active, '|', ...p.passive].join('\n') === notifiedKey) this.model.markNotificationsDelivered();
          this.persist();
        },
        nextCpeRequest: () => {
          if (holdCpeRequests) return null;
          const t = this.transfers.find((x) => x.state === 'completed' && x.result && wasSent(transferEventCode(x), x.commandKey));
          if (t && t.result) {
            return {
              method: 'TransferComplete',
              commandKey: t.commandKey,
              faultStruct: transferCompleteFault(t, t.result.fault, sessionVersion),
              startTime: t.result.startTime,
              completeTime: t.result.completeTime,
            };
          }
          if (this.requestDownload && wasSent(EventCode.RequestDownload)) {
            return { method: 'RequestDownload', fileType: this.requestDownload.fileType, fileTypeArg: this.requestDownload.args };
          }
          return null;
        },
        cpeRequestDone: (req, outcome) => {
          if (outcome.kind === 'fault') {
            // Nothing is delivered; the request stays for a later session. 8005 asks for a retry soon.
            holdCpeRequests = true;
            if (outcome.fault.faultCode === FaultCode.ACS_RETRY_REQUEST) after.retryLater = true;
            else if (req.method === 'RequestDownload' && outcome.fault.faultCode === FaultCode.ACS_METHOD_NOT_SUPPORTED) {
              this.log('warn', 'ACS does not support RequestDownload: dropped');
              this.requestDownload = null;
              this.events.requestDownloadDelivered();
              this.persist();
            }
            return;
          }
          this.cpeRequestDelivered(req);
        },
        handleAcsRequest: async (req: CpeRequest) => this.answer(req),
        onSend: this.rt.onSend ? (xml, v) => this.rt.onSend?.(this.serial, xml, v) : undefined,
        log: (level, msg) => this.log(level, msg),
      };
      result = await runSession(
        {
          url: this.acsUrl,
          inform,
          version: this.opts.cwmpVersion ?? '1.4',
          transport: {
            credentials: { username: this.ms('Username'), password: this.ms('Password') },
            ca: this.rt.ca,
            agents: this.rt.agents,
            responseTimeoutMs: this.opts.responseTimeoutMs,
            now: () => this.rt.scheduler.now(),
            userAgent: `Grandstream ${this.profile.model} ${this.model.getValue(`${this.model.root}.DeviceInfo.SoftwareVersion`) ?? ''}`.trim(),
          },
          sessionTimeoutMs: this.opts.sessionTimeoutMs,
        },
        handler,
      );
      this.lastSession = {
        at: this.rt.scheduler.now(),
        ok: result.ok,
        message: result.ok ? 'completed' : (result.failure?.message ?? 'failed'),
        events: sent.map((e) => (e.commandKey ? `${e.eventCode} (${e.commandKey})` : e.eventCode)),
        durationMs: result.durationMs,
      };
    } catch (err) {
      this.log('error', `session aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      result = { ...result, failure: { kind: 'protocol', message: err instanceof Error ? err.message : String(err) } };
    } finally {
      release?.();
      this.inSession = false;
      this.lastSessionEnd = this.rt.scheduler.now();
    }
    this.sessionEnded(result, after);
  }

  private cpeRequestDelivered(req: AcsRequest): void {
    if (req.method === 'TransferComplete') {
      const i = this.transfers.findIndex((t) => t.state === 'completed' && t.commandKey === req.commandKey);
      const t = i >= 0 ? this.transfers[i] : undefined;
      if (t) this.transfers.splice(i, 1);
      const remaining = this.transfers.filter((x) => x.state === 'completed').length;
      this.events.transferCompleteDelivered(req.commandKey, remaining);
    } else if (req.method === 'RequestDownload') {
      this.requestDownload = null;
      this.events.requestDownloadDelivered();
    }
    this.persist();
  }

  private sessionEnded(result: SessionResult, after: { retryLater: boolean }): void {
    if (result.ok) {
      this.retryCount = 0;
    } else {
      this.events.sessionFailed();
      this.retryCount++;
    }
    this.persist();
    this.rt.onSessionEnd?.(this.serial, result);
    for (const w of this.sessionWaiters.splice(0)) w(result);
    if (!this.running) return;

    // Settings the ACS changed in this session take effect now.
    this.reconcile();
    // Reboot / FactoryReset / firmware install: answered during the session, done after it.
    const action = this.pendingAction;
    if (action) {
      this.pendingAction = null;
      if (action.kind === 'factory-reset') this.doFactoryReset();
      this.persist();
      this.reboot();
      return;
    }
    if (!result.ok) {
      if (!this.events.isEmpty() || this.pendingConnectionRequest || this.sessionAgain) {
        const policy = { minWaitSeconds: this.msInt('CWMPRetryMinimumWaitInterval', 5), multiplier: this.msInt('CWMPRetryIntervalMultiplier', 2000) };
        const delay = retryDelayMs(this.retryCount, policy, this.rt.random);
        this.log('info', `retry ${this.retryCount} in ${Math.round(delay / MS_PER_S)} s`);
        this.timers.retry = this.rt.scheduler.after(delay, () => {
          this.timers.retry = undefined;
          this.startSession();
        });
      }
      this.sessionAgain = false;
      this.runDueTransfers();
      return;
    }
    this.runDueTransfers();
    if (after.retryLater) {
      // The ACS asked (8005) to send the request again later: a fresh session after the first retry interval.
      const delay = retryDelayMs(1, { minWaitSeconds: this.msInt('CWMPRetryMinimumWaitInterval', 5) }, this.rt.random);
      this.timers.retry = this.rt.scheduler.after(delay, () => {
        this.timers.retry = undefined;
        this.startSession();
      });
    } else if (this.sessionAgain || this.pendingConnectionRequest) {
      this.requestSession('connection-request');
    } else if (this.model.pendingNotifications().active.length) {
      this.requestSession('active-notification');
    }
  }

  private answer(req: CpeRequest): CpeResponse {
    const ctx: RpcContext = {
      model: this.model,
      now: () => this.rt.scheduler.now(),
      persist: () => this.persist(),
      transfers: this.transfers,
      transferQueued: (t) => this.armTransfer(t),
      scheduleInform: (delay, key) => {
        const si = { at: this.rt.scheduler.now() + delay * MS_PER_S, commandKey: key };
        this.scheduledInforms.push(si);
        this.armScheduledInform(si);
      },
      rebootAfterSession: (key) => {
        // Queued now so that it survives a crash before the reboot (retained across reboots).
        this.events.add(EventCode.MReboot, key);
        if (this.pendingAction?.kind !== 'factory-reset') this.pendingAction = { kind: 'reboot' };
      },
      factoryResetAfterSession: () => {
        this.pendingAction = { kind: 'factory-reset' };
      },
    };
    const res = handleRpc(ctx, req);
    // CancelTransfer may have removed a record: drop its timer.
    for (const [t, h] of this.transferTimers) {
      if (!this.transfers.includes(t)) {
        h.cancel();
        this.transferTimers.delete(t);
      }
    }
    return res;
  }

  // -------------------------------------------------------------------------------------------
  // Transfers
  // -------------------------------------------------------------------------------------------

  private armTransfer(t: TransferRecord): void {
    if (t.state !== 'queued') return;
    this.transferTimers.get(t)?.cancel();
    this.transferTimers.set(
      t,
      this.rt.scheduler.at(t.notBefore, () => {
        this.transferTimers.delete(t);
        this.runDueTransfers();
      }),
    );
  }

  /** Starts every queued transfer that is due, one after the other, when no session runs. */
  private runDueTransfers(): void {
    if (this.inSession || this.booting || !this.running || this.transferRunning) return;
    const now = this.rt.scheduler.now();
    const t = this.transfers.find((x) => x.state === 'queued' && x.notBefore <= now);
    if (!t) return;
    this.transferRunning = true;
    void this.runTransfer(t).finally(() => {
      this.transferRunning = false;
      this.runDueTransfers();
    });
  }
  private transferRunning = false;

  private async runTransfer(t: TransferRecord): Promise<void> {
    const now = (): string => formatDateTime(new Date(this.rt.scheduler.now()));
    const startTime = now();
    if (t.windows && t.windows.length) {
      const nowMs = this.rt.scheduler.now();
      const w = t.windows.find((x) => nowMs <= x.end);
      if (!w) {
        this.completeTransfer(t, { faultCode: 9020, faultString: 'File transfer failure: unable to complete download within specified time windows' }, startTime, now());
        return;
      }
      if (nowMs < w.start) {
        t.notBefore = w.start;
        this.armTransfer(t);
        return;
      }
    }
    t.state = 'in-progress';
    this.persist();
    this.log('info', `${t.kind} ${t.fileType} from ${t.url} started`);
    const creds = { username: t.username, password: t.password };
    try {
      if (t.kind === 'upload') {
        const { body, contentType } = this.uploadContent(t.fileType);
        await uploadFile(t.url, body, contentType, { credentials: creds, ca: this.rt.ca });
        this.completeTransfer(t, { faultCode: 0, faultString: '' }, startTime, now());
        return;
      }
      const file = await downloadFile(t.url, { credentials: creds, ca: this.rt.ca });
      if (!this.transfers.includes(t)) return; // discarded meanwhile (BOOTSTRAP)
      if (t.fileType === FileType.FirmwareImage) {
        const fw = verifyFirmwareImage(file, { model: this.profile.productClass, publicKey: this.rt.firmwareKey, expectedFileSize: t.fileSize });
        // Verified: install it with a reboot; TransferComplete follows after the boot.
        t.installVersion = fw.header.version;
        t.result = { fault: { faultCode: 0, faultString: '' }, startTime, completeTime: now() };
        this.persist();
        this.log('info', `firmware ${fw.header.version} verified, installing`);
        if (this.inSession) this.pendingAction = { kind: 'reboot' };
        else this.reboot();
        return;
      }
      if (t.fileSize > 0 && file.length !== t.fileSize) {
        throw new TransferFailure(9017, `received ${file.length} bytes, Download announced FileSize ${t.fileSize}`);
      }
      const r = this.model.applyConfigFile(file.toString('utf8'));
      this.log('info', `configuration file applied: ${r.applied.length} values, ${r.unknown.length} unknown, ${r.rejected.length} rejected`);
      this.completeTransfer(t, { faultCode: 0, faultString: '' }, startTime, now());
      this.localChange();
    } catch (err) {
      if (!this.transfers.includes(t)) return;
      let fault: FaultStruct;
      if (err instanceof TransferFailure || err instanceof FirmwareError) fault = { faultCode: err.faultCode, faultString: err.message };
      else if (err instanceof ConfigFileError) {
        fault = { faultCode: err.code === 'MAC_MISMATCH' ? 9010 : 9018, faultString: err.message };
      } else if (err instanceof CwmpFaultError) fault = { faultCode: err.code, faultString: err.message };
      else fault = { faultCode: t.kind === 'upload' ? 9011 : 9010, faultString: err instanceof Error ? err.message : String(err) };
      this.log('warn', `${t.kind} ${t.commandKey} failed: ${fault.faultCode} ${fault.faultString}`);
      this.completeTransfer(t, fault, startTime, now());
    }
  }

  private completeTransfer(t: TransferRecord, fault: FaultStruct, startTime: string, completeTime: string): void {
    t.state = 'completed';
    t.result = { fault: transferCompleteFault(t, fault), startTime, completeTime };
    this.events.add(EventCode.TransferComplete);
    this.events.add(transferEventCode(t), t.commandKey);
    this.persist();
    this.requestSession('transfer');
  }

  /** At boot: a verified firmware image waiting for this reboot is now the running software. */
  private installPendingFirmware(): void {
    for (const t of this.transfers) {
      if (!t.installVersion || t.installed) continue;
      try {
        this.model.setLocal(`${this.model.root}.DeviceInfo.SoftwareVersion`, t.installVersion);
      } catch (err) {
        this.log('error', `cannot set SoftwareVersion: ${(err as Error).message}`);
      }
      t.installed = true;
      t.state = 'completed';
      if (t.result) t.result.completeTime = formatDateTime(new Date(this.rt.scheduler.now()));
      this.events.add(EventCode.TransferComplete);
      this.events.add(transferEventCode(t), t.commandKey);
      this.log('info', `firmware ${t.installVersion} installed`);
    }
  }

  private uploadContent(fileType: string): { body: Buffer; contentType: string } {
    if (fileType === FileType.VendorLogUpload) {
      return { body: Buffer.from(`${(this.logRing ?? []).join('\n')}\n`), contentType: 'text/plain' };
    }
    return { body: Buffer.from(this.configFile()), contentType: 'text/xml' };
  }

  /** The device's settings as a Grandstream gs_provision XML file (hidden values left out). */
  configFile(): string {
    const lines: string[] = [];
    for (const [pvalue, target] of this.profile.pvalues) {
      const path = target.targets[0];
      if (!path) continue;
      let value: string;
      try {
        value = this.model.getParameterValues([path])[0]?.value ?? '';
      } catch {
        continue;
      }
      if (target.map) {
        const back = Object.entries(target.map).find(([, v]) => v === value);
        if (back) value = back[0];
      }
      lines.push(`    <${pvalue}>${escapeText(value)}</${pvalue}>`);
    }
    const mac = this.model.macAddress.toLowerCase();
    return `<?xml version="1.0" encoding="UTF-8"?>\n<gs_provision version="1">\n  <mac>${mac}</mac>\n  <config version="1">\n${lines.join('\n')}\n  </config>\n</gs_provision>\n`;
  }

  // -------------------------------------------------------------------------------------------
  // Local changes, notifications, firmware requests
  // -------------------------------------------------------------------------------------------

  /**
   * A change made on the device (web page, line simulation, STUN): sets the value and reports it
   * per its notification attribute. Returns whether the value changed. Throws LocalWriteError.
   */
  setLocalValue(path: string, value: string): boolean {
    const changed = this.model.setLocal(path, value);
    if (changed) this.localChange();
    return changed;
  }

  /** After local changes: save, apply ManagementServer changes, start a session for active notifications. */
  localChange(): void {
    this.persist();
    this.reconcile();
    if (this.model.pendingNotifications().active.length) this.requestSession('active-notification');
  }

  /** Asks the ACS for new firmware (RequestDownload with FileTypeArg Model and Version). */
  checkForFirmware(): void {
    this.requestDownload = {
      fileType: FileType.FirmwareImage,
      args: [
        { name: 'Model', value: this.profile.productClass },
        { name: 'Version', value: this.model.getValue(`${this.model.root}.DeviceInfo.SoftwareVersion`) ?? '' },
      ],
    };
    this.events.add(EventCode.RequestDownload);
    this.persist();
    this.requestSession('request-download');
  }

  // -------------------------------------------------------------------------------------------
  // Connection requests
  // -------------------------------------------------------------------------------------------

  /** ConnectionRequestTarget: an authenticated request arrived. */
  connectionRequest(source: 'http' | 'udp'): 'accepted' | 'rate-limited' {
    if (!this.crBucket.take(this.rt.scheduler.now())) return 'rate-limited';
    this.log('info', `connection request (${source})`);
    this.pendingConnectionRequest = true;
    this.requestSession('connection-request');
    return 'accepted';
  }

  /** UdpConnectionRequestTarget: publish the UDP Connection Request address (STUN mapping or local). */
  setUdpAddress(address: string, natDetected: boolean): void {
    let changed = false;
    for (const [name, value] of [
      ['UDPConnectionRequestAddress', address],
      ['NATDetected', natDetected ? 'true' : 'false'],
    ] as const) {
      try {
        if (this.model.setLocal(this.msPath(name), value)) changed = true;
      } catch (err) {
        this.log('warn', `cannot set ${name}: ${(err as Error).message}`);
      }
    }
    if (changed) {
      this.log('info', `UDPConnectionRequestAddress ${address}${natDetected ? ' (NAT detected)' : ''}`);
      this.localChange();
    }
  }

  /** UdpConnectionRequestTarget: ManagementServer.STUN* (server defaults to the ACS host). */
  stunSettings(): StunSettings {
    let acsHost = '';
    try {
      acsHost = new URL(this.acsUrl).hostname.replace(/^\[|\]$/g, '');
    } catch {
      /* no ACS URL yet */
    }
    const max = this.msInt('STUNMaximumKeepAlivePeriod', -1);
    return {
      enable: this.msBool('STUNEnable'),
      serverHost: this.ms('STUNServerAddress') || acsHost,
      serverPort: this.msInt('STUNServerPort', 3478) || 3478,
      username: this.ms('STUNUsername'),
      password: this.ms('STUNPassword'),
      minKeepAliveMs: this.msInt('STUNMinimumKeepAlivePeriod', 0) * MS_PER_S,
      maxKeepAliveMs: max < 0 ? undefined : max * MS_PER_S,
    };
  }

  logConnectionRequest(outcome: string, remote: string | undefined): void {
    this.log('warn', `connection request from ${remote ?? '?'} ${outcome}`);
  }

  /**
   * A UDP Connection Request datagram (TR-069 Annex G). Returns the outcome; bad, replayed or stale
   * requests are ignored and logged. No reply is ever sent.
   */
  udpConnectionRequest(datagram: Uint8Array | string, remote?: string): 'accepted' | 'rate-limited' | 'ignored' {
    const req = parseUdpConnectionRequest(datagram);
    const creds = this.connectionRequestCredentials();
    const v = verifyUdpConnectionRequest(req, {
      username: creds.username,
      password: creds.password,
      lastAccepted: this.lastUdpCr ?? undefined,
      now: Math.floor(this.rt.scheduler.now() / MS_PER_S),
      maxSkewSeconds: this.opts.udpCrMaxSkewSeconds ?? DEFAULT_UDP_SKEW_S,
    });
    if (!v.ok || isUdpCrError(req)) {
      this.log('warn', `UDP connection request from ${remote ?? '?'} ignored: ${v.ok ? 'malformed' : v.reason}`);
      return 'ignored';
    }
    this.lastUdpCr = { ts: req.ts, id: req.id };
    this.persist();
    const r = this.connectionRequest('udp');
    if (r === 'rate-limited') this.log('warn', 'UDP connection request rate limited');
    return r;
  }

  // -------------------------------------------------------------------------------------------
  // Settings page support
  // -------------------------------------------------------------------------------------------

  /** The TR-069 settings of the web form. */
  settings(): Tr069Settings {
    return {
      acsUrl: this.ms('URL'),
      acsUsername: this.ms('Username'),
      acsPassword: this.ms('Password'),
      periodicInformEnable: this.msBool('PeriodicInformEnable'),
      periodicInformInterval: this.msInt('PeriodicInformInterval', this.profile.periodicInformInterval),
      connectionRequestUsername: this.ms('ConnectionRequestUsername'),
      connectionRequestPassword: this.ms('ConnectionRequestPassword'),
    };
  }

  /**
   * Saves settings from the web page as local changes; takes effect at once (new ACS URL ->
   * BOOTSTRAP session, interval change re-arms the periodic timer). Throws LocalWriteError when
   * the data model refuses a value (nothing is then changed).
   */
  updateSettings(s: Tr069Settings): void {
    const ms = (n: string): string => this.msPath(n);
    const writes: [string, string][] = [
      [ms('URL'), s.acsUrl],
      [ms('Username'), s.acsUsername],
      [ms('Password'), s.acsPassword],
      [ms('PeriodicInformEnable'), s.periodicInformEnable ? 'true' : 'false'],
      [ms('PeriodicInformInterval'), String(s.periodicInformInterval)],
      [ms('ConnectionRequestUsername'), s.connectionRequestUsername],
      [ms('ConnectionRequestPassword'), s.connectionRequestPassword],
    ];
    // Check everything on a scratch copy first so a bad value changes nothing.
    const scratch = DeviceModel.restore(this.profile, this.model.snapshot());
    for (const [p, v] of writes) scratch.setLocal(p, v);
    for (const [p, v] of writes) this.model.setLocal(p, v);
    this.localChange();
  }

  /** Recent log lines (newest last). */
  recentLog(): string[] {
    return [...(this.logRing ?? [])];
  }

  log(level: LogLevel, message: string): void {
    if (this.logRing) {
      this.logRing.push(`${new Date(this.rt.scheduler.now()).toISOString()} ${level} ${message}`);
      const max = this.opts.logLines ?? DEFAULT_LOG_LINES;
      if (this.logRing.length > max) this.logRing.splice(0, this.logRing.length - max);
    }
    this.rt.log?.(this.serial, level, message);
  }
}

/**
 * Fault codes the schema of `version` allows in TransferComplete: CWMP 1.0 only 0, 9001, 9002,
 * 9010-9012; 1.1 adds 9014-9899; 1.2+ 9014-9020 and 9033-9899.
 */
function allowedInTransferComplete(code: number, version: CwmpVersion): boolean {
  if (code === 0 || code === 9001 || code === 9002 || (code >= 9010 && code <= 9012)) return true;
  if (version === '1.0') return false;
  if (version === '1.1') return code >= 9014 && code <= 9899;
  return (code >= 9014 && code <= 9020) || (code >= 9033 && code <= 9899);
}

/**
 * Keeps the fault reportable in `version`: a code TransferComplete cannot carry becomes the generic
 * transfer failure (9010 download, 9011 upload), the precise code kept in the FaultString.
 */
function transferCompleteFault(t: TransferRecord, f: FaultStruct, version: CwmpVersion = '1.4'): FaultStruct {
  if (allowedInTransferComplete(f.faultCode, version)) return f;
  return { faultCode: t.kind === 'upload' ? 9011 : 9010, faultString: `${f.faultCode} ${f.faultString}` };
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
