/**
 * The benchmarks' CWMP load generator: many simulated devices, each session run by the CPE agent's
 * own session client (`runSession` in src/cpe/session.ts: the same transport, cookies, auth and
 * codec as `switchboard fleet`) with a minimal handler, so what goes on the wire is exactly what the
 * fleet sends, minus the fleet's timers:
 *
 *   POST Inform (the device's forcedInform parameters, event `2 PERIODIC` or `0 BOOTSTRAP`+`1 BOOT`)
 *   -> InformResponse; empty POST -> (ACS requests, answered by the CPE data model through the
 *   agent's RPC handler) -> 204.
 *
 * Per device there is a DeviceModel (created on first use) so that a SetParameterValues is really
 * applied and can be verified afterwards. Connections: a pool of keep-alive sockets, recycled from
 * one session to the next like the fleet does (`PooledAgentSource`), so a run measures CWMP
 * sessions, not TCP handshakes. Unlike the fleet's pool (as of this writing), its sockets disable
 * Nagle's algorithm: the client writes a POST's headers and body separately, and with Nagle on,
 * each exchange can wait for the peer's delayed ACK (40 ms on Linux), which capped a
 * 10-connection run at ~200 sessions/s whatever the server did.
 *
 * Three ways to drive it (`LoadPlan`):
 * - `closed`: `concurrency` workers run sessions back to back for a duration (after a warm-up):
 *   the maximum rate the server sustains at that concurrency.
 * - `each-once`: every device runs exactly one session (a boot storm), `concurrency` at a time.
 * - `rate`: sessions start at a fixed rate (periodic informs of a fleet), at most `concurrency`
 *   at once, for a duration.
 */
import { loadProfile, DeviceModel, type DeviceProfile } from '../../src/datamodel/model.ts';
import { runSession, type SessionHandler, type SessionResult } from '../../src/cpe/session.ts';
import { handleRpc, type RpcContext } from '../../src/cpe/rpc-handler.ts';
import http from 'node:http';
import type { AgentSource } from '../../src/cpe/transport.ts';
import { fleetSerial } from '../../src/cpe/fleet.ts';
import { formatDateTime } from '../../src/cwmp/values.ts';
import type { CpeRequest, CpeResponse, CwmpVersion, EventStruct, ParameterValueStruct } from '../../src/cwmp/types.ts';
import { SampleBuffer, summarize, round, type Summary } from './stats.ts';

/** Which devices the generator simulates: serials `000B82` + 6 hex digits from `serialBase`. */
export interface DeviceSetSpec {
  count: number;
  /** First serial number suffix (default 1). */
  serialBase?: number;
  /** Models (profiles in src/cpe/profiles), assigned round-robin. */
  models: string[];
}

export type LoadPlan =
  | { kind: 'closed'; warmupMs: number; durationMs: number }
  | { kind: 'each-once' }
  | { kind: 'rate'; perSecond: number; durationMs: number };

export interface LoadSpec {
  /** The ACS (or fixed server) CWMP URL. */
  url: string;
  devices: DeviceSetSpec;
  /** `periodic`: `2 PERIODIC`; `bootstrap`: `0 BOOTSTRAP` + `1 BOOT` (a factory-fresh device). */
  event: 'periodic' | 'bootstrap';
  concurrency: number;
  plan: LoadPlan;
  /** CWMP version of the simulated CPEs. Default 1.2. */
  cwmpVersion?: CwmpVersion;
  /** Per-reply timeout (ms). Default 30 s. */
  responseTimeoutMs?: number;
  /** Host published in ConnectionRequestURL. Default 127.0.0.1. */
  advertisedHost?: string;
}

export interface LoadResult {
  /** Sessions counted in the measurement (after the warm-up for `closed`). */
  sessions: number;
  ok: number;
  failed: number;
  /** Failure messages (digits folded) -> count, the 5 most frequent. */
  failures: Record<string, number>;
  /** Measurement window (ms). */
  elapsedMs: number;
  /** Sessions (ok) per second over the window. */
  sessionsPerSec: number;
  /** Session latency (Inform sent -> 204 received), ms, ok sessions only. */
  latencyMs: Summary;
  /** ACS requests answered (e.g. SetParameterValues). */
  acsRequests: number;
  /** Devices that ran at least one session. */
  devicesSeen: number;
}

/** Event of a factory-fresh device's first session. */
const BOOTSTRAP_EVENTS: EventStruct[] = [
  { eventCode: '0 BOOTSTRAP', commandKey: '' },
  { eventCode: '1 BOOT', commandKey: '' },
];
const PERIODIC_EVENTS: EventStruct[] = [{ eventCode: '2 PERIODIC', commandKey: '' }];
const DEFAULT_VERSION: CwmpVersion = '1.2';
const TOP_FAILURES = 5;
/** Connection request port published by the simulated devices (nothing listens: benchmarks never send CRs). */
const CR_PORT = 7548;
/** Idle keep-alive connections kept for the next sessions (above any concurrency we run). */
const MAX_IDLE_CONNECTIONS = 4096;

/**
 * Keep-alive single-socket agents recycled across sessions (as `PooledAgentSource` in
 * src/cpe/transport.ts), with TCP_NODELAY (see the module comment).
 */
class NoDelayAgentPool implements AgentSource {
  private idle: http.Agent[] = [];

  constructor(private readonly maxIdle: number) {}

  acquire(url: URL): http.Agent {
    if (url.protocol !== 'http:') throw new Error('the benchmark load generator speaks plain HTTP only');
    return this.idle.pop() ?? new http.Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
  }

  release(agent: http.Agent, reusable: boolean): void {
    if (reusable && this.idle.length < this.maxIdle) this.idle.push(agent);
    else agent.destroy();
  }

  destroy(): void {
    for (const a of this.idle) a.destroy();
    this.idle = [];
  }
}

/** One simulated device. */
class SimDevice {
  readonly model: DeviceModel;
  sessions = 0;
  inSession = false;

  constructor(profile: DeviceProfile, readonly serial: string, host: string) {
    this.model = DeviceModel.create(profile, { serialNumber: serial });
    const root = profile.root;
    this.model.setLocal(`${root}.ManagementServer.ConnectionRequestURL`, `http://${host}:${CR_PORT}/${serial.toLowerCase()}`);
    this.model.setLocal(`${root}.LAN.IPAddress`, host);
    // These are factory facts, not changes to report in a 4 VALUE CHANGE.
    this.model.markNotificationsDelivered();
  }
}

/** Runs simulated devices against one CWMP URL. One instance per load process. */
export class LoadGenerator {
  private readonly profiles = new Map<string, DeviceProfile>();
  private readonly devices = new Map<number, SimDevice>();
  private readonly pool = new NoDelayAgentPool(MAX_IDLE_CONNECTIONS);

  constructor(private readonly set: DeviceSetSpec, private readonly host = '127.0.0.1') {
    if (!Number.isInteger(set.count) || set.count < 1) throw new RangeError('device count must be a positive integer');
    if (set.models.length === 0) throw new RangeError('at least one model is required');
    for (const m of set.models) this.profiles.set(m, loadProfile(m));
  }

  /** Serial number of device `i`. */
  serial(i: number): string {
    return fleetSerial(this.set.serialBase ?? 1, i);
  }

  /** The simulated device `i` (created on first use). */
  device(i: number): SimDevice {
    let d = this.devices.get(i);
    if (!d) {
      const profile = this.profiles.get(this.set.models[i % this.set.models.length])!;
      d = new SimDevice(profile, this.serial(i), this.host);
      this.devices.set(i, d);
    }
    return d;
  }

  /** Creates every device's data model now (so that a storm does not count that work). */
  prepareAll(): void {
    for (let i = 0; i < this.set.count; i++) this.device(i);
  }

  /** Runs one session of device `i`. Never throws (failures are in the result). */
  async session(i: number, spec: Pick<LoadSpec, 'url' | 'event' | 'cwmpVersion' | 'responseTimeoutMs'>): Promise<SessionResult> {
    const d = this.device(i);
    d.inSession = true;
    const events = spec.event === 'bootstrap' && d.sessions === 0 ? BOOTSTRAP_EVENTS : PERIODIC_EVENTS;
    const ctx: RpcContext = {
      model: d.model,
      now: Date.now,
      persist: () => {},
      transfers: [],
      transferQueued: () => {},
      scheduleInform: () => {},
      rebootAfterSession: () => {},
      factoryResetAfterSession: () => {},
    };
    const handler: SessionHandler = {
      informAccepted: () => {},
      nextCpeRequest: () => null,
      cpeRequestDone: () => {},
      handleAcsRequest: async (req: CpeRequest): Promise<CpeResponse> => handleRpc(ctx, req),
    };
    try {
      const parameterList: ParameterValueStruct[] = d.model.informParameters();
      return await runSession(
        {
          url: spec.url,
          version: spec.cwmpVersion ?? DEFAULT_VERSION,
          inform: {
            method: 'Inform',
            deviceId: d.model.deviceId(),
            event: events,
            maxEnvelopes: 1,
            currentTime: formatDateTime(new Date()),
            retryCount: 0,
            parameterList,
          },
          transport: { agents: this.pool, responseTimeoutMs: spec.responseTimeoutMs },
        },
        handler,
      );
    } finally {
      d.sessions++;
      d.inSession = false;
    }
  }

  /** Runs a load plan; resolves the measured figures. */
  async run(spec: LoadSpec): Promise<LoadResult> {
    const latencies = new SampleBuffer(spec.plan.kind === 'each-once' ? this.set.count : 65536);
    const failures = new Map<string, number>();
    let ok = 0;
    let failed = 0;
    let acsRequests = 0;
    const t0 = performance.now();
    let measureFrom = t0;
    let stopAt = Number.POSITIVE_INFINITY;
    let measuring = true;
    if (spec.plan.kind === 'closed') {
      measureFrom = t0 + spec.plan.warmupMs;
      stopAt = measureFrom + spec.plan.durationMs;
      measuring = spec.plan.warmupMs === 0;
    } else if (spec.plan.kind === 'rate') {
      stopAt = t0 + spec.plan.durationMs;
    }
    const record = (r: SessionResult, startedAt: number) => {
      if (spec.plan.kind === 'closed' && startedAt < measureFrom) return;
      if (r.ok) {
        ok++;
        latencies.push(r.durationMs);
      } else {
        failed++;
        const key = (r.failure?.message ?? 'unknown').replace(/\d+/g, 'N').slice(0, 160);
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
      acsRequests += r.acsRequests;
    };

    let cursor = 0;
    let tickets = 0;
    const count = this.set.count;
    /** The next device to run, or null when the plan is over. */
    const next = async (): Promise<number | null> => {
      const plan = spec.plan;
      if (plan.kind === 'each-once') return cursor < count ? cursor++ : null;
      if (plan.kind === 'rate') {
        const due = t0 + (tickets++ * 1000) / plan.perSecond;
        if (due >= stopAt) return null;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else if (performance.now() >= stopAt) return null;
      // round-robin over the fleet, skipping a device still in a session
      for (let tries = 0; tries < count; tries++) {
        const i = cursor;
        cursor = (cursor + 1) % count;
        if (!this.devices.get(i)?.inSession) return i;
      }
      return null;
    };
    const worker = async () => {
      for (;;) {
        const i = await next();
        if (i === null) return;
        if (!measuring && performance.now() >= measureFrom) measuring = true;
        const startedAt = performance.now();
        record(await this.session(i, spec), startedAt);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, spec.concurrency) }, worker));
    const end = performance.now();
    const elapsedMs = end - measureFrom;
    const top = [...failures.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP_FAILURES);
    return {
      sessions: ok + failed,
      ok,
      failed,
      failures: Object.fromEntries(top),
      elapsedMs: round(elapsedMs, 1),
      sessionsPerSec: round((ok * 1000) / elapsedMs, 1),
      latencyMs: summarize(latencies.values()),
      acsRequests,
      devicesSeen: [...this.devices.values()].filter((d) => d.sessions > 0).length,
    };
  }

  /**
   * Checks that every device holds the expected values (what the ACS set).
   * Returns how many devices match and up to 3 examples of mismatches.
   */
  verify(expected: (serial: string) => ParameterValueStruct[]): { devices: number; matching: number; examples: string[] } {
    let matching = 0;
    const examples: string[] = [];
    for (let i = 0; i < this.set.count; i++) {
      const d = this.device(i);
      const bad = expected(d.serial).find((p) => d.model.getValue(p.name) !== p.value);
      if (!bad) matching++;
      else if (examples.length < 3) examples.push(`${d.serial}: ${bad.name} = ${JSON.stringify(d.model.getValue(bad.name))}, expected ${JSON.stringify(bad.value)}`);
    }
    return { devices: this.set.count, matching, examples };
  }

  /** Closes idle connections. */
  close(): void {
    this.pool.destroy();
  }
}
