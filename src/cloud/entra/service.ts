/**
 * Entra ID's behaviour, without HTTP: device code issuance, token grants, and the decisions taken when a sign-in
 * completes. The OAuth routes, the sign-in pages and the control API all go through here.
 */
import type { Clock } from '../../time/clock.ts';
import type { TenantDirectory, UserRecord } from '../directory.ts';
import { DeviceCodeStore, type DeviceCodeRecord } from './device-codes.ts';
import { EntraError, Errors, entraTimestamp } from './errors.ts';
import { RefreshTokenStore, REFRESH_TOKEN_INACTIVITY_MS, type RefreshTokenView } from './refresh-tokens.ts';
import { EXCHANGE_RESOURCE, narrowScopes, parseScopes } from './scopes.ts';
import type { TokenIssuer, TokenResponse } from './tokens.ts';
import { CLIENT_CREDENTIALS_GRANT, type AppOnlyTokenResponse, type ClientCredentialsGrant } from './client-credentials.ts';

export type Params = Record<string, string | undefined>;

export interface DeviceCodeResponse {
  device_code: string;
  user_code: string;
  verification_uri: string;
  expires_in: number;
  interval: number;
  message: string;
}

/** RFC 8628's grant type, and the short form MSAL sends (Entra accepts both). */
export const DEVICE_CODE_GRANTS = ['urn:ietf:params:oauth:grant-type:device_code', 'device_code'];

export class EntraService {
  readonly deviceCodes: DeviceCodeStore;
  readonly refreshTokens = new RefreshTokenStore();

  constructor(
    readonly directory: TenantDirectory,
    readonly issuer: TokenIssuer,
    readonly clock: Clock,
    /** https://host:port/devicelogin, known once the twin listens. */
    private readonly verificationUri: () => string,
    /** App-only tokens (client-credentials.ts); absent: the grant is unsupported. */
    private readonly clientCredentials?: ClientCredentialsGrant,
  ) {
    this.deviceCodes = new DeviceCodeStore(() => clock.now());
  }

  /** `verificationUri`: the sign-in page under the name the client used (default: the listening origin's). */
  requestDeviceCode(p: Params, verificationUri: string = this.verificationUri()): DeviceCodeResponse {
    const clientId = required(p, 'client_id');
    const app = this.knownPublicApp(clientId);
    const scopes = parseScopes(required(p, 'scope'));
    const { expiresInSeconds, intervalSeconds } = this.directory.deviceCode;
    const rec = this.deviceCodes.issue(app.clientId, scopes, expiresInSeconds, intervalSeconds);
    return {
      user_code: rec.userCode,
      device_code: rec.deviceCode,
      verification_uri: verificationUri,
      expires_in: expiresInSeconds,
      interval: intervalSeconds,
      message: `To sign in, use a web browser to open the page ${verificationUri} and enter the code ${rec.userCode} to authenticate.`,
    };
  }

  /** `origin`: the name the client used (id_token `iss` under it); the listening origin when absent. */
  async token(p: Params, origin?: string): Promise<TokenResponse | AppOnlyTokenResponse> {
    const grantType = required(p, 'grant_type');
    if (grantType === CLIENT_CREDENTIALS_GRANT && this.clientCredentials) return this.clientCredentials.grant(p);
    if (DEVICE_CODE_GRANTS.includes(grantType)) return this.deviceCodeGrant(p, origin);
    if (grantType === 'refresh_token') return this.refreshTokenGrant(p, origin);
    throw Errors.unsupportedGrantType(grantType);
  }

  /**
   * A user finished signing in (pages or control API) for this code: apply the tenant's policies and settle the
   * code. Returns the policy error when the sign-in is refused (the poll will get the same error).
   */
  completeSignIn(rec: DeviceCodeRecord, user: UserRecord, mfaDone: boolean): EntraError | null {
    const failure = this.signInPolicyError(rec.clientId, user);
    rec.upn = user.upn;
    rec.mfaDone = mfaDone;
    if (failure) {
      rec.state = 'failed';
      rec.failure = failure;
    } else {
      rec.state = 'approved';
    }
    return failure;
  }

  decline(rec: DeviceCodeRecord): void {
    rec.state = 'declined';
  }

  /** Errors that end a sign-in after the user proved who they are. */
  signInPolicyError(clientId: string, user: UserRecord): EntraError | null {
    const app = this.directory.app(clientId);
    const policy = this.directory.entraPolicy();
    if (!user.enabled) return Errors.userDisabled();
    if (!app || !this.directory.consentGranted(clientId)) return Errors.consentRequired(clientId, app?.displayName ?? clientId);
    if (policy.blockDeviceCodeFlow) return Errors.blockedByConditionalAccess();
    // Security defaults demand MFA; a user without a registered method cannot satisfy it.
    if (policy.securityDefaults && user.mfa === 'none') return Errors.blockedBySecurityDefaults();
    return null;
  }

  tokenViews(): RefreshTokenView[] {
    const now = this.clock.now();
    return this.refreshTokens.all().map((r) => {
      const u = this.directory.record(r.upn);
      const status: RefreshTokenView['status'] =
        now - r.issuedAt >= REFRESH_TOKEN_INACTIVITY_MS
          ? 'inactive-expired'
          : !u || r.sessionGeneration < u.sessionGeneration
            ? 'revoked'
            : r.mfaGeneration < u.mfaGeneration
              ? 'mfa-required'
              : 'active';
      return {
        id: r.id,
        upn: r.upn,
        clientId: r.clientId,
        issuedAt: new Date(r.issuedAt).toISOString(),
        lastRotatedAt: r.rotatedAt === null ? null : new Date(r.rotatedAt).toISOString(),
        status,
      };
    });
  }

  private async deviceCodeGrant(p: Params, origin?: string): Promise<TokenResponse> {
    const clientId = required(p, 'client_id');
    const deviceCode = required(p, 'device_code');
    const app = this.knownPublicApp(clientId);
    const rec = this.deviceCodes.redeem(deviceCode, app.clientId, this.directory.deviceCode.expiredError);
    const user = this.directory.record(rec.upn ?? '');
    if (!user) throw Errors.badVerificationCode();
    // MSAL for Python sends no scope here; the grant is what was asked at /devicecode either way.
    const scopes = p.scope?.trim() ? narrowScopes(rec.scopes, p.scope) : rec.scopes;
    return this.mintFor(user, app.clientId, scopes, rec.mfaDone, user.mfaGeneration, origin);
  }

  private async refreshTokenGrant(p: Params, origin?: string): Promise<TokenResponse> {
    const clientId = required(p, 'client_id');
    const token = required(p, 'refresh_token');
    const app = this.knownPublicApp(clientId);
    const rec = this.refreshTokens.find(token);
    if (!rec) throw Errors.invalidRefreshToken();
    if (rec.clientId !== app.clientId)
      throw new EntraError({ error: 'invalid_grant', aadsts: 70000, description: 'Provided grant is invalid or malformed.' });
    const now = this.clock.now();
    if (now - rec.issuedAt >= REFRESH_TOKEN_INACTIVITY_MS)
      throw Errors.refreshTokenInactive(isoSeconds(rec.issuedAt), isoSeconds(now));
    const user = this.directory.record(rec.upn);
    if (!user || rec.sessionGeneration < user.sessionGeneration)
      throw Errors.freshTokenNeeded(isoSeconds(rec.issuedAt), isoSeconds(user?.tokensValidFrom ?? now));
    if (!user.enabled) throw Errors.userDisabled();
    if (rec.mfaGeneration < user.mfaGeneration) throw Errors.mfaRequired(EXCHANGE_RESOURCE);
    if (!this.directory.consentGranted(app.clientId)) throw Errors.consentRequired(app.clientId, app.displayName);
    const scopes = narrowScopes(rec.scopes, p.scope);
    this.refreshTokens.markRotated(token, now);
    return this.mintFor(user, app.clientId, { resource: scopes.resource, oidc: rec.scopes.oidc }, rec.mfaDone, rec.mfaGeneration, origin);
  }

  private async mintFor(
    user: UserRecord,
    clientId: string,
    scopes: ReturnType<typeof parseScopes>,
    mfaDone: boolean,
    mfaGeneration: number = user.mfaGeneration,
    origin?: string,
  ): Promise<TokenResponse> {
    const app = this.directory.app(clientId)!;
    const refreshToken = scopes.oidc.includes('offline_access')
      ? this.refreshTokens.issue({
          upn: user.upn,
          clientId: app.clientId,
          scopes,
          issuedAt: this.clock.now(),
          sessionGeneration: user.sessionGeneration,
          mfaGeneration,
          mfaDone,
        }).token
      : undefined;
    return this.issuer.mint({ user, app, scopes, mfaDone, refreshToken, origin });
  }

  private knownPublicApp(clientId: string) {
    const app = this.directory.app(clientId);
    if (!app) throw Errors.unknownClient(clientId, this.directory.tenantId);
    if (!app.publicClient) throw Errors.publicClientDisabled();
    return app;
  }
}

function required(p: Params, name: string): string {
  const v = p[name];
  if (v === undefined || v === '') throw Errors.missingParameter(name);
  return v;
}

function isoSeconds(ms: number): string {
  return entraTimestamp(ms).replace(' ', 'T');
}
