/**
 * Random walks (fast-check commands + asyncModelRun) on the real system. Bounded here (MBT_RUNS, default 40 runs of
 * at most MBT_MAX_COMMANDS = 20 steps) on a fixed seed; the soak run sets larger numbers and random seeds
 * (MBT_RANDOM=1). MBT_SEED replays a reported seed.
 * A failure prints the seed and the shrunk walk and saves it to reports/mbt-failures/ for `mfp-sim replay`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runWalks } from '../../src/mbt/walk.ts';
import { prepareShared, type SharedSetup } from '../../src/mbt/system.ts';
import { saveScenario, scenarioOf } from '../../src/mbt/scenario.ts';
import { CoverageTracker, formatCoverage } from '../../src/mbt/coverage.ts';
import { suiteTiming } from './suiteTiming.ts';

const timing = suiteTiming('walks');

const numRuns = Number(process.env.MBT_RUNS ?? 40);
const maxCommands = Number(process.env.MBT_MAX_COMMANDS ?? 20);
// `npm test` walks a fixed seed, so a run is repeatable and CI does not depend on the draw; `npm run test:soak`
// (MBT_RANDOM=1) draws a new seed each time to explore; MBT_SEED replays one.
const seed = process.env.MBT_SEED ? Number(process.env.MBT_SEED) : process.env.MBT_RANDOM ? undefined : 20261128;

let shared: SharedSetup;
beforeAll(async () => {
  shared = await timing.inside(() => prepareShared()); // the twin's keys, compiled schemas: part of starting the system
});

describe('random walks on the running system', () => {
  it(`${numRuns} walks of up to ${maxCommands} steps match the model`, { timeout: Math.max(120_000, numRuns * maxCommands * 3_000) }, async () => {
    const coverage = new CoverageTracker();
    const started = performance.now();
    const outcome = await runWalks({ numRuns, maxCommands, seed, shared, coverage, timing, shrinkTimeLimitMs: 120_000 });
    process.stdout.write(
      `walks: ${outcome.runs} runs, seed ${outcome.seed}, ${((performance.now() - started) / 1000).toFixed(1)} s; ${formatCoverage(coverage.report())}\n`,
    );
    if (!outcome.ok) {
      const file = await saveScenario(
        scenarioOf(`walk-seed-${outcome.seed}`, `random walk, seed ${outcome.seed}, path ${outcome.counterexamplePath}`, outcome.shrunk ?? [], {
          step: outcome.shrunk?.length ?? 0,
          message: outcome.message ?? '',
        }, outcome.seed),
      );
      expect.fail(
        `walk failed (seed ${outcome.seed}, MBT_SEED=${outcome.seed} to rerun)\n  shrunk walk: ${outcome.shrunk?.join(' → ')}\n  ${outcome.message}\n  saved: ${file}`,
      );
    }
    // The walks must get past the sign-in to test anything about tokens and sending.
    expect(coverage.report().states.covered).toBeGreaterThanOrEqual(8);
  });
});
