/**
 * The runtime at a boot that found the device key changed (issue 13), on real NVRAM and spool with fake ports: from
 * every signed-in state to reauthRequired (device-key-changed) with the job held; the secrets the new key cannot open
 * dropped in the boot's write, so a printer that signed in again is not sent back at the next boot; a key file that
 * cannot be read (rather than a different key) drops nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DeviceHarness } from '../support/deviceHarness.ts';
import { protocolCode, SendFailure } from '../../src/device/failures.ts';
import { TOKEN_CACHE_SECRET } from '../../src/device/device.ts';
import type { LeafState } from '../../machines/oauthDevice.ts';

let h: DeviceHarness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

const keyFile = (d: DeviceHarness) => path.join(d.dir, 'secure-element.key');
const replaceKey = (d: DeviceHarness) => writeFile(keyFile(d), randomBytes(32), { mode: 0o600 });

async function until(cond: () => boolean): Promise<void> {
  for (let waited = 0; !cond(); waited += 5) {
    if (waited > 10_000) throw new Error('condition not reached in 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A signed-in device in `target`, with its job (if the state has one) in flight or parked. */
async function signedIn(target: LeafState): Promise<DeviceHarness> {
  const d = await DeviceHarness.create();
  await d.signIn();
  const job = () => d.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
  if (target === 'sending') {
    d.fake.gateSends();
    await job();
    await until(() => d.device.state() === 'sending');
  } else if (target === 'sendFailure') {
    d.fake.sendResults.push(new SendFailure({ category: 'smtp-auth-disabled', transient: false, reply: '535 5.7.139 ...', code: protocolCode('smtp', '5.7.139') }));
    await job();
    await d.device.idle();
  } else if (target === 'tokenExpired' || target === 'refreshing') {
    await d.advance(60 * 60_000);
    if (target === 'refreshing') {
      d.fake.gateRefreshes();
      await job();
      await until(() => d.device.state() === 'refreshing');
    }
  }
  expect(d.device.state()).toBe(target);
  return d;
}

describe('a boot with the device key changed', () => {
  it.each(['authorized', 'tokenExpired', 'refreshing', 'sending', 'sendFailure'] as const)(
    'from %s: reauthRequired (device-key-changed), the job held, the unopenable cache gone',
    async (state) => {
      h = await signedIn(state);
      const jobId = h.device.status().jobId;
      await replaceKey(h);
      await h.powerCycle();
      expect(h.device.status()).toMatchObject({ state: 'reauthRequired', jobId: null, lastError: { reason: 'device-key-changed' } });
      expect(h.nvram.data.secrets).toEqual({});
      for (const j of h.device.jobs()) expect(j.status).toBe('held');
      if (jobId) expect(h.device.job(jobId)).toMatchObject({ status: 'held' });
      expect(h.device.bootReport()).toMatchObject({ stateBefore: state, stateAfter: 'reauthRequired' });
      expect(h.device.eventLog().filter((e) => e.kind === 'nvram.secrets-discarded').map((e) => e.data)).toEqual([
        { reason: 'device-key-changed', secrets: [TOKEN_CACHE_SECRET] },
      ]);
    },
  );

  it('every secret the new key cannot open goes, so the next boot after a new sign-in is clean', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.nvram.secrets.set('smtp-password', 'Old-Basic-Password-1'); // e.g. sealed by the firmware-1 migration
    await replaceKey(h);
    await h.powerCycle();
    expect(h.device.state()).toBe('reauthRequired');
    expect(Object.keys(h.nvram.data.secrets)).toEqual([]);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().grant();
    await h.device.idle();
    expect(h.device.state()).toBe('authorized');
    await h.powerCycle();
    expect(h.nvram.boot.keyChanged).toBe(false);
    expect(h.device.state()).toBe('authorized');
    expect(h.nvram.secrets.has(TOKEN_CACHE_SECRET)).toBe(true);
  });

  it('a key file that cannot be read drops no secret it might open next time, and the device does not crash', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.nvram.secrets.set('smtp-password', 'Old-Basic-Password-1');
    h.device.stop();
    await h.nvram.close();
    await rm(keyFile(h));
    await mkdir(keyFile(h)); // EISDIR on read: not a different key, an unreadable one
    await h.boot();
    expect(h.device.status()).toMatchObject({ state: 'reauthRequired', lastError: { reason: 'device-key-changed' } });
    // The token cache went with the sign-in (deleteTokens); the other secret is kept for a key that reads again.
    expect(Object.keys(h.nvram.data.secrets)).toEqual(['smtp-password']);
    expect(h.device.eventLog().some((e) => e.kind === 'nvram.secrets-discarded')).toBe(false);
    // Signing in cannot seal the new tokens with no key: a clear failure, nothing half-written.
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().grant();
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'nvram-write-failed', code: { kind: 'storage', value: 'nvram_secret_unavailable' } } });
    expect(h.nvram.secrets.has(TOKEN_CACHE_SECRET)).toBe(false);
  });
});
