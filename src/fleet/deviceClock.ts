/**
 * One device's view of the fleet's shared virtual clock. Every device of a slice (and the slice's twin) lives on the
 * same `VirtualClock`; this view only notes which device a fired timer belonged to, so that moving the shared clock
 * can wait for the devices that actually had work (instead of every device of the slice after every timer).
 * It is deliberately not a VirtualClock: the fleet moves time itself (all devices at once), never one simulator.
 */
import type { Clock, TimerHandle, VirtualClock } from '../time/clock.ts';

export class DeviceClock implements Clock {
  constructor(
    private readonly shared: VirtualClock,
    private readonly onFire: () => void,
  ) {}

  now(): number {
    return this.shared.now();
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    return this.shared.setTimer(at, () => {
      this.onFire();
      fn();
    });
  }

  clearTimer(handle: TimerHandle): void {
    this.shared.clearTimer(handle);
  }
}
