/**
 * The unmodified @azure/msal-node client against the Entra twin over HTTPS: device code flow approved through the
 * pages and through the control API, silent refresh, and the documented failures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify, decodeJwt } from 'jose';
import { request } from 'undici';
import { VirtualClock } from '../../src/time/clock.ts';
import {
  DAY_MS,
  SMTP_SCOPE,
  UNCONSENTED_APP,
  api,
  expectEntraError,
  msalFor,
  signInThroughPages,
  startDeviceCodeFlow,
  startTestTwin,
  type TestTwin,
} from './helpers.ts';

const scanner = { upn: 'scanner@contoso.com', password: 'Scan-to-Email-2026!' };
let twin: TestTwin;
let clock: VirtualClock;

beforeAll(async () => {
  clock = new VirtualClock();
  twin = await startTestTwin({ clock });
});
afterAll(async () => {
  await twin?.close();
});

async function approvedResult(pca: ReturnType<typeof msalFor>['pca'], approve: (userCode: string) => Promise<unknown>) {
  const flow = startDeviceCodeFlow(pca);
  const code = await flow.code;
  await approve(code.userCode);
  const result = await flow.result;
  if (!result) throw new Error('MSAL returned no result');
  return { code, result };
}

describe('msal-node device code flow against the twin', () => {
  it('signs in through the pages (SMS MFA), gets a verifiable Exchange token, and refreshes silently', async () => {
    const { pca, net } = msalFor(twin);
    const { code, result } = await approvedResult(pca, async (userCode) => {
      const last = await signInThroughPages(twin, userCode, scanner);
      expect(last.text).toContain('You have signed in to the Scan to Email application on your device. You may now close this window.');
    });
    expect(code.message).toBe(
      `To sign in, use a web browser to open the page ${twin.entraUrl}/devicelogin and enter the code ${code.userCode} to authenticate.`,
    );
    expect(code.userCode).toMatch(/^[A-Z0-9]{9}$/);
    // MSAL kept polling on authorization_pending while the pages were walked.
    expect(net.responses.some((r) => r.body?.error === 'authorization_pending')).toBe(true);

    expect(result.account?.username).toBe('scanner@contoso.com');
    expect(result.account?.tenantId).toBe(twin.tenantId);
    expect(result.scopes).toContain(SMTP_SCOPE);

    const jwks = await (await request(`${twin.authority}/discovery/v2.0/keys`, { dispatcher: twin.agent })).body.json();
    const { payload } = await jwtVerify(result.accessToken, createLocalJWKSet(jwks as never), {
      audience: 'https://outlook.office.com',
      issuer: `https://sts.windows.net/${twin.tenantId}/`,
      currentDate: new Date(clock.now()),
    });
    expect(String(payload.scp).split(' ')).toContain('SMTP.Send');
    expect(payload).toMatchObject({ upn: scanner.upn, unique_name: scanner.upn, tid: twin.tenantId, appid: twin.clientId });
    expect(payload.iat).toBe(Math.floor(clock.now() / 1000));
    const lifetime = (payload.exp as number) - (payload.iat as number);
    expect(lifetime).toBeGreaterThanOrEqual(3600);
    expect(lifetime).toBeLessThanOrEqual(5400);
    expect(payload.amr).toEqual(['pwd', 'mfa']);

    const idClaims = decodeJwt(result.idToken);
    expect(idClaims).toMatchObject({ aud: twin.clientId, iss: `${twin.entraUrl}/${twin.tenantId}/v2.0`, preferred_username: scanner.upn });

    clock.advance(10 * 60_000);
    const refreshed = await pca.acquireTokenSilent({ account: result.account!, scopes: [SMTP_SCOPE], forceRefresh: true });
    expect(refreshed.accessToken).not.toBe(result.accessToken);
    const again = decodeJwt(refreshed.accessToken);
    expect(again.uti).not.toBe(payload.uti);
    expect(again.iat).toBe(Math.floor(clock.now() / 1000));
    const refreshResponse = net.responses.at(-1)!;
    expect(refreshResponse.body.refresh_token).toBeTruthy();
    expect(refreshResponse.body.scope).toBe(`${SMTP_SCOPE} openid profile offline_access`);
  });

  it('is approved through the control API', async () => {
    const { pca } = msalFor(twin);
    const { result } = await approvedResult(pca, async (userCode) => {
      const listed = await api(twin, 'GET', '/_twin/device-codes');
      expect(listed.json.map((c: { userCode: string }) => c.userCode)).toContain(userCode);
      const r = await api(twin, 'POST', `/_twin/device-codes/${userCode}/approve`, { upn: 'megan@contoso.com' });
      expect(r.status).toBe(200);
      expect(r.json.state).toBe('approved');
    });
    expect(result.account?.username).toBe('megan@contoso.com');
  });

  it('reports a Cancel in the pages as authorization_declined', async () => {
    const { pca, net } = msalFor(twin);
    const flow = startDeviceCodeFlow(pca);
    const { userCode } = await flow.code;
    const page = await signInThroughPages(twin, userCode, scanner, 'cancel');
    expect(page.text).toContain('declined');
    await expect(flow.result).rejects.toMatchObject({ errorCode: 'post_request_failed' });
    expect(expectEntraError(net.lastError()).error).toBe('authorization_declined');
  });

  it('expires the code on the twin clock (code_expired, AADSTS70020)', async () => {
    const { pca, net } = msalFor(twin);
    const flow = startDeviceCodeFlow(pca);
    await flow.code;
    await clock.advance(15 * 60_000 + 1);
    await expect(flow.result).rejects.toMatchObject({ errorCode: 'post_request_failed' });
    const err = expectEntraError(net.lastError());
    expect(err.error).toBe('code_expired');
    expect(err.error_codes).toEqual([70020]);
  });

  it('refuses an unknown client (unauthorized_client, AADSTS700016)', async () => {
    const { pca, net } = msalFor(twin, '11111111-2222-4333-8444-555555555555');
    const flow = startDeviceCodeFlow(pca);
    await expect(flow.result).rejects.toThrow();
    const err = expectEntraError(net.lastError());
    expect(err.error).toBe('unauthorized_client');
    expect(err.error_codes).toEqual([700016]);
  });

  it('ends the sign-in of an app without consent with consent_required (AADSTS65001)', async () => {
    const { pca, net } = msalFor(twin, UNCONSENTED_APP);
    const flow = startDeviceCodeFlow(pca);
    const { userCode } = await flow.code;
    const page = await signInThroughPages(twin, userCode, scanner);
    expect(page.title).toBe('Need admin approval');
    await expect(flow.result).rejects.toMatchObject({ errorCode: 'post_request_failed' });
    const err = expectEntraError(net.lastError());
    expect(err).toMatchObject({ error: 'invalid_grant', suberror: 'consent_required', error_codes: [65001] });
  });

  it('blocks the device code flow by policy (AADSTS53003)', async () => {
    await api(twin, 'PATCH', '/_twin/tenant', { blockDeviceCodeFlow: true });
    try {
      const { pca, net } = msalFor(twin);
      const flow = startDeviceCodeFlow(pca);
      const { userCode } = await flow.code;
      const r = await api(twin, 'POST', `/_twin/device-codes/${userCode}/approve`, { upn: scanner.upn });
      expect(r.json.error.aadsts).toBe(53003);
      await expect(flow.result).rejects.toMatchObject({ errorCode: 'post_request_failed' });
      expect(expectEntraError(net.lastError()).error_codes).toEqual([53003]);
    } finally {
      await api(twin, 'PATCH', '/_twin/tenant', { blockDeviceCodeFlow: false });
    }
  });

  it('loses the refresh token on a password reset (invalid_grant, AADSTS50173)', async () => {
    const { pca, net } = msalFor(twin);
    const { result } = await approvedResult(pca, (c) => api(twin, 'POST', `/_twin/device-codes/${c}/approve`, { upn: 'admin@contoso.com' }));
    const reset = await api(twin, 'POST', '/_twin/users/admin@contoso.com/password', { password: 'New-Admin-Pass-1!' });
    expect(reset.status).toBe(204);
    await expect(pca.acquireTokenSilent({ account: result.account!, scopes: [SMTP_SCOPE], forceRefresh: true })).rejects.toMatchObject({
      errorCode: 'invalid_grant',
    });
    expect(expectEntraError(net.lastError()).error_codes).toEqual([50173]);
  });

  it('loses the refresh token after 90 days of inactivity on the virtual clock (AADSTS700082)', async () => {
    const { pca, net } = msalFor(twin);
    const { result } = await approvedResult(pca, (c) => api(twin, 'POST', `/_twin/device-codes/${c}/approve`, { upn: 'frontdesk@contoso.com' }));
    // 89 days idle is still fine, and the refresh hands out a new token that starts a new 90 days.
    await api(twin, 'POST', '/_twin/clock/advance', { ms: 89 * DAY_MS });
    await pca.acquireTokenSilent({ account: result.account!, scopes: [SMTP_SCOPE], forceRefresh: true });
    const adv = await api(twin, 'POST', '/_twin/clock/advance', { ms: 90 * DAY_MS });
    expect(adv.json.kind).toBe('virtual');
    await expect(pca.acquireTokenSilent({ account: result.account!, scopes: [SMTP_SCOPE], forceRefresh: true })).rejects.toMatchObject({
      errorCode: 'invalid_grant',
    });
    expect(expectEntraError(net.lastError()).error_codes).toEqual([700082]);
  });
});
