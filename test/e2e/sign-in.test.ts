/** Sign-ins that end without a token, end to end: each failure arrives in authFailed with its reason and code. */
import { afterEach, describe, expect, it } from 'vitest';
import { MINUTE, SETTINGS, startE2E, startSignIn, waitForState, watchSignIns, type E2ESim } from './support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('sign-in failures', () => {
  it('a user who presses Cancel at Microsoft: authFailed, declined', async () => {
    sim = await startE2E();
    const userCode = await startSignIn(sim);
    expect(sim.device.status().verificationUri).toBe(`${sim.twin!.entraUrl}/devicelogin`);
    sim.twin!.control.declineDeviceCode(userCode);
    await waitForState(sim, 'authFailed');
    expect(sim.device.status().lastError).toMatchObject({ reason: 'declined', code: { kind: 'oauth', value: 'authorization_declined' } });
    expect(sim.device.status().userCode).toBeNull();
  });

  it('nobody enters the code for 15 minutes: the device deadline ends the sign-in and stops MSAL polling', async () => {
    sim = await startE2E();
    const userCode = await startSignIn(sim);
    expect(sim.device.deadlines().CODE_DEADLINE).toBe(sim.clock.now() + 15 * MINUTE);
    await sim.advance(15 * MINUTE);
    expect(sim.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'code-expired' } });
    // The twin agrees the code is dead, and a retry starts a fresh sign-in with a new code.
    expect(() => sim!.twin!.control.approveDeviceCode(userCode, SETTINGS.authUsername)).toThrow(/expired/);
    await sim.device.send({ type: 'START_AUTH' });
    await sim.device.idle();
    expect(sim.device.status().state).toBe('codePending');
    expect(sim.device.status().userCode).not.toBe(userCode);
  });

  it.each([
    ['expired_token', 70019],
    ['code_expired', 70020],
  ])('Entra answers %s (AADSTS%i) while polling: authFailed, code-expired', async (error, aadsts) => {
    sim = await startE2E();
    sim.twin!.faults.add({ target: 'token', action: { kind: 'error', error, aadsts, description: 'This device code has expired.' } });
    await sim.device.saveSettings(SETTINGS);
    await sim.device.send({ type: 'START_AUTH' });
    await waitForState(sim, 'authFailed');
    expect(sim.device.status().lastError).toMatchObject({ reason: 'code-expired', code: { kind: 'aadsts', value: String(aadsts) } });
  });

  it('slow_down, which msal-node treats as final: authFailed with a clear reason', async () => {
    sim = await startE2E();
    sim.twin!.faults.add({ target: 'token', action: { kind: 'error', error: 'slow_down' } });
    await sim.device.saveSettings(SETTINGS);
    await sim.device.send({ type: 'START_AUTH' });
    await waitForState(sim, 'authFailed');
    expect(sim.device.status().lastError).toMatchObject({ reason: 'slow-down', code: { kind: 'oauth', value: 'slow_down' } });
    expect(sim.device.status().lastError!.reply).toMatch(/poll more slowly/);
  });

  it('consent missing for the app (AADSTS65001) and the flow blocked by Conditional Access (AADSTS53003)', async () => {
    sim = await startE2E();
    sim.twin!.control.patchTenant({ consentGranted: false });
    let code = await startSignIn(sim);
    sim.twin!.control.approveDeviceCode(code, SETTINGS.authUsername);
    await waitForState(sim, 'authFailed');
    expect(sim.device.status().lastError).toMatchObject({ reason: 'consent-required', code: { kind: 'aadsts', value: '65001' } });

    sim.twin!.control.patchTenant({ consentGranted: true, blockDeviceCodeFlow: true });
    await sim.device.send({ type: 'START_AUTH' });
    await sim.device.idle();
    code = sim.device.status().userCode!;
    sim.twin!.control.approveDeviceCode(code, SETTINGS.authUsername);
    await waitForState(sim, 'authFailed');
    expect(sim.device.status().lastError).toMatchObject({ reason: 'blocked-by-policy', code: { kind: 'aadsts', value: '53003' } });
  });

  it('an unknown client id (AADSTS700016) fails the code request itself: no code is shown', async () => {
    sim = await startE2E({ clientId: '11111111-2222-4333-8444-555555555555' });
    await sim.device.saveSettings(SETTINGS);
    await sim.device.send({ type: 'START_AUTH' });
    await waitForState(sim, 'authFailed');
    expect(sim.device.status()).toMatchObject({ userCode: null, lastError: { reason: 'unknown-client', code: { kind: 'aadsts', value: '700016' } } });
    expect(sim.device.status().lastError!.reply).toMatch(/^AADSTS700016: /);
  });

  it('Entra unreachable when the code is requested (connection dropped): authFailed, network', async () => {
    sim = await startE2E();
    sim.twin!.faults.add({ target: 'devicecode', action: { kind: 'drop' } });
    await sim.device.saveSettings(SETTINGS);
    await sim.device.send({ type: 'START_AUTH' });
    await waitForState(sim, 'authFailed');
    expect(sim.device.status().lastError).toMatchObject({ reason: 'network' });
  });

  it('a cancel on the panel stops MSAL polling; the twin code stays unanswered', async () => {
    const signIns = watchSignIns();
    sim = await startE2E({ wrapPorts: signIns.wrapPorts });
    const userCode = await startSignIn(sim);
    await sim.device.send({ type: 'CANCEL_AUTH' });
    expect(sim.device.state()).toBe('ready');
    // Approving afterwards grants nothing on the device: MSAL stops at its next poll (or, if a poll was already in
    // flight, its answer comes back to an effect that is no longer current), and the outcome is dropped.
    sim.twin!.control.approveDeviceCode(userCode, SETTINGS.authUsername);
    await signIns.ended(); // msal-node's polling call has returned
    await sim.device.idle();
    expect(sim.device.state()).toBe('ready');
  });
});
