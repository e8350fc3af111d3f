/**
 * The dispatcher's stepper (one inert actor scope for every step of a boot) against xstate's own `transition()` (a
 * fresh scope per call): along a long walk through every kind of event, each step must give the same next snapshot
 * and the same actions, so reusing the scope carries nothing from one step into the next.
 */
import { describe, expect, it } from 'vitest';
import { transition } from 'xstate';
import { initialContext, oauthDeviceMachine as machine, type DeviceEvent } from '../../machines/oauthDevice.ts';
import { pureStepper } from '../../src/device/dispatch.ts';

const ME = 'scanner@contoso.com';
const fail = { reason: 'r', code: { kind: 'oauth', value: 'c' } as const, reply: 'x' };
const EVENTS: DeviceEvent[] = [
  { type: 'SAVE_SETTINGS', settings: { authMethod: 'oauth2ExchangeOnline', authEmailAddress: ME, authUsername: ME } },
  { type: 'START_AUTH' },
  { type: 'CODE_ISSUED', userCode: 'C', verificationUri: 'u', expiresAt: 5_000 },
  { type: 'TOKEN_GRANTED', account: ME, accessTokenExpiresAt: 9_000 },
  { type: 'SEND', jobId: 'j1' },
  { type: 'SENT', reply: '250 OK' },
  { type: 'ACCESS_TOKEN_DEADLINE' },
  { type: 'REFRESHED', accessTokenExpiresAt: 19_000 },
  { type: 'REFRESH_FAILED', transient: true, retryAt: 30_000, ...fail },
  { type: 'SEND_FAILED', category: 'throttled', transient: true, retryAt: 30_000, ...fail },
  { type: 'RETRY_DUE' },
  { type: 'RETRY' },
  { type: 'DISMISS' },
  { type: 'CANCEL_AUTH' },
  { type: 'POWER_CYCLE', accessDeadlinePassed: true },
  { type: 'SIGN_OUT' },
];

describe('the dispatcher steps the statechart as xstate.transition does', () => {
  it('gives the same snapshot and actions at every step of a 1,000-step walk with one reused scope', () => {
    const step = pureStepper();
    let snapshot = machine.resolveState({ value: 'unconfigured', context: { ...initialContext(), account: null } });
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    const seen = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const event = EVENTS[(next() >>> 16) % EVENTS.length]!;
      const [expected, expectedActions] = transition(machine, snapshot, event);
      const [got, gotActions] = step(snapshot, event);
      expect({ value: got.value, context: got.context }).toEqual({ value: expected.value, context: expected.context });
      expect(gotActions.map((a) => [a.type, a.params])).toEqual(expectedActions.map((a) => [a.type, a.params]));
      seen.add(JSON.stringify(got.value));
      snapshot = got;
    }
    expect(seen.size).toBeGreaterThanOrEqual(8); // the walk went through most of the machine, not round one state
  });
});
