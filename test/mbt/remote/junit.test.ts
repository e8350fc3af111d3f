/**
 * The black-box run's JUnit XML: one testcase per path, walk, scenario and rule, failures carrying the step,
 * expected vs observed, the shrunk walk and the replay file; valid against the JUnit schema CI servers read
 * (test/fixtures/junit/junit.xsd) with xmllint (Debian libxml2-utils: mandatory under CI, skipped outside it when
 * missing).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { tmpdir } from 'node:os';
import { junitXml } from '../../../src/mbt/remote/junit.ts';
import type { RunCase } from '../../../src/mbt/remote/run.ts';

const XSD = path.resolve('test/fixtures/junit/junit.xsd');
const hasXmllint = existsSync('/usr/bin/xmllint');

const cases: RunCase[] = [
  { kind: 'path', name: 'path-1', labels: ['SAVE_SETTINGS:accountA', 'START_AUTH'], outcome: 'passed', ms: 1234, steps: 2 },
  {
    kind: 'path',
    name: 'path-2',
    labels: ['SAVE_SETTINGS:accountA', 'START_AUTH', 'CODE_ISSUED'],
    outcome: 'failed',
    ms: 900,
    steps: 2,
    failure: { message: 'step 3 (CODE_ISSUED): printer in requestingCode, model in codePending <&>', step: 3, label: 'CODE_ISSUED', expected: 'codePending', observed: 'requestingCode', shrunk: ['SAVE_SETTINGS:accountA', 'START_AUTH', 'CODE_ISSUED'], replayFile: 'reports/mbt-failures/remote-path-2.json' },
  },
  { kind: 'path', name: 'path-3', labels: ['POWER_CYCLE:short'], outcome: 'skipped', ms: 5, steps: 0, skipped: { step: 1, label: 'POWER_CYCLE:short', capability: 'power', reason: 'the printer does not declare the power capability' } },
  { kind: 'walk', name: 'walk-1 (seed 7)', labels: ['SAVE_SETTINGS:accountA'], outcome: 'passed', ms: 10, steps: 1 },
  { kind: 'walk', name: 'walk-2 (seed 7)', labels: ['SAVE_SETTINGS:accountA', 'SEND'], outcome: 'failed', ms: 10, steps: 1, failure: { message: 'step 2 (SEND): printer in ready, model in ready', step: 2, label: 'SEND', shrunk: ['SEND'], replayFile: 'reports/mbt-failures/remote-walk-seed-7.json' } },
  { kind: 'rule', name: 'smtp.no-retry-5.7.139', labels: [], outcome: 'failed', ms: 0, steps: 0, detail: 'Never retries', failure: { message: 'AUTH retried after 5.7.139 (journal seq 3, 9)' } },
  { kind: 'rule', name: 'device-code.stop-polling', labels: [], outcome: 'skipped', ms: 0, steps: 0, skipped: { reason: 'nothing to judge' } },
  { kind: 'scenario', name: 'my-scenario', labels: ['SAVE_SETTINGS:accountA'], outcome: 'passed', ms: 3, steps: 1 },
];

describe('JUnit XML of a black-box run', () => {
  it('has one testcase per path, walk, rule and scenario, in one suite per kind, with failures and skips', () => {
    const xml = junitXml(cases, { printer: 'test printer' });
    expect(xml.match(/<testcase /g)?.length).toBe(cases.length);
    expect(xml).toMatch(/<testsuite name="mbt generated paths \(test printer\)" tests="3" failures="1"[^>]*skipped="1"/);
    expect(xml).toMatch(/<testsuite name="mbt random walks \(test printer\)" tests="2" failures="1"/);
    expect(xml).toMatch(/<testsuite name="twin conformance rules \(test printer\)" tests="2" failures="1"/);
    expect(xml).toMatch(/<testsuite name="scenarios \(test printer\)" tests="1"/);
    // The failure: step, expected vs observed, the steps, the replay file; XML special characters escaped.
    expect(xml).toContain('message="step 3 (CODE_ISSUED): printer in requestingCode, model in codePending &lt;&amp;>"');
    expect(xml).toMatch(/failed at step 3: CODE_ISSUED\nexpected: codePending\nobserved: requestingCode\nsteps to reproduce: 1\. SAVE_SETTINGS:accountA {2}2\. START_AUTH {2}3\. CODE_ISSUED/);
    expect(xml).toContain('replay: mfp-sim mbt --driver URL --twin URL --replay reports/mbt-failures/remote-path-2.json');
    expect(xml).toContain('shrunk walk: 1. SEND');
    expect(xml).toContain('skipped at step 1 (POWER_CYCLE:short): the printer does not declare the power capability [needs power]');
  });

  it.skipIf(!hasXmllint && !process.env.CI)('is valid against the JUnit schema (xmllint --schema)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-junit-'));
    try {
      const file = path.join(dir, 'report.xml');
      await writeFile(file, junitXml(cases));
      const out = execFileSync('/usr/bin/xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out).toBe('');
      // The schema bites: a testcase without a name is refused.
      await writeFile(file, '<testsuites><testsuite name="x" tests="1"><testcase classname="c"/></testsuite></testsuites>');
      expect(() => execFileSync('/usr/bin/xmllint', ['--noout', '--schema', XSD, file], { stdio: 'pipe' })).toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
