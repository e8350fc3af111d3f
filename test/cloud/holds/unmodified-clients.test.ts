/**
 * Holds against unmodified clients: curl (a token request held, then answered 429 with Retry-After) and Python's
 * smtplib (no greeting while the connect is held; AUTH XOAUTH2 held, then answered 535 5.7.139). Both trust only the
 * twin's CA. Debian's curl and /usr/bin/python3: skipped with the reason outside CI, mandatory under CI (.ci/run).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { VirtualClock } from '../../../src/time/clock.ts';
import { conformanceReport } from '../../../src/cloud/journal/conformance.ts';
import { api, msalFor, startDeviceCodeFlow, startTestTwin, type TestTwin } from '../helpers.ts';

const PYTHON = '/usr/bin/python3';
const hasCurl = spawnSync('curl', ['--version'], { stdio: 'ignore' }).status === 0;
const hasPython = spawnSync(PYTHON, ['-c', 'import smtplib, ssl'], { stdio: 'ignore' }).status === 0;
if (!hasCurl && !process.env.CI) console.warn('curl hold test skipped: curl is missing (apt-get install -y curl)');
if (!hasPython && !process.env.CI) console.warn('smtplib hold test skipped: /usr/bin/python3 is missing (apt-get install -y python3)');

const SCANNER = 'scanner@contoso.com';
let twin: TestTwin;

beforeAll(async () => {
  twin = await startTestTwin({ clock: new VirtualClock() });
});
afterAll(async () => {
  twin?.holds.cancelAll();
  await twin?.close();
});

/** A child process whose stdout is collected; `exited` tells whether it is still waiting. */
function run(cmd: string, args: string[]) {
  const child: ChildProcess = spawn(cmd, args, { env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { out: '', err: '', exited: false, done: null as unknown as Promise<number> };
  child.stdout!.on('data', (d) => (p.out += String(d)));
  child.stderr!.on('data', (d) => (p.err += String(d)));
  p.done = new Promise((resolve) => child.on('close', (code) => ((p.exited = true), resolve(code ?? -1))));
  return p;
}

async function arm(spec: unknown): Promise<string> {
  const r = await api(twin, 'POST', '/_twin/holds', spec);
  expect(r.status, r.text).toBe(201);
  return r.json.id;
}

async function caught(id: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while ((await api(twin, 'GET', `/_twin/holds/${id}`)).json.state === 'armed') {
    if (Date.now() > deadline) throw new Error(`hold ${id} caught nothing`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function release(id: string, outcome?: unknown): Promise<void> {
  const r = await api(twin, 'POST', `/_twin/holds/${id}/release`, outcome === undefined ? {} : { outcome });
  expect(r.status, r.text).toBe(200);
}

describe.skipIf(!hasCurl && !process.env.CI)('curl', () => {
  it('a held refresh is unanswered until released, then gets the released 429 with Retry-After', async () => {
    const id = await arm({ target: 'token', grantType: 'refresh_token' });
    const curl = run('curl', [
      '-sS',
      '-i',
      '--cacert',
      twin.caPath,
      '--max-time',
      '60',
      '-d',
      `grant_type=refresh_token&client_id=${twin.clientId}&refresh_token=x`,
      `${twin.authority}/oauth2/v2.0/token`,
    ]);
    await caught(id);
    expect((await api(twin, 'GET', `/_twin/holds/${id}`)).json.state).toBe('holding');
    expect(curl.exited).toBe(false);
    await release(id, { kind: 'throttle', retryAfterSeconds: 12 });
    expect(await curl.done, curl.err).toBe(0);
    expect(curl.out).toMatch(/^HTTP\/1\.1 429/);
    expect(curl.out).toMatch(/^retry-after: 12\r?$/im);
  });
});

describe.skipIf(!hasPython && !process.env.CI)("Python's smtplib", { timeout: 120_000 }, () => {
  it('no greeting while the connect is held; AUTH XOAUTH2 held, then the released 535 5.7.139', async () => {
    const { pca } = msalFor(twin);
    const flow = startDeviceCodeFlow(pca);
    twin.control.approveDeviceCode((await flow.code).userCode, SCANNER);
    const token = (await flow.result)!.accessToken;

    const connect = await arm({ target: 'smtp-connect' });
    const auth = await arm({ target: 'smtp-auth', match: { upn: SCANNER } });
    const py = run(PYTHON, [path.resolve('test/cloud/python/smtp_xoauth2_steps.py'), twin.smtp.host, String(twin.smtp.port), twin.caPath, SCANNER, token]);
    const steps = () =>
      py.out
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { step: string; code: number; reply: string });

    await caught(connect);
    expect((await api(twin, 'GET', `/_twin/holds/${auth}`)).json.state).toBe('armed');
    expect(steps()).toEqual([]);
    await release(connect);

    await caught(auth).catch((e) => {
      throw new Error(`${e.message}: python said ${py.out} ${py.err}`);
    });
    expect(steps().map((s) => [s.step, s.code])).toEqual([
      ['greeting', 220],
      ['ehlo', 250],
      ['starttls', 220],
    ]);
    expect(py.exited).toBe(false);
    await release(auth, { kind: 'reply', reply: '535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully.' });
    expect(await py.done, py.err).toBe(0);
    expect(steps().at(-1)).toMatchObject({ step: 'auth', code: 535, reply: expect.stringMatching(/^5\.7\.139 Authentication unsuccessful/) });

    const events = twin.journal
      .list({ kind: 'hold' })
      .flatMap((e) => (e.kind === 'hold' && e.target.startsWith('smtp') ? [[e.target, e.event]] : []));
    expect(events).toEqual([
      ['smtp-connect', 'hold.caught'],
      ['smtp-connect', 'hold.released'],
      ['smtp-auth', 'hold.caught'],
      ['smtp-auth', 'hold.released'],
    ]);
  });
});

describe.skipIf(!hasPython && !process.env.CI)('smtplib, cut while held', () => {
  it('AUTHs held and released with a drop end their sessions in the journal: no reply after CLOSE, no connection left counted open', async () => {
    const { pca } = msalFor(twin);
    const flow = startDeviceCodeFlow(pca);
    twin.control.approveDeviceCode((await flow.code).userCode, SCANNER);
    const token = (await flow.result)!.accessToken;
    const since = twin.journal.list().at(-1)?.seq ?? 0;
    // One more than Exchange's 3 connections per mailbox, one after the other: none is open when the next begins.
    for (let i = 0; i < 4; i++) {
      const auth = await arm({ target: 'smtp-auth', match: { upn: SCANNER } });
      const py = run(PYTHON, [path.resolve('test/cloud/python/smtp_xoauth2_steps.py'), twin.smtp.host, String(twin.smtp.port), twin.caPath, SCANNER, token]);
      await caught(auth);
      await release(auth, { kind: 'drop' });
      await py.done;
    }
    // Then one that is let through: AUTH accepted while (rightly) no other connection is counted open.
    const free = run(PYTHON, [path.resolve('test/cloud/python/smtp_xoauth2_steps.py'), twin.smtp.host, String(twin.smtp.port), twin.caPath, SCANNER, token]);
    expect(await free.done, free.err).toBe(0);
    const smtp = twin.journal.list({ kind: 'smtp' }).filter((e) => e.seq > since) as Array<{ session: string; command: string }>;
    const sessions = [...new Set(smtp.map((e) => e.session))];
    expect(sessions).toHaveLength(5);
    for (const s of sessions) expect(smtp.filter((e) => e.session === s).at(-1)?.command, `session ${s}`).toBe('CLOSE');
    const rule = conformanceReport(twin.journal.list().filter((e) => e.seq > since)).rules.find((r) => r.id === 'smtp.max-connections')!;
    expect(rule.verdict, rule.findings.join('; ')).toBe('pass');
  });
});
