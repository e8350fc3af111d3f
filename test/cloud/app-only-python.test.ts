/**
 * App-only sending with Microsoft's MSAL for Python (Debian's python3-msal, /usr/bin/python3):
 * ConfidentialClientApplication.acquire_token_for_client with the fixture's secret, then Python's smtplib XOAUTH2
 * with that token. Real clock (MSAL checks times against the wall clock). Mandatory in CI, skipped with a reason
 * elsewhere when python3-msal is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { RealClock } from '../../src/time/clock.ts';
import { api, startTestTwin, type TestTwin } from './helpers.ts';

const PYTHON = '/usr/bin/python3';
const available = spawnSync(PYTHON, ['-c', 'import msal, smtplib'], { stdio: 'ignore' }).status === 0;
const skip = !available && !process.env.CI;
if (skip) console.warn('MSAL for Python app-only tests skipped: install it with `apt-get install -y python3-msal`');

export const APP_ONLY = { clientId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a', secret: 'Xq8~AppOnly.Secret-Contoso-2026', expiredSecret: 'Old~Expired.Secret-Contoso-2025', servicePrincipal: '2b3c4d5e-6f70-4b8c-9dae-000000000b01' };
export const WRONG_OBJECT_ID_APP = { clientId: '6e8f0a2b-3c4d-4e5f-9a7b-8c9d0e1f2a3b', secret: 'Pr7~WrongObjectId.Secret-2026' };
const SCOPE = 'https://outlook.office365.com/.default';
const SCANNER = 'scanner@contoso.com';

let twin: TestTwin;

interface AppOnlyResult {
  error: string | null;
  error_codes: number[] | null;
  error_description: string;
  has_refresh_token: boolean;
  claims?: Record<string, unknown>;
  smtp?: { code: number; reply: string };
  refused?: Record<string, unknown>;
}

function appOnly(clientId: string, secret: string, scope: string, mailbox: string): Promise<AppOnlyResult> {
  return new Promise((resolve, reject) => {
    const args = [path.resolve('test/cloud/python/app_only.py'), twin.authority, clientId, secret, scope, mailbox, twin.smtp.host, String(twin.smtp.port)];
    const child = spawn(PYTHON, args, {
      env: { PATH: '/usr/bin:/bin', REQUESTS_CA_BUNDLE: twin.caPath, CURL_CA_BUNDLE: twin.caPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (err += String(d)));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as AppOnlyResult) : reject(new Error(`python exited ${code}: ${err.slice(-2000)}`))));
  });
}

describe.skipIf(skip)('app-only sending with MSAL for Python and smtplib', () => {
  beforeAll(async () => {
    twin = await startTestTwin({ clock: new RealClock() });
  });
  afterAll(async () => twin?.close());

  it('is installed (CI: apt-get install python3-msal)', () => {
    expect(available, `${PYTHON} cannot import msal`).toBe(true);
  });

  it('gets an app-only token (roles SMTP.SendAsApp, idtyp app, no scp, no refresh token) and sends as the mailbox with FullAccess', async () => {
    const sent = () => twin.control.messages(SCANNER).filter((m) => m.folder === 'SentItems' && m.subject === 'Scan (app-only)').length;
    const before = sent();
    const r = await appOnly(APP_ONLY.clientId, APP_ONLY.secret, SCOPE, SCANNER);
    expect(r.error, r.error_description).toBeNull();
    expect(r.has_refresh_token).toBe(false);
    expect(r.claims).toEqual({
      aud: 'https://outlook.office365.com',
      roles: ['SMTP.SendAsApp'],
      idtyp: 'app',
      scp: null,
      appid: APP_ONLY.clientId,
      oid: APP_ONLY.servicePrincipal,
      tid: twin.tenantId,
    });
    expect(r.smtp).toEqual({ code: 235, reply: '2.7.0 Authentication successful' });
    expect(r.refused).toEqual({});
    expect(sent()).toBe(before + 1);
  }, 60_000);

  it('the app registered in Exchange with the app registration\'s object id gets a token but 535 5.7.3', async () => {
    const r = await appOnly(WRONG_OBJECT_ID_APP.clientId, WRONG_OBJECT_ID_APP.secret, SCOPE, SCANNER);
    expect(r.error).toBeNull();
    expect(r.smtp?.code).toBe(535);
    expect(r.smtp?.reply).toMatch(/^5\.7\.3 Authentication unsuccessful/);
  }, 60_000);

  it('a mailbox on which the app has no permission: 535 5.7.3', async () => {
    const r = await appOnly(APP_ONLY.clientId, APP_ONLY.secret, SCOPE, 'frontdesk@contoso.com');
    expect(r.smtp?.code).toBe(535);
    expect(r.smtp?.reply).toMatch(/^5\.7\.3 Authentication unsuccessful/);
  }, 60_000);

  it('Add-MailboxPermission through the control API makes that mailbox work', async () => {
    const grant = await api(twin, 'POST', '/_twin/mailboxes/frontdesk@contoso.com/permissions', { servicePrincipal: APP_ONLY.servicePrincipal, accessRights: ['FullAccess'] });
    expect(grant.status).toBe(201);
    try {
      const r = await appOnly(APP_ONLY.clientId, APP_ONLY.secret, SCOPE, 'frontdesk@contoso.com');
      expect(r.smtp).toEqual({ code: 235, reply: '2.7.0 Authentication successful' });
    } finally {
      await api(twin, 'DELETE', `/_twin/mailboxes/frontdesk@contoso.com/permissions/${APP_ONLY.servicePrincipal}`);
    }
  }, 60_000);

  it('a scope without /.default: AADSTS1002012', async () => {
    const r = await appOnly(APP_ONLY.clientId, APP_ONLY.secret, 'https://outlook.office365.com/SMTP.SendAsApp', SCANNER);
    expect(r.error).toBe('invalid_scope');
    expect(r.error_codes).toEqual([1002012]);
    expect(r.claims).toBeUndefined();
  }, 60_000);

  it('a wrong secret: AADSTS7000215; an expired one: AADSTS7000222', async () => {
    const wrong = await appOnly(APP_ONLY.clientId, 'not-the-secret-at-all', SCOPE, SCANNER);
    expect(wrong).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    const expired = await appOnly(APP_ONLY.clientId, APP_ONLY.expiredSecret, SCOPE, SCANNER);
    expect(expired).toMatchObject({ error: 'invalid_client', error_codes: [7000222] });
  }, 60_000);
});
