/**
 * JUnit XML for a black-box run (junit-report-builder): one <testsuite> per kind (generated paths, random walks,
 * scenarios, conformance rules) and one <testcase> per path, walk, scenario or rule. A failure's message is the
 * one-line divergence; its body carries the step, expected vs observed, the (shrunk) walk and the replay file path.
 * A skipped case says why and which capability would run it. Checked against the Jenkins JUnit XSD in
 * test/mbt/remote-junit.test.ts.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import junitModule, { type Builder } from 'junit-report-builder';
import type { CaseKind, RunCase } from './run.ts';

const SUITES: Record<CaseKind, string> = {
  path: 'mbt generated paths',
  walk: 'mbt random walks',
  scenario: 'scenarios',
  rule: 'twin conformance rules',
};

export function junitXml(cases: readonly RunCase[], opts: { printer?: string } = {}): string {
  // A fresh builder each time: the package's default export is a shared instance (CommonJS default, typed as ESM).
  const shared = (junitModule as unknown as { default?: Builder }).default ?? (junitModule as unknown as Builder);
  const builder = shared.newBuilder();
  for (const kind of Object.keys(SUITES) as CaseKind[]) {
    const mine = cases.filter((c) => c.kind === kind);
    if (!mine.length) continue;
    const suite = builder.testSuite().name(opts.printer ? `${SUITES[kind]} (${opts.printer})` : SUITES[kind]);
    for (const c of mine) {
      const tc = suite.testCase().className(`mfp-sim.${kind}`).name(c.name).time(c.ms / 1000);
      const lines: string[] = [];
      if (c.detail) lines.push(c.detail);
      if (c.labels.length) lines.push(`steps: ${c.labels.map((l, i) => `${i + 1}. ${l}`).join('  ')}`);
      if (c.outcome === 'failed' && c.failure) {
        const f = c.failure;
        const first = f.message.split('\n')[0]!;
        tc.failure(f.step !== undefined ? `step ${f.step} (${f.label}): ${first.replace(/^step \d+ \([^)]+\): /, '')}` : first, kind === 'rule' ? 'nonconformance' : 'divergence');
        const body = [
          f.step !== undefined ? `failed at step ${f.step}: ${f.label}` : null,
          f.expected !== undefined ? `expected: ${f.expected}` : null,
          f.observed !== undefined ? `observed: ${f.observed}` : null,
          f.shrunk ? `${kind === 'walk' ? 'shrunk walk' : 'steps to reproduce'}: ${f.shrunk.map((l, i) => `${i + 1}. ${l}`).join('  ')}` : null,
          f.replayFile ? `replay: mfp-sim mbt --driver URL --twin URL --replay ${f.replayFile}` : null,
          f.message,
        ].filter((x): x is string => x !== null);
        tc.stacktrace(body.join('\n'));
      } else if (c.outcome === 'skipped') {
        tc.skipped();
        const s = c.skipped;
        if (s) lines.push(`skipped${s.step !== undefined ? ` at step ${s.step} (${s.label})` : ''}: ${s.reason}${s.capability ? ` [needs ${s.capability}]` : ''}`);
      }
      if (lines.length) tc.standardOutput(lines.join('\n'));
    }
  }
  return builder.build();
}

export async function writeJunit(cases: readonly RunCase[], file: string, opts: { printer?: string } = {}): Promise<string> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, junitXml(cases, opts));
  return file;
}
