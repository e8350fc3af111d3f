/**
 * One SystemTime per test file of the model-based suite, written as that file's part of reports/model-timing.json
 * when the file ends (src/mbt/timing.ts). The file's wall time starts when this module is first imported.
 */
import { afterAll } from 'vitest';
import { recordTimingPart, SystemTime, timingOf } from '../../src/mbt/timing.ts';

/** `name`: the test file's short name ("paths" for paths.test.ts), the key of its part. */
export function suiteTiming(name: string): SystemTime {
  const started = performance.now();
  const timing = new SystemTime();
  afterAll(async () => {
    await recordTimingPart(name, timingOf(performance.now() - started, timing.ms));
  });
  return timing;
}
