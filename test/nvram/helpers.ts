import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/nvram');

/** Temp directories made by a suite; `cleanup()` in afterEach/afterAll removes them. */
export function tempDirs() {
  const made: string[] = [];
  return {
    async make(prefix = 'nvram-'): Promise<string> {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    async cleanup(): Promise<void> {
      await Promise.all(made.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
    },
  };
}

/** Copies a fixture image into `dir` and returns the copy's path. */
export async function copyFixture(name: string, dir: string, as = 'nvram.img'): Promise<string> {
  const dest = path.join(dir, as);
  await fs.copyFile(path.join(FIXTURES, name), dest);
  return dest;
}

/** A deterministic clock for event-log times (a fake: counts up by one second per call). */
export function steppingNow(start = Date.UTC(2026, 0, 5, 8, 0, 0)): () => number {
  let t = start;
  return () => (t += 1000);
}

export const TEST_DEVICE = { id: 'test-device-0001', serial: 'SIMTEST0001' };
