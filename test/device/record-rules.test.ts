/**
 * The record rules at their edges: what a step must leave alone (a held job on sign-out, held jobs on a grant for
 * the wrong account, the attempt count while the token deadline passes mid-send) and what a dismissed job keeps when
 * the server said nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { protocolCode, SendFailure } from '../../src/device/failures.ts';

let h: DeviceHarness;
afterEach(async () => h?.close());

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('record rules leave alone what the step does not concern', () => {
  it('a job held after a permanent send failure stays held, with the server’s reply, through a sign-out', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'smtp-auth-disabled', transient: false, reply: '535 5.7.139 SMTP AUTH is disabled', code: protocolCode('smtp', '5.7.139') }));
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'held', reply: '535 5.7.139 SMTP AUTH is disabled' });
    await h.device.send({ type: 'SIGN_OUT' });
    await h.device.idle();
    expect(h.device.state()).toBe('ready');
    expect(h.device.job(job.id)).toMatchObject({ status: 'held', reply: '535 5.7.139 SMTP AUTH is disabled' });
  });

  it('a grant for another account releases no held job', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    const held = h.device.job(job.id);
    expect(held).toMatchObject({ status: 'held', reply: 'held: sign-in in progress' });
    h.fake.lastSignIn().grant({ account: 'someone-else@contoso.com' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'account-mismatch' } });
    expect(h.device.job(job.id)).toEqual(held);
  });

  it('the token deadline passing mid-send counts no second attempt', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.advance(54 * 60_000);
    const release = h.fake.gateSends();
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await until(() => h.device.state() === 'sending');
    await h.clock.advance(60_000); // the ACCESS_TOKEN_DEADLINE falls while the submission is in flight
    await until(() => (h.nvram.data.snapshot as { context: { accessTokenStale: boolean } }).context.accessTokenStale);
    release();
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(h.device.state()).toBe('tokenExpired');
  });

  it('a dismissed job whose failure had no reply keeps the failure’s reason', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'quota', transient: false, code: protocolCode('smtp', '5.4.5') }));
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'quota', reply: null } });
    await h.device.send({ type: 'DISMISS' });
    expect(h.device.job(job.id)).toMatchObject({ status: 'failed', reply: 'quota' });
  });

  it('a transition that keeps the last error logs no failure data again', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    await h.advance(900_000);
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'code-expired' } });
    await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    const entries = h.device.eventLog().filter((e) => e.kind === 'transition');
    expect(entries.find((e) => e.message === 'codePending → authFailed on CODE_DEADLINE')?.data).toEqual({ reason: 'code-expired', code: null });
    const held = entries.find((e) => e.message === 'authFailed → authFailed on SEND');
    expect(held).toBeDefined();
    expect(held?.data).toBeUndefined();
  });
});
