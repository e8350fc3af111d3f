/** The model suite's stopwatch (src/mbt/timing.ts): overlapping waits count once, parts of one run are summed. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { recordTimingPart, SystemTime, timingOf } from '../../src/mbt/timing.ts';

/** A hand-moved stopwatch (a fake clock for the meter, not the device's Clock). */
function fakeNow() {
  let t = 0;
  return { now: () => t, move: (ms: number) => void (t += ms) };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('SystemTime', () => {
  it('counts the time inside, once for nested and concurrent waits, and not the time between', async () => {
    const clock = fakeNow();
    const timing = new SystemTime(clock.now);
    await timing.inside(async () => clock.move(30));
    clock.move(100); // the harness's own work
    await timing.inside(async () => {
      clock.move(5);
      await Promise.all([timing.inside(async () => clock.move(10)), timing.inside(async () => clock.move(7))]);
      clock.move(3);
    });
    expect(timing.ms).toBe(30 + 5 + 10 + 7 + 3);
  });

  it('counts a wait that throws, and a wait still running up to now', async () => {
    const clock = fakeNow();
    const timing = new SystemTime(clock.now);
    await expect(timing.inside(async () => {
      clock.move(12);
      throw new Error('system refused');
    })).rejects.toThrow('system refused');
    let release!: () => void;
    const running = timing.inside(() => new Promise<void>((r) => (release = r)));
    clock.move(8);
    expect(timing.ms).toBe(20);
    release();
    await running;
    clock.move(50);
    expect(timing.ms).toBe(20);
  });
});

describe('model-timing.json', () => {
  it('sums the parts of one run and leaves other runs out', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-model-timing-'));
    dirs.push(dir);
    const target = { parts: path.join(dir, 'parts'), total: path.join(dir, 'model-timing.json') };
    await recordTimingPart('old', timingOf(999, 1), 'run-0', target);
    await Promise.all([
      recordTimingPart('paths', timingOf(1000, 700), 'run-1', target),
      recordTimingPart('walks', timingOf(500, 450), 'run-1', target),
      recordTimingPart('model', timingOf(20, 0), 'run-1', target),
    ]);
    const total = JSON.parse(await readFile(target.total, 'utf8'));
    expect(total).toEqual({ wallMs: 1520, systemMs: 1150, outsideMs: 370, files: ['model', 'paths', 'walks'] });
  });

  it('never reports more system time than wall time', () => {
    expect(timingOf(100, 100.4)).toEqual({ wallMs: 100, systemMs: 100, outsideMs: 0 });
  });
});
