/**
 * The Entra classifier (pure unit test, kept with this module's e2e suite), fed with the error objects msal-node 7
 * really throws (its own classes) and the bodies our network client keeps.
 */
import { describe, expect, it } from 'vitest';
import { AuthError, ClientAuthError, InteractionRequiredAuthError, ServerError } from '@azure/msal-node';
import { classifyRefresh, classifySignIn, factsOf } from '../../src/adapters/msal/classify.ts';
import { EntraHttpError, EntraTransportError, type EntraErrorBody } from '../../src/adapters/msal/errors.ts';

const body = (error: string, aadsts?: number, suberror?: string): EntraErrorBody => ({
  error,
  error_codes: aadsts ? [aadsts] : undefined,
  error_description: `${aadsts ? `AADSTS${aadsts}: ` : ''}Something about ${error}.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-01-05 08:00:00Z`,
  suberror,
});
/** What DeviceCodeClient throws for any polling error but authorization_pending. */
const pollError = (error: string) => new AuthError('post_request_failed', 'cid', error);
/** What ResponseHandler.validateTokenResponse throws for a refresh error. */
const serverError = (b: EntraErrorBody) =>
  new ServerError(b.error!, 'cid', `Error(s): ${b.error_codes} - Timestamp: x - Description: ${b.error_description} - Correlation ID: 2 - Trace ID: 1`, b.suberror, String(b.error_codes?.[0] ?? ''), 400);

describe('classifySignIn', () => {
  it.each([
    ['authorization_declined', undefined, undefined, 'declined', 'declined', 'authorization_declined'],
    ['expired_token', 70019, undefined, 'expired', 'code-expired', 'AADSTS70019'],
    ['code_expired', 70020, undefined, 'expired', 'code-expired', 'AADSTS70020'],
    ['slow_down', undefined, undefined, 'poll-failed', 'slow-down', 'slow_down'],
    ['invalid_grant', 65001, 'consent_required', 'poll-failed', 'consent-required', 'AADSTS65001'],
    ['invalid_grant', 53003, undefined, 'poll-failed', 'blocked-by-policy', 'AADSTS53003'],
    ['invalid_grant', 530035, undefined, 'poll-failed', 'blocked-by-security-defaults', 'AADSTS530035'],
    ['invalid_grant', 50057, undefined, 'poll-failed', 'account-disabled', 'AADSTS50057'],
    ['invalid_grant', 90120, undefined, 'poll-failed', 'code-already-used', 'AADSTS90120'],
    ['bad_verification_code', 70018, undefined, 'poll-failed', 'bad-verification-code', 'AADSTS70018'],
  ] as const)('poll answer %s %s', (error, aadsts, sub, kind, reason, code) => {
    const f = classifySignIn(factsOf(pollError(error), body(error, aadsts, sub)), true);
    expect({ kind: f.kind, reason: f.reason, code: f.code }).toEqual({ kind, reason, code });
  });

  it('keeps the first line of the description as the reply (no trace ids)', () => {
    const f = classifySignIn(factsOf(pollError('invalid_grant'), body('invalid_grant', 53003)), true);
    expect(f.reply).toBe('AADSTS53003: Something about invalid_grant.');
  });

  it('an expired answer without a kept body is still recognised from the error word', () => {
    expect(classifySignIn(factsOf(pollError('code_expired')), true)).toMatchObject({ kind: 'expired', reason: 'code-expired' });
  });

  it('before a code was issued everything is a failed code request', () => {
    expect(classifySignIn(factsOf(null, body('unauthorized_client', 700016)), false)).toMatchObject({
      kind: 'code-request-failed',
      reason: 'unknown-client',
      code: 'AADSTS700016',
    });
    expect(classifySignIn(factsOf(null, body('invalid_tenant', 90002)), false)).toMatchObject({ kind: 'code-request-failed', reason: 'unknown-tenant' });
    const net = new EntraTransportError('network', 'ECONNREFUSED', 'https://x/devicecode', 'connect ECONNREFUSED');
    expect(classifySignIn(factsOf(net), false)).toMatchObject({ kind: 'code-request-failed', reason: 'network', code: 'ECONNREFUSED' });
    const busy = new EntraHttpError(503, 5000, null, 'cid');
    expect(classifySignIn(factsOf(busy), false)).toMatchObject({ kind: 'code-request-failed', reason: 'server-error', code: 'HTTP 503' });
  });

  it('TLS trouble shows only as endpoints_resolution_error in MSAL; the discovery failure says why', () => {
    const msal = new ClientAuthError('endpoints_resolution_error', 'cid');
    const tls = new EntraTransportError('tls', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'https://x/.well-known', 'unable to verify the first certificate');
    expect(classifySignIn(factsOf(msal, null, tls), false)).toMatchObject({ kind: 'code-request-failed', reason: 'tls', code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(classifySignIn(factsOf(msal), false)).toMatchObject({ kind: 'code-request-failed', reason: 'authority-unreachable' });
  });

  it('network trouble after the code was issued is a failed poll', () => {
    const net = new EntraTransportError('network', 'UND_ERR_SOCKET', 'https://x/token', 'other side closed');
    expect(classifySignIn(factsOf(net), true)).toMatchObject({ kind: 'poll-failed', reason: 'network' });
  });

  it('cancellation and MSAL’s own wall-clock expiry', () => {
    expect(classifySignIn(factsOf(new ClientAuthError('device_code_polling_cancelled', 'cid')), true).kind).toBe('cancelled');
    expect(classifySignIn(factsOf(new ClientAuthError('device_code_expired', 'cid')), true)).toMatchObject({ kind: 'expired', code: 'device_code_expired' });
  });
});

describe('classifyRefresh', () => {
  it.each([
    [50173, 'password-changed'],
    [700082, 'refresh-token-expired'],
    [65001, 'consent-required'],
    [50057, 'account-disabled'],
    [53003, 'blocked-by-policy'],
  ])('invalid_grant AADSTS%i → permanent %s', (aadsts, reason) => {
    const f = classifyRefresh(factsOf(serverError(body('invalid_grant', aadsts))));
    expect({ transient: f.transient, reason: f.reason, code: f.code }).toEqual({ transient: false, reason, code: `AADSTS${aadsts}` });
    expect(f.reply).toBe(`AADSTS${aadsts}: Something about invalid_grant.`);
  });

  it('interaction required (MFA 50076, basic_action) → permanent', () => {
    const b = body('interaction_required', 50076, 'basic_action');
    const err = new InteractionRequiredAuthError('interaction_required', 'cid', b.error_description, 'basic_action', '', '', '', '50076');
    expect(classifyRefresh(factsOf(err))).toMatchObject({ transient: false, reason: 'mfa-required', code: 'AADSTS50076' });
  });

  it('MSAL finds no refresh token → permanent no-token', () => {
    expect(classifyRefresh(factsOf(new InteractionRequiredAuthError('no_tokens_found', 'cid')))).toMatchObject({ transient: false, reason: 'no-token' });
  });

  it('network, TLS, 429 and 5xx → transient, with Retry-After', () => {
    const net = classifyRefresh(factsOf(new EntraTransportError('network', 'ECONNRESET', 'u', 'read ECONNRESET')));
    expect(net).toMatchObject({ transient: true, reason: 'network', code: 'ECONNRESET', retryAfterMs: null });
    expect(classifyRefresh(factsOf(new EntraTransportError('tls', 'CERT_HAS_EXPIRED', 'u', 'certificate has expired')))).toMatchObject({ transient: true, reason: 'tls' });
    expect(classifyRefresh(factsOf(new EntraHttpError(429, 120_000, null, 'cid')))).toMatchObject({ transient: true, reason: 'throttled', retryAfterMs: 120_000 });
    const unavailable = new EntraHttpError(503, null, body('temporarily_unavailable', 50196), 'cid');
    expect(classifyRefresh(factsOf(unavailable))).toMatchObject({ transient: true, reason: 'server-error', code: 'AADSTS50196' });
    expect(classifyRefresh(factsOf(new ClientAuthError('endpoints_resolution_error', 'cid')))).toMatchObject({ transient: true });
  });

  it('something unrecognised keeps the tokens (transient)', () => {
    expect(classifyRefresh(factsOf(new Error('boom')))).toMatchObject({ transient: true, reason: 'unexpected' });
  });
});
