/**
 * The ACS's STUN service (TR-111 Part 2): the UDP STUN server of src/net/stun-server.ts, plus what
 * the ACS needs around it:
 *
 * - which device a Binding Request belongs to: its USERNAME is the device's STUNUsername, which the
 *   ACS provisions as the device id (provisioning.ts); other usernames are looked up in the store
 *   (`ManagementServer.STUNUsername` parameter) by `storeUsernameResolver`;
 * - the device's public address:port, first seen / last refreshed / last changed, kept in memory
 *   and persisted (binding-table.ts): new and moved bindings at once, mere refreshes in batches
 *   every `flushIntervalMs` (a fleet of 10 000 phones refreshing every 30 s would otherwise cost
 *   330 writes a second);
 * - STUN passwords: with a `secret`, each username's password is derived from it
 *   (HMAC-SHA256(secret, username)), so the ACS stores none and can check MESSAGE-INTEGRITY for any
 *   device it provisioned; requests without valid integrity are then refused (401 / 431) unless
 *   `allowAnonymous`. Without a secret, bindings are accepted unauthenticated (TR-111 allows it;
 *   anyone could then move a device's binding, which only redirects its UDP wake-ups);
 * - sending UDP Connection Requests from the STUN socket (`send`), and the binding lookup the UDP
 *   transport uses (`binding`).
 */
import { createHmac } from 'node:crypto';
import { startStunServer, type StunBinding, type StunServer } from '../../net/stun-server.ts';
import type { Store } from '../../store/types.ts';
import { MemoryNatBindingTable, type NatBindingRecord, type NatBindingTable } from './binding-table.ts';
import type { DatagramSender, NatBindingLookup, NatBindingView } from './udp-transport.ts';
import { natStatusFromBinding, type NatStatus } from './requester.ts';

/** What happened to a device's binding. */
export type BindingEventKind = 'new' | 'changed' | 'refreshed';

export interface StunServiceLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface AcsStunServiceOptions {
  /** Listen address. Default 0.0.0.0. */
  host?: string;
  /** Default 3478; 0 = ephemeral (tests). */
  port?: number;
  /** Derives per-username STUN passwords (see `stunPasswordFor`) and turns integrity checks on. */
  secret?: string;
  /** With a secret: still accept requests without MESSAGE-INTEGRITY. Default false. */
  allowAnonymous?: boolean;
  /** USERNAME -> device id (null: unknown, the request is answered but not recorded). Default: the username itself. */
  resolveUsername?: (username: string) => Promise<string | null>;
  /** Default: in memory. The service closes it on `close()`. */
  table?: NatBindingTable;
  /** Batch interval for refresh-only writes. Default 30 s. */
  flushIntervalMs?: number;
  /** Called for every recorded Binding Request (exceptions are caught). */
  onBinding?: (record: NatBindingRecord, kind: BindingEventKind, previous: NatBindingRecord | undefined) => void;
  logger?: StunServiceLogger;
  /** ms clock. */
  now?: () => number;
  /** Most usernames kept in the resolver cache. Default 100 000. */
  maxCachedUsernames?: number;
  /**
   * Several ACS instances: this instance's cluster origin, recorded as the `holder` of the bindings
   * its socket receives (see pg-binding-table.ts).
   */
  instance?: string;
}

const DEFAULT_FLUSH_MS = 30_000;
/** An unknown username is looked up again at most this often. */
const NEGATIVE_CACHE_MS = 60_000;
const DEFAULT_MAX_CACHED_USERNAMES = 100_000;
/** Store lookups of unknown usernames running at once. */
const MAX_CONCURRENT_LOOKUPS = 64;
const DERIVED_PASSWORD_CHARS = 32;
const PASSWORD_LABEL = 'switchboard-stun-password:';

/**
 * The STUN password the ACS expects from a STUN username, derived from the service secret.
 * @returns 32 base64url characters.
 */
export function deriveStunPassword(secret: string, username: string): string {
  return createHmac('sha256', secret).update(`${PASSWORD_LABEL}${username}`, 'utf8').digest('base64url').slice(0, DERIVED_PASSWORD_CHARS);
}

/**
 * Resolves a STUN username through the store: a device whose id is the username, else the one
 * device whose stored `ManagementServer.STUNUsername` equals it.
 * @returns the resolver for `AcsStunServiceOptions.resolveUsername`.
 */
export function storeUsernameResolver(store: Store): (username: string) => Promise<string | null> {
  return async (username) => {
    if ((await store.getDevice(username)) !== null) return username;
    for (const root of ['Device', 'InternetGatewayDevice']) {
      const page = await store.queryDevices({ parameters: [{ name: `${root}.ManagementServer.STUNUsername`, op: 'eq', value: username }], limit: 2 });
      // Two devices sharing a username cannot be told apart: record neither.
      if (page.devices.length === 1) return page.devices[0].id;
      if (page.devices.length > 1) return null;
    }
    return null;
  };
}

/** The ACS's STUN server with device bindings. Create it with `AcsStunService.start`. */
export class AcsStunService implements NatBindingLookup, DatagramSender {
  private server: StunServer | null = null;
  private readonly opts: AcsStunServiceOptions;
  private readonly table: NatBindingTable;
  private readonly records = new Map<string, NatBindingRecord>();
  private readonly dirty = new Set<string>();
  private readonly usernames = new Map<string, { deviceId: string | null; at: number }>();
  private readonly resolving = new Map<string, Promise<string | null>>();
  private flushTimer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  readonly stats = { requests: 0, recorded: 0, unknownUsername: 0, persistErrors: 0, lookupsDropped: 0 };

  private constructor(opts: AcsStunServiceOptions) {
    this.opts = opts;
    this.table = opts.table ?? new MemoryNatBindingTable();
  }

  /**
   * Loads the stored bindings and binds the STUN port.
   * @returns the running service.
   * @throws (rejects) with the bind error (EADDRINUSE, EACCES...) or a storage error; nothing is left open.
   */
  static async start(opts: AcsStunServiceOptions = {}): Promise<AcsStunService> {
    const service = new AcsStunService(opts);
    try {
      for (const r of await service.table.load()) service.records.set(r.deviceId, r);
      const secret = opts.secret;
      service.server = await startStunServer({
        host: opts.host ?? '0.0.0.0',
        port: opts.port ?? 3478,
        credentials: secret === undefined ? undefined : (username) => deriveStunPassword(secret, username),
        requireIntegrity: secret !== undefined && !opts.allowAnonymous,
        onBinding: (b) => service.onStunBinding(b),
        onError: (err) => opts.logger?.warn({ err: err.message }, 'STUN server error'),
        now: opts.now,
      });
    } catch (err) {
      await service.table.close().catch(() => undefined);
      throw err;
    }
    const every = opts.flushIntervalMs ?? DEFAULT_FLUSH_MS;
    service.flushTimer = setInterval(() => void service.flush(), every);
    service.flushTimer.unref();
    return service;
  }

  /** The bound address (e.g. for STUNServerPort when started on port 0). */
  address(): { address: string; port: number } {
    if (this.server === null) throw new Error('STUN service is not running');
    const a = this.server.address();
    return { address: a.address, port: a.port };
  }

  /** The STUN password provisioned for a username, when a secret is configured. */
  stunPasswordFor(username: string): string | undefined {
    return this.opts.secret === undefined ? undefined : deriveStunPassword(this.opts.secret, username);
  }

  /** NatBindingLookup: the device's binding for the UDP transport. */
  binding(deviceId: string): NatBindingView | undefined {
    const r = this.records.get(deviceId);
    if (!r) return undefined;
    const view: NatBindingView = { address: r.address, port: r.port, refreshedAt: Date.parse(r.refreshedAt) };
    if (r.holder !== undefined && r.holder !== this.opts.instance) view.holder = r.holder;
    return view;
  }

  /**
   * Takes a binding another ACS instance recorded (read from the shared table) when it is newer
   * than ours: the lookups (`binding`, `natStatus`) then see it. Nothing is written.
   * @returns whether it was taken.
   */
  adopt(record: NatBindingRecord): boolean {
    const mine = this.records.get(record.deviceId);
    if (mine && Date.parse(mine.refreshedAt) >= Date.parse(record.refreshedAt)) return false;
    this.records.set(record.deviceId, { ...record });
    return true;
  }

  /** The full record of a device's binding. */
  record(deviceId: string): NatBindingRecord | undefined {
    const r = this.records.get(deviceId);
    return r ? { ...r } : undefined;
  }

  /**
   * The device's binding, first re-read from a shared table (several ACS instances: another one may
   * hold a newer binding, see `adopt`). Never rejects: a failed read gives what is known here.
   * @returns a copy of the record, or undefined.
   */
  async lookup(deviceId: string): Promise<NatBindingRecord | undefined> {
    if (this.table.get) {
      try {
        const stored = await this.table.get(deviceId);
        if (stored) this.adopt(stored);
      } catch (err) {
        this.opts.logger?.warn({ err: (err as Error).message, deviceId, table: this.table.name }, 'cannot read the shared NAT binding');
      }
    }
    return this.record(deviceId);
  }

  /** Every binding (copies). */
  list(): NatBindingRecord[] {
    return [...this.records.values()].map((r) => ({ ...r }));
  }

  /**
   * Whether the device is behind a NAT, from its ConnectionRequestURL and its binding's public address.
   * @returns a NatStatus for `PathRequesterOptions.natStatus`.
   */
  natStatus(deviceId: string, connectionRequestUrl: string | null): NatStatus {
    return natStatusFromBinding(connectionRequestUrl, this.records.get(deviceId)?.address);
  }

  /** DatagramSender: sends from the STUN socket (`via` is not looked at). @throws (rejects) on send errors or when closed. */
  send(data: Uint8Array | string, port: number, address: string): Promise<void> {
    if (this.server === null) return Promise.reject(new Error('STUN service is not running'));
    return this.server.send(data, port, address);
  }

  /** Forgets a device's binding (e.g. the device was deleted). @returns whether it had one. */
  async forget(deviceId: string): Promise<boolean> {
    const r = this.records.get(deviceId);
    if (r) this.server?.forget(r.username);
    const had = this.records.delete(deviceId);
    this.dirty.delete(deviceId);
    for (const [u, v] of this.usernames) if (v.deviceId === deviceId) this.usernames.delete(u);
    await this.table.delete(deviceId).catch((err: Error) => this.persistError(err));
    return had;
  }

  /** Writes refresh-only changes now. Never rejects (errors are logged and counted). */
  flush(): Promise<void> {
    const batch = [...this.dirty].map((id) => this.records.get(id)).filter((r): r is NatBindingRecord => r !== undefined);
    this.dirty.clear();
    return this.write(batch);
  }

  /** Flushes, stops the server and closes the table. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.flushTimer = null;
    await this.server?.close();
    // Lookups still running are not awaited (a stuck store must not block shutdown); their results
    // are dropped because `closed` is set.
    await this.flush();
    await this.writing;
    await this.table.close();
  }

  // -------------------------------------------------------------------------------------------

  private write(batch: NatBindingRecord[]): Promise<void> {
    if (batch.length === 0) return this.writing;
    // Writes are chained so that an older batch never lands after a newer one.
    this.writing = this.writing.then(() => this.table.save(batch)).catch((err: Error) => this.persistError(err));
    return this.writing;
  }

  private persistError(err: Error): void {
    this.stats.persistErrors++;
    this.opts.logger?.warn({ err: err.message, table: this.table.name }, 'cannot persist NAT bindings');
  }

  private onStunBinding(b: StunBinding): void {
    this.stats.requests++;
    const now = (this.opts.now ?? Date.now)();
    const cached = this.usernames.get(b.username);
    if (cached && (cached.deviceId !== null || now - cached.at < NEGATIVE_CACHE_MS)) {
      if (cached.deviceId === null) this.stats.unknownUsername++;
      else this.apply(cached.deviceId, b);
      return;
    }
    // Unknown usernames cost a store lookup each: bound them, so a flood of made-up usernames
    // (possible without a secret) cannot pile up queries. The next keep-alive retries.
    if (!this.resolving.has(b.username) && this.resolving.size >= MAX_CONCURRENT_LOOKUPS) {
      this.stats.lookupsDropped++;
      return;
    }
    void this.resolve(b.username, now).then((deviceId) => {
      if (deviceId === null) {
        this.stats.unknownUsername++;
        this.opts.logger?.warn({ username: b.username, from: `${b.address}:${b.port}` }, 'STUN binding for an unknown username ignored');
        return;
      }
      if (!this.closed) this.apply(deviceId, b);
    });
  }

  private resolve(username: string, now: number): Promise<string | null> {
    const inFlight = this.resolving.get(username);
    if (inFlight) return inFlight;
    const resolver = this.opts.resolveUsername ?? (async (u: string) => u);
    const p = resolver(username)
      .catch((err: Error) => {
        this.opts.logger?.warn({ username, err: err.message }, 'STUN username lookup failed');
        return null;
      })
      .then((deviceId) => {
        this.resolving.delete(username);
        this.usernames.set(username, { deviceId, at: now });
        const max = this.opts.maxCachedUsernames ?? DEFAULT_MAX_CACHED_USERNAMES;
        if (this.usernames.size > max) {
          const oldest = this.usernames.keys().next().value;
          if (oldest !== undefined) this.usernames.delete(oldest);
        }
        return deviceId;
      });
    this.resolving.set(username, p);
    return p;
  }

  private apply(deviceId: string, b: StunBinding): void {
    const at = new Date(b.at).toISOString();
    const previous = this.records.get(deviceId);
    const moved = previous !== undefined && (previous.address !== b.address || previous.port !== b.port);
    const kind: BindingEventKind = previous === undefined ? 'new' : moved ? 'changed' : 'refreshed';
    const record: NatBindingRecord = {
      deviceId,
      username: b.username,
      address: b.address,
      port: b.port,
      family: b.family,
      firstSeenAt: previous?.firstSeenAt ?? at,
      refreshedAt: at,
      changedAt: kind === 'refreshed' && previous ? previous.changedAt : at,
      integrity: b.integrity,
      connectionRequestBinding: b.connectionRequestBinding,
      ...(this.opts.instance !== undefined ? { holder: this.opts.instance } : {}),
    };
    this.records.set(deviceId, record);
    this.stats.recorded++;
    // A binding that came over from another instance is written at once: until then the shared
    // table would send wake-ups to the instance the device left.
    const cameOver = previous !== undefined && previous.holder !== record.holder;
    if (kind === 'refreshed' && !cameOver) {
      this.dirty.add(deviceId);
    } else {
      this.dirty.delete(deviceId);
      void this.write([record]);
      this.opts.logger?.info({ deviceId, binding: `${b.address}:${b.port}`, kind, bindingChange: b.changed }, 'NAT binding');
    }
    try {
      this.opts.onBinding?.({ ...record }, kind, previous);
    } catch (err) {
      this.opts.logger?.warn({ err: (err as Error).message }, 'onBinding callback failed');
    }
  }
}
