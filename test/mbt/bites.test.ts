/**
 * The suite must bite: with a deliberate fault injected through the device's effect interfaces (src/mbt/faults.ts),
 * the same generated paths and random walks must fail, with a readable path, and fast-check must shrink the walk.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildModelGraph, generatePaths } from '../../src/mbt/generator.ts';
import { UNREACHABLE_ROWS } from '../../src/mbt/unreachable.ts';
import { replayLabels } from '../../src/mbt/scenario.ts';
import { runWalks } from '../../src/mbt/walk.ts';
import { prepareShared, type SharedSetup } from '../../src/mbt/system.ts';
import { smtpAuthDisabledAsTransient, tokenCacheNotPersisted } from '../../src/mbt/faults.ts';
import type { EventLabel } from '../../src/mbt/vocabulary.ts';
import { suiteTiming } from './suiteTiming.ts';

const timing = suiteTiming('bites');

let shared: SharedSetup;
beforeAll(async () => {
  shared = await timing.inside(() => prepareShared()); // the twin's keys, compiled schemas: part of starting the system
});

/** The shortest prefix of a generated path that reaches `label` (the fault's step), so the test stays quick. */
function prefixTo(label: EventLabel): EventLabel[] {
  const paths = generatePaths(buildModelGraph(), { skipRows: new Set(Object.keys(UNREACHABLE_ROWS)) });
  const prefixes = paths.flatMap((p) => {
    const i = p.steps.findIndex((s) => s.label === label);
    return i < 0 ? [] : [p.steps.slice(0, i + 1).map((s) => s.label)];
  });
  return prefixes.reduce((a, b) => (b.length < a.length ? b : a));
}

// The two run concurrently: each mostly waits on its own systems.
describe.concurrent('deliberate faults make the suite fail', () => {
  it('5.7.139 classified as transient: the generated path fails at the permanent send failure', { timeout: 120_000 }, async ({ expect }) => {
    const labels = prefixTo('SEND_FAILED:permanent');
    const [clean, bitten] = await Promise.all([
      replayLabels(labels, { shared, timing }),
      replayLabels(labels, { shared, timing, fault: smtpAuthDisabledAsTransient }),
    ]);
    expect(clean.failure?.message ?? null).toBeNull();
    expect(bitten.ok).toBe(false);
    expect(bitten.failure!.stepIndex).toBe(labels.length - 1);
    expect(bitten.failure!.message).toMatch(/SEND_FAILED:permanent.*a retry scheduled: system true, model false/s);
    expect(bitten.failure!.message).toMatch(/path: 1\. /);
  });

  // Shrinking runs walks on the real system. Bounded by attempts, not by time, so that the walk it ends with is the
  // same on an idle and on a loaded machine (measured with 110 rows: on seed 7 a walk of 14 steps failed at run 11
  // and shrank to 6 steps within 14 attempts, and 240 more attempts found nothing shorter; with issue 14's rows it
  // is 9 -> 4 steps). The time limit is only a safety net.
  it('token cache not persisted: a random walk fails and shrinks to a shorter walk', { timeout: 300_000 }, async ({ expect }) => {
    const outcome = await runWalks({ numRuns: 30, maxCommands: 20, seed: 7, shared, timing, fault: tokenCacheNotPersisted, maxShrinkAttempts: 20, shrinkTimeLimitMs: 240_000 });
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toMatch(/no token cache in NVRAM|system in \w+, model in \w+/);
    expect(outcome.shrunk!.length).toBeLessThan(outcome.original!.length);
    expect(outcome.shrunk).toContain('TOKEN_GRANTED:configured');
    process.stdout.write(`bite: original walk ${outcome.original!.length} steps, shrunk to ${outcome.shrunk!.length}: ${outcome.shrunk!.join(' → ')}\n`);
  });
});
