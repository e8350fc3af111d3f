/**
 * Where the model-based suite's wall time goes: waiting on the system under test (HTTP to the panel, twin control
 * calls, clock advances and the settling after them, idle waits, starting and closing a system) against everything
 * else (graph building, path generation, model prediction, assertions, NVRAM inspection). Measured from the test's
 * side with performance.now(): this is a stopwatch on the harness, not time the device or a virtual clock sees.
 *
 * Each test file keeps one SystemTime; at the end it writes its part to reports/model-timing/, and the parts of the
 * same vitest run are summed into reports/model-timing.json `{ wallMs, systemMs, outsideMs }` (files run in parallel
 * workers, so wallMs is the sum of the files' wall times, not the elapsed time of the run).
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Wall time spent inside the system under test. Overlapping waits (nested or concurrent) count once. */
export class SystemTime {
  private depth = 0;
  private enteredAt = 0;
  private accumulated = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Runs `work` as time spent waiting on the system. */
  async inside<T>(work: () => Promise<T> | T): Promise<T> {
    this.enter();
    try {
      return await work();
    } finally {
      this.leave();
    }
  }

  /** Milliseconds spent inside so far (a wait still running counts up to now). */
  get ms(): number {
    return this.accumulated + (this.depth > 0 ? this.now() - this.enteredAt : 0);
  }

  private enter(): void {
    if (this.depth++ === 0) this.enteredAt = this.now();
  }

  private leave(): void {
    if (--this.depth === 0) this.accumulated += this.now() - this.enteredAt;
  }
}

export interface ModelTiming {
  wallMs: number;
  systemMs: number;
  outsideMs: number;
}

interface TimingPart extends ModelTiming {
  /** Which vitest run wrote it: the parts of one run are summed, older ones ignored. */
  run: string;
  file: string;
}

export const MODEL_TIMING_FILE = fileURLToPath(new URL('../../reports/model-timing.json', import.meta.url));
export const MODEL_TIMING_PARTS_DIR = fileURLToPath(new URL('../../reports/model-timing/', import.meta.url));

const round = (ms: number) => Math.round(ms * 10) / 10;

export function timingOf(wallMs: number, systemMs: number): ModelTiming {
  const system = Math.min(systemMs, wallMs);
  return { wallMs: round(wallMs), systemMs: round(system), outsideMs: round(wallMs - system) };
}

/** Sums parts of one run (the others are left out). */
export function sumParts(parts: readonly TimingPart[], run: string): ModelTiming & { files: string[] } {
  const mine = parts.filter((p) => p.run === run);
  const wall = mine.reduce((s, p) => s + p.wallMs, 0);
  const system = mine.reduce((s, p) => s + p.systemMs, 0);
  return { ...timingOf(wall, system), files: mine.map((p) => p.file).sort() };
}

/** The vitest run a worker belongs to: its parent process (vitest's main process with the default forks pool). */
export const currentRun = (): string => process.env.MODEL_TIMING_RUN ?? `ppid-${process.ppid}`;

/**
 * Writes this file's part and rewrites the run's total from every part of the same run written so far (the last
 * file to finish leaves the complete sum). Workers finish concurrently, so the read-sum-write is done under a lock
 * directory (mkdir is atomic); writes go through a temporary name so a reader never sees half a file.
 */
export async function recordTimingPart(
  file: string,
  timing: ModelTiming,
  run: string = currentRun(),
  dirs: { parts: string; total: string } = { parts: MODEL_TIMING_PARTS_DIR, total: MODEL_TIMING_FILE },
): Promise<ModelTiming> {
  await mkdir(dirs.parts, { recursive: true });
  const part: TimingPart = { ...timing, run, file };
  await atomicWrite(path.join(dirs.parts, `${file}.json`), part);
  return withLock(path.join(dirs.parts, '.lock'), async () => {
    const parts: TimingPart[] = [];
    for (const name of await readdir(dirs.parts)) {
      if (name.endsWith('.json')) parts.push(JSON.parse(await readFile(path.join(dirs.parts, name), 'utf8')) as TimingPart);
    }
    const total = sumParts(parts, run);
    await atomicWrite(dirs.total, total);
    return total;
  });
}

async function withLock<T>(lockDir: string, work: () => Promise<T>): Promise<T> {
  const giveUpAt = performance.now() + 10_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A worker killed while holding it must not block every later run for good.
      if (performance.now() > giveUpAt) await rm(lockDir, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 20));
    }
  }
  try {
    return await work();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function atomicWrite(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, file);
}
