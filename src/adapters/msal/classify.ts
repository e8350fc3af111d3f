/**
 * Entra's answers, as msal-node surfaces them, turned into the device's typed failures. Pure.
 *
 * What msal-node 7 gives us (checked in node_modules/@azure/msal-node and msal-common):
 *  - a polling error other than authorization_pending: AuthError `post_request_failed` whose message is only the
 *    `error` word (DeviceCodeClient.acquireTokenWithDeviceCode) — the AADSTS code comes from the body our network
 *    client kept;
 *  - a refresh error: ServerError / InteractionRequiredAuthError with `errorCode` = `error`, `subError`, and
 *    `errorNo` = the first of `error_codes` (ResponseHandler.validateTokenResponse);
 *  - an unreachable or untrusted authority: ClientAuthError `endpoints_resolution_error` and nothing else (the
 *    network client remembers why);
 *  - cancellation: ClientAuthError `device_code_polling_cancelled`; MSAL's own wall-clock expiry `device_code_expired`.
 */
import { AuthError, ServerError, InteractionRequiredAuthError } from '@azure/msal-node';
import { APP_CREDENTIAL_REASONS, protocolCode, RefreshFailure, SignInFailure, tlsReasonOfCode, type ProtocolCode } from '../../device/failures.ts';
import { EntraHttpError, EntraTransportError, type EntraErrorBody } from './errors.ts';

/** Everything the classifier needs to know about one failure, whatever shape it arrived in. */
export interface EntraFailureFacts {
  /** MSAL's errorCode (post_request_failed, invalid_grant, endpoints_resolution_error...), or the JS error name. */
  msalCode: string;
  /** The OAuth `error` word, when Entra answered. */
  error: string | null;
  aadsts: number | null;
  subError: string | null;
  /** First line of error_description (no trace/correlation ids). */
  description: string | null;
  httpStatus: number | null;
  retryAfterMs: number | null;
  transport: { kind: 'network' | 'tls'; code: string; detail: string } | null;
}

/**
 * Gathers the facts from what MSAL threw, the error body the network client kept for the request, and — for
 * `endpoints_resolution_error` — why discovery failed.
 */
export function factsOf(
  err: unknown,
  body: EntraErrorBody | null = null,
  discoveryFailure: EntraTransportError | EntraHttpError | null = null,
): EntraFailureFacts {
  const facts: EntraFailureFacts = {
    msalCode: err instanceof AuthError ? err.errorCode : err instanceof Error ? err.name : 'unknown',
    error: null,
    aadsts: null,
    subError: null,
    description: null,
    httpStatus: null,
    retryAfterMs: null,
    transport: null,
  };
  const fromTransport = (t: EntraTransportError) => {
    facts.transport = { kind: t.kind, code: t.transportCode, detail: t.errorMessage };
  };
  const fromHttp = (h: EntraHttpError) => {
    facts.httpStatus = h.httpStatus;
    facts.retryAfterMs = h.retryAfterMs;
    if (h.body) fromBody(h.body);
  };
  const fromBody = (b: EntraErrorBody) => {
    facts.error = b.error ?? facts.error;
    facts.aadsts = b.error_codes?.[0] ?? aadstsIn(b.error_description) ?? facts.aadsts;
    facts.subError = b.suberror || facts.subError;
    facts.description = firstLine(b.error_description) ?? facts.description;
  };

  if (err instanceof EntraTransportError) fromTransport(err);
  else if (err instanceof EntraHttpError) fromHttp(err);
  else if (err instanceof ServerError || err instanceof InteractionRequiredAuthError) {
    facts.error = err.errorCode || null;
    facts.subError = err.subError || null;
    const no = Number(err.errorNo);
    facts.aadsts = Number.isFinite(no) && no > 0 ? no : aadstsIn(err.errorMessage);
    facts.description = descriptionIn(err.errorMessage);
    if (err instanceof ServerError && err.status) facts.httpStatus = err.status;
  } else if (err instanceof AuthError && err.errorCode === 'post_request_failed') {
    facts.error = err.errorMessage.trim() || null;
  }
  if (body) fromBody(body);
  if (facts.msalCode === 'endpoints_resolution_error' && discoveryFailure) {
    if (discoveryFailure instanceof EntraTransportError) fromTransport(discoveryFailure);
    else fromHttp(discoveryFailure);
  }
  return facts;
}

/** Stable reasons for the AADSTS codes the device can meet (the panel shows them; the twin serves them). */
const AADSTS_REASONS: Record<number, string> = {
  50057: 'account-disabled',
  50076: 'mfa-required',
  50078: 'mfa-required',
  50126: 'invalid-credentials',
  50173: 'password-changed',
  53003: 'blocked-by-policy',
  65001: 'consent-required',
  90093: 'admin-approval-required',
  90094: 'admin-approval-required',
  90002: 'unknown-tenant',
  90120: 'code-already-used',
  70011: 'invalid-scope',
  70018: 'bad-verification-code',
  70019: 'code-expired',
  70020: 'code-expired',
  530035: 'blocked-by-security-defaults',
  700016: 'unknown-client',
  700082: 'refresh-token-expired',
};

/** The most telling code of a failure: the AADSTS number, else the socket's, the HTTP status, the OAuth error, MSAL's. */
function codeOf(f: EntraFailureFacts): ProtocolCode | null {
  if (f.aadsts !== null) return protocolCode('aadsts', f.aadsts);
  if (f.transport) return protocolCode('socket', f.transport.code);
  if (f.httpStatus !== null) return protocolCode('http', f.httpStatus);
  if (f.error) return protocolCode('oauth', f.error);
  return f.msalCode ? protocolCode('msal', f.msalCode) : null;
}

const replyOf = (f: EntraFailureFacts): string | null =>
  f.description ?? (f.transport ? `${f.transport.kind === 'tls' ? 'TLS failure' : 'network failure'}: ${f.transport.detail}` : f.error);

function reasonOf(f: EntraFailureFacts): string {
  if (f.transport) return f.transport.kind === 'tls' ? tlsReasonOfCode(f.transport.code, f.transport.detail) : 'network';
  if (f.httpStatus === 429) return 'throttled';
  if (f.httpStatus !== null && f.httpStatus >= 500) return 'server-error';
  if (f.aadsts !== null && AADSTS_REASONS[f.aadsts]) return AADSTS_REASONS[f.aadsts]!;
  if (f.subError === 'consent_required' || f.error === 'consent_required') return 'consent-required';
  switch (f.error) {
    case 'unauthorized_client':
      return 'unknown-client';
    case 'invalid_tenant':
      return 'unknown-tenant';
    case 'invalid_scope':
      return 'invalid-scope';
    case 'interaction_required':
    case 'login_required':
      return 'interaction-required';
    case 'temporarily_unavailable':
    case 'server_error':
      return 'server-error';
    case 'invalid_grant':
      return 'invalid-grant';
  }
  if (f.msalCode === 'endpoints_resolution_error') return 'authority-unreachable';
  return f.error ? f.error.replace(/_/g, '-') : 'unexpected';
}

/**
 * A failed device-code sign-in. `codeIssued` says whether Entra had handed out a user code: before it, everything is
 * a failed code request; after it, the poll's answer decides.
 */
export function classifySignIn(f: EntraFailureFacts, codeIssued: boolean): SignInFailure {
  const code = codeOf(f);
  const reply = replyOf(f);
  if (f.msalCode === 'device_code_polling_cancelled') return new SignInFailure({ kind: 'cancelled', reason: 'cancelled' });
  if (!codeIssued) return new SignInFailure({ kind: 'code-request-failed', reason: reasonOf(f), code, reply });
  if (f.error === 'authorization_declined') return new SignInFailure({ kind: 'declined', reason: 'declined', code: protocolCode('oauth', 'authorization_declined'), reply });
  // Entra documents expired_token (70019) and answers code_expired (70020); MSAL also gives up by itself on wall time.
  if (f.error === 'expired_token' || f.error === 'code_expired' || f.aadsts === 70019 || f.aadsts === 70020) {
    return new SignInFailure({ kind: 'expired', reason: 'code-expired', code, reply });
  }
  if (f.msalCode === 'device_code_expired') {
    return new SignInFailure({ kind: 'expired', reason: 'code-expired', code: protocolCode('msal', 'device_code_expired'), reply });
  }
  if (f.error === 'slow_down') {
    // RFC 8628 says poll more slowly; msal-node treats any error but authorization_pending as final.
    return new SignInFailure({
      kind: 'poll-failed',
      reason: 'slow-down',
      code: protocolCode('oauth', 'slow_down'),
      reply: 'Entra asked the device to poll more slowly (slow_down); msal-node ends the sign-in on it',
    });
  }
  return new SignInFailure({ kind: 'poll-failed', reason: reasonOf(f), code, reply });
}

/**
 * A failed refresh. Permanent (sign in again) when the refresh token is unusable: invalid_grant of any kind and
 * every interaction-required answer; transient (retry later, keep the tokens) for network, TLS, 429 and 5xx, and for
 * anything unrecognised — deleting a possibly good token on an unknown error would force a needless sign-in.
 */
export function classifyRefresh(f: EntraFailureFacts): RefreshFailure {
  const code = codeOf(f);
  const reply = replyOf(f);
  if (f.transport || f.httpStatus === 429 || (f.httpStatus !== null && f.httpStatus >= 500)) {
    return new RefreshFailure({ transient: true, reason: reasonOf(f), code, reply, retryAfterMs: f.retryAfterMs });
  }
  if (f.msalCode === 'no_tokens_found' || f.msalCode === 'refresh_token_expired' || f.msalCode === 'no_account_in_silent_request') {
    return new RefreshFailure({ transient: false, reason: 'no-token', code: protocolCode('msal', f.msalCode), reply });
  }
  const interaction =
    f.error === 'invalid_grant' ||
    f.error === 'interaction_required' ||
    f.error === 'login_required' ||
    f.error === 'consent_required' ||
    (f.subError !== null && ['basic_action', 'additional_action', 'message_only', 'consent_required', 'bad_token', 'user_password_expired'].includes(f.subError));
  if (interaction) return new RefreshFailure({ transient: false, reason: reasonOf(f), code, reply });
  if (f.error === 'temporarily_unavailable' || f.error === 'server_error') {
    return new RefreshFailure({ transient: true, reason: 'server-error', code, reply, retryAfterMs: f.retryAfterMs });
  }
  return new RefreshFailure({ transient: true, reason: reasonOf(f), code, reply, retryAfterMs: f.retryAfterMs });
}

/** AADSTS codes of a client-credentials request that only the admin can fix (a new secret, or Entra's registration). */
const APP_CREDENTIAL_AADSTS: Record<number, (typeof APP_CREDENTIAL_REASONS)[number]> = {
  7000215: 'client-secret-invalid',
  7000222: 'client-secret-expired',
  700027: 'client-assertion-invalid',
  7000229: 'app-not-in-tenant',
  1002012: 'scope-invalid',
};

/**
 * A failed client-credentials request (app-only). Transient for network, TLS, 429 and 5xx (retry later); the app's
 * own credential or registration errors are permanent with their reason (the panel asks for a new secret); any
 * other answer from Entra (a 4xx: unknown client, unknown tenant, …) is permanent too: retrying the same request
 * with the same secret gets the same answer.
 */
export function classifyClientCredentials(f: EntraFailureFacts): RefreshFailure {
  const code = codeOf(f);
  const reply = replyOf(f);
  if (f.transport || f.httpStatus === 429 || (f.httpStatus !== null && f.httpStatus >= 500) || f.error === 'temporarily_unavailable' || f.error === 'server_error') {
    return new RefreshFailure({ transient: true, reason: reasonOf(f), code, reply, retryAfterMs: f.retryAfterMs });
  }
  const own = f.aadsts !== null ? APP_CREDENTIAL_AADSTS[f.aadsts] : undefined;
  if (own) return new RefreshFailure({ transient: false, reason: own, code, reply });
  if (f.error !== null || f.aadsts !== null) return new RefreshFailure({ transient: false, reason: reasonOf(f), code, reply });
  return new RefreshFailure({ transient: true, reason: reasonOf(f), code, reply, retryAfterMs: f.retryAfterMs });
}

function aadstsIn(text: string | undefined | null): number | null {
  const m = /AADSTS(\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : null;
}

function firstLine(text: string | undefined | null): string | null {
  const line = (text ?? '').split(/\r?\n/)[0]?.trim();
  return line ? line : null;
}

/** ServerError messages read "Error(s): … - Description: AADSTS…\r\nTrace ID…": keep the description's first line. */
function descriptionIn(message: string): string | null {
  const m = /Description: (.*?)(?:\r?\n| - Correlation ID:|$)/s.exec(message);
  return firstLine(m ? m[1] : message);
}
