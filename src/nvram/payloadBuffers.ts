/**
 * Scratch buffers that commits encode their payload into. An NVRAM commit needs its payload as bytes only until its
 * write resolves (the file has copied them by then), so a buffer can serve any NVRAM whose commit is not in flight.
 * One NVRAM keeps one for itself by default (a buffer allocated per commit cost more than encoding into it); the
 * printers of a fleet slice share one set, so a process holds as many as commits are in flight at once, not one per
 * printer (~20 KiB each). Only stale bytes of an earlier payload stay in a free buffer, and nothing reads them: a
 * commit hands out only the bytes it just wrote. Never module-level: pass one set per slice (`payloadBuffers`).
 */

/** Buffer growth step. */
const PAGE = 4096;

export class PayloadBuffers {
  private readonly free: Buffer[] = [];

  /** @param keep free buffers kept for reuse; a burst of more commits at once allocates the rest and lets them go. */
  constructor(private readonly keep = 64) {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, got ${keep}`);
  }

  /** A buffer of at least `length` bytes (and at most `limit`, rounded up to a page), the caller's until give(). */
  take(length: number, limit: number): Buffer {
    const buf = this.free.pop();
    if (buf && buf.length >= length) return buf;
    return Buffer.allocUnsafe(Math.max(length, Math.min(limit, (Math.floor(length / PAGE) + 1) * PAGE)));
  }

  /** Back for the next commit; the caller no longer reads or writes it. */
  give(buf: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buf);
  }

  /** Free buffers held now (for tests and memory figures). */
  get held(): number {
    return this.free.length;
  }
}
