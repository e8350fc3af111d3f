/** The administrator password: generated once on first boot, kept only as a scrypt hash, replaced when set explicitly. */
import { afterEach, describe, expect, it } from 'vitest';
import { verifyPassword } from '../../src/device/admin.ts';
import { DeviceHarness } from '../support/deviceHarness.ts';

let h: DeviceHarness;
afterEach(async () => {
  await h?.close();
});

describe('admin credential', () => {
  it('generates a password on first boot only, and stores only its hash', async () => {
    h = await DeviceHarness.create();
    const first = await h.device.admin.ensure(undefined);
    expect(first.generatedPassword).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(JSON.stringify(h.nvram.data)).not.toContain(first.generatedPassword!);
    expect(await verifyPassword(first.generatedPassword!, h.device.admin.stored()!)).toBe(true);
    expect(await verifyPassword('something else', h.device.admin.stored()!)).toBe(false);

    await h.powerCycle();
    expect((await h.device.admin.ensure(undefined)).generatedPassword).toBeNull();
    expect(await verifyPassword(first.generatedPassword!, h.device.admin.stored()!)).toBe(true);
  });

  it('an explicit password replaces the stored one; the same password again writes nothing', async () => {
    h = await DeviceHarness.create();
    await h.device.admin.ensure(undefined);
    await h.device.admin.ensure('Explicit-Pass-9');
    const hash = h.device.admin.stored()!;
    expect(await verifyPassword('Explicit-Pass-9', hash)).toBe(true);
    const writes = h.nvram.stats().banks.reduce((n, b) => n + b.writes, 0);
    await h.device.admin.ensure('Explicit-Pass-9');
    expect(h.nvram.stats().banks.reduce((n, b) => n + b.writes, 0)).toBe(writes);
    expect(h.device.admin.stored()!.salt).toBe(hash.salt);
  });
});

describe('admin credential as a device operation', () => {
  it('check and change go through the device; bad input changes nothing', async () => {
    h = await DeviceHarness.create();
    await h.device.admin.ensure('First-Pass-1');
    expect(await h.device.admin.check('First-Pass-1')).toBe(true);
    await h.device.admin.change('Second-Pass-2');
    expect(await h.device.admin.check('First-Pass-1')).toBe(false);
    expect(await h.device.admin.check('Second-Pass-2')).toBe(true);
    const before = h.device.admin.stored();
    await expect(h.device.admin.change('')).rejects.toThrow(/non-empty/);
    expect(h.device.admin.stored()).toEqual(before);
  });
});
