/**
 * Every time the twin states is the twin's clock (issue 11 item 7): on a virtual clock set to January, Entra's error
 * `timestamp` and the `Timestamp:` line of its description, the tokens' `iat`/`nbf`/`exp`, the SMTP greeting's date,
 * and the journal's `at` all say January — what `/_twin/clock` says — not the wall clock's date.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { VirtualClock } from '../../src/time/clock.ts';
import { RawSmtp } from './exchange/fixture.ts';
import { api, oauth, SMTP_SCOPE, startTestTwin, type TestTwin } from './helpers.ts';

const JANUARY = Date.parse('2027-01-19T06:05:04.000Z');
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
let twin: TestTwin;

beforeAll(async () => {
  twin = await startTestTwin({ clock: new VirtualClock(JANUARY) });
});
afterAll(async () => twin?.close());

describe("the twin's times are its clock's", () => {
  it('/_twin/clock says January, and so do the error bodies, the tokens, the greeting and the journal', async () => {
    expect((await api(twin, 'GET', '/_twin/clock')).json).toMatchObject({ now: JANUARY, iso: '2027-01-19T06:05:04.000Z', kind: 'virtual' });

    const code = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: `${SMTP_SCOPE} offline_access openid profile` });
    expect(code.status).toBe(200);
    const pending = await oauth(twin, '/oauth2/v2.0/token', { grant_type: DEVICE_GRANT, client_id: twin.clientId, device_code: code.json.device_code });
    expect(pending.json).toMatchObject({ error: 'authorization_pending', timestamp: '2027-01-19 06:05:04Z' });
    expect(pending.json.error_description).toContain('Timestamp: 2027-01-19 06:05:04Z');

    expect(twin.control.approveDeviceCode(code.json.user_code, twin.testUser.upn).state).toBe('approved');
    const granted = await oauth(twin, '/oauth2/v2.0/token', { grant_type: DEVICE_GRANT, client_id: twin.clientId, device_code: code.json.device_code });
    expect(granted.status).toBe(200);
    for (const jwt of [granted.json.access_token, granted.json.id_token]) {
      const claims = decodeJwt(jwt);
      expect(claims.iat).toBe(JANUARY / 1000);
      expect(claims.exp! * 1000).toBeGreaterThan(JANUARY);
      expect(claims.exp! * 1000).toBeLessThan(JANUARY + 2 * 3600_000);
    }

    const c = await RawSmtp.connect(twin.smtp.port, twin.smtp.host);
    try {
      expect(await c.reply()).toMatch(/ Microsoft ESMTP MAIL Service ready at Tue, 19 Jan 2027 06:05:04 \+0000$/);
    } finally {
      await c.quit();
    }

    const journal = twin.journal.list();
    expect(journal.length).toBeGreaterThan(0);
    expect(new Set(journal.map((e) => e.at))).toEqual(new Set(['2027-01-19T06:05:04.000Z']));
  });
});
