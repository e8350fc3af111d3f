/**
 * Job records and log entries that follow from a statechart step. The statechart declares record actions
 * (holdJob, completeJob, failJob, requeueJob); each has its rule here, and a step "writes records" exactly when one
 * of them was declared — the table below is the list, nothing is kept beside it. A few records follow from where
 * the step went (a sign-in releases held jobs, entering sending counts an attempt, sendFailure parks the job, a
 * retry out of sendFailure un-parks it).
 */
import type { SnapshotFrom } from 'xstate';
import { leafState, type DeviceEvent, type LastError, type LeafState, type oauthDeviceMachine } from '../../machines/oauthDevice.ts';
import type { JobRecord, NvramData } from '../nvram/schema.ts';
import { JOB_LOG_LIMIT } from './printer.ts';
import type { DoneJob } from './spoolKeeper.ts';

type Snapshot = SnapshotFrom<typeof oauthDeviceMachine>;

/** One accepted statechart step, as the record rules see it. */
export interface Step {
  prev: Snapshot;
  next: Snapshot;
  event: DeviceEvent;
  /** Action types the machine declared for this step. */
  actions: ReadonlySet<string>;
  now: number;
}

/** What a record rule may do to the NVRAM draft of the step's write. */
interface Records {
  draft: NvramData;
  find(id: string | null): JobRecord | undefined;
  /** Moves a job from the spool to the job log; its content is removed from the spool after the commit. */
  finish(job: JobRecord, status: 'sent' | 'failed', reply: string | null): void;
}

/** The statechart's record actions, by name. */
const RECORD_ACTIONS: Record<string, (r: Records, s: Step) => void> = {
  holdJob: (r, s) => {
    const job = r.find(s.event.type === 'SEND' ? s.event.jobId : s.prev.context.jobId);
    if (job) Object.assign(job, { status: 'held', reply: holdReason(leafState(s.next.value), s.next.context.lastError), updatedAt: s.now });
  },
  completeJob: (r, s) => {
    const job = r.find(s.prev.context.jobId);
    if (job) r.finish(job, 'sent', sentReply(s));
  },
  failJob: (r, s) => {
    const job = r.find(s.prev.context.jobId);
    const e = s.prev.context.lastError;
    if (job) r.finish(job, 'failed', e?.reply ?? e?.reason ?? 'dismissed');
  },
  requeueJob: (r, s) => {
    const job = r.find(s.prev.context.jobId);
    if (job && job.status !== 'held') Object.assign(job, { status: 'queued', updatedAt: s.now });
  },
};

/** The reply completeJob records: the server's, when the step is its answer. */
const sentReply = (s: Step): string | null => (s.event.type === 'SENT' ? s.event.reply : null);

/**
 * The jobs this step's records will finish as sent (completeJob), as their records will read, from the content
 * before the step: known before the step's write, so the spool's done records can be on their way first.
 */
export function jobsSentBy(data: Readonly<NvramData>, step: Step): DoneJob[] {
  if (!step.actions.has('completeJob')) return [];
  const id = step.prev.context.jobId;
  const job = id ? data.spool.find((j) => j.id === id) : undefined;
  return job ? [{ id: job.id, status: 'sent', reply: sentReply(step), updatedAt: step.now, messageId: job.messageId }] : [];
}

/** True when the step declared a record action (it must be written even if state and context look unchanged). */
export function declaresRecords(step: Pick<Step, 'actions'>): boolean {
  return Object.keys(RECORD_ACTIONS).some((name) => step.actions.has(name));
}

/** Applies the step's records to the draft; returns the ids of jobs that finished (their content can go). */
export function applyRecords(draft: NvramData, step: Step): string[] {
  const finished: string[] = [];
  const records: Records = {
    draft,
    find: (id) => (id ? draft.spool.find((j) => j.id === id) : undefined),
    finish: (job, status, reply) => {
      Object.assign(job, { status, reply, updatedAt: step.now });
      draft.spool = draft.spool.filter((j) => j.id !== job.id);
      draft.jobLog.push(job);
      finished.push(job.id);
    },
  };
  for (const [name, rule] of Object.entries(RECORD_ACTIONS)) if (step.actions.has(name)) rule(records, step);

  const from = leafState(step.prev.value);
  const to = leafState(step.next.value);
  if (releasesHeldJobs(step.event.type, to)) {
    // Held jobs were waiting for a sign-in (or an app token, or basic settings): they go out now.
    for (const job of draft.spool) if (job.status === 'held') Object.assign(job, { status: 'queued', updatedAt: step.now });
  }
  if (to === 'sending' && from !== 'sending') {
    const job = records.find(step.next.context.jobId);
    if (job) Object.assign(job, { status: 'sending', attempts: job.attempts + 1, updatedAt: step.now });
  }
  if (to === 'sendFailure') {
    // Queued while an automatic retry is scheduled; held (waiting for the operator's Retry or Dismiss) otherwise.
    const job = records.find(step.next.context.jobId);
    const status = step.next.context.retryAt !== null ? 'queued' : 'held';
    if (job) Object.assign(job, { status, reply: step.next.context.lastError?.reply ?? null, updatedAt: step.now });
  }
  if (from === 'sendFailure' && to === 'refreshing') {
    // Retry (or the retry deadline) with a stale token un-parks the job: it waits for the refresh as a job the pump
    // handed over does, so a power cut gives it back to the spool as queued (requeueJob leaves held jobs alone).
    const job = records.find(step.next.context.jobId);
    if (job) Object.assign(job, { status: 'queued', updatedAt: step.now });
  }
  return finished;
}

/** The event-log entry of a step that changed state or held a job (null: the step is not worth a line). */
export function transitionEntry(step: Step, stateChanged: boolean): NvramData['eventLog'][number] | null {
  if (!stateChanged && !step.actions.has('holdJob')) return null;
  const from = leafState(step.prev.value);
  const to = leafState(step.next.value);
  const err = step.next.context.lastError;
  return {
    at: step.now,
    kind: 'transition',
    message: `${from} → ${to} on ${step.event.type}`,
    ...(err && err !== step.prev.context.lastError ? { data: { reason: err.reason, code: err.code } } : {}),
  };
}

/** The job log keeps the newest JOB_LOG_LIMIT finished jobs. */
export function trimLogs(draft: NvramData): void {
  if (draft.jobLog.length > JOB_LOG_LIMIT) draft.jobLog.splice(0, draft.jobLog.length - JOB_LOG_LIMIT);
}

/** Events that enter `authorized` with a new session: a grant, basic settings saved, basic's Start after a sign-out. */
const SESSION_STARTS: ReadonlySet<string> = new Set(['TOKEN_GRANTED', 'SAVE_SETTINGS', 'START_AUTH']);

/** Whether a step ending in `to` on this event releases the held jobs (the model of src/mbt/ asks the same). */
export const releasesHeldJobs = (eventType: string, to: LeafState): boolean => to === 'authorized' && SESSION_STARTS.has(eventType);

/** Why a job waits, in the words the panel shows. */
export function holdReason(state: LeafState, lastError: LastError | null): string {
  switch (state) {
    case 'unconfigured':
      return 'held: OAuth 2.0 is not configured';
    case 'reauthRequired':
      return `held: re-authentication required${lastError ? ` (${lastError.reason})` : ''}`;
    case 'requestingCode':
    case 'codePending':
      return 'held: sign-in in progress';
    case 'requestingToken':
      return 'held: requesting an app-only token';
    default:
      return 'held: not signed in to Microsoft';
  }
}
