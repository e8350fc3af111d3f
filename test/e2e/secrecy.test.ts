/**
 * Tokens stay secret end to end: not in the NVRAM image, not in the logs — checked against the real token strings.
 * The same for issue 14's secrets (the basic password, the app's client secret, its app-only token), and for the
 * panel's pages and API answers too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MINUTE, SETTINGS, cachedTokens, signIn, startE2E, submitScan, waitForState, type E2ESim } from './support.ts';
import { buildPanel } from '../../src/panel/index.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** Long enough to be unique, short enough to catch a truncated copy. */
const fingerprints = (tokens: string[]) => tokens.flatMap((t) => [t, t.slice(-40)]);

describe('token secrecy', () => {
  it('after sign-in, refresh and a send, nvram.json and the pino logs contain no token text', async () => {
    sim = await startE2E();
    await signIn(sim);
    const seen = new Set<string>();
    const collect = () => {
      const t = cachedTokens(sim!);
      for (const s of [...t.accessTokens, ...t.refreshTokens, ...t.idTokens]) seen.add(s);
    };
    collect();
    await sim.advance(91 * MINUTE);
    await submitScan(sim);
    await sim.device.idle();
    collect();
    // Two grants: sign-in and refresh, each with access, refresh and id tokens.
    expect(seen.size).toBeGreaterThanOrEqual(5);
    const tokens = fingerprints([...seen]);

    const image = await readFile(path.join(sim.dir, 'nvram.json'), 'latin1');
    expect(image.length).toBeGreaterThan(1000);
    for (const t of tokens) expect(image.includes(t), 'token text in nvram.json').toBe(false);
    // The cache is there, sealed: it opens with the device key and holds the tokens.
    expect(image).toContain('msal-cache');

    const logs = sim.logs.join('');
    expect(logs).toContain('"msg":"transition"');
    expect(logs).toContain('message accepted');
    for (const t of tokens) expect(logs.includes(t), 'token text in the logs').toBe(false);
    expect(logs).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}/); // no JWT of any kind
  });

  it('the basic password, the client secret and the app-only token are in no image, log, page or API answer', async () => {
    sim = await startE2E();
    const PASSWORD = 'Scan-to-Email-2026!';
    const CLIENT_SECRET = 'Xq8~AppOnly.Secret-Contoso-2026';
    const panel = await buildPanel({ sim, adminPassword: 'Secrecy-Test-Pass-1', logger: false });
    const authorization = `Basic ${Buffer.from('admin:Secrecy-Test-Pass-1').toString('base64')}`;
    const put = (payload: object) => panel.inject({ method: 'PUT', url: '/api/settings/smtp', headers: { authorization }, payload });
    try {
      const answers: string[] = [];
      answers.push((await put({ ...SETTINGS, authMethod: 'smtpAuth', authEmailAddress: '', smtpPassword: PASSWORD })).body);
      await submitScan(sim, 'basic');
      await sim.device.idle();
      answers.push(
        (await put({ ...SETTINGS, authMethod: 'oauth2AppOnly', appTenantId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b', appClientId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a', clientSecret: CLIENT_SECRET })).body,
      );
      await waitForState(sim, 'authorized');
      await submitScan(sim, 'app-only');
      await sim.device.idle();
      expect(sim.device.jobs().filter((j) => j.status === 'sent')).toHaveLength(2);
      const appTokens = cachedTokens(sim).accessTokens;
      expect(appTokens).toHaveLength(1);
      const secrets = [PASSWORD, CLIENT_SECRET, ...fingerprints(appTokens)];

      for (const url of ['/api/status', '/api/settings/smtp', '/api/nvram', '/api/eventlog', '/api/jobs', '/api/statechart']) {
        answers.push((await panel.inject({ method: 'GET', url, headers: { authorization } })).body);
      }
      for (const url of ['/status', '/settings/smtp', '/oauth', '/nvram', '/events', '/jobs']) {
        const page = await panel.inject({ method: 'GET', url, headers: { authorization } });
        expect(page.statusCode, url).toBe(200);
        answers.push(page.body);
      }
      const image = await readFile(path.join(sim.dir, 'nvram.json'), 'latin1');
      expect(image).toContain('smtp-password');
      expect(image).toContain('app-client-secret');
      const logs = sim.logs.join('');
      expect(logs).toContain('app-only token granted');
      for (const secret of secrets) {
        expect(image.includes(secret), 'secret in nvram.json').toBe(false);
        expect(logs.includes(secret), 'secret in the logs').toBe(false);
        for (const a of answers) expect(a.includes(secret), 'secret in a page or an API answer').toBe(false);
      }
    } finally {
      await panel.close();
    }
  }, 120_000);
});
