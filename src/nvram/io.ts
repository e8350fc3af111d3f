/**
 * The only door between the NVRAM store and the disk. Everything the bank store does to the image goes through
 * `NvramIo`, so tests can put a simulated power cut in the way (see powercut.ts).
 */
import { closeSync, constants as fsc, fchmodSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';
import { fsyncFd, syncDirectory } from '../util/fsync.ts';

/** What a write is for: the payload of a bank, or the header that commits it. Lets a fault injector aim. */
export type WritePhase = 'data' | 'commit';

export interface NvramFile {
  size(): Promise<number>;
  /** Reads up to `length` bytes at `position` (fewer at end of file). */
  read(position: number, length: number): Promise<Buffer>;
  /** `data` is the caller's again once this resolves (the NVRAM reuses its payload buffer): copy it to keep it. */
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

/**
 * One image file by its descriptor. Everything but the fsync is a synchronous call: open, fstat, read, write and
 * close only touch the page cache and the inode (once per boot, or a copy per commit), and a thread-pool round trip
 * each costs more than the call itself (a boot made four of them before reading a byte). What waits for the disk,
 * the fsync, stays on the thread pool; close waits for one in flight, so the descriptor is never reused under it.
 *
 * The descriptor is held only while the store works on the file: opened by the first call, let go when a boot's
 * read or a commit's fsync is done, opened again by the next call. A printer is idle almost all of its life, and a
 * process running a fleet of 10,000 would otherwise hold 10,000 descriptors for nothing (EMFILE). The lock file keeps
 * other writers out between two opens, so the path names the same file each time.
 *
 * Let go means closed at the end of the event-loop turn (setImmediate), not at once: a commit that follows in the same
 * turn (back-to-back commits, a boot's first write) keeps the descriptor, where an open and a close cost it more than
 * a second write (measured: +17–28 µs of a ~190 µs write + fsync under load). A descriptor is never held past the turn
 * its last call ended in, so a fleet holds no more of them than it has calls in flight.
 */
class NodeFile implements NvramFile {
  /** The open descriptor, or -1 while idle. */
  private fd: number;
  private closed = false;
  private syncing: Promise<void> | null = null;
  /** A release is scheduled for the end of this event-loop turn. */
  private releasing = false;
  constructor(
    private readonly file: string,
    private readonly flags: 'r' | 'r+',
    fd: number,
  ) {
    this.fd = fd;
  }
  async size(): Promise<number> {
    return fstatSync(this.open()).size;
  }
  async read(position: number, length: number): Promise<Buffer> {
    const fd = this.open();
    const buf = Buffer.allocUnsafe(length); // only the bytes read are handed out
    let got = 0;
    try {
      while (got < length) {
        const bytesRead = readSync(fd, buf, got, length - got, position + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } finally {
      this.idle();
    }
    return buf.subarray(0, got);
  }
  async write(data: Buffer, position: number): Promise<void> {
    const fd = this.open();
    let done = 0;
    while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
  }
  sync(): Promise<void> {
    const fd = this.open();
    const syncing = fsyncFd(fd);
    this.syncing = syncing;
    return syncing.finally(() => {
      if (this.syncing !== syncing) return;
      this.syncing = null;
      this.idle(); // a commit ends with its fsync, failed or not: a commit in a later turn opens the file afresh
    });
  }
  async truncate(size: number): Promise<void> {
    ftruncateSync(this.open(), size);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.syncing?.catch(() => {});
    this.release();
  }
  private open(): number {
    if (this.closed) throw Object.assign(new Error('file closed'), { code: 'EBADF' });
    if (this.fd < 0) this.fd = openSync(this.file, this.flags);
    return this.fd;
  }
  /** The store is done with the file for now: the descriptor goes at the end of this turn unless a call reuses it. */
  private idle(): void {
    if (this.releasing || this.fd < 0) return;
    this.releasing = true;
    setImmediate(() => {
      this.releasing = false;
      this.release();
    });
  }
  /** Closes the descriptor unless an fsync still works on it (its end lets it go again). */
  private release(): void {
    if (this.fd < 0 || this.syncing) return;
    const fd = this.fd;
    this.fd = -1;
    closeSync(fd);
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
      let fd: number;
      try {
        fd = openSync(file, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, PRIVATE_FILE_MODE);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // created meanwhile by another opener: open it
        continue;
      }
      try {
        fchmodSync(fd, PRIVATE_FILE_MODE);
      } catch (err) {
        closeSync(fd);
        throw err;
      }
      return { file: new NodeFile(file, 'r+', fd), created: true };
    }
  },
  syncDir: syncDirectory,
};
