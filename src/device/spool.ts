/**
 * The printer's job storage: each job's content (recipients, subject, body, attachments) as a file in the spool
 * directory, written durably (file and directory fsync'ed) before the job's record goes into NVRAM. Only the record
 * counts: content without a record is garbage from an interrupted submission and is swept at boot.
 */
import path from 'node:path';
import { nodeSpoolIo, type SpoolIo } from './spool-io.ts';

export interface JobContent {
  to: string[];
  subject: string;
  text: string;
  attachments: { filename: string; contentType: string; path: string }[];
}

export class Spool {
  constructor(
    readonly dir: string,
    /** The disk (a failing one in the I/O-fault tests). */
    private readonly io: SpoolIo = nodeSpoolIo,
  ) {}

  pathFor(jobId: string): string {
    return path.join(this.dir, `${jobId}.json`);
  }

  async write(jobId: string, content: JobContent): Promise<string> {
    const io = this.io;
    await io.makeDir(this.dir);
    const file = this.pathFor(jobId);
    const tmp = `${file}.tmp`;
    try {
      const handle = await io.create(tmp);
      try {
        await handle.write(Buffer.from(JSON.stringify(content), 'utf8'));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await io.rename(tmp, file);
      await io.syncDir(this.dir);
    } catch (err) {
      // A failing disk (full, read-only, I/O error): leave no partial file behind if it lets us; the boot sweep
      // removes what it does not.
      await io.unlink(tmp).catch(() => undefined);
      throw err;
    }
    return file;
  }

  async read(jobId: string): Promise<JobContent> {
    return JSON.parse((await this.io.readFile(this.pathFor(jobId))).toString('utf8')) as JobContent;
  }

  async remove(jobId: string): Promise<void> {
    await this.io.unlink(this.pathFor(jobId));
  }

  /** Deletes content files whose job is not in `keep` (left by a power cut between content and record). */
  async sweep(keep: Set<string>): Promise<string[]> {
    let names: string[];
    try {
      names = await this.io.readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      const id = name.replace(/\.json(\.tmp)?$/, '');
      if (!keep.has(id) || name.endsWith('.tmp')) {
        // A failing disk must not stop the boot: what cannot be removed now is garbage the next boot removes.
        const gone = await this.io.unlink(path.join(this.dir, name)).then(() => true, () => false);
        if (gone) removed.push(name);
      }
    }
    return removed;
  }
}
