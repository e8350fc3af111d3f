/**
 * The shipped scenarios run end to end (real loopback sockets, the twin embedded, a virtual clock), one after another
 * in this file; plus what the runner does with a wrong expectation, a malformed file, and the CLI's exit codes.
 * The 90-day soak is left to the benchmark (minutes, not seconds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describeFailure, prepareTwinCredentials, runScenario, type ScenarioResult } from '../../src/scenario/runner.ts';
import { parseScenarioText, ScenarioFormatError } from '../../src/scenario/load.ts';
import { runFiles } from '../../src/scenario/cli.ts';

const SCENARIOS = path.resolve('fixtures/scenarios');
const NOT_IN_NPM_TEST = new Set(['soak-90-days.json']);

let work: string;
let credentials: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'mfp-scenario-test-'));
  credentials = path.join(work, 'twin-credentials');
  await prepareTwinCredentials(credentials);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function run(fileOrObject: string | object, lines: string[] = []): Promise<ScenarioResult> {
  return runScenario(fileOrObject, { twinCertsFrom: credentials, onTransition: (t) => lines.push(t.line), onNote: (l) => lines.push(l) });
}

const shipped = (await readdir(SCENARIOS)).filter((f) => f.endsWith('.json') && !NOT_IN_NPM_TEST.has(f)).sort();

describe('shipped scenarios', () => {
  it('cover the stories the brief lists', () => {
    for (const name of [
      'happy-path', 'declined', 'code-expired', 'token-expiry-refresh', 'night-off', 'password-reset', 'ninety-days-unused',
      'smtp-auth-disabled', 'send-as-denied', 'throttled-432', 'network-outage', 'firmware-update', 'power-cut-mid-send',
    ]) expect(shipped).toContain(`${name}.json`);
  });

  for (const file of shipped) {
    it(`${file} passes`, async () => {
      const lines: string[] = [];
      const result = await run(path.join(SCENARIOS, file), lines);
      expect(result.passed, result.failure ? describeFailure(result.failure, result.file) : '').toBe(true);
      expect(result.stepsRun).toBe(result.stepsTotal);
      expect(result.transitions).toBeGreaterThan(0);
      expect(lines.every((l) => /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\] /.test(l))).toBe(true);
    }, 30_000);
  }

  it('a power cut mid-send loses no acknowledged job: the boot requeues it and it is delivered once', async () => {
    const lines: string[] = [];
    const result = await run(path.join(SCENARIOS, 'power-cut-mid-send.json'), lines);
    expect(result.passed, result.failure ? describeFailure(result.failure, result.file) : '').toBe(true);
    const cut = lines.findIndex((l) => / power off in sending/.test(l));
    expect(cut).toBeGreaterThan(-1);
    // The boot's own transition is read back from the event log and reported in order.
    expect(lines.slice(cut)).toEqual(
      expect.arrayContaining([expect.stringMatching(/sending → authorized on POWER_CYCLE$/), expect.stringMatching(/authorized → sending on SEND$/)]),
    );
    expect(result.mailsSent).toBe(1);
  }, 30_000);
});

const SETTINGS = { authMethod: 'oauth2ExchangeOnline', authEmailAddress: 'scanner@contoso.com', authUsername: 'scanner@contoso.com', adminEmailAddress: 'scanner@contoso.com' };

describe('a wrong expectation', () => {
  it('stops the run at that step and reports expected vs actual with the step, line and repeat iteration', async () => {
    const file = path.join(work, 'wrong.json');
    const text = JSON.stringify(
        {
          name: 'wrong on purpose',
          steps: [
            { settings: SETTINGS },
            { repeat: { times: 3, steps: [{ advance: '1h' }, { expect: { state: 'ready' } }] } },
            'startAuth',
            { expect: { state: 'authorized', lastError: { reason: 'declined' } } },
            { expect: { state: 'codePending' } },
          ],
        },
        null,
        2,
      );
    await writeFile(file, text);
    const result = await run(file);
    expect(result.passed).toBe(false);
    expect(result.stepsRun).toBe(8); // settings, 3 × 2 repeated, startAuth; the failing expect is not counted
    expect(result.failure).toMatchObject({
      where: 'steps[3]',
      kind: 'expectation',
      iterations: [],
      differences: [
        { what: 'state', expected: 'authorized', actual: 'codePending' },
        { what: 'lastError.reason', expected: 'declined', actual: null },
      ],
    });
    const report = describeFailure(result.failure!, result.file);
    expect(report).toContain(`${file}:${result.failure!.line} steps[3]: expect: expectation not met`);
    expect(report).toContain('state: expected "authorized", actual "codePending"');
    // The line is the one the step starts on in the file: the "{" two lines above its "state": "authorized".
    const lines = text.split('\n');
    const stateLine = lines.findIndex((l) => l.includes('"state": "authorized"')) + 1;
    expect(lines[stateLine - 3]!.trim()).toBe('{');
    expect(result.failure!.line).toBe(stateLine - 2);
  }, 30_000);

  it('inside a repeat, names the iteration', async () => {
    const result = await run({
      name: 'fails on the third hour',
      steps: [
        { settings: SETTINGS },
        'startAuth',
        { approve: 'scanner@contoso.com' },
        { repeat: { times: 5, steps: [{ advance: '30m' }, { expect: { state: 'authorized' } }] } },
      ],
    });
    expect(result.passed).toBe(false);
    // Twin access tokens live 60–90 minutes (seed 1); the deadline is 5 minutes before expiry.
    expect(result.failure!.where).toBe('steps[3].repeat.steps[1]');
    expect(result.failure!.iterations.length).toBe(1);
    expect(result.failure!.iterations[0]).toBeGreaterThanOrEqual(2);
    expect(result.failure!.differences).toEqual([{ what: 'state', expected: 'authorized', actual: 'tokenExpired' }]);
    expect(describeFailure(result.failure!, null)).toMatch(/\(repeat iteration \d\)/);
  }, 30_000);
});

describe('a malformed scenario', () => {
  const text = `{
  "name": "broken",
  "steps": [
    "startAuth",
    { "advance": "ten hours" },
    { "expect": { "state": "signedIn" } },
    { "teleport": {} },
    { "submitJob": { "label": "scan", "to": ["not-an-address"] } },
    { "repeat": { "times": 0, "steps": [] } },
    { "expect": { "jobs": { "lost": "sent" } } }
  ]
}`;

  it('is refused with every problem named by step, field and line', () => {
    let error: unknown;
    try {
      parseScenarioText(text, 'broken.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScenarioFormatError);
    const e = error as ScenarioFormatError;
    expect(e.problems.map((p) => [p.where, p.line])).toEqual([
      ['steps[1].advance', 5],
      ['steps[2].expect.state', 6],
      ['steps[3]', 7],
      ['steps[4].submitJob.to[0]', 8],
      ['steps[5].repeat.times', 9],
      ['steps[5].repeat.steps', 9],
      ['steps[6].expect.jobs.lost', 10],
    ]);
    expect(e.message).toContain('broken.json:5 steps[1].advance: must be a duration like "10h", "61m" or "90d"');
    expect(e.message).toContain('steps[2].expect.state: must be one of unconfigured, ready');
    expect(e.message).toContain('no earlier submitJob step has the label "lost"');
    expect(e.message).toContain('unknown step kind "teleport"');
  });

  it('that is not JSON is refused with the line of the syntax error', () => {
    expect(() => parseScenarioText('{\n  "name": "x",\n  "steps": [ "startAuth", ]\n}', 'syntax.json')).toThrow(
      'syntax.json:3 (top level): not valid JSON: expected a value (object, array, string, number, true, false or null), found "]"',
    );
    expect(() => parseScenarioText('{\n  "name": "x"\n  "steps": []\n}', 'comma.json')).toThrow('comma.json:3 (top level): not valid JSON: expected "," or "}"');
  });

  it('makes `scenario run` exit 2 before running anything, even the valid files', async () => {
    const bad = path.join(work, 'bad.json');
    await writeFile(bad, text);
    const missingImage = path.join(work, 'missing-image.json');
    await writeFile(missingImage, JSON.stringify({ name: 'missing image', nvramImage: 'nowhere.img', steps: ['startAuth'] }));
    const io = captureIo();
    const code = await runFiles([path.join(SCENARIOS, 'happy-path.json'), bad, missingImage], {}, io);
    expect(code).toBe(2);
    expect(io.outText()).toBe(''); // nothing ran
    expect(io.errText()).toContain('steps[1].advance: must be a duration');
    expect(io.errText()).toMatch(/nvramImage: no such file: .*nowhere\.img/);
    expect(io.errText()).toContain('nothing was run');
  });
});

describe('scenario run', () => {
  it('prints transitions and a summary per file, and exits 1 when a scenario fails', async () => {
    const failing = path.join(work, 'fails.json');
    await writeFile(failing, JSON.stringify({ name: 'expects too much', steps: [{ settings: SETTINGS }, { expect: { state: 'authorized' } }] }));
    const io = captureIo();
    const code = await runFiles([path.join(SCENARIOS, 'declined.json'), failing], {}, io);
    expect(code).toBe(1);
    const out = io.outText();
    expect(out).toMatch(/\] codePending → authFailed on AUTH_DECLINED \(declined\)\n/);
    expect(out).toMatch(/^PASS sign-in declined \(.*declined\.json\): 10\/10 steps, 5 transitions, 0 mails sent/m);
    expect(out).toMatch(/^FAIL expects too much \(.*fails\.json\)/m);
    expect(out).toContain('state: expected "authorized", actual "ready"');
    expect(out).toContain('1 passed, 1 failed');
  }, 30_000);
});

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (into: string[]) => new Writable({ write: (chunk, _enc, cb) => (into.push(String(chunk)), cb()) });
  return { out: sink(out), err: sink(err), outText: () => out.join(''), errText: () => err.join('') };
}
