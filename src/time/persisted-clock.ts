/**
 * A virtual clock that survives a process restart, as a printer's battery-backed clock survives a power cut: its
 * time is kept in a small file in the state directory and the next start resumes from it. Without this, a restarted
 * simulator ran virtual time backwards (an access token that had expired before a SIGKILL was valid again).
 *
 * The file records a mark at or ahead of the clock (now rounded up to the next MARK_STEP_MS), rewritten whenever
 * the clock passes it: a killed process resumes no earlier than it died, at most MARK_STEP_MS later (time that
 * passed "while off"), and a long scenario writes the file once per simulated MARK_STEP_MS at most, not per timer.
 * Written with rename (atomic for a process kill); not fsync'ed, so a host power loss may lose the last mark.
 * An RTC that resets is a fault to inject on purpose, not this default.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { VirtualClock } from './clock.ts';

export const MARK_STEP_MS = 60_000;

export interface PersistedClock {
  clock: VirtualClock;
  /** Where the clock resumed from: the file's mark, or null when it started at its origin (no or unreadable file). */
  resumedFrom: number | null;
  /** Why the file was not used, when it existed but could not be read. */
  problem: string | null;
  stop(): void;
}

export function persistedVirtualClock(file: string): PersistedClock {
  let resumedFrom: number | null = null;
  let problem: string | null = null;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { now?: unknown };
    if (typeof parsed.now === 'number' && Number.isSafeInteger(parsed.now) && parsed.now > 0) resumedFrom = parsed.now;
    else problem = `${file} holds no valid time`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problem = `${file} unreadable (${(err as Error).message})`;
  }
  const clock = resumedFrom === null ? new VirtualClock() : new VirtualClock(resumedFrom);
  let mark = -Infinity;
  const write = (now: number) => {
    mark = Math.ceil((now + 1) / MARK_STEP_MS) * MARK_STEP_MS;
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify({ now: mark }) + '\n', { mode: 0o600 });
    renameSync(tmp, file);
  };
  write(clock.now());
  const unsubscribe = clock.onChange((now) => {
    if (now >= mark) write(now);
  });
  return { clock, resumedFrom, problem, stop: unsubscribe };
}
