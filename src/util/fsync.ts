import { fsync } from 'node:fs';

/** fsync on the thread pool: the one file call of the NVRAM and the spool that waits for the disk (the rest is synchronous). */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}
