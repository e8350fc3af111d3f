/**
 * The printer's job storage: each job's content (recipients, subject, body, attachments) as a file in the spool
 * directory, written durably (file and directory fsync'ed) before the job's record goes into NVRAM.
 *
 * The spool and the NVRAM must agree after any bank fallback (docs/nvram.md, "Spool and NVRAM agree"), so:
 *  - a content file names its job's Message-ID and creation time: a job that a lost bank had acknowledged can be
 *    taken back from the spool alone;
 *  - when a job finishes (sent, or dismissed as failed) a small "done" record (`<id>.done`) is written beside its
 *    content: an older bank that still holds the job as pending is corrected from it, never re-sent or failed;
 *  - content and done record are deleted only once no valid bank can still point at the job (the runtime retires
 *    them after a later commit has overwritten the older bank): src/device/spoolKeeper.ts, rules in reconcile.ts.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';

export interface JobContent {
  to: string[];
  subject: string;
  text: string;
  attachments: { filename: string; contentType: string; path: string }[];
  /** The job's Message-ID and creation time (absent in content written before the spool was self-describing). */
  messageId?: string;
  createdAt?: number;
}

/** What the spool remembers of a finished job, until no bank can still hold it as pending. */
export interface DoneRecord {
  status: 'sent' | 'failed';
  reply: string | null;
  at: number;
  messageId: string;
}

/** One job's files in the spool. */
export interface SpoolEntry {
  id: string;
  hasContent: boolean;
  /** The done record, or null (absent, or unreadable: then it counts as absent). */
  done: DoneRecord | null;
}

const CONTENT = '.json';
const DONE = '.done';
const TMP = '.tmp';

export class Spool {
  constructor(readonly dir: string) {}

  pathFor(jobId: string): string {
    return path.join(this.dir, `${jobId}${CONTENT}`);
  }

  private donePath(jobId: string): string {
    return path.join(this.dir, `${jobId}${DONE}`);
  }

  async write(jobId: string, content: JobContent): Promise<string> {
    const file = this.pathFor(jobId);
    await this.writeDurably(file, JSON.stringify(content));
    return file;
  }

  async read(jobId: string): Promise<JobContent> {
    return JSON.parse(await fs.readFile(this.pathFor(jobId), 'utf8')) as JobContent;
  }

  /** Records durably that a job finished (after the NVRAM commit that says so). */
  async markDone(jobId: string, done: DoneRecord): Promise<void> {
    await this.writeDurably(this.donePath(jobId), JSON.stringify(done));
  }

  async readDone(jobId: string): Promise<DoneRecord | null> {
    try {
      const parsed = JSON.parse(await fs.readFile(this.donePath(jobId), 'utf8')) as Partial<DoneRecord>;
      const ok = (parsed.status === 'sent' || parsed.status === 'failed') && typeof parsed.messageId === 'string' && typeof parsed.at === 'number';
      return ok ? { status: parsed.status!, reply: typeof parsed.reply === 'string' ? parsed.reply : null, at: parsed.at!, messageId: parsed.messageId! } : null;
    } catch {
      return null;
    }
  }

  /**
   * Deletes a job's content, then its done record: in that order, so a cut in between leaves the record (which
   * still says "finished") rather than content without it (which would look pending to an older bank).
   */
  async retire(jobId: string): Promise<void> {
    await fs.rm(this.pathFor(jobId), { force: true });
    await fs.rm(this.donePath(jobId), { force: true });
  }

  /** The jobs that have files in the spool. Leftover temp files (an interrupted write) are deleted. */
  async entries(): Promise<SpoolEntry[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const byId = new Map<string, { content: boolean; done: boolean }>();
    for (const name of names) {
      if (name.endsWith(TMP)) {
        await fs.rm(path.join(this.dir, name), { force: true });
        continue;
      }
      const ext = name.endsWith(CONTENT) ? CONTENT : name.endsWith(DONE) ? DONE : null;
      if (!ext) continue; // not ours
      const id = name.slice(0, -ext.length);
      const e = byId.get(id) ?? { content: false, done: false };
      if (ext === CONTENT) e.content = true;
      else e.done = true;
      byId.set(id, e);
    }
    const out: SpoolEntry[] = [];
    for (const [id, e] of byId) out.push({ id, hasContent: e.content, done: e.done ? await this.readDone(id) : null });
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private async writeDurably(file: string, text: string): Promise<void> {
    await makePrivateDir(this.dir);
    const tmp = `${file}${TMP}`;
    const handle = await fs.open(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      await handle.chmod(PRIVATE_FILE_MODE);
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    await syncDir(this.dir);
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
