/**
 * One writer per image: `<image>.lock`, a hard link to this process's owner file `<image>.lock.<pid>`, which holds the
 * pid. link() is atomic and fails with EEXIST (the O_EXCL of lock files), and the content is in place before the
 * link exists, so a lock is never seen empty. A lock whose pid is dead is stale and taken over (a SIGKILLed or
 * power-cut device must boot again). A second open in the same process is refused as well: two instances on one
 * file would not be coordinated.
 *
 * The owner file is made at the first boot of the image in this process and kept: a power cycle takes the lock with a
 * link() (and an lstat to note the inode) and gives it back with an lstat and an unlink(). Creating a file is the
 * costliest call of a boot on ext4 (a temp file per boot was ~60 µs of a ~560 µs boot, measured), and a simulated
 * printer boots many times in one process. A process cannot know which close is its last, so its owner file
 * outlives it: the next process that makes its own owner file for the image removes those of dead processes, and a
 * stale takeover removes the dead owner's.
 */
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
  const owner = ownerFile(lockFile, process.pid);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.linkSync(owner, lockFile);
      // The lock is ours while it is a link to our owner file: that inode exists as long as this process does, so
      // no other file can have its number meanwhile.
      const { ino, dev } = fs.lstatSync(lockFile);
      return {
        file: lockFile,
        async release() {
          // Only remove the lock if it is still ours (a takeover may have replaced it).
          const now = lstatOrNull(lockFile);
          if (now?.ino === ino && now.dev === dev) removeIfPresent(lockFile);
        },
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        makeOwnerFile(owner, lockFile); // this process's first boot of the image (or a first boot at all)
        continue;
      }
      if (code !== 'EEXIST') throw err;
    }
    const text = readOrNull(lockFile);
    if (text === null) continue; // released meanwhile: try again
    const pid = Number.parseInt(text, 10);
    const named = Number.isSafeInteger(pid) && pid > 0;
    if (named && pidAlive(pid)) throw new NvramLockedError(lockFile, pid);
    // Stale (dead pid or unreadable content, e.g. torn by a power cut): remove it, and the dead owner's file, and retry.
    removeIfPresent(lockFile);
    if (named) removeIfPresent(ownerFile(lockFile, pid));
  }
  throw new NvramLockedError(lockFile, -1);
}

function ownerFile(lockFile: string, pid: number): string {
  return `${lockFile}.${pid}`;
}

/** Writes this process's owner file (its pid), and removes the owner files dead processes left beside it. */
function makeOwnerFile(owner: string, lockFile: string): void {
  const dir = path.dirname(lockFile);
  const content = `${process.pid}\n`;
  try {
    fs.writeFileSync(owner, content, { mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    makePrivateDirSync(dir); // first boot: the image's directory is new
    fs.writeFileSync(owner, content, { mode: 0o600 });
  }
  const prefix = `${path.basename(lockFile)}.`;
  for (const name of fs.readdirSync(dir)) {
    const suffix = name.slice(prefix.length);
    if (!name.startsWith(prefix) || !/^[1-9][0-9]*$/.test(suffix)) continue;
    const pid = Number(suffix);
    if (pid !== process.pid && !pidAlive(pid)) removeIfPresent(path.join(dir, name));
  }
}

function readOrNull(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

function lstatOrNull(file: string): fs.Stats | null {
  try {
    return fs.lstatSync(file);
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
