/**
 * The HTTP Connection Request listener (TR-069 §3.2.2), shared by every device of a process.
 *
 * Each device registers a random path; its ConnectionRequestURL is `http://<host>:<port>/<path>`.
 * A GET to that path must authenticate with the device's ConnectionRequestUsername/Password (Digest;
 * Basic too when the device allows it). Then, unless the device's rate limit refuses it (503 without
 * Retry-After), the listener answers 200 with an empty body at once and tells the device, which starts
 * a session with `6 CONNECTION REQUEST` (or remembers it if a session is running).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionRequestAuth, type AllowedSchemes, type Credentials } from './http-auth.ts';

/** What the listener needs from a device. */
export interface ConnectionRequestTarget {
  /** Current ConnectionRequestUsername/Password (read on every request: the ACS may change them). */
  connectionRequestCredentials(): Credentials;
  /** Schemes the device accepts. */
  connectionRequestSchemes(): AllowedSchemes;
  /**
   * Called for an authenticated request. Returns 'accepted' (answer 200, session follows) or
   * 'rate-limited' (answer 503).
   */
  connectionRequest(source: 'http'): 'accepted' | 'rate-limited';
  /** Log line for refused requests. */
  logConnectionRequest?(outcome: string, remote: string | undefined): void;
}

export interface ConnectionRequestServerOptions {
  /** Address to listen on (default 0.0.0.0). */
  listenHost?: string;
  /** Host written into ConnectionRequestURL (default: listenHost, or 127.0.0.1 for 0.0.0.0). */
  advertisedHost?: string;
  port?: number;
  realm?: string;
  now?: () => number;
}

export class ConnectionRequestServer {
  private readonly targets = new Map<string, ConnectionRequestTarget>();
  private readonly server: http.Server;
  private readonly auth: ConnectionRequestAuth;
  private boundPort = 0;
  /** Counters for statistics. */
  readonly stats = { accepted: 0, unauthorized: 0, rateLimited: 0, notFound: 0 };

  constructor(private readonly opts: ConnectionRequestServerOptions = {}) {
    this.auth = new ConnectionRequestAuth(opts.realm ?? 'Switchboard CPE', opts.now ?? Date.now);
    this.server = http.createServer((req, res) => this.handle(req, res));
    // A Connection Request is tiny: cut slow or idle clients quickly.
    this.server.requestTimeout = 10_000;
    this.server.headersTimeout = 10_000;
    this.server.keepAliveTimeout = 5_000;
  }

  /** Starts listening. Returns the bound port. Throws the listen error (e.g. EADDRINUSE). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, this.opts.listenHost ?? '0.0.0.0', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** The ConnectionRequestURL for a path registered with `register`. */
  urlFor(path: string): string {
    const listen = this.opts.listenHost ?? '0.0.0.0';
    let host = this.opts.advertisedHost ?? (listen === '0.0.0.0' || listen === '::' ? '127.0.0.1' : listen);
    if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
    return `http://${host}:${this.boundPort}/${path}`;
  }

  /** Serves `path` (no leading slash) for `target`. Replaces an earlier registration of the same path. */
  register(path: string, target: ConnectionRequestTarget): void {
    this.targets.set(`/${path}`, target);
  }

  unregister(path: string): void {
    this.targets.delete(`/${path}`);
  }

  /** Stops listening and closes open connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // Anything in the request is ignored (§3.2.2), but drain it so the connection stays usable.
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    const target = this.targets.get(path);
    const remote = req.socket.remoteAddress;
    if (!target) {
      this.stats.notFound++;
      res.writeHead(404, { 'content-length': 0 }).end();
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET', 'content-length': 0 }).end();
      return;
    }
    const allow = target.connectionRequestSchemes();
    const result = this.auth.verify(req.headers.authorization, 'GET', target.connectionRequestCredentials(), allow);
    if (!result.ok) {
      this.stats.unauthorized++;
      if (result.reason !== 'missing') target.logConnectionRequest?.(`refused (${result.reason})`, remote);
      res.writeHead(401, { 'www-authenticate': this.auth.challenges(allow, result.reason === 'stale-nonce'), 'content-length': 0 }).end();
      return;
    }
    if (target.connectionRequest('http') === 'rate-limited') {
      this.stats.rateLimited++;
      target.logConnectionRequest?.('rate limited (503)', remote);
      // 503 without Retry-After, as TR-069 §3.2.2 asks.
      res.writeHead(503, { 'content-length': 0 }).end();
      return;
    }
    this.stats.accepted++;
    res.writeHead(200, { 'content-length': 0 }).end();
  }
}
