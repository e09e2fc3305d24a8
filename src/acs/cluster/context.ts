/**
 * The cluster link of one ACS instance: what the parts that must agree across instances sharing one
 * PostgreSQL database (console users, NAT bindings, connection request claims) need to reach it.
 *
 * The composition root (src/acs/app.ts) opens it through `startTaskRelay` whenever the ACS runs on a
 * PostgreSQL database, and it is registered against the core store object. The NAT part and the
 * console find it with `clusterOf(store)`, so they join the cluster without being handed a URL
 * (the core store redacts its URL and keeps its pool private, on purpose).
 *
 * A link holds:
 * - one `PgNotifier` (one listening connection per instance, whatever the number of channels);
 * - a small pool of its own, opened at first use, for the cluster tables (users, NAT bindings) and
 *   for reading the core `session_locks` table (a read only: the core store owns that table);
 * - the schema of the core store's tables, so that these tables sit beside them.
 */
import pg from 'pg';
import { PgNotifier, type ChannelMap } from '../../store/postgres/notify.ts';
import type { Store, TaskStatus } from '../../store/types.ts';

/** The messages ACS instances exchange. Payloads stay far below the 8000-byte NOTIFY limit. */
export interface ClusterChannels extends ChannelMap {
  /** A task changed on the instance running the device's session (task-relay.ts). */
  'task.changed': { id: string; status: TaskStatus };
  /** The outcome of a claimed connection request (cr-gate.ts). */
  'cr.result': { deviceId: string; owner: string; status: string; transport: string; detail: string; path: string | null };
  /** Please send this UDP datagram from your STUN socket (nat/cluster-relay.ts). */
  'nat.send': { to: string; id: string; data: string; address: string; port: number };
  /** The datagram of request `id` left (or could not leave) the STUN socket of `from`. */
  'nat.sent': { to: string; id: string; ok: boolean; detail: string };
  /** A console watches a device's events (null: the fleet activity summary); a lease (console/server/cluster-feed.ts). */
  'console.watch': { deviceId: string | null };
  /** A watched device's session started or ended on the publishing instance. */
  'console.session': { deviceId: string; phase: 'started' | 'ended'; remoteAddress: string | null; outcome: string | null; sessionId: string | null };
  /** A watched device's inventory changed (a session committed) on the publishing instance. */
  'console.device': { deviceId: string };
  /** The publishing instance's sessions over its last activity interval. */
  'console.activity': { sessionsStarted: number; sessionsEnded: number; activeSessions: number };
}

/** An instance's link to the cluster. */
export interface ClusterLink {
  /** This instance's id on the channels (also the owner prefix of its claims). */
  readonly origin: string;
  readonly notifier: PgNotifier<ClusterChannels>;
  /** Schema of the core store's tables (`public` unless the store was opened with another). */
  readonly schema: string;
  /** The shared pool of the cluster parts (opened at first call, closed with the link). */
  pool(): pg.Pool;
  /** `schema.name`, quoted, for SQL text. */
  table(name: string): string;
  close(): Promise<void>;
}

export interface ClusterLinkOptions {
  /** The PostgreSQL URL the core store uses. */
  url: string;
  /** The core store: the link is registered against it (see `clusterOf`). */
  store: Store;
  /** Channel namespace (default `switchboard`; tests use their own). */
  namespace?: string;
  onError?: (err: Error) => void;
}

/** Few connections: the cluster parts run short statements, and every instance holds its own. */
const CLUSTER_POOL_SIZE = 4;
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 30_000;
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]*$/;

const links = new WeakMap<Store, ClusterLink>();

/**
 * The cluster link registered for this core store.
 * @returns the link, or null when the store is not shared (SQLite, or no link opened).
 */
export function clusterOf(store: Store): ClusterLink | null {
  return links.get(store) ?? null;
}

/** The schema of a PostgresStore (duck-typed, so that this module needs no store import). */
function schemaOf(store: Store): string {
  const s = (store as { schema?: unknown }).schema;
  return typeof s === 'string' && SCHEMA_PATTERN.test(s) ? s : 'public';
}

/**
 * Connects the instance's notifier and registers the link against `options.store`.
 * @returns the link; `close()` unregisters it and closes its connections.
 * @throws StoreError `unavailable` when the database cannot be reached.
 */
export async function openClusterLink(options: ClusterLinkOptions): Promise<ClusterLink> {
  const notifier = await PgNotifier.connect<ClusterChannels>(options.url, {
    namespace: options.namespace,
    onError: options.onError,
    applicationName: 'switchboard-cluster',
  });
  const schema = schemaOf(options.store);
  let pool: pg.Pool | null = null;
  let closed = false;
  const link: ClusterLink = {
    origin: notifier.origin,
    notifier,
    schema,
    pool() {
      if (closed) throw new Error('the cluster link is closed');
      if (pool === null) {
        pool = new pg.Pool({
          connectionString: options.url,
          max: CLUSTER_POOL_SIZE,
          connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
          idleTimeoutMillis: IDLE_TIMEOUT_MS,
          application_name: 'switchboard-cluster',
          options: '-c TimeZone=UTC',
        });
        // An idle connection dropped by the server must not crash the process.
        pool.on('error', (err) => options.onError?.(err));
      }
      return pool;
    },
    table: (name) => `"${schema}"."${name}"`,
    async close() {
      if (closed) return;
      closed = true;
      if (links.get(options.store) === link) links.delete(options.store);
      const p = pool;
      pool = null;
      await Promise.all([p?.end().catch(() => undefined), notifier.close()]);
    },
  };
  links.set(options.store, link);
  return link;
}
