/**
 * Raises the statechart's deadlines (kept in context) as events on the injected clock. After every transition the
 * runtime calls `arm` with the deadlines the current state listens for (deadlines.ts); a deadline that already passed (the device
 * was off, or the clock jumped) is raised at once rather than waiting for the clock to move again.
 */
import type { Clock, TimerHandle } from '../time/clock.ts';
import type { DeadlineEvent, Deadlines } from './deadlines.ts';

export class Scheduler {
  private readonly armed = new Map<DeadlineEvent, { at: number; handle: TimerHandle | null; cancelled: boolean }>();

  constructor(
    private readonly clock: Clock,
    private readonly raise: (event: DeadlineEvent) => void,
  ) {}

  arm(deadlines: Deadlines): void {
    for (const [event, entry] of this.armed) {
      if (deadlines[event] !== entry.at) this.disarm(event);
    }
    for (const [event, at] of Object.entries(deadlines) as [DeadlineEvent, number][]) {
      if (this.armed.has(event)) continue;
      const entry = { at, handle: null as TimerHandle | null, cancelled: false };
      this.armed.set(event, entry);
      const fire = () => {
        if (entry.cancelled) return;
        this.armed.delete(event);
        this.raise(event);
      };
      if (at <= this.clock.now()) queueMicrotask(fire);
      else entry.handle = this.clock.setTimer(at, fire);
    }
  }

  /** Pending deadlines, for status pages and tests. */
  pending(): Deadlines {
    return Object.fromEntries([...this.armed].map(([e, v]) => [e, v.at]));
  }

  stop(): void {
    for (const event of [...this.armed.keys()]) this.disarm(event);
  }

  private disarm(event: DeadlineEvent): void {
    const entry = this.armed.get(event);
    if (!entry) return;
    entry.cancelled = true;
    if (entry.handle) this.clock.clearTimer(entry.handle);
    this.armed.delete(event);
  }
}
