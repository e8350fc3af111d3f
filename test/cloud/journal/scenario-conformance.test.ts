/**
 * Our printer against the conformance rules after every shipped scenario and after a shorter soak (the 90-day soak
 * file cut to a few days): each run's twin is asked GET /_twin/conformance before it closes. Our printer is meant to
 * be well-behaved, so every rule passes or is not applicable; the report's JUnit form has one testcase per rule.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFailure, prepareTwinCredentials, runScenario } from '../../../src/scenario/runner.ts';
import type { Simulator } from '../../../src/sim/types.ts';
import { CONFORMANCE_RULE_IDS, type ConformanceReport } from '../../../src/cloud/journal/conformance.ts';

const SCENARIOS = path.resolve('fixtures/scenarios');
const SOAK = 'soak-90-days.json';
const SOAK_DAYS = 3;

let work: string;
let credentials: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mfp-conformance-'));
  credentials = path.join(work, 'twin-credentials');
  await prepareTwinCredentials(credentials);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fromTwin(sim: Simulator, format: 'json' | 'junit'): Promise<string> {
  const twin = sim.twin!;
  // The root the twin serves now (a scenario may have migrated it away from the first one).
  const agent = new Agent({ connect: { ca: twin.pki.rootPem() } });
  try {
    const res = await request(`${twin.entraUrl}/_twin/conformance?format=${format}`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    return await res.body.text();
  } finally {
    await agent.close();
  }
}

/** Runs a scenario and returns its twin's conformance report (and the JUnit form). */
async function conformanceAfter(scenario: string | object) {
  let report: ConformanceReport | undefined;
  let junit = '';
  const result = await runScenario(scenario, {
    twinCertsFrom: credentials,
    smtpGreetingDelayMs: 0,
    beforeClose: async (sim) => {
      report = JSON.parse(await fromTwin(sim, 'json')) as ConformanceReport;
      junit = await fromTwin(sim, 'junit');
    },
  });
  expect(result.passed, result.failure ? describeFailure(result.failure, result.file) : '').toBe(true);
  return { report: report!, junit };
}

const failures = (r: ConformanceReport) => r.rules.filter((x) => x.verdict === 'fail').map((x) => `${x.id}: ${x.findings.join('; ')} (seq ${x.evidence.join(', ')})`);
const verdict = (r: ConformanceReport, id: string) => r.rules.find((x) => x.id === id)?.verdict;

const shipped = (await readdir(SCENARIOS)).filter((f) => f.endsWith('.json') && f !== SOAK).sort();

describe('our printer passes every conformance rule', () => {
  for (const file of shipped) {
    it(`after ${file}`, { timeout: 60_000 }, async () => {
      const { report, junit } = await conformanceAfter(path.join(SCENARIOS, file));
      if (process.env.SHOW_VERDICTS) process.stderr.write(`VERDICTS ${file} ${report.entries} ${report.rules.map((r) => `${r.id}=${r.verdict}`).join(" ")}\n`);
      expect(failures(report)).toEqual([]);
      expect(report.passed).toBe(true);
      expect(report.dropped).toBe(0);
      const xml = new XMLParser({ ignoreAttributes: false, isArray: (n) => n === 'testcase' || n === 'testsuite' }).parse(junit);
      const cases = xml.testsuites.testsuite.flatMap((s: { testcase: unknown[] }) => s.testcase) as Record<string, unknown>[];
      expect(cases.map((c) => c['@_name']).sort()).toEqual([...CONFORMANCE_RULE_IDS].sort());
      expect(cases.filter((c) => c.failure !== undefined)).toEqual([]);
    });
  }

  it(`after the soak cut to ${SOAK_DAYS} days`, { timeout: 300_000 }, async () => {
    const soak = JSON.parse(await readFile(path.join(SCENARIOS, SOAK), 'utf8'));
    // (steps such as "startAuth" are strings: String.prototype.repeat must not match)
    const days = soak.steps.find((s: unknown) => typeof s === 'object' && s !== null && 'repeat' in s);
    expect(days.repeat.times).toBe(90);
    days.repeat.times = SOAK_DAYS;
    for (const m of soak.steps.at(-1).expect.mailbox) m.count = SOAK_DAYS * 24;
    const { report } = await conformanceAfter({ ...soak, name: `${soak.name} (${SOAK_DAYS} days)` });
    expect(failures(report)).toEqual([]);
    // The soak exercises polling, refreshes, TLS, the Message-ID rule and the connection limit: judged, not skipped.
    for (const id of ['device-code.poll-interval', 'device-code.offline-access', 'token.refresh-before-expiry', 'token.no-early-refresh', 'smtp.starttls-before-auth', 'smtp.max-connections', 'smtp.one-message-id-per-job']) {
      expect(verdict(report, id), id).toBe('pass');
    }
  });
});

describe('our printer passes under faults no shipped scenario has', () => {
  const SETTINGS = { authMethod: 'oauth2ExchangeOnline', authEmailAddress: 'scanner@contoso.com', authUsername: 'scanner@contoso.com', adminEmailAddress: 'scanner@contoso.com' };
  const job = (label: string) => ({ submitJob: { label, to: ['admin@contoso.com'], subject: `Scan ${label}`, body: 'Scanned document attached.' } });
  const refused = (reply: string, count: number) => ({ fault: { target: 'smtp.auth', action: { kind: 'reply', reply }, count } });
  const cases: [string, unknown[], string][] = [
    ['5.7.3, then 5.7.3 for the fresh token too', [refused('535 5.7.3 Authentication unsuccessful', 2), job('a'), { advance: '30m' }, job('b'), { advance: '30m' }], 'smtp.no-retry-5.7.3'],
    ['429 with Retry-After on the refresh', [{ advance: '2h' }, { fault: { target: 'token', action: { kind: 'throttle', retryAfterSeconds: 120 }, count: 1 } }, job('a'), { advance: '30m' }], 'http.retry-after'],
    ['503 twice on the refresh', [{ advance: '2h' }, { fault: { target: 'token', action: { kind: 'http', status: 503 }, count: 2 } }, job('a'), { advance: '30m' }], 'http.retry-after'],
    ['432 4.3.2 at AUTH three times', [refused('432 4.3.2 Concurrent connections limit exceeded.', 3), job('a'), { advance: '30m' }], 'smtp.backoff-4.3.2'],
    ['5.2.2 on a job, another job later', [{ patchUser: { upn: 'scanner@contoso.com', mailboxFull: true } }, job('a'), { advance: '30m' }, job('b'), { advance: '30m' }], 'smtp.no-retry-5.2.2'],
  ];
  for (const [name, steps, rule] of cases) {
    it(`${name}: ${rule} judged and passed`, { timeout: 60_000 }, async () => {
      const { report } = await conformanceAfter({ name, steps: [{ settings: SETTINGS }, 'startAuth', { approve: 'scanner@contoso.com' }, ...steps] });
      expect(failures(report)).toEqual([]);
      expect(verdict(report, rule)).toBe('pass');
    });
  }

  it('a cancelled sign-in and a new one at once: device-code.no-new-code-while-pending judged and passed', { timeout: 60_000 }, async () => {
    const { report } = await conformanceAfter({ name: 'cancel and restart', steps: [{ settings: SETTINGS }, 'startAuth', 'cancelAuth', 'startAuth', { approve: 'scanner@contoso.com' }] });
    expect(failures(report)).toEqual([]);
    expect(verdict(report, 'device-code.no-new-code-while-pending')).toBe('pass');
  });
});
