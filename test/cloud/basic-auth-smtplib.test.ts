/**
 * Python's smtplib, unmodified, doing basic SMTP AUTH (LOGIN and PLAIN) against the twin across Microsoft's calendar:
 * allowed on 30 December 2026, `535 5.7.139 … basic authentication is disabled.` from 31 December, allowed again
 * after the administrator's switch, `550 5.7.30` after the final removal; wrong password 5.7.3; the per-mailbox SMTP
 * AUTH switch both ways. smtplib is in Python's standard library (Debian's /usr/bin/python3 is used, as elsewhere).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { VirtualClock } from '../../src/time/clock.ts';
import { api, startTestTwin, type TestTwin } from './helpers.ts';

const PYTHON = '/usr/bin/python3';
const available = spawnSync(PYTHON, ['-c', 'import smtplib, ssl'], { stdio: 'ignore' }).status === 0;
const skip = !available && !process.env.CI;
if (skip) console.warn('smtplib tests skipped: /usr/bin/python3 is missing (apt-get install -y python3)');

const SCANNER = 'scanner@contoso.com';
const SCANNER_PASSWORD = 'Scan-to-Email-2026!';
const FRONTDESK = 'frontdesk@contoso.com';
const FRONTDESK_PASSWORD = 'Front-Desk-2026!';
const NOSMTP = 'nosmtp@contoso.com';
const NOSMTP_PASSWORD = 'No-Smtp-2026!';

let twin: TestTwin;
let clock: VirtualClock;

interface SmtplibResult {
  ok: boolean;
  code: number | null;
  reply: string;
  ehlo_auth: string;
  refused?: Record<string, unknown>;
}

function smtplib(mechanism: 'LOGIN' | 'PLAIN', user: string, password: string): Promise<SmtplibResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [path.resolve('test/cloud/python/smtp_basic.py'), twin.smtp.host, String(twin.smtp.port), twin.caPath, mechanism, user, password], {
      env: { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (err += String(d)));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as SmtplibResult) : reject(new Error(`python exited ${code}: ${err.slice(-2000)}`))));
  });
}

const at = (iso: string) => clock.advanceTo(Date.parse(iso));

describe.skipIf(skip)('basic SMTP AUTH with smtplib across the calendar', () => {
  beforeAll(async () => {
    clock = new VirtualClock(Date.parse('2026-12-30T09:00:00Z'));
    twin = await startTestTwin({ clock });
  });
  afterAll(async () => twin?.close());

  it('30 December 2026: AUTH LOGIN and AUTH PLAIN succeed, EHLO lists LOGIN, the message is filed', async () => {
    const before = twin.control.messages(SCANNER).length;
    const login = await smtplib('LOGIN', SCANNER, SCANNER_PASSWORD);
    expect(login).toMatchObject({ ok: true, code: 235, ehlo_auth: 'LOGIN XOAUTH2', refused: {} });
    const plain = await smtplib('PLAIN', SCANNER, SCANNER_PASSWORD);
    expect(plain).toMatchObject({ ok: true, code: 235, refused: {} });
    expect(twin.control.messages(SCANNER).length).toBeGreaterThanOrEqual(before + 2);
  }, 60_000);

  it('a wrong password gets 535 5.7.3', async () => {
    const r = await smtplib('LOGIN', SCANNER, 'not-the-password');
    expect(r.ok).toBe(false);
    expect(`${r.code} ${r.reply}`).toMatch(/^535 5\.7\.3 Authentication unsuccessful/);
  }, 30_000);

  it('per-mailbox SMTP AUTH: off wins over the tenant, on overrides a tenant that is off, null follows it', async () => {
    const off = await smtplib('LOGIN', NOSMTP, NOSMTP_PASSWORD);
    expect(`${off.code} ${off.reply}`).toMatch(/^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox\./);

    expect((await api(twin, 'PATCH', '/_twin/tenant', { smtpAuthEnabled: false })).status).toBe(200);
    try {
      const follows = await smtplib('LOGIN', FRONTDESK, FRONTDESK_PASSWORD); // smtpAuthEnabled null
      expect(`${follows.code} ${follows.reply}`).toMatch(/^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant\./);
      const overrides = await smtplib('PLAIN', SCANNER, SCANNER_PASSWORD); // smtpAuthEnabled true
      expect(overrides).toMatchObject({ ok: true, code: 235 });
    } finally {
      await api(twin, 'PATCH', '/_twin/tenant', { smtpAuthEnabled: true });
    }
  }, 60_000);

  it('from 31 December 2026 basic auth is off: 535 5.7.139 basic authentication is disabled, for LOGIN and PLAIN', async () => {
    await at('2027-01-01T08:00:00Z');
    expect((await api(twin, 'GET', '/_twin/tenant/basic-auth')).json).toMatchObject({ status: 'disabled', advertised: ['LOGIN', 'XOAUTH2'] });
    for (const mechanism of ['LOGIN', 'PLAIN'] as const) {
      const r = await smtplib(mechanism, SCANNER, SCANNER_PASSWORD);
      expect(r.ok).toBe(false);
      expect(`${r.code} ${r.reply}`).toMatch(/^535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled\./);
    }
  }, 60_000);

  it('the administrator turns it back on: accepted again; the mailbox switch still applies', async () => {
    expect((await api(twin, 'PATCH', '/_twin/tenant/basic-auth', { adminReEnabled: true })).json).toMatchObject({ status: 'allowed' });
    expect(await smtplib('LOGIN', SCANNER, SCANNER_PASSWORD)).toMatchObject({ ok: true, code: 235 });
    const off = await smtplib('LOGIN', NOSMTP, NOSMTP_PASSWORD);
    expect(`${off.code} ${off.reply}`).toMatch(/^535 5\.7\.139 .*disabled for the Mailbox/);
  }, 60_000);

  it('after the final removal: EHLO lists only XOAUTH2 and AUTH PLAIN gets 550 5.7.30', async () => {
    const patched = await api(twin, 'PATCH', '/_twin/tenant/basic-auth', { finalRemovalAt: '2027-09-30T00:00:00Z' });
    expect(patched.json).toMatchObject({ status: 'allowed' });
    await at('2027-10-01T00:00:00Z');
    const plain = await smtplib('PLAIN', SCANNER, SCANNER_PASSWORD);
    expect(plain.ehlo_auth).toBe('XOAUTH2');
    expect(`${plain.code} ${plain.reply}`).toBe('550 5.7.30 Basic authentication is not supported for Client Submission.');
    // smtplib's login() finds no mechanism it can use and says so (it never sends the password).
    const login = await smtplib('LOGIN', SCANNER, SCANNER_PASSWORD);
    expect(login).toMatchObject({ ok: false, code: null, reply: 'No suitable authentication method found.' });
  }, 60_000);

  it('bad calendar input is refused and changes nothing', async () => {
    const before = (await api(twin, 'GET', '/_twin/tenant/basic-auth')).json;
    const bad = await api(twin, 'PATCH', '/_twin/tenant/basic-auth', { adminReEnabled: false, finalRemovalAt: 'next summer' });
    expect(bad.status).toBe(400);
    expect((await api(twin, 'GET', '/_twin/tenant/basic-auth')).json).toEqual(before);
  });
});
