/** The /devicelogin pages walked with plain HTTP (forms and cookies, no browser). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/clock.ts';
import { Messages } from '../../src/cloud/signin/routes.ts';
import { FormBrowser, SMTP_SCOPE, api, oauth, startTestTwin, type TestTwin } from './helpers.ts';

let twin: TestTwin;
let clock: VirtualClock;

beforeAll(async () => {
  clock = new VirtualClock();
  twin = await startTestTwin({ clock });
});
afterAll(async () => {
  await twin?.close();
});

async function newCode(): Promise<{ userCode: string; deviceCode: string }> {
  const r = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: `${SMTP_SCOPE} openid profile offline_access` });
  expect(r.status).toBe(200);
  return { userCode: r.json.user_code, deviceCode: r.json.device_code };
}

async function poll(deviceCode: string) {
  return oauth(twin, '/oauth2/v2.0/token', {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    client_id: twin.clientId,
    device_code: deviceCode,
  });
}

async function atPassword(b: FormBrowser, userCode: string, upn: string) {
  await b.post('/devicelogin', { otc: userCode });
  return b.post('/devicelogin/signin', { login: upn });
}

describe('device login pages', () => {
  it('walks code → account → password → SMS code → Continue, with labelled inputs and no secrets on the pages', async () => {
    const { userCode, deviceCode } = await newCode();
    const b = new FormBrowser(twin);
    let p = await b.get('/devicelogin');
    expect(p.title).toBe('Enter code');
    expect(p.inputsWithoutLabel()).toEqual([]);
    // Codes are accepted case-insensitively and with spaces, as on the real page.
    p = await b.post('/devicelogin', { otc: ` ${userCode.toLowerCase().slice(0, 4)} ${userCode.toLowerCase().slice(4)} ` });
    expect(p.path).toBe('/devicelogin/signin');
    expect(p.title).toBe('Sign in');
    expect(p.inputsWithoutLabel()).toEqual([]);
    p = await b.post('/devicelogin/signin', { login: 'Scanner@Contoso.com' });
    expect(p.title).toBe('Enter password');
    expect(p.inputsWithoutLabel()).toEqual([]);
    p = await b.post('/devicelogin/password', { passwd: 'Scan-to-Email-2026!' });
    expect(p.path).toBe('/devicelogin/verify');
    expect(p.text).toContain('We texted your phone +X XXXXXXXX42');
    const otp = twin.control.latestOneTimeCode('scanner@contoso.com')!;
    expect(otp).toMatch(/^\d{6}$/);
    expect(p.html).not.toContain(otp);
    expect(p.html).not.toContain('Scan-to-Email-2026!');
    expect((await poll(deviceCode)).json.error).toBe('authorization_pending');
    p = await b.post('/devicelogin/verify', { otc_mfa: otp });
    expect(p.title).toBe('Are you trying to sign in to Scan to Email?');
    p = await b.post('/devicelogin/confirm', { action: 'continue' });
    expect(p.text).toContain('You have signed in to the Scan to Email application on your device. You may now close this window.');
    const tokens = await poll(deviceCode);
    expect(tokens.status).toBe(200);
    expect(tokens.json.token_type).toBe('Bearer');
    // The same code cannot be entered again.
    const again = await new FormBrowser(twin).post('/devicelogin', { otc: userCode });
    expect(again.error).toBe(Messages.usedCode);
  });

  it('shows the phone as HTML and JSON, newest first', async () => {
    const json = await api(twin, 'GET', '/_twin/phone/scanner@contoso.com');
    expect(json.status).toBe(200);
    expect(json.json[0].method).toBe('sms');
    const html = await new FormBrowser(twin).get('/_twin/phone/scanner@contoso.com');
    expect(html.html).toContain(json.json[0].code);
  });

  it('asks an authenticator user for the app code', async () => {
    const { userCode } = await newCode();
    const b = new FormBrowser(twin);
    await atPassword(b, userCode, 'megan@contoso.com');
    const p = await b.post('/devicelogin/password', { passwd: 'Authenticator-2026!' });
    expect(p.text).toContain('Enter the code displayed in the Microsoft Authenticator app');
    expect(twin.control.phone('megan@contoso.com')[0]!.method).toBe('authenticator');
  });

  it('explains a wrong code, an expired code, a wrong password and a wrong one-time code', async () => {
    const b = new FormBrowser(twin);
    let p = await b.post('/devicelogin', { otc: 'NOTACODE1' });
    expect(p.status).toBe(400);
    expect(p.error).toBe(Messages.badCode);
    p = await b.post('/devicelogin/signin', { login: 'scanner@contoso.com' });
    expect(p.error).toBe(Messages.sessionLost);

    const expiring = await newCode();
    await clock.advance(15 * 60_000);
    p = await b.post('/devicelogin', { otc: expiring.userCode });
    expect(p.error).toBe(Messages.expiredCode);

    const { userCode, deviceCode } = await newCode();
    p = await atPassword(b, userCode, 'nobody@contoso.com');
    expect(p.error).toBe(Messages.noUser);
    p = await b.post('/devicelogin/signin', { login: 'admin@contoso.com' });
    p = await b.post('/devicelogin/password', { passwd: 'wrong' });
    expect(p.error).toContain('AADSTS50126');
    expect(p.error).toContain('Your account or password is incorrect');
    p = await b.post('/devicelogin/password', { passwd: 'Admin-Pass-2026!' });
    p = await b.post('/devicelogin/verify', { otc_mfa: '000000' === twin.control.latestOneTimeCode('admin@contoso.com') ? '111111' : '000000' });
    expect(p.error).toBe(Messages.badOtp);
    p = await b.post('/devicelogin/verify', { otc_mfa: twin.control.latestOneTimeCode('admin@contoso.com')! });
    p = await b.post('/devicelogin/confirm', { action: 'cancel' });
    expect(p.text).toContain('declined');
    const polled = await poll(deviceCode);
    expect(polled.json.error).toBe('authorization_declined');
    // Single use: the next poll says the request was already decided.
    expect((await poll(deviceCode)).json).toMatchObject({ error: 'invalid_grant', error_codes: [90120] });
  });

  it('locks the account after five failures, even against the right password, until the lockout passes', async () => {
    const { userCode } = await newCode();
    const b = new FormBrowser(twin);
    let p = await atPassword(b, userCode, 'frontdesk@contoso.com');
    for (let i = 0; i < 4; i++) {
      p = await b.post('/devicelogin/password', { passwd: `wrong-${i}` });
      expect(p.error).toContain('AADSTS50126');
    }
    p = await b.post('/devicelogin/password', { passwd: 'wrong-5' });
    expect(p.error).toBe(Messages.locked);
    p = await b.post('/devicelogin/password', { passwd: 'Front-Desk-2026!' });
    expect(p.error).toBe(Messages.locked);
    await clock.advance(61_000);
    p = await b.post('/devicelogin/password', { passwd: 'Front-Desk-2026!' });
    expect(p.title).toBe('Are you trying to sign in to Scan to Email?');
  });

  it('survives broken form posts with an HTML error page', async () => {
    const b = new FormBrowser(twin);
    const p = await b.post('/devicelogin', { otc: 'x'.repeat(20_000) });
    expect(p.status).toBe(400);
    expect(p.title).toBe('Something went wrong');
    expect((await b.get('/devicelogin')).status).toBe(200);
  });
});
