// The twin's device authorization requests as a store of their own (RFC 8628 as Entra runs it): codes, expiry on
// the twin's clock, one redemption per code, the control API's listing, and how long finished records are kept.
import { describe, expect, it } from 'vitest';
import { DeviceCodeStore, normaliseUserCode } from '../../../src/cloud/entra/device-codes.ts';
import { EntraError } from '../../../src/cloud/entra/errors.ts';

const SCOPES = { resource: ['SMTP.Send'], oidc: ['openid' as const, 'offline_access' as const] };
const T0 = Date.UTC(2026, 0, 1);

function store() {
  const clock = { t: T0 };
  return { clock, codes: new DeviceCodeStore(() => clock.t) };
}

function rejection(fn: () => unknown): EntraError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EntraError);
    return err as EntraError;
  }
  throw new Error('expected an EntraError');
}

describe('DeviceCodeStore.issue', () => {
  it('issues an opaque device code and a 9-letter user code without look-alike characters', () => {
    const { codes } = store();
    const rec = codes.issue('client-a', SCOPES, 900, 5);
    expect(rec.deviceCode).toMatch(/^DAQABIQEAAAD[A-Za-z0-9_-]{128}$/);
    expect(rec.userCode).toMatch(/^[ABCDEFGHJKLMNPQRSTUVWXYZ2-9]{9}$/);
    expect(rec).toMatchObject({
      clientId: 'client-a',
      scopes: SCOPES,
      issuedAt: T0,
      expiresAt: T0 + 900_000,
      intervalSeconds: 5,
      state: 'pending',
      upn: null,
      failure: null,
      mfaDone: false,
    });
    expect(codes.byDevice(rec.deviceCode)).toBe(rec);
  });

  it('finds a request by its user code however the user typed it', () => {
    const { codes } = store();
    const rec = codes.issue('client-a', SCOPES, 900, 5);
    const typed = `${rec.userCode.slice(0, 4).toLowerCase()}- ${rec.userCode.slice(4)}`;
    expect(codes.byUser(typed)).toBe(rec);
    expect(normaliseUserCode(' ab-cd\tef ')).toBe('ABCDEF');
  });
});

describe('DeviceCodeStore.redeem', () => {
  it('answers authorization_pending while the user has not finished, and expiry from the expiry instant on', () => {
    const { clock, codes } = store();
    const rec = codes.issue('client-a', SCOPES, 60, 5);
    expect(rejection(() => codes.redeem(rec.deviceCode, 'client-a', 'code_expired')).aadsts).toBe(70016);
    clock.t = rec.expiresAt - 1;
    expect(codes.isExpired(rec)).toBe(false);
    clock.t = rec.expiresAt;
    expect(codes.isExpired(rec)).toBe(true);
    expect(rejection(() => codes.redeem(rec.deviceCode, 'client-a', 'code_expired')).error).toBe('code_expired');
    expect(rejection(() => codes.redeem(rec.deviceCode, 'client-a', 'expired_token')).error).toBe('expired_token');
  });

  it('yields an approved request once; later polls get invalid_grant 90120', () => {
    const { codes } = store();
    const rec = codes.issue('client-a', SCOPES, 900, 5);
    rec.state = 'approved';
    expect(codes.redeem(rec.deviceCode, 'client-a', 'code_expired')).toBe(rec);
    expect(rec.state).toBe('redeemed');
    const again = rejection(() => codes.redeem(rec.deviceCode, 'client-a', 'code_expired'));
    expect([again.error, again.aadsts]).toEqual(['invalid_grant', 90120]);
  });

  it('refuses an unknown code and a code presented by another client as a bad verification code', () => {
    const { codes } = store();
    const rec = codes.issue('client-a', SCOPES, 900, 5);
    rec.state = 'approved';
    expect(rejection(() => codes.redeem('DAQnothing', 'client-a', 'code_expired')).aadsts).toBe(70018);
    expect(rejection(() => codes.redeem(rec.deviceCode, 'client-b', 'code_expired')).aadsts).toBe(70018);
    // The other client's attempt did not use the code up.
    expect(codes.redeem(rec.deviceCode, 'client-a', 'code_expired')).toBe(rec);
  });

  it('gives a declined or failed sign-in its error once, then the code is used', () => {
    const { codes } = store();
    const declined = codes.issue('client-a', SCOPES, 900, 5);
    declined.state = 'declined';
    expect(rejection(() => codes.redeem(declined.deviceCode, 'client-a', 'code_expired')).aadsts).toBe(70017);
    expect(rejection(() => codes.redeem(declined.deviceCode, 'client-a', 'code_expired')).aadsts).toBe(90120);

    const failed = codes.issue('client-a', SCOPES, 900, 5);
    const policy = new EntraError({ error: 'invalid_grant', aadsts: 53003, description: 'Blocked by Conditional Access.' });
    failed.state = 'failed';
    failed.failure = policy;
    expect(rejection(() => codes.redeem(failed.deviceCode, 'client-a', 'code_expired'))).toBe(policy);
    expect(rejection(() => codes.redeem(failed.deviceCode, 'client-a', 'code_expired')).aadsts).toBe(90120);

    const failedWithoutReason = codes.issue('client-a', SCOPES, 900, 5);
    failedWithoutReason.state = 'failed';
    expect(rejection(() => codes.redeem(failedWithoutReason.deviceCode, 'client-a', 'code_expired')).aadsts).toBe(70017);
  });

  it('answers "already used" rather than "expired" for a redeemed code past its expiry', () => {
    const { clock, codes } = store();
    const rec = codes.issue('client-a', SCOPES, 60, 5);
    rec.state = 'approved';
    codes.redeem(rec.deviceCode, 'client-a', 'code_expired');
    clock.t = rec.expiresAt + 1;
    expect(rejection(() => codes.redeem(rec.deviceCode, 'client-a', 'code_expired')).aadsts).toBe(90120);
  });
});

describe('DeviceCodeStore.list', () => {
  it('lists pending and approved requests not yet expired; with finished ones, an expired pending one reads "expired"', () => {
    const { clock, codes } = store();
    const pending = codes.issue('client-a', SCOPES, 60, 5);
    const approved = codes.issue('client-a', SCOPES, 900, 5);
    approved.state = 'approved';
    approved.upn = 'scanner@contoso.example';
    const declined = codes.issue('client-a', SCOPES, 900, 5);
    declined.state = 'declined';

    expect(codes.list().map((v) => v.userCode).sort()).toEqual([pending.userCode, approved.userCode].sort());
    expect(codes.list().find((v) => v.userCode === approved.userCode)).toEqual({
      userCode: approved.userCode,
      clientId: 'client-a',
      issuedAt: new Date(T0).toISOString(),
      expiresAt: new Date(T0 + 900_000).toISOString(),
      state: 'approved',
      upn: 'scanner@contoso.example',
    });

    expect(codes.list().find((v) => v.userCode === pending.userCode)?.state).toBe('pending');
    clock.t = pending.expiresAt;
    expect(codes.list().map((v) => v.userCode)).toEqual([approved.userCode]);
    const all = codes.list(true);
    expect(all).toHaveLength(3);
    expect(all.find((v) => v.userCode === pending.userCode)?.state).toBe('expired');
    clock.t = declined.expiresAt;
    // Only a request still waiting for the user reads "expired"; a finished one keeps its outcome.
    expect(codes.list(true).find((v) => v.userCode === declined.userCode)?.state).toBe('declined');
  });

  it('keeps an expired request for a day after its expiry (for "expired" answers), then forgets it', () => {
    const { clock, codes } = store();
    const rec = codes.issue('client-a', SCOPES, 60, 5);
    const day = 24 * 3600_000;
    clock.t = rec.expiresAt + day;
    expect(codes.list(true).map((v) => v.userCode)).toEqual([rec.userCode]);
    clock.t = rec.expiresAt + day + 1;
    expect(codes.list(true)).toEqual([]);
    expect(codes.byDevice(rec.deviceCode)).toBeUndefined();
    expect(codes.byUser(rec.userCode)).toBeUndefined();
    // Issuing prunes too.
    const { clock: c2, codes: s2 } = store();
    const old = s2.issue('client-a', SCOPES, 60, 5);
    c2.t = old.expiresAt + day + 1;
    s2.issue('client-a', SCOPES, 60, 5);
    expect(s2.byDevice(old.deviceCode)).toBeUndefined();
  });
});
