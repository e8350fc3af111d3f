/**
 * The black-box model-based run against a printer that is not ours, in a bounded form for `npm test`:
 * examples/python-printer (MSAL for Python, smtplib, its own state machine) behind its driver, the twin on wall time
 * with the short-lifetime tenant. The correct printer passes a generated path, two random walks and the conformance
 * rules, with honest coverage (what it lacks the capability for is skipped, never covered) and a valid JUnit file;
 * `--bug` variants fail at the named step of a replayed path (forget-tokens, retry-5.7.139-forever) or at the named
 * rule over its journal (new-message-id). The whole run (all paths, every variant) is
 * `mfp-sim mbt --driver` (docs/model-based-testing.md, figures there). Needs Debian's python3-msal: skipped with the
 * reason outside CI, mandatory under CI (.ci/run).
 */
import { describe, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tmpdir } from 'node:os';
import type { Twin } from '../../../src/cloud/twin.ts';
import { conformanceReport } from '../../../src/cloud/journal/conformance.ts';
import { CoverageTracker } from '../../../src/mbt/coverage.ts';
import { RemoteCoverage } from '../../../src/mbt/remote/coverage.ts';
import { RemoteExecutor } from '../../../src/mbt/remote/executor.ts';
import { junitXml } from '../../../src/mbt/remote/junit.ts';
import { openRemote, pathsWithin, runLabels, runRemote, type RemoteRunOptions } from '../../../src/mbt/remote/run.ts';
import { buildModelGraph, generatePaths } from '../../../src/mbt/generator.ts';
import type { EventLabel } from '../../../src/mbt/vocabulary.ts';
import { pythonMsalAvailable, startPythonPrinter, startShortTwin, type PythonPrinter } from '../../driver/python-printer-harness.ts';

const available = pythonMsalAvailable();
const skip = !available && !process.env.CI;
if (skip) console.warn('python-printer model-based run skipped: /usr/bin/python3 cannot import msal (apt-get install -y python3-msal)');
const hasXmllint = existsSync('/usr/bin/xmllint');

/**
 * The printer's timings for a run on wall time: tokens of the short tenant live 30 s and it refreshes 10 s before
 * (the harness is told, --token-skew); retries wait 12 s: more than the 10 s rule smtp.backoff-4.3.2 asks after a
 * 4.3.2, long enough that the printer does not retry by itself between two steps of the model, short enough to wait
 * for RETRY_DUE within the 30 s wall-time bound.
 */
const TOKEN_SKEW_S = 10;
const RETRY_DELAYS_S = '12,12,12';
const RUN: RemoteRunOptions = { accessTokenSkewMs: TOKEN_SKEW_S * 1000, wallWaitMs: 30_000, settleTimeoutMs: 20_000 };

/**
 * A twin and a printer of the test's own, let go when the test ends. Two lanes run concurrently: the generated path
 * and walks, and the three bug replays one after another; most of their time is waiting on the printer's wall-time
 * timers (retries, token lifetimes). All four at once, at load ~20, let a replay's 25 s device code run out on wall
 * time before its approval.
 */
async function boot(onTestFinished: (fn: () => Promise<void>) => void, bug?: string) {
  const dir = await mkdtemp(path.join(tmpdir(), 'pp-mbt-'));
  let twin: Twin | undefined;
  let printer: PythonPrinter | undefined;
  onTestFinished(async () => {
    await printer?.stop();
    await twin?.close();
    await rm(dir, { recursive: true, force: true });
  });
  twin = await startShortTwin();
  printer = await startPythonPrinter(twin, { bug, tokenSkewS: TOKEN_SKEW_S, retryDelaysS: RETRY_DELAYS_S });
  const target = await openRemote({ driverUrl: printer.url, twinUrl: twin.entraUrl, twinCaFile: twin.caPath, stepTimeoutMs: 20_000 });
  return { target, twin, dir, failuresDir: path.join(dir, 'failures') };
}

describe.skipIf(skip).concurrent('mfp-sim mbt --driver against examples/python-printer (bounded)', () => {
  it('a generated path and two walks run to the end and pass; rules judged; skipped rows counted as skipped; JUnit valid', async ({ expect, onTestFinished }) => {
    const { target, dir, failuresDir } = await boot(onTestFinished);
    expect(target.driver.capabilities).toMatchObject({ clock: false, power: true });
    expect(target.driver.capabilities.deviceKey).toBeFalsy();
    // Bounded: of the generated paths (docs/model-based-testing.md), the first that delivers mail.
    const sending = generatePaths(pathsWithin(buildModelGraph(), target.driver.capabilities).graph).find((p) => p.steps.some((s) => s.label === 'SENT'))!;
    const result = await runRemote(target, { ...RUN, failuresDir, paths: true, pathIds: [sending.id], walks: 2, walkSteps: 8, seed: 7 });
    const failed = result.cases.filter((c) => c.outcome === 'failed').map((c) => `${c.kind} ${c.name}: ${c.failure?.message}`);
    expect(failed).toEqual([]);
    expect(result.aborted).toBeNull();
    const kinds = (k: string) => result.cases.filter((c) => c.kind === k);
    expect(kinds('path').map((c) => `${c.name} ${c.outcome} ${c.steps}/${c.labels.length}`)).toEqual([`${sending.id} passed ${sending.steps.length}/${sending.steps.length}`]);
    expect(kinds('walk').map((c) => c.outcome)).toEqual(['passed', 'passed']);
    // The rules the run's steps exercise are judged and pass (the rest are skipped with a reason, never passed).
    const rules = kinds('rule');
    expect(rules.length).toBeGreaterThan(10);
    for (const id of ['smtp.max-connections', 'smtp.starttls-before-auth', 'device-code.offline-access']) {
      expect(rules.find((r) => r.name === id)?.outcome, id).toBe('passed');
    }
    for (const r of rules.filter((x) => x.outcome === 'skipped')) expect(r.skipped?.reason, r.name).toBeTruthy();

    // Coverage: every row is covered, skipped (with the capability that would reach it) or uncovered; the rows only
    // a changed device key, SMTP AUTH with a password or app-only OAuth reach are skipped: this printer declares none.
    const { totals, skippedBy, rows } = result.coverage;
    expect(totals.covered + totals.skipped + totals.uncovered).toBe(totals.rows);
    expect(totals.covered).toBeGreaterThan(0);
    // (and `clock` when a wall-time deadline could not be taken in the model's order: that path ends skipped)
    expect(Object.keys(skippedBy)).toEqual(expect.arrayContaining(['deviceKey', 'oauth2AppOnly', 'smtpAuth']));
    // A row that no one of them alone reaches names them all, joined with "+".
    const lacked = ['deviceKey', 'oauth2AppOnly', 'smtpAuth', 'clock'];
    expect(Object.keys(skippedBy).filter((c) => !c.split('+').every((x) => lacked.includes(x)))).toEqual([]);
    for (const r of rows.filter((x) => x.status === 'skipped')) {
      expect(r.hits).toBe(0);
      expect(r.reason).toMatch(r.capability === 'clock' ? /wall time/ : /without (deviceKey|smtpAuth|oauth2AppOnly)/);
    }

    // JUnit: one testcase per path, walk and rule run, and valid against the schema CI servers read.
    const xml = junitXml(result.cases, { printer: target.driver.hello.name });
    expect(xml.match(/<testcase /g)?.length).toBe(kinds('path').length + kinds('walk').length + rules.length);
    if (hasXmllint || process.env.CI) {
      const file = path.join(dir, 'report.xml');
      await writeFile(file, xml);
      execFileSync('/usr/bin/xmllint', ['--noout', '--schema', path.resolve('test/fixtures/junit/junit.xsd'), file], { stdio: 'pipe' });
    }
  }, 400_000);

  /** A replayed path (`mfp-sim mbt --replay`): the first steps the generated paths take to the bug's row. */
});

describe.skipIf(skip).concurrent('mfp-sim mbt --driver against examples/python-printer (bounded): bug replays', () => {
  async function replay(onTestFinished: (fn: () => Promise<void>) => void, bug: string, labels: EventLabel[]) {
    const { target, twin, failuresDir } = await boot(onTestFinished, bug);
    const tracker = new CoverageTracker();
    const executor = new RemoteExecutor(target, { ...RUN, coverage: tracker });
    try {
      return { twin, c: await runLabels(executor, new RemoteCoverage(tracker), 'scenario', bug, labels, failuresDir) };
    } finally {
      await executor.letGoAllHolds();
    }
  }
  const SIGNED_IN: EventLabel[] = ['SAVE_SETTINGS:accountA', 'START_AUTH', 'CODE_ISSUED', 'TOKEN_GRANTED:configured'];

  it.sequential('--bug forget-tokens fails at step POWER_CYCLE:short: expected authorized, observed ready', async ({ expect, onTestFinished }) => {
    const { c } = await replay(onTestFinished, 'forget-tokens', [...SIGNED_IN, 'POWER_CYCLE:short']);
    expect(c.outcome).toBe('failed');
    expect(c.failure).toMatchObject({ step: 5, label: 'POWER_CYCLE:short', expected: 'authorized', observed: 'ready' });
    expect(existsSync(c.failure!.replayFile!)).toBe(true);
  }, 120_000);

  it.sequential('--bug new-message-id passes every step but fails rule smtp.one-message-id-per-job after the resend', async ({ expect, onTestFinished }) => {
    const { c, twin } = await replay(onTestFinished, 'new-message-id', [...SIGNED_IN, 'SEND', 'SEND_FAILED:transient', 'RETRY', 'SENT']);
    expect(c.outcome, c.failure?.message).toBe('passed');
    const rule = conformanceReport(twin.journal.list()).rules.find((r) => r.id === 'smtp.one-message-id-per-job')!;
    expect(rule.verdict).toBe('fail');
    expect(rule.findings[0]).toMatch(/carries a new Message-ID/);
  }, 120_000);

  it.sequential('--bug retry-5.7.139-forever fails at step SEND_FAILED:permanent: it schedules a retry the model does not', async ({ expect, onTestFinished }) => {
    const { c } = await replay(onTestFinished, 'retry-5.7.139-forever', [...SIGNED_IN, 'SEND', 'SEND_FAILED:permanent']);
    expect(c.outcome).toBe('failed');
    expect(c.failure).toMatchObject({ step: 6, label: 'SEND_FAILED:permanent' });
    expect(c.failure!.message).toMatch(/a retry scheduled: printer true, model false/);
  }, 120_000);
});
