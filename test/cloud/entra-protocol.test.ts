/**
 * The Entra twin's OAuth surface with a plain HTTP client: discovery, device codes, the grants, rotating refresh
 * tokens and their deaths, Microsoft's error shapes, and fault injection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { request } from 'undici';
import { VirtualClock } from '../../src/time/clock.ts';
import { SMTP_SCOPE, api, expectEntraError, oauth, startTestTwin, type TestTwin } from './helpers.ts';

const FULL_SCOPE = `${SMTP_SCOPE} openid profile offline_access`;
let twin: TestTwin;
let clock: VirtualClock;

beforeAll(async () => {
  clock = new VirtualClock();
  twin = await startTestTwin({ clock });
});
afterAll(async () => {
  await twin?.close();
});

/** Device code approved for `upn` through the control API, redeemed; returns the token response. */
async function signIn(upn: string, scope = FULL_SCOPE, tokenScope?: string) {
  const dc = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope });
  expect(dc.status).toBe(200);
  twin.control.approveDeviceCode(dc.json.user_code, upn);
  const form: Record<string, string> = {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    client_id: twin.clientId,
    device_code: dc.json.device_code,
  };
  if (tokenScope !== undefined) form.scope = tokenScope;
  const r = await oauth(twin, '/oauth2/v2.0/token', form);
  expect(r.status, r.text).toBe(200);
  return r.json;
}

function refresh(token: string, extra: Record<string, string> = {}) {
  return oauth(twin, '/oauth2/v2.0/token', { grant_type: 'refresh_token', client_id: twin.clientId, refresh_token: token, ...extra });
}

describe('discovery and keys', () => {
  it('serves OpenID configuration whose issuer shares scheme and host:port with the authority, for GUID, domain and common', async () => {
    for (const tenant of [twin.tenantId, 'contoso.com', 'common', 'organizations']) {
      const r = await request(`${twin.entraUrl}/${tenant}/v2.0/.well-known/openid-configuration`, { dispatcher: twin.agent });
      expect(r.statusCode).toBe(200);
      const doc: any = await r.body.json();
      for (const k of ['authorization_endpoint', 'token_endpoint', 'device_authorization_endpoint', 'end_session_endpoint', 'issuer', 'jwks_uri'])
        expect(doc[k], k).toMatch(new RegExp(`^${twin.entraUrl}/`));
      expect(doc.token_endpoint.replace('/token', '/devicecode')).toBe(doc.device_authorization_endpoint);
    }
    const bad = await request(`${twin.entraUrl}/fabrikam.com/v2.0/.well-known/openid-configuration`, { dispatcher: twin.agent });
    expect(bad.statusCode).toBe(400);
    expect(expectEntraError(await bad.body.json()).error_codes).toEqual([90002]);
  });

  it('publishes the signing key under the tenant and /common', async () => {
    for (const tenant of [twin.tenantId, 'common']) {
      const r = await request(`${twin.entraUrl}/${tenant}/discovery/v2.0/keys`, { dispatcher: twin.agent });
      const jwks: any = await r.body.json();
      expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', use: 'sig' });
      expect(jwks.keys[0].d).toBeUndefined();
    }
  });
});

describe('device code grant', () => {
  it('answers a device code request (POST and GET) like Entra', async () => {
    const post = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: FULL_SCOPE });
    expect(post.json).toMatchObject({ expires_in: 900, interval: 1, verification_uri: `${twin.entraUrl}/devicelogin` });
    expect(post.json.verification_uri_complete).toBeUndefined();
    const q = new URLSearchParams({ client_id: twin.clientId, scope: SMTP_SCOPE });
    const get = await request(`${twin.authority}/oauth2/v2.0/devicecode?${q}`, { dispatcher: twin.agent });
    expect(get.statusCode).toBe(200);
    expect(((await get.body.json()) as any).user_code).toMatch(/^[A-Z0-9]{9}$/);
  });

  it('answers authorization_pending in Microsoft\'s exact shape, echoing client-request-id', async () => {
    const dc = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: FULL_SCOPE });
    const cid = '0f0e0d0c-0b0a-4909-8807-060504030201';
    const r = await request(`${twin.authority}/oauth2/v2.0/token?client-request-id=${cid}`, {
      method: 'POST',
      dispatcher: twin.agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'device_code',
        client_id: twin.clientId,
        device_code: dc.json.device_code,
        client_info: '1',
        'x-client-SKU': 'msal.js.node',
        'x-client-VER': '7.2.3',
        'x-client-OS': 'linux',
        'x-client-CPU': 'x64',
        'x-app-name': 'test',
      }).toString(),
    });
    expect(r.statusCode).toBe(400);
    const body = expectEntraError(await r.body.json());
    expect(body).toMatchObject({ error: 'authorization_pending', error_codes: [70016], correlation_id: cid });
    expect(body.error_description).toMatch(/^AADSTS70016: The provided request has not yet been authorized by the user\./);
  });

  it('grants without a scope on the token request (MSAL for Python) and echoes the normalised grant', async () => {
    const body = await signIn('scanner@contoso.com', `openid ${SMTP_SCOPE.toLowerCase().replace('smtp.send', 'SMTP.SEND')} offline_access profile`, '');
    expect(body.scope).toBe(FULL_SCOPE);
    expect(body).toMatchObject({ token_type: 'Bearer' });
    expect(body.expires_in).toBe(body.ext_expires_in);
    expect(JSON.parse(Buffer.from(body.client_info, 'base64url').toString())).toEqual({
      uid: '0b6f3e0e-1a2b-4c3d-8e4f-5a6b7c8d9e01',
      utid: twin.tenantId,
    });
    const id = decodeJwt(body.id_token);
    expect(id).toMatchObject({ aud: twin.clientId, tid: twin.tenantId, oid: '0b6f3e0e-1a2b-4c3d-8e4f-5a6b7c8d9e01', preferred_username: 'scanner@contoso.com' });
    expect(id.exp).toBeGreaterThan(Math.floor(clock.now() / 1000));
  });

  it('gives no refresh token without offline_access and no id_token without openid', async () => {
    const body = await signIn('scanner@contoso.com', SMTP_SCOPE);
    expect(body.refresh_token).toBeUndefined();
    expect(body.id_token).toBeUndefined();
    expect(body.scope).toBe(SMTP_SCOPE);
  });

  it('refuses a bad device code, a wrong grant type, missing parameters and foreign scopes with the right codes', async () => {
    const cases: [Record<string, string>, string, number][] = [
      [{ grant_type: 'device_code', client_id: twin.clientId, device_code: 'nope' }, 'bad_verification_code', 70018],
      [{ grant_type: 'password', client_id: twin.clientId }, 'unsupported_grant_type', 70003],
      [{ client_id: twin.clientId }, 'invalid_request', 900144],
      [{ grant_type: 'device_code', client_id: twin.clientId }, 'invalid_request', 900144],
    ];
    for (const [form, error, code] of cases) {
      const r = await oauth(twin, '/oauth2/v2.0/token', form);
      expect(r.status).toBe(400);
      expect(expectEntraError(r.json)).toMatchObject({ error, error_codes: [code] });
    }
    const scope = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: 'https://graph.microsoft.com/Mail.Send' });
    expect(expectEntraError(scope.json)).toMatchObject({ error: 'invalid_scope', error_codes: [70011] });
    const noScope = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId });
    expect(expectEntraError(noScope.json).error_description).toContain("parameter: 'scope'");
  });
});

describe('refresh token grant', () => {
  it('rotates: each refresh returns a new refresh token and the old one stays valid', async () => {
    const first = await signIn('scanner@contoso.com');
    const second = await refresh(first.refresh_token);
    expect(second.status).toBe(200);
    expect(second.json.refresh_token).not.toBe(first.refresh_token);
    expect(second.json.scope).toBe(FULL_SCOPE);
    const third = await refresh(first.refresh_token, { scope: `${SMTP_SCOPE} openid profile offline_access` });
    expect(third.status).toBe(200);
    expect(decodeJwt(third.json.access_token).uti).not.toBe(decodeJwt(second.json.access_token).uti);
    const listed = await api(twin, 'GET', '/_twin/tokens');
    expect(listed.json.length).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(listed.json)).not.toContain(first.refresh_token);
  });

  it('dies on session revocation (50173), needs MFA after requireMfa (50076), and refuses a disabled user (50057)', async () => {
    const a = await signIn('admin@contoso.com');
    expect((await api(twin, 'POST', '/_twin/users/admin@contoso.com/revoke')).status).toBe(204);
    expect(expectEntraError((await refresh(a.refresh_token)).json)).toMatchObject({ error: 'invalid_grant', error_codes: [50173] });

    const b = await signIn('admin@contoso.com');
    await api(twin, 'PATCH', '/_twin/users/admin@contoso.com', { requireMfa: true });
    expect(expectEntraError((await refresh(b.refresh_token)).json)).toMatchObject({
      error: 'interaction_required',
      suberror: 'basic_action',
      error_codes: [50076],
    });
    // A fresh sign-in after the demand is fine.
    const c = await signIn('admin@contoso.com');
    expect((await refresh(c.refresh_token)).status).toBe(200);

    await api(twin, 'PATCH', '/_twin/users/admin@contoso.com', { enabled: false });
    expect(expectEntraError((await refresh(c.refresh_token)).json).error_codes).toEqual([50057]);
    await api(twin, 'PATCH', '/_twin/users/admin@contoso.com', { enabled: true });
  });

  it('answers consent_required (65001) once tenant consent is withdrawn', async () => {
    const a = await signIn('scanner@contoso.com');
    await api(twin, 'PATCH', '/_twin/tenant', { consentGranted: false });
    try {
      expect(expectEntraError((await refresh(a.refresh_token)).json)).toMatchObject({ suberror: 'consent_required', error_codes: [65001] });
    } finally {
      await api(twin, 'PATCH', '/_twin/tenant', { consentGranted: true });
    }
  });

  it('refuses garbage and tokens of another client', async () => {
    expect((await refresh('garbage')).json.error).toBe('invalid_grant');
    const a = await signIn('scanner@contoso.com');
    const other = await oauth(twin, '/oauth2/v2.0/token', {
      grant_type: 'refresh_token',
      client_id: '8a2e4c6b-1d3f-4a5b-9c7d-0e1f2a3b4c5d',
      refresh_token: a.refresh_token,
    });
    expect(other.json.error).toBe('invalid_grant');
  });

  it('applies security defaults to users without MFA (530035)', async () => {
    await api(twin, 'PATCH', '/_twin/tenant', { securityDefaults: true });
    try {
      const dc = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: FULL_SCOPE });
      expect(twin.control.approveDeviceCode(dc.json.user_code, 'frontdesk@contoso.com').error?.aadsts).toBe(530035);
      const r = await oauth(twin, '/oauth2/v2.0/token', { grant_type: 'device_code', client_id: twin.clientId, device_code: dc.json.device_code });
      expect(r.json.error_codes).toEqual([530035]);
    } finally {
      await api(twin, 'PATCH', '/_twin/tenant', { securityDefaults: false });
    }
  });
});

describe('fault injection on devicecode and token', () => {
  it('answers scripted errors, bare statuses, throttling, delays and drops, then behaves normally', async () => {
    const add = (target: string, action: object, count?: number) => api(twin, 'POST', '/_twin/faults', { target, action, ...(count ? { count } : {}) });
    expect((await add('token', { kind: 'error', error: 'temporarily_unavailable', aadsts: 90033, status: 503 })).status).toBe(201);
    let r = await refresh('x');
    expect(r.status).toBe(503);
    expect(expectEntraError(r.json)).toMatchObject({ error: 'temporarily_unavailable', error_codes: [90033] });

    await add('devicecode', { kind: 'throttle', retryAfterSeconds: 7 });
    r = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: SMTP_SCOPE });
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('7');

    await add('devicecode', { kind: 'http', status: 502 });
    expect((await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: SMTP_SCOPE })).status).toBe(502);

    await add('token', { kind: 'drop' });
    await expect(refresh('x')).rejects.toThrow();

    await add('token', { kind: 'delay', ms: 200 });
    const t0 = Date.now();
    r = await refresh('x');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(r.json.error).toBe('invalid_grant');

    await add('token', { kind: 'http', status: 500 }, 3);
    expect((await api(twin, 'GET', '/_twin/faults')).json[0]).toMatchObject({ target: 'token', count: 3 });
    expect((await api(twin, 'DELETE', '/_twin/faults')).status).toBe(204);
    expect((await api(twin, 'GET', '/_twin/faults')).json).toEqual([]);
    expect((await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: SMTP_SCOPE })).status).toBe(200);
    expect((await api(twin, 'POST', '/_twin/faults', { target: 'token', action: { kind: 'http' } })).status).toBe(400);
  });
});

describe('expired_token variant and seeded lifetimes', () => {
  it('answers the documented expired_token (70019) when the tenant asks for it, and replays lifetimes from a seed', async () => {
    const lifetimes: number[][] = [];
    for (let round = 0; round < 2; round++) {
      const c = new VirtualClock();
      const t = await startTestTwin({
        clock: c,
        seed: 7,
        stateDir: twin.dir,
        patch: (f) => {
          f.deviceCode.expiredError = 'expired_token';
          f.deviceCode.expiresInSeconds = 60;
        },
      });
      try {
        const dc = await oauth(t, '/oauth2/v2.0/devicecode', { client_id: t.clientId, scope: FULL_SCOPE });
        expect(dc.json.expires_in).toBe(60);
        await c.advance(60_000);
        const r = await oauth(t, '/oauth2/v2.0/token', { grant_type: 'device_code', client_id: t.clientId, device_code: dc.json.device_code });
        expect(expectEntraError(r.json)).toMatchObject({ error: 'expired_token', error_codes: [70019] });
        const got: number[] = [];
        for (let i = 0; i < 3; i++) {
          const d = await oauth(t, '/oauth2/v2.0/devicecode', { client_id: t.clientId, scope: SMTP_SCOPE });
          t.control.approveDeviceCode(d.json.user_code, 'scanner@contoso.com');
          got.push((await oauth(t, '/oauth2/v2.0/token', { grant_type: 'device_code', client_id: t.clientId, device_code: d.json.device_code })).json.expires_in);
        }
        lifetimes.push(got);
      } finally {
        await t.close();
      }
    }
    expect(lifetimes[0]).toEqual(lifetimes[1]);
    for (const l of lifetimes[0]!) expect(l).toBeGreaterThanOrEqual(3600), expect(l).toBeLessThanOrEqual(5400);
  });
});
