// The deadline rule on its own: which deadlines a state listens for, the access token's five-minute skew, and
// "passed while off" at boot, to the millisecond.
import { describe, expect, it } from 'vitest';
import { initialContext, type DeviceContext, type DeviceEvent } from '../../machines/oauthDevice.ts';
import {
  ACCESS_TOKEN_SKEW_MS,
  accessDeadlinePassed,
  accessTokenDeadline,
  armedDeadlines,
} from '../../src/device/deadlines.ts';

const T = Date.UTC(2026, 0, 1);

function view(context: Partial<DeviceContext>, listens: DeviceEvent['type'][]) {
  return { context: { ...initialContext(), ...context }, can: (e: DeviceEvent) => listens.includes(e.type) };
}

describe('accessTokenDeadline', () => {
  it('falls due five minutes before the token expires, and not at all without a token', () => {
    expect(ACCESS_TOKEN_SKEW_MS).toBe(300_000);
    expect(accessTokenDeadline({ ...initialContext(), accessTokenExpiresAt: T })).toBe(T - 300_000);
    expect(accessTokenDeadline(initialContext())).toBeNull();
  });
});

describe('armedDeadlines', () => {
  const all: DeviceEvent['type'][] = ['CODE_DEADLINE', 'ACCESS_TOKEN_DEADLINE', 'RETRY_DUE'];

  it('arms each deadline the state listens for, at its time', () => {
    const v = view({ codeExpiresAt: T + 1, accessTokenExpiresAt: T + 600_000, retryAt: T + 3 }, all);
    expect(armedDeadlines(v)).toEqual({ CODE_DEADLINE: T + 1, ACCESS_TOKEN_DEADLINE: T + 300_000, RETRY_DUE: T + 3 });
  });

  it('leaves out a deadline the state does not listen for, even with its time set', () => {
    const ctx = { codeExpiresAt: T + 1, accessTokenExpiresAt: T + 600_000, retryAt: T + 3 };
    expect(armedDeadlines(view(ctx, ['RETRY_DUE']))).toEqual({ RETRY_DUE: T + 3 });
    expect(armedDeadlines(view(ctx, ['CODE_DEADLINE']))).toEqual({ CODE_DEADLINE: T + 1 });
    expect(armedDeadlines(view(ctx, ['ACCESS_TOKEN_DEADLINE']))).toEqual({ ACCESS_TOKEN_DEADLINE: T + 300_000 });
  });

  it('leaves out a deadline whose time is not set, even where the state listens for it', () => {
    expect(armedDeadlines(view({}, all))).toEqual({});
  });
});

describe('accessDeadlinePassed', () => {
  it('is true from the skewed deadline on, false a millisecond before, false without a token', () => {
    const ctx = { ...initialContext(), accessTokenExpiresAt: T };
    expect(accessDeadlinePassed(ctx, T - 300_001)).toBe(false);
    expect(accessDeadlinePassed(ctx, T - 300_000)).toBe(true);
    expect(accessDeadlinePassed(initialContext(), T)).toBe(false);
  });
});
