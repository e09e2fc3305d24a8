/**
 * Connection requests sent once (issue #8): when the same device is asked for by two callers at
 * about the same time — two API calls on two ACS instances, a rollout kick and an operator on one —
 * only one request goes out, and every caller gets its outcome.
 *
 * How:
 * - A claim per device in the core store's session lock table, under the key `cr:<deviceId>`
 *   (`Store.acquireSessionLock`: one row per key, expiry judged by the database clock on
 *   PostgreSQL, so instances agree without synchronised clocks). Its owner is
 *   `<instance origin>:<random>`. The winner sends; while it sends the claim lives `inFlightTtlMs`
 *   (an instance killed mid-request leaves a claim that ends then). After an `ok` the claim is kept
 *   until the device's session starts (`watchSession`: from then on callers meet the session, see
 *   below), at most `settleMs`: another request in that time would only meet a busy CPE. After any
 *   other outcome it is released at once, so a retry can go out.
 * - The winner publishes its outcome (`cr.result`, on the cluster link's LISTEN/NOTIFY; in-process
 *   without a link). A loser answers with the winner's outcome marked `deduplicated: true`: at once
 *   when it already heard it, else when it arrives (at most `maxWaitMs`, and never past the claim's
 *   expiry). A lost notification (listener reconnecting) gives `ok`/`cluster` with an explanation:
 *   a claim exists only while a request is being sent or after one succeeded.
 * - On a shared store, before claiming, the device's session lock is read (read only, never
 *   taken: taking it would refuse the device's own Inform). A device in session on any instance is
 *   not woken; the answer says so (`transport: 'session'`). The local check stays with the caller
 *   (the ACS joins tasks into a local session, which another instance cannot do). A session reads
 *   its tasks when it starts, so a task queued meanwhile on another instance would wait for the
 *   device's next periodic Inform: the gate therefore watches the lock (one read every
 *   `deferPollMs`) and, once the session is over, wakes the device if it still has pending tasks
 *   (through a claim again, so the instances that deferred send once between them).
 * - When the store cannot be reached for the claim, the request is sent anyway: a duplicate wake-up
 *   is harmless, a missing one is not.
 */
import { randomUUID } from 'node:crypto';
import type { Store } from '../../store/types.ts';
import type { ConnectionRequestResult } from '../connection-request.ts';
import type { SessionWatch, SessionWatcher } from '../nat/requester.ts';
import { clusterOf, type ClusterChannels, type ClusterLink } from './context.ts';
import { clusterSessionWatcher, storeSessionWatcher } from './session-watch.ts';

export interface ConnectionRequestGateOptions {
  /** The core store (claims live in its session lock table). */
  store: Store;
  /** Default: `clusterOf(store)`, looked up at each call (null: this process is alone). */
  link?: ClusterLink | null;
  /** How long a successful request keeps its claim after it finished, at most (ms, default 3000). */
  settleMs?: number;
  /**
   * Sees the device's session start, so that the claim ends then rather than after `settleMs`.
   * Default: the database reads of `clusterSessionWatcher` on a shared store, else the device's
   * last contact through the store (`storeSessionWatcher`).
   */
  watchSession?: SessionWatcher;
  /** Claim lifetime while a request is in flight (ms, default 30 000). */
  inFlightTtlMs?: number;
  /** Longest wait for the outcome of another caller's request (ms, default 20 000: HTTP 10 s + UDP 2 s + confirmation 3 s, and margin). */
  maxWaitMs?: number;
  /** Device in session elsewhere: how often its lock is read until the session is over (ms, default 500). */
  deferPollMs?: number;
  /** ... and for how long at most (ms, default 150 000: past the engine's default lock ttl of 120 s). */
  maxDeferMs?: number;
  onError?: (err: Error) => void;
}

const DEFAULT_SETTLE_MS = 3_000;
const DEFAULT_IN_FLIGHT_TTL_MS = 30_000;
const DEFAULT_MAX_WAIT_MS = 20_000;
const CLAIM_PREFIX = 'cr:';
const DEFAULT_DEFER_POLL_MS = 500;
const DEFAULT_MAX_DEFER_MS = 150_000;

/** An outcome as instances tell each other (a PathConnectionRequestResult's attempts stay local). */
type Outcome = ClusterChannels['cr.result'];

interface HeardOutcome {
  outcome: Outcome;
  at: number;
}

/** The session lock key of a device's connection request claim. */
export function connectionRequestClaimKey(deviceId: string): string {
  return `${CLAIM_PREFIX}${deviceId}`;
}

function asOutcome(deviceId: string, owner: string, r: ConnectionRequestResult): Outcome {
  const path = (r as { path?: unknown }).path;
  return { deviceId, owner, status: r.status, transport: r.transport, detail: r.detail, path: typeof path === 'string' ? path : null };
}

function fromOutcome(o: Outcome): ConnectionRequestResult {
  const status = o.status as ConnectionRequestResult['status'];
  return { status, transport: o.transport, detail: `deduplicated: another request for this device was sent at the same time: ${o.detail}`, deduplicated: true };
}

/** Runs connection requests so that concurrent ones for one device send once. */
export class ConnectionRequestGate {
  private readonly opts: ConnectionRequestGateOptions;
  /** This process's own id when there is no link. */
  private readonly localOrigin = randomUUID();
  private readonly heard = new Map<string, HeardOutcome>();
  private readonly waiters = new Map<string, Set<(o: Outcome) => void>>();
  private subscribed: { link: ClusterLink; done: Promise<() => Promise<void>> } | null = null;
  /** Devices whose session elsewhere is being watched, with the send to use once it is over. */
  private readonly deferred = new Map<string, NodeJS.Timeout>();
  /** Claims to delete once their settle time is over (an expired row would do, but rows would pile up). */
  private readonly releases = new Map<NodeJS.Timeout, SessionWatch | null>();
  private closed = false;
  readonly stats = { sent: 0, deduplicated: 0, inSession: 0, claimErrors: 0, deferredWakes: 0, endedBySession: 0 };

  constructor(opts: ConnectionRequestGateOptions) {
    this.opts = opts;
  }

  /**
   * Sends through `send` unless another caller is sending for the device, or it is in session on
   * another instance.
   * @returns `send`'s result, or the other caller's outcome with `deduplicated: true`, or
   *   `{ status: 'ok', transport: 'session' }` for a device in session elsewhere. Never rejects
   *   (a throwing `send` becomes an `error` result).
   */
  async run(deviceId: string, send: () => Promise<ConnectionRequestResult>): Promise<ConnectionRequestResult> {
    const link = this.opts.link === undefined ? clusterOf(this.opts.store) : this.opts.link;
    if (link) {
      await this.listen(link);
      const held = await this.sessionHolder(link, deviceId);
      if (held !== null) {
        this.stats.inSession++;
        this.deferWake(link, deviceId, send);
        return {
          status: 'ok',
          transport: 'session',
          detail: `the device is in session on another ACS instance (its lock runs until ${held}): not woken now; if tasks are still pending when that session is over, it is woken then`,
        };
      }
    }
    const key = connectionRequestClaimKey(deviceId);
    const owner = `${link?.origin ?? this.localOrigin}:${randomUUID()}`;
    let claim;
    try {
      claim = await this.opts.store.acquireSessionLock(key, owner, this.opts.inFlightTtlMs ?? DEFAULT_IN_FLIGHT_TTL_MS);
    } catch (err) {
      this.stats.claimErrors++;
      this.report(err);
      return this.send(send);
    }
    if (!claim.acquired) {
      this.stats.deduplicated++;
      return this.outcomeOf(claim.holder, claim.expiresAt);
    }
    this.stats.sent++;
    // Watch from before the send: a quick device may connect before the answer comes back.
    const watcher = this.opts.watchSession ?? (link ? clusterSessionWatcher(null, link) : storeSessionWatcher(this.opts.store));
    const settleMs = this.opts.settleMs ?? DEFAULT_SETTLE_MS;
    const watch = watcher(deviceId, (this.opts.inFlightTtlMs ?? DEFAULT_IN_FLIGHT_TTL_MS) + settleMs);
    const result = await this.send(send);
    const outcome = asOutcome(deviceId, owner, result);
    // Claim first, then tell: a caller told of the outcome may ask again at once.
    try {
      if (result.status === 'ok') {
        await this.opts.store.refreshSessionLock(key, owner, settleMs);
        this.releaseLater(key, owner, settleMs, watch);
      } else {
        watch?.cancel();
        await this.opts.store.releaseSessionLock(key, owner);
      }
    } catch (err) {
      watch?.cancel();
      this.report(err);
    }
    this.deliver(outcome);
    if (link) link.notifier.publish('cr.result', outcome).catch((err: unknown) => this.report(err));
    return result;
  }

  /** Stops listening for other instances' outcomes and watching sessions elsewhere. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.deferred.values()) clearTimeout(t);
    this.deferred.clear();
    for (const [t, watch] of this.releases) {
      clearTimeout(t);
      watch?.cancel();
    }
    this.releases.clear();
    const s = this.subscribed;
    this.subscribed = null;
    if (s) await (await s.done.catch(() => async () => undefined))().catch(() => undefined);
    for (const set of this.waiters.values()) set.clear();
  }

  // -------------------------------------------------------------------------------------------

  private async send(send: () => Promise<ConnectionRequestResult>): Promise<ConnectionRequestResult> {
    try {
      return await send();
    } catch (err) {
      return { status: 'error', transport: 'none', detail: `connection request failed: ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  private listen(link: ClusterLink): Promise<unknown> {
    if (this.subscribed?.link !== link) {
      const done = link.notifier.subscribe('cr.result', (o, meta) => {
        if (!meta.fromSelf) this.deliver(o);
      });
      this.subscribed = { link, done };
    }
    return this.subscribed.done.catch((err: unknown) => this.report(err));
  }

  /** Deletes the claim when the device's session starts (`watch`), or after `afterMs` at the latest. */
  private releaseLater(key: string, owner: string, afterMs: number, watch: SessionWatch | null): void {
    if (this.closed) {
      watch?.cancel();
      return;
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(t);
      this.releases.delete(t);
      watch?.cancel();
      this.opts.store.releaseSessionLock(key, owner).catch((err: unknown) => this.report(err));
    };
    const t = setTimeout(release, afterMs);
    t.unref();
    this.releases.set(t, watch);
    watch?.started.then((started) => {
      if (started && !this.closed) {
        this.stats.endedBySession++;
        release();
      }
    }, () => undefined);
  }

  /**
   * Watches the device's session elsewhere; once it is over, wakes the device when it has pending
   * tasks (they were queued after that session read its tasks). One watch per device.
   */
  private deferWake(link: ClusterLink, deviceId: string, send: () => Promise<ConnectionRequestResult>): void {
    if (this.closed || this.deferred.has(deviceId)) return;
    const until = Date.now() + (this.opts.maxDeferMs ?? DEFAULT_MAX_DEFER_MS);
    const check = () => {
      void this.sessionHolder(link, deviceId).then(async (held) => {
        if (this.closed) return;
        if (held !== null && Date.now() < until) {
          schedule();
          return;
        }
        this.deferred.delete(deviceId);
        if (held !== null) return;
        const pending = await this.opts.store.listTasks({ deviceId, status: ['pending'], limit: 1 }).catch((err: unknown) => {
          this.report(err);
          return null;
        });
        if (!pending || pending.tasks.length === 0 || this.closed) return;
        this.stats.deferredWakes++;
        await this.run(deviceId, send);
      });
    };
    const schedule = () => {
      const t = setTimeout(check, this.opts.deferPollMs ?? DEFAULT_DEFER_POLL_MS);
      t.unref();
      this.deferred.set(deviceId, t);
    };
    schedule();
  }

  /** @returns the expiry of the device's live session lock, or null (also when it cannot be read). */
  private async sessionHolder(link: ClusterLink, deviceId: string): Promise<string | null> {
    try {
      const { rows } = await link
        .pool()
        .query<{ expires_at: Date }>(`SELECT expires_at FROM ${link.table('session_locks')} WHERE device_id = $1 AND expires_at > clock_timestamp()`, [deviceId]);
      return rows.length > 0 ? rows[0].expires_at.toISOString() : null;
    } catch (err) {
      this.report(err);
      return null;
    }
  }

  private deliver(o: Outcome): void {
    const now = Date.now();
    this.heard.set(o.owner, { outcome: o, at: now });
    // Outcomes are only useful to callers that met the claim: forget them once no claim can last.
    const keepMs = Math.max(this.opts.settleMs ?? DEFAULT_SETTLE_MS, this.opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
    for (const [owner, h] of this.heard) {
      if (now - h.at <= keepMs) break;
      this.heard.delete(owner);
    }
    const set = this.waiters.get(o.owner);
    if (set) {
      this.waiters.delete(o.owner);
      for (const w of set) w(o);
    }
  }

  private outcomeOf(holder: string, expiresAt: string): Promise<ConnectionRequestResult> {
    const known = this.heard.get(holder);
    if (known) return Promise.resolve(fromOutcome(known.outcome));
    const maxWait = this.opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    const waitMs = Math.min(maxWait, Math.max(0, Date.parse(expiresAt) - Date.now()));
    return new Promise((resolve) => {
      let set = this.waiters.get(holder);
      if (!set) {
        set = new Set();
        this.waiters.set(holder, set);
      }
      const waiter = (o: Outcome) => {
        clearTimeout(timer);
        resolve(fromOutcome(o));
      };
      const timer = setTimeout(() => {
        set.delete(waiter);
        if (set.size === 0 && this.waiters.get(holder) === set) this.waiters.delete(holder);
        resolve({
          status: 'ok',
          transport: 'cluster',
          detail: `deduplicated: another caller claimed this device's connection request (until ${expiresAt}); its outcome was not heard`,
          deduplicated: true,
        });
      }, waitMs);
      timer.unref();
      set.add(waiter);
    });
  }

  private report(err: unknown): void {
    this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }
}
