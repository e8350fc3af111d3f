/**
 * Every generated path run on the real system: device runtime + NVRAM, msal-node and nodemailer adapters, the twin on
 * loopback sockets, the panel's JSON API over HTTP, one virtual clock. Each path gets a fresh system. Coverage is
 * counted on transitionTable's rows from what the steps took, written to reports/model-coverage.json, and must be
 * 100% of the rows not declared unreachable.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModelGraph, generatePaths } from '../../src/mbt/generator.ts';
import { UNREACHABLE_ROWS } from '../../src/mbt/unreachable.ts';
import { CoverageTracker, formatCoverage, writeCoverageReport } from '../../src/mbt/coverage.ts';
import { replayLabels, saveScenario, scenarioOf } from '../../src/mbt/scenario.ts';
import { prepareCertDir } from '../../src/mbt/system.ts';
import { execFileSync } from 'node:child_process';
import { suiteTiming } from './suiteTiming.ts';

const timing = suiteTiming('paths');

const paths = generatePaths(buildModelGraph(), { skipRows: new Set(Object.keys(UNREACHABLE_ROWS)) });
const coverage = new CoverageTracker();
const started = performance.now();
let steps = 0;
let certDir: string;
beforeAll(async () => {
  certDir = await timing.inside(() => prepareCertDir()); // the twin's keys: part of starting the system
});

describe('generated paths on the running system', () => {
  for (const path of paths) {
    it(`${path.id}: ${path.steps.length} steps`, { timeout: 120_000 }, async () => {
      const labels = path.steps.map((s) => s.label);
      const result = await replayLabels(labels, { coverage, certDir, timing });
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

  // Spawns `npx mfp-sim machine` (tsx compiles on the fly): seconds on an idle machine, far more on a loaded one.
  it('covers every reachable row of the statechart', { timeout: 120_000 }, async () => {
    const report = coverage.report();
    const file = await writeCoverageReport(report);
    process.stdout.write(
      `${formatCoverage(report)}\n  ${paths.length} paths, ${steps} steps, ${((performance.now() - started) / 1000).toFixed(1)} s; written to ${file}\n`,
    );
    // The total is counted independently of the generator: the rows `mfp-sim machine --format json` prints.
    const cli = JSON.parse(execFileSync('npx', ['mfp-sim', 'machine', '--format', 'json'], { encoding: 'utf8' })) as { transitions: unknown[] };
    expect(report.transitions.total).toBe(cli.transitions.length);
    expect(report.uncovered).toEqual([]);
    expect(report.declaredUnreachableButCovered).toEqual([]);
    expect(report.states).toEqual({ covered: 12, total: 12 }); // the eleven public states and requestingToken
  });
});

