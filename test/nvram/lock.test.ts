import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireImageLock } from '../../src/nvram/lock.ts';
import { NvramLockedError, openNvram } from '../../src/nvram/index.ts';
import { tempDirs } from './helpers.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** A pid that belonged to a process which has exited. */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

async function image() {
  const dir = await dirs.make();
  const file = path.join(dir, 'nvram.img');
  return { dir, file, lock: `${file}.lock`, owner: `${file}.lock.${process.pid}` };
}

describe('NVRAM image lock: an owner file per process, a link per boot', () => {
  it('is a link to this process’s owner file, which holds the pid; a power cycle reuses the owner file', async () => {
    const { file, lock, owner } = await image();
    const first = await acquireImageLock(file);
    const held = await fs.stat(lock);
    expect(held.ino).toBe((await fs.stat(owner)).ino);
    expect(held.nlink).toBe(2);
    expect(held.mode & 0o777).toBe(0o600);
    expect(await fs.readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    await first.release();
    await expect(fs.access(lock)).rejects.toThrow();

    // The next boot in this process creates no file: the same owner inode is linked again.
    const second = await acquireImageLock(file);
    expect((await fs.stat(lock)).ino).toBe(held.ino);
    await second.release();
    expect((await fs.stat(owner)).ino).toBe(held.ino);
  });

  it('refuses a second holder in the same process, naming the pid, and leaves the lock as it was', async () => {
    const { file, lock } = await image();
    const held = await acquireImageLock(file);
    const err = await acquireImageLock(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NvramLockedError);
    expect((err as Error).message).toContain(String(process.pid));
    expect(await fs.readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    await held.release();
  });

  it('refuses a lock held by another live process', async () => {
    const { file, lock } = await image();
    await fs.writeFile(lock, `${process.ppid}\n`);
    const err = await acquireImageLock(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NvramLockedError);
    expect(await fs.readFile(lock, 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('takes over a stale lock and removes the dead owner’s file with it', async () => {
    const { dir, file, lock } = await image();
    const dead = deadPid();
    await fs.writeFile(`${lock}.${dead}`, `${dead}\n`);
    await fs.link(`${lock}.${dead}`, lock);
    const held = await acquireImageLock(file);
    expect(await fs.readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    expect((await fs.readdir(dir)).sort()).toEqual([path.basename(lock), `${path.basename(lock)}.${process.pid}`].sort());
    await held.release();
  });

  it('takes over a lock of the earlier format (pid and token, in a file of its own)', async () => {
    const { file, lock } = await image();
    await fs.writeFile(lock, `${deadPid()} 6f1c6f0e-stale-token\n`);
    const held = await acquireImageLock(file);
    expect(await fs.readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    await held.release();
  });

  it('removes the owner files of dead processes when it makes its own, and keeps a live one’s and anything else', async () => {
    const { dir, file, lock } = await image();
    const dead = deadPid();
    const base = path.basename(lock);
    await fs.writeFile(`${lock}.${dead}`, `${dead}\n`);
    await fs.writeFile(`${lock}.${process.ppid}`, `${process.ppid}\n`);
    await fs.writeFile(`${lock}.0b5e2c1a-temp-of-the-earlier-format`, 'x');
    await fs.writeFile(path.join(dir, 'other.img.lock.1'), 'x');
    const held = await acquireImageLock(file);
    await held.release();
    expect((await fs.readdir(dir)).sort()).toEqual(
      [`${base}.${process.pid}`, `${base}.${process.ppid}`, `${base}.0b5e2c1a-temp-of-the-earlier-format`, 'other.img.lock.1'].sort(),
    );
  });

  it('release leaves alone a lock that is no longer ours', async () => {
    const { file, lock } = await image();
    const held = await acquireImageLock(file);
    // Someone removed our lock and another holder put its own in place (a different file, live pid).
    await fs.unlink(lock);
    await fs.writeFile(lock, `${process.ppid}\n`);
    await held.release();
    expect(await fs.readFile(lock, 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('makes the image’s directory on a first boot, private', async () => {
    const dir = await dirs.make();
    const file = path.join(dir, 'new', 'nvram.img');
    const nvram = await openNvram({ file });
    expect((await fs.stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect((await fs.stat(`${file}.lock.${process.pid}`)).mode & 0o777).toBe(0o600);
    await nvram.close();
    await expect(fs.access(`${file}.lock`)).rejects.toThrow();
  });
});
