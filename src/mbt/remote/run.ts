/**
 * A black-box model-based run against a printer behind a driver: the generated paths and/or random walks (the same
 * generator and walk runner as in-process), then the twin's conformance report over the run's journal entries.
 * Every path, walk and rule becomes one case of the result (JUnit: junit.ts); covered / skipped / uncovered rows
 * come from remote-coverage.ts. This is the API `mfp-sim mbt --driver` and `scenario run --driver` build on:
 * `openRemote(...)` then `runRemote(target, {...})`.
 */
import { readFile } from 'node:fs/promises';
import { connectDriver, DEFAULT_DRIVER_TIMEOUT_MS, DriverError } from '../../driver/client.ts';
import { buildModelGraph, generatePaths, materialize, type ModelGraph } from '../generator.ts';
import { UNREACHABLE_ROWS } from '../unreachable.ts';
import { CoverageTracker } from '../coverage.ts';
import { ModelDivergence } from '../executor.ts';
import { runWalks } from '../walk.ts';
import { saveScenario, scenarioOf, FAILURES_DIR } from '../scenario.ts';
import type { EventLabel } from '../vocabulary.ts';
import { missingCapability, RemoteExecutor, StepSkipped, type RemoteExecutorOptions, type RemoteTarget } from './executor.ts';
import { TwinCallError, TwinControlClient } from './twin-client.ts';
import { RemoteCoverage } from './coverage.ts';

export interface RemoteConnectOptions {
  driverUrl: string;
  twinUrl: string;
  /** Path of the twin's CA certificate (PEM). */
  twinCaFile?: string;
  twinToken?: string;
  /** Per-call timeout for the driver and the twin (ms). */
  stepTimeoutMs?: number;
}

/** Connects to the driver (hello: version and capabilities checked) and to the twin's control API (clock read). */
export async function openRemote(o: RemoteConnectOptions): Promise<RemoteTarget> {
  const timeoutMs = o.stepTimeoutMs ?? DEFAULT_DRIVER_TIMEOUT_MS;
  const driver = await connectDriver({ url: o.driverUrl, timeoutMs });
  const ca = o.twinCaFile ? await readFile(o.twinCaFile) : undefined;
  const twin = new TwinControlClient({ url: o.twinUrl, ca, token: o.twinToken, timeoutMs: Math.max(timeoutMs, 15_000) });
  await twin.clock(); // reachable, trusted, answering: fail here rather than in the first step
  return { driver, twin };
}

export type CaseKind = 'path' | 'walk' | 'rule' | 'scenario';

/** One testcase of a run. */
export interface RunCase {
  kind: CaseKind;
  name: string;
  labels: EventLabel[];
  outcome: 'passed' | 'failed' | 'skipped';
  ms: number;
  /** passed/failed steps done before the end. */
  steps: number;
  failure?: {
    message: string;
    /** 1-based step index and its label (absent for a rule). */
    step?: number;
    label?: string;
    expected?: string;
    observed?: string;
    shrunk?: EventLabel[];
    replayFile?: string;
  };
  skipped?: { step?: number; label?: string; capability?: string; reason: string };
  /** Rules: title and source; others: anything worth a line. */
  detail?: string;
}

export interface RemoteRunOptions extends RemoteExecutorOptions {
  /** Run the generated paths (default when walks is 0). */
  paths?: boolean;
  /** Only these path ids (e.g. for a bounded run). */
  pathIds?: string[];
  /** Random walks: count, steps per walk and seed. */
  walks?: number;
  walkSteps?: number;
  seed?: number;
  /** Stop shrinking a failing walk after this much wall time (default 120 000 ms). */
  shrinkTimeLimitMs?: number;
  /** Judge the twin's conformance rules over the run's journal entries (default true). */
  conformance?: boolean;
  /** Where failing paths and walks are saved as replayable scenarios (default reports/mbt-failures). */
  failuresDir?: string;
  onCase?: (c: RunCase) => void;
}

export interface RemoteRunResult {
  ok: boolean;
  printer: string;
  capabilities: Record<string, boolean>;
  cases: RunCase[];
  coverage: ReturnType<RemoteCoverage['report']>;
  /** Set when the run ended early: the driver or the twin failed a call (the message names it). */
  aborted: string | null;
}

export async function runRemote(target: RemoteTarget, o: RemoteRunOptions = {}): Promise<RemoteRunResult> {
  const tracker = new CoverageTracker();
  const coverage = new RemoteCoverage(tracker);
  const executor = new RemoteExecutor(target, { ...o, coverage: tracker });
  const cases: RunCase[] = [];
  const push = (c: RunCase) => {
    cases.push(c);
    o.onCase?.(c);
  };
  const journalStart = await journalSeq(target);
  let aborted: string | null = null;
  try {
    const doPaths = o.paths ?? !(o.walks && o.walks > 0);
    if (doPaths) {
      const graph = buildModelGraph();
      const usable = pathsWithin(graph, target.driver.capabilities);
      for (const r of usable.beyond) coverage.skip(r.row, r.capability, r.reason);
      const all = generatePaths(usable.graph, { skipRows: new Set(Object.keys(UNREACHABLE_ROWS)) });
      const chosen = o.pathIds?.length ? all.filter((p) => o.pathIds!.includes(p.id)) : all;
      for (const p of chosen) {
        const labels = p.steps.map((s) => s.label);
        push(await runLabels(executor, coverage, 'path', p.id, labels, o.failuresDir));
      }
    }
    if (o.walks && o.walks > 0) {
      const outcome = await runWalks({
        numRuns: o.walks,
        maxCommands: o.walkSteps ?? 20,
        seed: o.seed,
        coverage: tracker,
        shrinkTimeLimitMs: o.shrinkTimeLimitMs ?? 120_000,
        system: async () => {
          await executor.reset();
          return { executor, close: () => executor.letGoAllHolds() };
        },
      });
      for (const [i, w] of outcome.walks.entries()) {
        const name = `walk-${i + 1} (seed ${outcome.seed})`;
        if (w.ok) {
          push({ kind: 'walk', name, labels: w.labels, outcome: 'passed', ms: w.ms, steps: w.labels.length });
          continue;
        }
        const shrunk = outcome.shrunk ?? w.labels;
        const replayFile = await saveScenario(
          scenarioOf(`remote-walk-seed-${outcome.seed}`, `random walk against ${target.driver.hello.name}, seed ${outcome.seed}`, shrunk, { step: shrunk.length, message: outcome.message ?? w.message ?? '' }, outcome.seed),
          o.failuresDir ?? FAILURES_DIR,
        );
        push({
          kind: 'walk',
          name,
          labels: w.labels,
          outcome: 'failed',
          ms: w.ms,
          steps: w.labels.length,
          failure: { ...describe(outcome.message ?? w.message ?? 'failed', shrunk), shrunk, replayFile },
        });
      }
    }
  } catch (err) {
    if (!(err instanceof DriverError || err instanceof TwinCallError)) throw err;
    aborted = err.message;
    push({ kind: cases.some((c) => c.kind === 'walk') || !(o.paths ?? !(o.walks && o.walks > 0)) ? 'walk' : 'path', name: 'run aborted', labels: [], outcome: 'failed', ms: 0, steps: 0, failure: { message: err.message } });
  } finally {
    await executor.letGoAllHolds().catch(() => undefined);
  }
  if ((o.conformance ?? true) && !aborted) {
    const report = await target.twin.conformance(journalStart === null ? '' : `?since=${journalStart}`);
    for (const r of report.rules) {
      const detail = `${r.title}\nsource: ${r.source}`;
      const excuse = r.verdict === 'fail' ? MODEL_MADE_IT_FAIL[r.id]?.(cases) : undefined;
      if (excuse) {
        push({ kind: 'rule', name: r.id, labels: [], outcome: 'skipped', ms: 0, steps: 0, detail: `${detail}\nthe twin's verdict: ${r.findings.join('; ')}`, skipped: { reason: excuse } });
      } else if (r.verdict === 'fail') {
        push({ kind: 'rule', name: r.id, labels: [], outcome: 'failed', ms: 0, steps: 0, detail, failure: { message: `${r.findings.join('; ')} (journal seq ${r.evidence.join(', ')})` } });
      } else {
        push({ kind: 'rule', name: r.id, labels: [], outcome: r.verdict === 'pass' ? 'passed' : 'skipped', ms: 0, steps: 0, detail, ...(r.verdict === 'pass' ? {} : { skipped: { reason: 'nothing in the journal for this rule to judge' } }) });
      }
    }
  }
  return {
    ok: cases.every((c) => c.outcome !== 'failed'),
    printer: target.driver.hello.name,
    capabilities: target.driver.capabilities,
    cases,
    coverage: coverage.report(),
    aborted,
  };
}

/**
 * The model graph without the steps this printer's capabilities rule out (e.g. a power cycle that loses the device
 * key), so that generated paths reach every row they can without them instead of ending at the first such step; and
 * the rows only those steps reach, each with the capability that would (the one that, given back alone, reaches it).
 */
export function pathsWithin(graph: ModelGraph, caps: RemoteTarget['driver']['capabilities']): {
  graph: ModelGraph;
  beyond: { row: string; capability: string; reason: string }[];
} {
  const lacking = (label: EventLabel) => missingCapability(label, caps)?.capability;
  const restricted = (allowed: ReadonlySet<string>) => prune(graph, (l) => { const c = lacking(l); return c === undefined || allowed.has(c); });
  const reach = reachableRows(restricted(new Set()));
  const unreached = [...reachableRows(graph)].filter((r) => !reach.has(r));
  if (!unreached.length) return { graph, beyond: [] };
  const missing = [...new Set([...graph.nodes.values()].flatMap((n) => n.edges.map((e) => lacking(e.label)).filter((c): c is string => c !== undefined)))];
  const reachWith = new Map(missing.map((c) => [c, reachableRows(restricted(new Set([c])))]));
  const why = new Map<string, string>();
  for (const n of graph.nodes.values()) for (const e of n.edges) {
    const m = missingCapability(e.label, caps);
    if (m && !why.has(m.capability)) why.set(m.capability, m.reason);
  }
  const beyond = unreached.map((row) => {
    const capability = missing.find((c) => reachWith.get(c)!.has(row)) ?? missing.join('+');
    const reason = `no generated path reaches this row without ${capability}: ${missing.filter((c) => capability.split('+').includes(c)).map((c) => why.get(c)).join('; ')}`;
    return { row, capability, reason };
  });
  return { graph: restricted(new Set()), beyond };
}

function prune(graph: ModelGraph, keep: (label: EventLabel) => boolean): ModelGraph {
  const nodes: ModelGraph['nodes'] = new Map();
  let edgeCount = 0;
  for (const [key, n] of graph.nodes) {
    const edges = n.edges.filter((e) => keep(e.label));
    edgeCount += edges.length;
    nodes.set(key, { state: n.state, edges });
  }
  return { initial: graph.initial, nodes, edgeCount };
}

/** Rows some step takes on the way from the initial state. */
function reachableRows(graph: ModelGraph): Set<string> {
  const rows = new Set<string>();
  const seen = new Set([graph.initial]);
  const queue = [graph.initial];
  while (queue.length) {
    for (const e of graph.nodes.get(queue.shift()!)!.edges) {
      for (const r of e.rows) rows.add(r);
      if (!seen.has(e.to)) {
        seen.add(e.to);
        queue.push(e.to);
      }
    }
  }
  return rows;
}

/**
 * Rules the model's own steps break on purpose, judged over a whole run: the tester retries after 5.7.139 (the
 * statechart's sendFailure —RETRY→ and new jobs), which the rule cannot tell from the printer retrying by itself.
 * The printer's own retries are caught by the model instead (it must show sendFailure and stay there). Such a rule is
 * reported skipped with the reason, never passed.
 */
const followedBy = (cases: readonly RunCase[], first: EventLabel, then: (l: EventLabel) => boolean) =>
  cases.some((c) => c.kind !== 'rule' && c.labels.some((l, i) => l === first && c.labels.slice(i + 1).some(then)));
const MODEL_MADE_IT_FAIL: Record<string, (cases: readonly RunCase[]) => string | undefined> = {
  'smtp.no-retry-5.7.3': (cases) =>
    followedBy(cases, 'SEND_FAILED:auth-rejected', (l) => l === 'RETRY' || l === 'SEND')
      ? 'the run itself sends again after a 5.7.3 (operator RETRY or a new job), which this rule counts as a retry'
      : undefined,
  'smtp.backoff-4.3.2': (cases) =>
    followedBy(cases, 'SEND_FAILED:transient', (l) => l === 'RETRY' || l === 'SEND' || l.startsWith('TOKEN_GRANTED'))
      ? "the run's own steps send again soon after a 4.3.2 (the operator's RETRY resends at once by design, sendFailure —RETRY→; a new job; a new sign-in that resumes the held job), which this rule counts as no backoff"
      : undefined,
  'token.refresh-before-expiry': (cases) =>
    cases.some((c) => c.kind !== 'rule' && c.labels.some((l) => l === 'ACCESS_TOKEN_DEADLINE' || l === 'POWER_CYCLE:deadlinePassed'))
      ? 'the run moves the clock past the access token while a send is held at the twin (sending —ACCESS_TOKEN_DEADLINE→ sending, long power cuts), so an AUTH after expiry is the run\'s doing'
      : undefined,
  'smtp.no-retry-5.7.139': (cases) =>
    cases.some((c) => c.kind !== 'rule' && c.labels.slice(0, -1).includes('SEND_FAILED:permanent'))
      ? 'the run itself sends again after a 5.7.139 (operator RETRY or a new job), which this rule counts as a retry; run a scenario without those steps to judge it'
      : undefined,
};

/**
 * One path (or replayed scenario) from a factory-reset printer. A skipped step ends the path there: its rows and
 * those of the steps after it are counted skipped (with the capability), never covered.
 */
export async function runLabels(
  executor: RemoteExecutor,
  coverage: RemoteCoverage,
  kind: CaseKind,
  name: string,
  labels: EventLabel[],
  failuresDir?: string,
): Promise<RunCase> {
  const started = performance.now();
  const model = materialize(name, labels); // the model refuses a step the statechart does not take
  await executor.reset();
  for (const [i, label] of labels.entries()) {
    try {
      await executor.run(label);
    } catch (err) {
      const ms = performance.now() - started;
      if (err instanceof DriverError || err instanceof TwinCallError) throw err; // the run cannot go on
      if (err instanceof StepSkipped) {
        for (const s of model.steps.slice(i)) for (const row of s.rows) coverage.skip(row, err.capability, `${name} step ${i + 1} (${label}): ${err.reason}`);
        return { kind, name, labels, outcome: 'skipped', ms, steps: i, skipped: { step: i + 1, label, capability: err.capability, reason: err.reason } };
      }
      const message = (err as Error).message;
      const done = labels.slice(0, i + 1);
      const replayFile = await saveScenario(scenarioOf(`remote-${name}`, `${kind} ${name} against a driver`, done, { step: i + 1, message }), failuresDir ?? FAILURES_DIR);
      const d = err instanceof ModelDivergence ? { expected: err.expected, observed: err.actual } : {};
      return { kind, name, labels, outcome: 'failed', ms, steps: i, failure: { message, step: i + 1, label, ...d, shrunk: done, replayFile } };
    }
  }
  return { kind, name, labels, outcome: 'passed', ms: performance.now() - started, steps: labels.length };
}

/** Step, label, expected and observed out of a divergence's message ("step 3 (SENT): printer in x, model in y"). */
function describe(message: string, shrunk: EventLabel[]): RunCase['failure'] & object {
  const m = /^step (\d+) \(([^)]+)\)/.exec(message);
  const states = /in (\w+), model in (\w+)/.exec(message);
  return {
    message,
    step: m ? Number(m[1]) : shrunk.length,
    label: m ? m[2] : shrunk.at(-1),
    ...(states ? { observed: states[1], expected: states[2] } : {}),
  };
}

/** The journal's last seq now, so that the conformance report judges only this run (null: unknown). */
async function journalSeq(target: RemoteTarget): Promise<number | null> {
  try {
    const j = await target.twin.call<{ entries: { seq: number }[] }>('GET', '/journal');
    return j.entries.length ? j.entries[j.entries.length - 1]!.seq : 0;
  } catch {
    return null;
  }
}
