/**
 * The path-choosing connection requester: wakes a CPE by the first path that works.
 *
 * Transports are tried in the order given (HTTP first, then UDP; XMPP later, see below). A result
 * decides what happens next:
 * - `ok`: done; `path` names the transport. For a transport without acknowledgement (UDP), when a
 *   session watcher is given, we wait up to `confirmMs` for the device's session to start and
 *   report `confirmed`; an unconfirmed UDP request is retried on the next transport, if any.
 * - `busy` (503: the CPE is in a session or rate-limits us) and `auth-failed` (wrong credentials;
 *   the UDP signature uses the same password, so it would fail the same way): stop, the device was
 *   reached.
 * - `unreachable`, `no-address`, `error`: try the next transport.
 * Each attempt is listed in `attempts` so that an operator sees why HTTP was not used.
 *
 * A device known to be behind a NAT (its ConnectionRequestURL host differs from the public address
 * its STUN binding comes from) still gets its HTTP attempt (a NAT with a port forward, or an ACS
 * inside the same private network, can reach it), but with a short time limit
 * (`behindNatHttpTimeoutMs`): a SYN to a private address across the Internet is usually dropped,
 * not refused, and would otherwise cost the full HTTP timeout.
 *
 * ## Adding XMPP (TR-069 Annex K) later
 * Write a `ConnectionRequestTransport` named `xmpp` whose `applies(target)` is true when the device
 * reported `ManagementServer.ConnReqJabberID` (add `jabberId: string | null` to
 * `ConnectionRequestTarget`) and the ACS holds an XMPP session with its server; `send` sends the
 * `<iq type="get"><connectionRequest xmlns="urn:broadband-forum-org:cwmp:xmppConnReq-1-0">` stanza
 * with username/password and maps the CPE's `iq result` to `ok`, `iq error` `not-authorized` to
 * `auth-failed`, `service-unavailable` to `busy`, no answer to `unreachable`. XMPP is acknowledged,
 * so it needs no confirmation: append it to `transports` after `udp` (or before it, to prefer it)
 * and give it an entry in `timeoutsMs`. Nothing else here changes.
 */
import type { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { AcsEventMap } from '../app.ts';
import type { ConnectionRequestResult, ConnectionRequestStatus, ConnectionRequestTarget, ConnectionRequestTransport } from '../connection-request.ts';
import type { Device } from '../../store/types.ts';

/** The transports we know by name. */
export type ConnectionRequestPath = 'http' | 'udp' | 'xmpp';
const KNOWN_PATHS: readonly ConnectionRequestPath[] = ['http', 'udp', 'xmpp'];

/** One transport's try. */
export interface ConnectionRequestAttempt {
  transport: string;
  status: ConnectionRequestStatus;
  detail: string;
  httpStatus?: number;
  elapsedMs: number;
  /** For an unacknowledged transport with a session watcher: whether the session started in time. */
  confirmed?: boolean;
}

/** The requester's answer: the deciding result plus the path and every attempt. */
export interface PathConnectionRequestResult extends ConnectionRequestResult {
  /** The transport whose request reached (or, for UDP, was sent to) the device; null when none did. */
  path: ConnectionRequestPath | null;
  /** In order. */
  attempts: ConnectionRequestAttempt[];
  /** A session start was seen after the request (null: not checked, e.g. HTTP answered 200/204). */
  confirmed: boolean | null;
  elapsedMs: number;
}

/** Waits for a device's next session start. `cancel` releases the listener. */
export interface SessionWatch {
  /** Resolves true when a session of the device starts within the time given, else false. */
  started: Promise<boolean>;
  cancel(): void;
}

/** Starts watching for the device's next session (call BEFORE sending, to avoid a race). */
export type SessionWatcher = (deviceId: string, timeoutMs: number) => SessionWatch;

/** What we know about the device's NAT. */
export type NatStatus = 'behind-nat' | 'direct' | 'unknown';

export interface RequesterLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface PathRequesterOptions {
  /** In order of preference, e.g. [http, udp]. */
  transports: readonly ConnectionRequestTransport[];
  /** Time limit per transport name (ms). Defaults: http 10 s, udp 2 s, others 10 s. */
  timeoutsMs?: Readonly<Record<string, number>>;
  /** HTTP time limit for a device known to be behind a NAT. Default 2 s. */
  behindNatHttpTimeoutMs?: number;
  /** NAT knowledge (typically from the STUN binding table). Default: always `unknown`. */
  natStatus?: (target: ConnectionRequestTarget) => NatStatus;
  /** Session watcher for unacknowledged transports. Without it, UDP results are not confirmed. */
  watchSession?: SessionWatcher;
  /** How long to wait for the session after an unacknowledged request. Default 3 s. */
  confirmMs?: number;
  /** Transport names without acknowledgement. Default ['udp']. */
  unacknowledged?: readonly string[];
  logger?: RequesterLogger;
  /** Clock (ms). */
  now?: () => number;
}

const DEFAULT_TIMEOUTS_MS: Readonly<Record<string, number>> = { http: 10_000, udp: 2_000 };
const FALLBACK_TIMEOUT_MS = 10_000;
const DEFAULT_BEHIND_NAT_HTTP_MS = 2_000;
const DEFAULT_CONFIRM_MS = 3_000;
/** Results after which another transport may still help. */
const TRY_NEXT: ReadonlySet<ConnectionRequestStatus> = new Set(['unreachable', 'no-address', 'error']);

/**
 * Chooses the path of each connection request. Stateless apart from its options: safe to share.
 */
export class PathChoosingConnectionRequester {
  private readonly opts: PathRequesterOptions;

  constructor(opts: PathRequesterOptions) {
    this.opts = opts;
  }

  /** The transports, in order (read-only view, e.g. for a status page). */
  get transports(): readonly ConnectionRequestTransport[] {
    return this.opts.transports;
  }

  /**
   * Asks the device to open a session, trying the transports in order.
   * @returns the deciding result with `path`, `attempts` and `confirmed`; `no-address` when no
   *   transport applies. Never rejects (a throwing transport becomes an `error` attempt).
   */
  async request(target: ConnectionRequestTarget, signal?: AbortSignal): Promise<PathConnectionRequestResult> {
    const now = this.opts.now ?? Date.now;
    const t0 = now();
    const attempts: ConnectionRequestAttempt[] = [];
    const nat = this.opts.natStatus?.(target) ?? 'unknown';
    let decided: { result: ConnectionRequestResult; confirmed: boolean | null } | null = null;
    // An unconfirmed UDP request is kept in case nothing after it does better.
    let fallback: { result: ConnectionRequestResult; confirmed: boolean } | null = null;

    for (const transport of this.opts.transports) {
      if (signal?.aborted) break;
      if (!safeApplies(transport, target)) {
        attempts.push({ transport: transport.name, status: 'no-address', detail: 'not applicable to this device', elapsedMs: 0 });
        continue;
      }
      const limit = this.timeoutFor(transport.name, nat);
      const unacknowledged = (this.opts.unacknowledged ?? ['udp']).includes(transport.name);
      const watch = unacknowledged && this.opts.watchSession ? this.opts.watchSession(target.deviceId, this.opts.confirmMs ?? DEFAULT_CONFIRM_MS) : null;
      const a0 = now();
      const result = await sendWithLimit(transport, target, limit, signal);
      const attempt: ConnectionRequestAttempt = {
        transport: transport.name,
        status: result.status,
        detail: result.detail,
        ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
        elapsedMs: now() - a0,
      };
      attempts.push(attempt);
      if (result.status !== 'ok') watch?.cancel();
      if (result.status === 'ok') {
        if (watch === null) {
          decided = { result, confirmed: null };
          break;
        }
        const confirmed = await watch.started;
        attempt.confirmed = confirmed;
        attempt.elapsedMs = now() - a0;
        if (confirmed) {
          decided = { result, confirmed: true };
          break;
        }
        fallback ??= { result, confirmed: false };
        continue;
      }
      this.opts.logger?.info({ deviceId: target.deviceId, transport: transport.name, status: result.status, detail: result.detail }, 'connection request attempt failed');
      if (!TRY_NEXT.has(result.status)) {
        decided = { result, confirmed: null };
        break;
      }
    }

    decided ??= fallback;
    const elapsedMs = now() - t0;
    if (decided === null) {
      const last = [...attempts].reverse().find((a) => a.status !== 'no-address') ?? attempts.at(-1);
      const status: ConnectionRequestStatus = signal?.aborted ? 'error' : (last?.status ?? 'no-address');
      return {
        status,
        transport: last?.transport ?? 'none',
        detail: signal?.aborted ? 'aborted' : summarise(attempts),
        path: null,
        attempts,
        confirmed: null,
        elapsedMs,
      };
    }
    const { result, confirmed } = decided;
    const path = result.status === 'ok' ? asPath(result.transport) : null;
    const out: PathConnectionRequestResult = { ...result, path, attempts, confirmed, elapsedMs };
    if (confirmed === false) out.detail = `${result.detail}; no session seen within ${this.opts.confirmMs ?? DEFAULT_CONFIRM_MS} ms`;
    this.opts.logger?.info({ deviceId: target.deviceId, path, status: out.status, confirmed, elapsedMs }, 'connection request');
    return out;
  }

  private timeoutFor(name: string, nat: NatStatus): number {
    if (name === 'http' && nat === 'behind-nat') return this.opts.behindNatHttpTimeoutMs ?? DEFAULT_BEHIND_NAT_HTTP_MS;
    return this.opts.timeoutsMs?.[name] ?? DEFAULT_TIMEOUTS_MS[name] ?? FALLBACK_TIMEOUT_MS;
  }
}

function safeApplies(t: ConnectionRequestTransport, target: ConnectionRequestTarget): boolean {
  try {
    return t.applies(target);
  } catch {
    return false;
  }
}

/** Runs one transport with a time limit; a transport that ignores the abort signal is raced. */
async function sendWithLimit(t: ConnectionRequestTransport, target: ConnectionRequestTarget, limitMs: number, outer?: AbortSignal): Promise<ConnectionRequestResult> {
  const controller = new AbortController();
  const onOuter = (): void => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuter, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<ConnectionRequestResult>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new Error('timeout'));
      resolve({ status: 'unreachable', transport: t.name, detail: `no answer within ${limitMs} ms` });
    }, limitMs);
  });
  try {
    const sent = t.send(target, controller.signal).catch(
      (err: unknown): ConnectionRequestResult => ({ status: 'error', transport: t.name, detail: `transport failed: ${err instanceof Error ? err.message : String(err)}` }),
    );
    return await Promise.race([sent, timedOut]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuter);
  }
}

function asPath(name: string): ConnectionRequestPath | null {
  return (KNOWN_PATHS as readonly string[]).includes(name) ? (name as ConnectionRequestPath) : null;
}

function summarise(attempts: readonly ConnectionRequestAttempt[]): string {
  if (attempts.length === 0) return 'no connection request transport configured';
  return attempts.map((a) => `${a.transport}: ${a.status} (${a.detail})`).join('; ');
}

// ---------------------------------------------------------------------------------------------
// Helpers for wiring
// ---------------------------------------------------------------------------------------------

/**
 * The connection request target of a stored device (its reported addresses and CR credentials).
 * @returns a target; passwords are secrets, never log it.
 */
export function targetFromDevice(device: Device): ConnectionRequestTarget {
  return {
    deviceId: device.id,
    connectionRequestUrl: device.connectionRequestUrl,
    udpConnectionRequestAddress: device.udpConnectionRequestAddress,
    username: device.credentials.connectionRequestUsername,
    password: device.credentials.connectionRequestPassword,
  };
}

/**
 * A session watcher on the ACS's `events` (`session` notices with phase `started`).
 * @returns a `SessionWatcher` for `PathRequesterOptions.watchSession`.
 */
export function sessionWatcherFromEvents(events: EventEmitter<AcsEventMap>): SessionWatcher {
  return (deviceId, timeoutMs) => {
    let done: (v: boolean) => void = () => undefined;
    const started = new Promise<boolean>((resolve) => {
      done = resolve;
    });
    const onSession = (notice: AcsEventMap['session'][0]): void => {
      if (notice.deviceId === deviceId && notice.phase === 'started') finish(true);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (v: boolean): void => {
      clearTimeout(timer);
      events.off('session', onSession);
      done(v);
    };
    events.on('session', onSession);
    return { started, cancel: () => finish(false) };
  };
}

/**
 * NAT status from the ConnectionRequestURL and the public address the device's STUN binding comes
 * from: `behind-nat` when the URL's host is not that public address, `direct` when it is, else
 * `unknown` (no binding, or no URL).
 */
export function natStatusFromBinding(connectionRequestUrl: string | null, publicAddress: string | undefined): NatStatus {
  if (!connectionRequestUrl || publicAddress === undefined) return 'unknown';
  let host: string;
  try {
    host = new URL(connectionRequestUrl).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return 'unknown';
  }
  if (isIP(host) === 0) return 'unknown';
  return host === publicAddress ? 'direct' : 'behind-nat';
}
