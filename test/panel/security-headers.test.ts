/**
 * helmet's security headers are computed once per panel (src/panel/plugins/security.ts) and must still reach every
 * kind of response: API success and refusals, validation errors, 404s, pages, static assets.
 */
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { securityHeaders } from '../../src/panel/plugins/security.ts';
import { basic, login, panelUnderTest, type PanelUnderTest } from './support.ts';

let p: PanelUnderTest;
beforeAll(async () => {
  p = await panelUnderTest();
});
afterAll(async () => {
  await p.close();
});

const EXPECTED = {
  'x-frame-options': 'SAMEORIGIN',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'x-permitted-cross-domain-policies': 'none',
};

describe('security headers', () => {
  it('are helmet\'s for our policy: strict CSP, no inline anything, no HSTS on plain HTTP', () => {
    const headers = securityHeaders();
    expect(headers).toMatchObject(EXPECTED);
    const csp = headers['content-security-policy']!;
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "form-action 'self'"]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('upgrade-insecure-requests');
    expect(headers['strict-transport-security']).toBeUndefined();
    expect(Object.isFrozen(headers)).toBe(true);
  });

  it('reach every kind of response, errors and refusals included', async () => {
    const { cookie } = await login(p.app);
    const auth = { authorization: basic() };
    const requests: Record<string, InjectOptions> = {
      'API 200': { method: 'GET', url: '/api/status', headers: auth },
      'API 401': { method: 'GET', url: '/api/status' },
      'API 401 wrong password': { method: 'GET', url: '/api/status', headers: { authorization: basic('wrong') } },
      'API 404': { method: 'GET', url: '/api/nope', headers: auth },
      'API 400': { method: 'PUT', url: '/api/settings/smtp', headers: auth, payload: { smtpPort: 'x' } },
      'page 404': { method: 'GET', url: '/nope' },
      'login page': { method: 'GET', url: '/login' },
      'page with session': { method: 'GET', url: '/status', headers: { cookie } },
      'static asset': { method: 'GET', url: '/assets/panel.css' },
    };
    const statuses: Record<string, number> = {};
    for (const [name, request] of Object.entries(requests)) {
      const res = await p.app.inject(request);
      statuses[name] = res.statusCode;
      expect(res.headers, name).toMatchObject({ ...EXPECTED, 'content-security-policy': securityHeaders()['content-security-policy'] });
    }
    expect(statuses).toEqual({
      'API 200': 200, 'API 401': 401, 'API 401 wrong password': 401, 'API 404': 404, 'API 400': 400, 'page 404': 404,
      'login page': 200, 'page with session': 200, 'static asset': 200,
    });
  });
});
