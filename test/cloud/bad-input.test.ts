/**
 * Bad input never crashes the Entra twin: a bounded batch of generated malformed requests (fast-check, fixed seed)
 * gets Microsoft-shaped errors, and a normal sign-in still works afterwards. Also the control API's own refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { request } from 'undici';
import { RealClock, VirtualClock } from '../../src/time/clock.ts';
import { SMTP_SCOPE, api, expectEntraError, oauth, startTestTwin, type TestTwin } from './helpers.ts';

let twin: TestTwin;

beforeAll(async () => {
  twin = await startTestTwin({ clock: new VirtualClock() });
});
afterAll(async () => {
  await twin?.close();
});

const contentTypes = ['application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/xml', ''];
const paths = ['/oauth2/v2.0/token', '/oauth2/v2.0/devicecode'];

describe('malformed requests to the OAuth endpoints', () => {
  it('answers every one of 150 generated bad requests with a Microsoft-shaped 4xx, then still signs in', async () => {
    const fieldNames = fc.constantFrom('grant_type', 'client_id', 'scope', 'device_code', 'refresh_token', 'x', '');
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.constant('A'.repeat(20_000)), fc.constant('%E0%A4%A'), fc.constant(twin.clientId));
    const formBody = fc.array(fc.tuple(fieldNames, value), { maxLength: 6 }).map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&'));
    const body = fc.oneof(formBody, fc.string({ maxLength: 200 }), fc.constant('{"grant_type":'), fc.constant('x'.repeat(70_000)));
    const req = fc.record({ path: fc.constantFrom(...paths), contentType: fc.constantFrom(...contentTypes), body });

    const samples = fc.sample(req, { numRuns: 150, seed: 20260105 });
    const statuses = new Map<number, number>();
    for (const s of samples) {
      const r = await request(`${twin.authority}${s.path}`, {
        method: 'POST',
        dispatcher: twin.agent,
        headers: s.contentType ? { 'content-type': s.contentType } : {},
        body: s.body,
      });
      const text = await r.body.text();
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
      if (r.statusCode === 200) continue; // a generated body can be a valid device code request
      expect(r.statusCode, `${s.path} ${s.contentType} ${s.body.slice(0, 80)}`).toBe(400);
      const err = expectEntraError(JSON.parse(text));
      expect(err.error_codes.length).toBe(1);
    }
    expect(statuses.get(400)).toBeGreaterThan(100);

    // Duplicate parameters, oversized fields and non-form types, each once, deliberately.
    const dup = await oauth(twin, '/oauth2/v2.0/token', `grant_type=device_code&grant_type=refresh_token&client_id=${twin.clientId}`);
    expect(expectEntraError(dup.json).error_codes).toEqual([9002313]);
    const json = await oauth(twin, '/oauth2/v2.0/token', JSON.stringify({ grant_type: 'refresh_token' }), 'application/json');
    expect(expectEntraError(json.json)).toMatchObject({ error: 'invalid_request', error_codes: [900144] });
    const huge = await oauth(twin, '/oauth2/v2.0/token', `client_id=${'a'.repeat(100_000)}`);
    expect(expectEntraError(huge.json).error_codes).toEqual([9002313]);
    const get = await request(`${twin.authority}/oauth2/v2.0/token`, { dispatcher: twin.agent });
    expect(expectEntraError(await get.body.json()).error_codes).toEqual([900561]);
    const unknown = await request(`${twin.entraUrl}/no/such/route`, { dispatcher: twin.agent });
    expect(unknown.statusCode).toBe(404);
    expectEntraError(await unknown.body.json());
    const undecodable = await request(`${twin.entraUrl}/%C0%AF`, { dispatcher: twin.agent });
    expect(undecodable.statusCode).toBe(400);
    expectEntraError(await undecodable.body.json());

    // And a normal sign-in still works.
    const dc = await oauth(twin, '/oauth2/v2.0/devicecode', { client_id: twin.clientId, scope: `${SMTP_SCOPE} offline_access` });
    twin.control.approveDeviceCode(dc.json.user_code, 'scanner@contoso.com');
    const ok = await oauth(twin, '/oauth2/v2.0/token', { grant_type: 'device_code', client_id: twin.clientId, device_code: dc.json.device_code });
    expect(ok.status).toBe(200);
    expect(ok.json.refresh_token).toBeTruthy();
  });
});

describe('control API', () => {
  it('describes itself in OpenAPI and validates bodies', async () => {
    const doc = await api(twin, 'GET', '/_twin/openapi.json');
    expect(doc.json.openapi).toMatch(/^3\./);
    for (const p of ['/_twin/tenant', '/_twin/users/{upn}', '/_twin/device-codes/{userCode}/approve', '/_twin/clock/advance', '/_twin/faults', '/_twin/phone/{upn}'])
      expect(Object.keys(doc.json.paths)).toContain(p);
    expect(Object.keys(doc.json.paths).some((p) => p.includes('oauth2'))).toBe(false);

    expect((await api(twin, 'PATCH', '/_twin/tenant', { smtpAuthEnabled: 'yes' })).status).toBe(400);
    expect((await api(twin, 'PATCH', '/_twin/tenant', { nonsense: true })).status).toBe(400);
    expect((await api(twin, 'POST', '/_twin/device-codes/NOPE/approve', { upn: 'scanner@contoso.com' })).status).toBe(404);
    expect((await api(twin, 'PATCH', '/_twin/users/ghost@contoso.com', { enabled: false })).status).toBe(404);
    expect((await api(twin, 'GET', '/_twin/nothing')).status).toBe(404);
  });

  it('reports the tenant, adds and changes users, and reads (empty) mailboxes', async () => {
    const t = await api(twin, 'GET', '/_twin/tenant');
    expect(t.json).toMatchObject({
      tenantId: twin.tenantId,
      authority: twin.authority,
      apps: expect.arrayContaining([expect.objectContaining({ clientId: twin.clientId, displayName: 'Scan to Email' })]),
      smtp: { host: '127.0.0.1', port: twin.smtp.port },
    });
    const added = await api(twin, 'POST', '/_twin/users', { upn: 'new@contoso.com', displayName: 'New User', password: 'P@ss-1', mfa: 'none' });
    expect(added.status).toBe(201);
    expect(added.json.password).toBeUndefined();
    expect((await api(twin, 'POST', '/_twin/users', { upn: 'new@contoso.com', displayName: 'x', password: 'y' })).status).toBe(409);
    expect((await api(twin, 'POST', '/_twin/users', { upn: 'x@elsewhere.org', displayName: 'x', password: 'y' })).status).toBe(400);
    const patched = await api(twin, 'PATCH', '/_twin/users/new@contoso.com', { smtpAuthEnabled: false, sendAs: ['Frontdesk@contoso.com'], mailboxFull: true });
    expect(patched.json).toMatchObject({ smtpAuthEnabled: false, sendAs: ['frontdesk@contoso.com'], mailboxFull: true });
    expect(twin.control.users().find((u) => u.upn === 'new@contoso.com')?.mailboxFull).toBe(true);
    const users = await api(twin, 'GET', '/_twin/users');
    expect(JSON.stringify(users.json)).not.toContain('Scan-to-Email-2026!');
    expect((await api(twin, 'GET', '/_twin/mailboxes/scanner@contoso.com/messages')).json).toEqual([]);
    expect((await api(twin, 'GET', '/_twin/mailboxes/scanner@contoso.com/messages/none')).status).toBe(404);
  });

  it('moves a virtual clock and refuses to move a real one', async () => {
    const before = (await api(twin, 'GET', '/_twin/clock')).json;
    expect(before.kind).toBe('virtual');
    const after = (await api(twin, 'POST', '/_twin/clock/advance', { ms: 3_600_000 })).json;
    expect(after.now - before.now).toBe(3_600_000);
    expect(after.iso).toBe(new Date(after.now).toISOString());

    const real = await startTestTwin({ clock: new RealClock(), stateDir: twin.dir });
    try {
      expect((await api(real, 'GET', '/_twin/clock')).json.kind).toBe('real');
      expect((await api(real, 'POST', '/_twin/clock/advance', { ms: 1000 })).status).toBe(409);
    } finally {
      await real.close();
    }
  });
});
