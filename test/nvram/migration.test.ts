import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NvramDowngradeError, openNvram } from '../../src/nvram/index.ts';
import { readCommitted } from '../../src/nvram/inspect.ts';
import { FIXTURE_DEVICE, FIXTURE_MSAL_CACHE, FIXTURE_SMTP_PASSWORD } from '../../fixtures/nvram/values.ts';
import { copyFixture, FIXTURES, steppingNow, tempDirs } from './helpers.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

describe('firmware update 1 → 2', () => {
  it('keeps the SMTP settings, adds the new ones with defaults, seals the password, and removes the plaintext', async () => {
    const dir = await dirs.make();
    const file = await copyFixture('firmware-1.img', dir);
    expect((await fs.readFile(file)).includes(FIXTURE_SMTP_PASSWORD)).toBe(true); // firmware 1 really stored it so
    const nvram = await openNvram({ file, now: steppingNow() });
    expect(nvram.boot).toMatchObject({ migratedFrom: 1, recovered: false });
    expect(nvram.data.firmwareVersion).toBe(2);
    expect(nvram.data.device).toEqual(FIXTURE_DEVICE);
    expect(nvram.data.settings.smtp).toEqual({
      smtpServerName: 'smtp.office365.com',
      smtpPort: 587,
      useSecureConnection: true,
      authMethod: 'smtpAuth',
      authUsername: 'scanner@contoso.example',
      adminEmailAddress: 'it-admin@contoso.example',
      authEmailAddress: '',
    });
    expect(nvram.data.settings.cloud).toEqual({ mode: 'twin', authority: null, clientId: null });
    expect(nvram.secrets.get('smtp-password')).toBe(FIXTURE_SMTP_PASSWORD);
    expect(nvram.data.eventLog.map((e) => e.kind)).toEqual(['boot', 'settings', 'nvram.migrated']);
    expect(nvram.data.eventLog.at(-1)!.message).toMatch(/firmware 1 to 2.*password sealed/);
    expect(JSON.stringify(nvram.data)).not.toContain('smtpPassword');
    await nvram.close();
    const raw = await fs.readFile(file);
    expect(raw.includes(FIXTURE_SMTP_PASSWORD)).toBe(false); // neither bank keeps firmware-1 content
    expect(raw.includes('smtpPassword')).toBe(false);
    const again = await openNvram({ file });
    expect(again.boot.migratedFrom).toBeNull();
    expect(again.stats().banks.every((b) => b.valid && b.firmwareVersion === 2)).toBe(true);
    expect(again.secrets.get('smtp-password')).toBe(FIXTURE_SMTP_PASSWORD);
    await again.close();
  });

  it('opens a firmware-2 image as is, with its sealed secrets under the fixture key', async () => {
    const dir = await dirs.make();
    const file = await copyFixture('firmware-2.img', dir);
    const nvram = await openNvram({ file, keyFile: path.join(FIXTURES, 'firmware-2.key') });
    expect(nvram.boot).toMatchObject({ bank: 'B', seq: 2, migratedFrom: null, recovered: false });
    expect(nvram.data.settings.smtp.authMethod).toBe('oauth2ExchangeOnline');
    expect(nvram.secrets.get('msal-cache')).toBe(FIXTURE_MSAL_CACHE);
    await nvram.close();
  });
});

describe('downgrade', () => {
  it.each([
    ['firmware-3.img', {}, 3, 2],
    ['firmware-2.img', { firmwareVersion: 1 }, 2, 1],
  ])('refuses %s (%o) with a clear error and leaves every byte as it was', async (fixture, extra, imageFw, runningFw) => {
    const dir = await dirs.make();
    const file = await copyFixture(fixture, dir);
    const before = await fs.readFile(file);
    const attempt = () => openNvram({ file, keyFile: path.join(dir, 'k'), ...extra });
    const err = await attempt().catch((e) => e);
    expect(err).toBeInstanceOf(NvramDowngradeError);
    expect(err).toMatchObject({ code: 'nvram_downgrade', imageFirmware: imageFw, runningFirmware: runningFw });
    expect(err.message).toMatch(new RegExp(`written by firmware ${imageFw}, this is firmware ${runningFw}: downgrade refused`));
    expect((await fs.readFile(file)).equals(before)).toBe(true);
    // The lock was released: a second attempt gets the same answer, not "locked".
    await expect(attempt()).rejects.toBeInstanceOf(NvramDowngradeError);
    expect((await readCommitted(file))?.content).toMatchObject({ firmwareVersion: imageFw });
  });
});
