/**
 * A failing path or walk saved as a JSON scenario, to be replayed with `mfp-sim replay <file>` (or `replayScenario`).
 * Only the labels are needed: the model recomputes every expected state, so a scenario stays valid as long as the
 * statechart accepts its steps.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { EVENT_LABELS, type EventLabel } from './vocabulary.ts';
import { materialize, type GeneratedPath } from './generator.ts';
import { CoverageTracker } from './coverage.ts';
import { ModelExecutor, ModelDivergence, type StepRecord } from './executor.ts';
import type { InjectedFault, SharedSetup } from './system.ts';
import { SystemTime } from './timing.ts';
import type { PairCoverageTracker } from './pairs.ts';

export const FAILURES_DIR = path.join('reports', 'mbt-failures');

const scenarioSchema = z.object({
  kind: z.literal('mfp-sim/mbt-scenario'),
  version: z.literal(1),
  name: z.string(),
  /** Where it came from: a generated path id, or a random walk with its seed. */
  source: z.string(),
  seed: z.number().int().nullable().default(null),
  labels: z.array(z.enum(EVENT_LABELS)).min(1),
  failure: z.object({ step: z.number().int(), message: z.string() }).nullable().default(null),
});
export type Scenario = z.infer<typeof scenarioSchema>;

export function scenarioOf(name: string, source: string, labels: readonly EventLabel[], failure?: { step: number; message: string }, seed?: number): Scenario {
  return { kind: 'mfp-sim/mbt-scenario', version: 1, name, source, seed: seed ?? null, labels: [...labels], failure: failure ?? null };
}

export async function saveScenario(s: Scenario, dir = FAILURES_DIR): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${s.name.replace(/[^A-Za-z0-9._-]+/g, '-')}.json`);
  await writeFile(file, JSON.stringify(s, null, 2) + '\n');
  return file;
}

export async function loadScenario(file: string): Promise<Scenario> {
  const parsed = scenarioSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not an mbt scenario: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  return parsed.data;
}

export interface ReplayResult {
  ok: boolean;
  steps: StepRecord[];
  failure: ModelDivergence | null;
  path: GeneratedPath;
}

/** Runs labels on a fresh system; a divergence is returned, not thrown. */
export async function replayLabels(
  labels: readonly EventLabel[],
  opts: { fault?: InjectedFault; coverage?: CoverageTracker; pairs?: PairCoverageTracker; seed?: number; shared?: SharedSetup; timing?: SystemTime } = {},
): Promise<ReplayResult> {
  const generated = materialize('replay', labels); // throws early if the model refuses a step
  const timing = opts.timing ?? new SystemTime();
  // Loaded here, not at the top: `mfp-sim mbt --driver` reads scenarios without ever starting an in-process system.
  const { startSystemUnderTest } = await import('./system.ts');
  const sut = await timing.inside(() => startSystemUnderTest({ fault: opts.fault, seed: opts.seed, shared: opts.shared }));
  const executor = new ModelExecutor(sut, { coverage: opts.coverage, pairs: opts.pairs, timing });
  try {
    await executor.runAll(labels);
    return { ok: true, steps: executor.records, failure: null, path: generated };
  } catch (err) {
    if (err instanceof ModelDivergence) return { ok: false, steps: executor.records, failure: err, path: generated };
    throw err;
  } finally {
    await timing.inside(() => sut.close());
  }
}
