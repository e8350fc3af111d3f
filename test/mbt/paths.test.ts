/**
 * Every generated path run on the real system: device runtime + NVRAM, msal-node and nodemailer adapters, the twin on
 * loopback sockets, the panel's JSON API over HTTP, one virtual clock. Each path gets a fresh system of its own (its
 * own twin and clock), so the paths run concurrently: a path spends most of its wall time waiting on sockets, fsyncs
 * and MSAL's polling, and another path's work fills that time. Coverage is counted on transitionTable's rows from
 * what the steps took, written to reports/model-coverage.json, and must be 100% of the rows not declared unreachable.
 * Opt-in, MBT_CRITERION=pairs: the paths aim at every reachable pair of consecutive rows instead (src/mbt/pairs.ts;
 * about ten times the steps), and the pair report, with its wall time, goes to reports/model-pair-coverage.json.
 * The saved scenarios of fixtures/scenarios/mbt/ (divergences found once, in their short form) are replayed too.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModelGraph, generatePaths } from '../../src/mbt/generator.ts';
import { UNREACHABLE_ROWS } from '../../src/mbt/unreachable.ts';
import { CoverageTracker, formatCoverage, writeCoverageReport } from '../../src/mbt/coverage.ts';
import { loadScenario, replayLabels, saveScenario, scenarioOf } from '../../src/mbt/scenario.ts';
import { prepareShared, type SharedSetup } from '../../src/mbt/system.ts';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { suiteTiming } from './suiteTiming.ts';
import { formatPairCoverage, generatePairPaths, pairsOfPath, PairCoverageTracker, reachablePairs, writePairCoverageReport } from '../../src/mbt/pairs.ts';

const timing = suiteTiming('paths');

const criterion = process.env.MBT_CRITERION ?? 'rows';
if (criterion !== 'rows' && criterion !== 'pairs') throw new Error(`MBT_CRITERION is "rows" (default) or "pairs", not "${criterion}"`);
const graph = buildModelGraph();
const paths = criterion === 'pairs' ? generatePairPaths(graph) : generatePaths(graph, { skipRows: new Set(Object.keys(UNREACHABLE_ROWS)) });
const pairs = criterion === 'pairs' ? new PairCoverageTracker(reachablePairs(graph)) : undefined;
const coverage = new CoverageTracker();
const SAVED_SCENARIOS_DIR = 'fixtures/scenarios/mbt';
const savedScenarios = readdirSync(SAVED_SCENARIOS_DIR).filter((f) => f.endsWith('.json')).map((f) => join(SAVED_SCENARIOS_DIR, f));
const started = performance.now();
let steps = 0;
let shared: SharedSetup;
// The total is counted independently of the generator: the rows `mfp-sim machine --format json` prints. The CLI is
// spawned at once (tsx compiles on the fly: seconds idle, far more on a loaded machine) so that it runs while the
// paths do, by its bin script as npx would (without npx's own start); a failure to run it is kept for the coverage
// test to report.
const cliRows = promisify(execFile)(process.execPath, ['bin/mfp-sim.mjs', 'machine', '--format', 'json'], { encoding: 'utf8' }).then(
  ({ stdout }) => (JSON.parse(stdout) as { transitions: unknown[] }).transitions.length,
);
cliRows.catch(() => undefined);
beforeAll(async () => {
  shared = await timing.inside(() => prepareShared()); // the twin's keys, compiled schemas: part of starting the system
});

describe('generated paths on the running system', () => {
  // Concurrent tests run as one group before the coverage test below (vitest awaits a concurrent group first).
  for (const path of paths) {
    it.concurrent(`${path.id}: ${path.steps.length} steps`, { timeout: 240_000 }, async ({ expect }) => {
      const labels = path.steps.map((s) => s.label);
      const result = await replayLabels(labels, { coverage, pairs, shared, timing });
      steps += result.steps.length;
      if (result.failure) {
        const file = await saveScenario(
          scenarioOf(`${path.id}`, `generated ${path.id}`, labels.slice(0, result.failure.stepIndex + 1), {
            step: result.failure.stepIndex + 1,
            message: result.failure.message,
          }),
        );
        expect.fail(`${result.failure.message}\n  saved: ${file} (replay: mfp-sim replay ${file})`);
      }
    });
  }

  // Saved scenarios (fixtures/scenarios/mbt/): divergences found once, in their short form, replayed on every run.
  for (const file of savedScenarios) {
    it.concurrent(`saved scenario ${basename(file, '.json')}`, { timeout: 240_000 }, async ({ expect }) => {
      const scenario = await loadScenario(file);
      const result = await replayLabels(scenario.labels, { shared, timing });
      expect(result.failure?.message ?? null).toBeNull();
      expect(result.steps).toHaveLength(scenario.labels.length);
    });
  }

  // Bounded check of the opt-in pair criterion (the full run is MBT_CRITERION=pairs): the first pair path, run on the
  // system, takes exactly the pairs the model predicts for it.
  it.concurrent('a pair path takes on the system exactly the pairs the model predicts for it', { timeout: 240_000 }, async ({ expect }) => {
    const path = generatePairPaths(graph, { maxPaths: 1 })[0]!;
    const reachable = reachablePairs(graph);
    const tracker = new PairCoverageTracker(reachable);
    const result = await replayLabels(path.steps.map((s) => s.label), { pairs: tracker, shared, timing });
    expect(result.failure?.message ?? null).toBeNull();
    const report = tracker.report();
    expect(report.notReachable).toEqual([]);
    const predicted = pairsOfPath(path);
    expect(report.covered).toBe(predicted.size);
    expect([...predicted].filter((p) => report.uncovered.includes(p))).toEqual([]);
  });

  it('covers every reachable row of the statechart', { timeout: 120_000 }, async () => {
    const report = coverage.report();
    const file = await writeCoverageReport(report);
    process.stdout.write(
      `${formatCoverage(report)}\n  ${paths.length} paths, ${steps} steps, ${((performance.now() - started) / 1000).toFixed(1)} s; written to ${file}\n`,
    );
    expect(report.transitions.total).toBe(await cliRows);
    expect(report.uncovered).toEqual([]);
    expect(report.declaredUnreachableButCovered).toEqual([]);
    expect(report.states).toEqual({ covered: 12, total: 12 }); // the eleven public states and requestingToken
  });

  if (pairs) {
    it('covers every reachable pair of consecutive rows', async () => {
      const report = { ...pairs.report(), wallMs: Math.round(performance.now() - started), paths: paths.length, steps };
      const file = await writePairCoverageReport(report);
      process.stdout.write(`${formatPairCoverage(report)}; written to ${file}\n`);
      expect(report.notReachable).toEqual([]);
      expect(report.uncovered).toEqual([]);
    });
  }
});
