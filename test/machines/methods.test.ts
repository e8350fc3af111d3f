/**
 * The three ways of sending (docs/auth-methods.md, ../shared/reference/statechart.md "Methods"): which settings are
 * complete for which path, and how a printer moves between device code, basic and app-only. transitions.test.ts
 * covers the device-code rows; these are the rows the basic and app-only methods added.
 */
import { describe, expect, it } from 'vitest';
import { transition } from 'xstate';
import {
  initialContext,
  isCompleteOAuth,
  leafState,
  oauthDeviceMachine as machine,
  sendPathOf,
  type DeviceContext,
  type DeviceEvent,
  type OAuthSettings,
  type SendPath,
} from '../../machines/oauthDevice.ts';

const ME = 'scanner@contoso.com';
const OTHER = 'other@contoso.com';
const T0 = 1_000_000;

const settings = (authMethod: OAuthSettings['authMethod'], authUsername = ME, credentialsReady = true): OAuthSettings => ({
  authMethod,
  authEmailAddress: authUsername,
  authUsername,
  credentialsReady,
});
const save = (s: OAuthSettings): DeviceEvent => ({ type: 'SAVE_SETTINGS', settings: s });
const deviceCode = (user = ME) => save(settings('oauth2ExchangeOnline', user));
const basic = (user = ME) => save(settings('smtpAuth', user));
const appOnly = (user = ME) => save(settings('oauth2AppOnly', user));

function at(value: unknown, method: SendPath | null, ctx: Partial<DeviceContext> = {}) {
  return machine.resolveState({ value: value as never, context: { ...initialContext(), account: ME, method, ...ctx } });
}
function step(snap: ReturnType<typeof at>, event: DeviceEvent) {
  const [next, actions] = transition(machine, snap, event);
  return { state: leafState(next.value), ctx: next.context, actions: actions.map((a) => a.type) };
}

describe('which settings are complete, and for which path', () => {
  it('device code needs a username and an email address; basic and app-only need their saved credentials', () => {
    expect(sendPathOf(settings('oauth2ExchangeOnline'))).toBe('deviceCode');
    expect(sendPathOf({ ...settings('oauth2ExchangeOnline'), authEmailAddress: ' ' })).toBeNull();
    expect(sendPathOf(settings('smtpAuth'))).toBe('basic');
    expect(sendPathOf(settings('oauth2AppOnly'))).toBe('appOnly');
    expect(sendPathOf(settings('smtpAuth', ME, false))).toBeNull();
    expect(sendPathOf({ authMethod: 'oauth2AppOnly', authEmailAddress: ME, authUsername: ME })).toBeNull(); // absent = not ready
    expect(sendPathOf(settings('smtpAuth', '  '))).toBeNull();
  });

  it('Off is never complete, even with credentials marked ready', () => {
    expect(sendPathOf(settings('off'))).toBeNull();
  });

  it('isCompleteOAuth is true for the device-code path only', () => {
    expect(isCompleteOAuth(settings('oauth2ExchangeOnline'))).toBe(true);
    expect(isCompleteOAuth(settings('smtpAuth'))).toBe(false);
    expect(isCompleteOAuth(settings('oauth2AppOnly'))).toBe(false);
    expect(isCompleteOAuth({ ...settings('oauth2ExchangeOnline'), authUsername: '' })).toBe(false);
  });
});

describe('START_AUTH after a sign-out goes the configured way', () => {
  it('from ready: app-only asks for a token, basic sends at once, device code signs in', () => {
    expect(step(at('ready', 'appOnly'), { type: 'START_AUTH' }).state).toBe('requestingToken');
    expect(step(at('ready', 'basic'), { type: 'START_AUTH' }).state).toBe('authorized');
    expect(step(at('ready', 'deviceCode'), { type: 'START_AUTH' }).state).toBe('requestingCode');
    expect(step(at('ready', null), { type: 'START_AUTH' }).state).toBe('requestingCode'); // snapshot from before methods
  });

  it('from reauthRequired: app-only asks for a token, device code signs in, basic has nothing to start', () => {
    expect(step(at('reauthRequired', 'appOnly'), { type: 'START_AUTH' }).state).toBe('requestingToken');
    expect(step(at('reauthRequired', 'deviceCode'), { type: 'START_AUTH' }).state).toBe('requestingCode');
    expect(step(at('reauthRequired', null), { type: 'START_AUTH' }).state).toBe('requestingCode');
    expect(at('reauthRequired', 'basic').can({ type: 'START_AUTH' })).toBe(false);
  });
});

describe('SAVE_SETTINGS while signed in: another method or mailbox ends the session', () => {
  const sending = (method: SendPath | null) => at({ signedIn: 'sending' }, method, { jobId: 'j1', accessTokenExpiresAt: T0 });
  const ended = ['requeueJob', 'deleteTokens'];

  it('device code → basic (same mailbox): the job goes back to the spool and the printer sends with the password', () => {
    const r = step(sending('deviceCode'), basic());
    expect(r.state).toBe('authorized');
    expect(r.actions).toEqual(expect.arrayContaining(ended));
    expect(r.ctx).toMatchObject({ method: 'basic', account: ME, jobId: null, accessTokenExpiresAt: null });
  });

  it('device code → app-only (same mailbox): the job goes back and the printer asks for an app token', () => {
    const r = step(sending(null), appOnly());
    expect(r.state).toBe('requestingToken');
    expect(r.actions).toEqual(expect.arrayContaining([...ended, 'requestAppToken']));
    expect(r.ctx).toMatchObject({ method: 'appOnly', account: ME, jobId: null });
  });

  it('basic → basic for another mailbox starts over as that mailbox; for the same one the session stays', () => {
    const other = step(sending('basic'), basic(OTHER.toUpperCase()));
    expect(other.state).toBe('authorized');
    expect(other.actions).toEqual(expect.arrayContaining(ended));
    expect(other.ctx).toMatchObject({ method: 'basic', account: OTHER.toUpperCase(), jobId: null });

    const same = step(sending('basic'), basic(` ${ME.toUpperCase()} `));
    expect(same.state).toBe('sending');
    expect(same.actions).not.toContain('requeueJob');
    expect(same.ctx).toMatchObject({ method: 'basic', jobId: 'j1' });
  });

  it('app-only → app-only for another mailbox asks again; for the same one the session stays', () => {
    const other = step(sending('appOnly'), appOnly(OTHER));
    expect(other.state).toBe('requestingToken');
    expect(other.actions).toEqual(expect.arrayContaining(ended));
    expect(other.ctx).toMatchObject({ method: 'appOnly', account: OTHER, jobId: null });

    const same = step(sending('appOnly'), appOnly(ME.toUpperCase()));
    expect(same.state).toBe('sending');
    expect(same.actions).not.toContain('deleteTokens');
    expect(same.ctx.jobId).toBe('j1');
  });

  it('basic → app-only and app-only → basic switch the method', () => {
    expect(step(sending('basic'), appOnly())).toMatchObject({ state: 'requestingToken', ctx: { method: 'appOnly' } });
    expect(step(sending('appOnly'), basic())).toMatchObject({ state: 'authorized', ctx: { method: 'basic', jobId: null } });
  });

  it('basic or app-only → device code ends the session in ready (the admin signs in)', () => {
    for (const m of ['basic', 'appOnly'] as const) {
      const r = step(sending(m), deviceCode());
      expect(r.state, m).toBe('ready');
      expect(r.actions, m).toEqual(expect.arrayContaining(ended));
      expect(r.ctx.method, m).toBe('deviceCode');
    }
  });
});

describe('deadlines and replies the methods share', () => {
  it('a stale token with no retry scheduled waits for RETRY, not for RETRY_DUE', () => {
    const snap = at({ signedIn: 'sendFailure' }, 'deviceCode', { jobId: 'j1', retryAt: null, accessTokenStale: true });
    expect(snap.can({ type: 'RETRY_DUE' })).toBe(false);
    expect(step(snap, { type: 'RETRY' }).state).toBe('refreshing');
  });

  it('a changed device key tells the admin what happened and what to do', () => {
    const r = step(at({ signedIn: 'authorized' }, 'appOnly', { accessTokenExpiresAt: T0 }), {
      type: 'POWER_CYCLE',
      accessDeadlinePassed: false,
      keyChanged: true,
    });
    expect(r.state).toBe('reauthRequired');
    expect(r.ctx.lastError?.reply).toMatch(/device key changed while the printer was off.*Sign in again/);
  });
});
