/**
 * The device side of issue 14 on fake ports: "SMTP Authentication" (basic) sends with the sealed password and no
 * token; its refusals land in sendFailure without a forced refresh; switching to OAuth holds the job until the
 * sign-in. App-only asks for a client-credentials token (requestingToken), renews it at the deadline with a new
 * request, and a wrong or expired secret is reauthRequired until a new secret is saved.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { protocolCode, RefreshFailure, SendFailure } from '../../src/device/failures.ts';
import { DeviceInputError } from '../../src/device/validation.ts';
import { FIXTURE_SMTP_PASSWORD } from '../../fixtures/nvram/values.ts';
import { APP_CLIENT_SECRET, SMTP_PASSWORD_SECRET } from '../../src/device/credentials.ts';

const PASSWORD = 'Basic-Passw0rd-for-scanner';
const SECRET = 'Xq8~AppOnly.Secret-Contoso-2026';
const BASIC = { ...OAUTH_SETTINGS, authMethod: 'smtpAuth', authEmailAddress: '' } as const;
const APP_ONLY = {
  ...OAUTH_SETTINGS,
  authMethod: 'oauth2AppOnly',
  appTenantId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b',
  appClientId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a',
} as const;
const JOB = { to: ['megan@contoso.com'], subject: 'scan', body: 'page 1' };

let h: DeviceHarness;
afterEach(async () => h?.close());

describe('basic SMTP AUTH ("SMTP Authentication")', () => {
  it('without a password stays unconfigured; with one it is authorized at once, without a token deadline, and sends with it', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(BASIC);
    expect(h.device.state()).toBe('unconfigured');
    await h.device.saveSettings({ smtpPassword: PASSWORD });
    expect(h.device.status()).toMatchObject({ state: 'authorized', account: 'scanner@contoso.com', tokenExpiresAt: null });
    expect(h.device.deadlines()).toEqual({});
    await h.device.submitJob(JOB);
    await h.device.idle();
    expect(h.fake.sent).toHaveLength(1);
    expect(h.fake.sent[0]).toMatchObject({ password: PASSWORD, accessToken: '' });
    expect(h.fake.refreshCalls).toBe(0);
    expect(h.device.settings()).not.toHaveProperty('smtpPassword');
    expect(await readFile(h.file, 'latin1')).not.toContain(PASSWORD);
    expect(h.nvram.secrets.get(SMTP_PASSWORD_SECRET)).toBe(PASSWORD);
  });

  it('5.7.139 "basic authentication is disabled" is permanent: sendFailure, job held, no forced refresh; OAuth sign-in sends it', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings({ ...BASIC, smtpPassword: PASSWORD });
    h.fake.sendResults.push(
      new SendFailure({ category: 'basic-auth-disabled', transient: false, reply: '535 5.7.139 Authentication unsuccessful, basic authentication is disabled.', code: protocolCode('smtp', '5.7.139') }),
    );
    const job = await h.device.submitJob(JOB);
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'basic-auth-disabled', code: { kind: 'smtp', value: '5.7.139' } } });
    expect(h.device.job(job.id)?.status).toBe('held');
    expect(h.fake.refreshCalls).toBe(0);
    // The admin switches to OAuth: the job stays held through the sign-in, then goes out with the token.
    await h.device.saveSettings(OAUTH_SETTINGS);
    expect(h.device.state()).toBe('ready');
    expect(h.device.job(job.id)?.status).toBe('held');
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().grant();
    await h.device.idle();
    expect(h.device.job(job.id)?.status).toBe('sent');
    expect(h.fake.sent.at(-1)).toMatchObject({ accessToken: 'at-secret-1' });
    expect(h.fake.sent.at(-1)).not.toHaveProperty('password');
  });

  it('a wrong password (535 5.7.3) is final at once for basic (no refresh to try)', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings({ ...BASIC, smtpPassword: PASSWORD });
    h.fake.sendResults.push(new SendFailure({ category: 'auth-rejected', transient: false, reply: '535 5.7.3 Authentication unsuccessful', code: protocolCode('smtp', '5.7.3') }));
    await h.device.submitJob(JOB);
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'auth-rejected' } });
    expect(h.fake.refreshCalls).toBe(0);
  });

  it("firmware 1's migrated password: the updated printer boots authorized and sends with it", async () => {
    h = await DeviceHarness.create(undefined, { boot: false });
    await copyFile(path.join('fixtures/nvram/firmware-1.img'), h.file);
    await h.boot();
    expect(h.device.status()).toMatchObject({ state: 'authorized', account: 'scanner@contoso.example' });
    await h.device.submitJob(JOB);
    await h.device.idle();
    expect(h.fake.sent[0]).toMatchObject({ password: FIXTURE_SMTP_PASSWORD });
    expect(await readFile(h.file, 'latin1')).not.toContain(FIXTURE_SMTP_PASSWORD);
  });

  it('bad secret input is refused with a field message and changes nothing', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings({ ...BASIC, smtpPassword: PASSWORD });
    const before = JSON.stringify(h.nvram.data);
    const err = await h.device.saveSettings({ authMethod: 'oauth2ExchangeOnline', smtpPassword: 'line\nbreak' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceInputError);
    expect((err as DeviceInputError).fields).toEqual({ smtpPassword: 'must not contain control characters' });
    expect((err as Error).message).not.toContain('line');
    expect(JSON.stringify(h.nvram.data)).toBe(before);
    expect(h.device.state()).toBe('authorized');
  });
});

describe('app-only (client credentials)', () => {
  it('complete settings ask for a token (requestingToken) with the sealed secret, then send with XOAUTH2', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(APP_ONLY);
    expect(h.device.state()).toBe('unconfigured'); // no secret yet
    const saved = await h.device.saveSettings({ clientSecret: SECRET });
    expect(saved.state).toBe('requestingToken');
    await h.device.idle();
    expect(h.fake.appRequests).toEqual([{ tenantId: APP_ONLY.appTenantId, clientId: APP_ONLY.appClientId, clientSecret: SECRET }]);
    expect(h.device.status()).toMatchObject({ state: 'authorized', account: 'scanner@contoso.com', tokenExpiresAt: h.clock.now() + 3_599_000 });
    await h.device.submitJob(JOB);
    await h.device.idle();
    expect(h.fake.sent[0]).toMatchObject({ accessToken: 'app-at-1' });
    expect(await readFile(h.file, 'latin1')).not.toContain(SECRET);
    expect(h.nvram.secrets.get(APP_CLIENT_SECRET)).toBe(SECRET);
  });

  it('at the deadline the next job gets a new client-credentials token (no refresh token, no device-code refresh)', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings({ ...APP_ONLY, clientSecret: SECRET });
    await h.device.idle();
    await h.advance(3_599_000);
    expect(h.device.state()).toBe('tokenExpired');
    await h.device.submitJob(JOB);
    await h.device.idle();
    expect(h.fake.appRequests).toHaveLength(2);
    expect(h.fake.refreshCalls).toBe(0);
    expect(h.fake.sent[0]).toMatchObject({ accessToken: 'app-at-2' });
    expect(h.device.state()).toBe('authorized');
  });

  it('an expired secret (AADSTS7000222) is reauthRequired with the reason; jobs are held; a new secret sends them', async () => {
    h = await DeviceHarness.create();
    h.fake.appResults.push(new RefreshFailure({ transient: false, reason: 'client-secret-expired', code: protocolCode('aadsts', 7000222), reply: 'AADSTS7000222: The provided client secret keys are expired.' }));
    await h.device.saveSettings({ ...APP_ONLY, clientSecret: 'Old~Expired.Secret-Contoso-2025' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'reauthRequired', lastError: { reason: 'client-secret-expired', code: { kind: 'aadsts', value: '7000222' } } });
    const job = await h.device.submitJob(JOB);
    await h.device.idle();
    expect(h.device.job(job.id)?.status).toBe('held');
    await h.device.saveSettings({ clientSecret: SECRET });
    await h.device.idle();
    expect(h.device.state()).toBe('authorized');
    expect(h.device.job(job.id)?.status).toBe('sent');
    expect(h.fake.appRequests.at(-1)?.clientSecret).toBe(SECRET);
  });

  it('a transient failure of the first request waits in tokenExpired and retries on the clock', async () => {
    h = await DeviceHarness.create();
    h.fake.appResults.push(new RefreshFailure({ transient: true, reason: 'network', code: protocolCode('socket', 'ECONNREFUSED') }));
    await h.device.saveSettings({ ...APP_ONLY, clientSecret: SECRET });
    await h.device.idle();
    expect(h.device.state()).toBe('tokenExpired');
    const due = h.device.deadlines().RETRY_DUE!;
    await h.advance(due - h.clock.now());
    expect(h.device.state()).toBe('authorized');
    expect(h.fake.appRequests).toHaveLength(2);
  });

  it('a power cut during the token request asks again at boot', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(APP_ONLY);
    const saved = await h.device.saveSettings({ clientSecret: SECRET });
    expect(saved.state).toBe('requestingToken');
    await h.powerCycle(); // the answer to the first request is abandoned with the power
    expect(h.fake.appRequests).toHaveLength(2);
    expect(h.device.status()).toMatchObject({ state: 'authorized', account: 'scanner@contoso.com' });
  });
});
