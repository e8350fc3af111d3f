import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { protocolCode, RefreshFailure, SendFailure, SignInFailure } from '../../src/device/failures.ts';
import { DeviceInputError } from '../../src/device/validation.ts';

let h: DeviceHarness;
afterEach(async () => h?.close());

describe('device runtime on fake ports', () => {
  it('boots unconfigured, then walks the seed: settings → code → grant → authorized', async () => {
    h = await DeviceHarness.create();
    expect(h.device.state()).toBe('unconfigured');
    await h.device.saveSettings(OAUTH_SETTINGS);
    expect(h.device.state()).toBe('ready');
    const started = h.device.send({ type: 'START_AUTH' });
    expect((await started).state).toBe('requestingCode');
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'codePending', userCode: 'FAKECODE1' });
    expect(h.device.deadlines().CODE_DEADLINE).toBe(h.clock.now() + 900_000);
    h.fake.lastSignIn().grant();
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authorized', account: 'scanner@contoso.com', userCode: null });
    expect(h.device.status().tokenExpiresAt).toBe(h.clock.now() + 3_600_000);
  });

  it('keeps tokens sealed: the NVRAM file holds no token text', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const raw = await readFile(h.file, 'latin1');
    expect(raw).not.toContain('at-secret-1');
    expect(raw).not.toContain('rt-for-scanner');
    expect(h.fake.tokenCache!.load()).toContain('at-secret-1');
  });

  it('code deadline on the clock ends the sign-in in authFailed and cancels polling', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    await h.advance(899_000);
    expect(h.device.state()).toBe('codePending');
    await h.advance(1_000);
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'code-expired' } });
    expect(h.fake.lastSignIn().cancel.cancelled).toBe(true);
  });

  it('declined and failed code requests land in authFailed with their reason', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    h.fake.nextCodeFailure = new SignInFailure({ kind: 'code-request-failed', reason: 'unknown-client', code: protocolCode('aadsts', '700016'), reply: 'unknown app' });
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    expect(h.device.status().lastError).toEqual({ reason: 'unknown-client', code: { kind: 'aadsts', value: '700016' }, reply: 'unknown app' });
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().fail(new SignInFailure({ kind: 'declined', reason: 'declined', code: protocolCode('oauth', 'authorization_declined') }));
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'declined' } });
  });

  it('a cancelled sign-in drops the late grant', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    const first = h.fake.lastSignIn();
    expect(h.device.state()).toBe('codePending');
    await h.device.send({ type: 'CANCEL_AUTH' });
    expect(h.device.state()).toBe('ready');
    first.grant();
    await h.device.idle();
    expect(h.device.state()).toBe('ready');
  });

  it('sends a job, expires the token after an idle hour, refreshes on the next send', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'scan 1', body: 'hello' });
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', reply: '250 2.0.0 OK', attempts: 1 });
    expect(h.fake.sent[0]).toMatchObject({ subject: 'scan 1', accessToken: 'at-secret-1', from: 'scanner@contoso.com' });
    await h.advance(60 * 60_000);
    expect(h.device.state()).toBe('tokenExpired');
    await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'scan 2' });
    await h.device.idle();
    expect(h.fake.refreshCalls).toBe(1);
    expect(h.fake.sent.at(-1)).toMatchObject({ subject: 'scan 2', accessToken: 'at-secret-r1' });
    expect(h.device.state()).toBe('authorized');
  });

  it('535 5.7.3 forces one refresh and one resend; a second 5.7.3 is final', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'auth-rejected', transient: false, reply: '535 5.7.3 Authentication unsuccessful', code: protocolCode('smtp', '5.7.3') }));
    const ok = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'a' });
    await h.device.idle();
    expect(h.device.job(ok.id)?.status).toBe('sent');
    expect(h.fake.refreshCalls).toBe(1);
    const bad = new SendFailure({ category: 'auth-rejected', transient: false, reply: '535 5.7.3 Authentication unsuccessful', code: protocolCode('smtp', '5.7.3') });
    h.fake.sendResults.push(bad, bad);
    const failing = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'b' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', lastError: { code: { kind: 'smtp', value: '5.7.3' } } });
    expect(h.device.deadlines().RETRY_DUE).toBeUndefined();
    expect(h.device.job(failing.id)).toMatchObject({ status: 'held', reply: '535 5.7.3 Authentication unsuccessful' });
    await h.device.send({ type: 'DISMISS' });
    expect(h.device.job(failing.id)).toMatchObject({ status: 'failed' });
  });

  it('transient send failures retry on the backoff deadline, then succeed', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'throttled', transient: true, reply: '432 4.3.2 Concurrent connections limit exceeded.', code: protocolCode('smtp', '4.3.2') }));
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    expect(h.device.state()).toBe('sendFailure');
    expect(h.device.job(job.id)?.status).toBe('queued');
    const due = h.device.deadlines().RETRY_DUE!;
    expect(due).toBe(h.clock.now() + 30_000);
    await h.advance(30_000);
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', attempts: 2 });
    expect(h.device.state()).toBe('authorized');
  });

  it('transient send failures back off 30 s, 2 min, 8 min; the fourth is held for the operator', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const throttled = () => new SendFailure({ category: 'throttled', transient: true, reply: '432 4.3.2 Concurrent connections limit exceeded.', code: protocolCode('smtp', '4.3.2') });
    h.fake.sendResults.push(throttled(), throttled(), throttled(), throttled());
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    for (const delay of [30_000, 120_000, 480_000]) {
      expect(h.device.status().state).toBe('sendFailure');
      expect(h.device.deadlines().RETRY_DUE).toBe(h.clock.now() + delay);
      expect(h.device.status().retryAt).toBe(h.clock.now() + delay);
      await h.advance(delay);
    }
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', retryAt: null, lastError: { reason: 'throttled', code: { kind: 'smtp', value: '4.3.2' } } });
    expect(h.device.deadlines().RETRY_DUE).toBeUndefined();
    expect(h.device.job(job.id)).toMatchObject({ status: 'held', attempts: 4, reply: '432 4.3.2 Concurrent connections limit exceeded.' });
    // The operator's Retry starts over, and this time Exchange takes it.
    await h.device.send({ type: 'RETRY' });
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', attempts: 5 });
  });

  it("a transient refresh failure waits for Entra's Retry-After when it is longer than the backoff", async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.advance(60 * 60_000);
    h.fake.refreshResults.push(new RefreshFailure({ transient: true, reason: 'throttled', code: protocolCode('http', '429'), retryAfterMs: 600_000 }));
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'tokenExpired', lastError: { reason: 'throttled' } });
    expect(h.device.deadlines().RETRY_DUE).toBe(h.clock.now() + 600_000);
    await h.advance(599_000);
    expect(h.fake.refreshCalls).toBe(1);
    await h.advance(1_000);
    expect(h.fake.refreshCalls).toBe(2);
    expect(h.device.job(job.id)?.status).toBe('sent');
  });

  it('raises the access-token deadline five minutes before the token expires', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const expiresAt = h.device.status().tokenExpiresAt!;
    expect(h.device.deadlines().ACCESS_TOKEN_DEADLINE).toBe(expiresAt - 5 * 60_000);
    await h.advance(55 * 60_000 - 1);
    expect(h.device.state()).toBe('authorized');
    await h.advance(1);
    expect(h.device.state()).toBe('tokenExpired');
  });

  it('a permanent refresh failure leads to reauthRequired, and the job is held, not lost', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.advance(60 * 60_000);
    h.fake.refreshResults.push(new RefreshFailure({ transient: false, reason: 'password-changed', code: protocolCode('aadsts', '50173'), reply: 'invalid_grant' }));
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'reauthRequired', lastError: { code: { kind: 'aadsts', value: '50173' } } });
    expect(h.device.job(job.id)?.status).toBe('held');
    expect(h.fake.tokenCache!.load()).toBeUndefined();
    // Signing in again releases the held job.
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().grant();
    await h.device.idle();
    expect(h.device.job(job.id)?.status).toBe('sent');
  });

  it('power cycle: a token survives, a night off comes back tokenExpired, a sign-in in progress is interrupted', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.powerCycle(10 * 60_000);
    expect(h.device.state()).toBe('authorized');
    await h.powerCycle(10 * 60 * 60_000);
    expect(h.device.state()).toBe('tokenExpired');
    await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'morning' });
    await h.device.idle();
    expect(h.fake.sent.at(-1)?.subject).toBe('morning');
    await h.device.send({ type: 'SIGN_OUT' });
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    await h.powerCycle(1000);
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'interrupted-by-restart' } });
  });

  it('power cut mid-send puts the acknowledged job back in the spool and sends it after boot', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const release = h.fake.gateSends();
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'important' });
    for (let i = 0; i < 2000 && h.device.state() !== 'sending'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(h.device.state()).toBe('sending');
    h.device.stop();
    release();
    await h.nvram.close();
    await h.boot();
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent' });
    expect(h.fake.sent.filter((s) => s.subject === 'important').length).toBeGreaterThanOrEqual(1);
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    const before = JSON.stringify(h.nvram.data);
    await expect(h.device.send({ type: 'TOKEN_GRANTED' })).rejects.toBeInstanceOf(DeviceInputError);
    await expect(h.device.send('EXPLODE')).rejects.toThrow(/unknown operator event/);
    const err = await h.device.saveSettings({ smtpPort: 99999, authEmailAddress: 'not-an-address' }).catch((e) => e);
    expect(err).toBeInstanceOf(DeviceInputError);
    expect(Object.keys((err as DeviceInputError).fields).sort()).toEqual(['authEmailAddress', 'smtpPort']);
    await expect(h.device.saveSettings({ bogus: 1 })).rejects.toBeInstanceOf(DeviceInputError);
    await expect(h.device.submitJob({ to: [] })).rejects.toBeInstanceOf(DeviceInputError);
    expect(JSON.stringify(h.nvram.data)).toBe(before);
    expect(h.device.state()).toBe('ready');
  });

  it('a grant that does not fit in NVRAM ends the sign-in in authFailed with the reason, not in silence', async () => {
    h = await DeviceHarness.create(undefined, { capacityBytes: 8 * 1024 });
    h.fake.cachePadding = 16 * 1024;
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().grant();
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'nvram-write-failed' } });
    expect(h.device.status().lastError?.reply).toMatch(/capacity|bytes/i);
    expect(h.nvram.secrets.has('msal-cache')).toBe(false);
  });

  it('a free device acknowledges a job and starts it in one write; jobs that come while it is busy wait their turn', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const writes = () => h.nvram.stats().banks.reduce((n, b) => n + b.writes, 0);
    const release = h.fake.gateSends();
    const before = writes();
    const first = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'first' });
    expect(first.status).toBe('queued'); // the answer is the job as acknowledged
    expect(writes()).toBe(before + 1);
    expect(h.device.state()).toBe('sending');
    expect(h.nvram.data.spool.find((j) => j.id === first.id)).toMatchObject({ status: 'sending', attempts: 1 });
    const second = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'second' });
    expect(writes()).toBe(before + 2); // busy: the record alone
    expect(h.device.job(second.id)?.status).toBe('queued');
    release();
    await h.device.idle();
    expect(h.device.jobs().filter((j) => j.id === first.id || j.id === second.id).map((j) => j.status)).toEqual(['sent', 'sent']);
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['first', 'second']);
  });

  it('writes nothing for an event that changes nothing persisted', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    const writes = () => h.nvram.stats().banks.reduce((n, b) => n + b.writes, 0);
    const before = writes();
    const r = await h.device.send({ type: 'RETRY' });
    expect(r.accepted).toBe(false);
    expect(writes()).toBe(before);
    await h.device.send({ type: 'START_AUTH' });
    expect(writes()).toBe(before + 1);
  });
});
