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
  private readonly listeners = new Set<(now: number) => void>();

  constructor(start: number = VIRTUAL_CLOCK_START) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at, seq: this.seq++, fn });
    return { id };
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle.id);
  }

  /** Number of timers not yet fired (for tests and diagnostics). */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Earliest pending deadline, or null. */
  nextDeadline(): number | null {
    let best: number | null = null;
    for (const t of this.timers.values()) if (best === null || t.at < best) best = t.at;
    return best;
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
    let best: VirtualTimer | undefined;
    for (const t of this.timers.values()) {
      if (t.at > target) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private setNow(now: number): void {
    this.current = now;
    for (const l of this.listeners) l(now);
  }
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
