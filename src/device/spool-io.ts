/**
 * The only door between the spool and the disk: every file call the spool makes goes through a `SpoolIo`, so tests
 * can put a failing disk in the way (src/util/faulty-io.ts), as the NVRAM's `NvramIo` does for the image.
 */
import { promises as fs, constants as fsc, readdirSync, readFileSync } from 'node:fs';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';

export interface SpoolFile {
  write(data: Buffer): Promise<void>;
  /** fsync: what was written is durable once this resolves. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface SpoolIo {
  /** mkdir -p, the directory itself 0700. */
  makeDir(dir: string): Promise<void>;
  /** Creates (or empties) a file readable by its owner only, open for writing. */
  create(file: string): Promise<SpoolFile>;
  readFile(file: string): Promise<Buffer>;
  rename(from: string, to: string): Promise<void>;
  /** Removes a file; one that is already gone is not an error. */
  unlink(file: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  /** fsync of a directory, so a new or renamed entry survives power loss. */
  syncDir(dir: string): Promise<void>;
}

/** Real files through node:fs. Stateless, so one instance serves any number of devices. */
export const nodeSpoolIo: SpoolIo = {
  makeDir: (dir) => makePrivateDir(dir),
  async create(file) {
    const fh = await fs.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, PRIVATE_FILE_MODE);
    try {
      await fh.chmod(PRIVATE_FILE_MODE); // an existing file keeps its old mode through open(): set it
    } catch (err) {
      await fh.close();
      throw err;
    }
    return {
      write: async (data) => {
        await fh.writeFile(data);
      },
      sync: () => fh.sync(),
      close: () => fh.close(),
    };
  },
  // Synchronous: the spool's files are small JSON records (content lists attachment paths, not their bytes), read at
  // boot and once per mail; a thread-pool round trip per call (a readFile makes four) costs more than the read.
  readFile: async (file) => readFileSync(file),
  rename: (from, to) => fs.rename(from, to),
  unlink: (file) => fs.rm(file, { force: true }),
  readdir: async (dir) => readdirSync(dir),
  async syncDir(dir) {
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};
