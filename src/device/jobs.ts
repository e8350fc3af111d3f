/**
 * The printer's jobs: intake (content in the spool, then the record in NVRAM, then the acknowledgement), the job
 * pump (the next queued job goes to the statechart when it can take one) and the jobs as faces see them.
 */
import { randomUUID } from 'node:crypto';
import type { DeviceEvent } from '../../machines/oauthDevice.ts';
import type { Clock } from '../time/clock.ts';
import type { Nvram } from '../nvram/index.ts';
import type { JobRecord, NvramData } from '../nvram/schema.ts';
import type { Dispatcher } from './dispatch.ts';
import type { Spool } from './spool.ts';
import type { SpoolKeeper } from './spoolKeeper.ts';
import { StorageFaultError, type StorageFaults } from './storage-fault.ts';
import { jobRequestSchema, parseOrThrow } from './validation.ts';

export interface JobsDeps {
  nvram: Nvram;
  clock: Clock;
  core: Dispatcher;
  spool: Spool;
  keeper: SpoolKeeper;
  storage: StorageFaults;
  /** Runs work from inside the device under its error policy (a failing disk keeps it for the storage retry). */
  internal(key: string, work: () => Promise<unknown>): Promise<void>;
  /** True while the boot's reconciliation of the spool is still owed: no job starts before it (device.ts). */
  reconciling(): boolean;
}

export interface Jobs {
  /** Makes a job durable (content in the spool, record in NVRAM), then acknowledges it. */
  submit(input: unknown): Promise<JobRecord>;
  list(): JobRecord[];
  get(id: string): JobRecord | undefined;
  /** Queues one look for a job the statechart can take now (at most one look is queued at a time). */
  schedulePump(): void;
}

export function createJobs(d: JobsDeps): Jobs {
  const { nvram, clock, core, spool, keeper, storage } = d;

  /** A queued job cannot move while the NVRAM cannot record it: it shows as held, with the disk's reason. */
  function heldByStorage(j: JobRecord): JobRecord {
    const fault = storage.faulty('nvram') ? storage.current() : null;
    if (!fault || j.status !== 'queued') return { ...j };
    return { ...j, status: 'held', reply: `held: ${fault.reason} (${fault.code})` };
  }

  let pumpScheduled = false;
  function schedulePump(): void {
    if (pumpScheduled || core.stopped) return;
    pumpScheduled = true;
    void core.enqueue(async () => {
      pumpScheduled = false;
      await d.internal('pump', pump);
    });
  }

  /** Hands the next queued job to the statechart when it can take one (or hold it, when it cannot send at all). */
  async function pump(): Promise<void> {
    if (core.stopped || d.reconciling() || core.snapshot.context.jobId !== null) return;
    const next = nvram.data.spool.find((j) => j.status === 'queued');
    if (!next) return;
    const event: DeviceEvent = { type: 'SEND', jobId: next.id };
    if (!core.snapshot.can(event)) return; // busy (refreshing, sending, sendFailure): it waits its turn
    await core.apply(event);
  }

  async function submit(input: unknown): Promise<JobRecord> {
    const req = parseOrThrow(jobRequestSchema, input, 'job');
    const id = randomUUID();
    const now = clock.now();
    const messageId = `<${id}@${nvram.data.device.serial.toLowerCase()}.mfp-sim.invalid>`;
    // Self-describing content: a job acknowledged by a bank that is later lost can be taken back from the spool.
    const content = { to: req.to, subject: req.subject, text: req.body, attachments: req.attachments, messageId, createdAt: now };
    // The content must be durable before the record that points at it: the record's write waits for it
    // (`after`), while the step and the encoding of that write run during the content's wait for the disk (they are
    // queued once its fsyncs are under way, not before: run first, they would only delay those).
    const contentPath = spool.pathFor(id);
    let spoolError: { err: unknown } | null = null;
    let syncing!: () => void;
    const contentSyncing = new Promise<void>((resolve) => (syncing = resolve));
    const contentDurable = spool.write(id, content, syncing).then(
      () => storage.spoolWorked('write'), // a read fault is not ended by a write
      (err: unknown) => {
        spoolError = { err };
        throw err;
      },
    );
    contentDurable.catch(() => undefined); // its failure is answered below, from whichever await meets it first
    await Promise.race([contentSyncing, contentDurable.catch(() => undefined)]);
    const record: JobRecord = {
      id,
      messageId,
      status: 'queued',
      to: req.to,
      subject: req.subject,
      contentPath,
      attempts: 0,
      reply: null,
      createdAt: now,
      updatedAt: now,
    };
    const acknowledge = (draft: NvramData) => {
      draft.spool.push({ ...record }); // a copy: the step that starts it changes the draft's, not the answer's
      draft.eventLog.push({ at: now, kind: 'job', message: `job ${id} queued for ${req.to.length} recipient(s)` });
    };
    try {
      await core.enqueue(async () => {
        // A device free to take it now starts it in the same NVRAM write that acknowledges it (one write per job
        // instead of two); otherwise it waits in the spool for the pump, in the order it came.
        const send: DeviceEvent = { type: 'SEND', jobId: id };
        const free = !core.stopped && core.snapshot.context.jobId === null && !nvram.data.spool.some((j) => j.status === 'queued');
        if (!free || !core.snapshot.can(send)) return core.commit(acknowledge, false, contentDurable);
        const commitsBefore = core.commits;
        try {
          await core.apply(send, acknowledge, contentDurable);
        } catch (err) {
          if (core.commits === commitsBefore) throw err; // not acknowledged: refused below
          // Acknowledged and started: what failed after the write is the device's own work, as for the pump (a
          // failing disk retries the pump, never this intake: the record is in).
          if (err instanceof StorageFaultError) storage.defer('pump', pump);
          else await d.internal('pump', () => Promise.reject(err));
        }
      });
      await contentDurable; // already settled: the record's write waited for it
    } catch (err) {
      // The spool's answer first, as when it was written before anything else: a refusal with the disk's reason,
      // nothing acknowledged (a content file that is not durable is not left behind: Spool.write removes it).
      await contentDurable.catch(() => undefined);
      if (spoolError !== null) throw storage.failed((spoolError as { err: unknown }).err, 'spool');
      // Not acknowledged: the content goes (after a later commit, like any unreferenced entry).
      keeper.retireLater([id]);
      throw err;
    }
    await core.enqueue(keeper.retireDue);
    schedulePump();
    return { ...record };
  }

  return {
    submit,
    list: () => [...nvram.data.spool, ...nvram.data.jobLog].map(heldByStorage),
    get: (id) => {
      const j = nvram.data.spool.find((x) => x.id === id) ?? nvram.data.jobLog.find((x) => x.id === id);
      return j ? heldByStorage(j) : undefined;
    },
    schedulePump,
  };
}
