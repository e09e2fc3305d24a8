/**
 * The listener list behind `ProvisioningStore.subscribe`, shared by the backends: the SQLite store
 * tells its own listeners, the PostgreSQL store tells them what arrives over LISTEN/NOTIFY.
 */
import type { ProvisioningChange, ProvisioningChangeListener } from './types.ts';

/** Holds the listeners of one store instance. */
export class ChangeListeners {
  private readonly listeners = new Set<ProvisioningChangeListener>();

  constructor(private readonly onListenerError?: (err: Error) => void) {}

  /** Adds a listener; returns the function that removes it. */
  add(listener: ProvisioningChangeListener): () => void {
    // A wrapper per subscription: the same function subscribed twice is two subscriptions.
    const own: ProvisioningChangeListener = (c) => listener(c);
    this.listeners.add(own);
    return () => void this.listeners.delete(own);
  }

  get size(): number {
    return this.listeners.size;
  }

  /** Calls every listener with a copy of the change; a listener that throws is reported, never rethrown. */
  emit(change: ProvisioningChange): void {
    for (const l of [...this.listeners]) {
      try {
        l(change.id === undefined ? { kind: change.kind } : { kind: change.kind, id: change.id });
      } catch (err) {
        this.onListenerError?.(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
