/**
 * The UDP Connection Request transport of the ACS (TR-111 Part 2 = TR-069 Annex G).
 *
 * A CPE behind a NAT cannot be reached by the HTTP GET of TR-069 §3.2.2: its ConnectionRequestURL
 * holds a private address. It keeps a NAT binding open towards our STUN server instead, and we wake
 * it with one signed datagram (an HTTP/1.1 GET text: ts, id, un, cn, sig = HMAC-SHA1) sent to the
 * public side of that binding. The datagram must leave FROM the STUN server's own address and port:
 * many NATs (address- and port-dependent filtering) only let in packets from the peer the binding
 * was made towards. Hence the sender is the STUN server's socket (`DatagramSender`).
 *
 * UDP has no acknowledgement and the CPE never answers, so the same datagram (same id, ts, cn, sig)
 * is sent several times; the CPE accepts the first and ignores the copies as replays (same id).
 * A result of `ok` therefore means "sent", not "the CPE woke up": the path-choosing requester
 * (requester.ts) can confirm it by waiting for the session.
 */
import { randomInt } from 'node:crypto';
import {
  buildUdpConnectionRequest,
  parseHostPort,
  randomCnonce,
} from '../../cwmp/udp-connection-request.ts';
import type { ConnectionRequestResult, ConnectionRequestTarget, ConnectionRequestTransport } from '../connection-request.ts';

/** Something that sends a datagram from the STUN server's socket (`StunServer` is one). */
export interface DatagramSender {
  /**
   * Sends one datagram. `via` names the ACS instance whose STUN socket holds the device's binding
   * (several instances, see cluster-relay.ts); a plain sender ignores it.
   * @returns nothing, or a note on how it was sent (e.g. relayed), added to the result's detail.
   * @throws (rejects) on a send error (e.g. EHOSTUNREACH, socket closed).
   */
  send(data: Uint8Array | string, port: number, address: string, via?: string): Promise<string | void>;
}

/** A CPE's NAT binding as the STUN server saw it. */
export interface NatBindingView {
  /** Public (mapped) address and port of the CPE's UDP Connection Request socket. */
  address: string;
  port: number;
  /** Last Binding Request from this binding, ms since epoch. */
  refreshedAt: number;
  /** The ACS instance whose STUN socket received it (several instances); absent = this one. */
  holder?: string;
}

/** Finds the binding of a device (by device id); undefined when the STUN server never saw it. */
export interface NatBindingLookup {
  binding(deviceId: string): NatBindingView | undefined;
}

/** Where a UDP Connection Request went, and why that address. */
export type UdpDestinationSource =
  /** The binding the STUN server recorded (fresh enough): the most up-to-date public address. */
  | 'stun-binding'
  /** ManagementServer.UDPConnectionRequestAddress as the CPE last reported it. */
  | 'reported-address';

/** The UDP result adds where the datagrams went. */
export interface UdpConnectionRequestResult extends ConnectionRequestResult {
  transport: 'udp';
  /** `host:port` the datagrams were sent to (absent when nothing was sent). */
  destination?: string;
  destinationSource?: UdpDestinationSource;
  /** The message id shared by the copies. */
  messageId?: number;
  /** Copies scheduled in total (the first one is sent before the result is returned). */
  copies?: number;
}

export interface UdpTransportOptions {
  /** Sends from the STUN server's socket. */
  sender: DatagramSender;
  /** STUN bindings by device id (preferred over the reported address while fresh). */
  bindings?: NatBindingLookup;
  /** Datagrams per request, all identical. Default 3 (as GenieACS and most ACSs do). */
  copies?: number;
  /** Gap between copies. Default 100 ms: spread enough to survive a burst loss, short enough to matter. */
  retransmitIntervalMs?: number;
  /**
   * A STUN binding not refreshed for this long is not preferred over the reported address (the CPE
   * stopped its keep-alives; the NAT has likely dropped the mapping). Default 10 minutes.
   */
  maxBindingAgeMs?: number;
  /** Clock, ms since epoch. */
  now?: () => number;
  /** Message ids (uint32); default random. */
  nextId?: () => number;
  /** cnonce values; default 16 random hex digits. */
  cnonce?: () => string;
}

const DEFAULT_COPIES = 3;
const DEFAULT_RETRANSMIT_MS = 100;
const DEFAULT_MAX_BINDING_AGE_MS = 10 * 60 * 1000;
const MS_PER_S = 1000;
const UINT32_RANGE = 0x1_0000_0000;
/** Send errors that mean "no route to that CPE" rather than a local fault. */
const UNREACHABLE_ERRNOS = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'ECONNREFUSED', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Sends signed UDP Connection Requests. Implements the core's `ConnectionRequestTransport` under
 * the name `udp`; register it after the HTTP transport.
 */
export class UdpConnectionRequestTransport implements ConnectionRequestTransport {
  readonly name = 'udp';
  private readonly opts: UdpTransportOptions;
  /** Timers of copies still to be sent (cancelled by `close`). */
  private readonly pending = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(opts: UdpTransportOptions) {
    this.opts = opts;
  }

  /** True when the device has a fresh STUN binding or a reported UDPConnectionRequestAddress. */
  applies(target: ConnectionRequestTarget): boolean {
    return this.destination(target) !== null;
  }

  /**
   * Sends the first copy now and schedules the others.
   * @returns `ok` once the first copy left the socket; `no-address` without a usable address;
   *   `auth-failed` without ConnectionRequestUsername/Password (nothing to sign with);
   *   `unreachable` for routing errors; `error` for other send errors or after `close()`.
   *   Never rejects.
   */
  async send(target: ConnectionRequestTarget, signal?: AbortSignal): Promise<UdpConnectionRequestResult> {
    const dest = this.destination(target);
    if (dest === null) return { status: 'no-address', transport: 'udp', detail: 'no STUN binding and no UDPConnectionRequestAddress' };
    if (target.username === null || target.password === null) {
      return { status: 'auth-failed', transport: 'udp', detail: 'no connection request credentials to sign with' };
    }
    if (this.closed) return { status: 'error', transport: 'udp', detail: 'UDP connection request transport is closed' };
    if (signal?.aborted) return { status: 'error', transport: 'udp', detail: 'aborted before sending' };
    const now = (this.opts.now ?? Date.now)();
    const id = (this.opts.nextId ?? randomMessageId)();
    const text = buildUdpConnectionRequest({
      host: dest.host,
      port: dest.port,
      ts: Math.floor(now / MS_PER_S),
      id,
      username: target.username,
      cnonce: (this.opts.cnonce ?? randomCnonce)(),
      password: target.password,
    });
    const data = Buffer.from(text, 'latin1');
    const destination = formatHostPort(dest.host, dest.port);
    const copies = Math.max(1, this.opts.copies ?? DEFAULT_COPIES);
    const base = { transport: 'udp' as const, destination, destinationSource: dest.source, messageId: id, copies };
    let note: string | void;
    try {
      note = await this.opts.sender.send(data, dest.port, dest.host, dest.holder);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const status = UNREACHABLE_ERRNOS.has(code) ? 'unreachable' : 'error';
      return { ...base, status, copies: 0, detail: `send to ${destination} failed: ${code || (err as Error).message}` };
    }
    this.scheduleCopies(data, dest, copies - 1, signal);
    const how = note ? `, ${note}` : '';
    return { ...base, status: 'ok', detail: `sent to ${destination} (${dest.source}${how}), ${copies} copies of message ${id}; UDP is not acknowledged` };
  }

  /** Cancels copies not yet sent. Later `send` calls answer `error`. Idempotent. */
  close(): void {
    this.closed = true;
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }

  // -------------------------------------------------------------------------------------------

  private destination(target: ConnectionRequestTarget): { host: string; port: number; source: UdpDestinationSource; holder?: string } | null {
    const b = this.opts.bindings?.binding(target.deviceId);
    const now = (this.opts.now ?? Date.now)();
    if (b !== undefined && now - b.refreshedAt <= (this.opts.maxBindingAgeMs ?? DEFAULT_MAX_BINDING_AGE_MS)) {
      return { host: b.address, port: b.port, source: 'stun-binding', ...(b.holder !== undefined ? { holder: b.holder } : {}) };
    }
    const reported = target.udpConnectionRequestAddress ? parseHostPort(target.udpConnectionRequestAddress) : null;
    if (reported !== null) return { ...reported, source: 'reported-address' };
    return null;
  }

  private scheduleCopies(data: Buffer, dest: { host: string; port: number; holder?: string }, remaining: number, signal?: AbortSignal): void {
    if (remaining <= 0 || this.closed || signal?.aborted) return;
    const t = setTimeout(() => {
      this.pending.delete(t);
      if (this.closed || signal?.aborted) return;
      // A lost copy is exactly what the next one is for: errors are not reported.
      this.opts.sender.send(data, dest.port, dest.host, dest.holder).catch(() => undefined);
      this.scheduleCopies(data, dest, remaining - 1, signal);
    }, this.opts.retransmitIntervalMs ?? DEFAULT_RETRANSMIT_MS);
    // Copies must not keep a stopping process alive.
    t.unref();
    this.pending.add(t);
  }
}

/** A random uint32 message id (ids only need to differ between consecutive requests). */
export function randomMessageId(): number {
  return randomInt(0, UINT32_RANGE);
}

/** `host:port`, IPv6 in brackets. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
