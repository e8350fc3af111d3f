/**
 * What src/device/device.ts itself decides, beyond the rooms it wires: the boot's repair of a torn bank, the
 * settings log line that says which secrets were sealed (never their values), the factory reset's own log line and
 * spool, and the copies a face is handed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { damageImage } from '../support/nvramFaults.ts';
import { protocolCode, SendFailure } from '../../src/device/failures.ts';
import type { TransitionNotice } from '../../src/device/printer.ts';
import { rm } from 'node:fs/promises';

let h: DeviceHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const BASIC = { ...OAUTH_SETTINGS, authMethod: 'smtpAuth', smtpPassword: 'S3cret-Basic-Password' } as const;
const messages = (h: DeviceHarness, kind: string) => h.device.eventLog().filter((e) => e.kind === kind).map((e) => e.message);

describe('a boot from the older bank', () => {
  it('rewrites the torn bank at once, so the next boot is clean rather than reporting the same fallback', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.saveSettings({ ...OAUTH_SETTINGS, adminEmailAddress: 'admin@contoso.com' });
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'flip-newer-payload');
    await h.boot();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['bank-invalid']);
    expect(h.device.state()).toBe('ready'); // restored from the older bank: no step to write
    expect(h.device.eventLog().filter((e) => e.kind === 'nvram.recovered')).toHaveLength(1);

    await h.powerCycle(1_000);
    expect(h.nvram.boot.findings).toEqual([]);
    expect(h.device.bootReport()).toMatchObject({ outcome: 'restored', reasons: [] });
  });

  it('a clean restored boot with nothing to change writes nothing', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.powerCycle(1_000);
    const seq = h.nvram.boot.seq;
    await h.powerCycle(1_000);
    expect(h.nvram.boot.seq).toBe(seq); // the boot between made no commit
  });
});

describe('saving settings', () => {
  it('logs the method and the names of the secrets sealed with it, never their values', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(BASIC);
    await h.device.saveSettings({ ...OAUTH_SETTINGS, authMethod: 'smtpAuth' }); // no password field: the sealed one stays
    expect(messages(h, 'settings')).toEqual(['SMTP settings saved (method smtpAuth; sealed smtp-password)', 'SMTP settings saved (method smtpAuth)']);
    expect(JSON.stringify(h.device.eventLog())).not.toContain(BASIC.smtpPassword);
    expect(h.device.state()).toBe('authorized'); // basic with its password is ready to send
  });

  it('refuses what is not an object, saying so, and writes nothing', async () => {
    h = await DeviceHarness.create();
    const banks = JSON.stringify(h.nvram.stats().banks);
    for (const input of [null, 'settings', ['a']]) {
      const err = await h.device.saveSettings(input).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'DeviceInputError', message: 'invalid SMTP settings: expected an object', fields: { '(body)': 'must be an object' } });
    }
    expect(JSON.stringify(h.nvram.stats().banks)).toBe(banks);
  });

  it('hands out a copy of the settings', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    const s = h.device.settings();
    s.smtpServerName = 'evil.example';
    expect(h.device.settings().smtpServerName).toBe('smtp.office365.com');
  });
});

describe('a factory reset', () => {
  it('erases settings and jobs, says so in the event log, and retires the jobs’ content after the next commit', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'waiting' }); // ready, not signed in: it waits
    await h.device.idle();
    const content = path.join(h.dir, 'spool', `${job.id}.json`);
    expect(existsSync(content)).toBe(true);
    expect((await h.device.send({ type: 'FACTORY_RESET' })).accepted).toBe(true);
    expect(h.device.state()).toBe('unconfigured');
    expect(h.device.jobs()).toEqual([]);
    expect(h.device.settings().authEmailAddress).toBe('');
    expect(messages(h, 'factory-reset')).toEqual(['factory reset: settings, jobs and tokens erased']);
    // The older bank still points at the job until the next commit; then its content goes.
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.idle();
    expect(existsSync(content)).toBe(false);
  });
});

describe('transition notices', () => {
  it('name a failure in the step that brought it only, not in later steps that keep it', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const seen: TransitionNotice[] = [];
    h.device.subscribe((n) => seen.push(n));
    h.fake.sendResults.push(new SendFailure({ category: 'quota', transient: false, reply: '550 5.4.5 Daily user sending quota exceeded.', code: protocolCode('smtp', '5.4.5') }));
    await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'x' });
    await h.device.idle();
    await h.device.send({ type: 'RETRY' }); // sendFailure → sending keeps the last error on show until the outcome
    await h.device.idle();
    expect(seen.map((n) => [n.event, n.to, n.reason])).toEqual([
      ['SEND', 'sending', null],
      ['SEND_FAILED', 'sendFailure', 'quota'],
      ['RETRY', 'sending', null],
      ['SENT', 'authorized', null],
    ]);
    expect(seen[2]!.status.lastError).toMatchObject({ reason: 'quota' });
  });
});

describe('a job whose content is gone from the spool', () => {
  it('fails for good with the reason when its turn comes; it is no disk fault', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'lost' }); // not signed in: it waits
    await h.device.idle();
    await rm(path.join(h.dir, 'spool', `${job.id}.json`));
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().grant();
    await h.device.idle();
    expect(h.fake.sent).toEqual([]);
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', storageFault: null, lastError: { reason: 'other', reply: 'the job content is missing from the spool' } });
    expect(h.device.job(job.id)).toMatchObject({ status: 'held', attempts: 1 }); // parked for the operator, as any final failure
  });
});
