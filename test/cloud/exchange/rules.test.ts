/** The decision modules on their own (no sockets): SMTP AUTH policy table, Send As, limits, reply parsing. */
import { describe, expect, it } from 'vitest';
import type { DirectoryUser, TenantPolicy } from '../../../src/cloud/contracts.ts';
import { evaluateSmtpAuth, maySendAs } from '../../../src/cloud/exchange/auth-policy.ts';
import { ConcurrentConnections, DailyRecipientQuota, SendAsDenials } from '../../../src/cloud/exchange/mailbox-limits.ts';
import { SmtpReplyError } from '../../../src/cloud/exchange/replies.ts';
import { VirtualClock } from '../../../src/time/clock.ts';

const tenant = (p: Partial<TenantPolicy> = {}): TenantPolicy => ({
  tenantId: 't',
  domains: ['contoso.example'],
  smtpAuthEnabled: true,
  securityDefaults: false,
  sendAsDeniedAfterData: false,
  ...p,
});
const user = (p: Partial<DirectoryUser> = {}): DirectoryUser => ({
  upn: 'Scanner@Contoso.example',
  displayName: 'Scanner',
  objectId: 'o',
  enabled: true,
  mfa: 'none',
  smtpAuthEnabled: null,
  sendAs: [],
  mailboxFull: false,
  ...p,
});

describe('evaluateSmtpAuth', () => {
  it.each([
    ['unknown user', undefined, tenant(), 'unknown-user'],
    ['disabled user', user({ enabled: false }), tenant(), 'user-disabled'],
    ['mailbox off, tenant on', user({ smtpAuthEnabled: false }), tenant(), 'smtp-auth-disabled-mailbox'],
    ['mailbox off, tenant off', user({ smtpAuthEnabled: false }), tenant({ smtpAuthEnabled: false }), 'smtp-auth-disabled-mailbox'],
    ['mailbox follows, tenant off', user(), tenant({ smtpAuthEnabled: false }), 'smtp-auth-disabled-tenant'],
    ['mailbox on, tenant off, security defaults', user({ smtpAuthEnabled: true }), tenant({ smtpAuthEnabled: false, securityDefaults: true }), 'security-defaults'],
    ['all on, security defaults', user(), tenant({ securityDefaults: true }), 'security-defaults'],
  ] as const)('%s → %s', (_n, u, t, reason) => {
    expect(evaluateSmtpAuth(u, t)).toEqual({ allowed: false, reason });
  });
  it.each([
    ['mailbox follows, tenant on', user(), tenant()],
    ['mailbox on overrides tenant off', user({ smtpAuthEnabled: true }), tenant({ smtpAuthEnabled: false })],
  ] as const)('%s → allowed', (_n, u, t) => {
    expect(evaluateSmtpAuth(u, t)).toEqual({ allowed: true });
  });
});

describe('maySendAs', () => {
  it('allows the mailbox itself and its grants, case-insensitively, and nothing else', () => {
    const u = user({ sendAs: ['Scans@Contoso.example'] });
    expect(maySendAs(u, 'scanner@contoso.example')).toBe(true);
    expect(maySendAs(u, ' SCANS@contoso.EXAMPLE ')).toBe(true);
    expect(maySendAs(u, 'alice@contoso.example')).toBe(false);
    expect(maySendAs(u, '')).toBe(false);
  });

  it('allows any one of several grants, however the grant was written', () => {
    const u = user({ sendAs: ['scans@contoso.example', ' Reception@Contoso.example '] });
    expect(maySendAs(u, 'reception@contoso.example')).toBe(true);
    expect(maySendAs(u, 'scans@contoso.example')).toBe(true);
  });
});

describe('ConcurrentConnections', () => {
  it('gives 3 slots per mailbox and takes them back', () => {
    const c = new ConcurrentConnections(3);
    expect([1, 2, 3].map(() => c.tryAcquire('A@x'))).toEqual([true, true, true]);
    expect(c.tryAcquire('a@X')).toBe(false);
    expect(c.tryAcquire('b@x')).toBe(true);
    c.release('a@x');
    expect(c.count('a@x')).toBe(2);
    expect(c.tryAcquire('a@x')).toBe(true);
  });
});

describe('SendAsDenials', () => {
  it('throttles after 3 in a row, forgets after the window since the last refusal, resets on success', async () => {
    const clock = new VirtualClock();
    const d = new SendAsDenials(clock, 3, 15 * 60_000);
    d.recordDenial('a@x');
    d.recordDenial('a@x');
    expect(d.isThrottled('a@x')).toBe(false);
    d.recordSuccess('a@x');
    d.recordDenial('a@x');
    d.recordDenial('a@x');
    await clock.advance(10 * 60_000);
    d.recordDenial('a@x');
    expect(d.isThrottled('A@X')).toBe(true);
    await clock.advance(15 * 60_000 - 1);
    expect(d.isThrottled('a@x')).toBe(true);
    await clock.advance(1);
    expect(d.isThrottled('a@x')).toBe(false);
  });
});

describe('DailyRecipientQuota', () => {
  it('allows 10,000 recipients in a rolling 24 h on the clock', async () => {
    const clock = new VirtualClock();
    const q = new DailyRecipientQuota(clock);
    q.record('a@x', 6_000);
    await clock.advance(12 * 3600_000);
    q.record('a@x', 4_000);
    expect(q.allows('a@x', 1)).toBe(false);
    expect(q.allows('b@x', 10_000)).toBe(true);
    await clock.advance(12 * 3600_000);
    expect(q.used('a@x')).toBe(4_000);
    expect(q.allows('a@x', 6_000)).toBe(true);
    expect(q.allows('a@x', 6_001)).toBe(false);
  });
});

describe('SmtpReplyError.fromReplyLine', () => {
  it('splits code, enhanced code and text', () => {
    const e = SmtpReplyError.fromReplyLine('432 4.3.2 Concurrent connections limit exceeded.');
    expect([e.responseCode, e.enhancedCode, e.message, e.reply]).toEqual([432, '4.3.2', '4.3.2 Concurrent connections limit exceeded.', '432 4.3.2 Concurrent connections limit exceeded.']);
    const bare = SmtpReplyError.fromReplyLine('421 closing');
    expect([bare.responseCode, bare.enhancedCode, bare.message]).toEqual([421, null, 'closing']);
    expect(SmtpReplyError.fromReplyLine('nonsense').responseCode).toBe(451);
  });
});
