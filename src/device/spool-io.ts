/**
 * The only door between the spool and the disk: every file call the spool makes goes through a `SpoolIo`, so tests
 * can put a failing disk in the way (src/util/faulty-io.ts), as the NVRAM's `NvramIo` does for the image.
 */
import { closeSync, constants as fsc, fchmodSync, ftruncateSync, openSync, promises as fs, readdirSync, readFileSync, writeSync } from 'node:fs';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';
import { fsyncFd, syncDirectory } from '../util/fsync.ts';

export interface SpoolFile {
  /** Writes all of `data`: at `position` when given, else after what this handle wrote before (from 0). */
  write(data: Buffer, position?: number): Promise<void>;
  /** Cuts the file to `size` bytes. */
  truncate(size: number): Promise<void>;
  /** fsync: what was written is durable once this resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface SpoolIo {
  /** mkdir -p, the directory itself 0700. */
  makeDir(dir: string): Promise<void>;
  /** Creates (or empties) a file readable by its owner only, open for writing. */
  create(file: string): Promise<SpoolFile>;
  /** Opens an existing file for writing, as it is (ENOENT when it is not there): no new file, no new directory entry. */
  open(file: string): Promise<SpoolFile>;
  readFile(file: string): Promise<Buffer>;
  /** Removes a file; one that is already gone is not an error. */
  unlink(file: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  /** fsync of a directory, so a new entry survives power loss. */
  syncDir(dir: string): Promise<void>;
}

/**
 * Real files through node:fs. Stateless, so one instance serves any number of devices. As in the NVRAM's io.ts,
 * everything but the fsyncs (and unlink, below) is a synchronous call: open, chmod, write, truncate, close, readdir and
 * the read of a small JSON record only touch the page cache and the directory, and a thread-pool round trip each cost
 * more than the call (a mail made about twenty of them, one after the other). What waits for the disk, the fsync,
 * stays on the thread pool.
 */
export const nodeSpoolIo: SpoolIo = {
  makeDir: (dir) => makePrivateDir(dir),
  async create(file) {
    const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, PRIVATE_FILE_MODE);
    try {
      fchmodSync(fd, PRIVATE_FILE_MODE); // an existing file keeps its old mode through open(): set it
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return spoolFile(fd);
  },
  open: async (file) => spoolFile(openSync(file, fsc.O_WRONLY)),
  readFile: async (file) => readFileSync(file),
  // On the thread pool, like the fsyncs: a removal is garbage collection that overlaps the step's network work
  // (device.ts afterStep), and under a busy disk one waits for the journal (p90 2.7 ms at load 18, 2 a mail).
  unlink: (file) =>
    fs.unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    }),
  readdir: async (dir) => readdirSync(dir),
  syncDir: syncDirectory,
};

/** An open spool file; `close` waits for an fsync in flight, so the descriptor is never reused under it. */
function spoolFile(fd: number): SpoolFile {
  let offset = 0;
  let syncing: Promise<void> | null = null;
  let closed = false;
  return {
    write: async (data, position) => {
      const at = position ?? offset;
      for (let done = 0; done < data.length; ) done += writeSync(fd, data, done, data.length - done, at + done);
      offset = at + data.length;
    },
    truncate: async (size) => ftruncateSync(fd, size),
    sync: () => (syncing = fsyncFd(fd)),
    close: async () => {
      if (closed) return;
      closed = true;
      await syncing?.catch(() => undefined);
      closeSync(fd);
    },
  };
}
