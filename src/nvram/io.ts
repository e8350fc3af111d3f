/**
 * The only door between the NVRAM store and the disk. Everything the bank store does to the image goes through
 * `NvramIo`, so tests can put a simulated power cut in the way (see powercut.ts).
 */
import { promises as fs, constants as fsc, closeSync, fchmodSync, fstat, fsync, ftruncate, openSync, read, writeSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';

/** What a write is for: the payload of a bank, or the header that commits it. Lets a fault injector aim. */
export type WritePhase = 'data' | 'commit';

export interface NvramFile {
  size(): Promise<number>;
  /** Reads up to `length` bytes at `position` (fewer at end of file). */
  read(position: number, length: number): Promise<Buffer>;
  write(data: Buffer, position: number, phase: WritePhase): Promise<void>;
  /** fsync: what was written is durable once this resolves. */
  sync(): Promise<void>;
  /** Used only by fault injection to roll back writes that were never made durable. */
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

export interface NvramIo {
  /** 'readwrite' creates the file (and its directory) when missing; `created` says so. 'read' fails with ENOENT. */
  open(file: string, mode: 'read' | 'readwrite'): Promise<{ file: NvramFile; created: boolean }>;
  /** fsync of a directory, so a newly created entry survives power loss. */
  syncDir(dir: string): Promise<void>;
}

const fstatAsync = promisify(fstat);
const readAsync = promisify(read);
const fsyncAsync = promisify(fsync);
const ftruncateAsync = promisify(ftruncate);

/**
 * The descriptor is held only while the store works on the file: opened by the first call, closed when a boot's
 * read or a commit's fsync is done, opened again by the next call. A printer is idle almost all of its life, and a
 * process running a fleet of 10,000 would otherwise hold 10,000 descriptors for nothing (EMFILE). The lock file keeps
 * other writers out between two opens, so the path names the same file each time. Opened and closed synchronously,
 * like the writes: a local open is a few microseconds, a thread-pool round trip costs more.
 */
class NodeFile implements NvramFile {
  private fd: number | null;
  /** Calls working on the open descriptor: it is closed only when the last of them is done. */
  private users = 0;

  constructor(
    private readonly file: string,
    private readonly flags: 'r' | 'r+',
    openedFd: number,
  ) {
    this.fd = openedFd;
  }

  size(): Promise<number> {
    return this.use(async (fd) => (await fstatAsync(fd)).size, false);
  }
  read(position: number, length: number): Promise<Buffer> {
    return this.use(async (fd) => {
      const buf = Buffer.allocUnsafe(length); // only the bytes read are handed out
      let got = 0;
      while (got < length) {
        const { bytesRead } = await readAsync(fd, buf, got, length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    }, true);
  }
  /**
   * Synchronous: a write only copies into the page cache (what waits for the disk is the fsync, which stays on the
   * thread pool), and a thread-pool round trip per write costs more than the copy; a commit makes two of them.
   */
  write(data: Buffer, position: number): Promise<void> {
    return this.use(async (fd) => {
      let done = 0;
      while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
    }, false);
  }
  sync(): Promise<void> {
    return this.use((fd) => fsyncAsync(fd), true);
  }
  truncate(size: number): Promise<void> {
    return this.use((fd) => ftruncateAsync(fd, size), false);
  }
  async close(): Promise<void> {
    this.release();
  }

  /** Runs `fn` on the descriptor (opening it if closed); `thenIdle`: the store is done with the file for now. */
  private async use<T>(fn: (fd: number) => Promise<T>, thenIdle: boolean): Promise<T> {
    const fd = (this.fd ??= openSync(this.file, this.flags));
    this.users++;
    let failed = true;
    try {
      const result = await fn(fd);
      failed = false;
      return result;
    } finally {
      this.users--;
      // After a failed call too: whatever comes next (a retry, a close) starts from a fresh descriptor.
      if ((thenIdle || failed) && this.users === 0) this.release();
    }
  }

  private release(): void {
    const fd = this.fd;
    this.fd = null;
    if (fd !== null) closeSync(fd);
  }
}

/** Real files through node:fs. Stateless, so one instance can serve any number of devices. */
export const nodeIo: NvramIo = {
  async open(file, mode) {
    if (mode === 'read') return { file: new NodeFile(file, 'r', openSync(file, 'r')), created: false };
    // Every boot but the first finds the image: try that first (one system call), create only when it is missing.
    for (;;) {
      try {
        return { file: new NodeFile(file, 'r+', openSync(file, 'r+')), created: false };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      await makePrivateDir(path.dirname(file));
      try {
        const fd = openSync(file, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, PRIVATE_FILE_MODE);
        const created = new NodeFile(file, 'r+', fd);
        try {
          fchmodSync(fd, PRIVATE_FILE_MODE);
        } catch (err) {
          await created.close();
          throw err;
        }
        return { file: created, created: true };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // created meanwhile by another opener: open it
      }
    }
  },
  async syncDir(dir) {
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};
