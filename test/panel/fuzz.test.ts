/**
 * A bounded fuzz of the JSON API with fast-check: generated bodies, parameters and content types on every write
 * route. Whatever comes in, no 5xx; and a refused request (4xx) leaves NVRAM and the state exactly as they were.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { basic, nvramSnapshot, panelUnderTest, type PanelUnderTest } from './support.ts';

const settingsField = fc.constantFrom(...Object.keys(OAUTH_SETTINGS), 'password', '__proto__', 'constructor', '');
const oddValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.emailAddress(),
  fc.integer({ min: -100000, max: 100000 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('oauth2ExchangeOnline', 'smtpAuth', 'off', 'smtp.office365.com', 587, '587', 'true'),
  fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);
const settingsBody = fc.dictionary(settingsField, oddValue, { maxKeys: 8 });
const mailBody = fc.record(
  {
    to: fc.oneof(fc.emailAddress(), fc.string({ maxLength: 40 }), fc.array(fc.oneof(fc.emailAddress(), fc.string({ maxLength: 20 })), { maxLength: 4 }), fc.integer()),
    subject: fc.oneof(fc.string({ maxLength: 100 }), fc.integer()),
    body: fc.oneof(fc.string({ maxLength: 200 }), fc.constant(null)),
    extra: fc.anything({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
const anyJson = fc.jsonValue({ maxDepth: 3 });

const request = fc.oneof(
  fc.record({ method: fc.constant('PUT'), url: fc.constant('/api/settings/smtp'), body: fc.oneof(settingsBody, anyJson) }),
  fc.record({ method: fc.constant('POST'), url: fc.constant('/api/mail/test'), body: fc.oneof(mailBody, anyJson) }),
  fc.record({ method: fc.constant('POST'), url: fc.constant('/api/device/power-cycle'), body: fc.oneof(fc.record({ offMs: fc.oneof(fc.integer(), fc.string(), fc.double()) }), anyJson) }),
  fc.record({
    method: fc.constantFrom('POST', 'DELETE'),
    url: fc.constantFrom('/api/oauth/start', '/api/oauth/cancel', '/api/oauth/token', '/api/device/retry', '/api/device/dismiss'),
    body: fc.oneof(fc.constant(undefined), anyJson),
  }),
  fc.record({ method: fc.constant('GET'), url: fc.string({ maxLength: 80 }).map((s) => `/api/jobs/${encodeURIComponent(s)}`), body: fc.constant(undefined) }),
  fc.record({ method: fc.constantFrom('PUT', 'POST'), url: fc.constantFrom('/api/settings/smtp', '/api/mail/test'), raw: fc.string({ maxLength: 200 }), contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded') }),
);

describe('API fuzz', () => {
  let p: PanelUnderTest;
  beforeAll(async () => {
    p = await panelUnderTest();
    // Start from a signed-in device, where most events are handled and most writes matter.
    await p.sim.device.saveSettings(OAUTH_SETTINGS);
    await p.sim.device.send({ type: 'START_AUTH' });
    await p.sim.device.idle();
    p.sim.harness.fake.lastSignIn().grant();
    await p.sim.device.idle();
  });
  afterAll(async () => {
    await p.close();
  });

  it('200 generated requests: no 5xx, and refused input changes nothing', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const before = nvramSnapshot(p.sim);
        const stateBefore = p.sim.device.state();
        const headers: Record<string, string> = { authorization: basic() };
        let payload: string | undefined;
        if ('raw' in r) {
          headers['content-type'] = r.contentType;
          payload = r.raw;
        } else if (r.body !== undefined) {
          headers['content-type'] = 'application/json';
          payload = JSON.stringify(r.body);
        }
        const res = await p.app.inject({ method: r.method as 'GET', url: r.url, headers, ...(payload === undefined ? {} : { payload }) });
        await p.sim.device.idle();
        seen.set(res.statusCode, (seen.get(res.statusCode) ?? 0) + 1);
        expect(res.statusCode, `${r.method} ${r.url} ${payload ?? ''} → ${res.body}`).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.json().error).toEqual(expect.any(String));
          expect(nvramSnapshot(p.sim)).toBe(before);
          expect(p.sim.device.state()).toBe(stateBefore);
        }
      }),
      { numRuns: 200, seed: 20260105 },
    );
    // The fuzz reached both sides: accepted and refused requests.
    expect([...seen.keys()].some((c) => c < 300)).toBe(true);
    expect([...seen.keys()].some((c) => c === 400)).toBe(true);
  }, 60_000);
});
