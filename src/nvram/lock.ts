/**
 * One writer per image: `<image>.lock` (created atomically with link(), the O_EXCL of
 * lock files) holding the owner's pid and a per-open token. A lock
 * whose pid is dead is stale and taken over (a SIGKILLed or power-cut device must boot again). A second open in
 * the same process is refused as well: two instances on one file would not be coordinated.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { NvramLockedError } from './errors.ts';

export interface ImageLock {
  readonly file: string;
  release(): Promise<void>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireImageLock(imageFile: string): Promise<ImageLock> {
  const lockFile = `${imageFile}.lock`;
  const token = randomUUID();
  await fs.mkdir(path.dirname(lockFile), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    // Write the content first, then link it into place: link() is atomic and fails with EEXIST, so a lock file
    // is never seen empty by another opener.
    const tmp = `${lockFile}.${token}`;
    await fs.writeFile(tmp, `${process.pid} ${token}\n`, { mode: 0o600 });
    try {
      await fs.link(tmp, lockFile);
      return {
        file: lockFile,
        async release() {
          // Only remove the lock if it is still ours (a stale-lock takeover may have replaced it).
          const text = await fs.readFile(lockFile, 'utf8').catch(() => '');
          if (text.includes(token)) await fs.rm(lockFile, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
    const text = await fs.readFile(lockFile, 'utf8').catch(() => null);
    if (text === null) continue; // released meanwhile: try again
    const pid = Number.parseInt(text, 10);
    if (Number.isSafeInteger(pid) && pid > 0 && pidAlive(pid)) throw new NvramLockedError(lockFile, pid);
    // Stale (dead pid or unreadable content, e.g. torn by a power cut): remove and retry.
    await fs.rm(lockFile, { force: true });
  }
  throw new NvramLockedError(lockFile, -1);
}
