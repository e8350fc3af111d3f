import { describe, expect, it } from 'vitest';
import { processCpuMs, processCpuMsOf } from '../../src/util/process-cpu.ts';

describe('processCpuMsOf', () => {
  it.runIf(process.platform === 'linux')('reads a process\'s CPU from /proc as process.cpuUsage counts it, to the clock tick', () => {
    // Burn some CPU first, so the figure is more than a few ticks.
    const until = performance.now() + 50;
    while (performance.now() < until);
    const before = processCpuMs();
    const read = processCpuMsOf(process.pid)!;
    const after = processCpuMs();
    expect(read).toBeGreaterThan(0);
    // /proc counts in ticks of 10 ms; both figures cover every thread of the process.
    expect(read).toBeGreaterThanOrEqual(before - 30);
    expect(read).toBeLessThanOrEqual(after + 30);
  });

  it('says null for a process that is not there (or where there is no /proc)', () => {
    expect(processCpuMsOf(2 ** 31 - 1)).toBeNull();
  });
});
