/**
 * The conformance report on a printer that shares no code with ours: examples/python-printer (MSAL for Python,
 * smtplib), driven only through its driver protocol. Well-behaved it passes every rule; with one of its known
 * firmware bugs switched on (--bug) it is flagged by exactly the rule that bug breaks.
 * Needs Debian's python3-msal (/usr/bin/python3): skipped with the reason outside CI, mandatory under CI (.ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../../src/time/clock.ts';
import { api, startTestTwin, type TestTwin } from '../helpers.ts';

const PYTHON = '/usr/bin/python3';
const available = spawnSync(PYTHON, ['-c', 'import msal, requests'], { stdio: 'ignore' }).status === 0;
const skip = !available && !process.env.CI;
if (skip) console.warn('foreign printer conformance test skipped: /usr/bin/python3 with python3-msal is missing (apt-get install -y python3-msal)');

let twin: TestTwin | undefined;
let printer: ChildProcess | undefined;
afterEach(async () => {
  printer?.kill('SIGTERM');
  await twin?.close();
  printer = twin = undefined;
});

/** A twin on the wall clock (MSAL for Python checks token times against it) and the printer, with `args`. */
async function bench(intervalSeconds: number, args: string[] = []) {
  twin = await startTestTwin({ clock: new RealClock(), patch: (f) => (f.deviceCode.intervalSeconds = intervalSeconds) });
  const dir = await mkdtemp(path.join(tmpdir(), 'conformance-python-printer-'));
  const t = twin;
  printer = spawn(
    PYTHON,
    [path.resolve('examples/python-printer/printer.py'), '--authority', t.authority, '--client-id', t.clientId, '--ca', t.caPath,
      '--smtp', `${t.smtp.host}:${t.smtp.port}`, '--state-file', path.join(dir, 'state.json'), '--driver-port', '0', '--retry-delays-s', '1,1,1', ...args],
    { env: { PATH: '/usr/bin:/bin', REQUESTS_CA_BUNDLE: t.caPath }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  printer.stderr!.on('data', (d) => (err += String(d)));
  const driver = await new Promise<string>((resolve, reject) => {
    let out = '';
    printer!.stdout!.on('data', (d) => {
      out += String(d);
      if (out.includes('\n')) resolve(`${(JSON.parse(out.split('\n')[0]!) as { driver: string }).driver}/driver/v1`);
    });
    printer!.on('exit', (code) => reject(new Error(`python-printer exited ${code}: ${err.slice(-2000)}`)));
  });
  const call = async (method: string, route: string, body?: unknown): Promise<any> => {
    const res = await request(`${driver}${route}`, { method: method as 'GET', headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return res.body.json();
  };
  const waitFor = async (what: string, ok: (status: any) => boolean, ms = 60_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const status = await call('GET', '/status');
      if (ok(status)) return status;
      if (Date.now() > deadline) throw new Error(`waiting for ${what}: ${JSON.stringify(status)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Settings, START_AUTH, the user approves as `upn`, the printer gets its tokens. */
  const signIn = async (upn: string, approveAfterMs = 0) => {
    const settings = { smtpServerName: 'smtp.office365.com', smtpPort: 587, useSecureConnection: true, authMethod: 'oauth2ExchangeOnline', authEmailAddress: upn, authUsername: upn, adminEmailAddress: upn };
    expect(await call('POST', '/settings', settings)).toMatchObject({ accepted: true });
    expect(await call('POST', '/operator', { type: 'START_AUTH' })).toMatchObject({ accepted: true });
    const { userCode } = await waitFor('codePending', (s) => s.state === 'codePending' && s.userCode);
    await new Promise((r) => setTimeout(r, approveAfterMs)); // (wall time: the user takes a while to type the code)
    t.control.approveDeviceCode(userCode, upn);
    await waitFor('authorized', (s) => s.state === 'authorized' || s.state === 'tokenExpired');
  };
  const report = async () => {
    const r = await api(t, 'GET', '/_twin/conformance');
    expect(r.status).toBe(200);
    return r.json as { passed: boolean; rules: { id: string; verdict: string; findings: string[]; evidence: number[] }[] };
  };
  return { call, waitFor, signIn, report };
}

/** Waits (wall time, bounded) until the twin's journal shows `done`. */
async function until(what: string, done: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const delivered = () => twin!.journal.list({ kind: 'smtp' }).filter((e) => e.kind === 'smtp' && e.command === 'MESSAGE' && e.reply === 250).length;

const failing = (r: { rules: { id: string; verdict: string }[] }) => r.rules.filter((x) => x.verdict === 'fail').map((x) => x.id);
const verdict = (r: { rules: { id: string; verdict: string }[] }, id: string) => r.rules.find((x) => x.id === id)?.verdict;

describe.skipIf(skip)('a foreign printer (examples/python-printer) against the conformance rules', { timeout: 120_000 }, () => {
  it('well-behaved: signs in, sends twice, and passes every rule', async () => {
    const b = await bench(2);
    await b.signIn('scanner@contoso.com', 3000);
    for (const [n, subject] of ['Scan 1', 'Scan 2'].entries()) {
      expect(await b.call('POST', '/jobs', { to: ['admin@contoso.com'], subject, body: 'Scanned document attached.' })).toMatchObject({ status: 'queued' });
      await until(`${subject} delivered`, () => delivered() === n + 1);
    }
    const r = await b.report();
    expect(failing(r), JSON.stringify(r.rules.filter((x) => x.verdict === 'fail'))).toEqual([]);
    for (const id of ['device-code.poll-interval', 'device-code.offline-access', 'smtp.starttls-before-auth', 'smtp.max-connections', 'smtp.one-message-id-per-job']) expect(verdict(r, id), id).toBe('pass');
  });

  it('--bug poll-every-second → device-code.poll-interval only', async () => {
    const b = await bench(3, ['--bug', 'poll-every-second']);
    await b.signIn('scanner@contoso.com', 3500);
    const r = await b.report();
    expect(failing(r)).toEqual(['device-code.poll-interval']);
  });

  it('--bug retry-5.7.139-forever → smtp.no-retry-5.7.139 only', async () => {
    const b = await bench(1, ['--bug', 'retry-5.7.139-forever']);
    await b.signIn('nosmtp@contoso.com');
    await b.call('POST', '/jobs', { to: ['admin@contoso.com'], subject: 'Never', body: 'x' });
    await until('a retry after 5.7.139', () => twin!.journal.list({ kind: 'smtp' }).filter((e) => e.kind === 'smtp' && e.enhanced === '5.7.139').length >= 2);
    const r = await b.report();
    expect(failing(r)).toEqual(['smtp.no-retry-5.7.139']);
  });
});
