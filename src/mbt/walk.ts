/**
 * Random walks over the same vocabulary (operator actions, twin outcomes and faults, deadlines, power cuts) with
 * fast-check's model-based runner: the system model predicts the state after every command and the executor checks
 * the running system against it. On failure fast-check shrinks the walk; the seed, the original and the shrunk walk
 * are returned so the caller can print and save them (reports/mbt-failures/).
 */
import fc from 'fast-check';
import type { EventLabel } from './vocabulary.ts';
import { enabledLabels, initialSystemState, nextDeadline, type SystemState } from './systemModel.ts';
import { ModelExecutor } from './executor.ts';
import type { InjectedFault, SharedSetup, SystemUnderTest } from './system.ts';
import type { CoverageTracker } from './coverage.ts';
import { SystemTime } from './timing.ts';

/** What a walk needs of an executor: the in-process ModelExecutor or the remote one (src/mbt/remote/). */
export interface WalkExecutor {
  run(label: EventLabel): Promise<unknown>;
  readonly modelState: SystemState;
  readonly records: readonly { label: EventLabel }[];
  readonly attempted: readonly EventLabel[];
  /** Whether a label the model enables may be picked now (deadlines: only the system's earliest; capabilities). */
  eligible?(label: EventLabel): Promise<boolean>;
}

/** A fresh system for each walk (and each shrinking attempt). */
export type WalkSystemFactory = () => Promise<{ executor: WalkExecutor; close(): Promise<void> }>;

interface WalkModel {
  state: SystemState;
  executor: WalkExecutor;
}

/** Steps toward sign-in and sending are picked more often, resets less, so that 20 steps get somewhere. */
const WEIGHTS: Partial<Record<EventLabel, number>> = {
  'SAVE_SETTINGS:accountA': 10,
  START_AUTH: 12,
  CODE_ISSUED: 16,
  'TOKEN_GRANTED:configured': 16,
  SEND: 10,
  SENT: 8,
  REFRESHED: 8,
  FACTORY_RESET: 1,
  'SAVE_SETTINGS:off': 1,
};

const DEADLINES: ReadonlySet<EventLabel> = new Set(['CODE_DEADLINE', 'ACCESS_TOKEN_DEADLINE', 'RETRY_DUE']);

/**
 * "Take the n-th thing a tester could do now": the label is picked among the stimuli enabled in the model state
 * (and, for deadlines, only the device's earliest one: the access token's real lifetime is seeded), so every command
 * of a walk does something, and fast-check shrinks both the walk's length and the choices.
 */
class PickCommand implements fc.AsyncCommand<WalkModel, WalkExecutor, false> {
  private label: EventLabel | null = null;
  constructor(readonly pick: number) {}
  check(): boolean {
    return true;
  }
  async run(m: WalkModel, r: WalkExecutor): Promise<void> {
    const eligible: EventLabel[] = [];
    for (const l of enabledLabels(m.state)) {
      if (DEADLINES.has(l) && nextDeadline(m.state.snapshot) !== l) continue;
      if (r.eligible && !(await r.eligible(l))) continue;
      eligible.push(l);
    }
    const choices = eligible.flatMap((l) => Array.from({ length: WEIGHTS[l] ?? 2 }, () => l));
    if (choices.length === 0) throw new Error(`nothing the system can take in ${m.state.snapshot.value as string}`);
    this.label = choices[this.pick % choices.length]!;
    await r.run(this.label);
    m.state = r.modelState;
  }
  toString(): string {
    return this.label ?? `pick(${this.pick})`;
  }
}

export interface WalkOptions {
  numRuns: number;
  maxCommands: number;
  seed?: number;
  fault?: InjectedFault;
  coverage?: CoverageTracker;
  /** What the walks' systems share (twin certificates, compiled schemas: see prepareShared). */
  shared?: SharedSetup;
  /** Stop shrinking after this much wall time (ms). */
  shrinkTimeLimitMs?: number;
  /**
   * Stop shrinking after this many attempts (each one a walk on a fresh system): a bound that, unlike the time
   * limit, gives the same shrunk walk on an idle and on a loaded machine. Attempts beyond it are not run and count
   * as passing, so the walk reported is always one that failed.
   */
  maxShrinkAttempts?: number;
  /** Accumulates the wall time spent waiting on the systems (starting, stepping, closing them). */
  timing?: SystemTime;
  /** Where each walk runs; default a fresh in-process system (startSystemUnderTest) per walk. */
  system?: WalkSystemFactory;
}

/** One walk as run (shrinking attempts are not walks). */
export interface WalkRun {
  labels: EventLabel[];
  ok: boolean;
  message: string | null;
  ms: number;
}

export interface WalkOutcome {
  ok: boolean;
  seed: number;
  runs: number;
  /** The first failing walk as executed (commands fast-check skipped are not in it). */
  original: EventLabel[] | null;
  /** The shrunk failing walk. */
  shrunk: EventLabel[] | null;
  message: string | null;
  /** fast-check's replay path, with the seed enough to reproduce the shrunk walk. */
  counterexamplePath: string | null;
  /** The walks run before shrinking began: every passing one, then the first failing one (if any). */
  walks: WalkRun[];
  /** Shrinking attempts run on a system (attempts past `maxShrinkAttempts` are not counted). */
  shrinkAttempts: number;
}

export async function runWalks(opts: WalkOptions): Promise<WalkOutcome> {
  const arbitraries = [fc.nat({ max: 255 }).map((n) => new PickCommand(n))];
  const failing: { labels: EventLabel[]; message: string }[] = [];
  let runs = 0;
  let shrinkAttempts = 0;
  const timing = opts.timing ?? new SystemTime();
  const walks: WalkRun[] = [];
  // The next walk's system is started while the current walk runs: a walk mostly waits on its system, and starting
  // one (two Fastify apps, an NVRAM first boot) costs about as much as a short walk. Each walk still gets a fresh one.
  // The in-process system is loaded only when a walk runs on one: `mfp-sim mbt --driver` walks a remote printer and
  // need not load a twin, a simulator and a panel to start.
  const start = () => import('./system.ts').then(({ startSystemUnderTest }) => startSystemUnderTest({ fault: opts.fault, shared: opts.shared }));
  let prestarted: Promise<SystemUnderTest> | null = null;
  const open: WalkSystemFactory =
    opts.system ??
    (async () => {
      const sut = await (prestarted ?? start());
      prestarted = start();
      prestarted.catch(() => undefined); // a failed start is reported by the walk that takes it
      return { executor: new ModelExecutor(sut, { coverage: opts.coverage, timing }), close: () => sut.close() };
    });
  const property = fc.asyncProperty(fc.commands(arbitraries, { maxCommands: opts.maxCommands, size: 'max' }), async (cmds) => {
    const shrinking = failing.length > 0;
    if (shrinking && shrinkAttempts >= (opts.maxShrinkAttempts ?? Infinity)) return;
    if (shrinking) shrinkAttempts++;
    runs++;
    const started = performance.now();
    const system = await timing.inside(() => open());
    const executor = system.executor;
    try {
      await fc.asyncModelRun(() => ({ model: { state: initialSystemState(), executor }, real: executor }), cmds);
      if (!shrinking) walks.push({ labels: executor.records.map((r) => r.label), ok: true, message: null, ms: performance.now() - started });
    } catch (err) {
      const labels = executor.records.map((r) => r.label).concat(lastAttempted(executor));
      failing.push({ labels, message: (err as Error).message });
      if (!shrinking) walks.push({ labels, ok: false, message: (err as Error).message, ms: performance.now() - started });
      throw err;
    } finally {
      await timing.inside(() => system.close());
    }
  });
  const details = await fc
    .check(property, {
      numRuns: opts.numRuns,
      seed: opts.seed,
      interruptAfterTimeLimit: opts.shrinkTimeLimitMs,
      markInterruptAsFailure: false,
    })
    .finally(() => timing.inside(() => prestarted?.then((sut) => sut.close(), () => undefined)));
  const shortest = failing.length ? failing.reduce((a, b) => (b.labels.length <= a.labels.length ? b : a)) : null;
  return {
    ok: !details.failed,
    seed: details.seed,
    runs,
    original: failing[0]?.labels ?? null,
    shrunk: shortest?.labels ?? null,
    message: shortest?.message ?? null,
    counterexamplePath: details.counterexamplePath ?? null,
    walks,
    shrinkAttempts,
  };
}

/** The label of the step that failed (it is not in `records`, which holds completed steps). */
function lastAttempted(executor: WalkExecutor): EventLabel[] {
  const l = executor.attempted.at(-1);
  return l && executor.attempted.length > executor.records.length ? [l] : [];
}
