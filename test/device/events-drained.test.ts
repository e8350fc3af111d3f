/**
 * `eventsDrained()`: the work a step queued behind a held network call is over when it resolves, the call itself
 * still held. The random walks (seed 20261128) read the spool too early at `SAVE_SETTINGS:appOnlyA` from `sending`
 * with a second job queued: the switch requeues the job being sent and asks for an app token (held at the gate),
 * then the pump's two SENDs hold both jobs in requestingToken, in two more commits that raise no transition notice.
 */
import { afterEach, expect, it } from 'vitest';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';

const BASIC = { ...OAUTH_SETTINGS, authMethod: 'smtpAuth', smtpPassword: 'Basic-Passw0rd-for-scanner' } as const;
const APP_ONLY = {
  ...OAUTH_SETTINGS,
  authMethod: 'oauth2AppOnly',
  appTenantId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b',
  appClientId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a',
  clientSecret: 'Xq8~AppOnly.Secret-Contoso-2026',
} as const;
const JOB = { to: ['megan@contoso.com'], subject: 'scan', body: 'page 1' };

let h: DeviceHarness;
afterEach(async () => h?.close());

const heldJobs = () => h.nvram.data.spool.filter((j) => j.status === 'held').length;

it('waits for the pump to hold both jobs after a switch to app-only from sending, the token request still held', async () => {
  h = await DeviceHarness.create();
  await h.device.submitJob(JOB);
  await h.device.submitJob(JOB);
  await h.device.idle();
  expect(heldJobs()).toBe(2); // unconfigured: both wait

  h.fake.gateSends();
  await h.device.saveSettings(BASIC); // releases both; the pump hands one to sending, held at the send gate
  await h.device.eventsDrained();
  expect(h.device.status().state).toBe('sending');
  expect(h.nvram.data.spool.map((j) => j.status).sort()).toEqual(['queued', 'sending']);

  h.fake.gateAppTokens();
  await h.device.saveSettings(APP_ONLY);
  // The settings' own step is committed, the pump's holds are not yet: this is the window the walk fell into.
  expect(h.device.status().state).toBe('requestingToken');
  expect(heldJobs()).toBeLessThan(2);
  await h.device.eventsDrained();
  expect(h.fake.appRequests).toHaveLength(1); // asked, and still held: eventsDrained did not wait for it
  expect(h.device.status()).toMatchObject({ state: 'requestingToken', jobId: null });
  expect(heldJobs()).toBe(2);
});
