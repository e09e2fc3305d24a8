/**
 * One timer queue for many devices.
 *
 * A fleet of 10,000 simulated CPEs would need tens of thousands of `setTimeout` handles if every
 * device armed its own timers (periodic inform, retries, scheduled informs, delayed transfers).
 * Instead every device schedules into one `Scheduler`: a binary min-heap of due times with a single
 * underlying timer armed for the earliest entry. The same interface is implemented by
 * `FakeScheduler`, whose clock only moves when a test calls `advance()`, so back-off and periodic
 * timing can be tested without waiting.
 */

/** Milliseconds since the Unix epoch, as `Date.now()` returns. */
export type EpochMs = number;

/** A handle to cancel a scheduled task. */
export interface TimerHandle {
  readonly at: EpochMs;
  cancel(): void;
}

export interface Scheduler {
  /** Current time in ms since the epoch (real or fake). */
  now(): EpochMs;
  /** Runs `task` at `at` (or as soon as possible if `at` is in the past). Returns a cancel handle. */
  at(at: EpochMs, task: () => void): TimerHandle;
  /** Runs `task` after `delayMs`. Returns a cancel handle. */
  after(delayMs: number, task: () => void): TimerHandle;
  /** Number of tasks still waiting. */
  size(): number;
  /** Stops the underlying timer; pending tasks are dropped. */
  stop(): void;
}

/** Largest delay Node's setTimeout accepts (2^31 - 1 ms, about 24.8 days). */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

class Entry implements TimerHandle {
  cancelled = false;
  constructor(
    readonly at: EpochMs,
    readonly seq: number,
    readonly task: (() => void) | null,
    private readonly owner: HeapScheduler,
  ) {}
  cancel(): void {
    if (!this.cancelled) {
      this.cancelled = true;
      this.owner.onCancel();
    }
  }
}

/** Min-heap ordered by (at, seq): equal times run in the order they were scheduled. */
abstract class HeapScheduler implements Scheduler {
  protected heap: Entry[] = [];
  private seq = 0;
  private cancelledCount = 0;

  abstract now(): EpochMs;
  protected abstract rearm(): void;

  at(at: EpochMs, task: () => void): TimerHandle {
    const e = new Entry(at, this.seq++, task, this);
    this.push(e);
    this.rearm();
    return e;
  }

  after(delayMs: number, task: () => void): TimerHandle {
    return this.at(this.now() + Math.max(0, delayMs), task);
  }

  size(): number {
    return this.heap.length - this.cancelledCount;
  }

  stop(): void {
    this.heap = [];
    this.cancelledCount = 0;
  }

  /** Called by an entry when cancelled; compacts the heap when too many dead entries pile up. */
  onCancel(): void {
    this.cancelledCount++;
    if (this.cancelledCount > 64 && this.cancelledCount > this.heap.length / 2) {
      this.heap = this.heap.filter((e) => !e.cancelled);
      this.cancelledCount = 0;
      for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
    }
  }

  /** Earliest live due time, or undefined when empty. */
  nextDue(): EpochMs | undefined {
    this.dropCancelledTop();
    return this.heap[0]?.at;
  }

  /** Runs every live task due at or before `now`; a throwing task does not stop the others. */
  protected runDue(now: EpochMs): number {
    let ran = 0;
    for (;;) {
      this.dropCancelledTop();
      const top = this.heap[0];
      if (!top || top.at > now) return ran;
      this.pop();
      top.cancelled = true;
      ran++;
      try {
        top.task?.();
      } catch (err) {
        // A device's bug must not stop the timers of the other devices.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  private dropCancelledTop(): void {
    while (this.heap.length && this.heap[0].cancelled) {
      this.pop();
      this.cancelledCount--;
    }
  }

  private push(e: Entry): void {
    this.heap.push(e);
    this.up(this.heap.length - 1);
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length && last) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}

/** The real scheduler: one Node timer, re-armed for the earliest task. */
export class RealScheduler extends HeapScheduler {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private timerAt = Infinity;

  now(): EpochMs {
    return Date.now();
  }

  protected rearm(): void {
    const next = this.nextDue();
    if (next === undefined) {
      this.clear();
      return;
    }
    if (this.timer && this.timerAt <= next) return;
    this.clear();
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, next - Date.now()));
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.runDue(Date.now());
      this.rearm();
    }, delay);
    // Timers alone must not keep the process alive: servers and sockets do that.
    this.timer.unref();
  }

  override stop(): void {
    super.stop();
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }
}

/** A scheduler whose clock only moves when the test says so. */
export class FakeScheduler extends HeapScheduler {
  private clock: EpochMs;

  constructor(start: EpochMs = Date.UTC(2024, 0, 1)) {
    super();
    this.clock = start;
  }

  now(): EpochMs {
    return this.clock;
  }

  protected rearm(): void {
    /* nothing: time moves only in advance() */
  }

  /**
   * Moves the clock forward by `ms`, running every task that falls due, in time order, with the
   * clock set to each task's due time. Returns the number of tasks run.
   */
  advance(ms: number): number {
    const target = this.clock + ms;
    let ran = 0;
    for (;;) {
      const next = this.nextDue();
      if (next === undefined || next > target) break;
      this.clock = Math.max(this.clock, next);
      ran += this.runDue(this.clock);
    }
    this.clock = target;
    return ran;
  }

  /** Moves the clock to the next due task and runs it (and any due at the same time). */
  runNext(): boolean {
    const next = this.nextDue();
    if (next === undefined) return false;
    this.advance(Math.max(0, next - this.clock));
    return true;
  }
}
