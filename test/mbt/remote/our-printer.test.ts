/**
 * `mfp-sim mbt --driver` against our own printer behind its driver (virtual clock, every capability): the generated
 * paths run black-box (driver + the twin's control API over HTTPS, holds instead of in-process gates) and cover every
 * row of the machine, as the in-process run does; a short random walk passes; and the same printer with its power
 * capability hidden gets its power-cycle steps skipped and counted as skipped, never covered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { startOurPrinter, type OurPrinter } from './support.ts';
import { openRemote, runRemote } from '../../../src/mbt/remote/run.ts';
import { junitXml } from '../../../src/mbt/remote/junit.ts';
import { buildModelGraph, generatePaths } from '../../../src/mbt/generator.ts';
import { machineTable } from '../../../src/mbt/systemModel.ts';
import type { RemoteTarget } from '../../../src/mbt/remote/executor.ts';

let failuresDir: string;
beforeAll(async () => {
  failuresDir = await mkdtemp(path.join(tmpdir(), 'mfp-remote-failures-'));
}, 60_000);
afterAll(async () => {
  await rm(failuresDir, { recursive: true, force: true });
});

/**
 * A printer (and twin) of the test's own, closed when the test ends, reached through its driver: the tests run
 * concurrently, as a remote run mostly waits on driver and twin round trips, and no test sees another's journal.
 */
async function connect(onTestFinished: (fn: () => Promise<void>) => void) {
  const printer: OurPrinter = await startOurPrinter();
  onTestFinished(() => printer.close());
  return openRemote({ driverUrl: printer.driverUrl, twinUrl: printer.twinUrl, twinCaFile: printer.caFile, stepTimeoutMs: 20_000 });
}

describe.concurrent('black-box model-based run against our printer through its driver', () => {
  it('runs every generated path and covers every row of the machine, as in-process', async ({ expect, onTestFinished }) => {
    const target = await connect(onTestFinished);
    expect(target.driver.capabilities).toMatchObject({ clock: true, power: true, deviceKey: true });
    const result = await runRemote(target, { failuresDir, settleTimeoutMs: 20_000 });
    const failed = result.cases.filter((c) => c.outcome === 'failed' && c.kind !== 'rule').map((c) => `${c.kind} ${c.name}: ${c.failure?.message}`);
    expect(failed).toEqual([]);
    // Conformance verdicts are reported (one testcase per rule) but not asserted here: see docs/model-based-testing.md.
    const paths = generatePaths(buildModelGraph());
    expect(result.cases.filter((c) => c.kind === 'path').map((c) => `${c.name} ${c.outcome}`)).toEqual(paths.map((p) => `${p.id} passed`));
    // Every row of the machine (the rows `mfp-sim machine --format json` prints) covered: the in-process bar.
    expect(result.coverage.totals).toEqual({ rows: machineTable().transitions.length, covered: machineTable().transitions.length, skipped: 0, uncovered: 0 });
    // One testcase per path and per conformance rule, and the file is valid JUnit when xmllint is there.
    const xml = junitXml(result.cases);
    const rules = result.cases.filter((c) => c.kind === 'rule').length;
    expect(rules).toBeGreaterThan(0);
    expect(xml.match(/<testcase /g)?.length).toBe(paths.length + rules);
    if (existsSync('/usr/bin/xmllint')) {
      const file = path.join(failuresDir, 'report.xml');
      await writeFile(file, xml);
      execFileSync('/usr/bin/xmllint', ['--noout', '--schema', path.resolve('test/fixtures/junit/junit.xsd'), file], { stdio: 'pipe' });
    }
  }, 600_000);

  it('runs random walks to the end, one testcase each', async ({ expect, onTestFinished }) => {
    const result = await runRemote(await connect(onTestFinished), { walks: 2, walkSteps: 12, seed: 7, failuresDir, settleTimeoutMs: 20_000, conformance: false });
    expect(result.cases.map((c) => `${c.kind} ${c.outcome}`)).toEqual(['walk passed', 'walk passed']);
    expect(result.coverage.totals.covered).toBeGreaterThan(0);
  }, 300_000);

  it('skips what a printer without power control cannot do, and counts it as skipped, never covered', async ({ expect, onTestFinished }) => {
    const real = await connect(onTestFinished);
    const driver = { ...real.driver, capabilities: { ...real.driver.capabilities, power: false, deviceKey: false } };
    const target: RemoteTarget = { driver, twin: real.twin };
    const result = await runRemote(target, { failuresDir, settleTimeoutMs: 20_000, conformance: false });
    // The paths are generated without power steps, so each runs to the end; what only a power cycle reaches is skipped.
    expect(result.cases.filter((c) => c.outcome !== 'passed').map((c) => `${c.name} ${c.outcome}`)).toEqual([]);
    expect(result.cases.flatMap((c) => c.labels).filter((l) => l.startsWith('POWER_CYCLE'))).toEqual([]);
    const { totals, skippedBy, rows } = result.coverage;
    expect(totals.skipped).toBeGreaterThan(0);
    expect(totals.uncovered).toBe(0);
    expect(totals.covered + totals.skipped).toBe(totals.rows);
    expect(Object.keys(skippedBy)).toEqual(['power']);
    // Rows only a power cycle can take are never covered here, and every POWER_CYCLE row is among the skipped.
    for (const r of rows.filter((x) => x.event === 'POWER_CYCLE')) expect(r.status).toBe('skipped');
    for (const r of rows.filter((x) => x.status === 'skipped')) {
      expect(r.hits).toBe(0);
      expect(r.reason).toContain('without power');
    }
  }, 600_000);
});
