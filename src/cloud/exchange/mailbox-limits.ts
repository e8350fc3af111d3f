/**
 * Per-mailbox limits of Exchange Online client submission. Each twin owns its own instances (no module state); time
 * comes from the twin's clock so a virtual clock can walk through the windows.
 */
import type { Clock } from '../../time/clock.ts';

/** At most `limit` authenticated connections per mailbox at once; a slot is held from AUTH until the socket closes. */
export class ConcurrentConnections {
  private readonly open = new Map<string, number>();
  constructor(readonly limit = 3) {}

  /** Takes a slot for `mailbox`, or returns false when all are in use. */
  tryAcquire(mailbox: string): boolean {
    const key = mailbox.toLowerCase();
    const n = this.open.get(key) ?? 0;
    if (n >= this.limit) return false;
    this.open.set(key, n + 1);
    return true;
  }

  release(mailbox: string): void {
    const key = mailbox.toLowerCase();
    const n = (this.open.get(key) ?? 0) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }

  count(mailbox: string): number {
    return this.open.get(mailbox.toLowerCase()) ?? 0;
  }
}

/**
 * Send As refusals in a row. After `limit` consecutive refusals a mailbox is throttled: every submission from it is
 * refused with 5.2.252 until `windowMs` (twin clock) have passed since the last refusal. An accepted message resets the
 * count. Exchange does not publish the window; 15 minutes is the twin's choice.
 */
export class SendAsDenials {
  private readonly state = new Map<string, { streak: number; lastAt: number }>();
  constructor(
    private readonly clock: Clock,
    readonly limit = 3,
    readonly windowMs = 15 * 60_000,
  ) {}

  isThrottled(mailbox: string): boolean {
    const s = this.current(mailbox);
    return !!s && s.streak >= this.limit;
  }

  recordDenial(mailbox: string): void {
    const key = mailbox.toLowerCase();
    const s = this.current(key);
    this.state.set(key, { streak: (s?.streak ?? 0) + 1, lastAt: this.clock.now() });
  }

  recordSuccess(mailbox: string): void {
    this.state.delete(mailbox.toLowerCase());
  }

  /** The streak, forgotten once the window has passed since the last refusal. */
  private current(mailbox: string) {
    const key = mailbox.toLowerCase();
    const s = this.state.get(key);
    if (s && this.clock.now() - s.lastAt >= this.windowMs) {
      this.state.delete(key);
      return undefined;
    }
    return s;
  }
}

/** Recipients a mailbox has submitted to over the last 24 hours (twin clock); 10,000 is Exchange Online's limit. */
export class DailyRecipientQuota {
  private readonly sent = new Map<string, { at: number; recipients: number }[]>();
  constructor(
    private readonly clock: Clock,
    readonly limit = 10_000,
    readonly windowMs = 24 * 60 * 60_000,
  ) {}

  /** Whether `more` further recipients still fit within the rolling day. */
  allows(mailbox: string, more: number): boolean {
    return this.used(mailbox) + more <= this.limit;
  }

  record(mailbox: string, recipients: number): void {
    const key = mailbox.toLowerCase();
    const log = this.sent.get(key) ?? [];
    log.push({ at: this.clock.now(), recipients });
    this.sent.set(key, log);
  }

  used(mailbox: string): number {
    const key = mailbox.toLowerCase();
    const since = this.clock.now() - this.windowMs;
    const log = (this.sent.get(key) ?? []).filter((e) => e.at > since);
    this.sent.set(key, log);
    return log.reduce((n, e) => n + e.recipients, 0);
  }
}
