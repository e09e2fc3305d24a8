/**
 * The UDP side of TR-111 (TR-069 Annex G) for the CPE agent: one UDP socket that receives UDP
 * Connection Requests and, when ManagementServer.STUNEnable is true, sends the STUN Binding Requests
 * from that same socket (src/net/stun-client.ts) so the NAT binding it learns is the one the ACS can
 * reach. The learned public address becomes ManagementServer.UDPConnectionRequestAddress (with
 * NATDetected), which the data model notifies like any other change.
 *
 * Several devices may share the socket (a fleet): a datagram goes to the device whose
 * ConnectionRequestUsername equals its `un`. STUN needs one socket per device, so it is only run
 * when a single device is registered.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isUdpCrError, parseUdpConnectionRequest } from '../cwmp/udp-connection-request.ts';
import { StunClient, type StunMapping } from '../net/stun-client.ts';

/** What the endpoint needs from a device. */
export interface UdpConnectionRequestTarget {
  connectionRequestCredentials(): { username: string; password: string };
  udpConnectionRequest(datagram: Uint8Array, remote?: string): 'accepted' | 'rate-limited' | 'ignored';
  /** The UDPConnectionRequestAddress (host:port) and NATDetected to publish. */
  setUdpAddress(address: string, natDetected: boolean): void;
  /** Current STUN settings from ManagementServer.STUN*. */
  stunSettings(): StunSettings;
  log(level: 'info' | 'warn', message: string): void;
}

export interface StunSettings {
  enable: boolean;
  serverHost: string;
  serverPort: number;
  username: string;
  password: string;
  minKeepAliveMs: number;
  maxKeepAliveMs: number | undefined;
}

export interface UdpEndpointOptions {
  port?: number;
  listenHost?: string;
  /** Host published in UDPConnectionRequestAddress when STUN is off (default 127.0.0.1 for a wildcard bind). */
  advertisedHost?: string;
}

export class UdpConnectionRequestEndpoint {
  private socket: Socket | null = null;
  private readonly targets: UdpConnectionRequestTarget[] = [];
  private stun: StunClient | null = null;
  private stunKey = '';
  private localPort = 0;
  readonly stats = { datagrams: 0, accepted: 0, ignored: 0, unrouted: 0 };

  constructor(private readonly opts: UdpEndpointOptions = {}) {}

  /** Binds the socket. Returns the local port. Rejects on bind errors. */
  async start(): Promise<number> {
    const host = this.opts.listenHost ?? '0.0.0.0';
    const s = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.opts.port ?? 0, host, () => {
        s.off('error', reject);
        resolve();
      });
    });
    s.on('error', () => {
      /* a UDP socket error (e.g. ICMP unreachable on send) must not crash the device */
    });
    this.socket = s;
    this.localPort = s.address().port;
    s.on('message', this.onPlainMessage);
    return this.localPort;
  }

  get port(): number {
    return this.localPort;
  }

  /** Routes datagrams for `target` and publishes its address (STUN when enabled and alone). */
  register(target: UdpConnectionRequestTarget): void {
    this.targets.push(target);
    void this.reconfigure(target);
  }

  /**
   * Re-reads `target`'s STUN settings (call after ManagementServer changes). Starts, restarts or
   * stops the STUN client as needed; without STUN publishes the local address for `target`.
   */
  async reconfigure(target: UdpConnectionRequestTarget): Promise<void> {
    const s = this.socket;
    if (!s) return;
    if (this.targets.length > 1) {
      // Shared socket: no STUN (one mapping cannot serve several devices).
      this.publishLocal(target);
      return;
    }
    const single = this.targets[0] === target ? target : null;
    const st = single?.stunSettings();
    const key = st && st.enable ? JSON.stringify(st) : '';
    if (key === this.stunKey && (key !== '' || this.stun === null)) {
      if (!key) this.publishLocal(target);
      return;
    }
    this.stunKey = key;
    if (this.stun) {
      await this.stun.stop();
      this.stun = null;
      s.on('message', this.onPlainMessage);
    }
    if (!st || !st.enable || !single) {
      this.publishLocal(target);
      return;
    }
    s.off('message', this.onPlainMessage);
    this.stun = new StunClient({
      server: { host: st.serverHost, port: st.serverPort },
      username: st.username || undefined,
      password: st.password || undefined,
      socket: s,
      minKeepAliveMs: st.minKeepAliveMs,
      maxKeepAliveMs: st.maxKeepAliveMs,
      onDatagram: (msg, rinfo) => this.route(msg, rinfo),
      onMapping: (m: StunMapping) => single.setUdpAddress(formatHostPort(m.address, m.port), m.natDetected),
      onError: (e) => single.log('warn', `STUN: ${e.code} ${e.message}`),
    });
    await this.stun.start();
  }

  async close(): Promise<void> {
    if (this.stun) await this.stun.stop();
    this.stun = null;
    const s = this.socket;
    this.socket = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private publishLocal(target: UdpConnectionRequestTarget): void {
    const listen = this.opts.listenHost ?? '0.0.0.0';
    const host = this.opts.advertisedHost ?? (listen === '0.0.0.0' || listen === '::' ? '127.0.0.1' : listen);
    target.setUdpAddress(formatHostPort(host, this.localPort), false);
  }

  private readonly onPlainMessage = (msg: Buffer, rinfo: RemoteInfo): void => this.route(msg, rinfo);

  private route(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.datagrams++;
    const remote = `${rinfo.address}:${rinfo.port}`;
    const parsed = parseUdpConnectionRequest(msg);
    const un = isUdpCrError(parsed) ? undefined : parsed.username;
    const target = this.targets.length === 1 ? this.targets[0] : this.targets.find((t) => t.connectionRequestCredentials().username === un);
    if (!target) {
      this.stats.unrouted++;
      return;
    }
    if (target.udpConnectionRequest(msg, remote) === 'ignored') this.stats.ignored++;
    else this.stats.accepted++;
  }
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
