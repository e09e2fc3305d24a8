/**
 * The benchmarks' CWMP load generator: many simulated devices sending the fleet's session shape:
 *
 *   POST Inform (the device's forcedInform parameters, event `2 PERIODIC` or `0 BOOTSTRAP`+`1 BOOT`)
 *   -> InformResponse; empty POST -> (ACS requests, answered by the CPE data model through the
 *   agent's RPC handler, src/cpe/rpc-handler.ts) -> 204.
 *
 * Two clients (`LoadSpec.client`):
 * - `lean` (default): the codec's own messages (an Inform is built once per model by
 *   `buildEnvelope` and checked byte for byte against the codec's output for a real device, then
 *   filled in per session; fixed-content responses such as SetParameterValuesResponse likewise,
 *   see ResponseTemplates) over raw keep-alive sockets (lean-client.ts). On this 2-core machine the
 *   load shares the CPU with the server, so the generator must cost far less than the server.
 * - `cpe`: the CPE agent's own session client (`runSession`, src/cpe/session.ts: the transport,
 *   cookies and codec of `switchboard fleet`) over node:http. Same bytes on the wire, but it costs
 *   the load process about as much CPU per session as the ACS spends (see the README's
 *   performance section), so it is kept for cross-checks (`--client=cpe`).
 *
 * Per device there is a DeviceModel (created on first use) so that a SetParameterValues is really
 * applied and can be verified afterwards. Connections: keep-alive sockets recycled from one
 * session to the next, as the fleet does (`PooledAgentSource`), so a run measures CWMP sessions,
 * not TCP handshakes. Unlike the fleet's pool (as of this writing), the sockets disable Nagle's
 * algorithm: node:http writes a POST's head and body separately, and with Nagle on each exchange
 * can wait for the peer's delayed ACK (40 ms on Linux), which capped a 10-connection run at
 * ~200 sessions/s whatever the server did.
 *
 * Three ways to drive it (`LoadPlan`):
 * - `closed`: `concurrency` workers run sessions back to back for a duration (after a warm-up):
 *   the maximum rate the server sustains at that concurrency.
 * - `each-once`: every device runs exactly one session (a boot storm), `concurrency` at a time.
 * - `rate`: sessions start at a fixed rate (periodic informs of a fleet), at most `concurrency`
 *   at once, for a duration.
 */
import http from 'node:http';
import { loadProfile, DeviceModel, type DeviceProfile } from '../../src/datamodel/model.ts';
import { runSession, type SessionHandler } from '../../src/cpe/session.ts';
import { handleRpc, type RpcContext } from '../../src/cpe/rpc-handler.ts';
import type { AgentSource } from '../../src/cpe/transport.ts';
import type { TransferRecord } from '../../src/cpe/transfers.ts';
import { fleetSerial } from '../../src/cpe/fleet.ts';
import { formatDateTime } from '../../src/cwmp/values.ts';
import { buildEnvelope, parseEnvelope, type CwmpEnvelope } from '../../src/cwmp/index.ts';
import type { CpeRequest, CpeResponse, CwmpMessage, CwmpVersion, EventStruct, Inform, SoapFault } from '../../src/cwmp/types.ts';
import { LeanConnectionPool, LeanHttpError, PostHeads, type LeanConnection, type LeanReply } from './lean-client.ts';
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
  /**
   * `lean` (default): bench/lib/lean-client.ts, the codec's messages over raw keep-alive sockets;
   * `cpe`: the CPE agent's session client (src/cpe/session.ts) over node:http.
   */
  client?: 'lean' | 'cpe';
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
  /** Every session run, warm-up included (to divide CPU time by). */
  totalSessions: number;
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
const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
const HTTP_PORT = 80;
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
  /** Its data model changed since creation (an ACS set values): Informs are built from it, not from the model's template. */
  changed = false;

  constructor(readonly profile: DeviceProfile, readonly serial: string, host: string) {
    this.model = DeviceModel.create(profile, { serialNumber: serial });
    const root = profile.root;
    this.model.setLocal(`${root}.ManagementServer.ConnectionRequestURL`, `http://${host}:${CR_PORT}/${serial.toLowerCase()}`);
    this.model.setLocal(`${root}.LAN.IPAddress`, host);
    // These are factory facts, not changes to report in a 4 VALUE CHANGE.
    this.model.markNotificationsDelivered();
  }

  /** The Inform this device sends now. */
  inform(events: EventStruct[], id: string, currentTime: string): CwmpEnvelope {
    return {
      header: { id },
      body: { method: 'Inform', deviceId: this.model.deviceId(), event: events, maxEnvelopes: 1, currentTime, retryCount: 0, parameterList: this.model.informParameters() },
    };
  }

  private ctx: RpcContext | null = null;

  /** The RPC context of the agent's handler: no persistence, no transfers (none are benchmarked). Built once per device. */
  rpcContext(): RpcContext {
    return (this.ctx ??= new SimRpcContext(this.model));
  }
}

/**
 * The RPC context of a simulated device. A class, not an object of arrow functions: under tsx
 * every named closure costs a `__name` call (Object.defineProperty) when it is created, and
 * there is one context per device.
 */
class SimRpcContext implements RpcContext {
  readonly transfers: TransferRecord[] = [];

  constructor(readonly model: DeviceModel) {}

  now(): number {
    return Date.now();
  }

  // Nothing to persist, schedule, reboot or reset: the simulated device lives in memory for one run.
  persist(): void {}
  transferQueued(): void {}
  scheduleInform(): void {}
  rebootAfterSession(): void {}
  factoryResetAfterSession(): void {}
}

/** What a session needs of its CWMP URL, parsed once per URL. */
interface LeanTarget {
  pool: LeanConnectionPool;
  heads: PostHeads;
}

/**
 * The connection of one lean session (a class rather than a per-session closure, see
 * SimRpcContext): POSTs go out on it; a `Connection: close` reply swaps it for another.
 */
class LeanExchange {
  conn: LeanConnection | null = null;

  constructor(
    private readonly target: LeanTarget,
    private readonly timeoutMs: number,
  ) {}

  /** Takes an idle connection, else opens one (resolves null then). Rejects when none can be opened. */
  open(): Promise<void> | null {
    this.conn = this.target.pool.takeIdle();
    return this.conn ? null : this.reconnect();
  }

  /** POSTs `body` (null: an empty POST) with the session cookie; resolves the reply. Rejects with LeanHttpError. */
  send(body: string | null, cookie: string | null): Promise<LeanReply> {
    return this.conn!.request(this.target.heads.head(body === null ? 0 : Buffer.byteLength(body, 'utf8'), cookie), body, this.timeoutMs);
  }

  /** A new connection for the rest of the session (after `Connection: close`: the cookie keeps the session). */
  async reconnect(): Promise<void> {
    if (this.conn) this.target.pool.release(this.conn);
    this.conn = null;
    this.conn = await this.target.pool.acquire(this.timeoutMs);
  }

  /** Returns the connection to the pool, or closes it after a failure. */
  finish(ok: boolean): void {
    const c = this.conn;
    this.conn = null;
    if (!c) return;
    if (ok) this.target.pool.release(c);
    else c.destroy();
  }
}

/** Responses whose XML depends only on their fields and the envelope ID (templates, see ResponseTemplates). */
const FIXED_RESPONSES: ReadonlySet<string> = new Set([
  'SetParameterValuesResponse',
  'SetParameterAttributesResponse',
  'DeleteObjectResponse',
  'RebootResponse',
  'FactoryResetResponse',
  'ScheduleInformResponse',
]);
/** IDs that the codec writes as they are (nothing to escape): only those fill a template. */
const PLAIN_ID = /^[A-Za-z0-9._:@-]*$/;

/**
 * The codec's XML for fixed-content responses (e.g. SetParameterValuesResponse status 0), built
 * once per method, status, version and whether there is an ID, then only the ID changes. Each
 * template is checked against the codec's output when it is created; anything else goes to the
 * codec.
 */
export class ResponseTemplates {
  private readonly byKey = new Map<string, { before: string; after: string } | string>();

  /** The envelope of `answer` with header `id` (undefined: no header). */
  build(answer: CwmpMessage, id: string | undefined, version: CwmpVersion): string {
    if (!FIXED_RESPONSES.has(answer.method) || (id !== undefined && !PLAIN_ID.test(id))) {
      return buildEnvelope({ header: id === undefined ? {} : { id }, body: answer }, { version });
    }
    const status = (answer as { status?: number }).status;
    const key = `${answer.method}|${status ?? ''}|${version}|${id === undefined ? 'none' : 'id'}`;
    let t = this.byKey.get(key);
    if (t === undefined) {
      t = this.create(answer, id !== undefined, version);
      this.byKey.set(key, t);
    }
    return typeof t === 'string' ? t : `${t.before}${id}${t.after}`;
  }

  private create(answer: CwmpMessage, withId: boolean, version: CwmpVersion): { before: string; after: string } | string {
    if (!withId) return buildEnvelope({ header: {}, body: answer }, { version });
    const xml = buildEnvelope({ header: { id: SENTINEL_ID }, body: answer }, { version });
    const at = xml.indexOf(SENTINEL_ID);
    const t = { before: xml.slice(0, at), after: xml.slice(at + SENTINEL_ID.length) };
    const check = 'check-2';
    if (`${t.before}${check}${t.after}` !== buildEnvelope({ header: { id: check }, body: answer }, { version })) {
      throw new Error(`${answer.method} template differs from the codec's output`);
    }
    return t;
  }
}

/** The bytes that mark an InformResponse (searched in the reply without decoding it). */
const INFORM_RESPONSE = Buffer.from('InformResponse');
const FAULT = Buffer.from('Fault');
const MS_PER_S = 1000;

/** The outcome of one simulated session (a subset of the CPE agent's SessionResult). */
export interface SimSessionResult {
  ok: boolean;
  failure?: { message: string };
  acsRequests: number;
  durationMs: number;
}

/** Placeholders of an Inform template (never valid in a real Inform, so they cannot collide). */
const SENTINEL_SERIAL = 'QQSERIALQQ';
const SENTINEL_ID = 'QQIDQQ';
const SENTINEL_TIME = '1999-09-09T09:09:09Z';

/**
 * The Inform of a model as text with placeholders, built ONCE by the codec: a session then costs a
 * few string replacements. Checked at creation against the codec's output for a real device.
 */
class InformTemplate {
  private readonly parts: { text: string; hole: 'serial' | 'serialLower' | 'id' | 'time' | null }[] = [];

  constructor(profile: DeviceProfile, events: EventStruct[], version: CwmpVersion, host: string, check: SimDevice) {
    const sentinel = new SimDevice(profile, SENTINEL_SERIAL, host);
    const xml = buildEnvelope(sentinel.inform(events, SENTINEL_ID, SENTINEL_TIME), { version });
    const re = new RegExp(`(${SENTINEL_SERIAL}|${SENTINEL_SERIAL.toLowerCase()}|${SENTINEL_ID}|${SENTINEL_TIME})`, 'g');
    let last = 0;
    for (let m = re.exec(xml); m; m = re.exec(xml)) {
      this.parts.push({ text: xml.slice(last, m.index), hole: null });
      const hole = m[1] === SENTINEL_SERIAL ? 'serial' : m[1] === SENTINEL_ID ? 'id' : m[1] === SENTINEL_TIME ? 'time' : 'serialLower';
      this.parts.push({ text: '', hole });
      last = m.index + m[1].length;
    }
    this.parts.push({ text: xml.slice(last), hole: null });
    const expected = buildEnvelope(check.inform(events, 'check-1', '2020-02-02T02:02:02Z'), { version });
    const got = this.render(check.serial, 'check-1', '2020-02-02T02:02:02Z');
    if (got !== expected) throw new Error(`Inform template of ${profile.model} differs from the codec's output`);
  }

  render(serial: string, id: string, time: string): string {
    let out = '';
    for (const p of this.parts) {
      if (p.hole === null) out += p.text;
      else if (p.hole === 'serial') out += serial;
      else if (p.hole === 'serialLower') out += serial.toLowerCase();
      else if (p.hole === 'id') out += id;
      else out += time;
    }
    return out;
  }
}

/** Runs simulated devices against one CWMP URL. One instance per load process. */
export class LoadGenerator {
  private readonly profiles = new Map<string, DeviceProfile>();
  private readonly devices = new Map<number, SimDevice>();
  private readonly pool = new NoDelayAgentPool(MAX_IDLE_CONNECTIONS);
  private readonly templates = new Map<string, InformTemplate>();
  private readonly targets = new Map<string, LeanTarget>();
  private readonly responses = new ResponseTemplates();
  private informSeq = 0;
  /** CurrentTime of the Informs, rebuilt when the second changes (it has a precision of one second). */
  private clockSecond = -1;
  private clockText = '';

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
  async session(i: number, spec: Pick<LoadSpec, 'url' | 'event' | 'cwmpVersion' | 'responseTimeoutMs' | 'client'>): Promise<SimSessionResult> {
    const d = this.device(i);
    d.inSession = true;
    const events = spec.event === 'bootstrap' && d.sessions === 0 ? BOOTSTRAP_EVENTS : PERIODIC_EVENTS;
    try {
      return (spec.client ?? 'lean') === 'lean' ? await this.leanSession(d, events, spec) : await this.cpeSession(d, events, spec);
    } finally {
      d.sessions++;
      d.inSession = false;
    }
  }

  /** A session through the CPE agent's session client (src/cpe/session.ts). */
  private async cpeSession(d: SimDevice, events: EventStruct[], spec: Pick<LoadSpec, 'url' | 'cwmpVersion' | 'responseTimeoutMs'>): Promise<SimSessionResult> {
    const ctx = d.rpcContext();
    const handler: SessionHandler = {
      informAccepted: () => {},
      nextCpeRequest: () => null,
      cpeRequestDone: () => {},
      handleAcsRequest: async (req: CpeRequest): Promise<CpeResponse> => {
        d.changed = true;
        return handleRpc(ctx, req);
      },
    };
    const inform = d.inform(events, '', formatDateTime(new Date())).body as Inform;
    return runSession(
      { url: spec.url, version: spec.cwmpVersion ?? DEFAULT_VERSION, inform, transport: { agents: this.pool, responseTimeoutMs: spec.responseTimeoutMs } },
      handler,
    );
  }

  /** The pool and request heads of a CWMP URL (parsed on first use). */
  private target(url: string): LeanTarget {
    let t = this.targets.get(url);
    if (!t) {
      const u = new URL(url);
      t = { pool: new LeanConnectionPool(u.hostname, Number(u.port || HTTP_PORT), MAX_IDLE_CONNECTIONS), heads: new PostHeads(u.pathname, u.host) };
      this.targets.set(url, t);
    }
    return t;
  }

  /** The current time as an Inform's CurrentTime (whole seconds, UTC). */
  private currentTime(): string {
    const now = Date.now();
    const second = Math.floor(now / MS_PER_S);
    if (second !== this.clockSecond) {
      this.clockSecond = second;
      this.clockText = formatDateTime(new Date(second * MS_PER_S));
    }
    return this.clockText;
  }

  /** A session through the lean client (lean-client.ts): same messages, less client-side CPU. */
  private async leanSession(d: SimDevice, events: EventStruct[], spec: Pick<LoadSpec, 'url' | 'cwmpVersion' | 'responseTimeoutMs'>): Promise<SimSessionResult> {
    const started = performance.now();
    const version = spec.cwmpVersion ?? DEFAULT_VERSION;
    const timeoutMs = spec.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS;
    const id = `cpe-${++this.informSeq}`;
    const now = this.currentTime();
    let xml: string;
    if (d.changed) xml = buildEnvelope(d.inform(events, id, now), { version });
    else {
      const key = `${d.profile.model}|${events === BOOTSTRAP_EVENTS ? 'boot' : events === PERIODIC_EVENTS ? 'periodic' : events.map((e) => e.eventCode).join(',')}|${version}`;
      let t = this.templates.get(key);
      if (!t) this.templates.set(key, (t = new InformTemplate(d.profile, events, version, this.host, d)));
      xml = t.render(d.serial, id, now);
    }
    let acsRequests = 0;
    const x = new LeanExchange(this.target(spec.url), timeoutMs);
    let ok = false;
    try {
      const opening = x.open();
      if (opening) await opening;
      let reply = await x.send(xml, null);
      if (reply.close) await x.reconnect();
      if (reply.status !== 200 || reply.body.length === 0) throw new LeanHttpError(`ACS answered the Inform with HTTP ${reply.status}`);
      if (reply.body.indexOf(INFORM_RESPONSE) < 0) throw new LeanHttpError(`expected InformResponse, got ${reply.body.indexOf(FAULT) >= 0 ? 'a fault' : 'something else'}`);
      const cookie = reply.cookie;
      reply = await x.send(null, cookie);
      if (reply.close) await x.reconnect();
      const ctx = d.rpcContext();
      while (!(reply.status === 204 || (reply.status === 200 && reply.body.length === 0))) {
        if (reply.status !== 200) throw new LeanHttpError(`ACS answered with HTTP ${reply.status}`);
        const env = parseEnvelope(reply.body);
        const req = env.body;
        if (!req) throw new LeanHttpError('ACS sent an envelope without a body');
        let answer: CwmpMessage;
        try {
          answer = handleRpc(ctx, req as CpeRequest);
        } catch (err) {
          const fault = (err as { fault?: SoapFault }).fault;
          if (!fault) throw err;
          answer = fault;
        }
        d.changed = true;
        acsRequests++;
        reply = await x.send(this.responses.build(answer, env.header.id, version), cookie);
        if (reply.close) await x.reconnect();
      }
      ok = true;
      return { ok: true, acsRequests, durationMs: performance.now() - started };
    } catch (err) {
      return { ok: false, failure: { message: err instanceof Error ? err.message : String(err) }, acsRequests, durationMs: performance.now() - started };
    } finally {
      x.finish(ok);
    }
  }

  /** Runs a load plan; resolves the measured figures. */
  async run(spec: LoadSpec): Promise<LoadResult> {
    const latencies = new SampleBuffer(spec.plan.kind === 'each-once' ? this.set.count : 65536);
    const failures = new Map<string, number>();
    let ok = 0;
    let failed = 0;
    let acsRequests = 0;
    let totalSessions = 0;
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
    const record = (r: SimSessionResult, startedAt: number) => {
      totalSessions++;
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
      totalSessions,
    };
  }

  /**
   * Checks that every device holds the expected values (what the ACS set).
   * Returns how many devices match and up to 3 examples of mismatches.
   */
  verify(expected: (serial: string) => { name: string; value: string }[]): { devices: number; matching: number; examples: string[] } {
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
    for (const t of this.targets.values()) t.pool.destroy();
  }
}
