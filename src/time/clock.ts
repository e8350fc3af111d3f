/**
 * Time is injected everywhere: the firmware runtime, the Microsoft twin and the scheduler all take a `Clock`.
 * A real clock drives `npm start`; a virtual clock lets tests and scenarios jump hours or months in milliseconds.
 */
export type TimerHandle = { readonly id: number };

export interface Clock {
  /** Milliseconds since the epoch, on this clock. */
  now(): number;
  /** Calls `fn` once when `now()` reaches `at` (immediately-ish if `at` is already past). */
  setTimer(at: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Wall-clock time with Node timers. Long delays are chained because setTimeout caps at ~24.8 days. */
export class RealClock implements Clock {
  private nextId = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private static readonly MAX_DELAY = 2 ** 31 - 1;

  now(): number {
    return Date.now();
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const handle = { id: this.nextId++ };
    const arm = () => {
      const delay = Math.max(0, at - Date.now());
      const t = setTimeout(() => {
        if (at > Date.now()) return arm();
        this.timers.delete(handle.id);
        fn();
      }, Math.min(delay, RealClock.MAX_DELAY));
      t.unref?.();
      this.timers.set(handle.id, t);
    };
    arm();
    return handle;
  }

  clearTimer(handle: TimerHandle): void {
    const t = this.timers.get(handle.id);
    if (t) clearTimeout(t);
    this.timers.delete(handle.id);
  }
}

type VirtualTimer = { id: number; at: number; seq: number; fn: () => void };

/**
 * A clock that only moves when told. `advance(ms)` fires due timers in deadline order (ties in the order they were
 * set), moving `now()` to each timer's deadline before calling it, so a callback sees the time it was due at.
 * Timers set by a callback inside the advanced window fire in the same call. Deterministic: no wall time involved.
 */
/** Where a VirtualClock starts unless told otherwise: Monday 5 January 2026, 08:00 UTC. */
export const VIRTUAL_CLOCK_START = Date.UTC(2026, 0, 5, 8, 0, 0);

export class VirtualClock implements Clock {
  private current: number;
  private nextId = 1;
  private seq = 0;
  private readonly timers = new Map<number, VirtualTimer>();
  /**
   * The pending timers as a binary min-heap on (at, seq), so the next one is found in O(log n): a fleet's slice
   * holds tens of thousands of timers, and scanning them all for each one fired made an hour of virtual time
   * quadratic in the printers. Cleared timers stay in the heap until they come up (or the heap is compacted) and
   * are skipped there: `timers` is what is pending.
   */
  private readonly queue = new TimerHeap();
  private readonly listeners = new Set<(now: number) => void>();

  constructor(start: number = VIRTUAL_CLOCK_START) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    const timer = { id, at, seq: this.seq++, fn };
    this.timers.set(id, timer);
    this.queue.push(timer);
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id);
    if (this.queue.size > 2 * this.timers.size + 64) this.queue.rebuild([...this.timers.values()]);
  }

  /** Number of timers not yet fired (for tests and diagnostics). */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Earliest pending deadline, or null. */
  nextDeadline(): number | null {
    return this.earliestPending()?.at ?? null;
  }

  /** Called after each move of the clock (e.g. a UI showing simulated time). */
  onChange(listener: (now: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Moves time forward by `ms`, firing every timer due on the way. `settle` is awaited after each fired timer so
   * that asynchronous work a timer started (for example an effect talking over a socket) can finish before time
   * moves on; by default it yields to the event loop once.
   */
  async advance(ms: number, settle: () => Promise<void> = yieldToEventLoop): Promise<void> {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance(ms) needs a finite ms >= 0, got ${ms}`);
    await this.advanceTo(this.current + ms, settle);
  }

  async advanceTo(target: number, settle: () => Promise<void> = yieldToEventLoop): Promise<void> {
    if (!Number.isFinite(target)) throw new RangeError(`advanceTo needs a finite time, got ${target}`);
    for (;;) {
      const due = this.earliestDueBy(target);
      if (!due) break;
      this.timers.delete(due.id);
      if (due.at > this.current) this.setNow(due.at);
      due.fn();
      await settle();
    }
    if (target > this.current) this.setNow(target);
  }

  private earliestDueBy(target: number): VirtualTimer | undefined {
    const next = this.earliestPending();
    return next && next.at <= target ? next : undefined;
  }

  /** The heap's top once cleared timers above it are dropped. */
  private earliestPending(): VirtualTimer | undefined {
    for (let top = this.queue.peek(); top; top = this.queue.peek()) {
      if (this.timers.get(top.id) === top) return top;
      this.queue.pop();
    }
    return undefined;
  }

  private setNow(now: number): void {
    this.current = now;
    for (const l of this.listeners) l(now);
  }
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Binary min-heap of timers ordered by deadline, then by the order they were set. */
class TimerHeap {
  private items: VirtualTimer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): VirtualTimer | undefined {
    return this.items[0];
  }

  push(t: VirtualTimer): void {
    const a = this.items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): VirtualTimer | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  rebuild(timers: VirtualTimer[]): void {
    this.items = timers;
    for (let i = (timers.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  private siftDown(i: number): void {
    const a = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let least = i;
      if (l < a.length && before(a[l]!, a[least]!)) least = l;
      if (r < a.length && before(a[r]!, a[least]!)) least = r;
      if (least === i) return;
      [a[i], a[least]] = [a[least]!, a[i]!];
      i = least;
    }
  }
}

function before(x: VirtualTimer, y: VirtualTimer): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}
