/**
 * Microsoft's MSAL for Python (Debian's python3-msal, run with Debian's /usr/bin/python3) against the twin: it reads
 * `device_authorization_endpoint` from discovery, sends no scope on the device-code grant, and checks id_token times
 * against the wall clock — so the twin runs on a real clock here. `.ci/run` installs python3-msal.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { RealClock } from '../../src/time/clock.ts';
import { startTestTwin, SMTP_SCOPE, type TestTwin } from './helpers.ts';

const PYTHON = '/usr/bin/python3';
const available = spawnSync(PYTHON, ['-c', 'import msal'], { stdio: 'ignore' }).status === 0;
// In CI (.ci/run installs python3-msal) this suite is mandatory; on a developer machine without the package it is
// reported as skipped, with the reason printed, never as passed.
const skip = !available && !process.env.CI;
if (skip) console.warn('MSAL for Python tests skipped: install it with `apt-get install -y python3-msal`');
let twin: TestTwin;

describe.skipIf(skip)('MSAL for Python', () => {
  beforeAll(async () => {
    twin = await startTestTwin({ clock: new RealClock() });
  });
  afterAll(async () => twin?.close());

  it('is installed (CI: apt-get install python3-msal)', () => {
    expect(available, `${PYTHON} cannot import msal`).toBe(true);
  });

  it('signs in with the device code flow and refreshes, with unmodified msal', async () => {
    const child = spawn(PYTHON, [path.resolve('test/cloud/python/device_flow.py'), twin.authority, twin.clientId, SMTP_SCOPE], {
      env: { PATH: '/usr/bin:/bin', REQUESTS_CA_BUNDLE: twin.caPath, CURL_CA_BUNDLE: twin.caPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const next = async () => {
      const r = await lines.next();
      if (r.done) throw new Error(`python ended early: ${stderr.slice(-2000)}`);
      return JSON.parse(r.value) as Record<string, unknown>;
    };
    const flow = await next();
    expect(flow.user_code, JSON.stringify(flow)).toMatch(/^[A-Z0-9]{8,9}$/);
    expect(String(flow.message)).toContain(String(flow.user_code));
    twin.control.approveDeviceCode(String(flow.user_code), twin.testUser.upn);
    const grant = await next();
    expect(grant).toMatchObject({ has_access_token: true, has_refresh_token: true, error: null, preferred_username: twin.testUser.upn });
    expect(String(grant.scope)).toContain('SMTP.Send');
    const refresh = await next();
    expect(refresh).toMatchObject({ refreshed: true, accounts: [twin.testUser.upn] });
    await new Promise((resolve) => child.on('close', resolve));
    expect(child.exitCode).toBe(0);
  }, 60_000);
});
