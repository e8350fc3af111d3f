/** The administrator password: generated once on first boot, kept only as a scrypt hash, replaced when set explicitly. */
import { afterEach, describe, expect, it } from 'vitest';
import { ensureAdminCredential, storedHash, verifyPassword } from '../../src/panel/credentials.ts';
import { DeviceHarness } from '../support/deviceHarness.ts';

let h: DeviceHarness;
afterEach(async () => {
  await h?.close();
});

describe('admin credential', () => {
  it('generates a password on first boot only, and stores only its hash', async () => {
    h = await DeviceHarness.create();
    const first = await ensureAdminCredential(h.nvram, undefined);
    expect(first.generatedPassword).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(JSON.stringify(h.nvram.data)).not.toContain(first.generatedPassword!);
    expect(await verifyPassword(first.generatedPassword!, storedHash(h.nvram)!)).toBe(true);
    expect(await verifyPassword('something else', storedHash(h.nvram)!)).toBe(false);

    await h.powerCycle();
    expect((await ensureAdminCredential(h.nvram, undefined)).generatedPassword).toBeNull();
    expect(await verifyPassword(first.generatedPassword!, storedHash(h.nvram)!)).toBe(true);
  });

  it('an explicit password replaces the stored one; the same password again writes nothing', async () => {
    h = await DeviceHarness.create();
    await ensureAdminCredential(h.nvram, undefined);
    await ensureAdminCredential(h.nvram, 'Explicit-Pass-9');
    const hash = storedHash(h.nvram)!;
    expect(await verifyPassword('Explicit-Pass-9', hash)).toBe(true);
    const writes = h.nvram.stats().banks.reduce((n, b) => n + b.writes, 0);
    await ensureAdminCredential(h.nvram, 'Explicit-Pass-9');
    expect(h.nvram.stats().banks.reduce((n, b) => n + b.writes, 0)).toBe(writes);
    expect(storedHash(h.nvram)!.salt).toBe(hash.salt);
  });
});
