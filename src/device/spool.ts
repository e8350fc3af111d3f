/**
 * The printer's job storage: each job's content (recipients, subject, body, attachments) as a file in the spool
 * directory, written durably (file and directory fsync'ed) before the job's record goes into NVRAM. Only the record
 * counts: content without a record is garbage from an interrupted submission and is swept at boot.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';

export interface JobContent {
  to: string[];
  subject: string;
  text: string;
  attachments: { filename: string; contentType: string; path: string }[];
}

export class Spool {
  constructor(readonly dir: string) {}

  pathFor(jobId: string): string {
    return path.join(this.dir, `${jobId}.json`);
  }

  async write(jobId: string, content: JobContent): Promise<string> {
    await makePrivateDir(this.dir);
    const file = this.pathFor(jobId);
    const tmp = `${file}.tmp`;
    const handle = await fs.open(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      await handle.chmod(PRIVATE_FILE_MODE);
      await handle.writeFile(JSON.stringify(content));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    await syncDir(this.dir);
    return file;
  }

  async read(jobId: string): Promise<JobContent> {
    return JSON.parse(await fs.readFile(this.pathFor(jobId), 'utf8')) as JobContent;
  }

  async remove(jobId: string): Promise<void> {
    await fs.rm(this.pathFor(jobId), { force: true });
  }

  /** Deletes content files whose job is not in `keep` (left by a power cut between content and record). */
  async sweep(keep: Set<string>): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const removed: string[] = [];
    for (const name of names) {
      const id = name.replace(/\.json(\.tmp)?$/, '');
      if (!keep.has(id) || name.endsWith('.tmp')) {
        await fs.rm(path.join(this.dir, name), { force: true });
        removed.push(name);
      }
    }
    return removed;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
