/**
 * Task events across ACS instances sharing one PostgreSQL database (issue #8 part 2).
 *
 * A session runs on whichever instance the device's HTTP connection landed on, so the task status
 * changes it makes are emitted on THAT instance's `events`. The relay publishes every locally
 * emitted task change on a LISTEN/NOTIFY channel (`switchboard_task.changed`, id + status only: the
 * payload limit is 8000 bytes) and, for messages of other instances, reads the task back from the
 * database and emits it on the local `events` — so `waitForTask`, the API's event stream and the
 * provisioning listeners of instance A see what instance B did.
 *
 * The relay also opens the instance's cluster link (context.ts), which the console's users, the NAT
 * bindings and the connection request claims use.
 *
 * NOTIFY is not queued for a listener that is away (reconnect): `waitForTask` therefore also polls
 * the database at a slow period when the store is shared (see app.ts), so no wait hangs on a lost
 * message.
 */
import type { EventEmitter } from 'node:events';
import type { Store, Task } from '../../store/types.ts';
import type { AcsEventMap } from '../app.ts';
import { openClusterLink, type ClusterLink } from './context.ts';
import { isRelayedTask, markRelayed } from './relayed.ts';

export type { ClusterChannels, ClusterLink } from './context.ts';

export interface TaskRelayOptions {
  /** The PostgreSQL URL the store uses. */
  url: string;
  store: Store;
  /** The instance's event emitter (`AcsControl.events`). */
  events: EventEmitter<AcsEventMap>;
  /** Channel namespace (default `switchboard`; tests use their own so runs do not hear each other). */
  namespace?: string;
  onError?: (err: Error) => void;
}

/** A running relay; `close()` stops it. */
export interface TaskRelay {
  /** This instance's id on the channel. */
  readonly origin: string;
  /**
   * The instance's cluster link (registered against the store: the console and the NAT part find
   * it with `clusterOf(store)`); closed with the relay.
   */
  readonly link: ClusterLink;
  close(): Promise<void>;
}

/**
 * Connects the relay: subscribes to the channel and starts forwarding local task events.
 * @returns the relay.
 * @throws StoreError `unavailable` when the database cannot be reached.
 */
export async function startTaskRelay(options: TaskRelayOptions): Promise<TaskRelay> {
  const link = await openClusterLink({ url: options.url, store: options.store, namespace: options.namespace, onError: options.onError });
  const notifier = link.notifier;
  const report = (err: unknown) => options.onError?.(err instanceof Error ? err : new Error(String(err)));
  const onLocal = (task: Task) => {
    // tasks this relay emitted itself came from elsewhere and must not be published back
    if (isRelayedTask(task)) return;
    notifier.publish('task.changed', { id: task.id, status: task.status }).catch(report);
  };
  let closed = false;
  const unsubscribe = await notifier.subscribe('task.changed', (payload, meta) => {
    if (meta.fromSelf || closed) return;
    options.store.getTask(payload.id).then((task) => {
      if (!task || closed) return;
      options.events.emit('task', markRelayed(task));
    }, report);
  });
  options.events.on('task', onLocal);
  return {
    origin: notifier.origin,
    link,
    async close() {
      if (closed) return;
      closed = true;
      options.events.off('task', onLocal);
      await unsubscribe().catch(() => undefined);
      await link.close();
    },
  };
}
