/**
 * An outcome the NVRAM cannot take (a bank too small for it) did not happen: the device says so in a state the
 * admin can see, keeps what it had, and — for a send whose acceptance cannot be recorded — sends again after a
 * restart with the same Message-ID (at-least-once). The sign-in grant case is in runtime.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';

const SMALL_BANK = 8 * 1024;
const TOO_BIG = 16 * 1024;

let h: DeviceHarness;
afterEach(async () => h?.close());

describe('an outcome that does not fit in NVRAM', () => {
  it('a device code too long to store ends the sign-in in authFailed with the NVRAM’s code', async () => {
    h = await DeviceHarness.create(undefined, { capacityBytes: SMALL_BANK });
    h.fake.holdCodes = true;
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    h.fake.lastSignIn().issue({ userCode: 'X'.repeat(TOO_BIG) });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', userCode: null, lastError: { reason: 'nvram-write-failed', code: { kind: 'storage', value: 'nvram_capacity' } } });
    expect(h.device.status().lastError?.reply).toMatch(/NVRAM full/);
    expect(h.fake.lastSignIn().cancel.cancelled).toBe(true);
  });

  it('a refreshed token cache too big to store: tokenExpired, the old tokens kept, retried on the backoff', async () => {
    h = await DeviceHarness.create(undefined, { capacityBytes: SMALL_BANK });
    await h.signIn();
    await h.advance(60 * 60_000);
    expect(h.device.state()).toBe('tokenExpired');
    h.fake.cachePadding = TOO_BIG;
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    expect(h.fake.refreshCalls).toBe(1);
    expect(h.device.status()).toMatchObject({ state: 'tokenExpired', jobId: job.id, lastError: { reason: 'nvram-write-failed', code: { kind: 'storage', value: 'nvram_capacity' } } });
    expect(h.device.status().lastError?.reply).toMatch(/NVRAM full/);
    expect(h.device.deadlines().RETRY_DUE).toBe(h.clock.now() + 30_000);
    expect(h.fake.tokenCache!.load()).toContain('at-secret-1');
    expect(h.device.job(job.id)?.status).toBe('queued');
    // A second failure backs off further (the retry count of the context at the failure).
    await h.advance(30_000);
    expect(h.fake.refreshCalls).toBe(2);
    expect(h.device.deadlines().RETRY_DUE).toBe(h.clock.now() + 120_000);
    // Once it fits again, the refresh goes through and the job goes out with the new token.
    h.fake.cachePadding = 0;
    await h.advance(120_000);
    expect(h.fake.refreshCalls).toBe(3);
    expect(h.device.job(job.id)?.status).toBe('sent');
    expect(h.fake.sent.at(-1)?.accessToken).toBe('at-secret-r3');
    expect(h.device.state()).toBe('authorized');
  });

  it('a send whose acceptance cannot be recorded stays in the spool and goes again after a restart, same Message-ID', async () => {
    h = await DeviceHarness.create(undefined, { capacityBytes: SMALL_BANK });
    await h.signIn();
    h.fake.sendResults.push(`250 2.0.0 OK ${'x'.repeat(TOO_BIG)}`);
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'once or twice' });
    await h.device.idle();
    expect(h.fake.sent).toHaveLength(1);
    expect(h.device.state()).toBe('sending');
    expect(h.device.job(job.id)).toMatchObject({ status: 'sending', attempts: 1 });
    expect(h.nvram.data.spool.map((j) => j.id)).toEqual([job.id]);
    await h.powerCycle(1000);
    await h.device.idle();
    expect(h.fake.sent.map((s) => s.messageId)).toEqual([job.messageId, job.messageId]);
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', reply: '250 2.0.0 OK', attempts: 2 });
    expect(h.device.state()).toBe('authorized');
  });
});
