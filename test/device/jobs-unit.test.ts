/**
 * Job intake, the job pump and the job views (src/device/jobs.ts) on their own, with hand-made deps: a core that
 * records what it is asked to apply and commit, a spool, a keeper and a storage whose answers the test sets. What is
 * checked is what a submitter and the panel see: the acknowledged record, the one NVRAM write per job when the
 * device is free, the order in which queued jobs go, and held jobs while the NVRAM cannot record anything.
 */
import { describe, expect, it } from 'vitest';
import type { DeviceEvent } from '../../machines/oauthDevice.ts';
import { createJobs, type JobsDeps } from '../../src/device/jobs.ts';
import type { Dispatcher } from '../../src/device/dispatch.ts';
import { DeviceInputError } from '../../src/device/validation.ts';
import { StorageFaultError, type StorageFault } from '../../src/device/storage-fault.ts';
import type { JobRecord, NvramData } from '../../src/nvram/schema.ts';
import type { Nvram } from '../../src/nvram/index.ts';
import { NvramPrerequisiteError } from '../../src/nvram/errors.ts';

const NOW = 1_700_000_000_000;
const SERIAL = 'MFP-ABC123';
const JOB = { to: ['a@contoso.com', 'b@contoso.com'], subject: 'Scan', body: 'see attached' };

const record = (id: string, status: JobRecord['status']): JobRecord => ({
  id, messageId: `<${id}@mfp>`, status, to: ['a@contoso.com'], subject: id, contentPath: `${id}.json`, attempts: 0, reply: null, createdAt: 0, updatedAt: 0,
});
const diskFull = () => new StorageFaultError({ reason: 'storage-full', area: 'nvram', operation: 'write', code: 'ENOSPC', message: 'no space left' });

function harness(opts: { spool?: JobRecord[]; jobLog?: JobRecord[] } = {}) {
  const data = { device: { serial: SERIAL }, spool: [...(opts.spool ?? [])], jobLog: [...(opts.jobLog ?? [])], eventLog: [] } as unknown as NvramData;
  let queue: Promise<unknown> = Promise.resolve();
  const applied: { event: DeviceEvent; withAcknowledgement: boolean }[] = [];
  const core = {
    stopped: false,
    commits: 0,
    jobId: null as string | null,
    canSend: true,
    /** Thrown by the next commit (the NVRAM refused it). */
    commitFails: null as unknown,
    /** Thrown by the next apply after its commit (the after-step work failed). */
    afterCommitFails: null as unknown,
    get snapshot() {
      return { context: { jobId: core.jobId }, can: (e: DeviceEvent) => e.type === 'SEND' && core.canSend };
    },
    enqueue<T>(fn: () => Promise<T>): Promise<T> {
      const run = queue.then(fn, fn);
      queue = run.catch(() => undefined);
      return run;
    },
    /** Like the NVRAM: the write waits for `after` (the content's durability) and is not made when it fails. */
    async commit(mutate: (draft: NvramData) => void, _deleteTokens = false, after?: Promise<unknown>) {
      const failure = core.commitFails;
      core.commitFails = null;
      if (failure) throw failure;
      if (after) await after.catch((err: unknown) => Promise.reject(new NvramPrerequisiteError(err)));
      mutate(data);
      core.commits++;
    },
    async apply(event: DeviceEvent, extra?: (draft: NvramData) => void, after?: Promise<unknown>) {
      applied.push({ event, withAcknowledgement: extra !== undefined });
      await core.commit((draft) => {
        extra?.(draft);
        const job = event.type === 'SEND' ? draft.spool.find((j) => j.id === event.jobId) : undefined;
        if (job) job.status = 'sending'; // the step that starts a job changes its record in the same write
      }, false, after);
      if (event.type === 'SEND') core.jobId = event.jobId;
      const failure = core.afterCommitFails;
      core.afterCommitFails = null;
      if (failure) throw failure;
      return { accepted: true };
    },
  };
  const written: { id: string; content: unknown }[] = [];
  let spoolFails: unknown = null;
  /** While set, a content write waits for it (a slow disk). */
  let spoolHeld: Promise<void> | null = null;
  const spool = {
    pathFor: (id: string) => `${id}.json`,
    write: async (id: string, content: unknown, whileSyncing?: () => void) => {
      whileSyncing?.(); // written, its fsyncs under way: the held part is the wait for the disk
      if (spoolHeld) await spoolHeld;
      if (spoolFails) throw spoolFails;
      written.push({ id, content });
      return `${id}.json`;
    },
  };
  const retiredLater: string[][] = [];
  let retireDueCalls = 0;
  const keeper = { retireLater: (ids: string[]) => void retiredLater.push(ids), retireDue: async () => void retireDueCalls++ };
  let nvramFault: StorageFault | null = null;
  let spoolFault: StorageFault | null = null;
  const failedAreas: string[] = [];
  const spoolWorked: (string | undefined)[] = [];
  const storageDeferred: { key: string; work: () => Promise<unknown> }[] = [];
  const storage = {
    faulty: (area: string) => (area === 'nvram' ? nvramFault : area === 'spool' ? spoolFault : null) !== null,
    current: () => nvramFault ?? spoolFault,
    failed: (err: unknown, area: string) => (failedAreas.push(area), new Error(`refused by the ${area}: ${(err as Error).message}`)),
    spoolWorked: (op?: string) => void spoolWorked.push(op),
    defer: (key: string, work: () => Promise<unknown>) => void storageDeferred.push({ key, work }),
  };
  const internalCalls: { key: string; work: () => Promise<unknown> }[] = [];
  const internalErrors: unknown[] = [];
  let reconciling = false;
  const deps: JobsDeps = {
    nvram: { get data() { return data; } } as unknown as Nvram,
    clock: { now: () => NOW, setTimer: () => 0 as never, clearTimer: () => {} },
    core: core as unknown as Dispatcher,
    spool: spool as unknown as JobsDeps['spool'],
    keeper: keeper as unknown as JobsDeps['keeper'],
    storage: storage as unknown as JobsDeps['storage'],
    internal: async (key, work) => {
      internalCalls.push({ key, work });
      try {
        await work();
      } catch (err) {
        internalErrors.push(err);
      }
    },
    reconciling: () => reconciling,
  };
  const jobs = createJobs(deps);
  return {
    jobs, data, core, applied, written, retiredLater, failedAreas, spoolWorked, storageDeferred, internalCalls, internalErrors,
    retireDueCalls: () => retireDueCalls,
    settle: () => core.enqueue(async () => {}).then(() => core.enqueue(async () => {})),
    failSpool: (err: unknown) => (spoolFails = err),
    holdSpool: () => {
      let release!: () => void;
      spoolHeld = new Promise<void>((resolve) => (release = resolve));
      return () => {
        spoolHeld = null;
        release();
      };
    },
    faults: (f: { nvram?: StorageFault | null; spool?: StorageFault | null }) => {
      if (f.nvram !== undefined) nvramFault = f.nvram;
      if (f.spool !== undefined) spoolFault = f.spool;
    },
    setReconciling: (v: boolean) => (reconciling = v),
  };
}
const sends = (h: ReturnType<typeof harness>) => h.applied.filter((a) => a.event.type === 'SEND').map((a) => (a.event as { jobId: string }).jobId);

describe('job intake', () => {
  it('refuses bad input with the field’s problem, writing nothing anywhere', async () => {
    const h = harness();
    const err = await h.jobs.submit({ to: [], subject: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceInputError);
    expect((err as Error).message).toBe('invalid job: to needs at least one recipient');
    expect(h.written).toEqual([]);
    expect(h.core.commits).toBe(0);
    expect(h.data.spool).toEqual([]);
  });

  it('acknowledges a queued record with the content in the spool and a Message-ID of this printer', async () => {
    const h = harness();
    h.core.canSend = false; // e.g. not signed in: the job waits
    const job = await h.jobs.submit({ ...JOB, attachments: [{ filename: 'scan.pdf', path: '/scans/1.pdf' }] });
    expect(job.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(job).toEqual({
      id: job.id, messageId: `<${job.id}@mfp-abc123.mfp-sim.invalid>`, status: 'queued', to: JOB.to, subject: 'Scan',
      contentPath: `${job.id}.json`, attempts: 0, reply: null, createdAt: NOW, updatedAt: NOW,
    });
    // The content describes itself (a job whose bank is lost can be taken back from the spool).
    expect(h.written).toEqual([{
      id: job.id,
      content: { to: JOB.to, subject: 'Scan', text: 'see attached', attachments: [{ filename: 'scan.pdf', contentType: 'application/octet-stream', path: '/scans/1.pdf' }], messageId: job.messageId, createdAt: NOW },
    }]);
    expect(h.spoolWorked).toEqual(['write']);
    expect(h.data.spool).toEqual([job]);
    expect(h.data.eventLog).toEqual([{ at: NOW, kind: 'job', message: `job ${job.id} queued for 2 recipient(s)` }]);
    expect(h.core.commits).toBe(1);
    expect(h.retireDueCalls()).toBe(1);
    expect(h.retiredLater).toEqual([]);
  });

  it('two jobs get two ids and two Message-IDs', async () => {
    const h = harness();
    h.core.canSend = false;
    const a = await h.jobs.submit(JOB);
    const b = await h.jobs.submit(JOB);
    expect(a.id).not.toBe(b.id);
    expect(a.messageId).not.toBe(b.messageId);
  });

  it('a device free to send starts the job in the same write that acknowledges it', async () => {
    const h = harness();
    const job = await h.jobs.submit(JOB);
    expect(h.applied).toEqual([{ event: { type: 'SEND', jobId: job.id }, withAcknowledgement: true }]);
    expect(h.core.commits).toBe(1);
    expect(h.data.spool.map((j) => [j.id, j.status])).toEqual([[job.id, 'sending']]);
    expect(job.status).toBe('queued'); // the answer is the acknowledged record, not the draft the step changed
    await h.settle();
    expect(sends(h)).toEqual([job.id]); // the pump that follows sends nothing twice
  });

  it('a held job (waiting for a sign-in) is not in line: a device free to send starts the new job at once', async () => {
    const h = harness({ spool: [record('held', 'held')] });
    const job = await h.jobs.submit(JOB);
    expect(h.applied).toEqual([{ event: { type: 'SEND', jobId: job.id }, withAcknowledgement: true }]);
  });

  it('a job behind a queued one waits its turn: the older goes first', async () => {
    const h = harness({ spool: [record('older', 'queued')] });
    const job = await h.jobs.submit(JOB);
    expect(h.applied.filter((a) => a.withAcknowledgement)).toEqual([]);
    await h.settle();
    expect(sends(h)).toEqual(['older']);
    expect(h.data.spool.find((j) => j.id === job.id)?.status).toBe('queued');
  });

  it('a busy device (a job in progress, or unable to take SEND) only acknowledges; a stopped one too', async () => {
    for (const busy of [
      (h: ReturnType<typeof harness>) => (h.core.jobId = 'other'),
      (h: ReturnType<typeof harness>) => (h.core.canSend = false),
      (h: ReturnType<typeof harness>) => (h.core.stopped = true),
    ]) {
      const h = harness();
      busy(h);
      const job = await h.jobs.submit(JOB);
      await h.settle();
      expect(h.applied).toEqual([]);
      expect(h.core.commits).toBe(1);
      expect(h.data.spool.map((j) => [j.id, j.status])).toEqual([[job.id, 'queued']]);
    }
  });

  it('a spool that cannot take the content refuses the job with the disk’s reason; nothing is acknowledged', async () => {
    const h = harness();
    h.failSpool(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
    await expect(h.jobs.submit(JOB)).rejects.toThrow('refused by the spool: no space left on device');
    expect(h.failedAreas).toEqual(['spool']);
    expect(h.spoolWorked).toEqual([]);
    expect(h.core.commits).toBe(0);
    expect(h.data.spool).toEqual([]);
  });

  it('the record is written only once its content is durable, though its step is taken while the content is written', async () => {
    for (const spoolFailsToo of [false, true]) {
      const h = harness();
      const release = h.holdSpool();
      if (spoolFailsToo) h.failSpool(Object.assign(new Error('input/output error'), { code: 'EIO' }));
      const submitted = h.jobs.submit(JOB).then((job) => ({ job }), (err: unknown) => ({ err }));
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(h.applied.map((a) => a.event.type)).toEqual(['SEND']); // the step is under way…
      expect(h.core.commits).toBe(0); // …its write is not
      expect(h.data.spool).toEqual([]);
      release();
      const result = await submitted;
      if (spoolFailsToo) {
        expect((result as { err: Error }).err.message).toBe('refused by the spool: input/output error');
        expect(h.failedAreas).toEqual(['spool']);
        expect(h.core.commits).toBe(0);
        expect(h.data.spool).toEqual([]);
        expect(h.retiredLater).toEqual([]); // Spool.write removes a content file that is not durable
      } else {
        expect(h.core.commits).toBe(1);
        expect(h.written.map((w) => w.id)).toEqual([(result as { job: JobRecord }).job.id]);
        expect(h.data.spool.map((j) => j.status)).toEqual(['sending']);
      }
    }
  });

  it('an NVRAM that refuses the acknowledgement refuses the job, and its content is retired', async () => {
    for (const canSend of [true, false]) {
      const h = harness();
      h.core.canSend = canSend;
      h.core.commitFails = diskFull();
      await expect(h.jobs.submit(JOB)).rejects.toBeInstanceOf(StorageFaultError);
      expect(h.retiredLater).toEqual([[h.written[0]!.id]]);
      expect(h.data.spool).toEqual([]);
      expect(h.retireDueCalls()).toBe(0);
    }
  });

  it('a failure after the acknowledging write does not refuse the job: the pump is retried instead', async () => {
    const h = harness({ spool: [] });
    h.core.afterCommitFails = diskFull();
    const job = await h.jobs.submit(JOB);
    expect(job.status).toBe('queued');
    expect(h.retiredLater).toEqual([]);
    expect(h.storageDeferred.map((d) => d.key)).toEqual(['pump']);
    // The deferred work is the pump: with the device free again it takes the next queued job.
    h.core.jobId = null;
    h.data.spool.push(record('next', 'queued'));
    await h.storageDeferred[0]!.work();
    expect(sends(h)).toEqual([job.id, 'next']);

    const bug = new TypeError('a bug after the write');
    const k = harness();
    k.core.afterCommitFails = bug;
    await k.jobs.submit(JOB);
    expect(k.storageDeferred).toEqual([]);
    expect(k.internalErrors).toEqual([bug]); // handed to the device's error policy as pump work, not swallowed
    expect(k.internalCalls.map((c) => c.key)).toEqual(['pump', 'pump']); // that report, then the pump after intake
  });
});

describe('the job pump', () => {
  it('sends the first queued job in spool order, skipping jobs that are not queued', async () => {
    const h = harness({ spool: [record('held', 'held'), record('first', 'queued'), record('second', 'queued')] });
    h.jobs.schedulePump();
    await h.settle();
    expect(sends(h)).toEqual(['first']);
    expect(h.internalCalls.map((c) => c.key)).toEqual(['pump']);
  });

  it('one look is queued at a time; a later request queues the next look', async () => {
    const h = harness({ spool: [record('first', 'queued'), record('second', 'queued')] });
    h.core.canSend = false;
    h.jobs.schedulePump();
    h.jobs.schedulePump();
    await h.settle();
    expect(h.internalCalls).toHaveLength(1);
    h.core.canSend = true;
    h.jobs.schedulePump();
    await h.settle();
    expect(h.internalCalls).toHaveLength(2);
    expect(sends(h)).toEqual(['first']);
  });

  it('sends nothing while a job is in progress, while the boot reconciliation is owed, when SEND is not possible, or with nothing queued', async () => {
    const cases: [string, (h: ReturnType<typeof harness>) => void][] = [
      ['a job in progress', (h) => (h.core.jobId = 'other')],
      ['reconciling', (h) => h.setReconciling(true)],
      ['cannot SEND', (h) => (h.core.canSend = false)],
      ['nothing queued', (h) => (h.data.spool[0]!.status = 'held')],
    ];
    for (const [name, setup] of cases) {
      const h = harness({ spool: [record('first', 'queued')] });
      setup(h);
      h.jobs.schedulePump();
      await h.settle();
      expect({ name, sends: sends(h), errors: h.internalErrors }).toEqual({ name, sends: [], errors: [] });
    }
  });

  it('a stopped device queues no look, and a look queued before power-off sends nothing', async () => {
    const h = harness({ spool: [record('first', 'queued')] });
    h.core.stopped = true;
    h.jobs.schedulePump();
    await h.settle();
    expect(h.internalCalls).toEqual([]);

    const k = harness({ spool: [record('first', 'queued')] });
    k.jobs.schedulePump();
    k.core.stopped = true;
    await k.settle();
    expect(sends(k)).toEqual([]);
  });
});

describe('the jobs as faces see them', () => {
  const fault = (reason: StorageFault['reason'], area: StorageFault['area'], code: string): StorageFault => ({
    reason, area, operation: 'write', code, message: 'm', since: 0, failures: 1, retryAt: null,
  });

  it('lists the spool then the job log, as copies', () => {
    const h = harness({ spool: [record('q', 'queued'), record('s', 'sending')], jobLog: [record('done', 'sent')] });
    const list = h.jobs.list();
    expect(list.map((j) => j.id)).toEqual(['q', 's', 'done']);
    expect(list).toEqual([...h.data.spool, ...h.data.jobLog]);
    list[0]!.status = 'failed';
    expect(h.data.spool[0]!.status).toBe('queued');
  });

  it('finds a job in the spool or the job log; an unknown id is undefined', () => {
    const h = harness({ spool: [record('q', 'queued')], jobLog: [record('done', 'sent')] });
    expect(h.jobs.get('q')).toEqual(record('q', 'queued'));
    expect(h.jobs.get('done')).toEqual(record('done', 'sent'));
    expect(h.jobs.get('nope')).toBeUndefined();
    h.jobs.get('q')!.status = 'failed';
    expect(h.data.spool[0]!.status).toBe('queued');
  });

  it('while the NVRAM cannot record anything, queued jobs show as held with the disk’s reason; others as they are', () => {
    const h = harness({ spool: [record('q', 'queued'), record('s', 'sending')], jobLog: [record('done', 'sent')] });
    h.faults({ nvram: fault('storage-full', 'nvram', 'ENOSPC') });
    expect(h.jobs.list().map((j) => [j.id, j.status, j.reply])).toEqual([
      ['q', 'held', 'held: storage-full (ENOSPC)'],
      ['s', 'sending', null],
      ['done', 'sent', null],
    ]);
    expect(h.jobs.get('q')).toMatchObject({ status: 'held', reply: 'held: storage-full (ENOSPC)' });
    expect(h.data.spool[0]!.status).toBe('queued'); // a view, not a record change
  });

  it('a spool fault alone holds nothing (the NVRAM can still record the jobs)', () => {
    const h = harness({ spool: [record('q', 'queued')] });
    h.faults({ spool: fault('spool-write-failed', 'spool', 'EIO') });
    expect(h.jobs.list()[0]).toMatchObject({ status: 'queued', reply: null });
    expect(h.jobs.get('q')).toMatchObject({ status: 'queued', reply: null });
  });
});
