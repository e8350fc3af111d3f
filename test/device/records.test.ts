/**
 * What the runtime writes down besides the state: job records and their reasons, the event log, transition notices,
 * the factory reset, the power switch, and what it hands the mail port. Found missing by mutation testing
 * (docs/mutation.md): each test here pins behaviour a panel, an admin or Exchange can see.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { protocolCode, RefreshFailure, SendFailure, SignInFailure } from '../../src/device/failures.ts';
import type { DevicePorts, TokenCacheStore } from '../../src/device/ports.ts';
import { DeviceInputError } from '../../src/device/validation.ts';
import { Spool } from '../../src/device/spool.ts';
import type { TransitionNotice } from '../../src/device/device.ts';

let h: DeviceHarness;
afterEach(async () => h?.close());

const events = () => h.nvram.data.eventLog.map((e) => `${e.kind}: ${e.message}`);

describe('job records say why a job waits', () => {
  it('held while not configured, while signing in, and after a refusal; released by the grant', async () => {
    h = await DeviceHarness.create();
    const early = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'early' });
    await h.device.idle();
    expect(h.device.job(early.id)).toMatchObject({ status: 'held', reply: 'held: OAuth 2.0 is not configured' });

    await h.device.saveSettings(OAUTH_SETTINGS);
    const ready = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'ready' });
    await h.device.idle();
    expect(h.device.job(ready.id)).toMatchObject({ status: 'held', reply: 'held: not signed in to Microsoft' });

    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    const signingIn = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'signing in' });
    await h.device.idle();
    expect(h.device.job(signingIn.id)).toMatchObject({ status: 'held', reply: 'held: sign-in in progress' });
    h.fake.lastSignIn().grant();
    await h.device.idle();
    for (const j of [early, ready, signingIn]) expect(h.device.job(j.id)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(h.fake.sent.map((s) => s.subject).sort()).toEqual(['early', 'ready', 'signing in']);
  });

  it('held with the reason after a permanent refresh failure', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.advance(60 * 60_000);
    h.fake.refreshResults.push(new RefreshFailure({ transient: false, reason: 'password-changed', code: protocolCode('aadsts', '50173'), reply: 'invalid_grant' }));
    const first = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'a' });
    await h.device.idle();
    expect(h.device.job(first.id)).toMatchObject({ status: 'held', reply: 'held: re-authentication required (password-changed)' });
    const second = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'b' });
    await h.device.idle();
    expect(h.device.job(second.id)).toMatchObject({ status: 'held', reply: 'held: re-authentication required (password-changed)' });
  });

  it('a dismissed job is failed with the server’s reply, moves to the job log, and its content leaves the spool after the next commit', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'smtp-auth-disabled', transient: false, reply: '535 5.7.139 Authentication unsuccessful', code: protocolCode('smtp', '5.7.139') }));
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    const content = path.join(h.dir, 'spool', `${job.id}.json`);
    expect(existsSync(content)).toBe(true);
    await h.device.send({ type: 'DISMISS' });
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'failed', reply: '535 5.7.139 Authentication unsuccessful' });
    expect(h.nvram.data.spool).toEqual([]);
    expect(h.nvram.data.jobLog.map((j) => j.id)).toEqual([job.id]);
    // The older bank still holds the job as pending: its content stays, with a done record, until the next commit.
    expect(existsSync(content)).toBe(true);
    expect(await new Spool(path.join(h.dir, 'spool')).done(job.id)).toMatchObject({ status: 'failed', messageId: job.messageId });
    expect(h.device.state()).toBe('authorized');
    await h.device.saveSettings({ adminEmailAddress: '' });
    expect(existsSync(content)).toBe(false); // content and done record: one file
  });

  it('a sent job leaves the spool for the job log with Exchange’s reply; other queued jobs stay', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const release = h.fake.gateSends();
    const a = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'a' });
    const b = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'b' });
    for (let i = 0; i < 2000 && h.device.state() !== 'sending'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(h.device.job(a.id)).toMatchObject({ status: 'sending', attempts: 1 });
    expect(h.device.job(b.id)).toMatchObject({ status: 'queued', attempts: 0 });
    h.fake.sendResults.push('250 2.0.0 OK <a> Queued mail for delivery');
    release();
    await h.device.idle();
    expect(h.device.job(a.id)).toMatchObject({ status: 'sent', reply: '250 2.0.0 OK <a> Queued mail for delivery' });
    expect(h.device.job(b.id)).toMatchObject({ status: 'sent', reply: '250 2.0.0 OK' });
    expect(h.nvram.data.spool).toEqual([]);
    expect(h.device.jobs().map((j) => j.subject)).toEqual(['a', 'b']);
  });

  it('the job log keeps the last 50 jobs', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const ids: string[] = [];
    for (let i = 0; i < 51; i++) ids.push((await h.device.submitJob({ to: ['bob@contoso.com'], subject: `n${i}` })).id);
    await h.device.idle();
    expect(h.nvram.data.jobLog).toHaveLength(50);
    expect(h.device.job(ids[0]!)).toBeUndefined();
    expect(h.device.job(ids[1]!)).toMatchObject({ status: 'sent' });
    expect(h.device.job(ids[50]!)).toMatchObject({ status: 'sent' });
  }, 60_000);
});

describe('the event log', () => {
  it('records first boot, settings, transitions with the failure reason, and queued jobs', async () => {
    h = await DeviceHarness.create();
    expect(events()).toEqual(['nvram.formatted: blank NVRAM image: formatted with factory defaults', 'boot: first boot of the OAuth feature: unconfigured']);
    await h.device.saveSettings(OAUTH_SETTINGS);
    h.fake.nextCodeFailure = new SignInFailure({ kind: 'code-request-failed', reason: 'unknown-client', code: protocolCode('aadsts', '700016'), reply: 'no app' });
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    await h.device.submitJob({ to: ['a@contoso.com', 'b@contoso.com'], subject: 'x' });
    await h.device.idle();
    const log = events();
    expect(log.slice(1, 6)).toEqual([
      'boot: first boot of the OAuth feature: unconfigured',
      'settings: SMTP settings saved (method oauth2ExchangeOnline)',
      'transition: unconfigured → ready on SAVE_SETTINGS',
      'transition: ready → requestingCode on START_AUTH',
      'transition: requestingCode → authFailed on CODE_FAILED',
    ]);
    expect(log[6]).toMatch(/^job: job [0-9a-f-]{36} queued for 2 recipient\(s\)$/);
    expect(log[7]).toBe('transition: authFailed → authFailed on SEND');
    const failed = h.nvram.data.eventLog.find((e) => e.message.endsWith('on CODE_FAILED'));
    expect(failed?.data).toEqual({ reason: 'unknown-client', code: { kind: 'aadsts', value: '700016' } });
    const plain = h.nvram.data.eventLog.find((e) => e.message.endsWith('on START_AUTH'));
    expect(plain?.data).toBeUndefined();
  });

  it('an event that changes nothing persisted is not logged', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const before = events().length;
    expect((await h.device.send({ type: 'RETRY' })).accepted).toBe(false);
    expect(events()).toHaveLength(before);
  });
});

describe('transition notices', () => {
  it('tell listeners what changed; a throwing listener harms no one; unsubscribe stops them', async () => {
    h = await DeviceHarness.create();
    const seen: TransitionNotice[] = [];
    h.device.subscribe(() => {
      throw new Error('a broken panel');
    });
    const off = h.device.subscribe((n) => seen.push(n));
    await h.device.saveSettings(OAUTH_SETTINGS);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ at: h.clock.now(), from: 'unconfigured', to: 'ready', event: 'SAVE_SETTINGS', status: { state: 'ready', account: 'scanner@contoso.com' } });
    // A context-only change (a new account in the same state) is a notice too.
    await h.device.saveSettings({ ...OAUTH_SETTINGS, authUsername: 'other@contoso.com', authEmailAddress: 'other@contoso.com' });
    expect(seen).toHaveLength(2);
    expect(seen[1]).toMatchObject({ from: 'ready', to: 'ready', status: { account: 'other@contoso.com' } });
    // Nothing changed: no notice.
    await h.device.saveSettings({ ...OAUTH_SETTINGS, authUsername: 'other@contoso.com', authEmailAddress: 'other@contoso.com' });
    expect(seen).toHaveLength(2);
    off();
    await h.device.send({ type: 'START_AUTH' });
    expect(seen).toHaveLength(2);
    expect(h.device.state()).toBe('requestingCode');
  });
});

describe('status across the power switch', () => {
  it('"since" is the time of the last state change, and survives a restart', async () => {
    h = await DeviceHarness.create();
    const t0 = h.clock.now();
    expect(h.device.status().since).toBe(t0);
    await h.advance(1_000);
    await h.device.saveSettings(OAUTH_SETTINGS);
    expect(h.device.status().since).toBe(t0 + 1_000);
    await h.advance(1_000);
    await h.device.saveSettings({ ...OAUTH_SETTINGS, adminEmailAddress: 'admin@contoso.com' });
    expect(h.device.status().since).toBe(t0 + 1_000);
    await h.powerCycle(5_000);
    expect(h.device.status()).toMatchObject({ state: 'ready', since: t0 + 1_000 });
  });

  it('the access token counts as expired after a power-off that reaches its deadline, to the millisecond', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.powerCycle(55 * 60_000 - 1);
    expect(h.device.state()).toBe('authorized');
    await h.powerCycle(1);
    expect(h.device.state()).toBe('tokenExpired');
  });

  it('a powered-off device takes no event and raises no deadline', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.device.stop();
    expect(await h.device.send({ type: 'SIGN_OUT' })).toEqual({ accepted: false, state: 'authorized', reason: 'device is powered off' });
    await h.clock.advance(2 * 60 * 60_000);
    await h.device.idle();
    expect(h.device.state()).toBe('authorized');
    expect(h.device.deadlines()).toEqual({});
  });

  it('an event the state does not take is refused with the reason', async () => {
    h = await DeviceHarness.create();
    expect(await h.device.send({ type: 'DISMISS' })).toEqual({ accepted: false, state: 'unconfigured', reason: 'DISMISS is not handled in state unconfigured' });
    expect(await h.device.send({ type: 'SIGN_OUT' })).toMatchObject({ accepted: false });
    expect((await h.device.saveSettings(OAUTH_SETTINGS)).accepted).toBe(true);
  });
});

describe('factory reset', () => {
  it('erases settings, jobs, their content and the tokens, and says so in the event log', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'quota', transient: false, reply: '550 5.4.5 Daily user sending quota exceeded.', code: protocolCode('smtp', '5.4.5') }));
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'y' });
    expect(h.nvram.data.spool).toHaveLength(2);
    const r = await h.device.send({ type: 'FACTORY_RESET' });
    expect(r).toEqual({ accepted: true, state: 'unconfigured' });
    expect(h.nvram.data.spool).toEqual([]);
    expect(h.nvram.data.jobLog).toEqual([]);
    expect(h.device.settings()).toMatchObject({ authMethod: 'off', authEmailAddress: '', authUsername: '' });
    expect(h.nvram.secrets.has('msal-cache')).toBe(false);
    expect(events()).toContain('factory-reset: factory reset: settings, jobs and tokens erased');
    // The content goes once the next commit has overwritten the older bank, which still holds the jobs.
    expect(existsSync(path.join(h.dir, 'spool', `${job.id}.json`))).toBe(true);
    await h.device.saveSettings({ adminEmailAddress: 'admin@contoso.com' });
    expect(existsSync(path.join(h.dir, 'spool', `${job.id}.json`))).toBe(false);
  });
});

describe('what the mail port is given', () => {
  /** Boots with the fake ports wrapped, to see the submission target and message the runtime builds. */
  async function withRecordedSubmits(): Promise<Parameters<DevicePorts['mail']['submit']>[0][]> {
    h = await DeviceHarness.create(undefined, { boot: false });
    const submits: Parameters<DevicePorts['mail']['submit']>[0][] = [];
    const real = h.fake.ports;
    h.fake.ports = (cache: TokenCacheStore) => {
      const p = real(cache);
      return { ...p, mail: { submit: (req) => (submits.push(req), p.mail.submit(req)) } };
    };
    await h.boot();
    return submits;
  }

  it('the SMTP settings, the job’s Message-ID, and the admin address as From (the sign-in address when empty)', async () => {
    const submits = await withRecordedSubmits();
    await h.device.saveSettings({ ...OAUTH_SETTINGS, smtpServerName: 'smtp.example.test', smtpPort: 2525, useSecureConnection: false, adminEmailAddress: 'admin@contoso.com' });
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().grant();
    await h.device.idle();
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 's', body: 'b' });
    await h.device.idle();
    expect(job.messageId).toBe(`<${job.id}@sim0001.mfp-sim.invalid>`);
    expect(submits[0]).toMatchObject({
      target: { host: 'smtp.example.test', port: 2525, secure: false, user: 'scanner@contoso.com' },
      accessToken: 'at-secret-1',
      message: { messageId: job.messageId, from: 'admin@contoso.com', to: ['bob@contoso.com'], subject: 's', text: 'b', attachments: [] },
    });
    await h.device.saveSettings({ adminEmailAddress: '' });
    await h.device.submitJob({ to: ['bob@contoso.com'], subject: 't' });
    await h.device.idle();
    expect(submits[1]?.message.from).toBe('scanner@contoso.com');
  });

  it('a job whose content vanished from the spool fails for good, with the reason', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const release = h.fake.gateSends();
    const first = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'first' });
    const second = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'second' });
    await rm(path.join(h.dir, 'spool', `${second.id}.json`));
    release();
    await h.device.idle();
    expect(h.device.job(first.id)?.status).toBe('sent');
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', retryAt: null, lastError: { reason: 'other', reply: 'the job content is missing from the spool' } });
    expect(h.device.job(second.id)).toMatchObject({ status: 'held' });
  });

  it('no access token in the cache counts as an auth refusal: one forced refresh, then the resend', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.nvram.update((_d, vault) => vault.delete('msal-cache'));
    const seen: TransitionNotice[] = [];
    h.device.subscribe((n) => seen.push(n));
    await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    const refused = seen.find((n) => n.from === 'sending' && n.to === 'refreshing');
    expect(refused?.status.lastError).toMatchObject({ reason: 'auth-rejected' });
    expect(refused?.status.lastError?.reply).toMatch(/^no access token: /);
    expect(h.fake.refreshCalls).toBe(1);
    expect(h.fake.sent.map((m) => m.accessToken)).toEqual(['at-secret-r1']);
    expect(h.device.status()).toMatchObject({ state: 'authorized', lastError: null });
  });
});

describe('settings input', () => {
  it('refuses a body that is not an object', async () => {
    h = await DeviceHarness.create();
    const err = await h.device.saveSettings(['smtp.office365.com']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceInputError);
    expect((err as DeviceInputError).fields).toEqual({ '(body)': 'must be an object' });
    expect(h.device.state()).toBe('unconfigured');
  });

  it('trims the configured account on first boot from settings', async () => {
    h = await DeviceHarness.create(undefined, { boot: false });
    const { openNvram } = await import('../../src/nvram/index.ts');
    const nvram = await openNvram({ file: h.file, now: () => h.clock.now(), factoryDevice: { id: 'dev-test-0001', serial: 'SIM0001' } });
    await nvram.update((d) => {
      Object.assign(d.settings.smtp, OAUTH_SETTINGS, { authUsername: '  scanner@contoso.com ' });
    });
    await nvram.close();
    await h.boot();
    expect(h.device.status()).toMatchObject({ state: 'ready', account: 'scanner@contoso.com' });
  });
});
