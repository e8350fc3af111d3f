/**
 * Exchange fidelity (issue 11 item 7) measured with an independent client, Python's smtplib (standard library, Debian's
 * /usr/bin/python3), against the whole twin started from a tenant fixture on a virtual clock in January:
 * - EHLO before and after STARTTLS: Exchange's list in Exchange's order (less BINARYMIME and CHUNKING, the documented
 *   deviation: no BDAT);
 * - STARTTLS answered `220 2.0.0 SMTP server ready`;
 * - the bracketed stamp of a 5.7.139 refusal carries the twin's clock (`/_twin/clock`), not wall time;
 * - a session left idle after `334` is closed, after the fixture's `exchange.connectionInactivityTimeoutSeconds`, with
 *   `451 4.7.0 Timeout waiting for client input`, and the connection ends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { VirtualClock } from '../../src/time/clock.ts';
import { api, startTestTwin, type TestTwin } from './helpers.ts';

const PYTHON = '/usr/bin/python3';
const available = spawnSync(PYTHON, ['-c', 'import smtplib, ssl'], { stdio: 'ignore' }).status === 0;
const skip = !available && !process.env.CI;
if (skip) console.warn('smtplib fidelity tests skipped: /usr/bin/python3 is missing (apt-get install -y python3)');

const SCANNER = 'scanner@contoso.com';
const SCANNER_PASSWORD = 'Scan-to-Email-2026!';

interface Observed {
  ehlo_plain: string[];
  starttls: string;
  ehlo_tls: string[];
  login: string;
  auth_prompt: number;
  idle: string;
  closed_after_idle: boolean;
}

let twin: TestTwin;

function observe(): Promise<Observed> {
  return new Promise((resolve, reject) => {
    const script = path.resolve('test/cloud/python/smtp_fidelity.py');
    const child = spawn(PYTHON, [script, twin.smtp.host, String(twin.smtp.port), twin.caPath, SCANNER, SCANNER_PASSWORD], {
      env: { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (err += String(d)));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as Observed) : reject(new Error(`python exited ${code}: ${err.slice(-2000)}`))));
  });
}

describe.skipIf(skip)('Exchange fidelity with smtplib', () => {
  let seen: Observed;
  beforeAll(async () => {
    // January 2027: basic auth is off by default (basic-auth.ts), so AUTH LOGIN gets a stamped 5.7.139.
    twin = await startTestTwin({
      clock: new VirtualClock(Date.parse('2027-01-12T07:45:30.125Z')),
      patch: (f) => (f.exchange = { connectionInactivityTimeoutSeconds: 2 }), // short, yet above a loaded machine's pauses
    });
    seen = await observe();
  }, 90_000);
  afterAll(async () => twin?.close());

  it("EHLO lists Exchange's extensions in Exchange's order, AUTH LOGIN XOAUTH2 where STARTTLS stood", () => {
    expect(seen.ehlo_plain).toEqual(['SIZE 157286400', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', 'STARTTLS', '8BITMIME', 'SMTPUTF8']);
    expect(seen.ehlo_tls).toEqual(['SIZE 157286400', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', 'AUTH LOGIN XOAUTH2', '8BITMIME', 'SMTPUTF8']);
  });

  it('STARTTLS is answered 220 2.0.0 SMTP server ready', () => {
    expect(seen.starttls).toBe('220 2.0.0 SMTP server ready');
  });

  it("the bracketed stamp is the twin's clock, as /_twin/clock reports it", async () => {
    const clock = (await api(twin, 'GET', '/_twin/clock')).json as { iso: string; kind: string };
    expect(clock).toMatchObject({ iso: '2027-01-12T07:45:30.125Z', kind: 'virtual' });
    const stamp = /\[(\S+) (\S+) ([0-9A-F]+)\]$/.exec(seen.login);
    expect(seen.login).toMatch(/^535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled\. \[/);
    expect(stamp?.[1]).toMatch(/\.prod\.outlook\.com$/);
    expect(stamp?.[2]).toBe(clock.iso);
  });

  it("a session idle after 334 is closed with Exchange's timeout reply, after the fixture's timeout", () => {
    expect(seen.auth_prompt).toBe(334);
    expect(seen.idle).toBe('451 4.7.0 Timeout waiting for client input');
    expect(seen.closed_after_idle).toBe(true);
  });
});
