/**
 * Booting the firmware on images it did not write itself: a firmware-1 image (SMTP basic AUTH only), a downgrade,
 * and damaged images. And restore after POWER_CYCLE from every state of the statechart.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { copyFile, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { openNvram, NvramDowngradeError } from '../../src/nvram/index.ts';
import { protocolCode, RefreshFailure, SendFailure } from '../../src/device/failures.ts';
import type { LeafState } from '../../machines/oauthDevice.ts';
import { FIXTURE_SMTP_PASSWORD } from '../../fixtures/nvram/values.ts';

const FIXTURES = path.resolve('fixtures/nvram');
let h: DeviceHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

async function withImage(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-boot-'));
  await copyFile(path.join(FIXTURES, name), path.join(dir, 'nvram.json'));
  return dir;
}

describe('firmware update and damaged images', () => {
  it('firmware 2 on a firmware-1 image: SMTP settings kept, OAuth fields added, basic with the migrated password is authorized', async () => {
    const dir = await withImage('firmware-1.img');
    h = await DeviceHarness.create(dir);
    // Basic needs no sign-in: the sealed password lets the updated printer send as it did before the update.
    expect(h.device.status()).toMatchObject({ state: 'authorized', tokenExpiresAt: null });
    const s = h.device.settings();
    expect(s.authMethod).toBe('smtpAuth');
    expect(s.authEmailAddress).toBe('');
    expect(h.nvram.boot.migratedFrom).toBe(1);
    expect(await readFile(h.file, 'latin1')).not.toContain(FIXTURE_SMTP_PASSWORD);
    // The admin then follows the seed: choose OAuth, fill the two addresses.
    await h.device.saveSettings({ authMethod: 'oauth2ExchangeOnline', authEmailAddress: 'scanner@contoso.com', authUsername: 'scanner@contoso.com' });
    expect(h.device.state()).toBe('ready');
    expect(h.device.settings().smtpServerName).toBe(s.smtpServerName);
  });

  it('refuses a downgrade (image from newer firmware) and leaves the image untouched', async () => {
    const dir = await withImage('firmware-3.img');
    const file = path.join(dir, 'nvram.json');
    const before = await readFile(file);
    await expect(openNvram({ file })).rejects.toBeInstanceOf(NvramDowngradeError);
    await expect(openNvram({ file })).rejects.toThrow(/firmware/i);
    expect((await readFile(file)).equals(before)).toBe(true);
  });

  it.each(['crc-mismatch.img', 'truncated-header.img', 'truncated-newest.img', 'garbage.img', 'empty.img'])(
    'boots to a valid state from %s, with an event-log entry when it recovered',
    async (name) => {
      const dir = await withImage(name);
      h = await DeviceHarness.create(dir);
      expect(['unconfigured', 'ready']).toContain(h.device.state());
      const kinds = h.nvram.data.eventLog.map((e) => e.kind + ' ' + e.message);
      if (h.nvram.boot.recovered) expect(kinds.join('\n')).toMatch(/recover|invalid|default/i);
      await h.close();
      h = await DeviceHarness.create(dir); // and boots again from what it wrote
      expect(['unconfigured', 'ready']).toContain(h.device.state());
    },
  );
});

/** Polls (the spool's fsyncs take real time) until `cond` holds, for at most 10 s. */
async function until(cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 5) {
    if (waited > 10_000) throw new Error('condition not reached in 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Drives a fresh device (fake ports) into `target`; refreshes and sends in flight are parked on gates. */
async function reach(target: LeafState): Promise<DeviceHarness> {
  const d = await DeviceHarness.create();
  const { device, fake } = d;
  const idle = () => device.idle();
  if (target === 'unconfigured') return d;
  await device.saveSettings(OAUTH_SETTINGS);
  if (target === 'ready') return d;
  fake.holdCodes = target === 'requestingCode';
  await device.send({ type: 'START_AUTH' });
  if (target === 'requestingCode') return d;
  await idle();
  if (target === 'codePending') return d;
  if (target === 'authFailed') {
    await d.advance(900_000);
    return d;
  }
  fake.lastSignIn().grant();
  await idle();
  if (target === 'authorized') return d;
  if (target === 'sending') {
    fake.gateSends();
    await device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await until(() => device.state() === target);
    return d;
  }
  if (target === 'sendFailure') {
    fake.sendResults.push(new SendFailure({ category: 'smtp-auth-disabled', transient: false, reply: '535 5.7.139 ...', code: protocolCode('smtp', '5.7.139') }));
    await device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await idle();
    return d;
  }
  await d.advance(60 * 60_000);
  if (target === 'tokenExpired') return d;
  if (target === 'refreshing') {
    fake.gateRefreshes();
    await device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await until(() => device.state() === target);
    return d;
  }
  fake.refreshResults.push(new RefreshFailure({ transient: false, reason: 'password-changed', code: protocolCode('aadsts', '50173') }));
  await device.submitJob({ to: ['a@contoso.com'], subject: 's' });
  await idle();
  return d; // reauthRequired
}

describe('restore after POWER_CYCLE from every state', () => {
  // [state before the power cut, state right after boot, state once the device settled]
  const cases: [LeafState, LeafState, LeafState][] = [
    ['unconfigured', 'unconfigured', 'unconfigured'],
    ['ready', 'ready', 'ready'],
    ['requestingCode', 'authFailed', 'authFailed'],
    ['codePending', 'authFailed', 'authFailed'],
    ['authFailed', 'authFailed', 'authFailed'],
    ['authorized', 'authorized', 'authorized'],
    ['tokenExpired', 'tokenExpired', 'tokenExpired'],
    ['refreshing', 'tokenExpired', 'authorized'], // the waiting job goes back to the spool, then out
    ['sending', 'authorized', 'authorized'], // the job goes back to the spool, then out (at-least-once)
    ['sendFailure', 'sendFailure', 'sendFailure'],
    ['reauthRequired', 'reauthRequired', 'reauthRequired'],
  ];
  it.each(cases)('%s comes back as %s (then settles in %s)', async (from, booted, settled) => {
    h = await reach(from);
    expect(h.device.state()).toBe(from);
    const jobsBefore = h.device.jobs().filter((j) => j.status !== 'sent' && j.status !== 'failed').map((j) => j.id);
    h.device.stop();
    await h.nvram.close();
    h.fake.sendGate = null;
    h.fake.refreshGate = null;
    h.fake.holdCodes = false;
    const seen: string[] = [];
    await h.boot();
    const firstBootTransition = h.nvram.data.eventLog.filter((e) => e.message.includes('on POWER_CYCLE')).at(-1);
    seen.push(firstBootTransition?.message ?? `(no transition) ${h.device.state()}`);
    expect(seen[0]).toMatch(new RegExp(`→ ${booted} on POWER_CYCLE|${booted}`));
    await h.device.idle();
    expect(h.device.state()).toBe(settled);
    if (from === 'requestingCode' || from === 'codePending') {
      expect(h.device.status().lastError?.reason).toBe('interrupted-by-restart');
    }
    // No acknowledged job is lost: each is still in the spool or was delivered.
    for (const id of jobsBefore) expect(['queued', 'sending', 'held', 'sent']).toContain(h.device.job(id)?.status);
    if (from === 'sending' || from === 'refreshing') {
      expect(h.device.job(jobsBefore[0]!)?.status).toBe('sent');
    }
  });
});

describe('a job the operator retried is back in the spool after a power cut', () => {
  // pairs-63 (docs/model-based-testing.md): a permanent send failure parks the job as held; the operator's Retry with
  // a stale token takes it into refreshing. A power cut there must give it back to the spool as queued, so that the
  // pump takes it again once the printer is up (it stayed held, and nothing but a new sign-in released it).
  it('refreshing for a retried job comes back as tokenExpired, the job queued, then it goes out', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'smtp-auth-disabled', transient: false, reply: '535 5.7.139 ...', code: protocolCode('smtp', '5.7.139') }));
    const job = await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'held' });
    await h.advance(60 * 60_000); // ACCESS_TOKEN_DEADLINE in sendFailure: the retry will need a fresh token
    expect(h.device.state()).toBe('sendFailure');
    h.fake.gateRefreshes();
    await h.device.send({ type: 'RETRY' });
    await until(() => h!.device.state() === 'refreshing');
    // The operator's Retry un-parks the job: it waits for the refresh, as a job the pump handed over does.
    expect(h.device.job(job.id)).toMatchObject({ status: 'queued' });
    h.device.stop();
    await h.nvram.close();
    h.fake.refreshGate = null;
    await h.clock.advance(24 * 3_600_000);
    await h.boot();
    expect(h.nvram.data.eventLog.map((e) => e.message)).toContain('refreshing → tokenExpired on POWER_CYCLE');
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', attempts: 2 });
    expect(h.device.state()).toBe('authorized');
  });
});
