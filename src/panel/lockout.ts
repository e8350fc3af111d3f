/**
 * Login lockout, counted *before* the password is checked (threat model: docs/panel.md, "Login security").
 *
 * A password check takes ~70 ms of scrypt, so counting failures after it let a burst of parallel guesses all get
 * verified before the first failure was counted. Here every check first takes an attempt slot: a source address may
 * have at most MAX_FAILURES failures plus checks in flight, so no burst ever verifies more than the limit. Slots are
 * per source address, so an attacker locks out only the addresses it guesses from, never the administrator's desk.
 * A global ceiling (GLOBAL_MAX_FAILURES across all addresses in one lock period) stops a guesser that hops
 * addresses; it spares loopback, the printer's own console, which is the path the administrator always keeps.
 */
import type { Clock } from '../time/clock.ts';

export const MAX_FAILURES = 5;
export const LOCK_MS = 5 * 60_000;
/** Failures from all non-loopback addresses together that lock every non-loopback address for LOCK_MS. */
export const GLOBAL_MAX_FAILURES = 50;
/** Addresses remembered at most (oldest forgotten first), so a flood of sources cannot grow memory without bound. */
export const MAX_TRACKED_ADDRESSES = 10_000;

interface AddressRecord {
  failures: number;
  inFlight: number;
  lockedUntil: number;
}

/** A taken attempt slot: exactly one of its methods must be called when the check is done. */
export interface AttemptSlot {
  succeeded(): void;
  failed(): void;
}

const isLoopback = (address: string) =>
  address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.') || address === 'localhost';

export class LoginLockout {
  private readonly byAddress = new Map<string, AddressRecord>();
  private globalFailures = 0;
  private globalWindowStart = 0;
  private globalLockedUntil = 0;
  /** Password checks actually run (the counter the burst test reads). */
  verifications = 0;

  constructor(private readonly clock: () => Clock) {}

  /** Milliseconds left of the lockout that applies to `address`, or 0. */
  remainingMs(address: string): number {
    const now = this.clock().now();
    const own = this.byAddress.get(address)?.lockedUntil ?? 0;
    const global = isLoopback(address) ? 0 : this.globalLockedUntil;
    return Math.max(0, own - now, global - now);
  }

  /**
   * Takes a slot for one password check from `address`, or returns null when the address (or, off loopback, the
   * whole panel) is locked or already has as many failures plus checks in flight as the limit allows.
   */
  tryBegin(address: string): AttemptSlot | null {
    if (this.remainingMs(address) > 0) return null;
    const record = this.record(address);
    if (record.failures + record.inFlight >= MAX_FAILURES) return null;
    record.inFlight++;
    this.verifications++;
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      record.inFlight--;
      if (ok) record.failures = 0;
      else this.fail(address, record);
    };
    return { succeeded: () => finish(true), failed: () => finish(false) };
  }

  /** Forgets every lock and count (a password change by the administrator). */
  reset(): void {
    this.byAddress.clear();
    this.globalFailures = 0;
    this.globalLockedUntil = 0;
  }

  private fail(address: string, record: AddressRecord): void {
    const now = this.clock().now();
    record.failures++;
    if (record.failures >= MAX_FAILURES) {
      record.lockedUntil = now + LOCK_MS;
      record.failures = 0;
    }
    if (isLoopback(address)) return;
    if (now - this.globalWindowStart >= LOCK_MS) {
      this.globalWindowStart = now;
      this.globalFailures = 0;
    }
    this.globalFailures++;
    if (this.globalFailures >= GLOBAL_MAX_FAILURES) {
      this.globalLockedUntil = now + LOCK_MS;
      this.globalFailures = 0;
    }
  }

  private record(address: string): AddressRecord {
    let record = this.byAddress.get(address);
    if (record) {
      // An expired lock starts a fresh count.
      if (record.lockedUntil !== 0 && record.lockedUntil <= this.clock().now()) record.lockedUntil = 0;
      return record;
    }
    if (this.byAddress.size >= MAX_TRACKED_ADDRESSES) {
      for (const [key, r] of this.byAddress) {
        if (r.inFlight === 0) {
          this.byAddress.delete(key);
          break;
        }
      }
    }
    record = { failures: 0, inFlight: 0, lockedUntil: 0 };
    this.byAddress.set(address, record);
    return record;
  }
}
