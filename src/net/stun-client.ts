/**
 * CPE-side STUN client for TR-111 Part 2 (TR-069 Annex G).
 *
 * The client owns (or borrows) the ONE UDP socket on which the CPE listens for UDP Connection
 * Requests: Binding Requests must leave from that socket so that the NAT binding they create is the
 * one the ACS will send Connection Requests to. Incoming datagrams are demultiplexed: STUN responses
 * to our transactions are consumed here, everything that is not STUN goes to `onDatagram` (the CPE
 * agent parses those as UDP Connection Requests).
 *
 * Behaviour (TR-069 Annex G / TR-098/TR-181 ManagementServer.STUN* parameters):
 * - Binding Requests carry CONNECTION-REQUEST-BINDING, USERNAME when STUNUsername is set, and
 *   MESSAGE-INTEGRITY (keyed with STUNPassword) after the server answered 401 (or always, if asked).
 * - RFC 3489 retransmission: 100 ms doubling to 1.6 s, 9 requests, then give up (configurable).
 * - Keep-alive: one transaction per period, the period clamped to [min, max] keep-alive.
 * - When the mapped address changes, an immediate Binding Request with BINDING-CHANGE is sent (not
 *   subject to the minimum period), repeated in each request until one is answered.
 * - Each answer is reported through `onMapping` with NATDetected (mapped != local address:port).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  STUN_DEFAULT_PORT,
  buildBindingRequest,
  decodeStunMessage,
  encodeStunMessage,
  findAttribute,
  isStunDecodeError,
  looksLikeStun,
  mappedAddress,
  verifyMessageIntegrity,
  type StunFlavour,
  type StunMessage,
  type TransportAddress,
} from '../cwmp/stun.ts';

/** One answered Binding Request, as reported to `onMapping`. */
export interface StunMapping {
  /** The public (mapped) address and port: UDPConnectionRequestAddress = `${address}:${port}`. */
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  /** The socket's own address and port as far as we can tell. */
  localAddress: string;
  localPort: number;
  /** NATDetected: the mapped address:port differs from the local one. */
  natDetected: boolean;
  /** The mapping differs from the previous answer (undefined `previous` = first answer). */
  changed: boolean;
  previous?: { address: string; port: number };
  /** When the answer arrived (ms since epoch). */
  at: number;
}

export type StunClientErrorCode = 'timeout' | 'unauthorized' | 'error-response' | 'no-mapped-address' | 'socket-error';

export interface StunClientError {
  code: StunClientErrorCode;
  message: string;
  /** STUN error code for 'error-response' / 'unauthorized'. */
  stunCode?: number;
}

export interface RetransmitOptions {
  /** First retransmission timeout. RFC 3489: 100 ms. */
  initialRtoMs: number;
  /** The timeout stops doubling at this value. RFC 3489: 1600 ms. */
  maxRtoMs: number;
  /** Requests sent in total (first + retransmissions). RFC 3489: 9. */
  maxRequests: number;
  /** Wait after the last request before giving up. RFC 3489: 1600 ms. */
  finalWaitMs: number;
}

export const RFC3489_RETRANSMIT: RetransmitOptions = { initialRtoMs: 100, maxRtoMs: 1600, maxRequests: 9, finalWaitMs: 1600 };

export interface StunClientOptions {
  /** STUNServerAddress (host name or IP) and STUNServerPort (default 3478). */
  server: { host: string; port?: number };
  /** STUNUsername; empty or undefined = no USERNAME. */
  username?: string;
  /** STUNPassword; used for MESSAGE-INTEGRITY. */
  password?: string;
  /** 'on-401' (default): add MESSAGE-INTEGRITY once the server asked for it; 'always'. */
  integrity?: 'on-401' | 'always';
  /** Default 'rfc3489' (TR-111). */
  flavour?: StunFlavour;
  /** An already bound socket to share (the caller must not add its own 'message' listener: use onDatagram). */
  socket?: Socket;
  /** When no socket is given: bind here. Default port 0 (ephemeral), host 0.0.0.0. */
  bind?: { port?: number; host?: string; type?: 'udp4' | 'udp6' };
  /** The CPE's own IP for NATDetected; default: the bound address, or the route towards the server. */
  localAddress?: string;
  /** STUNMinimumKeepAlivePeriod in ms (0 = none). */
  minKeepAliveMs?: number;
  /** STUNMaximumKeepAlivePeriod in ms (undefined or negative = no maximum). */
  maxKeepAliveMs?: number;
  /** Preferred keep-alive period before clamping to [min, max]; default 30 s (typical NAT UDP timeouts are >= 30 s). */
  keepAliveMs?: number;
  retransmit?: RetransmitOptions;
  onMapping?: (m: StunMapping) => void;
  onError?: (e: StunClientError) => void;
  /** Non-STUN datagrams received on the socket (UDP Connection Requests). */
  onDatagram?: (msg: Buffer, rinfo: RemoteInfo) => void;
  /** Clock, ms since epoch. */
  now?: () => number;
}

const DEFAULT_KEEPALIVE_MS = 30_000;
const UNAUTHORIZED = 401;

type TransactionResult = { ok: true; mapping: StunMapping } | { ok: false; error: StunClientError };

interface Pending {
  tid: Buffer;
  /** Settles the transaction: the response, or null when abandoned (timeout, stop). */
  resolve: (r: { response: StunMessage; raw: Buffer } | null) => void;
}

/**
 * A STUN client bound to the CPE's UDP Connection Request socket.
 * `start()` binds (if needed) and begins the keep-alive loop; `stop()` ends it.
 */
export class StunClient {
  private sock: Socket | null = null;
  private ownsSocket = false;
  private pending: Pending | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private inFlight: Promise<TransactionResult> | null = null;
  private useIntegrity: boolean;
  private pendingBindingChange = false;
  private current: StunMapping | undefined;
  private readonly onSocketMessage = (msg: Buffer, rinfo: RemoteInfo): void => this.demux(msg, rinfo);
  private readonly onSocketError = (err: Error): void => this.fail({ code: 'socket-error', message: err.message });

  constructor(private readonly opts: StunClientOptions) {
    this.useIntegrity = opts.integrity === 'always' && opts.password !== undefined;
  }

  /** The shared socket (available after start()). */
  get socket(): Socket {
    if (this.sock === null) throw new Error('StunClient not started');
    return this.sock;
  }

  /** The last reported mapping. */
  get mapping(): StunMapping | undefined {
    return this.current;
  }

  /** The keep-alive period in use: `keepAliveMs` clamped to [min, max]. */
  get keepAlivePeriodMs(): number {
    const min = Math.max(0, this.opts.minKeepAliveMs ?? 0);
    const max = this.opts.maxKeepAliveMs !== undefined && this.opts.maxKeepAliveMs >= 0 ? this.opts.maxKeepAliveMs : Infinity;
    const wanted = this.opts.keepAliveMs ?? DEFAULT_KEEPALIVE_MS;
    // "at least every max" wins over "no more often than min" if they are inconsistent.
    return Math.min(Math.max(wanted, min), max);
  }

  /**
   * Binds the socket (unless one was given), attaches the demultiplexer and, with `keepAlive`
   * (default true), starts the keep-alive loop with an immediate first Binding Request.
   * @returns the local address and port of the socket.
   * @throws (rejects) on bind errors.
   */
  async start(opts: { keepAlive?: boolean } = {}): Promise<{ address: string; port: number }> {
    if (this.sock === null) {
      if (this.opts.socket) {
        this.sock = this.opts.socket;
      } else {
        const host = this.opts.bind?.host ?? (this.opts.bind?.type === 'udp6' ? '::' : '0.0.0.0');
        const type = this.opts.bind?.type ?? (isIPv6(host) ? 'udp6' : 'udp4');
        const s = createSocket({ type });
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(this.opts.bind?.port ?? 0, host, () => {
            s.off('error', reject);
            resolve();
          });
        });
        this.sock = s;
        this.ownsSocket = true;
      }
      this.sock.on('message', this.onSocketMessage);
      this.sock.on('error', this.onSocketError);
    }
    this.running = opts.keepAlive ?? true;
    if (this.running) this.schedule(0);
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  /** Stops the keep-alive loop; closes the socket only if the client created it. Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const s = this.sock;
    this.sock = null;
    if (s === null) return;
    s.off('message', this.onSocketMessage);
    s.off('error', this.onSocketError);
    const p = this.pending;
    this.pending = null;
    p?.resolve(null);
    if (this.ownsSocket) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /**
   * Runs one Binding Request transaction now (with retransmissions), outside the keep-alive schedule.
   * Concurrent calls share the transaction in flight.
   * @returns the mapping or a typed error; never rejects.
   */
  bindingRequest(): Promise<TransactionResult> {
    if (this.inFlight) return this.inFlight;
    const p = this.transaction().finally(() => {
      this.inFlight = null;
    });
    this.inFlight = p;
    return p;
  }

  // -------------------------------------------------------------------------------------------

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const result = await this.bindingRequest();
    if (!this.running) return;
    // A changed binding is announced at once (TR-111: exempt from the minimum period).
    if (result.ok && result.mapping.changed && this.pendingBindingChange) {
      this.schedule(0);
      return;
    }
    this.schedule(this.keepAlivePeriodMs);
  }

  private fail(error: StunClientError): void {
    try {
      this.opts.onError?.(error);
    } catch {
      // A throwing callback must not break the loop.
    }
  }

  private demux(msg: Buffer, rinfo: RemoteInfo): void {
    if (!looksLikeStun(msg)) {
      try {
        this.opts.onDatagram?.(msg, rinfo);
      } catch {
        // The agent's handler is its own business; keep the socket alive.
      }
      return;
    }
    const p = this.pending;
    if (p === null) return;
    const decoded = decodeStunMessage(msg);
    if (isStunDecodeError(decoded) || decoded.class === 'request' || decoded.class === 'indication') return;
    if (!decoded.transactionId.equals(p.tid)) return;
    // A response that carries MESSAGE-INTEGRITY must verify with our password, or it is forged.
    if (findAttribute(decoded, 'MESSAGE-INTEGRITY') && this.opts.password !== undefined && !verifyMessageIntegrity(msg, this.opts.password)) return;
    this.pending = null;
    p.resolve({ response: decoded, raw: msg });
  }

  /** Sends one request with retransmissions; resolves with the response or null on timeout. */
  private exchange(bytes: Buffer, tid: Buffer): Promise<{ response: StunMessage; raw: Buffer } | null> {
    const r = this.opts.retransmit ?? RFC3489_RETRANSMIT;
    const sock = this.sock;
    if (sock === null) return Promise.resolve(null);
    const port = this.opts.server.port ?? STUN_DEFAULT_PORT;
    return new Promise((resolve) => {
      let sent = 0;
      let rto = r.initialRtoMs;
      let timer: NodeJS.Timeout | null = null;
      const finish = (v: { response: StunMessage; raw: Buffer } | null): void => {
        if (timer) clearTimeout(timer);
        if (this.pending?.tid === tid) this.pending = null;
        resolve(v);
      };
      this.pending = { tid, resolve: finish };
      const send = (): void => {
        if (this.sock !== sock || this.pending?.tid !== tid) return finish(null);
        sent++;
        sock.send(bytes, port, this.opts.server.host, (err) => {
          if (err) this.fail({ code: 'socket-error', message: err.message });
        });
        if (sent >= r.maxRequests) {
          timer = setTimeout(() => finish(null), r.finalWaitMs);
        } else {
          timer = setTimeout(send, rto);
          rto = Math.min(rto * 2, r.maxRtoMs);
        }
      };
      send();
    });
  }

  private async transaction(): Promise<TransactionResult> {
    const flavour = this.opts.flavour ?? 'rfc3489';
    const username = this.opts.username ? this.opts.username : undefined;
    // At most two rounds: a 401 switches MESSAGE-INTEGRITY on and retries once.
    for (let round = 0; round < 2; round++) {
      const withIntegrity = this.useIntegrity && this.opts.password !== undefined;
      const bindingChange = this.pendingBindingChange;
      const req = buildBindingRequest({ flavour, username, connectionRequestBinding: true, bindingChange });
      const bytes = encodeStunMessage(req, { integrityKey: withIntegrity ? this.opts.password : undefined });
      const answer = await this.exchange(bytes, req.transactionId);
      if (answer === null) {
        const error: StunClientError = { code: 'timeout', message: `no answer from ${this.opts.server.host}` };
        if (this.sock !== null) this.fail(error);
        return { ok: false, error };
      }
      const { response } = answer;
      if (response.class === 'error') {
        const ec = findAttribute(response, 'ERROR-CODE');
        const code = ec?.code ?? 0;
        if (code === UNAUTHORIZED && !withIntegrity && this.opts.password !== undefined) {
          this.useIntegrity = true;
          continue;
        }
        const error: StunClientError = {
          code: code === UNAUTHORIZED || (code >= 430 && code <= 432) ? 'unauthorized' : 'error-response',
          message: `STUN error ${code} ${ec?.reason ?? ''}`.trim(),
          stunCode: code,
        };
        this.fail(error);
        return { ok: false, error };
      }
      const mapped = mappedAddress(response);
      if (mapped === undefined) {
        const error: StunClientError = { code: 'no-mapped-address', message: 'Binding Response without a mapped address' };
        this.fail(error);
        return { ok: false, error };
      }
      if (bindingChange) this.pendingBindingChange = false;
      const mapping = await this.toMapping(mapped);
      if (mapping.changed) this.pendingBindingChange = true;
      this.current = mapping;
      try {
        this.opts.onMapping?.(mapping);
      } catch {
        // Callback errors are the caller's; the client keeps running.
      }
      return { ok: true, mapping };
    }
    const error: StunClientError = { code: 'unauthorized', message: 'STUN server refused our credentials', stunCode: UNAUTHORIZED };
    this.fail(error);
    return { ok: false, error };
  }

  private async toMapping(mapped: TransportAddress): Promise<StunMapping> {
    const local = await this.localEndpoint();
    const prev = this.current;
    const changed = prev !== undefined && (prev.address !== mapped.address || prev.port !== mapped.port);
    return {
      address: mapped.address,
      port: mapped.port,
      family: mapped.family,
      localAddress: local.address,
      localPort: local.port,
      natDetected: local.address !== mapped.address || local.port !== mapped.port,
      changed,
      previous: prev ? { address: prev.address, port: prev.port } : undefined,
      at: (this.opts.now ?? Date.now)(),
    };
  }

  /** Our address as the server should see it without a NAT. */
  private async localEndpoint(): Promise<{ address: string; port: number }> {
    const a = this.sock?.address() ?? { address: '0.0.0.0', port: 0, family: 'IPv4' };
    if (this.opts.localAddress) return { address: this.opts.localAddress, port: a.port };
    if (a.address !== '0.0.0.0' && a.address !== '::') return { address: a.address, port: a.port };
    return { address: await routeSourceAddress(this.opts.server.host, this.opts.server.port ?? STUN_DEFAULT_PORT, a.family === 'IPv6' ? 'udp6' : 'udp4'), port: a.port };
  }
}

/**
 * The local IP the kernel would use to reach host:port: connect a throw-away UDP socket (UDP connect
 * sends nothing) and read its address. Falls back to the wildcard address on any error.
 */
function routeSourceAddress(host: string, port: number, type: 'udp4' | 'udp6'): Promise<string> {
  const fallback = type === 'udp6' ? '::' : '0.0.0.0';
  return new Promise((resolve) => {
    const s = createSocket(type);
    const done = (addr: string): void => {
      s.close();
      resolve(addr);
    };
    s.once('error', () => done(fallback));
    s.connect(port, host, () => {
      try {
        done(s.address().address);
      } catch {
        done(fallback);
      }
    });
  });
}
