/**
 * Connection requests: asking a CPE to open a session now (TR-069 §3.2.2, Annex G).
 *
 * A `ConnectionRequester` tries its transports in order (HTTP first; a UDP/STUN transport for CPEs
 * behind NAT is added later by registering another `ConnectionRequestTransport`) and returns the
 * first conclusive result.
 */

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
