/**
 * Which task events came from another instance. The task relay (task-relay.ts) re-emits task
 * changes made elsewhere on the local `events`, so that waits, the API's event stream and the
 * console see them; listeners whose reaction must happen once in the whole cluster (webhooks:
 * `task.done`, `task.failed`, `fault`) react only to the instance that made the change, and skip
 * the relayed copies with `isRelayedTask`.
 */
import type { Task } from '../../store/types.ts';

const relayedTasks = new WeakSet<Task>();

/** Marks a task object as re-emitted from another instance. Returns the same object. */
export function markRelayed(task: Task): Task {
  relayedTasks.add(task);
  return task;
}

/** Whether this task object was emitted by the relay (the change happened on another instance). */
export function isRelayedTask(task: Task): boolean {
  return relayedTasks.has(task);
}
