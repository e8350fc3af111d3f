/**
 * Storage faults at run time: what the device does when its disk fails under the NVRAM or the spool (full,
 * read-only, I/O error). The rule, in one place:
 *  - a failed write changed nothing (the NVRAM keeps the committed content, the spool refuses the job), and the
 *    fault is reported at once: a typed error with the reason to whoever asked (the submitter, the panel), the
 *    fault in the device status, a line in the process log;
 *  - work that came from inside the device (an outcome of the network, a deadline, the job pump, a boot step) and
 *    could not be committed is kept and retried on the device's clock with a growing delay; the first commit that
 *    works again (a retry or any other one) writes the fault and its end into the event log and replays the rest;
 *  - a spool fault ends with the next spool call of the failed kind that works, or with the probe (a small file
 *    written and read back while nothing else touches the spool). A write that works says nothing of a read fault:
 *    ended by one, a disk that cannot read would end and begin its fault again at one instant for ever;
 *  - the retry's delay grows while anything still waits for the disk, and starts again from the shortest once
 *    nothing does.
 * No state outside the object: one per boot of the runtime.
 */
import type { Clock, TimerHandle } from '../time/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { EventLogEntry } from '../nvram/schema.ts';
import { NvramError } from '../nvram/errors.ts';

export type StorageArea = 'nvram' | 'spool';
/** Stable reasons (the device status, the event log, the error a refused request gets). */
export type StorageFaultReason = 'storage-full' | 'storage-read-only' | 'nvram-write-failed' | 'spool-write-failed' | 'spool-read-failed';
export type StorageOperation = 'read' | 'write';

export interface StorageFault {
  reason: StorageFaultReason;
  area: StorageArea;
  operation: StorageOperation;
  /** The errno code the disk answered (ENOSPC, EROFS, EIO, …). */
  code: string;
  message: string;
  /** Clock time of the first failure of this fault. */
  since: number;
  /** Failed calls since then. */
  failures: number;
  /** When the device tries again (null: nothing is waiting for the disk). */
  retryAt: number | null;
}

/** Retry delays while the disk fails: quick at first (a one-off error), then once a minute. */
export const STORAGE_RETRY_DELAYS_MS = [1_000, 5_000, 15_000, 60_000] as const;

/** A request refused because the disk failed; nothing was changed. `code` is the wire reason. */
export class StorageFaultError extends Error {
  readonly code: StorageFaultReason;
  readonly errno: string;
  readonly area: StorageArea;
  constructor(fault: Pick<StorageFault, 'reason' | 'area' | 'operation' | 'code' | 'message'>, options?: { cause?: unknown }) {
    super(`${what(fault)} failed (${fault.reason}): ${fault.message}; nothing was changed`, options);
    this.name = 'StorageFaultError';
    this.code = fault.reason;
    this.errno = fault.code;
    this.area = fault.area;
  }
}

/** An error from the disk (node:fs shape: a string `code` such as ENOSPC), not one of the NVRAM's own refusals. */
export function isDiskError(err: unknown): err is NodeJS.ErrnoException {
  if (err instanceof NvramError || !(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

export function faultReason(code: string, area: StorageArea, operation: StorageOperation = 'write'): StorageFaultReason {
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'storage-full';
  if (code === 'EROFS') return 'storage-read-only';
  if (area === 'nvram') return 'nvram-write-failed'; // the NVRAM reads only at boot, where it fails the boot
  return operation === 'read' ? 'spool-read-failed' : 'spool-write-failed';
}

const what = (f: Pick<StorageFault, 'area' | 'operation'>) => `${f.area === 'nvram' ? 'NVRAM' : 'spool'} ${f.operation}`;

type Work = () => Promise<unknown>;

export interface StorageFaultsOptions {
  clock: Clock;
  log: Logger;
  /** Runs work in the device's queue. */
  enqueue(fn: () => Promise<unknown>): Promise<unknown>;
  /** Writes a small file to the spool, reads it back and removes it: tells whether the spool's disk works again. */
  probeSpool(): Promise<void>;
  /** One NVRAM commit that carries nothing but the event-log lines (called when only they are waiting). */
  commitLog(): Promise<void>;
}

export class StorageFaults {
  private readonly faults: Record<StorageArea, StorageFault | null> = { nvram: null, spool: null };
  /** Event-log lines waiting for the next commit that works. */
  private unlogged: EventLogEntry[] = [];
  private readonly deferred = new Map<string, Work>();
  /** Clean-ups owed once a commit has certainly overwritten the bank a failed commit may have reached. */
  private cleanups: Work[] = [];
  private timer: TimerHandle | null = null;
  private attempt = 0;
  private stopped = false;

  constructor(private readonly o: StorageFaultsOptions) {}

  /** The fault the status shows (the NVRAM's first: it holds the device's state), or null. */
  current(): StorageFault | null {
    const f = this.faults.nvram ?? this.faults.spool;
    return f ? { ...f } : null;
  }

  faulty(area: StorageArea): boolean {
    return this.faults[area] !== null;
  }

  /** Deferred work by key (tests, status). */
  waiting(): string[] {
    return [...this.deferred.keys()];
  }

  /**
   * A call of `area` failed with `err`. A disk error becomes (or adds to) the area's fault and comes back as a
   * StorageFaultError; anything else is returned unchanged.
   */
  failed(err: unknown, area: StorageArea, operation: StorageOperation = 'write'): unknown {
    if (err instanceof StorageFaultError) return err;
    if (!isDiskError(err)) return err;
    const code = err.code!;
    const reason = faultReason(code, area, operation);
    const f = this.faults[area];
    if (f && f.reason === reason) f.failures++;
    else {
      this.faults[area] = { reason, area, operation, code, message: err.message, since: this.o.clock.now(), failures: f ? f.failures + 1 : 1, retryAt: f?.retryAt ?? null };
      this.o.log.error({ area, operation, code, reason, error: err.message }, `storage fault: ${area} ${operation} failed`);
      // A spool fault goes into the event log while it lasts, where the NVRAM can take it (an NVRAM fault is told
      // by the commit that ends it).
      if (area === 'spool') this.unlogged.push(faultLine(this.faults.spool!));
    }
    const fault = this.faults[area]!;
    // The event log must learn of it, and the bank a failed commit may have torn must be rewritten: a commit of the
    // log lines is always owed once the disk works again.
    if (area === 'nvram') this.defer('log', () => this.o.commitLog());
    else {
      this.defer('spool-probe', () => this.o.probeSpool());
      if (this.unlogged.length > 0 && !this.faults.nvram) this.defer('log', () => this.o.commitLog());
    }
    return new StorageFaultError(fault, { cause: err });
  }

  /** Keeps work that could not be committed; it runs again when the retry is due or the disk is known to work. */
  defer(key: string, work: Work): void {
    if (this.stopped) return;
    this.deferred.set(key, work);
    // A retry already due keeps its time: more work waiting must not push it later.
    if (!this.timer) this.arm(this.o.clock.now() + STORAGE_RETRY_DELAYS_MS[Math.min(this.attempt, STORAGE_RETRY_DELAYS_MS.length - 1)]!);
  }

  /**
   * For the next NVRAM commit's draft: the event-log lines of faults that ended (or are waiting to be told). The
   * commit calls `committed()` when it worked; when it failed the lines stay for the next one.
   */
  logLines(): EventLogEntry[] {
    const now = this.o.clock.now();
    const lines = [...this.unlogged];
    const f = this.faults.nvram;
    if (f) {
      lines.push(faultLine(f));
      lines.push(recoveredLine(f, now));
    }
    return lines;
  }

  /** Runs `work` (best effort) after the next NVRAM commit that works. */
  afterNextCommit(work: Work): void {
    if (!this.stopped) this.cleanups.push(work);
  }

  /** An NVRAM commit worked: the NVRAM fault is over, its lines are written, the deferred work runs now. */
  committed(): void {
    const was = this.faults.nvram;
    this.unlogged = [];
    // That commit went to the bank a failed commit was writing (the store writes the non-current bank until a
    // write succeeds): whatever the failed one left there is gone now.
    for (const work of this.cleanups.splice(0)) void work().catch(() => undefined);
    if (!was) return;
    this.faults.nvram = null;
    this.o.log.warn({ area: 'nvram', code: was.code, failures: was.failures }, 'storage fault over: NVRAM writable again');
    this.deferred.delete('log');
    this.attempt = 0;
    if (this.deferred.size > 0) this.arm(this.o.clock.now());
  }

  /**
   * A spool call of `operation` worked (none named: the probe, which writes and reads back): a fault of that kind is
   * over, told in the event log with the next commit (one is owed at the retry's pace if nothing else commits).
   */
  spoolWorked(operation?: StorageOperation): void {
    const was = this.faults.spool;
    if (!was || (operation !== undefined && operation !== was.operation)) return;
    this.faults.spool = null;
    this.deferred.delete('spool-probe');
    this.o.log.warn({ area: 'spool', operation: was.operation, code: was.code, failures: was.failures }, `storage fault over: spool ${was.operation === 'read' ? 'readable' : 'writable'} again`);
    this.unlogged.push(recoveredLine(was, this.o.clock.now())); // its storage.fault line went in when it began
    if (!this.faults.nvram) this.defer('log', () => this.o.commitLog());
  }

  /** Power off: no more retries. */
  stop(): void {
    this.stopped = true;
    if (this.timer) this.o.clock.clearTimer(this.timer);
    this.timer = null;
    this.deferred.clear();
  }

  private arm(at: number): void {
    if (this.stopped) return;
    for (const f of [this.faults.nvram, this.faults.spool]) if (f) f.retryAt = at;
    if (this.timer) this.o.clock.clearTimer(this.timer);
    this.timer = this.o.clock.setTimer(at, () => {
      this.timer = null;
      void this.o.enqueue(() => this.retry());
    });
  }

  /**
   * One round: each deferred work once, the spool probe first, then the log commit (so that a spool recovery is told
   * in the same round), then the rest in the order kept. Work deferred during the round that has not run in it (the
   * log commit a recovery owes) runs in it too; what fails on the disk again is kept for the next round.
   */
  private async retry(): Promise<void> {
    if (this.stopped) return;
    this.attempt++;
    const rank = (key: string) => (key === 'spool-probe' ? 0 : key === 'log' ? 1 : 2);
    const tried = new Set<string>();
    for (;;) {
      const key = [...this.deferred.keys()].filter((k) => !tried.has(k)).sort((a, b) => rank(a) - rank(b))[0];
      if (key === undefined || this.stopped) break;
      tried.add(key);
      const work = this.deferred.get(key)!;
      this.deferred.delete(key);
      try {
        await work();
      } catch (err) {
        const failed = err instanceof StorageFaultError ? err : this.failed(err, key === 'spool-probe' ? 'spool' : 'nvram');
        if (!(failed instanceof StorageFaultError)) {
          this.o.log.error({ key, err }, 'deferred work failed');
          continue;
        }
        this.defer(key, work);
        // The disk still fails: the rest waits for the next retry rather than failing once more each.
        if (failed.area === 'nvram') break;
      }
    }
    if (this.deferred.size > 0) return;
    this.attempt = 0; // nothing waits for the disk: the next fault starts again from the shortest delay
    for (const f of [this.faults.nvram, this.faults.spool]) if (f) f.retryAt = null;
  }
}

function faultLine(f: StorageFault): EventLogEntry {
  return { at: f.since, kind: 'storage.fault', message: `${what(f)} failed (${f.reason}, ${f.code}): ${f.message}`, data: { area: f.area, operation: f.operation, reason: f.reason, code: f.code } };
}

function recoveredLine(f: StorageFault, now: number): EventLogEntry {
  return {
    at: now,
    kind: 'storage.recovered',
    message: `${f.area === 'nvram' ? 'NVRAM' : 'spool'} works again after ${f.failures} failed call(s) (${f.code})`,
    data: { area: f.area, reason: f.reason, code: f.code, failures: f.failures, since: f.since },
  };
}
