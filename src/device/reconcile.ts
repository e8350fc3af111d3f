/**
 * Boot-time agreement of the spool with the NVRAM bank the device booted from (docs/nvram.md, "Spool and NVRAM
 * agree"). A bank fallback, an erased bank or a lost image can leave the booted content older than the spool:
 *  - a job the booted bank holds as pending, whose done record says it finished (sent, or dismissed), is recorded
 *    as finished from that record: never re-sent, never reported failed;
 *  - content that the booted bank does not know, after a boot that may have lost a newer bank, is a job that bank
 *    had acknowledged: it is taken back (queued again, with its own Message-ID), since an acknowledged job is never
 *    dropped; on a boot that lost nothing it is the leftover of an interrupted submission (never acknowledged);
 *  - a job the booted bank holds as pending whose content is gone (and no done record) fails with that reason at
 *    once, instead of parking the queue in sendFailure;
 *  - everything the booted bank no longer points at is retired only after a later commit (see `retireAfter`).
 * Pure planning over plain data; the runtime (device.ts) does the file work and the one NVRAM commit.
 */
import type { JobRecord, NvramData } from '../nvram/schema.ts';
import type { BootReason } from './printer.ts';
import { doneRecordOf, type DoneRecord, type JobContent, type SpoolEntry } from './spool.ts';

/** What the NVRAM said about the boot, as far as reconciliation cares. */
export interface BootImageFacts {
  /** Seq of the bank booted from (0: none). */
  seq: number;
  findings: { code: string }[];
  banks: { valid: boolean; seq: number; error: string | null }[];
}

/**
 * True when the boot may have lost a bank newer than the one it booted from: a bank that failed its checks with a
 * newer or unreadable sequence number, an erased bank, no valid bank, or a lost image. A damaged bank that is older
 * than the booted one (and a changed device key) lose no commit.
 */
export function mayHaveLostNewerBank(facts: BootImageFacts): boolean {
  const codes = new Set(facts.findings.map((f) => f.code));
  if (codes.has('bank-erased') || codes.has('no-valid-bank') || codes.has('image-lost')) return true;
  if (!codes.has('bank-invalid')) return false;
  return facts.banks.some((b) => !b.valid && b.error !== null && (b.seq === 0 || b.seq > facts.seq));
}

export interface ReconcilePlan {
  /** Pending jobs of the booted bank that the spool's done records say finished. */
  finish: { id: string; done: DoneRecord }[];
  /** Finished jobs the booted bank does not know at all (their bank was lost): back into the job log. */
  restoreFinished: { id: string; done: DoneRecord }[];
  /** Content the booted bank does not know, after a lost newer bank: taken back as queued jobs. */
  adopt: string[];
  /** Pending jobs of the booted bank whose content is gone (and no done record). */
  missing: string[];
  /** Finished jobs of the booted bank whose done record is missing (a cut right after their commit): write it. */
  writeDone: { id: string; done: DoneRecord }[];
  /** Spool entries the booted content does not point at once the plan is committed: retire after a later commit. */
  retire: string[];
}

export function planReconcile(data: Readonly<NvramData>, entries: SpoolEntry[], lostNewer: boolean): ReconcilePlan {
  const plan: ReconcilePlan = { finish: [], restoreFinished: [], adopt: [], missing: [], writeDone: [], retire: [] };
  const byId = new Map(entries.map((e) => [e.id, e]));
  const finished = new Map(data.jobLog.map((j) => [j.id, j]));
  for (const job of data.spool) {
    const e = byId.get(job.id);
    if (e?.done) {
      plan.finish.push({ id: job.id, done: e.done });
      plan.retire.push(job.id);
    } else if (!e?.hasContent) {
      plan.missing.push(job.id);
      if (e) plan.retire.push(job.id);
    }
  }
  const pending = new Set(data.spool.map((j) => j.id));
  for (const e of entries) {
    if (pending.has(e.id)) continue;
    const known = finished.get(e.id);
    if (known) {
      if (!e.done && (known.status === 'sent' || known.status === 'failed')) {
        plan.writeDone.push({ id: e.id, done: doneRecordOf({ ...known, status: known.status }) });
      }
      plan.retire.push(e.id);
    } else if (lostNewer && e.done) {
      if (e.hasContent) plan.restoreFinished.push({ id: e.id, done: e.done });
      plan.retire.push(e.id);
    } else if (lostNewer && e.hasContent) {
      plan.adopt.push(e.id);
    } else {
      plan.retire.push(e.id);
    }
  }
  return plan;
}

/** True when the plan changes the job records (and so needs a commit and an event). */
export function changesRecords(plan: ReconcilePlan): boolean {
  return plan.finish.length + plan.restoreFinished.length + plan.adopt.length + plan.missing.length > 0;
}

/** The record of a job taken back from the spool (its Message-ID and creation time from the content when known). */
export function adoptedRecord(id: string, content: JobContent, contentPath: string, serial: string, now: number): JobRecord {
  return {
    id,
    messageId: content.messageId ?? `<${id}@${serial.toLowerCase()}.mfp-sim.invalid>`,
    status: 'queued',
    to: content.to,
    subject: content.subject,
    contentPath,
    attempts: 0,
    reply: null,
    createdAt: content.createdAt ?? now,
    updatedAt: now,
  };
}

/** The job-log record of a finished job whose bank was lost, from its content and done record. */
export function restoredRecord(id: string, content: JobContent, done: DoneRecord, contentPath: string): JobRecord {
  return {
    id,
    messageId: done.messageId,
    status: done.status,
    to: content.to,
    subject: content.subject,
    contentPath,
    attempts: 1,
    reply: done.reply,
    createdAt: content.createdAt ?? done.at,
    updatedAt: done.at,
  };
}

export const MISSING_CONTENT_REPLY = 'the job content is missing from the spool';

/**
 * Applies the plan to the NVRAM draft (one commit with its event-log entry). `adopted` and `restored` are the
 * records built from the content files (an unreadable content file is simply not among them).
 */
export function applyReconcile(draft: NvramData, plan: ReconcilePlan, adopted: JobRecord[], restored: JobRecord[], now: number): void {
  const move = (id: string, status: 'sent' | 'failed', reply: string | null, at: number) => {
    const job = draft.spool.find((j) => j.id === id);
    if (!job) return;
    Object.assign(job, { status, reply, updatedAt: at });
    draft.spool = draft.spool.filter((j) => j.id !== id);
    draft.jobLog.push(job);
  };
  for (const { id, done } of plan.finish) move(id, done.status, done.reply, done.at);
  for (const id of plan.missing) move(id, 'failed', MISSING_CONTENT_REPLY, now);
  draft.jobLog.push(...restored);
  draft.spool.push(...adopted);
  draft.eventLog.push({ at: now, kind: 'spool.reconciled', message: reconcileMessage(plan, adopted.length, restored.length), data: reconcileData(plan, adopted, restored) });
}

function reconcileData(plan: ReconcilePlan, adopted: JobRecord[], restored: JobRecord[]): Record<string, unknown> {
  return {
    reason: 'spool-reconciled',
    finished: plan.finish.map((f) => ({ id: f.id, status: f.done.status })),
    restored: restored.map((j) => j.id),
    adopted: adopted.map((j) => j.id),
    missing: [...plan.missing],
  };
}

function reconcileMessage(plan: ReconcilePlan, adopted: number, restored: number): string {
  const parts: string[] = [];
  const sent = plan.finish.filter((f) => f.done.status === 'sent').length;
  const failed = plan.finish.length - sent;
  if (sent) parts.push(`${sent} job(s) the booted bank still had pending were already sent (recorded as sent, not resent)`);
  if (failed) parts.push(`${failed} job(s) the booted bank still had pending had been dismissed (recorded as failed)`);
  if (restored) parts.push(`${restored} finished job(s) of a lost bank put back in the job log`);
  if (adopted) parts.push(`${adopted} acknowledged job(s) of a lost bank taken back from the spool and queued`);
  if (plan.missing.length) parts.push(`${plan.missing.length} pending job(s) failed: ${MISSING_CONTENT_REPLY}`);
  return `spool reconciled with the NVRAM at boot: ${parts.join('; ')}`;
}

/** The boot report's reason for a reconciliation that changed records (null: nothing to say). */
export function reconcileReason(entry: NvramData['eventLog'][number] | undefined): BootReason | null {
  if (!entry || entry.kind !== 'spool.reconciled') return null;
  return { code: 'spool-reconciled', detail: entry.message, ...(entry.data ? { data: { ...entry.data } } : {}) };
}
