/**
 * The only door between the NVRAM store and the disk. Everything the bank store does to the image goes through
 * `NvramIo`, so tests can put a simulated power cut in the way (see powercut.ts).
 */
import { promises as fs, constants as fsc, writeSync } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';

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

class NodeFile implements NvramFile {
  constructor(private readonly fh: fs.FileHandle) {}
  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }
  async read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length); // only the bytes read are handed out
    let got = 0;
    while (got < length) {
      const { bytesRead } = await this.fh.read(buf, got, length - got, position + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  }
  /**
   * Synchronous: a write only copies into the page cache (what waits for the disk is the fsync, which stays on the
   * thread pool), and a thread-pool round trip per write costs more than the copy; a commit makes two of them.
   */
  async write(data: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) done += writeSync(this.fh.fd, data, done, data.length - done, position + done);
  }
  sync(): Promise<void> {
    return this.fh.sync();
  }
  truncate(size: number): Promise<void> {
    return this.fh.truncate(size);
  }
  close(): Promise<void> {
    return this.fh.close();
  }
}

/** Real files through node:fs. Stateless, so one instance can serve any number of devices. */
export const nodeIo: NvramIo = {
  async open(file, mode) {
    if (mode === 'read') return { file: new NodeFile(await fs.open(file, 'r')), created: false };
    // Every boot but the first finds the image: try that first (one system call), create only when it is missing.
    for (;;) {
      try {
        return { file: new NodeFile(await fs.open(file, 'r+')), created: false };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      await makePrivateDir(path.dirname(file));
      try {
        const fh = await fs.open(file, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, PRIVATE_FILE_MODE);
        await fh.chmod(PRIVATE_FILE_MODE);
        return { file: new NodeFile(fh), created: true };
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
