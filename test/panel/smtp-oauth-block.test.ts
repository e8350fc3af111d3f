/**
 * The seed puts the "OAuth 2.0 Authentication" block (status, "Start Authentication", delete token) in the SMTP
 * settings under the method (step 4). Its page stays; both show the same block, and starting from SMTP works.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { basic, cookieFrom, csrfFrom, login, panelUnderTest, type PanelUnderTest } from './support.ts';

let p: PanelUnderTest;
beforeEach(async () => {
  p = await panelUnderTest();
});
afterEach(async () => {
  await p.close();
});

const blockOf = (html: string) => html.match(/<section class="card oauth-block"[\s\S]*?<\/section>/)?.[0] ?? null;

it('SMTP shows the block under the method for OAuth, with a Start Authentication that works from there', async () => {
  const { cookie } = await login(p.app);
  const off = await p.app.inject({ method: 'GET', url: '/settings/smtp', headers: { cookie } });
  expect(blockOf(off.body)).toBeNull(); // method Off: nothing to authenticate

  expect((await p.app.inject({ method: 'PUT', url: '/api/settings/smtp', headers: { authorization: basic() }, payload: OAUTH_SETTINGS })).statusCode).toBe(200);
  const page = await p.app.inject({ method: 'GET', url: '/settings/smtp', headers: { cookie } });
  const block = blockOf(page.body);
  expect(block).not.toBeNull();
  expect(block).toContain('OAuth 2.0 Authentication');
  expect(block).toContain('Start Authentication');
  // In SMTP the block never reloads the page (the administrator may be typing).
  expect(block).not.toContain('data-reload-on-transition');
  // Under the method: after the Authentication card, inside the settings form; its button names a form outside it.
  const body = page.body;
  const settingsStart = body.indexOf('action="/settings/smtp"');
  const settingsEnd = body.indexOf('</form>', settingsStart);
  expect(settingsStart).toBeGreaterThan(-1);
  expect(body.indexOf('id="authMethod"')).toBeLessThan(body.indexOf('oauth-block'));
  expect(body.indexOf('oauth-block')).toBeLessThan(settingsEnd);
  expect(block).toContain('form="oauth-start-form"');
  expect(body.indexOf('id="oauth-start-form"')).toBeGreaterThan(settingsEnd);
  const form = body.match(/<form method="post" action="\/oauth\/start" id="oauth-start-form"[^>]*><input type="hidden" name="_csrf" value="([^"]+)">/);
  expect(form).not.toBeNull();

  const start = await p.app.inject({ method: 'POST', url: '/oauth/start', headers: { cookie: cookieFrom(page) || cookie }, payload: { _csrf: form![1]! } });
  expect(start.statusCode).toBe(302);
  await p.sim.device.idle();
  expect(['requestingCode', 'codePending']).toContain(p.sim.device.state());

  const again = await p.app.inject({ method: 'GET', url: '/settings/smtp', headers: { cookie } });
  expect(blockOf(again.body)).toContain('Show the code');
  expect(csrfFrom(again.body)).toBeTruthy();
});

it('the OAuth 2.0 Authentication page keeps the block, reloading on transitions', async () => {
  const { cookie } = await login(p.app);
  await p.app.inject({ method: 'PUT', url: '/api/settings/smtp', headers: { authorization: basic() }, payload: OAUTH_SETTINGS });
  const page = await p.app.inject({ method: 'GET', url: '/oauth', headers: { cookie } });
  const block = blockOf(page.body);
  expect(block).toContain('data-reload-on-transition="1"');
  expect(block).toContain('id="start-authentication"');
});
