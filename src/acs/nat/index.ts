/**
 * NAT traversal for the ACS (issue #6, TR-111): one call, `startNat`, wires the STUN server, the
 * UDP connection request transport, the path-choosing requester and STUN provisioning, so that
 * `startAcs` needs only a few lines:
 *
 * ```ts
 * const nat = await startNat({ store, events, enqueueTask: (...a) => acs.enqueueTask(...a), http, logger, gate, watchSession, ... }, options.nat);
 * closers.push(() => nat.close());
 * // connection requests: nat.request(deviceId) instead of the HTTP-only requester
 * ```
 *
 * Parts (each usable alone): stun-service.ts (STUN server + device bindings + persistence),
 * udp-transport.ts (signed UDP connection requests from the STUN socket), requester.ts (HTTP, then
 * UDP, later XMPP; reports `path`), provisioning.ts (STUN settings on devices that need them),
 * gateway.ts (TR-111 Part 1 device-gateway association), api-routes.ts (REST routes).
 */
import type { EventEmitter } from 'node:events';
import type { AcsControl, AcsEventMap } from '../app.ts';
import type { ConnectionRequestTarget, ConnectionRequestTransport } from '../connection-request.ts';
import type { Store } from '../../store/types.ts';
import { MemoryNatBindingTable, openSqliteNatBindingTable, type NatBindingTable } from './binding-table.ts';
import { DEFAULT_STUN_PROVISIONING, NatProvisioner, type StunProvisionMode, type StunProvisioningSettings } from './provisioning.ts';
import type { ConnectionRequestGate } from '../cluster/cr-gate.ts';
import { clusterOf, type ClusterLink } from '../cluster/context.ts';
import { startNatRelay, type NatRelay } from './cluster-relay.ts';
import { openPgNatBindingTable, type PgNatBindingTable } from './pg-binding-table.ts';
import { PathChoosingConnectionRequester, type SessionWatcher, type ConnectionRequestPath, type PathConnectionRequestResult, type RequesterLogger } from './requester.ts';
import { AcsStunService } from './stun-service.ts';
import { UdpConnectionRequestTransport } from './udp-transport.ts';

export * from './binding-table.ts';
export * from './cluster-relay.ts';
export * from './pg-binding-table.ts';
export * from './gateway.ts';
export * from './provisioning.ts';
export * from './requester.ts';
export * from './stun-service.ts';
export * from './udp-transport.ts';

/** What the ACS configures (command line: --stun-port, --stun-host, --stun-secret, --stun-provision...). */
export interface NatOptions {
  /** The STUN server; `false` = none (then UDP connection requests go to reported addresses only, from an ephemeral port). */
  stun?:
    | false
    | {
        /** Default 0.0.0.0. */
        host?: string;
        /** Default 3478; 0 = ephemeral (tests). */
        port?: number;
        /** Derive and check STUN passwords (MESSAGE-INTEGRITY required unless allowAnonymous). */
        secret?: string;
        allowAnonymous?: boolean;
        /** Refresh-only writes batch interval (ms). */
        flushIntervalMs?: number;
      };
  /** UDP connection request tuning. */
  udp?: { copies?: number; retransmitIntervalMs?: number; maxBindingAgeMs?: number };
  /** STUN provisioning on devices; mode default `off`. */
  provisioning?: Partial<StunProvisioningSettings> & { mode: StunProvisionMode };
  /** Wait this long for the session after a UDP request (ms). Default 3000; 0 = do not confirm. */
  confirmMs?: number;
  /** HTTP attempt limit for devices known to be behind a NAT (ms). Default 2000. */
  behindNatHttpTimeoutMs?: number;
  /**
   * Where bindings persist: `auto` (the shared PostgreSQL table when the store is shared by several
   * ACS instances, the SQLite file of a SQLite store, else memory), or `memory`.
   */
  persist?: 'auto' | 'memory';
  /** Several instances: how long to wait for the instance holding a binding to send for us (ms, default 500). */
  relayAckTimeoutMs?: number;
}

export interface NatLogger extends RequesterLogger {
  error(obj: object, msg?: string): void;
}

/** What `startNat` needs from the ACS. */
export interface NatDeps {
  store: Store;
  events: EventEmitter<AcsEventMap>;
  /** The ACS's enqueueTask (provisioning queues ordinary tasks). */
  enqueueTask: AcsControl['enqueueTask'];
  /** The HTTP transport (src/acs/connection-request.ts), tried first. */
  http: ConnectionRequestTransport;
  /** Connection request credentials for devices without their own. */
  defaultCredentials?: { username: string | null; password: string | null };
  logger?: NatLogger;
  /** The ACS's connection request gate (one per instance, shared with the HTTP-only requester; closed by the ACS). */
  gate: ConnectionRequestGate;
  /** The ACS's session watcher (this instance's sessions, and the others' on a shared database). */
  watchSession: SessionWatcher;
}

/** The running NAT part. */
export interface NatService {
  /** null when started with `stun: false`. */
  readonly stun: AcsStunService | null;
  readonly udp: UdpConnectionRequestTransport;
  readonly requester: PathChoosingConnectionRequester;
  /** null when provisioning is off. */
  readonly provisioner: NatProvisioner | null;
  /** Several ACS instances: the relay of UDP sends to the instance holding a binding (else null). */
  readonly relay: NatRelay | null;
  /** The connection request gate (concurrent requests for one device sent once). */
  readonly gate: ConnectionRequestGate;
  /**
   * Wakes a device by the first path that works (same contract as the core ConnectionRequester,
   * concurrent requests for one device sent once, see src/acs/cluster/cr-gate.ts).
   * @returns the result with `path`, `attempts`, `confirmed` (a deduplicated answer has no
   *   attempts of its own); never rejects.
   */
  request(deviceId: string, signal?: AbortSignal): Promise<PathConnectionRequestResult>;
  close(): Promise<void>;
}

/** A socket-less sender used when there is no STUN server: an ephemeral UDP socket per datagram. */
async function ephemeralSend(data: Uint8Array | string, port: number, address: string): Promise<void> {
  const { createSocket } = await import('node:dgram');
  const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => s.send(data, port, address, (err) => (err ? reject(err) : resolve())));
  } finally {
    s.close();
  }
}

const PATHS: readonly string[] = ['http', 'udp', 'xmpp'] satisfies ConnectionRequestPath[];

/** The path named by a transport, or null (`session`, `cluster`...). */
function pathOf(transport: string): ConnectionRequestPath | null {
  return PATHS.includes(transport) ? (transport as ConnectionRequestPath) : null;
}

function bindingTableFor(store: Store, persist: NatOptions['persist']): NatBindingTable {
  const file = /^sqlite:(.+)$/.exec(store.name)?.[1];
  if (persist === 'memory' || file === undefined || file === ':memory:') return new MemoryNatBindingTable();
  return openSqliteNatBindingTable({ file });
}

/**
 * Starts the STUN server (unless `stun: false`), builds the UDP transport and the requester, and
 * starts STUN provisioning (unless its mode is `off`).
 * @returns the running service.
 * @throws (rejects) when the STUN port cannot be bound or the binding table cannot be opened.
 */
export async function startNat(deps: NatDeps, options: NatOptions = {}): Promise<NatService> {
  const log = deps.logger;
  // Several ACS instances on one PostgreSQL database: bindings are shared, UDP sends are relayed to
  // the instance holding the binding (cluster-relay.ts explains why).
  const link: ClusterLink | null = clusterOf(deps.store);
  let stun: AcsStunService | null = null;
  let shared: PgNatBindingTable | null = null;
  let relay: NatRelay | null = null;
  if (options.stun !== false) {
    const s = options.stun ?? {};
    const persist = options.persist ?? 'auto';
    if (link && persist === 'auto') shared = await openPgNatBindingTable({ pool: link.pool(), schema: link.schema, instance: link.origin });
    stun = await AcsStunService.start({
      host: s.host,
      port: s.port,
      secret: s.secret,
      allowAnonymous: s.allowAnonymous,
      flushIntervalMs: s.flushIntervalMs,
      table: shared ?? bindingTableFor(deps.store, persist),
      logger: log,
      instance: link?.origin,
    });
    if (link) {
      try {
        relay = await startNatRelay({ link, local: stun, ackTimeoutMs: options.relayAckTimeoutMs, onError: (err) => log?.warn({ err: err.message }, 'NAT relay') });
      } catch (err) {
        await stun.close();
        throw err;
      }
    }
    const a = stun.address();
    log?.info({ stun: `${a.address}:${a.port}`, integrity: s.secret !== undefined && !s.allowAnonymous, provisioning: options.provisioning?.mode ?? 'off' }, 'STUN server started');
  }
  const stunRef = stun;
  const udp = new UdpConnectionRequestTransport({
    sender: relay?.sender ?? stunRef ?? { send: ephemeralSend },
    bindings: stunRef ?? undefined,
    copies: options.udp?.copies,
    retransmitIntervalMs: options.udp?.retransmitIntervalMs,
    maxBindingAgeMs: options.udp?.maxBindingAgeMs,
  });
  const confirmMs = options.confirmMs ?? 3000;
  const { gate, watchSession } = deps;
  const requester = new PathChoosingConnectionRequester({
    transports: [deps.http, udp],
    behindNatHttpTimeoutMs: options.behindNatHttpTimeoutMs,
    natStatus: (t: ConnectionRequestTarget) => stunRef?.natStatus(t.deviceId, t.connectionRequestUrl) ?? 'unknown',
    watchSession: confirmMs > 0 ? watchSession : undefined,
    confirmMs,
    logger: log,
  });

  let provisioner: NatProvisioner | null = null;
  const mode = options.provisioning?.mode ?? 'off';
  if (mode !== 'off') {
    const settings: StunProvisioningSettings = {
      ...DEFAULT_STUN_PROVISIONING,
      serverAddress: '',
      ...options.provisioning,
      mode,
      // Devices must be told the port we really listen on (it differs from 3478 with port 0).
      serverPort: options.provisioning?.serverPort ?? stunRef?.address().port ?? DEFAULT_STUN_PROVISIONING.serverPort,
      passwordFor: options.provisioning?.passwordFor ?? ((u) => stunRef?.stunPasswordFor(u)),
    };
    provisioner = new NatProvisioner({ events: deps.events, enqueueTask: deps.enqueueTask }, deps.store, settings, log);
    provisioner.start();
  }

  const defaults = deps.defaultCredentials ?? { username: null, password: null };
  const send = async (deviceId: string, signal?: AbortSignal): Promise<PathConnectionRequestResult> => {
    let device;
    try {
      device = await deps.store.getDevice(deviceId);
    } catch (err) {
      return { status: 'error', transport: 'none', detail: `store: ${(err as Error).message}`, path: null, attempts: [], confirmed: null, elapsedMs: 0 };
    }
    if (device === null) return { status: 'no-address', transport: 'none', detail: `unknown device ${deviceId}`, path: null, attempts: [], confirmed: null, elapsedMs: 0 };
    // The binding may have been learned (or refreshed) by another instance since we loaded ours.
    if (shared) await stunRef?.lookup(deviceId);
    return requester.request(
      {
        deviceId,
        connectionRequestUrl: device.connectionRequestUrl,
        udpConnectionRequestAddress: device.udpConnectionRequestAddress,
        username: device.credentials.connectionRequestUsername ?? defaults.username,
        password: device.credentials.connectionRequestPassword ?? defaults.password,
      },
      signal,
    );
  };
  return {
    stun,
    udp,
    requester,
    provisioner,
    relay,
    gate,
    async request(deviceId, signal) {
      const t0 = Date.now();
      const r = await gate.run(deviceId, () => send(deviceId, signal));
      if ('attempts' in r) return r as PathConnectionRequestResult;
      return { ...r, path: r.status === 'ok' ? pathOf(r.transport) : null, attempts: [], confirmed: null, elapsedMs: Date.now() - t0 };
    },
    async close() {
      provisioner?.stop();
      udp.close();
      await relay?.close();
      await stunRef?.close();
    },
  };
}
