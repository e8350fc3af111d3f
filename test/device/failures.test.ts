import { describe, expect, it } from 'vitest';
import {
  codeFromText,
  codeFromWire,
  codeIs,
  codeText,
  lastErrorWire,
  protocolCode,
  RefreshFailure,
  SendFailure,
  SignInFailure,
  storedCode,
} from '../../src/device/failures.ts';
import { restoreSnapshot } from '../../src/device/boot.ts';

describe('failures as data', () => {
  it('are built from an options object; what is left out is null', () => {
    const s = new SignInFailure({ kind: 'declined', reason: 'declined', code: protocolCode('oauth', 'authorization_declined') });
    expect({ kind: s.kind, reason: s.reason, code: s.code, reply: s.reply, message: s.message, name: s.name }).toEqual({
      kind: 'declined',
      reason: 'declined',
      code: { kind: 'oauth', value: 'authorization_declined' },
      reply: null,
      message: 'declined',
      name: 'SignInFailure',
    });
    const r = new RefreshFailure({ transient: true, reason: 'throttled', code: protocolCode('http', 429), reply: 'slow down', retryAfterMs: 5000 });
    expect({ ...r, message: r.message }).toMatchObject({ transient: true, code: { kind: 'http', value: '429' }, retryAfterMs: 5000, message: 'slow down' });
    expect(new RefreshFailure({ transient: false, reason: 'no-token' })).toMatchObject({ code: null, reply: null, retryAfterMs: null });
    const f = new SendFailure({ category: 'quota', transient: false, reply: '550 5.4.5 quota', code: protocolCode('smtp', '5.4.5') });
    expect(f).toMatchObject({ category: 'quota', transient: false, code: { kind: 'smtp', value: '5.4.5' }, message: '550 5.4.5 quota' });
    expect(new SendFailure({ category: 'other', transient: true }).message).toBe('other');
  });
});

describe('protocol codes', () => {
  it('read as people write them', () => {
    expect(codeText(protocolCode('aadsts', 70020))).toBe('AADSTS70020');
    expect(codeText(protocolCode('http', 503))).toBe('HTTP 503');
    expect(codeText(protocolCode('smtp', '5.7.139'))).toBe('5.7.139');
    expect(codeText(protocolCode('socket', 'ECONNREFUSED'))).toBe('ECONNREFUSED');
    expect(codeText(null)).toBeNull();
    expect(codeIs(protocolCode('aadsts', '50173'), 'AADSTS50173')).toBe(true);
    expect(codeIs(protocolCode('aadsts', '50173'), '50173')).toBe(false);
    expect(codeIs(null, null)).toBe(true);
  });

  it.each([
    ['AADSTS70020', 'aadsts', '70020'],
    ['HTTP 429', 'http', '429'],
    ['5.7.139', 'smtp', '5.7.139'],
    ['4.3.2', 'smtp', '4.3.2'],
    ['535', 'smtp', '535'],
    ['authorization_declined', 'oauth', 'authorization_declined'],
    ['slow_down', 'oauth', 'slow_down'],
    ['device_code_expired', 'msal', 'device_code_expired'],
    ['EAUTH', 'nodemailer', 'EAUTH'],
    ['ECONNREFUSED', 'socket', 'ECONNREFUSED'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'socket', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ] as const)('an old plain code %s is read as %s', (text, kind, value) => {
    expect(codeFromText(text)).toEqual({ kind, value });
    expect(codeText(codeFromText(text))).toBe(text);
  });

  it('stored codes of any firmware load; junk becomes null', () => {
    expect(storedCode('AADSTS50173')).toEqual({ kind: 'aadsts', value: '50173' });
    expect(storedCode({ kind: 'smtp', value: '5.7.60' })).toEqual({ kind: 'smtp', value: '5.7.60' });
    expect(storedCode({ kind: 'carrier-pigeon', value: 'x' })).toBeNull();
    expect(storedCode({ kind: 'smtp', value: 5 })).toBeNull();
    expect(storedCode(['smtp', '5.7.60'])).toBeNull();
    expect(storedCode('  ')).toBeNull();
    expect(storedCode(null)).toBeNull();
    expect(storedCode(42)).toBeNull();
  });

  it('cross the wire as text plus kind and come back whole', () => {
    const e = { reason: 'password-changed', code: protocolCode('aadsts', '50173'), reply: 'AADSTS50173: changed' };
    const wire = lastErrorWire(e);
    expect(wire).toEqual({ reason: 'password-changed', code: 'AADSTS50173', codeKind: 'aadsts', reply: 'AADSTS50173: changed' });
    expect(codeFromWire(wire.code, wire.codeKind)).toEqual(e.code);
    expect(codeFromWire('HTTP 503', 'http')).toEqual({ kind: 'http', value: '503' });
    expect(codeFromWire('5.7.139', undefined)).toEqual({ kind: 'smtp', value: '5.7.139' });
    expect(codeFromWire(null, 'smtp')).toBeNull();
    expect(lastErrorWire({ reason: 'interrupted-by-restart', code: null, reply: null })).toEqual({
      reason: 'interrupted-by-restart',
      code: null,
      codeKind: null,
      reply: null,
    });
  });

  it('a snapshot from before tagged codes restores with its code tagged', () => {
    const stored = {
      value: 'reauthRequired',
      context: { account: 'a@b.c', lastError: { reason: 'password-changed', code: 'AADSTS50173', reply: 'changed' } },
      since: 5,
    };
    const r = restoreSnapshot(stored, 10);
    expect(r?.snapshot.context.lastError).toEqual({ reason: 'password-changed', code: { kind: 'aadsts', value: '50173' }, reply: 'changed' });
    expect(r?.since).toBe(5);
    const tagged = restoreSnapshot({ ...stored, context: { ...stored.context, lastError: { reason: 'quota', code: { kind: 'smtp', value: '5.4.5' }, reply: null } } }, 10);
    expect(tagged?.snapshot.context.lastError).toEqual({ reason: 'quota', code: { kind: 'smtp', value: '5.4.5' }, reply: null });
    const none = restoreSnapshot({ ...stored, context: { account: 'a@b.c', lastError: 'garbage' } }, 10);
    expect(none?.snapshot.context.lastError).toBeNull();
  });
});
