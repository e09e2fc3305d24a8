/**
 * Watching for a device's session start across the ACS instances of one database: used to confirm
 * an unacknowledged (UDP) connection request relayed to another instance, and to end a connection
 * request claim as soon as the woken device connects (cr-gate.ts).
 */
import type { SessionWatch, SessionWatcher } from '../nat/requester.ts';
import type { Store } from '../../store/types.ts';
import type { ClusterLink } from './context.ts';

/** A watcher that sees nothing and answers false at its timeout. */
function timeoutWatcher(_deviceId: string, timeoutMs: number): SessionWatch {
  let timer: NodeJS.Timeout | undefined;
  let done: (v: boolean) => void = () => undefined;
  const started = new Promise<boolean>((resolve) => {
    done = resolve;
    timer = setTimeout(() => resolve(false), timeoutMs);
    timer.unref();
  });
  return {
    started,
    cancel: () => {
      clearTimeout(timer);
      done(false);
    },
  };
}

/** How often a cluster session watcher reads the database while it waits (ms). */
const DEFAULT_WATCH_POLL_MS = 150;
/** How often the store-only watcher reads the device while it waits (ms). */
const DEFAULT_STORE_POLL_MS = 250;

/** Whether the device's session started since `since` (one read). */
type SessionProbe = (deviceId: string, since: Date) => Promise<boolean>;

/**
 * A watcher that asks `probe` every `pollMs` until it says yes, or `local` (events) sees the session
 * first, or the time is up.
 * @returns the combined `SessionWatcher`.
 */
function pollingWatcher(probe: SessionProbe, local: SessionWatcher | null, pollMs: number): SessionWatcher {
  return (deviceId, timeoutMs) => {
    const since = new Date();
    const watch = (local ?? timeoutWatcher)(deviceId, timeoutMs);
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<boolean>((resolve) => {
      // Polls must not keep a stopping process alive.
      const next = () => {
        if (stopped) return resolve(false);
        timer = setTimeout(poll, pollMs);
        timer.unref();
      };
      const poll = () => {
        if (stopped) return resolve(false);
        // inside the chain, so that a probe throwing at once (closed link or store) is a failed read
        Promise.resolve()
          .then(() => probe(deviceId, since))
          .then(
            (yes) => (yes ? resolve(true) : next()),
            () => next(),
          );
      };
      next();
    });
    const stop = () => {
      stopped = true;
      clearTimeout(timer);
    };
    const started = Promise.race([watch.started, seen.then((v) => v || watch.started)]).then((v) => {
      stop();
      watch.cancel();
      return v;
    });
    return {
      started,
      cancel: () => {
        stop();
        watch.cancel();
      },
    };
  };
}

/**
 * A session watcher that also sees sessions on other ACS instances: after a UDP request relayed to
 * instance A, the device's session opens on whichever instance its HTTP connection reaches, and
 * only that instance emits the local `session` event. While it waits, this watcher reads the
 * device's session lock (taken at the Inform, read only) and its last contact every `pollMs`.
 * @returns a `SessionWatcher` combining `local` (the instance's own session events; null: none)
 *   with the database reads.
 */
export function clusterSessionWatcher(local: SessionWatcher | null, link: ClusterLink, pollMs = DEFAULT_WATCH_POLL_MS): SessionWatcher {
  return pollingWatcher(
    async (deviceId, since) => {
      const { rows } = await link.pool().query<{ seen: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM ${link.table('session_locks')} WHERE device_id = $1 AND expires_at > clock_timestamp())
             OR EXISTS (SELECT 1 FROM ${link.table('devices')} WHERE id = $1 AND last_contact >= $2) AS seen`,
        [deviceId, since],
      );
      return rows[0]?.seen === true;
    },
    local,
    pollMs,
  );
}

/**
 * A watcher through the Store interface only (a single ACS without session events at hand, e.g.
 * the HTTP-only requester): sees a session once it is recorded, by the device's last contact.
 * @returns a `SessionWatcher`.
 */
export function storeSessionWatcher(store: Store, pollMs = DEFAULT_STORE_POLL_MS): SessionWatcher {
  return pollingWatcher(
    async (deviceId, since) => {
      const device = await store.getDevice(deviceId);
      return device?.lastContact !== null && device?.lastContact !== undefined && Date.parse(device.lastContact) >= since.getTime();
    },
    null,
    pollMs,
  );
}
