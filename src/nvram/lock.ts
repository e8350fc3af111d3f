/**
 * One writer per image: `<image>.lock` (created atomically with link(), the O_EXCL of
 * lock files) holding the owner's pid and a per-open token. A lock
 * whose pid is dead is stale and taken over (a SIGKILLed or power-cut device must boot again). A second open in
 * the same process is refused as well: two instances on one file would not be coordinated.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { NvramLockedError } from './errors.ts';
import { makePrivateDirSync } from '../util/private-fs.ts';

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
  // Synchronous on purpose: a handful of metadata calls on a local directory (no fsync), done once per boot and
  // power-off; on the thread pool each would cost a round trip worth more than the call itself.
  const lockFile = `${imageFile}.lock`;
  const token = randomUUID();
  for (let attempt = 0; attempt < 5; attempt++) {
    // Write the content first, then link it into place: link() is atomic and fails with EEXIST, so a lock file
    // is never seen empty by another opener.
    const tmp = `${lockFile}.${token}`;
    const content = `${process.pid} ${token}\n`;
    try {
      fs.writeFileSync(tmp, content, { mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      makePrivateDirSync(path.dirname(lockFile)); // first boot: the image's directory is new
      fs.writeFileSync(tmp, content, { mode: 0o600 });
    }
    try {
      fs.linkSync(tmp, lockFile);
      return {
        file: lockFile,
        async release() {
          // Only remove the lock if it is still ours (a stale-lock takeover may have replaced it).
          if (readOrNull(lockFile)?.includes(token)) removeIfPresent(lockFile);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      removeIfPresent(tmp);
    }
    const text = readOrNull(lockFile);
    if (text === null) continue; // released meanwhile: try again
    const pid = Number.parseInt(text, 10);
    if (Number.isSafeInteger(pid) && pid > 0 && pidAlive(pid)) throw new NvramLockedError(lockFile, pid);
    // Stale (dead pid or unreadable content, e.g. torn by a power cut): remove and retry.
    removeIfPresent(lockFile);
  }
  throw new NvramLockedError(lockFile, -1);
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** unlink() that takes a missing file as done: rmSync would stat it first (rimraf) to tell a file from a directory. */
function removeIfPresent(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
