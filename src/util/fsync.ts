import { closeSync, fsync, openSync } from 'node:fs';

/** fsync on the thread pool: the one file call of the NVRAM and the spool that waits for the disk (the rest is synchronous). */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}

/** fsync of a directory, so an entry created or renamed in it survives power loss (open and close synchronous). */
export async function syncDirectory(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}
