/**
 * Watching for a device's session start across the ACS instances of one database: used to confirm
 * an unacknowledged (UDP) connection request relayed to another instance, and to end a connection
 * request claim as soon as the woken device connects (cr-gate.ts).
 */
import type { SessionWatch, SessionWatcher } from '../nat/requester.ts';
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

/**
 * A session watcher that also sees sessions on other ACS instances: after a UDP request relayed to
 * instance A, the device's session opens on whichever instance its HTTP connection reaches, and
 * only that instance emits the local `session` event. While it waits, this watcher reads the
 * device's session lock (taken at the Inform, read only) and its last contact every `pollMs`.
 * @returns a `SessionWatcher` combining `local` (the instance's own session events; null: none)
 *   with the database reads.
 */
export function clusterSessionWatcher(local: SessionWatcher | null, link: ClusterLink, pollMs = DEFAULT_WATCH_POLL_MS): SessionWatcher {
  return (deviceId, timeoutMs) => {
    const since = new Date();
    const watch = (local ?? timeoutWatcher)(deviceId, timeoutMs);
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<boolean>((resolve) => {
      const poll = () => {
        if (stopped) return resolve(false);
        // pool() throws once the link is closed: inside the chain, so that it is a failed read
        Promise.resolve()
          .then(() => link.pool().query<{ seen: boolean }>(
            `SELECT EXISTS (SELECT 1 FROM ${link.table('session_locks')} WHERE device_id = $1 AND expires_at > clock_timestamp())
                 OR EXISTS (SELECT 1 FROM ${link.table('devices')} WHERE id = $1 AND last_contact >= $2) AS seen`,
            [deviceId, since],
          ))
          .then(
            ({ rows }) => {
              if (rows[0]?.seen) resolve(true);
              else next();
            },
            () => next(),
          );
      };
      // Polls must not keep a stopping process alive.
      const next = () => {
        if (stopped) return resolve(false);
        timer = setTimeout(poll, pollMs);
        timer.unref();
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
