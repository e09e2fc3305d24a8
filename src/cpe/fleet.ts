/**
 * A fleet: many simulated devices in one process, for load tests of an ACS.
 *
 * Shared by all devices: the data-model profiles, one timer queue (Scheduler), ONE Connection
 * Request HTTP listener (a path per device), one UDP Connection Request socket (routed by
 * ConnectionRequestUsername), a pool of keep-alive HTTP agents and a bound on concurrent sessions.
 * Per device there is only its CpeAgent (data-model deltas, event queue, a few timers in the shared
 * queue). Boot sessions are spread over `spreadMs`, so periodic informs stay spread too.
 */
import { loadProfile, type DeviceProfile } from '../datamodel/model.ts';
import { CpeAgent, SessionGate, type CpeRuntime, type LogLevel } from './agent.ts';
import { ConnectionRequestServer } from './connection-request-server.ts';
import type { CwmpVersion } from '../cwmp/types.ts';
import { RealScheduler, type Scheduler } from './scheduler.ts';
import type { SessionResult } from './session.ts';
import { PooledAgentSource } from './transport.ts';
import { UdpConnectionRequestEndpoint } from './udp-endpoint.ts';

export interface FleetOptions {
  acsUrl: string;
  count: number;
  /** Models, assigned round-robin. */
  models: string[];
  /** Connection Request HTTP port (0 = ephemeral). */
  connPort: number;
  /** Address to listen on / publish (default 0.0.0.0 listen, 127.0.0.1 published). */
  host?: string;
  /** Publish this host in ConnectionRequestURL (default: host, or 127.0.0.1 for a wildcard). */
  advertisedHost?: string;
  /** UDP Connection Request port (undefined = no UDP). */
  udpPort?: number;
  /** First serial number suffix (6 hex digits after 000B82). Default 1. */
  serialBase?: number;
  /** Boot sessions spread over this window (ms). Default: the periodic interval. */
  spreadMs?: number;
  /** PeriodicInformInterval (s); default 300. */
  periodicInterval?: number;
  periodic?: boolean;
  /** Max sessions running at once (default 256). */
  concurrency?: number;
  acsUsername?: string;
  acsPassword?: string;
  /** Connection Request password of every device (usernames are the serials). */
  connectionRequestPassword?: string;
  cwmpVersion?: CwmpVersion;
  ca?: string | Buffer;
  responseTimeoutMs?: number;
  /**
   * Default true: a finished session hands its open TCP connection to the next device's session
   * (fewer connections for load tests). false: every session opens its own connection, as real
   * devices do - what a connection-balancing load balancer in front of several ACS needs to see.
   */
  shareConnections?: boolean;
  scheduler?: Scheduler;
  log?(serial: string, level: LogLevel, message: string): void;
}

/** Running statistics of a fleet. */
export interface FleetStats {
  devices: number;
  sessionsOk: number;
  sessionsFailed: number;
  /** Sessions currently running. */
  active: number;
  /** Sessions waiting for a slot (the process is saturated when this grows). */
  queued: number;
  /** Session latency percentiles (ms) over the recent window. */
  p50: number;
  p95: number;
  p99: number;
  /** Sessions per second since start. */
  rate: number;
  elapsedMs: number;
  lastFailure?: string;
  connectionRequests: { accepted: number; unauthorized: number; rateLimited: number };
}

/** Latencies kept for percentiles (ring buffer). */
const LATENCY_WINDOW = 100_000;
const OUI = '000B82';
const DEFAULT_CONCURRENCY = 64;
const DEFAULT_PERIODIC_S = 300;

/** Serial number of fleet device `i` (000B82 + 6 hex digits). Throws RangeError past FFFFFF. */
export function fleetSerial(base: number, i: number): string {
  const n = base + i;
  if (n > 0xffffff) throw new RangeError('serial number space exhausted (000B82FFFFFF)');
  return `${OUI}${n.toString(16).toUpperCase().padStart(6, '0')}`;
}

export class Fleet {
  readonly agents: CpeAgent[] = [];
  readonly crServer: ConnectionRequestServer;
  readonly udp: UdpConnectionRequestEndpoint | null;
  private readonly pool: PooledAgentSource | null;
  private readonly gate: SessionGate;
  private readonly scheduler: Scheduler;
  private readonly latencies = new Float64Array(LATENCY_WINDOW);
  private latencyCount = 0;
  private ok = 0;
  private failed = 0;
  private started = 0;
  private lastFailure: string | undefined;
  private readonly profiles = new Map<string, DeviceProfile>();

  constructor(private readonly o: FleetOptions) {
    if (!Number.isInteger(o.count) || o.count < 1) throw new RangeError('count must be a positive integer');
    if (!o.models.length) throw new RangeError('at least one model is required');
    for (const m of o.models) this.profiles.set(m, loadProfile(m));
    this.scheduler = o.scheduler ?? new RealScheduler();
    this.crServer = new ConnectionRequestServer({ listenHost: o.host ?? '0.0.0.0', advertisedHost: o.advertisedHost, port: o.connPort });
    this.udp = o.udpPort === undefined ? null : new UdpConnectionRequestEndpoint({ port: o.udpPort, listenHost: o.host ?? '0.0.0.0', advertisedHost: o.advertisedHost });
    this.pool = o.shareConnections === false ? null : new PooledAgentSource(o.ca);
    this.gate = new SessionGate(o.concurrency ?? DEFAULT_CONCURRENCY);
  }

  /** Starts the listeners and every device. Rejects if a port cannot be bound. */
  async start(): Promise<void> {
    await this.crServer.listen();
    await this.udp?.start();
    const runtime: CpeRuntime = {
      scheduler: this.scheduler,
      random: Math.random,
      connectionRequests: this.crServer,
      udp: this.udp ?? undefined,
      // without a pool every session opens its own connection (the transport's default source)
      agents: this.pool ?? undefined,
      gate: this.gate,
      ca: this.o.ca,
      log: this.o.log,
      onSessionEnd: (_serial, r) => this.record(r),
    };
    const interval = this.o.periodicInterval ?? DEFAULT_PERIODIC_S;
    const spread = this.o.spreadMs ?? interval * 1000;
    const base = this.o.serialBase ?? 1;
    this.started = Date.now();
    for (let i = 0; i < this.o.count; i++) {
      const model = this.o.models[i % this.o.models.length];
      const serial = fleetSerial(base, i);
      const agent = new CpeAgent(
        {
          profile: this.profiles.get(model)!,
          serial,
          provisioning: {
            acsUrl: this.o.acsUrl,
            acsUsername: this.o.acsUsername,
            acsPassword: this.o.acsPassword,
            connectionRequestUsername: serial,
            connectionRequestPassword: this.o.connectionRequestPassword ?? 'switchboard',
            periodicInformEnable: this.o.periodic ?? true,
            periodicInformInterval: interval,
          },
          connectionRequestPath: serial.toLowerCase(),
          cwmpVersion: this.o.cwmpVersion,
          responseTimeoutMs: this.o.responseTimeoutMs,
          // Even spacing with a little jitter: informs spread over the window.
          bootDelayMs: Math.floor(((i + Math.random()) * spread) / this.o.count),
          logLines: 0,
        },
        runtime,
      );
      this.agents.push(agent);
      agent.start();
    }
  }

  /** Stops every device and the listeners. */
  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
    await this.crServer.close();
    await this.udp?.close();
    this.pool?.destroy();
  }

  private record(r: SessionResult): void {
    if (r.ok) this.ok++;
    else {
      this.failed++;
      this.lastFailure = r.failure?.message;
    }
    this.latencies[this.latencyCount % LATENCY_WINDOW] = r.durationMs;
    this.latencyCount++;
  }

  /** Current statistics. */
  stats(): FleetStats {
    const n = Math.min(this.latencyCount, LATENCY_WINDOW);
    const sorted = Float64Array.from(this.latencies.subarray(0, n)).sort();
    const pct = (p: number): number => (n ? sorted[Math.min(n - 1, Math.floor((p / 100) * n))] : 0);
    const elapsedMs = Date.now() - this.started;
    return {
      devices: this.agents.length,
      sessionsOk: this.ok,
      sessionsFailed: this.failed,
      active: this.gate.active,
      queued: this.gate.queued,
      p50: pct(50),
      p95: pct(95),
      p99: pct(99),
      rate: elapsedMs > 0 ? ((this.ok + this.failed) * 1000) / elapsedMs : 0,
      elapsedMs,
      lastFailure: this.lastFailure,
      connectionRequests: { accepted: this.crServer.stats.accepted, unauthorized: this.crServer.stats.unauthorized, rateLimited: this.crServer.stats.rateLimited },
    };
  }
}

/** One line of running statistics. */
export function formatFleetStats(s: FleetStats): string {
  return (
    `devices=${s.devices} sessions ok=${s.sessionsOk} failed=${s.sessionsFailed} active=${s.active} queued=${s.queued} ` +
    `rate=${s.rate.toFixed(1)}/s latency p50=${s.p50.toFixed(0)}ms p95=${s.p95.toFixed(0)}ms p99=${s.p99.toFixed(0)}ms ` +
    `cr accepted=${s.connectionRequests.accepted}${s.lastFailure ? ` last-failure="${s.lastFailure}"` : ''}`
  );
}
