/**
 * The panel's side of issue 14 through app.inject(): the method select's four entries, fields per method, secrets
 * write-only (accepted, sealed, never in a page, an API answer or the NVRAM image), validated, and a save without
 * them keeps them; the "OAuth 2.0 Authentication" block under the method for app-only too.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { SMTP_PASSWORD_SECRET, APP_CLIENT_SECRET } from '../../src/device/credentials.ts';
import { METHOD_LABELS } from '../../src/panel/wording.ts';
import { basic, login, nvramSnapshot, panelUnderTest, type PanelUnderTest } from './support.ts';

const PASSWORD = 'Basic-Passw0rd-for-scanner';
const SECRET = 'Xq8~AppOnly.Secret-Contoso-2026';
const TENANT = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const CLIENT = '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a';

let p: PanelUnderTest;
beforeEach(async () => {
  p = await panelUnderTest();
});
afterEach(async () => p.close());

const auth = { authorization: basic() };
const api = (method: 'GET' | 'PUT', url: string, payload?: object) => p.app.inject({ method, url, headers: auth, ...(payload ? { payload } : {}) });
const form = (over: Record<string, string>) => ({
  smtpServerName: 'smtp.office365.com',
  smtpPort: '587',
  useSecureConnection: 'on',
  authEmailAddress: 'scanner@contoso.com',
  authUsername: 'scanner@contoso.com',
  adminEmailAddress: '',
  appTenantId: '',
  appClientId: '',
  smtpPassword: '',
  clientSecret: '',
  ...over,
});
async function postForm(over: Record<string, string>) {
  const { cookie, csrf } = await login(p.app);
  const res = await p.app.inject({ method: 'POST', url: '/settings/smtp', headers: { cookie }, payload: { _csrf: csrf, ...form(over) } });
  return { res, cookie };
}
const imageText = () => readFile(p.sim.device.nvram.stats().file, 'latin1');

describe('SMTP page: methods and their fields', () => {
  it('lists the four methods with their labels and a field for each credential, secrets without a value', async () => {
    const { cookie } = await login(p.app);
    const page = (await p.app.inject({ method: 'GET', url: '/settings/smtp', headers: { cookie } })).body;
    for (const [value, label] of Object.entries(METHOD_LABELS)) expect(page).toMatch(new RegExp(`<option value="${value}"( selected)?>${label.replace(/[()]/g, '\\$&')}</option>`));
    expect(page).toMatch(/data-methods="smtpAuth"><label for="smtpPassword">Password<\/label><div><input id="smtpPassword" name="smtpPassword" type="password" autocomplete="new-password" maxlength="256">/);
    expect(page).toMatch(/data-methods="oauth2AppOnly"><label for="clientSecret">Client secret/);
    expect(page).toMatch(/id="appTenantId"/);
    expect(page).toMatch(/id="appClientId"/);
  });

  it('basic with a password: authorized; the password is sealed and never shown back, in the page, the API or the image', async () => {
    const { res, cookie } = await postForm({ authMethod: 'smtpAuth', smtpPassword: PASSWORD });
    expect(res.statusCode).toBe(302);
    expect(p.sim.device.state()).toBe('authorized');
    expect(p.sim.device.nvram.secrets.get(SMTP_PASSWORD_SECRET)).toBe(PASSWORD);
    const page = (await p.app.inject({ method: 'GET', url: '/settings/smtp', headers: { cookie } })).body;
    expect(page).not.toContain(PASSWORD);
    expect(page).toContain('<option value="smtpAuth" selected>SMTP Authentication</option>');
    for (const url of ['/api/settings/smtp', '/api/status', '/api/nvram', '/api/eventlog']) expect((await api('GET', url)).body).not.toContain(PASSWORD);
    expect(await imageText()).not.toContain(PASSWORD);
  });

  it('a save with the password field empty keeps the sealed password (changing the port)', async () => {
    await postForm({ authMethod: 'smtpAuth', smtpPassword: PASSWORD });
    await postForm({ authMethod: 'smtpAuth', smtpPort: '25' });
    expect(p.sim.device.settings().smtpPort).toBe(25);
    expect(p.sim.device.nvram.secrets.get(SMTP_PASSWORD_SECRET)).toBe(PASSWORD);
    expect(p.sim.device.state()).toBe('authorized');
  });

  it('bad app-only input: 400 with field messages, nothing saved, the typed secret not echoed', async () => {
    const before = nvramSnapshot(p.sim);
    const { res } = await postForm({ authMethod: 'oauth2AppOnly', appTenantId: 'contoso', appClientId: CLIENT, clientSecret: `${SECRET}\u0007` });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('Directory (tenant) ID is not a GUID');
    expect(res.body).not.toContain(SECRET);
    expect(res.body).toContain(`value="${CLIENT}"`); // the rest of what was typed stays in the form
    expect(nvramSnapshot(p.sim)).toBe(before);
  });

  it('app-only through the API: the secret is accepted, sealed, and not in the answer; the block sits under the method', async () => {
    const put = await api('PUT', '/api/settings/smtp', { ...OAUTH_SETTINGS, authMethod: 'oauth2AppOnly', appTenantId: TENANT, appClientId: CLIENT, clientSecret: SECRET });
    expect(put.statusCode).toBe(200);
    expect(put.body).not.toContain(SECRET);
    expect(put.json()).toMatchObject({ state: 'requestingToken', settings: { authMethod: 'oauth2AppOnly', appTenantId: TENANT, appClientId: CLIENT } });
    expect(put.json().settings).not.toHaveProperty('clientSecret');
    await p.sim.device.idle();
    expect(p.sim.device.state()).toBe('authorized');
    expect(p.sim.device.nvram.secrets.get(APP_CLIENT_SECRET)).toBe(SECRET);
    const { cookie } = await login(p.app);
    const page = (await p.app.inject({ method: 'GET', url: '/settings/smtp', headers: { cookie } })).body;
    expect(page).not.toContain(SECRET);
    expect(page.indexOf('id="authMethod"')).toBeLessThan(page.indexOf('oauth-block'));
    expect(await imageText()).not.toContain(SECRET);
  });

  it('the API refuses a secret that is not a string, and unknown fields, without changing anything', async () => {
    const before = nvramSnapshot(p.sim);
    expect((await api('PUT', '/api/settings/smtp', { clientSecret: 42 })).statusCode).toBe(400);
    expect((await api('PUT', '/api/settings/smtp', { smtpPasswordPlain: PASSWORD })).statusCode).toBe(400);
    expect(nvramSnapshot(p.sim)).toBe(before);
  });
});

