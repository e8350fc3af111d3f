/**
 * Every event in every state, against a transition table written from ../shared/reference/statechart.md, not from
 * the machine. A line says what must happen; every (state, event) pair that no line mentions must be refused.
 */
import { describe, expect, it } from 'vitest';
import { createActor, transition } from 'xstate';
import {
  initialContext,
  leafState,
  oauthDeviceMachine as machine,
  type DeviceContext,
  type DeviceEvent,
} from '../../machines/oauthDevice.ts';

const ME = 'scanner@contoso.com';
const T0 = 1_000_000;

/** Representative contexts: `state` or `state/variant`. */
const STATES: Record<string, { value: unknown; ctx: Partial<DeviceContext> }> = {
  unconfigured: { value: 'unconfigured', ctx: { account: null } },
  ready: { value: 'ready', ctx: {} },
  requestingCode: { value: { signingIn: 'requestingCode' }, ctx: {} },
  codePending: { value: { signingIn: 'codePending' }, ctx: { userCode: 'ABC', verificationUri: 'u', codeExpiresAt: T0 } },
  authFailed: { value: 'authFailed', ctx: { lastError: { reason: 'declined', code: null, reply: null } } },
  authorized: { value: { signedIn: 'authorized' }, ctx: { accessTokenExpiresAt: T0 } },
  tokenExpired: { value: { signedIn: 'tokenExpired' }, ctx: { accessTokenExpiresAt: T0, accessTokenStale: true } },
  'tokenExpired/retrying': {
    value: { signedIn: 'tokenExpired' },
    ctx: { accessTokenStale: true, jobId: 'j1', retryAt: T0, refreshRetries: 1 },
  },
  refreshing: { value: { signedIn: 'refreshing' }, ctx: { accessTokenStale: true, jobId: 'j1' } },
  'refreshing/noJob': { value: { signedIn: 'refreshing' }, ctx: { accessTokenStale: true } },
  'refreshing/exhausted': { value: { signedIn: 'refreshing' }, ctx: { accessTokenStale: true, jobId: 'j1', refreshRetries: 3 } },
  'refreshing/exhaustedNoJob': { value: { signedIn: 'refreshing' }, ctx: { accessTokenStale: true, refreshRetries: 3 } },
  sending: { value: { signedIn: 'sending' }, ctx: { jobId: 'j1', accessTokenExpiresAt: T0 } },
  'sending/stale': { value: { signedIn: 'sending' }, ctx: { jobId: 'j1', accessTokenStale: true } },
  'sending/forced': { value: { signedIn: 'sending' }, ctx: { jobId: 'j1', forcedRefreshUsed: true } },
  'sending/exhausted': { value: { signedIn: 'sending' }, ctx: { jobId: 'j1', sendRetries: 3 } },
  sendFailure: { value: { signedIn: 'sendFailure' }, ctx: { jobId: 'j1', retryAt: T0, sendRetries: 1 } },
  'sendFailure/stale': { value: { signedIn: 'sendFailure' }, ctx: { jobId: 'j1', retryAt: T0, accessTokenStale: true } },
  'sendFailure/final': { value: { signedIn: 'sendFailure' }, ctx: { jobId: 'j1', retryAt: null } },
  reauthRequired: { value: 'reauthRequired', ctx: {} },
};

const fail = { reason: 'r', code: { kind: 'oauth', value: 'c' } as const, reply: 'x' };
const EVENTS: Record<string, DeviceEvent> = {
  'SAVE_SETTINGS:same': { type: 'SAVE_SETTINGS', settings: { authMethod: 'oauth2ExchangeOnline', authEmailAddress: ME, authUsername: ME } },
  'SAVE_SETTINGS:other': {
    type: 'SAVE_SETTINGS',
    settings: { authMethod: 'oauth2ExchangeOnline', authEmailAddress: 'x@contoso.com', authUsername: 'x@contoso.com' },
  },
  'SAVE_SETTINGS:off': { type: 'SAVE_SETTINGS', settings: { authMethod: 'smtpAuth', authEmailAddress: ME, authUsername: ME } },
  START_AUTH: { type: 'START_AUTH' },
  CANCEL_AUTH: { type: 'CANCEL_AUTH' },
  SIGN_OUT: { type: 'SIGN_OUT' },
  SEND: { type: 'SEND', jobId: 'j2' },
  RETRY: { type: 'RETRY' },
  DISMISS: { type: 'DISMISS' },
  FACTORY_RESET: { type: 'FACTORY_RESET' },
  CODE_ISSUED: { type: 'CODE_ISSUED', userCode: 'C', verificationUri: 'u', expiresAt: T0 },
  CODE_FAILED: { type: 'CODE_FAILED', ...fail },
  'TOKEN_GRANTED:me': { type: 'TOKEN_GRANTED', account: ME.toUpperCase(), accessTokenExpiresAt: T0 },
  'TOKEN_GRANTED:other': { type: 'TOKEN_GRANTED', account: 'x@contoso.com', accessTokenExpiresAt: T0 },
  AUTH_DECLINED: { type: 'AUTH_DECLINED', ...fail },
  CODE_EXPIRED: { type: 'CODE_EXPIRED', ...fail },
  POLL_FAILED: { type: 'POLL_FAILED', ...fail },
  REFRESHED: { type: 'REFRESHED', accessTokenExpiresAt: T0 + 1 },
  'REFRESH_FAILED:permanent': { type: 'REFRESH_FAILED', transient: false, retryAt: null, ...fail },
  'REFRESH_FAILED:transient': { type: 'REFRESH_FAILED', transient: true, retryAt: T0 + 30_000, ...fail },
  SENT: { type: 'SENT', reply: '250 OK' },
  'SEND_FAILED:5.7.3': { type: 'SEND_FAILED', category: 'auth-rejected', transient: false, retryAt: null, ...fail },
  'SEND_FAILED:permanent': { type: 'SEND_FAILED', category: 'smtp-auth-disabled', transient: false, retryAt: null, ...fail },
  'SEND_FAILED:transient': { type: 'SEND_FAILED', category: 'throttled', transient: true, retryAt: T0 + 30_000, ...fail },
  CODE_DEADLINE: { type: 'CODE_DEADLINE' },
  ACCESS_TOKEN_DEADLINE: { type: 'ACCESS_TOKEN_DEADLINE' },
  RETRY_DUE: { type: 'RETRY_DUE' },
  'POWER_CYCLE:passed': { type: 'POWER_CYCLE', accessDeadlinePassed: true },
  'POWER_CYCLE:kept': { type: 'POWER_CYCLE', accessDeadlinePassed: false },
  'POWER_CYCLE:keyChanged': { type: 'POWER_CYCLE', accessDeadlinePassed: false, keyChanged: true },
  'POWER_CYCLE:keyChangedPassed': { type: 'POWER_CYCLE', accessDeadlinePassed: true, keyChanged: true },
};

// state-or-variant  event-variant  ->  target  [checks on the new context]
const SPEC = `
*                  FACTORY_RESET              -> unconfigured  account=null
unconfigured       SAVE_SETTINGS:same         -> ready         account=${ME}
unconfigured       SAVE_SETTINGS:other        -> ready
unconfigured       SAVE_SETTINGS:off          -> unconfigured
unconfigured       SEND                       -> unconfigured
unconfigured       POWER_CYCLE:*              -> unconfigured
ready              SAVE_SETTINGS:same|other   -> ready
ready              SAVE_SETTINGS:off          -> unconfigured  account=null
ready              START_AUTH                 -> requestingCode
ready              SEND                       -> ready
ready              POWER_CYCLE:*              -> ready
requestingCode     CODE_ISSUED                -> codePending   userCode=C
requestingCode     CODE_FAILED                -> authFailed    lastError.reason=r
codePending        TOKEN_GRANTED:me           -> authorized    accessTokenExpiresAt=${T0} userCode=null
codePending        TOKEN_GRANTED:other        -> authFailed    lastError.reason=account-mismatch
codePending        AUTH_DECLINED|CODE_EXPIRED|POLL_FAILED -> authFailed lastError.reason=r
codePending        CODE_DEADLINE              -> authFailed    lastError.reason=code-expired
requestingCode|codePending CANCEL_AUTH        -> ready
requestingCode|codePending SAVE_SETTINGS:same -> =
requestingCode|codePending SAVE_SETTINGS:other -> ready
requestingCode|codePending SAVE_SETTINGS:off  -> unconfigured
requestingCode|codePending SEND               -> =
requestingCode|codePending POWER_CYCLE:*      -> authFailed    lastError.reason=interrupted-by-restart
authFailed         START_AUTH                 -> requestingCode lastError=null
authFailed         DISMISS                    -> ready
authFailed         SAVE_SETTINGS:same|other   -> ready
authFailed         SAVE_SETTINGS:off          -> unconfigured
authFailed         SEND                       -> authFailed
authFailed         POWER_CYCLE:*              -> authFailed
SIGNED_IN          SIGN_OUT                   -> ready         jobId=null accessTokenExpiresAt=null
SIGNED_IN          SAVE_SETTINGS:same         -> =
SIGNED_IN          SAVE_SETTINGS:other        -> ready         jobId=null
SIGNED_IN          SAVE_SETTINGS:off          -> unconfigured  jobId=null
SIGNED_IN          POWER_CYCLE:keyChanged|keyChangedPassed -> reauthRequired lastError.reason=device-key-changed jobId=null accessTokenExpiresAt=null retryAt=null accessTokenStale=false
authorized         SEND                       -> sending       jobId=j2
authorized         ACCESS_TOKEN_DEADLINE      -> tokenExpired  accessTokenStale=true
authorized         POWER_CYCLE:passed         -> tokenExpired
authorized         POWER_CYCLE:kept           -> authorized
tokenExpired       SEND                       -> refreshing    jobId=j2
tokenExpired/retrying RETRY_DUE               -> refreshing    retryAt=null jobId=j1
tokenExpired       RETRY                      -> refreshing    jobId=null
tokenExpired/retrying RETRY                   -> refreshing    retryAt=null jobId=j1
tokenExpired|tokenExpired/retrying POWER_CYCLE:passed|kept -> tokenExpired
refreshing|refreshing/exhausted REFRESHED     -> sending       accessTokenStale=false refreshRetries=0
refreshing/noJob|refreshing/exhaustedNoJob REFRESHED -> authorized
refreshing*        REFRESH_FAILED:permanent   -> reauthRequired jobId=null
refreshing|refreshing/noJob REFRESH_FAILED:transient -> tokenExpired retryAt=${T0 + 30_000} refreshRetries=1
refreshing/exhausted REFRESH_FAILED:transient -> sendFailure   retryAt=null
refreshing/exhaustedNoJob REFRESH_FAILED:transient -> tokenExpired retryAt=null
refreshing*        POWER_CYCLE:passed|kept    -> tokenExpired  jobId=null
sending*           SENT                       -> authorized    jobId=null
sending/stale      SENT                       -> tokenExpired  jobId=null
sending|sending/stale|sending/exhausted SEND_FAILED:5.7.3 -> refreshing forcedRefreshUsed=true
sending/forced     SEND_FAILED:5.7.3          -> sendFailure   retryAt=null
sending*           SEND_FAILED:permanent      -> sendFailure   retryAt=null
sending|sending/stale|sending/forced SEND_FAILED:permanent -> sendFailure retryAt=null sendRetries=0
sending|sending/stale|sending/forced SEND_FAILED:transient -> sendFailure retryAt=${T0 + 30_000} sendRetries=1
sending/exhausted  SEND_FAILED:transient      -> sendFailure   retryAt=null
sending|sending/forced|sending/exhausted ACCESS_TOKEN_DEADLINE -> sending accessTokenStale=true
sending|sending/forced|sending/exhausted POWER_CYCLE:passed -> tokenExpired jobId=null
sending|sending/forced|sending/exhausted POWER_CYCLE:kept -> authorized jobId=null
sending/stale      POWER_CYCLE:passed|kept    -> tokenExpired  jobId=null
sendFailure*       RETRY                      -> sending       sendRetries=0
sendFailure/stale  RETRY                      -> refreshing
sendFailure        RETRY_DUE                  -> sending       retryAt=null
sendFailure/stale  RETRY_DUE                  -> refreshing
sendFailure*       DISMISS                    -> authorized    jobId=null
sendFailure/stale  DISMISS                    -> tokenExpired  jobId=null
sendFailure|sendFailure/final ACCESS_TOKEN_DEADLINE -> sendFailure accessTokenStale=true
sendFailure*       POWER_CYCLE:passed|kept    -> sendFailure
reauthRequired     START_AUTH                 -> requestingCode
reauthRequired     SIGN_OUT                   -> ready
reauthRequired     SEND                       -> reauthRequired
reauthRequired     SAVE_SETTINGS:same         -> reauthRequired
reauthRequired     SAVE_SETTINGS:other        -> ready
reauthRequired     SAVE_SETTINGS:off          -> unconfigured
reauthRequired     POWER_CYCLE:*              -> reauthRequired
`;

type Rule = { stateSpec: string; states: (s: string) => boolean; events: (e: string) => boolean; targets: string[]; checks: [string, string][] };

const SIGNED_IN = ['authorized', 'tokenExpired', 'refreshing', 'sending', 'sendFailure'];
const base = (s: string) => s.split('/')[0]!;
const matcher = (spec: string, nameOf: (x: string) => string) => {
  const alts = spec.split('|');
  return (x: string) =>
    alts.some((a) =>
      a === '*' ? true : a === 'SIGNED_IN' ? SIGNED_IN.includes(base(x)) : a.endsWith('*') ? nameOf(x).startsWith(a.slice(0, -1)) || x.startsWith(a.slice(0, -1)) : a === x,
    );
};
const eventMatcher = (spec: string) => {
  const alts = spec.split('|').map((a) => (a.includes(':') || !spec.includes(':') ? a : a));
  const [name, variants] = spec.includes(':') ? [spec.split(':')[0]!, spec.split(':')[1]!] : [null, null];
  if (name) return (e: string) => e.startsWith(`${name}:`) && (variants === '*' || variants.split('|').includes(e.split(':')[1]!));
  return (e: string) => alts.includes(e) || alts.includes(e.split(':')[0]!);
};

const RULES: Rule[] = SPEC.trim()
  .split('\n')
  .map((line) => {
    const [left, right] = line.split('->').map((x) => x.trim()) as [string, string];
    const [stateSpec, eventSpec] = left.split(/\s+/) as [string, string];
    const [target, ...checks] = right.split(/\s+/);
    return {
      stateSpec,
      states: matcher(stateSpec, (s) => s),
      events: eventMatcher(eventSpec),
      targets: target!.split('|'),
      checks: checks.map((c) => c.split('=') as [string, string]),
    };
  });

function snapshotOf(name: string) {
  const { value, ctx } = STATES[name]!;
  return machine.resolveState({ value: value as never, context: { ...initialContext(), account: ME, ...ctx } });
}

function get(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o === null || o === undefined ? o : (o as Record<string, unknown>)[k]), obj);
}

describe('statechart: every event in every state', () => {
  const cases = Object.keys(STATES).flatMap((s) => Object.keys(EVENTS).map((e) => [s, e] as const));
  it.each(cases)('%s + %s', (stateName, eventName) => {
    const snap = snapshotOf(stateName);
    const event = EVENTS[eventName]!;
    // A line naming the state exactly wins over a wildcard line (e.g. `sending/stale` over `sending*`).
    const matching = RULES.filter((r) => r.states(stateName) && r.events(eventName));
    const rule = matching.find((r) => r.stateSpec.split('|').includes(stateName)) ?? matching[0];
    if (!rule) {
      expect(snap.can(event), `${stateName} must refuse ${eventName}`).toBe(false);
      return;
    }
    expect(snap.can(event), `${stateName} must take ${eventName}`).toBe(true);
    const [next] = transition(machine, snap, event);
    const targets = rule.targets.map((t) => (t === '=' ? base(stateName) : t));
    expect(targets).toContain(leafState(next.value));
    for (const [path, want] of rule.checks) {
      const got = get(next.context, path);
      expect(String(got), `${path} after ${stateName} + ${eventName}`).toBe(want);
    }
  });

  it('the table mentions every leaf state', () => {
    const leaves = new Set(Object.keys(STATES).map(base));
    expect([...leaves].sort()).toEqual(
      ['authFailed', 'authorized', 'codePending', 'reauthRequired', 'ready', 'refreshing', 'requestingCode', 'sendFailure', 'sending', 'tokenExpired', 'unconfigured'].sort(),
    );
  });

  it('a persisted snapshot is small, holds no secret field, and restores to the same value and context', () => {
    const snap = snapshotOf('sendFailure');
    const persisted = JSON.stringify({ value: snap.value, context: snap.context });
    expect(persisted.length).toBeLessThan(600);
    expect(persisted).not.toMatch(/token"|password|refresh_token|access_token/i);
    const back = machine.resolveState(JSON.parse(persisted));
    expect(back.value).toEqual(snap.value);
    expect(back.context).toEqual(snap.context);
  });
});

describe('statechart: the account, at its edges', () => {
  const save = (authUsername: string, authEmailAddress = authUsername): DeviceEvent => ({
    type: 'SAVE_SETTINGS',
    settings: { authMethod: 'oauth2ExchangeOnline', authEmailAddress, authUsername },
  });
  const after = (name: string, event: DeviceEvent) => transition(machine, snapshotOf(name), event)[0];

  it('blank addresses are not a complete OAuth configuration', () => {
    const fresh = machine.resolveState({ value: 'unconfigured', context: initialContext() });
    for (const e of [save('   '), save(ME, '  '), save('  ', ME)]) {
      const [next] = transition(machine, fresh, e);
      expect(leafState(next.value)).toBe('unconfigured');
      expect(next.context.account).toBeNull();
    }
    expect(leafState(after('ready', save('  ')).value)).toBe('unconfigured');
  });

  it('the stored account is trimmed, and comparing accounts ignores case and surrounding spaces', () => {
    const fresh = machine.resolveState({ value: 'unconfigured', context: initialContext() });
    expect(transition(machine, fresh, save(`  ${ME} `))[0].context.account).toBe(ME);
    expect(leafState(after('authorized', save(` ${ME.toUpperCase()} `)).value)).toBe('authorized');
    expect(leafState(after('codePending', { type: 'TOKEN_GRANTED', account: ` ${ME.toUpperCase()} `, accessTokenExpiresAt: T0 }).value)).toBe('authorized');
  });

  it('with no account configured, no grant matches', () => {
    const snap = machine.resolveState({ value: { signingIn: 'codePending' }, context: { ...initialContext(), account: null } });
    const [next] = transition(machine, snap, { type: 'TOKEN_GRANTED', account: ME, accessTokenExpiresAt: T0 });
    expect(leafState(next.value)).toBe('authFailed');
    expect(next.context.lastError).toEqual({ reason: 'account-mismatch', code: null, reply: `Signed in as ${ME}, but Auth. Username is (none)` });
  });

  it('an account mismatch names both accounts', () => {
    const next = after('codePending', { type: 'TOKEN_GRANTED', account: 'x@contoso.com', accessTokenExpiresAt: T0 });
    expect(next.context.lastError?.reply).toBe(`Signed in as x@contoso.com, but Auth. Username is ${ME}`);
  });

  it('a failure event keeps its code and reply, and missing ones become null', () => {
    const next = after('requestingCode', { type: 'CODE_FAILED', reason: 'network' });
    expect(next.context.lastError).toEqual({ reason: 'network', code: null, reply: null });
  });

  it('a machine started with input keeps it; without, it starts from the initial context', () => {
    expect(createActor(machine, { input: { account: ME } }).getSnapshot().context).toEqual({ ...initialContext(), account: ME });
    expect(createActor(machine, { input: undefined }).getSnapshot().context).toEqual(initialContext());
  });

  it('leafState refuses what is not a state', () => {
    expect(() => leafState('nowhere')).toThrow(/not a state of the OAuth device machine: "nowhere"/);
    expect(() => leafState({ signedIn: 42 })).toThrow(/not a state/);
    expect(leafState({ signedIn: 'sending' })).toBe('sending');
  });
});

describe('statechart: a boot that found the device key changed', () => {
  const keyChanged: DeviceEvent = { type: 'POWER_CYCLE', accessDeadlinePassed: false, keyChanged: true };
  const signedInStates = Object.keys(STATES).filter((s) => SIGNED_IN.includes(base(s)));

  it.each(signedInStates)('%s: holds the job it worked on and deletes the unreadable tokens', (name) => {
    const snap = snapshotOf(name);
    const [next, actions] = transition(machine, snap, keyChanged);
    const types = actions.map((a) => a.type);
    expect(leafState(next.value)).toBe('reauthRequired');
    expect(types).toEqual(expect.arrayContaining(['holdJob', 'deleteTokens']));
    // Never requeued as if the tokens still worked, never failed or completed.
    expect(types).not.toEqual(expect.arrayContaining(['requeueJob']));
    expect(types.filter((t) => t === 'failJob' || t === 'completeJob')).toEqual([]);
    expect(next.context.lastError).toMatchObject({ reason: 'device-key-changed', code: null });
    expect(next.context.account).toBe(ME); // the configured account stays: the admin signs in again as it
  });

  it('outside the signed-in states the flag changes nothing (no tokens were held)', () => {
    for (const name of ['unconfigured', 'ready', 'requestingCode', 'codePending', 'authFailed', 'reauthRequired']) {
      const snap = snapshotOf(name);
      const [withFlag] = transition(machine, snap, keyChanged);
      const [without] = transition(machine, snap, { type: 'POWER_CYCLE', accessDeadlinePassed: false });
      expect(withFlag.value, name).toEqual(without.value);
      expect(withFlag.context, name).toEqual(without.context);
    }
  });

  it('after the key change, a new sign-in for the account leaves reauthRequired as usual', () => {
    let [s] = transition(machine, snapshotOf('sendFailure'), keyChanged);
    for (const e of [EVENTS.START_AUTH!, EVENTS.CODE_ISSUED!, EVENTS['TOKEN_GRANTED:me']!]) [s] = transition(machine, s, e);
    expect(leafState(s.value)).toBe('authorized');
    expect(s.context.lastError).toBeNull();
  });
});
