/**
 * Issue 14 end to end (msal-node, nodemailer and the twin over loopback, one virtual clock): the "SMTP
 * Authentication" method across Microsoft's calendar and the switch to OAuth with the held job going out; app-only
 * with the fixture's applications — the registered one sends, the one registered in Exchange with the wrong object
 * id gets 535 5.7.3, an expired secret is reauthRequired with AADSTS7000222.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { stateText, BASIC_AUTH_TURNED_OFF, NEW_CLIENT_SECRET_NEEDED } from '../../src/panel/wording.ts';
import { RECIPIENT, SETTINGS, jobOf, signIn, startE2E, submitScan, waitForState, type E2ESim } from './support.ts';

const SCANNER_PASSWORD = 'Scan-to-Email-2026!';
const TENANT = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
const SCAN_SERVER_APP = '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a';
const SCAN_SERVER_SECRET = 'Xq8~AppOnly.Secret-Contoso-2026';
const SCAN_SERVER_EXPIRED_SECRET = 'Old~Expired.Secret-Contoso-2025';
const WRONG_OBJECT_ID_APP = '6e8f0a2b-3c4d-4e5f-9a7b-8c9d0e1f2a3b';
const WRONG_OBJECT_ID_SECRET = 'Pr7~WrongObjectId.Secret-2026';
const BASIC = { ...SETTINGS, authMethod: 'smtpAuth', authEmailAddress: '' } as const;
const appOnly = (clientId: string, clientSecret: string) => ({ ...SETTINGS, authMethod: 'oauth2AppOnly', appTenantId: TENANT, appClientId: clientId, clientSecret });

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const goTo = async (s: E2ESim, iso: string) => s.advance(Date.parse(iso) - s.clock.now());

describe('basic SMTP AUTH on Microsoft calendar', () => {
  it('sends on 30 Dec 2026, is refused on 1 Jan 2027 (5.7.139, permanent, panel says switch), then OAuth sends the held job', async () => {
    sim = await startE2E();
    await goTo(sim, '2026-12-30T09:00:00Z');
    await sim.device.saveSettings({ ...BASIC, smtpPassword: SCANNER_PASSWORD });
    expect(sim.device.status()).toMatchObject({ state: 'authorized', tokenExpiresAt: null });
    const first = await submitScan(sim, 'before the switch-off');
    await sim.device.idle();
    expect(jobOf(sim, first.id).status).toBe('sent');
    expect(sim.twin!.control.messages(RECIPIENT).map((m) => m.subject)).toContain('before the switch-off');

    await goTo(sim, '2027-01-01T09:00:00Z');
    const held = await submitScan(sim, 'after the switch-off');
    await sim.device.idle();
    const status = sim.device.status();
    expect(status).toMatchObject({ state: 'sendFailure', retryAt: null, lastError: { reason: 'basic-auth-disabled', code: { kind: 'smtp', value: '5.7.139' } } });
    expect(status.lastError!.reply).toMatch(/^535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled\./);
    expect(stateText(status, sim.clock.now())).toContain(BASIC_AUTH_TURNED_OFF);
    expect(jobOf(sim, held.id).status).toBe('held');

    await signIn(sim, SETTINGS);
    await sim.device.idle();
    expect(jobOf(sim, held.id).status).toBe('sent');
    expect(sim.twin!.control.messages(RECIPIENT).map((m) => m.subject)).toContain('after the switch-off');
    // The password never reached the logs or the image.
    expect(sim.logs.join('\n')).not.toContain(SCANNER_PASSWORD);
    expect(await readFile(sim.device.nvram.stats().file, 'latin1')).not.toContain(SCANNER_PASSWORD);
  }, 120_000);
});

describe('app-only (client credentials) against the twin', () => {
  it('the registered app gets a token with its secret and sends for the mailbox it has FullAccess on', async () => {
    sim = await startE2E();
    await sim.device.saveSettings(appOnly(SCAN_SERVER_APP, SCAN_SERVER_SECRET));
    await waitForState(sim, 'authorized');
    const grantedFor = sim.device.status().tokenExpiresAt! - sim.clock.now();
    expect(grantedFor).toBe(3_599_000);
    const job = await submitScan(sim, 'app-only scan');
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
    expect(sim.twin!.control.messages(RECIPIENT).map((m) => m.subject)).toContain('app-only scan');
    // At the deadline the next job takes a new client-credentials token (there is no refresh token).
    await sim.advance(grantedFor);
    expect(sim.device.state()).toBe('tokenExpired');
    const later = await submitScan(sim, 'app-only scan, renewed');
    await sim.device.idle();
    expect(jobOf(sim, later.id).status).toBe('sent');
    expect(sim.device.state()).toBe('authorized');
    expect(sim.logs.join('\n')).not.toContain(SCAN_SERVER_SECRET);
    expect(await readFile(sim.device.nvram.stats().file, 'latin1')).not.toContain(SCAN_SERVER_SECRET);
  }, 120_000);

  it('the app registered in Exchange with the wrong object id: token granted, Exchange answers 535 5.7.3', async () => {
    sim = await startE2E();
    await sim.device.saveSettings(appOnly(WRONG_OBJECT_ID_APP, WRONG_OBJECT_ID_SECRET));
    await waitForState(sim, 'authorized');
    await submitScan(sim, 'wrong object id');
    await waitForState(sim, 'sendFailure');
    expect(sim.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'auth-rejected', code: { kind: 'smtp', value: '5.7.3' } } });
    expect(sim.device.status().lastError!.reply).toMatch(/^535 5\.7\.3 Authentication unsuccessful/);
  }, 120_000);

  it('an expired client secret: reauthRequired with AADSTS7000222, the panel asks for a new secret; a new one sends', async () => {
    sim = await startE2E();
    await goTo(sim, '2026-07-01T09:00:00Z'); // the fixture's old secret expired on 30 June 2026
    await sim.device.saveSettings(appOnly(SCAN_SERVER_APP, SCAN_SERVER_EXPIRED_SECRET));
    await waitForState(sim, 'reauthRequired');
    const status = sim.device.status();
    expect(status.lastError).toMatchObject({ reason: 'client-secret-expired', code: { kind: 'aadsts', value: '7000222' } });
    expect(stateText(status, sim.clock.now())).toContain(NEW_CLIENT_SECRET_NEEDED);
    const job = await submitScan(sim, 'waits for a new secret');
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('held');
    await sim.device.saveSettings({ clientSecret: SCAN_SERVER_SECRET });
    await waitForState(sim, 'authorized');
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
    expect(sim.device.settings()).not.toHaveProperty('clientSecret');
  }, 120_000);
});

