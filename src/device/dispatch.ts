/**
 * Dispatch and commit: statechart events are applied one at a time (a promise queue) with xstate's pure
 * `transition`, and each step that changes anything persisted — the snapshot, a job record, the token cache — is
 * committed to NVRAM in exactly one write before anyone sees the new state. A step that changes nothing persisted
 * writes nothing; if the write fails, the step did not happen (memory is left as it was).
 */
import { isDeepStrictEqual } from 'node:util';
import { createEmptyActor, type AnyActorScope, type ExecutableActionObject, type SnapshotFrom } from 'xstate';
import { oauthDeviceMachine as machine, leafState, type DeviceEvent, type LeafState } from '../../machines/oauthDevice.ts';
import type { Clock } from '../time/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { DraftVault, Nvram } from '../nvram/index.ts';
import { NvramPrerequisiteError } from '../nvram/errors.ts';
import type { NvramData } from '../nvram/schema.ts';
import { applyRecords, declaresRecords, jobsSentBy, transitionEntry, trimLogs, type Step } from './records.ts';
import type { DispatchResult } from './printer.ts';
import type { StorageFaults } from './storage-fault.ts';
import type { DoneJob } from './spoolKeeper.ts';

export type Snapshot = SnapshotFrom<typeof machine>;

/** Name of the sealed secret holding the serialized MSAL token cache. */
export const TOKEN_CACHE_SECRET = 'msal-cache';

/** The snapshot as it is stored in NVRAM. */
export const persistedSnapshot = (s: Snapshot, since: number) => ({ value: s.value, context: s.context, since });

/**
 * xstate's pure `transition()` with one inert actor scope kept for all steps: `transition()` builds a new inert actor
 * — and with it the machine's initial snapshot — on every call. Our machine spawns, defers and emits nothing (it is
 * pure: no invoke, no after), so a scope that only collects the step's actions serves every step of a boot.
 */
export function pureStepper(): (snapshot: Snapshot, event: DeviceEvent) => [Snapshot, ExecutableActionObject[]] {
  // An empty actor as `self`: never started, and nothing of the machine refers to it. An actor of the machine would
  // compute the machine's initial snapshot once per boot (~60 µs of a cold boot's CPU) only to be ignored.
  const self = createEmptyActor();
  let actions: ExecutableActionObject[] = [];
  const scope: AnyActorScope = {
    self,
    id: '',
    sessionId: '',
    system: self.system,
    logger: () => {},
    defer: () => {},
    emit: () => {},
    stopChild: () => {},
    actionExecutor: (action) => void actions.push(action),
  };
  return (snapshot, event) => {
    actions = [];
    return [machine.transition(snapshot, event, scope), actions];
  };
}

/** What happened in an accepted step, for the runtime's after-step work (notices, effects, deadlines, the pump). */
export interface StepDone extends Step {
  from: LeafState;
  to: LeafState;
  stateChanged: boolean;
  contextChanged: boolean;
  /** Jobs that finished in this step (their spool content can go). */
  finishedJobs: string[];
}

export interface DispatcherOptions {
  nvram: Nvram;
  clock: Clock;
  log: Logger;
  snapshot: Snapshot;
  since: number;
  /** What the device knows of its disk: a commit that fails on it becomes a StorageFaultError there. */
  storage: StorageFaults;
  /** Runs after each accepted step is committed and in memory (still inside the queue). */
  afterStep(done: StepDone): Promise<void>;
  /**
   * Durable work for the jobs a step's write records as sent (the spool's done records), started just before that
   * write so that its waits for the disk overlap the write's work and its own; awaited before the step goes on,
   * whatever the write's fate. It must not reject.
   */
  alongsideSent?(jobs: DoneJob[]): Promise<void>;
}

export class Dispatcher {
  snapshot: Snapshot;
  since: number;
  /** Staged token cache: a string is a new cache, null deletes it, undefined stages nothing. */
  staged: string | null | undefined = undefined;
  stopped = false;
  /** NVRAM commits this boot made. */
  commits = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly step = pureStepper();

  constructor(private readonly o: DispatcherOptions) {
    this.snapshot = o.snapshot;
    this.since = o.since;
  }

  leaf(): LeafState {
    return leafState(this.snapshot.value);
  }

  /** Runs `fn` after everything queued before it; keeps `idle()` honest. */
  enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    this.track(run);
    return run;
  }

  track(p: Promise<unknown>): void {
    const settled = p.catch(() => undefined);
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
  }

  async idle(): Promise<void> {
    // Yield first so that outcomes already resolved (but still in the microtask queue) get enqueued and counted.
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.inFlight.size === 0) return;
      await Promise.all([...this.inFlight]);
    }
  }

  /**
   * Resolves when no event is queued, effects in flight aside: a call held on the network (a gate, a slow server)
   * does not keep it waiting, while the work the step queued behind it (the pump's SEND that only holds a job, with
   * no transition notice) does.
   */
  async eventsDrained(): Promise<void> {
    for (;;) {
      // Yield first so that outcomes already resolved (but still in the microtask queue) get enqueued.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const tail = this.queue;
      await tail;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (tail === this.queue) return;
    }
  }

  dispatch(event: DeviceEvent, extra?: (draft: NvramData, vault: DraftVault) => void): Promise<DispatchResult> {
    return this.enqueue(() => this.apply(event, extra));
  }

  /**
   * One statechart step (call inside the queue). `extra` adds the caller's own changes to the same write; `after`
   * is durable work the write must follow (see commit()).
   */
  async apply(event: DeviceEvent, extra?: (draft: NvramData, vault: DraftVault) => void, after?: Promise<unknown>): Promise<DispatchResult> {
    const { clock, log } = this.o;
    if (this.stopped) return { accepted: false, state: this.leaf(), reason: 'device is powered off' };
    const prev = this.snapshot;
    const from = this.leaf();
    if (!prev.can(event)) {
      if (this.staged !== undefined) await this.commit(() => {});
      log.debug({ event: event.type, state: from }, 'event not handled in this state');
      return { accepted: false, state: from, reason: `${event.type} is not handled in state ${from}` };
    }
    const [next, actionList] = this.step(prev, event);
    const step: Step = { prev, next, event, actions: new Set(actionList.map((a) => a.type)), now: clock.now() };
    const to = leafState(next.value);
    const stateChanged = to !== from || !isDeepStrictEqual(next.value, prev.value);
    const contextChanged = !isDeepStrictEqual(next.context, prev.context);
    const nextSince = stateChanged ? clock.now() : this.since;
    const deleteTokens = step.actions.has('deleteTokens');
    let finishedJobs: string[] = [];

    const writes = extra !== undefined || stateChanged || contextChanged || this.staged !== undefined || deleteTokens || declaresRecords(step);
    if (writes) {
      const sent = this.o.alongsideSent ? jobsSentBy(this.o.nvram.data, step) : [];
      const alongside = sent.length ? this.o.alongsideSent!(sent) : undefined;
      try {
        await this.commit((draft, vault) => {
          extra?.(draft, vault);
          finishedJobs = applyRecords(draft, step);
          draft.snapshot = persistedSnapshot(next, nextSince);
          const entry = transitionEntry(step, stateChanged);
          if (entry) draft.eventLog.push(entry);
        }, deleteTokens, after);
      } finally {
        await alongside;
      }
    }
    this.snapshot = next;
    this.since = nextSince;
    log.info({ event: event.type, from, to, reason: next.context.lastError?.reason }, 'transition');
    await this.o.afterStep({ ...step, from, to, stateChanged, contextChanged, finishedJobs });
    return { accepted: true, state: to };
  }

  /**
   * One NVRAM write: the mutation plus any staged token cache, and the event-log lines of a storage fault that is
   * over. On failure nothing in memory changes either; a failure of the disk is thrown as a StorageFaultError.
   * `after`: durable work elsewhere this write must follow (nvram.update()); when it fails, the NvramPrerequisiteError
   * is thrown as it is, for the caller to tell its own failure from the NVRAM's.
   */
  async commit(mutate: (draft: NvramData, vault: DraftVault) => void, deleteTokens = false, after?: Promise<unknown>): Promise<void> {
    const cache = deleteTokens ? null : this.staged;
    const storage = this.o.storage;
    try {
      await this.o.nvram.update((draft, vault) => {
        draft.eventLog.push(...storage.logLines());
        mutate(draft, vault);
        if (cache === null) vault.delete(TOKEN_CACHE_SECRET);
        else if (cache !== undefined) vault.set(TOKEN_CACHE_SECRET, cache);
        trimLogs(draft);
      }, after);
    } catch (err) {
      if (err instanceof NvramPrerequisiteError) throw err; // not the NVRAM's failure: nothing was written
      throw storage.failed(err, 'nvram');
    }
    // A cache staged while this write was in flight (a refresh that answered meanwhile) is not in it: it waits for
    // the next commit. A sign-out's write drops whatever was staged, late answers included.
    if (deleteTokens || this.staged === cache) this.staged = undefined;
    this.commits++;
    storage.committed();
  }
}
