/**
 * The printer's job storage: each job's content (recipients, subject, body, attachments) as a file in the spool
 * directory, written durably (file and directory fsync'ed together) before the job's record goes into NVRAM.
 *
 * The spool and the NVRAM must agree after any bank fallback (docs/nvram.md, "Spool and NVRAM agree"), so:
 *  - a content file names its job's Message-ID and creation time: a job that a lost bank had acknowledged can be
 *    taken back from the spool alone;
 *  - when a job finishes (sent, or dismissed as failed) a small "done" record is written after its content, in the
 *    same file (a line of its own): an older bank that still holds the job as pending is corrected from it, never
 *    re-sent or failed. In the content's file, not a file of its own: a new file per record is an inode allocated
 *    and freed per job, a directory entry to fsync, and one more unlink (docs/nvram.md, "Spool and NVRAM agree").
 *    A standalone `<id>.done` (an older spool's, or the record of a job whose content is gone) is still read;
 *  - content and done record are deleted only once no valid bank can still point at the job (the runtime retires
 *    them after a later commit has overwritten the older bank): src/device/spoolKeeper.ts, rules in reconcile.ts.
 */
import path from 'node:path';
import type { JobRecord } from '../nvram/schema.ts';
import { nodeSpoolIo, type SpoolFile, type SpoolIo } from './spool-io.ts';

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

/** The done record of a finished job, from its record (the NVRAM's words for the same facts). */
export function doneRecordOf(job: Pick<JobRecord, 'reply' | 'updatedAt' | 'messageId'> & { status: DoneRecord['status'] }): DoneRecord {
  return { status: job.status, reply: job.reply, at: job.updatedAt, messageId: job.messageId };
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
/** What separates a job's content from its done record in its file (the content is one line of JSON). */
const RECORD_LINE = '\n';

export class Spool {
  /** The directory was made (and set 0700) by this boot: once, not before every write (two disk calls each). */
  private dirMade = false;
  /** Bytes of content this boot wrote, by job, until its done record goes after them (no read to find the end). */
  private readonly contentBytes = new Map<string, number>();
  /** Jobs with a standalone `<id>.done` file, found or written this boot: retire removes it too. */
  private readonly standaloneDone = new Set<string>();

  constructor(
    readonly dir: string,
    /** The disk (a failing one in the I/O-fault tests): every file call goes through it. */
    private readonly io: SpoolIo = nodeSpoolIo,
  ) {}

  pathFor(jobId: string): string {
    return path.join(this.dir, `${jobId}${CONTENT}`);
  }

  private donePath(jobId: string): string {
    return path.join(this.dir, `${jobId}${DONE}`);
  }

  /** `whileSyncing` (which must not throw) runs once the content is written and its fsyncs are under way. */
  async write(jobId: string, content: JobContent, whileSyncing?: () => void): Promise<string> {
    const file = this.pathFor(jobId);
    const bytes = Buffer.from(JSON.stringify(content), 'utf8'); // one line: JSON.stringify escapes every newline
    await this.writeDurably(file, bytes, whileSyncing);
    this.contentBytes.set(jobId, bytes.length);
    return file;
  }

  async read(jobId: string): Promise<JobContent> {
    const { content } = splitJobFile(await this.io.readFile(this.pathFor(jobId)));
    return JSON.parse(content.toString('utf8')) as JobContent;
  }

  /**
   * Records durably that a job finished: a line after its content, in place (a torn one reads as absent), fsync'ed.
   * The content's file exists already, so nothing is created and the directory does not change. When the content is
   * gone, the record gets a file of its own, as older spools had.
   */
  async markDone(jobId: string, done: DoneRecord): Promise<void> {
    const record = Buffer.from(`${RECORD_LINE}${JSON.stringify(done)}`, 'utf8');
    let handle: SpoolFile;
    try {
      handle = await this.io.open(this.pathFor(jobId));
    } catch (err) {
      if (!isGone(err)) throw err;
      await this.writeDurably(this.donePath(jobId), Buffer.from(JSON.stringify(done), 'utf8'));
      this.standaloneDone.add(jobId);
      return;
    }
    try {
      let at = this.contentBytes.get(jobId);
      // Not written this boot (or recorded before): read where the content ends, and cut what followed it.
      const tidy = at === undefined;
      at ??= splitJobFile(await this.io.readFile(this.pathFor(jobId))).content.length;
      await handle.write(record, at);
      if (tidy) await handle.truncate(at + record.length);
      await handle.sync();
    } finally {
      this.contentBytes.delete(jobId);
      await handle.close();
    }
  }

  /** The done record in a job's file or beside it; null when absent or not one. A disk that cannot read it throws. */
  done(jobId: string): Promise<DoneRecord | null> {
    return this.readDone(jobId, { inFile: true, standalone: true });
  }

  /** `where`: which of the two places can hold it (entries() knows from the listing). */
  private async readDone(jobId: string, where: { inFile: boolean; standalone: boolean }): Promise<DoneRecord | null> {
    const read = (file: string) =>
      this.io.readFile(file).catch((err: unknown) => {
        if (isGone(err)) return null;
        throw err;
      });
    const record = where.inFile ? (await read(this.pathFor(jobId)).then((bytes) => bytes && splitJobFile(bytes).record)) : null;
    const inFile = record && parseDone(record.toString('utf8'));
    if (inFile || !where.standalone) return inFile;
    const standalone = await read(this.donePath(jobId));
    return standalone && parseDone(standalone.toString('utf8'));
  }

  /**
   * Deletes a job's file (content and done record in one unlink), then a standalone done record if it has one: in
   * that order, so a cut in between leaves the record (which still says "finished") rather than content without it
   * (which would look pending to an older bank).
   */
  async retire(jobId: string): Promise<void> {
    this.contentBytes.delete(jobId);
    await this.io.unlink(this.pathFor(jobId));
    if (this.standaloneDone.delete(jobId)) await this.io.unlink(this.donePath(jobId));
  }

  /**
   * The jobs that have files in the spool. Leftover temp files (an interrupted write of firmware that wrote the content
   * through a temp file and rename) are deleted. A disk that cannot
   * list the spool (or read a done record) throws: an empty answer would make every pending job look lost.
   */
  async entries(): Promise<SpoolEntry[]> {
    let names: string[];
    try {
      names = await this.io.readdir(this.dir);
    } catch (err) {
      if (isGone(err)) return []; // no spool directory yet: no job ever wrote one
      throw err;
    }
    const byId = new Map<string, { content: boolean; done: boolean }>();
    for (const name of names) {
      if (name.endsWith(TMP)) {
        // A failing disk must not stop the boot: a temp file that cannot go now goes at the next boot.
        await this.io.unlink(path.join(this.dir, name)).catch(() => undefined);
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
    for (const [id, e] of byId) {
      if (e.done) this.standaloneDone.add(id);
      out.push({ id, hasContent: e.content, done: await this.readDone(id, { inFile: e.content, standalone: e.done }) });
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  private async makeDir(): Promise<void> {
    if (this.dirMade) return;
    await this.io.makeDir(this.dir);
    this.dirMade = true;
  }

  /**
   * Writes a new file durably, in place, without a temp file and rename: its data and its directory entry are
   * fsync'ed together rather than one after the other (one wait for the disk instead of two). A file torn by a cut
   * is one nothing points at yet — a job's record goes into NVRAM only after its content is durable, and a done
   * record only says what a torn one's absence says — and it reads as not one: unparseable content is never taken
   * back (spoolKeeper.ts `contentOf`), an unparseable done record is absent (`parseDone`).
   */
  private async writeDurably(file: string, bytes: Buffer, whileSyncing?: () => void): Promise<void> {
    const io = this.io;
    await this.makeDir();
    try {
      const handle = await io.create(file);
      try {
        await handle.write(bytes);
        const syncing = Promise.allSettled([handle.sync(), io.syncDir(this.dir)]);
        whileSyncing?.();
        const synced = await syncing;
        const failed = synced.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
      } finally {
        await handle.close();
      }
    } catch (err) {
      // A failing disk (full, read-only, I/O error): a file that is not durable is not one; leave none behind if
      // the disk lets us (the next boot retires what it does not: nothing points at it).
      await io.unlink(file).catch(() => undefined);
      throw err;
    }
  }
}

/** A file (or the spool directory) that is not there: an answer, unlike a disk error. */
export function isGone(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** A job's file: its content (the first line), and its done record when one was written after it. */
function splitJobFile(bytes: Buffer): { content: Buffer; record: Buffer | null } {
  const end = bytes.indexOf(RECORD_LINE);
  return end < 0 ? { content: bytes, record: null } : { content: bytes.subarray(0, end), record: bytes.subarray(end + 1) };
}

/** A done record's text; null when it is not one (torn by a cut, or damaged). */
function parseDone(text: string): DoneRecord | null {
  try {
    const parsed = JSON.parse(text) as Partial<DoneRecord>;
    const ok = (parsed.status === 'sent' || parsed.status === 'failed') && typeof parsed.messageId === 'string' && typeof parsed.at === 'number';
    return ok ? { status: parsed.status!, reply: typeof parsed.reply === 'string' ? parsed.reply : null, at: parsed.at!, messageId: parsed.messageId! } : null;
  } catch {
    return null;
  }
}
