/**
 * The console's live events across ACS instances sharing one PostgreSQL database (issue #8).
 *
 * A device's session runs on whichever instance its connection reached, and only that instance
 * emits the `session` and `device` events; task changes are already relayed (task-relay.ts). A
 * console connected to instance B watching device X must still see X's sessions on instance A.
 *
 * Relaying every session start and end would cost two NOTIFYs per session on the busiest path, so
 * the feed relays only what some console watches:
 * - a console stream on an instance publishes a watch lease (`console.watch`, a device id, or null
 *   for the fleet activity summary) at once and every `WATCH_RENEW_MS`; instances keep a remote
 *   lease `WATCH_TTL_MS` (a crashed watcher's lease simply runs out);
 * - an instance publishes the `session` and `device` events of leased devices (`console.session`,
 *   `console.device`), and while the activity summary is leased, its session counts and active
 *   sessions every activity interval (`console.activity`).
 */
import type { EventEmitter } from 'node:events';
import type { AcsEventMap, SessionNotice } from '../../acs/app.ts';
import type { ClusterChannels, ClusterLink } from '../../acs/cluster/context.ts';

/** A console stream renews its watch this often (ms). */
const WATCH_RENEW_MS = 10_000;
/** An instance keeps a remote watch this long after its last renewal (ms). */
const WATCH_TTL_MS = 30_000;
/** The lease key of the fleet activity summary. */
const ACTIVITY = '*';

/** Another instance's session counts over its last activity interval. */
export interface RemoteActivity {
  origin: string;
  sessionsStarted: number;
  sessionsEnded: number;
  activeSessions: number;
}

/** What a device watcher is given: the events of that device on other instances. */
export type RemoteDeviceEvent = { kind: 'session'; notice: SessionNotice } | { kind: 'device'; deviceId: string };

export interface ClusterFeedOptions {
  link: ClusterLink;
  /** This instance's events (`AcsControl.events`). */
  events: EventEmitter<AcsEventMap>;
  activeSessions: () => number;
  /** How often this instance reports its activity while it is watched (ms). */
  activityIntervalMs: number;
  onError?: (err: Error) => void;
}

/** The running feed; `close()` stops it. */
export class ClusterFeed {
  private readonly opts: ClusterFeedOptions;
  /** Leases other instances hold on this instance's events: key -> expiry (ms). */
  private readonly remoteWatches = new Map<string, number>();
  /** This instance's console streams per key. */
  private readonly localWatches = new Map<string, number>();
  private readonly deviceHandlers = new Map<string, Set<(e: RemoteDeviceEvent) => void>>();
  private readonly activityHandlers = new Set<(a: RemoteActivity) => void>();
  private readonly counts = { sessionsStarted: 0, sessionsEnded: 0 };
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  private sending: Promise<void> = Promise.resolve();

  private constructor(opts: ClusterFeedOptions) {
    this.opts = opts;
  }

  /**
   * Subscribes to the feed channels and starts publishing the watched part of the local events.
   * @returns the feed.
   */
  static async start(opts: ClusterFeedOptions): Promise<ClusterFeed> {
    const feed = new ClusterFeed(opts);
    const n = opts.link.notifier;
    feed.cleanups.push(
      await n.subscribe('console.watch', (m, meta) => {
        if (!meta.fromSelf) feed.remoteWatches.set(m.deviceId ?? ACTIVITY, Date.now() + WATCH_TTL_MS);
      }),
      await n.subscribe('console.session', (m, meta) => {
        if (!meta.fromSelf) feed.dispatch(m.deviceId, { kind: 'session', notice: fromPayload(m) });
      }),
      await n.subscribe('console.device', (m, meta) => {
        if (!meta.fromSelf) feed.dispatch(m.deviceId, { kind: 'device', deviceId: m.deviceId });
      }),
      await n.subscribe('console.activity', (m, meta) => {
        if (meta.fromSelf) return;
        for (const h of feed.activityHandlers) h({ origin: meta.origin, ...m });
      }),
    );
    const onSession = (notice: SessionNotice) => {
      if (notice.phase === 'started') feed.counts.sessionsStarted++;
      else feed.counts.sessionsEnded++;
      if (feed.leased(notice.deviceId)) feed.publish('console.session', toPayload(notice));
    };
    const onDevice = (deviceId: string) => {
      if (feed.leased(deviceId)) feed.publish('console.device', { deviceId });
    };
    opts.events.on('session', onSession);
    opts.events.on('device', onDevice);
    const renew = setInterval(() => {
      for (const key of feed.localWatches.keys()) feed.publish('console.watch', { deviceId: key === ACTIVITY ? null : key });
    }, WATCH_RENEW_MS);
    renew.unref();
    const activity = setInterval(() => {
      if (feed.leased(ACTIVITY)) feed.publish('console.activity', { ...feed.counts, activeSessions: opts.activeSessions() });
      feed.counts.sessionsStarted = feed.counts.sessionsEnded = 0;
    }, opts.activityIntervalMs);
    activity.unref();
    feed.cleanups.push(() => {
      clearInterval(renew);
      clearInterval(activity);
      opts.events.off('session', onSession);
      opts.events.off('device', onDevice);
    });
    return feed;
  }

  /**
   * Delivers the device's session and inventory events from the other instances to `handler`.
   * @returns the function that stops it.
   */
  watchDevice(deviceId: string, handler: (e: RemoteDeviceEvent) => void): () => void {
    let set = this.deviceHandlers.get(deviceId);
    if (!set) this.deviceHandlers.set(deviceId, (set = new Set()));
    set.add(handler);
    const stopWatch = this.watch(deviceId);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.deviceHandlers.get(deviceId) === set) this.deviceHandlers.delete(deviceId);
      stopWatch();
    };
  }

  /**
   * Delivers the other instances' activity reports to `handler`.
   * @returns the function that stops it.
   */
  watchActivity(handler: (a: RemoteActivity) => void): () => void {
    this.activityHandlers.add(handler);
    const stopWatch = this.watch(ACTIVITY);
    return () => {
      this.activityHandlers.delete(handler);
      stopWatch();
    };
  }

  async close(): Promise<void> {
    for (const c of this.cleanups.splice(0)) await Promise.resolve(c()).catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------

  private watch(key: string): () => void {
    const n = this.localWatches.get(key) ?? 0;
    this.localWatches.set(key, n + 1);
    if (n === 0) this.publish('console.watch', { deviceId: key === ACTIVITY ? null : key });
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      const left = (this.localWatches.get(key) ?? 1) - 1;
      if (left > 0) this.localWatches.set(key, left);
      else this.localWatches.delete(key);
    };
  }

  private leased(key: string): boolean {
    const until = this.remoteWatches.get(key);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.remoteWatches.delete(key);
    return false;
  }

  private dispatch(deviceId: string, e: RemoteDeviceEvent): void {
    for (const h of this.deviceHandlers.get(deviceId) ?? []) h(e);
  }

  /**
   * Publishes in order: the notifier's pool may send two messages on two connections, and a
   * device's `ended` must not overtake its `started` (nor its `device` change).
   */
  private publish<K extends keyof ClusterChannels & string>(channel: K, payload: ClusterChannels[K]): void {
    this.sending = this.sending
      .then(() => this.opts.link.notifier.publish(channel, payload))
      .catch((err: unknown) => this.opts.onError?.(err instanceof Error ? err : new Error(String(err))));
  }
}

type SessionPayload = ClusterChannels['console.session'];

function toPayload(n: SessionNotice): SessionPayload {
  return { deviceId: n.deviceId, phase: n.phase, remoteAddress: n.remoteAddress, outcome: n.outcome ?? null, sessionId: n.sessionId ?? null };
}

function fromPayload(p: SessionPayload): SessionNotice {
  const notice: SessionNotice = { deviceId: p.deviceId, phase: p.phase, remoteAddress: p.remoteAddress };
  if (p.outcome !== null) notice.outcome = p.outcome as SessionNotice['outcome'];
  if (p.sessionId !== null) notice.sessionId = p.sessionId;
  return notice;
}
