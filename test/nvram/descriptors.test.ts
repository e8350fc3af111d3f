/**
 * An open store holds no descriptor on its image while idle (src/nvram/io.ts): a fleet's process runs thousands of
 * printers, and one descriptor each for nothing ran it into EMFILE. Counted in /proc/self/fd, where Linux lists
 * every descriptor of this process with the file it names.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openNvram } from '../../src/nvram/index.ts';
import { nodeIo } from '../../src/nvram/io.ts';
import { tempDirs, TEST_DEVICE } from './helpers.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** Descriptors of this process open on `file`. */
async function descriptorsOn(file: string): Promise<number> {
  const fds = await fs.readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => fs.readlink(path.join('/proc/self/fd', fd)).catch(() => '')));
  return targets.filter((t) => t === file).length;
}

describe('NVRAM descriptors', () => {
  it('an open store holds none on its image after boot and after each commit, and still reads and commits', async () => {
    const file = path.join(await dirs.make(), 'nvram.img');
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE });
    expect(await descriptorsOn(file)).toBe(0);
    for (const message of ['one', 'two', 'three']) {
      await nvram.update((d) => void d.eventLog.push({ at: 1, kind: 'test', message }));
      expect(await descriptorsOn(file)).toBe(0);
    }
    await nvram.close();
    const again = await openNvram({ file });
    expect(again.data.eventLog.map((e) => e.message).slice(-3)).toEqual(['one', 'two', 'three']);
    await again.close();
    expect(await descriptorsOn(file)).toBe(0);
  });

  it('a file call between commits opens the image again, and a failed call leaves nothing open', async () => {
    const file = path.join(await dirs.make(), 'image.bin');
    const { file: image } = await nodeIo.open(file, 'readwrite');
    await image.write(Buffer.from('abc'), 0, 'data');
    expect(await descriptorsOn(file)).toBe(1); // held from the first write to the commit's fsync
    await image.sync();
    expect(await descriptorsOn(file)).toBe(0);
    expect((await image.read(0, 3)).toString()).toBe('abc');
    expect(await descriptorsOn(file)).toBe(0);
    await fs.rm(file);
    await expect(image.size()).rejects.toMatchObject({ code: 'ENOENT' }); // reopened by name: the file is gone
    expect(await descriptorsOn(file)).toBe(0);
    await image.close();
  });
});
