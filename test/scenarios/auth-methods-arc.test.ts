/**
 * Issue 14's shipped scenarios (they run with every shipped scenario in scenarios.test.ts): they exist, and the arc
 * is a real check — the same file with one expectation falsified (the refusal classified as the old, generic SMTP
 * AUTH refusal) fails at that step, with expected against actual.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { prepareTwinCredentials, runScenario } from '../../src/scenario/runner.ts';

const SCENARIOS = path.resolve('fixtures/scenarios');
const ARC = path.join(SCENARIOS, 'basic-auth-retirement.json');

let work: string;
let credentials: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mfp-arc-test-'));
  credentials = path.join(work, 'twin-credentials');
  await prepareTwinCredentials(credentials);
});
afterAll(async () => rm(work, { recursive: true, force: true }));

describe('issue 14 scenarios', () => {
  it('ship the arc, the app-only happy path, the wrong object id and the expired secret', async () => {
    const shipped = await readdir(SCENARIOS);
    for (const name of ['basic-auth-retirement', 'app-only-happy-path', 'app-only-wrong-object-id', 'app-only-expired-secret']) expect(shipped).toContain(`${name}.json`);
  });

  it('the arc with one expectation falsified fails at that step', async () => {
    const arc = JSON.parse(await readFile(ARC, 'utf8')) as { nvramImage: string; steps: unknown[] };
    const refusal = arc.steps.findIndex((s) => JSON.stringify(s).includes('"reason":"basic-auth-disabled"'));
    expect(refusal).toBeGreaterThan(0);
    const falsified = structuredClone(arc) as { nvramImage: string; steps: { expect?: { lastError?: { reason: string } } }[] };
    falsified.steps[refusal]!.expect!.lastError!.reason = 'smtp-auth-disabled';
    falsified.nvramImage = path.resolve(SCENARIOS, arc.nvramImage);
    const file = path.join(work, 'arc-falsified.json');
    await writeFile(file, JSON.stringify(falsified, null, 2));
    const result = await runScenario(file, { twinCertsFrom: credentials });
    expect(result.passed).toBe(false);
    expect(result.failure).toMatchObject({
      where: `steps[${refusal}]`,
      kind: 'expectation',
      differences: [{ what: 'lastError.reason', expected: 'smtp-auth-disabled', actual: 'basic-auth-disabled' }],
    });
  }, 60_000);
});
