/**
 * Tenant throttling through the twin's control API and the token endpoint, as a client outside the process sees
 * it: off by default, a policy set with PUT /_twin/throttling, 429 + Retry-After over the limit, the traffic counted
 * per virtual second; a bad policy is an RFC 7807 400 and changes nothing; the fixture's `throttling` is checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/clock.ts';
import { api, oauth, startTestTwin, type TestTwin } from './helpers.ts';

let twin: TestTwin;
const clock = new VirtualClock();
beforeAll(async () => {
  twin = await startTestTwin({ clock, patch: (f) => (f.throttling = { tokenRequestsPerSecondPerApp: 50 }) });
});
afterAll(async () => {
  await twin?.close();
});

const tokenRequest = () => oauth(twin, '/oauth2/v2.0/token', { grant_type: 'refresh_token', client_id: twin.clientId, refresh_token: 'not-a-token' });

describe('/_twin/throttling', () => {
  it('starts from the tenant fixture, and a bad policy is refused without changing it', async () => {
    expect((await api(twin, 'GET', '/_twin/throttling')).json).toEqual({
      tokenRequestsPerSecondPerTenant: null,
      tokenRequestsPerSecondPerApp: 50,
      smtpSubmissionsPerMinutePerMailbox: null,
    });
    for (const bad of [{ tokenRequestsPerSecondPerApp: 0 }, { tokensPerSecond: 3 }, { smtpSubmissionsPerMinutePerMailbox: 'many' }]) {
      const res = await api(twin, 'PUT', '/_twin/throttling', bad);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json.status).toBe(400);
    }
    expect((await api(twin, 'GET', '/_twin/throttling')).json.tokenRequestsPerSecondPerApp).toBe(50);
  });

  it('answers 429 with Retry-After over the per-app limit, and counts every request in its virtual second', async () => {
    await api(twin, 'DELETE', '/_twin/throttling/traffic');
    const set = await api(twin, 'PUT', '/_twin/throttling', { tokenRequestsPerSecondPerApp: 2 });
    expect(set.status).toBe(200);
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await tokenRequest());
    // The first two reach Entra's own checks (a bad refresh token: 400 invalid_grant); the third is throttled.
    expect(answers.map((a) => a.status)).toEqual([400, 400, 429]);
    expect(answers[2]!.headers['retry-after']).toBe('1');
    const traffic = (await api(twin, 'GET', '/_twin/throttling/traffic')).json;
    expect(traffic).toEqual([{ at: expect.any(Number), tokenRequests: 3, smtpSubmissions: 0, throttled: 1 }]);
    // The next virtual second lets the app in again.
    await clock.advance(1000);
    expect((await tokenRequest()).status).toBe(400);
    await api(twin, 'PUT', '/_twin/throttling', {});
  });

  it('a device-code poll over the limit is told to keep polling (authorization_pending), and the code still redeems', async () => {
    const dc = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: 'https://outlook.office.com/SMTP.Send offline_access openid profile' });
    expect(dc.status).toBe(200);
    twin.control.approveDeviceCode(dc.json.user_code, twin.testUser.upn);
    await clock.advance(1000);
    await api(twin, 'PUT', '/_twin/throttling', { tokenRequestsPerSecondPerApp: 1 });
    expect((await tokenRequest()).status).toBe(400); // uses the second's one request
    const poll = () => oauth(twin, '/oauth2/v2.0/token', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: twin.clientId, device_code: dc.json.device_code });
    const throttled = await poll();
    expect(throttled.status).toBe(400);
    expect(throttled.json).toMatchObject({ error: 'authorization_pending', error_codes: [70016] });
    expect(throttled.headers['retry-after']).toBeUndefined();
    const traffic = (await api(twin, 'GET', '/_twin/throttling/traffic')).json as { throttled: number }[];
    expect(traffic.at(-1)!.throttled).toBe(1); // counted as throttled all the same
    await clock.advance(1000);
    const redeemed = await poll();
    expect(redeemed.status, redeemed.text).toBe(200);
    expect(redeemed.json.access_token).toEqual(expect.any(String));
    await api(twin, 'PUT', '/_twin/throttling', {});
  });
});
