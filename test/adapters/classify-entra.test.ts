/**
 * The Entra classifier (pure unit test, kept with this module's e2e suite), fed with the error objects msal-node 7
 * really throws (its own classes) and the bodies our network client keeps.
 */
import { describe, expect, it } from 'vitest';
import { AuthError, ClientAuthError, InteractionRequiredAuthError, ServerError } from '@azure/msal-node';
import { classifyClientCredentials, classifyRefresh, classifySignIn, factsOf, type EntraFailureFacts } from '../../src/adapters/msal/classify.ts';
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
    ['authorization_declined', undefined, undefined, 'declined', 'declined', { kind: 'oauth', value: 'authorization_declined' }],
    ['expired_token', 70019, undefined, 'expired', 'code-expired', { kind: 'aadsts', value: '70019' }],
    ['code_expired', 70020, undefined, 'expired', 'code-expired', { kind: 'aadsts', value: '70020' }],
    ['slow_down', undefined, undefined, 'poll-failed', 'slow-down', { kind: 'oauth', value: 'slow_down' }],
    ['invalid_grant', 65001, 'consent_required', 'poll-failed', 'consent-required', { kind: 'aadsts', value: '65001' }],
    ['invalid_grant', 53003, undefined, 'poll-failed', 'blocked-by-policy', { kind: 'aadsts', value: '53003' }],
    ['invalid_grant', 530035, undefined, 'poll-failed', 'blocked-by-security-defaults', { kind: 'aadsts', value: '530035' }],
    ['invalid_grant', 50057, undefined, 'poll-failed', 'account-disabled', { kind: 'aadsts', value: '50057' }],
    ['invalid_grant', 90120, undefined, 'poll-failed', 'code-already-used', { kind: 'aadsts', value: '90120' }],
    ['bad_verification_code', 70018, undefined, 'poll-failed', 'bad-verification-code', { kind: 'aadsts', value: '70018' }],
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
      code: { kind: 'aadsts', value: '700016' },
    });
    expect(classifySignIn(factsOf(null, body('invalid_tenant', 90002)), false)).toMatchObject({ kind: 'code-request-failed', reason: 'unknown-tenant' });
    const net = new EntraTransportError('network', 'ECONNREFUSED', 'https://x/devicecode', 'connect ECONNREFUSED');
    expect(classifySignIn(factsOf(net), false)).toMatchObject({ kind: 'code-request-failed', reason: 'network', code: { kind: 'socket', value: 'ECONNREFUSED' } });
    const busy = new EntraHttpError(503, 5000, null, 'cid');
    expect(classifySignIn(factsOf(busy), false)).toMatchObject({ kind: 'code-request-failed', reason: 'server-error', code: { kind: 'http', value: '503' } });
  });

  it('TLS trouble shows only as endpoints_resolution_error in MSAL; the discovery failure says why', () => {
    const msal = new ClientAuthError('endpoints_resolution_error', 'cid');
    const tls = new EntraTransportError('tls', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'https://x/.well-known', 'unable to verify the first certificate');
    expect(classifySignIn(factsOf(msal, null, tls), false)).toMatchObject({ kind: 'code-request-failed', reason: 'unknown-ca', code: { kind: 'socket', value: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' } });
    expect(classifySignIn(factsOf(msal), false)).toMatchObject({ kind: 'code-request-failed', reason: 'authority-unreachable' });
  });

  it('network trouble after the code was issued is a failed poll', () => {
    const net = new EntraTransportError('network', 'UND_ERR_SOCKET', 'https://x/token', 'other side closed');
    expect(classifySignIn(factsOf(net), true)).toMatchObject({ kind: 'poll-failed', reason: 'network' });
  });

  it('cancellation and MSAL’s own wall-clock expiry', () => {
    expect(classifySignIn(factsOf(new ClientAuthError('device_code_polling_cancelled', 'cid')), true).kind).toBe('cancelled');
    expect(classifySignIn(factsOf(new ClientAuthError('device_code_expired', 'cid')), true)).toMatchObject({ kind: 'expired', reason: 'code-expired', code: { kind: 'msal', value: 'device_code_expired' } });
  });
});

describe('the reason, code and reply the panel shows', () => {
  // Before a code is issued the reason is the classifier's reading of Entra's answer, unchanged.
  const reasonOf = (b: EntraErrorBody) => classifySignIn(factsOf(null, b), false);

  it.each([
    ['invalid_grant', 50076, 'mfa-required'],
    ['invalid_grant', 50078, 'mfa-required'],
    ['invalid_grant', 50126, 'invalid-credentials'],
    ['invalid_grant', 50173, 'password-changed'],
    ['invalid_grant', 90093, 'admin-approval-required'],
    ['invalid_grant', 90094, 'admin-approval-required'],
    ['invalid_request', 90002, 'unknown-tenant'],
    ['invalid_grant', 90120, 'code-already-used'],
    ['invalid_scope', 70011, 'invalid-scope'],
    ['invalid_grant', 70019, 'code-expired'],
    ['invalid_grant', 70020, 'code-expired'],
    ['invalid_grant', 700082, 'refresh-token-expired'],
    ['invalid_request', 65001, 'consent-required'],
    ['invalid_request', 12345, 'invalid-request'],
  ] as const)('%s AADSTS%i → %s', (error, aadsts, reason) => {
    expect(reasonOf(body(error, aadsts))).toMatchObject({ reason, code: { kind: 'aadsts', value: String(aadsts) } });
  });

  it.each([
    ['unauthorized_client', 'unknown-client'],
    ['invalid_tenant', 'unknown-tenant'],
    ['invalid_scope', 'invalid-scope'],
    ['interaction_required', 'interaction-required'],
    ['login_required', 'interaction-required'],
    ['temporarily_unavailable', 'server-error'],
    ['server_error', 'server-error'],
    ['invalid_grant', 'invalid-grant'],
    ['consent_required', 'consent-required'],
    ['access_denied', 'access-denied'],
    ['some_new_error_word', 'some-new-error-word'],
  ])('without an AADSTS code, the error word %s → %s', (error, reason) => {
    expect(reasonOf({ error })).toMatchObject({ reason, code: { kind: 'oauth', value: error }, reply: error });
  });

  it('a consent_required suberror wins over the error word', () => {
    expect(reasonOf({ error: 'invalid_grant', suberror: 'consent_required' })).toMatchObject({ reason: 'consent-required' });
  });

  it('the AADSTS code is read from the description when error_codes is missing', () => {
    expect(reasonOf({ error: 'invalid_grant', error_description: 'AADSTS50126: Error validating credentials.\r\nTrace ID: 1' })).toMatchObject({
      reason: 'invalid-credentials',
      code: { kind: 'aadsts', value: '50126' },
      reply: 'AADSTS50126: Error validating credentials.',
    });
  });

  it('transport failures say which kind in the reply', () => {
    const net = classifySignIn(factsOf(new EntraTransportError('network', 'ECONNREFUSED', 'u', 'connect ECONNREFUSED')), false);
    expect(net).toMatchObject({ reason: 'network', code: { kind: 'socket', value: 'ECONNREFUSED' }, reply: 'network failure: ECONNREFUSED: connect ECONNREFUSED' });
    const tls = classifySignIn(factsOf(new EntraTransportError('tls', 'CERT_HAS_EXPIRED', 'u', 'certificate has expired')), false);
    expect(tls).toMatchObject({ reason: 'cert-expired', code: { kind: 'socket', value: 'CERT_HAS_EXPIRED' }, reply: 'TLS failure: CERT_HAS_EXPIRED: certificate has expired' });
  });

  it('an HTTP failure without a body is named by its status; with a body, by what the body says', () => {
    expect(classifySignIn(factsOf(new EntraHttpError(500, null, null, 'cid')), false)).toMatchObject({ reason: 'server-error', code: { kind: 'http', value: '500' }, reply: null });
    expect(classifySignIn(factsOf(new EntraHttpError(429, 1_000, null, 'cid')), false)).toMatchObject({ reason: 'throttled', code: { kind: 'http', value: '429' } });
    expect(classifySignIn(factsOf(new EntraHttpError(499, null, null, 'cid')), false)).toMatchObject({ code: { kind: 'http', value: '499' } });
    expect(classifySignIn(factsOf(new EntraHttpError(499, null, null, 'cid')), false).reason).not.toBe('server-error');
    const withBody = factsOf(new EntraHttpError(503, 30_000, body('temporarily_unavailable', 50196), 'cid'));
    expect(withBody).toMatchObject({ httpStatus: 503, retryAfterMs: 30_000, error: 'temporarily_unavailable', aadsts: 50196, description: 'AADSTS50196: Something about temporarily_unavailable.' });
  });

  it('a discovery failure that was an HTTP error explains endpoints_resolution_error', () => {
    const msal = new ClientAuthError('endpoints_resolution_error', 'cid');
    const f = factsOf(msal, null, new EntraHttpError(503, null, null, 'cid'));
    expect(f).toMatchObject({ msalCode: 'endpoints_resolution_error', httpStatus: 503 });
    expect(classifySignIn(f, false)).toMatchObject({ reason: 'server-error', code: { kind: 'http', value: '503' } });
    // Other MSAL errors do not borrow the discovery failure.
    expect(factsOf(new ClientAuthError('network_error', 'cid'), null, new EntraHttpError(503, null, null, 'cid')).httpStatus).toBeNull();
  });

  it('reads ServerError fields: suberror, status, and the AADSTS code from the message when errorNo is empty', () => {
    const err = new ServerError('invalid_grant', 'cid', 'Error(s): 50126 - Timestamp: x - Description: AADSTS50126: Error validating credentials.\r\nTrace ID: 1 - Correlation ID: 2', 'basic_action', '', 400);
    expect(factsOf(err)).toMatchObject({
      msalCode: 'invalid_grant',
      error: 'invalid_grant',
      subError: 'basic_action',
      aadsts: 50126,
      httpStatus: 400,
      description: 'AADSTS50126: Error validating credentials.',
    });
    const bare = new ServerError('invalid_grant', 'cid', 'AADSTS70000: Provided grant is invalid.', undefined, 'not-a-number');
    expect(factsOf(bare)).toMatchObject({ aadsts: 70000, subError: null, httpStatus: null, description: 'AADSTS70000: Provided grant is invalid.' });
  });

  it('a polling error with an empty message, and things that are not MSAL errors at all', () => {
    expect(factsOf(new AuthError('post_request_failed', 'cid', '   ')).error).toBeNull();
    expect(factsOf(new AuthError('post_request_failed', 'cid', ' authorization_declined ')).error).toBe('authorization_declined');
    expect(factsOf(new AuthError('some_other_code', 'cid', 'authorization_declined')).error).toBeNull();
    expect(factsOf(new TypeError('x')).msalCode).toBe('TypeError');
    expect(factsOf('a string').msalCode).toBe('unknown');
    expect(classifySignIn(factsOf('a string'), true)).toMatchObject({ kind: 'poll-failed', reason: 'unexpected', code: { kind: 'msal', value: 'unknown' }, reply: null });
  });

  it('a kept body adds to what MSAL said without erasing it', () => {
    const f = factsOf(pollError('invalid_grant'), { error_codes: [53003] });
    expect(f).toMatchObject({ error: 'invalid_grant', aadsts: 53003, description: null, subError: null });
  });
});

describe('classifySignIn: ordering', () => {
  it('cancellation wins even before a code was issued', () => {
    expect(classifySignIn(factsOf(new ClientAuthError('device_code_polling_cancelled', 'cid')), false)).toMatchObject({ kind: 'cancelled', reason: 'cancelled' });
  });

  it('an expiry is recognised from the AADSTS code alone, or from expired_token alone', () => {
    expect(classifySignIn(factsOf(pollError('invalid_grant'), body('invalid_grant', 70019)), true)).toMatchObject({ kind: 'expired', code: { kind: 'aadsts', value: '70019' } });
    expect(classifySignIn(factsOf(pollError('invalid_grant'), body('invalid_grant', 70020)), true)).toMatchObject({ kind: 'expired' });
    expect(classifySignIn(factsOf(pollError('expired_token')), true)).toMatchObject({ kind: 'expired', reason: 'code-expired', code: { kind: 'oauth', value: 'expired_token' } });
  });

  it('a declined sign-in keeps Entra’s words', () => {
    expect(classifySignIn(factsOf(pollError('authorization_declined'), body('authorization_declined', 70000)), true)).toMatchObject({
      kind: 'declined',
      code: { kind: 'oauth', value: 'authorization_declined' },
      reply: 'AADSTS70000: Something about authorization_declined.',
    });
  });

  it('slow_down explains itself', () => {
    expect(classifySignIn(factsOf(pollError('slow_down')), true).reply).toMatch(/poll more slowly/);
  });
});

describe('classifyRefresh', () => {
  it.each(['refresh_token_expired', 'no_account_in_silent_request'])('MSAL %s → permanent no-token', (code) => {
    expect(classifyRefresh(factsOf(new InteractionRequiredAuthError(code, 'cid')))).toMatchObject({ transient: false, reason: 'no-token', code: { kind: 'msal', value: code } });
  });

  it.each([
    ['login_required', undefined, 'interaction-required'],
    ['consent_required', undefined, 'consent-required'],
    ['some_error', 'additional_action', 'some-error'],
    ['some_error', 'message_only', 'some-error'],
    ['some_error', 'consent_required', 'consent-required'],
    ['some_error', 'bad_token', 'some-error'],
    ['some_error', 'user_password_expired', 'some-error'],
  ] as const)('%s / suberror %s → permanent %s', (error, sub, reason) => {
    expect(classifyRefresh(factsOf(serverError(body(error, undefined, sub))))).toMatchObject({ transient: false, reason });
  });

  it('interaction_required alone, or an interaction suberror alone, is permanent', () => {
    expect(classifyRefresh(factsOf(serverError(body('interaction_required'))))).toMatchObject({ transient: false, reason: 'interaction-required' });
    expect(classifyRefresh(factsOf(serverError(body('some_error', undefined, 'basic_action'))))).toMatchObject({ transient: false, reason: 'some-error' });
  });

  it('network, TLS, 429 and 5xx stay transient whatever word the body carries: the token may still be good', () => {
    const f = classifyRefresh(factsOf(new EntraHttpError(503, 60_000, body('invalid_grant', 50173), 'cid')));
    expect(f).toMatchObject({ transient: true, reason: 'server-error', retryAfterMs: 60_000 });
    expect(classifyRefresh(factsOf(new EntraHttpError(429, 5_000, body('interaction_required'), 'cid')))).toMatchObject({ transient: true, reason: 'throttled', retryAfterMs: 5_000 });
    expect(classifyRefresh(factsOf(new EntraTransportError('network', 'ECONNRESET', 'u', 'read ECONNRESET'), body('invalid_grant')))).toMatchObject({ transient: true, reason: 'network' });
  });

  it('an unknown suberror is not an interaction: transient', () => {
    expect(classifyRefresh(factsOf(serverError(body('some_error', undefined, 'something_new'))))).toMatchObject({ transient: true, reason: 'some-error' });
  });

  it('server_error or temporarily_unavailable in a 400 body is transient, and keeps the Retry-After', () => {
    expect(classifyRefresh(factsOf(new EntraHttpError(400, 7_000, body('server_error'), 'cid')))).toMatchObject({ transient: true, reason: 'server-error', retryAfterMs: 7_000 });
    expect(classifyRefresh(factsOf(serverError(body('temporarily_unavailable'))))).toMatchObject({ transient: true, reason: 'server-error', retryAfterMs: null });
  });

  it('a 5xx keeps its Retry-After; a 4xx that is not 429 is not a throttle', () => {
    expect(classifyRefresh(factsOf(new EntraHttpError(500, 45_000, null, 'cid')))).toMatchObject({ transient: true, reason: 'server-error', retryAfterMs: 45_000 });
    expect(classifyRefresh(factsOf(new EntraHttpError(499, 45_000, null, 'cid'))).reason).not.toBe('server-error');
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
    expect({ transient: f.transient, reason: f.reason, code: f.code }).toEqual({ transient: false, reason, code: { kind: 'aadsts', value: String(aadsts) } });
    expect(f.reply).toBe(`AADSTS${aadsts}: Something about invalid_grant.`);
  });

  it('interaction required (MFA 50076, basic_action) → permanent', () => {
    const b = body('interaction_required', 50076, 'basic_action');
    const err = new InteractionRequiredAuthError('interaction_required', 'cid', b.error_description, 'basic_action', '', '', '', '50076');
    expect(classifyRefresh(factsOf(err))).toMatchObject({ transient: false, reason: 'mfa-required', code: { kind: 'aadsts', value: '50076' } });
  });

  it('MSAL finds no refresh token → permanent no-token', () => {
    expect(classifyRefresh(factsOf(new InteractionRequiredAuthError('no_tokens_found', 'cid')))).toMatchObject({ transient: false, reason: 'no-token' });
  });

  it('network, TLS, 429 and 5xx → transient, with Retry-After', () => {
    const net = classifyRefresh(factsOf(new EntraTransportError('network', 'ECONNRESET', 'u', 'read ECONNRESET')));
    expect(net).toMatchObject({ transient: true, reason: 'network', code: { kind: 'socket', value: 'ECONNRESET' }, retryAfterMs: null });
    expect(classifyRefresh(factsOf(new EntraTransportError('tls', 'CERT_HAS_EXPIRED', 'u', 'certificate has expired')))).toMatchObject({ transient: true, reason: 'cert-expired' });
    expect(classifyRefresh(factsOf(new EntraHttpError(429, 120_000, null, 'cid')))).toMatchObject({ transient: true, reason: 'throttled', retryAfterMs: 120_000 });
    const unavailable = new EntraHttpError(503, null, body('temporarily_unavailable', 50196), 'cid');
    expect(classifyRefresh(factsOf(unavailable))).toMatchObject({ transient: true, reason: 'server-error', code: { kind: 'aadsts', value: '50196' } });
    expect(classifyRefresh(factsOf(new ClientAuthError('endpoints_resolution_error', 'cid')))).toMatchObject({ transient: true });
  });

  it('something unrecognised keeps the tokens (transient)', () => {
    expect(classifyRefresh(factsOf(new Error('boom')))).toMatchObject({ transient: true, reason: 'unexpected' });
  });
});

describe('classifyClientCredentials (app-only)', () => {
  const facts = (over: Partial<EntraFailureFacts>): EntraFailureFacts => ({
    msalCode: 'post_request_failed', error: null, aadsts: null, subError: null, description: null, httpStatus: null, retryAfterMs: null, transport: null, ...over,
  });

  it('transient for the network, 429, 5xx and Entra’s own temporary errors, keeping Retry-After', () => {
    for (const f of [
      facts({ transport: { kind: 'network', code: 'ECONNRESET', detail: 'reset' } }),
      facts({ httpStatus: 429, retryAfterMs: 5000, error: 'invalid_client', aadsts: 7000215 }),
      facts({ httpStatus: 500 }),
      facts({ httpStatus: 503, error: 'invalid_request' }),
      facts({ httpStatus: 400, error: 'temporarily_unavailable' }),
      facts({ httpStatus: 400, error: 'server_error' }),
    ]) {
      expect(classifyClientCredentials(f).transient, JSON.stringify(f)).toBe(true);
    }
    expect(classifyClientCredentials(facts({ httpStatus: 429, retryAfterMs: 5000 })).retryAfterMs).toBe(5000);
    expect(classifyClientCredentials(facts({ httpStatus: 499, error: 'invalid_request' })).transient).toBe(false);
  });

  it('the app’s own credential and registration errors are permanent, each with its reason', () => {
    const cases: [number, string][] = [
      [7000215, 'client-secret-invalid'],
      [7000222, 'client-secret-expired'],
      [700027, 'client-assertion-invalid'],
      [7000229, 'app-not-in-tenant'],
      [1002012, 'scope-invalid'],
    ];
    for (const [aadsts, reason] of cases) {
      const r = classifyClientCredentials(facts({ httpStatus: 401, error: 'invalid_client', aadsts, description: `AADSTS${aadsts}: no` }));
      expect({ transient: r.transient, reason: r.reason, code: r.code }, String(aadsts)).toEqual({ transient: false, reason, code: { kind: 'aadsts', value: String(aadsts) } });
    }
  });

  it('any other answer from Entra is permanent; silence is transient', () => {
    expect(classifyClientCredentials(facts({ httpStatus: 400, error: 'invalid_request', aadsts: 90002 }))).toMatchObject({ transient: false });
    expect(classifyClientCredentials(facts({ httpStatus: 400, error: 'unauthorized_client' }))).toMatchObject({ transient: false });
    expect(classifyClientCredentials(facts({ aadsts: 90002 }))).toMatchObject({ transient: false });
    expect(classifyClientCredentials(facts({}))).toMatchObject({ transient: true });
  });
});
