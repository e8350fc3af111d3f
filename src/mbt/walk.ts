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
import { startSystemUnderTest, type InjectedFault } from './system.ts';
import type { CoverageTracker } from './coverage.ts';
import { SystemTime } from './timing.ts';

interface WalkModel {
  state: SystemState;
  executor: ModelExecutor;
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
class PickCommand implements fc.AsyncCommand<WalkModel, ModelExecutor, false> {
  private label: EventLabel | null = null;
  constructor(readonly pick: number) {}
  check(): boolean {
    return true;
  }
  async run(m: WalkModel, r: ModelExecutor): Promise<void> {
    const pending = Object.entries(r.sut.device.deadlines()).sort((a, b) => a[1]! - b[1]!);
    const choices = enabledLabels(m.state)
      .filter((l) => !DEADLINES.has(l) || (pending[0]?.[0] === l && nextDeadline(m.state.snapshot) === l))
      .flatMap((l) => Array.from({ length: WEIGHTS[l] ?? 2 }, () => l));
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
  /** Twin certificates to reuse across the walks' systems (saves a key generation per walk). */
  certDir?: string;
  /** Stop shrinking after this much wall time (ms). */
  shrinkTimeLimitMs?: number;
  /** Accumulates the wall time spent waiting on the systems (starting, stepping, closing them). */
  timing?: SystemTime;
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
}

export async function runWalks(opts: WalkOptions): Promise<WalkOutcome> {
  const arbitraries = [fc.nat({ max: 255 }).map((n) => new PickCommand(n))];
  const failing: { labels: EventLabel[]; message: string }[] = [];
  let runs = 0;
  const timing = opts.timing ?? new SystemTime();
  const property = fc.asyncProperty(fc.commands(arbitraries, { maxCommands: opts.maxCommands, size: 'max' }), async (cmds) => {
    runs++;
    const sut = await timing.inside(() => startSystemUnderTest({ fault: opts.fault, certDir: opts.certDir }));
    const executor = new ModelExecutor(sut, { coverage: opts.coverage, timing });
    try {
      await fc.asyncModelRun(() => ({ model: { state: initialSystemState(), executor }, real: executor }), cmds);
    } catch (err) {
      failing.push({ labels: executor.records.map((r) => r.label).concat(lastAttempted(executor)), message: (err as Error).message });
      throw err;
    } finally {
      await timing.inside(() => sut.close());
    }
  });
  const details = await fc.check(property, {
    numRuns: opts.numRuns,
    seed: opts.seed,
    interruptAfterTimeLimit: opts.shrinkTimeLimitMs,
    markInterruptAsFailure: false,
  });
  const shortest = failing.length ? failing.reduce((a, b) => (b.labels.length <= a.labels.length ? b : a)) : null;
  return {
    ok: !details.failed,
    seed: details.seed,
    runs,
    original: failing[0]?.labels ?? null,
    shrunk: shortest?.labels ?? null,
    message: shortest?.message ?? null,
    counterexamplePath: details.counterexamplePath ?? null,
  };
}

/** The label of the step that failed (it is not in `records`, which holds completed steps). */
function lastAttempted(executor: ModelExecutor): EventLabel[] {
  const l = executor.attempted.at(-1);
  return l && executor.attempted.length > executor.records.length ? [l] : [];
}
