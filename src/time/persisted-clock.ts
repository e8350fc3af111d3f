/**
 * A virtual clock that survives a process restart, as a printer's battery-backed clock survives a power cut: its
 * time is kept in a small file in the state directory and the next start resumes from it. Without this, a restarted
 * simulator ran virtual time backwards (an access token that had expired before a SIGKILL was valid again).
 *
 * The file records a mark at or ahead of the clock (now rounded up to the next MARK_STEP_MS), rewritten whenever
 * the clock passes it: a killed process resumes no earlier than it died, at most MARK_STEP_MS later (time that
 * passed "while off"), and a long scenario writes the file once per simulated MARK_STEP_MS at most, not per timer.
 * Written in place through one descriptor kept open: a fixed-width record at offset 0, one pwrite per mark (a soak
 * crosses a mark on every simulated hour; open + write + close + rename cost ~0.45 ms of main-thread time each on
 * the lab machine, a pwrite ~5 µs). A process kill cannot tear a 32-byte write; not fsync'ed, so a host power loss
 * may lose the last mark (a record within one sector is written whole or not at all).
 * An RTC that resets is a fault to inject on purpose, not this default.
 */
import { closeSync, constants as fsc, fchmodSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { PRIVATE_FILE_MODE } from '../util/private-fs.ts';
import { VirtualClock } from './clock.ts';

export const MARK_STEP_MS = 60_000;
/** Every record is padded to this many bytes, so an overwrite at offset 0 leaves no tail of a longer one. */
const RECORD_BYTES = 32;

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
  // Not truncated on open: a kill before the first write must leave the old mark, not an empty file.
  const fd = openSync(file, fsc.O_RDWR | fsc.O_CREAT, PRIVATE_FILE_MODE);
  fchmodSync(fd, PRIVATE_FILE_MODE); // a file that existed keeps its old mode through open(): set it
  const write = (now: number) => {
    mark = Math.ceil((now + 1) / MARK_STEP_MS) * MARK_STEP_MS;
    // JSON.parse ignores the padding; 16 digits of a safe integer fit with room to spare.
    writeSync(fd, `${JSON.stringify({ now: mark })}`.padEnd(RECORD_BYTES - 1) + '\n', 0);
  };
  write(clock.now());
  ftruncateSync(fd, RECORD_BYTES); // the tail of a longer (damaged) file would make the next read fail
  const unsubscribe = clock.onChange((now) => {
    if (now >= mark) write(now);
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    unsubscribe();
    closeSync(fd);
  };
  return { clock, resumedFrom, problem, stop };
}
