/**
 * Login lockout: after MAX_FAILURES wrong passwords in a row (form or HTTP Basic alike), every login is refused for
 * LOCK_MS of device-clock time, the right password included. One administrator account, so the counter is per panel
 * (not per client address): the rate limit on the login route handles floods, this handles patient guessing.
 */
import type { Clock } from '../time/clock.ts';

export const MAX_FAILURES = 5;
export const LOCK_MS = 5 * 60_000;

export class LoginLockout {
  private failures = 0;
  private lockedUntil = 0;

  constructor(private readonly clock: () => Clock) {}

  /** Milliseconds left of a lockout, or 0. */
  remainingMs(): number {
    return Math.max(0, this.lockedUntil - this.clock().now());
  }

  recordFailure(): void {
    this.failures++;
    if (this.failures >= MAX_FAILURES) {
      this.lockedUntil = this.clock().now() + LOCK_MS;
      this.failures = 0;
    }
  }

  recordSuccess(): void {
    this.failures = 0;
  }
}
