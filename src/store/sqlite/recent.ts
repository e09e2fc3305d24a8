/**
 * A bounded map that forgets its least recently remembered entry first: the SQLite store keeps the
 * rows it has just read here so that the session commit that follows does not read them again
 * (see `SqliteStore` in index.ts for when an entry is valid).
 */
export class RecentMap<K, V> {
  private readonly entries = new Map<K, V>();

  /** @param capacity entries kept at most (a positive integer). */
  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** The entry, if remembered (does not make it more recent). */
  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Removes the entry and returns it (undefined when none). */
  take(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) this.entries.delete(key);
    return value;
  }

  /** Remembers `value` as the most recent entry, forgetting the oldest one when full. */
  set(key: K, value: V): void {
    if (!this.entries.delete(key) && this.entries.size >= this.capacity) {
      // Map iterates in insertion order: the first key is the least recently remembered
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, value);
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
