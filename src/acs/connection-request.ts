/**
 * Connection requests: asking a CPE to open a session now (TR-069 §3.2.2, Annex G).
 *
 * A `ConnectionRequester` tries its transports in order (HTTP first; a UDP/STUN transport for CPEs
 * behind NAT is added later by registering another `ConnectionRequestTransport`) and returns the
 * first conclusive result. Concurrent requests for one device (also from other ACS instances sharing
 * the database) send once: see src/acs/cluster/cr-gate.ts.
 */
import http from 'node:http';
import https from 'node:https';
import { DigestClient } from '../cwmp/auth.ts';
import type { Store } from '../store/types.ts';
import { ConnectionRequestGate } from './cluster/cr-gate.ts';

/** Outcome of one connection request attempt. */
export type ConnectionRequestStatus =
  /** The CPE answered 200/204: it will open a session. */
  | 'ok'
  /** The CPE rejected our credentials (401 after a Digest/Basic answer, or no credentials known). */
  | 'auth-failed'
  /** No answer, connection refused/reset, DNS failure, timeout. */
  | 'unreachable'
  /** The CPE answered 503 (rate limit or a session in progress). */
  | 'busy'
  /** The device has no connection request URL/address for this transport. */
  | 'no-address'
  /** Any other HTTP status or a protocol error. */
  | 'error';

export interface ConnectionRequestResult {
  status: ConnectionRequestStatus;
  /** Which transport produced the result (`http`, `udp`, ...). */
  transport: string;
  /** HTTP status of the last response, when there was one. */
  httpStatus?: number;
  /** Human-readable explanation (never contains credentials). */
  detail: string;
  /**
   * True when this call sent nothing because another caller (on this or another ACS instance) was
   * sending a request to the same device at the same time: the result is that request's outcome
   * (src/acs/cluster/cr-gate.ts).
   */
  deduplicated?: boolean;
}

/** What a transport needs to know about the device. Passwords are secrets: never log this object. */
export interface ConnectionRequestTarget {
  deviceId: string;
  connectionRequestUrl: string | null;
  udpConnectionRequestAddress: string | null;
  username: string | null;
  password: string | null;
}

/** One way of reaching a CPE (HTTP GET, UDP datagram, XMPP...). */
export interface ConnectionRequestTransport {
  readonly name: string;
  /** Whether this transport has an address for the target. */
  applies(target: ConnectionRequestTarget): boolean;
  /** Sends the request; never throws for network errors (they are results). */
  send(target: ConnectionRequestTarget, signal?: AbortSignal): Promise<ConnectionRequestResult>;
}

// ---------------------------------------------------------------------------------------------
// HTTP transport (TR-069 §3.2.2)
// ---------------------------------------------------------------------------------------------


export interface HttpTransportOptions {
  /** Per HTTP exchange. Default 5 s. */
  timeoutMs?: number;
  /** Answer a Basic challenge (some CPEs offer only Basic). Default true. */
  allowBasic?: boolean;
}

interface HttpGetResult {
  status: number;
  wwwAuthenticate: string[];
}

/** One GET on `agent` (keep-alive, so a Digest retry reuses the connection the nonce was issued on). */
function httpGet(url: URL, headers: Record<string, string>, agent: http.Agent, timeoutMs: number, signal?: AbortSignal): Promise<HttpGetResult> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: 'GET', headers, agent, timeout: timeoutMs, signal, rejectUnauthorized: false }, (res) => {
      const raw = res.headers['www-authenticate'];
      const wwwAuthenticate = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, wwwAuthenticate }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** HTTP GET to ManagementServer.ConnectionRequestURL with Digest (or Basic) credentials. */
export class HttpConnectionRequestTransport implements ConnectionRequestTransport {
  readonly name = 'http';
  private readonly timeoutMs: number;
  private readonly allowBasic: boolean;

  constructor(options: HttpTransportOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.allowBasic = options.allowBasic ?? true;
  }

  applies(target: ConnectionRequestTarget): boolean {
    return !!target.connectionRequestUrl;
  }

  async send(target: ConnectionRequestTarget, signal?: AbortSignal): Promise<ConnectionRequestResult> {
    const result = (status: ConnectionRequestStatus, detail: string, httpStatus?: number): ConnectionRequestResult =>
      httpStatus === undefined ? { status, transport: this.name, detail } : { status, transport: this.name, detail, httpStatus };
    let url: URL;
    try {
      url = new URL(target.connectionRequestUrl ?? '');
    } catch {
      return result('error', 'the connection request URL is not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return result('error', `unsupported scheme ${url.protocol}`);
    const agent = new (url.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 1 });
    const path = `${url.pathname}${url.search}`;
    try {
      let res = await httpGet(url, {}, agent, this.timeoutMs, signal);
      if (res.status === 401) {
        if (!target.username || target.password === null) return result('auth-failed', 'the CPE asks for credentials and none are known', 401);
        const client = new DigestClient({ username: target.username, password: target.password, allowBasic: this.allowBasic });
        if (!client.handleChallenge(res.wwwAuthenticate)) return result('auth-failed', 'the CPE offers no challenge we can answer', 401);
        res = await httpGet(url, { authorization: client.authorization('GET', path) ?? '' }, agent, this.timeoutMs, signal);
      }
      if (res.status === 200 || res.status === 204) return result('ok', 'the CPE accepted the connection request', res.status);
      if (res.status === 401 || res.status === 403) return result('auth-failed', 'the CPE refused our credentials', res.status);
      if (res.status === 503) return result('busy', 'the CPE is busy (session in progress or rate limit)', res.status);
      return result('error', `unexpected HTTP status ${res.status}`, res.status);
    } catch (err) {
      return result('unreachable', err instanceof Error ? err.message : String(err));
    } finally {
      agent.destroy();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Requester: the transports in order
// ---------------------------------------------------------------------------------------------

export interface ConnectionRequesterOptions {
  /** Used when a device has no stored connection request credentials. */
  defaultUsername?: string | null;
  defaultPassword?: string | null;
  /** Sends concurrent requests for one device once. Default: a gate on the store; false = none. */
  gate?: ConnectionRequestGate | false;
}

/** Sends connection requests to devices through the first transport that gets an answer. */
export class ConnectionRequester {
  private readonly transports: ConnectionRequestTransport[];
  private readonly gate: ConnectionRequestGate | null;

  constructor(
    private readonly store: Store,
    transports: ConnectionRequestTransport[] = [new HttpConnectionRequestTransport()],
    private readonly options: ConnectionRequesterOptions = {},
  ) {
    this.transports = [...transports];
    this.gate = options.gate === false ? null : (options.gate ?? new ConnectionRequestGate({ store }));
  }

  /** Adds a transport (e.g. UDP/STUN for NATed CPEs); `first` puts it before the others. */
  addTransport(transport: ConnectionRequestTransport, first = false): void {
    if (first) this.transports.unshift(transport);
    else this.transports.push(transport);
  }

  /**
   * Asks the device to open a session. Tries each applicable transport until one is conclusive
   * (ok, auth-failed, busy). Returns the result (`deduplicated` when another caller's request was
   * in flight; `transport: 'session'` when the device is in session on another instance); never throws.
   */
  request(deviceId: string, signal?: AbortSignal): Promise<ConnectionRequestResult> {
    return this.gate ? this.gate.run(deviceId, () => this.send(deviceId, signal)) : this.send(deviceId, signal);
  }

  private async send(deviceId: string, signal?: AbortSignal): Promise<ConnectionRequestResult> {
    let device;
    try {
      device = await this.store.getDevice(deviceId);
    } catch (err) {
      return { status: 'error', transport: 'none', detail: `store: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (!device) return { status: 'no-address', transport: 'none', detail: `unknown device ${deviceId}` };
    const target: ConnectionRequestTarget = {
      deviceId,
      connectionRequestUrl: device.connectionRequestUrl,
      udpConnectionRequestAddress: device.udpConnectionRequestAddress,
      username: device.credentials.connectionRequestUsername ?? this.options.defaultUsername ?? null,
      password: device.credentials.connectionRequestPassword ?? this.options.defaultPassword ?? null,
    };
    let last: ConnectionRequestResult | null = null;
    for (const t of this.transports) {
      if (!t.applies(target)) continue;
      last = await t.send(target, signal);
      if (last.status === 'ok' || last.status === 'auth-failed' || last.status === 'busy') return last;
    }
    return last ?? { status: 'no-address', transport: 'none', detail: 'the device reported no connection request address' };
  }
}
