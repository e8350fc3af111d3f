/**
 * The runtime's side of "spool and NVRAM agree" (docs/nvram.md): writes a finished job's done record, retires spool
 * entries only once no valid bank can still point at their job, and reconciles the spool with the booted bank (the
 * rules are planned in reconcile.ts; this module does the file work and the one commit).
 */
import type { Clock } from '../time/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { Nvram } from '../nvram/index.ts';
import type { JobRecord, NvramData } from '../nvram/schema.ts';
import type { BootReason } from './printer.ts';
import { doneRecordOf, isGone, type JobContent, type Spool } from './spool.ts';

/** What a done record is made of. */
export type DoneJob = Pick<JobRecord, 'id' | 'reply' | 'updatedAt' | 'messageId'> & { status: 'sent' | 'failed' };
import { isDiskError } from './storage-fault.ts';
import { adoptedRecord, applyReconcile, changesRecords, mayHaveLostNewerBank, planReconcile, reconcileReason, restoredRecord } from './reconcile.ts';

export interface SpoolKeeper {
  /** A job just finished (its commit is done): the spool records it (unless recordSent did); its files go after a later commit. */
  finished(id: string): Promise<void>;
  /**
   * Jobs the server accepted, as the step's commit records them: their done records are started just before that
   * commit, so their waits for the disk overlap its work. The acceptance is a fact whatever the commit's fate, and a cut between the two reads
   * back as sent (reconcile.ts: a pending job with a done record is finished from it, never re-sent). Never rejects.
   */
  recordSent(jobs: readonly DoneJob[]): Promise<void>;
  /** Entries the committed content no longer points at (a reset, a refused submission): their files go later. */
  retireLater(ids: string[]): void;
  /** Deletes the files of entries whose un-referencing commit has since been followed by another. */
  retireDue(): Promise<void>;
  /**
   * Boot: the spool against the booted bank; commits and returns the boot reason when records changed. A disk that
   * cannot list or read the spool throws its error before anything changed: reconciling on half the facts would fail
   * or drop acknowledged jobs (the runtime retries it once the disk reads).
   */
  reconcileAtBoot(): Promise<BootReason | null>;
}

export function spoolKeeper(d: { spool: Spool; nvram: Nvram; clock: Clock; log: Logger; commit(mutate: (draft: NvramData) => void): Promise<void> }): SpoolKeeper {
  const { spool, nvram, log } = d;
  /** Entry id → seq of the commit after which nothing pointed at it any more. */
  const retiring = new Map<string, number>();
  /** Jobs whose done record recordSent wrote (finished() then has nothing to write). */
  const recorded = new Set<string>();
  const writeDone = (job: DoneJob) =>
    spool.markDone(job.id, doneRecordOf(job)).then(
      () => true,
      (err: unknown) => {
        log.warn({ err, job: job.id }, 'could not record the finished job in the spool');
        return false;
      },
    );
  // The commit after that one went to the other bank: then neither bank can still hold the job as pending.
  const headSeq = () => Math.max(0, ...nvram.stats().banks.filter((b) => b.valid).map((b) => b.seq));
  /** A job's content; null when it is gone or unreadable as content, a disk error is thrown. */
  const contentOf = (id: string): Promise<JobContent | null> =>
    spool.read(id).catch((err: unknown) => {
      if (isDiskError(err) && !isGone(err)) throw err;
      return null;
    });
  const retireLater = (ids: string[]) => {
    const since = headSeq();
    for (const id of ids) retiring.set(id, since);
  };

  return {
    async finished(id) {
      const job = nvram.data.jobLog.find((j) => j.id === id);
      if (!recorded.delete(id) && job && (job.status === 'sent' || job.status === 'failed')) await writeDone({ ...job, status: job.status });
      retireLater([id]);
    },
    async recordSent(jobs) {
      await Promise.all(jobs.map(async (job) => (await writeDone(job)) && recorded.add(job.id)));
    },
    retireLater,
    async retireDue() {
      const seq = headSeq();
      for (const [id, since] of retiring) {
        if (seq <= since) continue;
        retiring.delete(id);
        await spool.retire(id).catch((err: unknown) => log.warn({ err, job: id }, 'could not retire a spool entry'));
      }
    },
    async reconcileAtBoot() {
      const entries = await spool.entries();
      const lostNewer = mayHaveLostNewerBank({ seq: nvram.boot.seq, findings: nvram.boot.findings, banks: nvram.stats().banks });
      const plan = planReconcile(nvram.data, entries, lostNewer);
      for (const w of plan.writeDone) await spool.markDone(w.id, w.done).catch(() => undefined);
      let reason: BootReason | null = null;
      if (changesRecords(plan)) {
        const now = d.clock.now();
        const adopted: JobRecord[] = [];
        const restored: JobRecord[] = [];
        for (const id of plan.adopt) {
          const content = await contentOf(id);
          if (content && Array.isArray(content.to)) adopted.push(adoptedRecord(id, content, spool.pathFor(id), nvram.data.device.serial, now));
          else plan.retire.push(id); // unreadable: nothing to send
        }
        for (const { id, done } of plan.restoreFinished) {
          const content = await contentOf(id);
          if (content && Array.isArray(content.to)) restored.push(restoredRecord(id, content, done, spool.pathFor(id)));
        }
        try {
          await d.commit((draft) => applyReconcile(draft, plan, adopted, restored, now));
        } catch (err) {
          // The records stay as booted and the spool untouched: the next boot reconciles again.
          log.error({ err }, 'spool reconciliation could not be committed');
          return null;
        }
        reason = reconcileReason([...nvram.data.eventLog].reverse().find((e) => e.kind === 'spool.reconciled'));
        log.warn({ reconciled: reason?.data }, `at boot: ${reason?.detail}`);
      }
      retireLater(plan.retire);
      return reason;
    },
  };
}
