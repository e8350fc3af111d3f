/** Token lifetime end to end: expiry and refresh on the virtual clock, power cycles, and the ways a refresh token dies. */
import { afterEach, describe, expect, it } from 'vitest';
import { TOKEN_CACHE_SECRET } from '../../src/device/device.ts';
import { DAY, HOUR, MINUTE, RECIPIENT, SCANNER, SETTINGS, cachedTokens, jobOf, signIn, startE2E, submitScan, waitForState, type E2ESim } from './support.ts';

const FRONT_DESK = 'frontdesk@contoso.com';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('tokens over time', () => {
  it('the access token expires after an idle stretch; the next send refreshes it first', async () => {
    sim = await startE2E();
    const startedAt = sim.clock.now();
    await signIn(sim);
    const before = cachedTokens(sim);
    expect(before.accessTokens).toHaveLength(1);
    expect(before.refreshTokens).toHaveLength(1);

    // The deadline is the server's expires_in (60–90 min on the twin) less MSAL's 5-minute margin.
    const deadline = sim.device.deadlines().ACCESS_TOKEN_DEADLINE!;
    expect(deadline).toBe(sim.device.status().tokenExpiresAt! - 5 * MINUTE);
    await sim.advance(deadline - sim.clock.now() - 1);
    expect(sim.device.state()).toBe('authorized');
    await sim.advance(1);
    expect(sim.device.state()).toBe('tokenExpired');
    await sim.advance(91 * MINUTE - (sim.clock.now() - startedAt));

    const job = await submitScan(sim);
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
    const after = cachedTokens(sim);
    expect(after.accessTokens).toHaveLength(1);
    expect(after.accessTokens[0]).not.toBe(before.accessTokens[0]);
    // Refresh tokens rotate on every refresh.
    expect(after.refreshTokens[0]).not.toBe(before.refreshTokens[0]);
    expect(sim.device.status().tokenExpiresAt! - sim.clock.now()).toBeGreaterThanOrEqual(HOUR - MINUTE);
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(1);
  });

  it('a night off (10 h power cycle) keeps the sign-in; the morning send refreshes and goes out', async () => {
    sim = await startE2E();
    await signIn(sim);
    const boots: string[] = [];
    sim.onBoot((d) => boots.push(d.state()));
    await sim.powerCycle(10 * HOUR);
    expect(boots).toEqual(['tokenExpired']);
    expect(sim.device.status().account).toBe(SCANNER);
    const job = await submitScan(sim, 'Morning scan');
    await sim.device.idle();
    expect(jobOf(sim, job.id)).toMatchObject({ status: 'sent' });
    expect(sim.device.state()).toBe('authorized');
    expect(sim.twin!.control.messages(RECIPIENT).map((m) => m.messageId)).toEqual([job.messageId]);
  });

  it('a password reset kills the refresh token: reauthRequired, the job is held, not lost', async () => {
    sim = await startE2E();
    await signIn(sim);
    await sim.advance(91 * MINUTE);
    sim.twin!.control.resetPassword(SCANNER, 'A-New-Password-2026!');
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status()).toMatchObject({ state: 'reauthRequired', lastError: { reason: 'password-changed', code: { kind: 'aadsts', value: '50173' } } });
    expect(jobOf(sim, job.id).status).toBe('held');
    expect(cachedTokens(sim).refreshTokens).toHaveLength(0);

    // Signing in again sends the held job.
    await sim.device.send({ type: 'START_AUTH' });
    await sim.device.idle();
    sim.twin!.control.approveDeviceCode(sim.device.status().userCode!, SCANNER);
    await waitForState(sim, 'authorized');
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
  });

  it('90 days unused: the refresh token has died (AADSTS700082) → reauthRequired', async () => {
    sim = await startE2E();
    await signIn(sim);
    await sim.advance(91 * DAY);
    expect(sim.device.state()).toBe('tokenExpired');
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status()).toMatchObject({ state: 'reauthRequired', lastError: { reason: 'refresh-token-expired', code: { kind: 'aadsts', value: '700082' } } });
    expect(jobOf(sim, job.id).status).toBe('held');
  });

  it('Entra unreachable during a refresh is transient: the tokens stay and the retry succeeds', async () => {
    sim = await startE2E();
    await signIn(sim);
    await sim.advance(91 * MINUTE);
    sim.twin!.faults.add({ target: 'token', action: { kind: 'drop' } });
    const job = await submitScan(sim);
    await sim.device.idle();
    const status = sim.device.status();
    expect(status).toMatchObject({ state: 'tokenExpired', lastError: { reason: 'network' } });
    expect(cachedTokens(sim).refreshTokens).toHaveLength(1);
    await sim.advance(status.retryAt! - sim.clock.now());
    expect(jobOf(sim, job.id).status).toBe('sent');
  });

  it('a 503 with Retry-After from Entra is transient and its Retry-After is honoured', async () => {
    sim = await startE2E();
    await signIn(sim);
    await sim.advance(91 * MINUTE);
    sim.twin!.faults.add({ target: 'token', action: { kind: 'throttle', retryAfterSeconds: 600 } });
    const job = await submitScan(sim);
    await sim.device.idle();
    const status = sim.device.status();
    expect(status).toMatchObject({ state: 'tokenExpired', lastError: { reason: 'throttled', code: { kind: 'http', value: '429' } } });
    expect(status.retryAt! - sim.clock.now()).toBe(600_000);
    await sim.advance(600_000);
    expect(jobOf(sim, job.id).status).toBe('sent');
  });

  it('SIGN_OUT deletes the tokens from NVRAM and from MSAL’s memory', async () => {
    sim = await startE2E();
    await signIn(sim);
    await sim.device.send({ type: 'SIGN_OUT' });
    expect(sim.device.state()).toBe('ready');
    expect(cachedTokens(sim).refreshTokens).toHaveLength(0);
    const oauth = sim.internals.adapters.oauth!;
    await expect(oauth.accessToken({ account: SCANNER })).rejects.toMatchObject({ transient: false, reason: 'no-token' });
    await expect(oauth.refresh({ account: SCANNER })).rejects.toMatchObject({ transient: false, reason: 'no-token' });
    expect(await oauth.pca.getTokenCache().getAllAccounts()).toEqual([]);
  });

  it('after SIGN_OUT, signing in as another account leaves none of the first account’s tokens in NVRAM or MSAL', async () => {
    sim = await startE2E();
    await signIn(sim);
    const first = cachedTokens(sim);
    await sim.device.send({ type: 'SIGN_OUT' });
    await signIn(sim, { ...SETTINGS, authEmailAddress: FRONT_DESK, authUsername: FRONT_DESK });
    const second = cachedTokens(sim);
    expect(second.refreshTokens).toHaveLength(1);
    // MSAL merges what it deserializes into what it holds: the signed-out account must not be written back.
    for (const token of [...first.refreshTokens, ...first.accessTokens, ...first.idTokens]) {
      expect(second.refreshTokens.concat(second.accessTokens, second.idTokens)).not.toContain(token);
    }
    const raw = sim.internals.nvram.secrets.get(TOKEN_CACHE_SECRET)!;
    expect(raw).not.toContain(SCANNER);
    const oauth = sim.internals.adapters.oauth!;
    expect((await oauth.pca.getTokenCache().getAllAccounts()).map((a) => a.username)).toEqual([FRONT_DESK]);
    await expect(oauth.refresh({ account: SCANNER })).rejects.toMatchObject({ transient: false, reason: 'no-token' });
  });
});
