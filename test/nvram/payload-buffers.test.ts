/**
 * Commit payload buffers shared by the NVRAMs of one process (a fleet slice): each commit has a buffer of its own
 * while its write is in flight, so NVRAMs committing at the same time never write each other's bytes, and a slice
 * holds as many buffers as commits were in flight at once, not one per printer.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readCommitted } from '../../src/nvram/inspect.ts';
import { openNvram, PayloadBuffers } from '../../src/nvram/index.ts';
import { steppingNow, tempDirs } from './helpers.ts';
import { nodeIoWith } from './wrapped-io.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('PayloadBuffers', () => {
  it('hands back a freed buffer to the next commit, and a new one while it is taken', () => {
    const pool = new PayloadBuffers();
    const a = pool.take(5000, 65536);
    expect(a.length).toBeGreaterThanOrEqual(5000);
    expect(a.length % 4096).toBe(0);
    const b = pool.take(100, 65536);
    expect(b).not.toBe(a);
    pool.give(a);
    expect(pool.take(4000, 65536)).toBe(a);
  });

  it('never hands out a buffer shorter than asked, nor rounds past the limit', () => {
    const pool = new PayloadBuffers();
    pool.give(pool.take(100, 65536));
    const big = pool.take(9000, 65536);
    expect(big.length).toBeGreaterThanOrEqual(9000);
    expect(pool.take(5000, 5000).length).toBe(5000);
  });

  it('keeps at most `keep` free buffers after a burst', () => {
    const pool = new PayloadBuffers(2);
    const taken = [1, 2, 3, 4].map(() => pool.take(10, 65536));
    for (const b of taken) pool.give(b);
    expect(pool.held).toBe(2);
    expect(() => new PayloadBuffers(0)).toThrow(RangeError);
  });
});

describe('NVRAMs sharing one set of payload buffers', () => {
  it('commit at the same time, each image holding exactly its own content', async () => {
    const pool = new PayloadBuffers();
    // A disk that takes its time: each payload write reaches the file only after the other commits have started.
    const slowDisk = nodeIoWith((inner) => ({
      write: async (data, position, phase) => {
        if (phase === 'data') await new Promise((r) => setTimeout(r, 5));
        return inner.write(data, position, phase);
      },
    }));
    const nvrams = await Promise.all(
      [0, 1, 2, 3, 4, 5].map(async (i) => {
        const dir = await dirs.make();
        const file = path.join(dir, 'nvram.img');
        const nvram = await openNvram({ file, now: steppingNow(), factoryDevice: { id: `device-${i}`, serial: `SIM${i}` }, io: slowDisk, payloadBuffers: pool });
        return { file, nvram, i };
      }),
    );
    // Every NVRAM commits at once, several times; the contents differ in length, so a shared buffer would show.
    for (let round = 0; round < 3; round++) {
      await Promise.all(nvrams.map(({ nvram, i }) => nvram.update((d) => void d.eventLog.push({ at: round, kind: 'test', message: `printer ${i} round ${round} ${'x'.repeat(i * 300)}` }))));
    }
    for (const { file, nvram, i } of nvrams) {
      const committed = (await readCommitted(file))!.content as { device: { id: string }; eventLog: { message: string }[] };
      expect(committed).toEqual(nvram.data);
      expect(committed.device.id).toBe(`device-${i}`);
      expect(committed.eventLog.at(-1)!.message).toContain(`printer ${i} round 2`);
    }
    // Six commits were in flight at once: six buffers serve the next round, however many printers there are.
    expect(pool.held).toBeLessThanOrEqual(6);
    expect(pool.held).toBeGreaterThan(0);
    await Promise.all(nvrams.map(({ nvram }) => nvram.close()));
  });
});
