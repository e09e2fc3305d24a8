/**
 * ACS-side STUN server for TR-111 Part 2 (TR-069 Annex G).
 *
 * Answers Binding Requests in both framings (RFC 3489 classic, which TR-111 CPEs use, and RFC 5389),
 * records per USERNAME the public address:port the request came from, and lets the ACS send UDP
 * Connection Requests from this very socket (`send`), so that they leave from the address/port the
 * CPE's NAT has seen traffic with (NAT-friendly: the binding was created towards this address).
 *
 * Authentication: when `credentials(username)` yields a password, MESSAGE-INTEGRITY is checked
 * (both the RFC 3489 and RFC 5389 computations are accepted on classic messages); with
 * `requireIntegrity` a request without it gets 401, which makes TR-111 CPEs retry with it.
 * A request whose integrity fails is answered with an error and never recorded.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  STUN_DEFAULT_PORT,
  StunMethod,
  buildBindingResponse,
  buildErrorResponse,
  decodeStunMessage,
  encodeStunMessage,
  findAttribute,
  isStunDecodeError,
  looksLikeStun,
  messageIntegrityFlavour,
  unknownRequiredAttributes,
  StunAttributeCode,
  type StunFlavour,
  type StunMessage,
  type TransportAddress,
} from '../cwmp/stun.ts';

/** What the server knows about one CPE's public UDP endpoint. */
export interface StunBinding {
  username: string;
  /** Public (NAT-mapped) source of the Binding Request. */
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
  /** The request carried BINDING-CHANGE (the CPE says its binding changed). */
  changed: boolean;
  /** The address:port differs from the one previously recorded for this username. */
  addressChanged: boolean;
  /** The request carried CONNECTION-REQUEST-BINDING (a TR-111 binding, not a plain STUN query). */
  connectionRequestBinding: boolean;
  /** MESSAGE-INTEGRITY was present and verified. */
  integrity: boolean;
  flavour: StunFlavour;
  /** When the request arrived (ms since epoch). */
  at: number;
}

export interface StunServerOptions {
  /** Default 3478; 0 for an ephemeral port (tests). */
  port?: number;
  /** Default '0.0.0.0' (or '::' when type is udp6). */
  host?: string;
  /** Default: udp6 when host is an IPv6 address, else udp4. */
  type?: 'udp4' | 'udp6';
  /** Password for a STUN username (STUNPassword of that CPE), or undefined when unknown. */
  credentials?: (username: string) => string | undefined;
  /** Refuse (401) requests without valid MESSAGE-INTEGRITY. Default false. */
  requireIntegrity?: boolean;
  /** Called for every accepted Binding Request that carried a USERNAME. Exceptions are caught. */
  onBinding?: (binding: StunBinding) => void;
  /** Socket errors and exceptions thrown by callbacks; default: ignored. */
  onError?: (err: Error) => void;
  /** Datagrams that are not STUN requests (never answered). */
  onDatagram?: (msg: Buffer, rinfo: RemoteInfo) => void;
  /** SOFTWARE attribute in responses; default 'Switchboard'. Empty string = none. */
  software?: string;
  /** Most bindings kept in memory (oldest refreshed dropped first). Default 100000. */
  maxBindings?: number;
  /**
   * Send the response to an RFC 3489 RESPONSE-ADDRESS (used by CPEs to probe NAT binding timeouts).
   * Off by default: it lets anyone aim our responses at a third party.
   */
  honourResponseAddress?: boolean;
  /** Clock, ms since epoch. */
  now?: () => number;
}

const DEFAULT_MAX_BINDINGS = 100_000;

const STUN_ERROR = {
  badRequest: { code: 400, reason: 'Bad Request' },
  unauthorized: { code: 401, reason: 'Unauthorized' },
  unknownAttribute: { code: 420, reason: 'Unknown Attribute' },
  integrityCheckFailure: { code: 431, reason: 'Integrity Check Failure' },
  missingUsername: { code: 432, reason: 'Missing Username' },
} as const;

type Verdict =
  | { kind: 'accept'; integrityKey?: string; integrityFlavour?: StunFlavour }
  | { kind: 'reject'; code: number; reason: string; unknown?: number[] };

/**
 * A UDP STUN server. `listen()` binds it; `close()` releases the port.
 */
export class StunServer {
  private readonly socket: Socket;
  private readonly table = new Map<string, StunBinding>();
  private readonly opts: StunServerOptions;
  private listening = false;
  private closed = false;

  constructor(opts: StunServerOptions = {}) {
    this.opts = opts;
    const type = opts.type ?? (opts.host !== undefined && isIPv6(opts.host) ? 'udp6' : 'udp4');
    // reuseAddr lets another process (e.g. a second ACS worker) share the STUN port, as GenieACS does.
    this.socket = createSocket({ type, reuseAddr: true });
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', (err) => {
      if (this.listening) this.report(err);
    });
  }

  /**
   * Binds the socket.
   * @returns the bound address and port.
   * @throws the bind error (e.g. EADDRINUSE, EACCES) as a rejected promise.
   */
  listen(): Promise<{ address: string; port: number; family: string }> {
    const host = this.opts.host ?? (this.opts.type === 'udp6' ? '::' : '0.0.0.0');
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.socket.once('error', onError);
      this.socket.bind(this.opts.port ?? STUN_DEFAULT_PORT, host, () => {
        this.socket.off('error', onError);
        this.listening = true;
        resolve(this.socket.address());
      });
    });
  }

  /** The bound address. @throws if not listening. */
  address(): { address: string; port: number; family: string } {
    return this.socket.address();
  }

  /**
   * Sends a datagram from the STUN socket (used for UDP Connection Requests so that they come from
   * the address/port the CPE's NAT binding was made towards).
   * @throws (rejects) on send errors, or when the server is closed.
   */
  send(data: Uint8Array | string, port: number, address: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('STUN server is closed'));
    return new Promise((resolve, reject) => {
      this.socket.send(data, port, address, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** The last binding recorded for a username. */
  getBinding(username: string): StunBinding | undefined {
    return this.table.get(username);
  }

  /** All recorded bindings, least recently refreshed first. */
  bindings(): StunBinding[] {
    return [...this.table.values()];
  }

  /** Forgets a username's binding (e.g. the device was deleted). */
  forget(username: string): boolean {
    return this.table.delete(username);
  }

  /** Closes the socket. Idempotent. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.listening = false;
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // never bound
      }
    });
  }

  // -------------------------------------------------------------------------------------------

  private report(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    try {
      this.opts.onError?.(e);
    } catch {
      // An error handler that throws must not take the server down.
    }
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    try {
      this.handle(msg, rinfo);
    } catch (err) {
      this.report(err);
    }
  }

  private handle(msg: Buffer, rinfo: RemoteInfo): void {
    if (!looksLikeStun(msg)) {
      this.opts.onDatagram?.(msg, rinfo);
      return;
    }
    const req = decodeStunMessage(msg);
    // Undecodable STUN, responses and indications are dropped silently: answering them could loop.
    if (isStunDecodeError(req) || req.class !== 'request') return;
    if (req.method !== StunMethod.Binding) {
      this.reply(req, buildErrorResponse(req, STUN_ERROR.badRequest.code, STUN_ERROR.badRequest.reason), rinfo);
      return;
    }
    const verdict = this.judge(req, msg);
    if (verdict.kind === 'reject') {
      this.reply(req, buildErrorResponse(req, verdict.code, verdict.reason, verdict.unknown), rinfo);
      return;
    }
    const source: TransportAddress = { family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4', address: rinfo.address, port: rinfo.port };
    const responseAddress = this.opts.honourResponseAddress ? findAttribute(req, 'RESPONSE-ADDRESS')?.value : undefined;
    const software = this.opts.software ?? 'Switchboard';
    const response = buildBindingResponse(req, source, {
      source: req.flavour === 'rfc3489' ? this.localAddress() : undefined,
      reflectedFrom: responseAddress ? source : undefined,
      software: software === '' ? undefined : software,
    });
    const target = responseAddress ?? source;
    this.reply(req, response, target, verdict.integrityKey, verdict.integrityFlavour);
    this.record(req, source, verdict.integrityKey !== undefined);
  }

  /** Decides whether to answer a Binding Request, and with which integrity key. */
  private judge(req: StunMessage, raw: Buffer): Verdict {
    const unknown = unknownRequiredAttributes(req);
    const change = findAttribute(req, 'CHANGE-REQUEST');
    // We have a single address: a request to answer from another one cannot be honoured (RFC 5780 §6.1).
    if (change && (change.changeIp || change.changePort)) unknown.push(StunAttributeCode.CHANGE_REQUEST);
    if (unknown.length > 0) return { kind: 'reject', ...STUN_ERROR.unknownAttribute, unknown };

    const username = findAttribute(req, 'USERNAME')?.value;
    const hasMi = findAttribute(req, 'MESSAGE-INTEGRITY') !== undefined;
    const failed = req.flavour === 'rfc3489' ? STUN_ERROR.integrityCheckFailure : STUN_ERROR.unauthorized;
    if (!hasMi) return this.opts.requireIntegrity ? { kind: 'reject', ...STUN_ERROR.unauthorized } : { kind: 'accept' };
    if (username === undefined) {
      return { kind: 'reject', ...(req.flavour === 'rfc3489' ? STUN_ERROR.missingUsername : STUN_ERROR.badRequest) };
    }
    if (this.opts.credentials === undefined) {
      // Nothing to check against: treat as unauthenticated.
      return this.opts.requireIntegrity ? { kind: 'reject', ...STUN_ERROR.unauthorized } : { kind: 'accept' };
    }
    const password = this.opts.credentials(username);
    if (password === undefined) return { kind: 'reject', ...failed };
    const flavour = messageIntegrityFlavour(raw, password);
    if (flavour === null) return { kind: 'reject', ...failed };
    return { kind: 'accept', integrityKey: password, integrityFlavour: flavour };
  }

  private localAddress(): TransportAddress | undefined {
    try {
      const a = this.socket.address();
      // A wildcard address tells the client nothing useful.
      if (a.address === '0.0.0.0' || a.address === '::') return undefined;
      return { family: a.family === 'IPv6' ? 'IPv6' : 'IPv4', address: a.address, port: a.port };
    } catch {
      return undefined;
    }
  }

  private reply(req: StunMessage, res: StunMessage, to: TransportAddress | RemoteInfo, key?: string, flavour?: StunFlavour): void {
    if (this.closed) return;
    const bytes = encodeStunMessage(res, { integrityKey: key, integrityFlavour: flavour, fingerprint: req.flavour === 'rfc5389' });
    this.socket.send(bytes, to.port, to.address, (err) => {
      if (err) this.report(err);
    });
  }

  private record(req: StunMessage, source: TransportAddress, integrity: boolean): void {
    const username = findAttribute(req, 'USERNAME')?.value;
    if (username === undefined) return;
    const previous = this.table.get(username);
    const binding: StunBinding = {
      username,
      address: source.address,
      port: source.port,
      family: source.family,
      changed: findAttribute(req, 'BINDING-CHANGE') !== undefined,
      addressChanged: previous !== undefined && (previous.address !== source.address || previous.port !== source.port),
      connectionRequestBinding: findAttribute(req, 'CONNECTION-REQUEST-BINDING') !== undefined,
      integrity,
      flavour: req.flavour,
      at: (this.opts.now ?? Date.now)(),
    };
    // Delete then set: Map order becomes refresh order, so eviction drops the stalest binding.
    this.table.delete(username);
    this.table.set(username, binding);
    const max = this.opts.maxBindings ?? DEFAULT_MAX_BINDINGS;
    while (this.table.size > max) {
      const oldest = this.table.keys().next().value;
      if (oldest === undefined) break;
      this.table.delete(oldest);
    }
    try {
      this.opts.onBinding?.(binding);
    } catch (err) {
      this.report(err);
    }
  }
}

/**
 * Creates and binds a STUN server.
 * @returns the listening server.
 * @throws (rejects) with the bind error.
 */
export async function startStunServer(opts: StunServerOptions = {}): Promise<StunServer> {
  const server = new StunServer(opts);
  try {
    await server.listen();
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}
