/**
 * Entra ID protocol errors, typed (panva style: the class carries the OAuth `error` and the AADSTS code), and the
 * exact JSON body Microsoft sends for them.
 */
import { randomUUID } from 'node:crypto';

export interface EntraErrorInit {
  error: string;
  aadsts?: number;
  description: string;
  suberror?: string;
  status?: number;
  /** Extra top-level fields some errors carry (e.g. `claims` for MFA). */
  extra?: Record<string, unknown>;
}

export class EntraError extends Error {
  readonly error: string;
  readonly aadsts: number | undefined;
  readonly description: string;
  readonly suberror: string | undefined;
  readonly status: number;
  readonly extra: Record<string, unknown> | undefined;

  constructor(init: EntraErrorInit) {
    super(init.aadsts ? `AADSTS${init.aadsts}: ${init.description}` : init.description);
    this.name = 'EntraError';
    this.error = init.error;
    this.aadsts = init.aadsts;
    this.description = init.description;
    this.suberror = init.suberror;
    this.status = init.status ?? 400;
    this.extra = init.extra;
  }
}

/** Microsoft's timestamp format in error bodies: `2022-08-25 09:34:07Z`. */
export function entraTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

export interface EntraErrorBody {
  error: string;
  error_description: string;
  error_codes: number[];
  timestamp: string;
  trace_id: string;
  correlation_id: string;
  error_uri: string;
  suberror?: string;
  [extra: string]: unknown;
}

/** The body as login.microsoftonline.com writes it (error_description ends with the trace block, CRLF-separated). */
export function entraErrorBody(
  err: EntraError,
  nowMs: number,
  errorUriBase: string,
  correlationId: string = randomUUID(),
): EntraErrorBody {
  const timestamp = entraTimestamp(nowMs);
  const traceId = randomUUID();
  const head = err.aadsts ? `AADSTS${err.aadsts}: ${err.description}` : err.description;
  const body: EntraErrorBody = {
    error: err.error,
    error_description: `${head}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
    error_codes: err.aadsts ? [err.aadsts] : [],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${errorUriBase}/error?code=${err.aadsts ?? 0}`,
  };
  if (err.suberror) body.suberror = err.suberror;
  if (err.extra) Object.assign(body, err.extra);
  return body;
}

/** The errors the twin answers, with Microsoft's wording. */
export const Errors = {
  missingParameter: (name: string) =>
    new EntraError({
      error: 'invalid_request',
      aadsts: 900144,
      description: `The request body must contain the following parameter: '${name}'.`,
    }),
  malformed: () =>
    new EntraError({ error: 'invalid_request', aadsts: 9002313, description: 'Invalid request. Request is malformed or invalid.' }),
  methodNotAllowed: (method: string) =>
    new EntraError({
      error: 'invalid_request',
      aadsts: 900561,
      description: `The endpoint only accepts POST, OPTIONS requests. Received a ${method} request.`,
    }),
  unknownTenant: (tenant: string) =>
    new EntraError({
      error: 'invalid_tenant',
      aadsts: 90002,
      description: `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    }),
  unknownClient: (clientId: string, tenantId: string) =>
    new EntraError({
      error: 'unauthorized_client',
      aadsts: 700016,
      description:
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the ` +
        'application has not been installed by the administrator of the tenant or consented to by any user in the ' +
        'tenant. You may have sent your authentication request to the wrong tenant.',
    }),
  publicClientDisabled: () =>
    new EntraError({
      error: 'invalid_client',
      aadsts: 7000218,
      description: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    }),
  unsupportedGrantType: (grant: string) =>
    new EntraError({
      error: 'unsupported_grant_type',
      aadsts: 70003,
      description: `The app requested an unsupported grant type '${grant}'.`,
    }),
  invalidScope: (scope: string) =>
    new EntraError({
      error: 'invalid_scope',
      aadsts: 70011,
      description: `The provided value for the input parameter 'scope' is not valid. The scope ${scope} is not valid.`,
    }),
  authorizationPending: () =>
    new EntraError({
      error: 'authorization_pending',
      aadsts: 70016,
      description: 'The provided request has not yet been authorized by the user. The user must input their code.',
    }),
  badVerificationCode: () =>
    new EntraError({
      error: 'bad_verification_code',
      aadsts: 70018,
      description: 'Invalid verification code. The user must enter the correct code.',
    }),
  codeExpired: (variant: 'code_expired' | 'expired_token') =>
    variant === 'code_expired'
      ? new EntraError({ error: 'code_expired', aadsts: 70020, description: 'The provided value for the input parameter \'device_code\' is not valid. This device code has expired.' })
      : new EntraError({ error: 'expired_token', aadsts: 70019, description: 'Verification code expired.' }),
  declined: () =>
    new EntraError({ error: 'authorization_declined', aadsts: 70017, description: 'The user declined the authorization request.' }),
  codeAlreadyUsed: () =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 90120,
      description: 'The request was already authorized or declined. The device code is no longer valid.',
    }),
  invalidRefreshToken: () =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 9002313,
      description: 'Invalid request. Request is malformed or invalid.',
    }),
  refreshTokenInactive: (issuedAt: string, now: string) =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 700082,
      description:
        `The refresh token has expired due to inactivity. The token was issued on ${issuedAt} and was inactive for ` +
        `90.00:00:00. Current time ${now}.`,
    }),
  freshTokenNeeded: (issuedAt: string, validFrom: string) =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 50173,
      description:
        'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have ' +
        `changed or reset their password. The grant was issued on '${issuedAt}' and the TokensValidFrom date (before ` +
        `which tokens are not valid) for this user is '${validFrom}'.`,
    }),
  mfaRequired: (resource: string) =>
    new EntraError({
      error: 'interaction_required',
      aadsts: 50076,
      suberror: 'basic_action',
      description:
        'Due to a configuration change made by your administrator, or because you moved to a new location, you must ' +
        `use multi-factor authentication to access '${resource}'.`,
    }),
  consentRequired: (clientId: string, appName: string) =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 65001,
      suberror: 'consent_required',
      description:
        `The user or administrator has not consented to use the application with ID '${clientId}' named '${appName}'. ` +
        'Send an interactive authorization request for this user and resource.',
    }),
  blockedByConditionalAccess: () =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 53003,
      description: 'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
    }),
  blockedBySecurityDefaults: () =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 530035,
      description: 'Access has been blocked by security defaults. This is due to the request using legacy auth or being deemed unsafe by security defaults policies.',
    }),
  userDisabled: () =>
    new EntraError({ error: 'invalid_grant', aadsts: 50057, description: 'The user account is disabled.' }),
  invalidCredentials: () =>
    new EntraError({ error: 'invalid_grant', aadsts: 50126, description: 'Error validating credentials due to invalid username or password.' }),
  accountLocked: () =>
    new EntraError({
      error: 'invalid_grant',
      aadsts: 50053,
      description: "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.",
    }),
} as const;
