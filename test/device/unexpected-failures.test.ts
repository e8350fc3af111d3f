/**
 * A port that fails with something other than its typed failure (a bug in an adapter, a plain Error, a string) still
 * ends in an event the statechart takes: the sign-in fails (CODE_FAILED before a code, POLL_FAILED after), a refresh
 * or a send counts as transient and is retried on the backoff. The reason is "unexpected" (sign-in, refresh) or
 * "other" (send), and the error's words are the reply.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import type { TokenCacheStore } from '../../src/device/ports.ts';
import { protocolCode, SignInFailure } from '../../src/device/failures.ts';

let h: DeviceHarness;
afterEach(async () => h?.close());

const transitions = () => h.device.eventLog().filter((e) => e.kind === 'transition').map((e) => e.message);

/** Boots with the refresh and submit ports failing with `failure` (not a typed failure) while `failing` is true. */
async function withUntypedFailures(failure: unknown): Promise<{ failing: boolean }> {
  h = await DeviceHarness.create(undefined, { boot: false });
  const control = { failing: false };
  const real = h.fake.ports;
  h.fake.ports = (cache: TokenCacheStore) => {
    const p = real(cache);
    return {
      oauth: { ...p.oauth, refresh: (req) => (control.failing ? Promise.reject(failure) : p.oauth.refresh(req)) },
      mail: { submit: (req) => (control.failing ? Promise.reject(failure) : p.mail.submit(req)) },
    };
  };
  await h.boot();
  return control;
}

describe('untyped failures from the ports', () => {
  it('a code request that fails with a plain Error: CODE_FAILED, reason unexpected, its message as the reply', async () => {
    h = await DeviceHarness.create();
    h.fake.holdCodes = true;
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    h.fake.lastSignIn().fail(new Error('socket hang up') as never);
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'unexpected', reply: 'Error: socket hang up' } });
    expect(transitions().at(-1)).toBe('requestingCode → authFailed on CODE_FAILED');
  });

  it('polling that fails with a plain Error after the code was shown: POLL_FAILED', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    expect(h.device.state()).toBe('codePending');
    h.fake.lastSignIn().fail(new Error('boom') as never);
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', userCode: null, lastError: { reason: 'unexpected', reply: 'Error: boom' } });
    expect(transitions().at(-1)).toBe('codePending → authFailed on POLL_FAILED');
  });

  it('a refresh that fails with a plain Error is transient: retried after 30 s, then 2 min', async () => {
    const control = await withUntypedFailures(new Error('ECONNRESET from a bug'));
    await h.signIn();
    await h.advance(60 * 60_000);
    control.failing = true;
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'tokenExpired', lastError: { reason: 'unexpected', code: null, reply: 'Error: ECONNRESET from a bug' } });
    expect(h.device.deadlines().RETRY_DUE).toBe(h.clock.now() + 30_000);
    await h.advance(30_000);
    expect(h.device.deadlines().RETRY_DUE).toBe(h.clock.now() + 120_000);
    control.failing = false;
    await h.advance(120_000);
    expect(h.device.job(job.id)?.status).toBe('sent');
  });

  it('a send that fails with a string is transient, category other: queued for a retry after 30 s', async () => {
    const control = await withUntypedFailures('the transport threw a string');
    await h.signIn();
    control.failing = true;
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'other', code: null, reply: 'the transport threw a string' } });
    expect(h.device.job(job.id)).toMatchObject({ status: 'queued', reply: 'the transport threw a string' });
    expect(h.device.deadlines().RETRY_DUE).toBe(h.clock.now() + 30_000);
    control.failing = false;
    await h.advance(30_000);
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', attempts: 2 });
  });
});

describe('typed sign-in failures become their own events', () => {
  it.each([
    ['declined', 'AUTH_DECLINED'],
    ['expired', 'CODE_EXPIRED'],
    ['poll-failed', 'POLL_FAILED'],
  ] as const)('%s after the code was shown: %s', async (kind, event) => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().fail(new SignInFailure({ kind, reason: `reason-${kind}`, code: protocolCode('aadsts', '1'), reply: 'words' }));
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: `reason-${kind}`, code: { kind: 'aadsts', value: '1' }, reply: 'words' } });
    expect(transitions().at(-1)).toBe(`codePending → authFailed on ${event}`);
  });

  it('any failure before a code was issued is a failed code request', async () => {
    h = await DeviceHarness.create();
    h.fake.holdCodes = true;
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    h.fake.lastSignIn().fail(new SignInFailure({ kind: 'declined', reason: 'declined', code: protocolCode('oauth', 'authorization_declined') }));
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'declined' } });
    expect(transitions().at(-1)).toBe('requestingCode → authFailed on CODE_FAILED');
  });

  it('a power cut during a sign-in cancels the polling of the old boot', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    const old = h.fake.lastSignIn();
    expect(old.cancel.cancelled).toBe(false);
    await h.powerCycle(1000);
    expect(old.cancel.cancelled).toBe(true);
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'interrupted-by-restart' } });
  });
});
