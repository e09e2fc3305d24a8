/**
 * A tiny round-robin TCP proxy for the scale-out test and bench: it stands for the load balancer in
 * front of several ACS instances. Each new connection goes to the next backend; a backend that
 * refuses the connection (killed) is skipped. `connections[i]` counts what backend i received.
 */
import net from 'node:net';

/** A round-robin TCP proxy: each new connection goes to the next live backend (skipping dead ones). */
export class RoundRobinProxy {
  readonly server: net.Server;
  readonly connections: number[];
  private next = 0;
  private readonly sockets = new Set<net.Socket>();
  constructor(private readonly backends: { host: string; port: number }[]) {
    this.connections = backends.map(() => 0);
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      this.route(client, 0);
    });
  }
  private route(client: net.Socket, tried: number): void {
    if (tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const i = this.next++ % this.backends.length;
    const upstream = net.connect(this.backends[i]);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      this.connections[i]++;
      client.pipe(upstream).pipe(client);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    upstream.once('error', () => {
      // a dead backend: the next one takes the connection
      if (!connected) this.route(client, tried + 1);
    });
  }
  /** Listens on an ephemeral port of 127.0.0.1; resolves `http://127.0.0.1:<port>/`. */
  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}/`;
  }
  /** Stops accepting connections; resolves when the open ones are gone. */
  close(): Promise<void> {
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    return closed;
  }
}
