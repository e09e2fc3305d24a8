/**
 * The CWMP listeners (HTTP and HTTPS) on a worker thread of their own (listener-worker.mjs): the
 * thread accepts the connections, parses HTTP, reads the bodies and writes the responses; each
 * request comes to this thread as a message and goes to `CwmpService.handleRequest` with stand-ins
 * for the request and the response. The service, the session engine and the store stay on the main
 * thread, unchanged. `startAcs` uses it on SQLite unless told otherwise (`AcsOptions.cwmpThread`).
 *
 * Why: a boot storm keeps the ACS's event loop busy, and node:http's own work (sockets, parsing,
 * stream machinery, the write system calls) was about a quarter of it. On the thread, that work
 * runs in parallel; a message carries a whole request or answer (one per event-loop turn each way,
 * batched), so the crossing costs little (see the README's Performance section for the figures).
 *
 * A request's `socket` is one object per connection (session binding and Digest nonces compare
 * connections by identity); it is forgotten when the connection closes. When the thread dies, the
 * requests it was serving are lost (their connections with it) and a new thread listens on the same
 * ports, after a pause that doubles while it keeps dying.
 */
import { Worker } from 'node:worker_threads';
import type { IncomingHttpHeaders } from 'node:http';
import type { EngineLogger } from '../session/engine.ts';
import type { CwmpConnection, CwmpRequest, CwmpResponse } from './cwmp-server.ts';
import { messageBatcher, type ListenerTimeouts } from './listener-common.mjs';

const WORKER_URL = new URL('./listener-worker.mjs', import.meta.url);
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5_000;
/** A thread that served this long before dying is restarted after the shortest pause again. */
const STABLE_MS = 10_000;
/** The thread's young generation bound (MiB). */
const WORKER_YOUNG_GENERATION_MB = 48;

export interface ThreadListener {
  /** 0 picks a free port. */
  port: number;
  host: string;
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface ListenerThreadOptions {
  listeners: ThreadListener[];
  /** Called with each request; `body` null when not read (not POST, or over `maxRequestBytes`). */
  handle: (req: CwmpRequest, body: Buffer | null, res: CwmpResponse) => void;
  /** The connection timeouts of the thread's servers (createListenerServer). */
  timeouts: ListenerTimeouts;
  maxRequestBytes: number;
  logger: EngineLogger;
}

type FromWorker =
  | { k: 'listening'; ports: number[] }
  | { k: 'error'; message: string }
  | { k: 'close'; conn: number }
  | { k: 'req'; id: number; conn: number; ra: string | undefined; tls: boolean; method: string; url: string; headers: IncomingHttpHeaders; body: Uint8Array | null };

type ToWorker = { id: number; status: number; headers: Record<string, string | string[]>; body: string } | { id: number; destroy: true } | { k: 'stop' };

/** The response stand-in: what the service writes goes back to the thread in one message. */
class ThreadResponse implements CwmpResponse {
  headersSent = false;
  private status = 200;
  private headers: Record<string, string | string[]> = {};
  private done = false;

  constructor(
    private readonly send: (m: ToWorker) => void,
    private readonly id: number,
  ) {}

  writeHead(status: number, headers: Record<string, string | string[]>): this {
    this.status = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }

  end(body?: string): this {
    if (this.done) return this;
    this.done = true;
    this.send({ id: this.id, status: this.status, headers: this.headers, body: body ?? '' });
    return this;
  }

  destroy(): this {
    if (this.done) return this;
    this.done = true;
    this.send({ id: this.id, destroy: true });
    return this;
  }
}

/** The CWMP listeners on their own thread (see the module comment). */
export class CwmpListenerThread {
  /** The ports listened on, in the order of `options.listeners`. */
  ports: number[] = [];
  /** Threads started after one died (for tests and diagnostics). */
  restarts = 0;
  private worker: Worker | null = null;
  /** Counts the threads started: an answer meant for a thread that died is not sent to the next. */
  private generation = 0;
  private readonly connections = new Map<number, CwmpConnection>();
  /** Answers for the current thread, posted once per event-loop turn. */
  private readonly outbox = messageBatcher<ToWorker>((batch) => this.worker?.postMessage(batch));
  private stopping = false;
  private restartDelayMs = RESTART_MIN_MS;
  private startedAt = Date.now();
  private restartTimer: NodeJS.Timeout | null = null;

  private constructor(private readonly options: ListenerThreadOptions) {}

  /** Starts the thread; resolves once every listener listens, rejects when one cannot (port taken). */
  static async start(options: ListenerThreadOptions): Promise<CwmpListenerThread> {
    const t = new CwmpListenerThread(options);
    t.ports = await t.spawn(options.listeners);
    return t;
  }

  /** Open connections the main thread knows of (each has a stand-in socket). */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Stops listening, closes the connections and ends the thread. */
  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (worker === null) return;
    this.outbox.flush();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage([{ k: 'stop' }] satisfies ToWorker[]);
    const timer = setTimeout(() => void worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
    this.connections.clear();
  }

  /** Ends the thread as a crash would (tests: the restart). */
  async crashForTest(): Promise<void> {
    await this.worker?.terminate();
  }

  /**
   * Starts a thread and resolves with its ports once it listens (it is then the current one);
   * rejects when it cannot listen.
   */
  private spawn(listeners: ThreadListener[]): Promise<number[]> {
    const o = this.options;
    const worker = new Worker(WORKER_URL, {
      // its objects live for one request: a small young generation is enough (the process's
      // --max-semi-space-size is for the main thread's)
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      workerData: {
        listeners,
        timeouts: o.timeouts,
        maxRequestBytes: o.maxRequestBytes,
      },
    });
    return new Promise((resolve, reject) => {
      let listening = false;
      worker.on('message', (batch: FromWorker[]) => {
        if (listening) {
          if (worker === this.worker) this.receive(batch);
          return;
        }
        const first = batch[0];
        if (first?.k !== 'listening') {
          void worker.terminate();
          reject(new Error(`CWMP listener: ${first?.k === 'error' ? first.message : 'unexpected message'}`));
          return;
        }
        listening = true;
        if (this.stopping) {
          worker.postMessage([{ k: 'stop' }] satisfies ToWorker[]);
          reject(new Error('CWMP listener closed while starting'));
          return;
        }
        // current from here on, before any request of the same batch is handled
        this.worker = worker;
        this.generation++;
        this.startedAt = Date.now();
        resolve(first.ports);
        this.receive(batch.slice(1));
      });
      worker.on('error', (err) => {
        if (listening) o.logger.error({ err }, 'CWMP listener thread failed');
        else reject(err);
      });
      worker.once('exit', (code) => {
        if (!listening) {
          reject(new Error(`CWMP listener thread exited (code ${code}) before listening`));
          return;
        }
        if (this.stopping || worker !== this.worker) return;
        o.logger.error({ code, restartInMs: this.restartDelayMs }, 'CWMP listener thread exited; starting a new one');
        this.connections.clear();
        this.outbox.clear();
        this.restart();
      });
    });
  }

  private restart(): void {
    if (Date.now() - this.startedAt >= STABLE_MS) this.restartDelayMs = RESTART_MIN_MS;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, RESTART_MAX_MS);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      const listeners = this.options.listeners.map((l, i) => ({ ...l, port: this.ports[i] }));
      this.spawn(listeners).then(
        () => {
          this.restarts++;
        },
        (err: unknown) => {
          if (this.stopping) return;
          this.options.logger.error({ err }, 'CWMP listener thread could not listen again; retrying');
          this.restart();
        },
      );
    }, delay);
    this.restartTimer.unref();
  }

  private receive(batch: FromWorker[]): void {
    for (const m of batch) {
      if (m.k === 'req') this.request(m);
      else if (m.k === 'close') this.connections.delete(m.conn);
    }
  }

  private request(m: Extract<FromWorker, { k: 'req' }>): void {
    let socket = this.connections.get(m.conn);
    if (socket === undefined) {
      socket = { remoteAddress: m.ra, encrypted: m.tls };
      this.connections.set(m.conn, socket);
    }
    const req: CwmpRequest = { method: m.method, url: m.url, headers: m.headers, socket };
    const body = m.body === null ? null : Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    const generation = this.generation;
    const send = (answer: ToWorker) => {
      if (generation === this.generation) this.outbox.push(answer);
    };
    this.options.handle(req, body, new ThreadResponse(send, m.id));
  }
}
