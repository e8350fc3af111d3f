/**
 * effects.ts's failure → event rules on their own (signInFailedEvent, commitFailedEvent), and what the device
 * surface answers directly (can(), the settings' input errors, the token texts of a held cache, each job's own
 * Message-ID, the retry jitter setting).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { commitFailedEvent, signInFailedEvent } from '../../src/device/effects.ts';
import { protocolCode, SendFailure, SignInFailure } from '../../src/device/failures.ts';
import { StorageFaultError } from '../../src/device/storage-fault.ts';
import path from 'node:path';
import { createDevice, TOKEN_CACHE_SECRET } from '../../src/device/device.ts';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';

describe('signInFailedEvent', () => {
  const f = (kind: SignInFailure['kind']) => new SignInFailure({ kind, reason: kind, reply: `${kind} reply` });

  it('a cancelled sign-in reports nothing, with or without a code', () => {
    expect(signInFailedEvent(f('cancelled'), true)).toBeNull();
    expect(signInFailedEvent(f('cancelled'), false)).toBeNull();
  });

  it('a failed code request is CODE_FAILED even if a code had been seen; anything before a code is too', () => {
    expect(signInFailedEvent(f('code-request-failed'), true)).toMatchObject({ type: 'CODE_FAILED', reason: 'code-request-failed', reply: 'code-request-failed reply' });
    expect(signInFailedEvent(f('code-request-failed'), false)).toMatchObject({ type: 'CODE_FAILED' });
    expect(signInFailedEvent(f('declined'), false)).toMatchObject({ type: 'CODE_FAILED', reason: 'declined' });
  });

  it('after a code: declined, expired, and everything else is a polling failure', () => {
    expect(signInFailedEvent(f('declined'), true)).toMatchObject({ type: 'AUTH_DECLINED' });
    expect(signInFailedEvent(f('expired'), true)).toMatchObject({ type: 'CODE_EXPIRED' });
    expect(signInFailedEvent(f('poll-failed'), true)).toMatchObject({ type: 'POLL_FAILED' });
  });

  it('something that is not a SignInFailure: unexpected, with its words', () => {
    expect(signInFailedEvent(new Error('boom'), true)).toEqual({ type: 'POLL_FAILED', reason: 'unexpected', code: null, reply: 'Error: boom' });
    expect(signInFailedEvent('boom', false)).toEqual({ type: 'CODE_FAILED', reason: 'unexpected', code: null, reply: 'boom' });
  });
});

describe('commitFailedEvent', () => {
  const code: import('../../machines/oauthDevice.ts').DeviceEvent = { type: 'CODE_ISSUED', userCode: 'X', verificationUri: 'https://x', expiresAt: 1 };
  const grant: import('../../machines/oauthDevice.ts').DeviceEvent = { type: 'TOKEN_GRANTED', account: 'a@contoso.com', accessTokenExpiresAt: 1 };

  it('an errno from the disk is tagged as a storage code; anything else carries no code', () => {
    const enospc = Object.assign(new Error('no space left'), { code: 'ENOSPC' });
    expect(commitFailedEvent('signIn', code, enospc, 0, 0)).toEqual({ type: 'CODE_FAILED', reason: 'nvram-write-failed', code: protocolCode('storage', 'ENOSPC'), reply: 'no space left' });
    expect(commitFailedEvent('signIn', grant, new Error('full'), 0, 0)).toEqual({ type: 'POLL_FAILED', reason: 'nvram-write-failed', code: null, reply: 'full' });
    expect(commitFailedEvent('signIn', grant, Object.assign(new Error('odd'), { code: 28 }), 0, 0)).toMatchObject({ code: null });
    expect(commitFailedEvent('signIn', grant, Object.assign(new Error('odd'), { code: '' }), 0, 0)).toMatchObject({ code: null });
    expect(commitFailedEvent('signIn', grant, 'plain words', 0, 0)).toEqual({ type: 'POLL_FAILED', reason: 'nvram-write-failed', code: null, reply: 'plain words' });
    expect(commitFailedEvent('signIn', grant, undefined, 0, 0)).toMatchObject({ reply: 'undefined', code: null });
  });

  it('a storage fault says which way the disk failed, with its errno and message', () => {
    const err = new StorageFaultError({ reason: 'storage-full', area: 'nvram', operation: 'write', code: 'ENOSPC', message: 'ENOSPC: no space left on device' });
    expect(commitFailedEvent('signIn', grant, err, 0, 0)).toEqual({ type: 'POLL_FAILED', reason: 'storage-full', code: protocolCode('storage', 'ENOSPC'), reply: err.message });
  });

  it('a refresh becomes a transient REFRESH_FAILED on the retry schedule; a send becomes nothing (it stays spooled)', () => {
    expect(commitFailedEvent('refresh', { type: 'REFRESHED', accessTokenExpiresAt: 1 }, new Error('full'), 1, 1000)).toEqual({
      type: 'REFRESH_FAILED',
      transient: true,
      retryAt: 1000 + 120_000,
      reason: 'nvram-write-failed',
      code: null,
      reply: 'full',
    });
    expect(commitFailedEvent('submit', { type: 'SENT', reply: '250' }, new Error('full'), 0, 0)).toBeNull();
  });
});

let h: DeviceHarness;
afterEach(async () => h?.close());

describe('the device surface', () => {
  it('can() is the statechart’s answer for the current state', async () => {
    h = await DeviceHarness.create();
    expect(h.device.can('START_AUTH')).toBe(false); // unconfigured
    await h.device.saveSettings(OAUTH_SETTINGS);
    expect(h.device.can('START_AUTH')).toBe(true);
    expect(h.device.can('CANCEL_AUTH')).toBe(false);
  });

  it('settings that are not an object, or do not pass, are refused with words that say so', async () => {
    h = await DeviceHarness.create();
    await expect(h.device.saveSettings('x')).rejects.toMatchObject({ message: 'invalid SMTP settings: expected an object', fields: { '(body)': 'must be an object' } });
    await expect(h.device.saveSettings({ smtpPort: 0 })).rejects.toThrow(/SMTP settings/);
  });

  it('heldTokenTexts: the string secrets of 16 characters or more in the sealed cache', async () => {
    h = await DeviceHarness.create();
    expect(h.device.heldTokenTexts()).toEqual([]);
    const cache = {
      AccessToken: { a: { secret: 'a'.repeat(16) }, short: { secret: 'b'.repeat(15) } },
      RefreshToken: { r: { secret: 'r'.repeat(40) }, odd: { secret: Array.from({ length: 20 }, () => 'x') } },
      IdToken: { i: { secret: 'i'.repeat(17) } },
      Account: { x: { secret: 'n'.repeat(30) } },
    };
    await h.nvram.secrets.set(TOKEN_CACHE_SECRET, JSON.stringify(cache));
    expect(h.device.heldTokenTexts()).toEqual(['a'.repeat(16), 'r'.repeat(40), 'i'.repeat(17)]);
    await h.nvram.secrets.set(TOKEN_CACHE_SECRET, 'not json');
    expect(h.device.heldTokenTexts()).toEqual([]);
  });

  it('each job goes out with its own Message-ID', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const release = h.fake.gateSends();
    const first = await h.device.submitJob({ to: ['a@contoso.com'], subject: 'one' });
    const second = await h.device.submitJob({ to: ['b@contoso.com'], subject: 'two' });
    release();
    await h.device.idle();
    expect(h.fake.sent.map((s) => [s.subject, s.messageId])).toEqual([
      ['one', first.messageId],
      ['two', second.messageId],
    ]);
    expect(first.messageId).not.toBe(second.messageId);
  });

  it('the retry jitter setting spreads a send retry', async () => {
    // DeviceHarness boots without jitter: power its device off and boot one with jitter over the same NVRAM.
    h = await DeviceHarness.create();
    h.device.stop();
    h.device = await createDevice({ nvram: h.nvram, clock: h.clock, ports: h.fake.ports, spoolDir: path.join(h.dir, 'spool'), retryJitter: { fraction: 0.5, random: () => 1 } });
    await h.device.idle();
    await h.signIn();
    h.fake.sendResults.push(new SendFailure({ category: 'network', transient: true, reply: 'ECONNRESET' }));
    await h.device.submitJob({ to: ['a@contoso.com'], subject: 's' });
    await h.device.idle();
    expect(h.device.status()).toMatchObject({ state: 'sendFailure', retryAt: h.clock.now() + 15_000 });
  });
});
