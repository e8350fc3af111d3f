/**
 * The status page's operator buttons follow the statechart's `can()`, not a list of states in the panel: a copy of
 * the machine with one guard changed makes the button go, and the "Renew now" of tokenExpired (RETRY → refreshing)
 * is shown because the statechart takes RETRY there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { oauthDeviceMachine } from '../../machines/oauthDevice.ts';
import { protocolCode, SignInFailure } from '../../src/device/failures.ts';
import { csrfFrom, login, panelUnderTest, type PanelUnderTest } from './support.ts';
import { OAUTH_SETTINGS } from '../support/deviceHarness.ts';

let p: PanelUnderTest | undefined;
afterEach(async () => {
  await p?.close();
  p = undefined;
});

const statusPage = async (pt: PanelUnderTest) => {
  const { cookie } = await login(pt.app);
  return (await pt.app.inject({ method: 'GET', url: '/status', headers: { cookie } })).body;
};

/** The machine with authFailed's DISMISS behind a guard that refuses. */
function machineWithoutDismiss() {
  const config = oauthDeviceMachine.config as any;
  const authFailed = config.states.authFailed;
  return createMachine(
    { ...config, states: { ...config.states, authFailed: { ...authFailed, on: { ...authFailed.on, DISMISS: { ...authFailed.on.DISMISS, guard: () => false } } } } },
    oauthDeviceMachine.implementations as any,
  );
}

describe('panel buttons follow can()', () => {
  it('Dismiss in authFailed is shown with the real machine and gone when a copy guards it off', async () => {
    p = await panelUnderTest();
    const h = p.sim.harness;
    h.fake.nextCodeFailure = new SignInFailure({ kind: 'code-request-failed', reason: 'unknown-client', code: protocolCode('aadsts', '700016'), reply: 'no such app' });
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    expect(h.device.state()).toBe('authFailed');
    expect(await statusPage(p)).toContain('action="/device/dismiss"');

    // The panel sees the printer only through the interface: its can() now answers from the copy of the machine.
    const copy = machineWithoutDismiss();
    const real = h.device;
    p.sim.printer.can = async (type) => copy.resolveState(real.nvram.data.snapshot as never).can({ type } as never);
    const page = await statusPage(p);
    expect(page).not.toContain('action="/device/dismiss"');
    expect(page).toContain('href="/oauth"'); // START_AUTH is still taken: that button stays
  });

  it('tokenExpired shows "Renew now", and pressing it refreshes', async () => {
    p = await panelUnderTest();
    const h = p.sim.harness;
    await h.signIn();
    await h.advance(h.device.deadlines().ACCESS_TOKEN_DEADLINE! - h.clock.now());
    expect(h.device.state()).toBe('tokenExpired');
    const { cookie } = await login(p.app);
    const page = (await p.app.inject({ method: 'GET', url: '/status', headers: { cookie } })).body;
    expect(page).toMatch(/action="\/device\/retry"[^]*Renew now/);
    const calls = h.fake.refreshCalls;
    const res = await p.app.inject({ method: 'POST', url: '/device/retry', headers: { cookie }, payload: { _csrf: csrfFrom(page) } });
    expect(res.statusCode).toBe(302);
    await h.device.idle();
    expect(h.fake.refreshCalls).toBe(calls + 1);
    expect(h.device.state()).toBe('authorized');
  });
});
