/** The conformance report as text (for people), JSON (for tools) or JUnit XML (for CI: one testcase per rule). */
import junitModule, { type Builder } from 'junit-report-builder';
import type { ConformanceReport } from './conformance.ts';

export const CONFORMANCE_FORMATS = ['text', 'json', 'junit'] as const;
export type ConformanceFormat = (typeof CONFORMANCE_FORMATS)[number];

export function formatConformance(report: ConformanceReport, format: ConformanceFormat): string {
  if (format === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (format === 'junit') return junit(report);
  const lines = [`conformance: ${report.passed ? 'PASS' : 'FAIL'} (${report.entries} journal entries, ${report.dropped} dropped)`];
  for (const r of report.rules) {
    lines.push(`${r.verdict.toUpperCase().padEnd(14)} ${r.id} — ${r.title}`, `               source: ${r.source}`);
    for (const f of r.findings) lines.push(`               ✗ ${f}`);
    if (r.evidence.length) lines.push(`               journal seq: ${r.evidence.join(', ')}`);
  }
  for (const t of report.tlsRefusals) {
    lines.push(`NOTE           ${t.client}: ${t.sessions} SMTP session(s) ended after STARTTLS without a command over TLS: the client refused the certificate? journal seq: ${t.evidence.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function junit(report: ConformanceReport): string {
  // A fresh builder each time: the package's default export is a shared instance.
  // (The package is CommonJS exporting the builder itself; its typings describe an ES default export.)
  const shared = (junitModule as unknown as { default?: Builder }).default ?? (junitModule as unknown as Builder);
  const builder = shared.newBuilder();
  const suite = builder.testSuite().name('mfp-oauth-sim twin conformance');
  for (const r of report.rules) {
    const tc = suite.testCase().className('conformance').name(r.id).standardOutput(`${r.title}\nsource: ${r.source}`);
    if (r.verdict === 'fail') tc.failure(`${r.findings.join('; ')} (journal seq ${r.evidence.join(', ')})`, 'nonconformance');
    else if (r.verdict === 'not-applicable') tc.skipped();
  }
  return builder.build();
}
