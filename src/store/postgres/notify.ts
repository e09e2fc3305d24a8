/**
 * A small typed publish/subscribe over PostgreSQL LISTEN/NOTIFY, so that several ACS processes
 * sharing one database learn at once about changes another process made (presets, files,
 * rollouts...), instead of polling.
 *
 * - Channels are typed by a map `{ channelName: PayloadType }`; payloads travel as JSON.
 * - Every channel name is prefixed with a namespace (default `switchboard`), so that several
 *   installations (or test runs) sharing a database do not hear each other.
 * - Each message carries the publisher's `origin` id; a subscriber is told whether a message is its
 *   own (`fromSelf`), since a process also hears what it publishes.
 * - One dedicated connection listens. When it drops, the notifier reconnects with back-off,
 *   LISTENs again and calls `onReconnect`: messages sent while it was away are LOST (NOTIFY is not
 *   queued for absent listeners), so a consumer must reload what it caches at that point.
 * - `notifyStatement` gives the SQL to send a message inside the caller's transaction: PostgreSQL
 *   delivers it only if and when that transaction commits, and then together with its data.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { StoreError, type JsonValue } from '../types.ts';
import { toStoreError } from './sql.ts';

/** Channel name -> payload type. */
export type ChannelMap = { [channel: string]: JsonValue };

/** The changes that ACS processes sharing a database tell each other about (issue #8 part 2). */
export interface SwitchboardChannels {
  [channel: string]: JsonValue;
  /** A preset was created, changed or deleted (id null: reload them all). */
  'preset.changed': { id: string | null };
  'file.changed': { id: string | null };
  'rollout.changed': { id: string | null };
}

export interface NotificationMeta {
  /** The publisher's `origin`. */
  origin: string;
  /** True when this notifier published the message itself. */
  fromSelf: boolean;
}

export type NotificationHandler<P> = (payload: P, meta: NotificationMeta) => void;

export interface NotifierOptions {
  /** Prefix of every channel (default `switchboard`): `[a-z0-9_]`, starting with a letter. */
  namespace?: string;
  /** First reconnect delay (default 100 ms); doubles up to `reconnectMaxMs` (default 5 s). */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** The listening connection runs `SELECT 1` this often to notice a dead link (default 30 s). */
  heartbeatMs?: number;
  /** Called after the listener came back (missed messages are lost: reload caches here). */
  onReconnect?: () => void;
  /** Told about connection errors, malformed messages and handlers that threw. Never rethrown. */
  onError?: (err: Error) => void;
  /** Shown in pg_stat_activity (default `switchboard-notify`). */
  applicationName?: string;
}

/** NOTIFY payloads must be shorter than 8000 bytes in PostgreSQL's default build. */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7999;
/** PostgreSQL identifiers (channel names included) hold at most 63 bytes. */
const MAX_CHANNEL_BYTES = 63;
const DEFAULT_NAMESPACE = 'switchboard';
const DEFAULT_RECONNECT_MIN_MS = 100;
const DEFAULT_RECONNECT_MAX_MS = 5_000;
const DEFAULT_HEARTBEAT_MS = 30_000;
/** A publisher needs few connections: NOTIFY is a single quick statement. */
const PUBLISH_POOL_SIZE = 2;

interface Envelope {
  /** origin */
  o: string;
  /** payload */
  p: JsonValue;
}

const NAMESPACE_PATTERN = /^[a-z][a-z0-9_]*$/;
/** Channel names go into LISTEN as quoted identifiers, so no quote may appear in them. */
const CHANNEL_PATTERN = /^[a-z0-9_.:-]+$/;

function checkName(kind: 'namespace' | 'channel', value: string): void {
  if (!(kind === 'namespace' ? NAMESPACE_PATTERN : CHANNEL_PATTERN).test(value)) {
    throw new StoreError('invalid', `${kind} ${JSON.stringify(value)} must match ${kind === 'namespace' ? NAMESPACE_PATTERN : CHANNEL_PATTERN}`);
  }
}

/**
 * The typed LISTEN/NOTIFY client. Create it with `PgNotifier.connect`.
 */
export class PgNotifier<C extends ChannelMap = SwitchboardChannels> {
  /** This notifier's id, carried by every message it publishes. */
  readonly origin = randomUUID();
  private readonly url: string;
  private readonly namespace: string;
  private readonly options: NotifierOptions;
  private readonly publisher: pg.Pool;
  private readonly handlers = new Map<string, Set<NotificationHandler<JsonValue>>>();
  private listener: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private reconnectDelay: number;
  private closed = false;

  private constructor(url: string, options: NotifierOptions) {
    this.url = url;
    this.options = options;
    this.namespace = options.namespace ?? DEFAULT_NAMESPACE;
    checkName('namespace', this.namespace);
    this.reconnectDelay = options.reconnectMinMs ?? DEFAULT_RECONNECT_MIN_MS;
    this.publisher = new pg.Pool({ connectionString: url, max: PUBLISH_POOL_SIZE, application_name: options.applicationName ?? 'switchboard-notify' });
    this.publisher.on('error', (err) => this.report(err));
  }

  /**
   * Connects the listening connection. Resolves the notifier.
   * @throws StoreError `unavailable` when the server cannot be reached, `invalid` for a bad namespace.
   */
  static async connect<C extends ChannelMap = SwitchboardChannels>(url: string, options: NotifierOptions = {}): Promise<PgNotifier<C>> {
    const n = new PgNotifier<C>(url, options);
    try {
      await n.openListener();
    } catch (err) {
      await n.publisher.end().catch(() => undefined);
      throw toStoreError(err);
    }
    return n;
  }

  /** True while the listening connection is up. */
  get connected(): boolean {
    return this.listener !== null;
  }

  /** The full channel name on the server. @throws StoreError `invalid` for a bad or too long name. */
  channelName(channel: string): string {
    checkName('channel', channel);
    const full = `${this.namespace}.${channel}`;
    if (Buffer.byteLength(full) > MAX_CHANNEL_BYTES) throw new StoreError('invalid', `channel name ${full} is longer than ${MAX_CHANNEL_BYTES} bytes`);
    return full;
  }

  /**
   * Calls `handler` for every message on `channel` (from any process, this one included) until the
   * returned function is called. Resolves once the server listens (or, while reconnecting, at once:
   * the channel is listened to when the connection is back).
   */
  async subscribe<K extends keyof C & string>(channel: K, handler: NotificationHandler<C[K]>): Promise<() => Promise<void>> {
    if (this.closed) throw new StoreError('unavailable', 'notifier is closed');
    const full = this.channelName(channel);
    let set = this.handlers.get(full);
    const first = !set;
    if (!set) {
      set = new Set();
      this.handlers.set(full, set);
    }
    const h = handler as NotificationHandler<JsonValue>;
    set.add(h);
    if (first && this.listener) {
      try {
        await this.listener.query(`LISTEN "${full}"`);
      } catch (err) {
        // The reconnect path will LISTEN again; the subscription stays registered.
        this.report(err);
      }
    }
    return async () => {
      const current = this.handlers.get(full);
      if (!current?.delete(h) || current.size > 0) return;
      this.handlers.delete(full);
      if (this.listener) await this.listener.query(`UNLISTEN "${full}"`).catch((err: unknown) => this.report(err));
    };
  }

  /**
   * The statement that publishes `payload` on `channel` when run inside the caller's transaction
   * (delivered at commit, dropped at rollback): `client.query(stmt.text, stmt.values)`.
   * @throws StoreError `invalid` for a bad channel or a payload of 8000 bytes or more.
   */
  notifyStatement<K extends keyof C & string>(channel: K, payload: C[K]): { text: string; values: string[] } {
    const envelope: Envelope = { o: this.origin, p: payload };
    const text = JSON.stringify(envelope);
    if (Buffer.byteLength(text) > MAX_NOTIFY_PAYLOAD_BYTES) {
      throw new StoreError('invalid', `notification payload is ${Buffer.byteLength(text)} bytes; at most ${MAX_NOTIFY_PAYLOAD_BYTES} fit (send an id, not the object)`);
    }
    return { text: 'SELECT pg_notify($1, $2)', values: [this.channelName(channel), text] };
  }

  /**
   * Publishes at once (autocommit). Resolves when the server accepted the message.
   * @throws StoreError `invalid` (see notifyStatement) or `unavailable`.
   */
  async publish<K extends keyof C & string>(channel: K, payload: C[K]): Promise<void> {
    if (this.closed) throw new StoreError('unavailable', 'notifier is closed');
    const stmt = this.notifyStatement(channel, payload);
    try {
      await this.publisher.query(stmt.text, stmt.values);
    } catch (err) {
      throw toStoreError(err);
    }
  }

  /** Stops listening and closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const l = this.listener;
    this.listener = null;
    await Promise.all([l?.end().catch(() => undefined), this.publisher.end().catch(() => undefined)]);
  }

  // -------------------------------------------------------------------------------------------------

  private report(err: unknown): void {
    this.options.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  private async openListener(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, keepAlive: true, application_name: this.options.applicationName ?? 'switchboard-notify' });
    client.on('notification', (msg) => this.dispatch(msg.channel, msg.payload));
    // 'error' and 'end' both mean the connection is gone; lost() ignores the second of them.
    client.on('error', (err) => this.lost(client, err));
    client.on('end', () => this.lost(client, null));
    await client.connect();
    const listened = new Set(this.handlers.keys());
    try {
      for (const full of listened) await client.query(`LISTEN "${full}"`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    // Channels subscribed while the LISTENs above were in flight saw no listener: catch up.
    const missed = [...this.handlers.keys()].filter((full) => !listened.has(full));
    for (const full of missed) await client.query(`LISTEN "${full}"`).catch((err: unknown) => this.report(err));
    this.reconnectDelay = this.options.reconnectMinMs ?? DEFAULT_RECONNECT_MIN_MS;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = setInterval(() => {
      // A failure surfaces as the client's 'error'/'end' event, which reconnects.
      client.query('SELECT 1').catch(() => undefined);
    }, this.options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.heartbeatTimer.unref();
  }

  private lost(client: pg.Client, err: Error | null): void {
    if (this.listener !== client || this.closed) return;
    this.listener = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    this.report(err ?? new Error('notification connection ended'));
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, this.options.reconnectMaxMs ?? DEFAULT_RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.openListener().then(
        () => {
          if (!this.closed) this.options.onReconnect?.();
        },
        (err: unknown) => {
          this.report(err);
          this.scheduleReconnect();
        },
      );
    }, delay);
  }

  private dispatch(channel: string, payload: string | undefined): void {
    const set = this.handlers.get(channel);
    if (!set) return;
    let envelope: Envelope;
    try {
      const parsed = JSON.parse(payload ?? '') as Partial<Envelope>;
      if (typeof parsed !== 'object' || parsed === null || typeof parsed.o !== 'string' || !('p' in parsed)) throw new Error('not a notifier envelope');
      envelope = parsed as Envelope;
    } catch (err) {
      this.report(new Error(`malformed notification on ${channel}: ${(err as Error).message}`));
      return;
    }
    const meta: NotificationMeta = { origin: envelope.o, fromSelf: envelope.o === this.origin };
    for (const h of [...set]) {
      try {
        h(envelope.p, meta);
      } catch (err) {
        this.report(err);
      }
    }
  }
}
