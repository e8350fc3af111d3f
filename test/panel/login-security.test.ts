/**
 * What an attacker on the printer's network tried (issue 13): parallel guessing bursts, locking the administrator
 * out, DNS rebinding through a foreign Host, a session cookie copied before logout. Threat model: docs/panel.md.
 * Source addresses are set with inject's remoteAddress (documentation ranges; no traffic leaves the process).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { GLOBAL_MAX_FAILURES, LOCK_MS, MAX_FAILURES } from '../../src/panel/lockout.ts';
import { SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from '../../src/panel/sessions.ts';
import { ADMIN_PASSWORD, basic, cookieFrom, csrfFrom, login, nvramSnapshot, panelUnderTest, type PanelUnderTest } from './support.ts';

let p: PanelUnderTest;
beforeEach(async () => {
  p = await panelUnderTest();
});
afterEach(async () => {
  await p.close();
});

const ATTACKER = '192.0.2.66';
const ADMIN_DESK = '198.51.100.7';
const verifications = () => p.app.panel.passwordChecks();

const status = (remoteAddress: string, authorization: string) =>
  p.app.inject({ method: 'GET', url: '/api/status', remoteAddress, headers: { authorization } });

describe('login lockout counted before the check', () => {
  it('a burst of 100 parallel wrong passwords verifies at most the limit, the right one inside it included', async () => {
    const before = verifications();
    const burst = Array.from({ length: 100 }, (_, i) => status(ATTACKER, basic(i === 50 ? ADMIN_PASSWORD : `guess-${i}`)));
    const codes = (await Promise.all(burst)).map((r) => r.statusCode);
    expect(verifications() - before).toBeLessThanOrEqual(MAX_FAILURES);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(100 - MAX_FAILURES);
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(MAX_FAILURES);
    // The attacker's address is now locked, even with the right password.
    expect((await status(ATTACKER, basic())).statusCode).toBe(429);
  });

  it('the administrator still gets in after the burst: from another address, and from the console (loopback)', async () => {
    await Promise.all(Array.from({ length: 100 }, (_, i) => status(ATTACKER, basic(`guess-${i}`))));
    expect((await status(ATTACKER, basic())).statusCode).toBe(429);
    expect((await status(ADMIN_DESK, basic())).statusCode).toBe(200);
    expect((await status('127.0.0.1', basic())).statusCode).toBe(200);
  });

  it('a guesser hopping addresses hits the global ceiling, which spares loopback; the lock expires', async () => {
    const hops = Math.ceil(GLOBAL_MAX_FAILURES / MAX_FAILURES);
    for (let h = 0; h < hops; h++) {
      for (let i = 0; i < MAX_FAILURES; i++) await status(`203.0.113.${h + 1}`, basic(`guess-${h}-${i}`));
    }
    expect((await status(ADMIN_DESK, basic())).statusCode).toBe(429);
    expect((await status('127.0.0.1', basic())).statusCode).toBe(200);
    await p.sim.harness.clock.advance(LOCK_MS);
    expect((await status(ADMIN_DESK, basic())).statusCode).toBe(200);
  });

  it('an unknown user name costs a password check too (no fast path that tells names from passwords)', async () => {
    const before = verifications();
    expect((await status(ADMIN_DESK, basic(ADMIN_PASSWORD, 'root'))).statusCode).toBe(401);
    expect(verifications() - before).toBe(1);
    // …and counts towards that address's lock like a wrong password.
    for (let i = 1; i < MAX_FAILURES; i++) await status(ADMIN_DESK, basic(ADMIN_PASSWORD, `user${i}`));
    expect((await status(ADMIN_DESK, basic())).statusCode).toBe(429);
  });
});

describe('server-side sessions', () => {
  it('a copy of the cookie taken before logout is refused after it, on reads and on CSRF-protected writes', async () => {
    const { cookie, csrf } = await login(p.app);
    expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie } })).statusCode).toBe(200);
    const logout = await p.app.inject({ method: 'POST', url: '/logout', headers: { cookie }, payload: { _csrf: csrf } });
    expect(logout.statusCode).toBe(302);
    const before = nvramSnapshot(p.sim);
    expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie } })).statusCode).toBe(401);
    const write = await p.app.inject({
      method: 'PUT', url: '/api/settings/smtp', headers: { cookie, 'x-csrf-token': csrf }, payload: OAUTH_SETTINGS,
    });
    expect(write.statusCode).toBe(401);
    expect(nvramSnapshot(p.sim)).toBe(before);
  });

  it('ends idle sessions and, however busy, sessions past their absolute lifetime', async () => {
    const idle = await login(p.app);
    await p.sim.harness.clock.advance(SESSION_IDLE_MS);
    expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie: idle.cookie } })).statusCode).toBe(401);

    const busy = await login(p.app);
    for (let t = 0; t < SESSION_ABSOLUTE_MS; t += SESSION_IDLE_MS / 2) {
      expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie: busy.cookie } })).statusCode).toBe(200);
      await p.sim.harness.clock.advance(SESSION_IDLE_MS / 2);
    }
    expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie: busy.cookie } })).statusCode).toBe(401);
  });

  it('a password change signs out everywhere and the old password stops working', async () => {
    const a = await login(p.app);
    const b = await login(p.app);
    const wrong = await p.app.inject({
      method: 'POST', url: '/api/admin/password', headers: { authorization: basic() }, payload: { currentPassword: 'nope', newPassword: 'New-Pass-2027' },
    });
    expect(wrong.statusCode).toBe(400);
    const change = await p.app.inject({
      method: 'POST', url: '/api/admin/password', headers: { cookie: a.cookie, 'x-csrf-token': a.csrf },
      payload: { currentPassword: ADMIN_PASSWORD, newPassword: 'New-Pass-2027' },
    });
    expect(change.statusCode).toBe(200);
    for (const s of [a, b]) expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { cookie: s.cookie } })).statusCode).toBe(401);
    expect((await status('127.0.0.1', basic())).statusCode).toBe(401);
    expect((await status('127.0.0.1', basic('New-Pass-2027'))).statusCode).toBe(200);
    expect(JSON.stringify(p.sim.device.nvram.data)).not.toContain('New-Pass-2027');
  });

  it('a password changed through another face (the printer itself) ends the remembered Basic header too', async () => {
    expect((await status('127.0.0.1', basic())).statusCode).toBe(200); // verified, then remembered
    expect((await status('127.0.0.1', basic())).statusCode).toBe(200);
    const checks = verifications();
    await p.sim.printer.admin.change('Other-Face-2027');
    expect((await status('127.0.0.1', basic())).statusCode).toBe(401);
    expect(verifications()).toBe(checks + 1); // checked again, not answered from memory
    expect((await status('127.0.0.1', basic('Other-Face-2027'))).statusCode).toBe(200);
  });
});

describe('Host allowlist and the error shape of undecodable URLs', () => {
  it('refuses a foreign Host (DNS rebinding) before any check, and accepts the names it is served on', async () => {
    for (const host of ['evil.example', 'evil.example:8080', '127.0.0.1.evil.example']) {
      const res = await p.app.inject({ method: 'GET', url: '/api/status', headers: { host, authorization: basic() } });
      expect(res.statusCode, host).toBe(421);
      expect(res.json().error).toContain('not served');
    }
    const before = verifications();
    await p.app.inject({ method: 'GET', url: '/api/status', headers: { host: 'evil.example', authorization: basic('guess') } });
    expect(verifications()).toBe(before);
    for (const host of ['localhost:8080', '127.0.0.1:8080', '[::1]:8080']) {
      expect((await p.app.inject({ method: 'GET', url: '/api/status', headers: { host, authorization: basic() } })).statusCode, host).toBe(200);
    }
  });

  it('answers /api/%C0%AF with the project error shape', async () => {
    const res = await p.app.inject({ method: 'GET', url: '/api/%C0%AF', headers: { authorization: basic() } });
    expect(res.statusCode).toBe(400);
    expect(Object.keys(res.json())).toEqual(['error']);
    expect(res.json().error).toMatch(/^bad request/);
  });

  it('the login form page carries a CSRF token the burst tests rely on', async () => {
    const page = await p.app.inject({ method: 'GET', url: '/login' });
    expect(csrfFrom(page.body)).toBeTruthy();
    expect(cookieFrom(page)).toContain('wim_session=');
  });
});
