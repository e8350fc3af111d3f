/**
 * The client credentials grant (app-only tokens) as Entra ID answers it for Exchange Online SMTP
 * (microsoft-protocol-facts.md, "App-only sending"): a client secret (with its expiry, on the twin's clock) or a
 * client assertion signed with a registered certificate (`x5t` / `x5t#S256`), scope `<resource>/.default` only,
 * and an access token with `roles` (when admin consent is given), `idtyp: app`, no `scp`, no refresh token.
 */
import { createHash, randomBytes, timingSafeEqual, X509Certificate } from 'node:crypto';
import { decodeProtectedHeader, importX509, jwtVerify } from 'jose';
import type { FixtureAppCredentials, FixtureSecret } from '../auth-methods-fixture.ts';
import type { TenantDirectory } from '../directory.ts';
import { EntraError, Errors } from './errors.ts';
import type { Params } from './service.ts';
import { signJwt, type SigningKey } from './signing-key.ts';

export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The audience Entra writes into app-only tokens for Exchange Online. */
export const APP_ONLY_AUDIENCE = 'https://outlook.office365.com';
const EXCHANGE_RESOURCES = ['https://outlook.office365.com', 'https://outlook.office.com'];
/** App-only access tokens live an hour (Entra answers expires_in 3599). */
const APP_TOKEN_SECONDS = 3599;

export interface AppOnlyTokenResponse {
  token_type: 'Bearer';
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
}

/** Microsoft's wording for the client-credentials refusals. */
export const AppOnlyErrors = {
  scopeWithoutDefault: (scope: string) =>
    new EntraError({
      error: 'invalid_scope',
      aadsts: 1002012,
      description:
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with ` +
        '/.default suffixed to the resource identifier (application ID URI).',
    }),
  unknownResource: (resource: string, tenant: string) =>
    new EntraError({
      error: 'invalid_resource',
      aadsts: 500011,
      description:
        `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can happen if the ` +
        'application has not been installed by the administrator of the tenant or consented to by any user in the tenant.',
    }),
  invalidSecret: (appId: string) =>
    new EntraError({
      error: 'invalid_client',
      aadsts: 7000215,
      status: 401,
      description:
        'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not ' +
        `the client secret ID, for a secret added to app '${appId}'.`,
    }),
  expiredSecret: (appId: string) =>
    new EntraError({
      error: 'invalid_client',
      aadsts: 7000222,
      status: 401,
      description:
        `The provided client secret keys for app '${appId}' are expired. Visit the Azure portal to create new keys for ` +
        'your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.',
    }),
  assertionKeyNotFound: (thumbprint: string) =>
    new EntraError({
      error: 'invalid_client',
      aadsts: 700027,
      status: 401,
      description:
        'The certificate with identifier used to sign the client assertion is not registered on application. ' +
        `[Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}']`,
    }),
  assertionBadSignature: () =>
    new EntraError({ error: 'invalid_client', aadsts: 700027, status: 401, description: 'Client assertion failed signature validation.' }),
  assertionInvalid: (why: string) =>
    new EntraError({ error: 'invalid_client', aadsts: 700023, status: 401, description: `Client assertion is not valid: ${why}.` }),
  noServicePrincipal: (appId: string, tenantId: string) =>
    new EntraError({
      error: 'invalid_client',
      aadsts: 7000229,
      description:
        `The client application ${appId} is missing service principal in the tenant ${tenantId}. See instructions ` +
        'here: https://go.microsoft.com/fwlink/?linkid=2225119',
    }),
} as const;

/** What the control API shows of an app's credentials: never a secret's value. */
export interface AppCredentialsView {
  clientId: string;
  objectId: string;
  servicePrincipalObjectId: string | null;
  applicationPermissions: string[];
  adminConsent: boolean;
  secrets: { hint: string; expiresAt: string }[];
  certificates: { x5t: string; 'x5t#S256': string; subject: string; notAfter: string }[];
}

export type AppCredentialsPatch = Partial<Pick<FixtureAppCredentials, 'servicePrincipalObjectId' | 'adminConsent' | 'applicationPermissions'>>;

/** The confidential-client side of the tenant's app registrations, seeded from the fixture. */
export class AppCredentialStore {
  private readonly apps = new Map<string, FixtureAppCredentials>();

  constructor(fixture: FixtureAppCredentials[]) {
    for (const a of fixture) this.apps.set(a.clientId, { ...a, secrets: [...a.secrets], certificates: [...a.certificates] });
  }

  get(clientId: string): FixtureAppCredentials | undefined {
    return this.apps.get(clientId.toLowerCase());
  }

  view(clientId: string): AppCredentialsView | undefined {
    const a = this.get(clientId);
    if (!a) return undefined;
    return {
      clientId: a.clientId,
      objectId: a.objectId,
      servicePrincipalObjectId: a.servicePrincipalObjectId,
      applicationPermissions: [...a.applicationPermissions],
      adminConsent: a.adminConsent,
      secrets: a.secrets.map((s) => ({ hint: `${s.hint}${'*'.repeat(8)}`, expiresAt: new Date(s.expiresAt).toISOString() })),
      certificates: a.certificates.map(describeCertificate),
    };
  }

  list(): AppCredentialsView[] {
    return [...this.apps.keys()].map((id) => this.view(id)!);
  }

  /** "New client secret": the value is the caller's (test data); only its hint is ever shown back. */
  addSecret(clientId: string, secret: Omit<FixtureSecret, 'hint'>): AppCredentialsView {
    const a = this.mustGet(clientId);
    if (secret.value.length < 8) throw new AppCredentialsError(400, 'a client secret has at least 8 characters');
    if (!Number.isFinite(secret.expiresAt)) throw new AppCredentialsError(400, 'expiresAt must be an ISO 8601 instant');
    a.secrets.push({ ...secret, hint: secret.value.slice(0, 3) });
    return this.view(clientId)!;
  }

  /** Deletes every secret (rotation: add a new one afterwards). */
  clearSecrets(clientId: string): AppCredentialsView {
    this.mustGet(clientId).secrets = [];
    return this.view(clientId)!;
  }

  addCertificate(clientId: string, pem: string): AppCredentialsView {
    const a = this.mustGet(clientId);
    try {
      new X509Certificate(pem);
    } catch {
      throw new AppCredentialsError(400, 'not a PEM certificate');
    }
    a.certificates.push(pem);
    return this.view(clientId)!;
  }

  patch(clientId: string, p: AppCredentialsPatch): AppCredentialsView {
    const a = this.mustGet(clientId);
    if (p.servicePrincipalObjectId !== undefined) a.servicePrincipalObjectId = p.servicePrincipalObjectId?.toLowerCase() ?? null;
    if (p.adminConsent !== undefined) a.adminConsent = p.adminConsent;
    if (p.applicationPermissions !== undefined) a.applicationPermissions = [...p.applicationPermissions];
    return this.view(clientId)!;
  }

  private mustGet(clientId: string): FixtureAppCredentials {
    const a = this.get(clientId);
    if (!a) throw new AppCredentialsError(404, `no app-only credentials for app ${clientId}`);
    return a;
  }
}

export class AppCredentialsError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AppCredentialsError';
  }
}

export interface ClientCredentialsGrantOptions {
  directory: TenantDirectory;
  credentials: AppCredentialStore;
  key: SigningKey;
  /** `https://sts.windows.net/{tid}/`, the issuer of v1 access tokens. */
  v1Issuer: () => string;
  /** https://host:port of the twin: a client assertion's audience is its token endpoint. */
  origin: () => string;
  now: () => number;
}

export class ClientCredentialsGrant {
  constructor(private readonly o: ClientCredentialsGrantOptions) {}

  async grant(p: Params): Promise<AppOnlyTokenResponse> {
    const { directory } = this.o;
    const clientId = required(p, 'client_id').toLowerCase();
    const app = directory.app(clientId);
    if (!app) throw Errors.unknownClient(clientId, directory.tenantId);
    const scope = required(p, 'scope');
    this.checkScope(scope);
    const creds = this.o.credentials.get(clientId);
    const secret = p.client_secret;
    const assertion = p.client_assertion;
    if (!secret && !assertion) throw Errors.publicClientDisabled(); // AADSTS7000218: neither credential
    if (assertion) {
      if (p.client_assertion_type !== JWT_BEARER_ASSERTION) throw Errors.missingParameter('client_assertion_type');
      await this.checkAssertion(assertion, clientId, creds);
    } else {
      this.checkSecret(secret ?? '', clientId, creds);
    }
    // Credentials are valid; without an enterprise application in the tenant there is nothing to issue for.
    if (!creds?.servicePrincipalObjectId) throw AppOnlyErrors.noServicePrincipal(clientId, directory.tenantId);
    const consented = creds.adminConsent && directory.consentGranted(clientId);
    const roles = consented ? creds.applicationPermissions : [];
    const nowS = Math.floor(this.o.now() / 1000);
    const access = signJwt(this.o.key, {
      aud: APP_ONLY_AUDIENCE,
      iss: this.o.v1Issuer(),
      iat: nowS,
      nbf: nowS,
      exp: nowS + APP_TOKEN_SECONDS,
      app_displayname: app.displayName,
      appid: clientId,
      appidacr: assertion ? '2' : '1',
      idp: this.o.v1Issuer(),
      idtyp: 'app',
      oid: creds.servicePrincipalObjectId,
      ...(roles.length ? { roles } : {}),
      sub: creds.servicePrincipalObjectId,
      tid: directory.tenantId,
      uti: randomBytes(16).toString('base64url').slice(0, 22),
      ver: '1.0',
    }, { x5t: true });
    return { token_type: 'Bearer', expires_in: APP_TOKEN_SECONDS, ext_expires_in: APP_TOKEN_SECONDS, access_token: access };
  }

  /** Every scope of a client-credentials request is `<resource>/.default`, and the resource is Exchange's. */
  private checkScope(scope: string): void {
    const scopes = scope.split(/\s+/).filter(Boolean);
    if (scopes.length === 0 || scopes.some((s) => !s.toLowerCase().endsWith('/.default'))) throw AppOnlyErrors.scopeWithoutDefault(scope);
    for (const s of scopes) {
      const resource = s.slice(0, -'/.default'.length).replace(/\/$/, '').toLowerCase();
      if (!EXCHANGE_RESOURCES.includes(resource)) throw AppOnlyErrors.unknownResource(resource, this.o.directory.tenantId);
    }
  }

  /** A current secret matches; a match only among expired ones is AADSTS7000222; none is AADSTS7000215. */
  private checkSecret(given: string, clientId: string, creds: FixtureAppCredentials | undefined): void {
    const now = this.o.now();
    const matching = (creds?.secrets ?? []).filter((s) => sameSecret(s.value, given));
    if (matching.some((s) => s.expiresAt > now)) return;
    if (matching.length) throw AppOnlyErrors.expiredSecret(clientId);
    throw AppOnlyErrors.invalidSecret(clientId);
  }

  /**
   * The assertion names its certificate by thumbprint, is signed by that certificate's key, and names the app as
   * issuer and subject and this twin's token endpoint as audience. Its lifetime is not held against the twin's clock:
   * MSAL stamps it with the wall clock while a scenario's twin may be years ahead.
   */
  private async checkAssertion(assertion: string, clientId: string, creds: FixtureAppCredentials | undefined): Promise<void> {
    let header;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      throw AppOnlyErrors.assertionInvalid('not a JWT');
    }
    const s256 = typeof header['x5t#S256'] === 'string' ? (header['x5t#S256'] as string) : undefined;
    const s1 = typeof header.x5t === 'string' ? header.x5t : undefined;
    if (!s256 && !s1) throw AppOnlyErrors.assertionInvalid("the header has neither 'x5t' nor 'x5t#S256'");
    const pem = (creds?.certificates ?? []).find((c) => {
      const d = describeCertificate(c);
      return (s256 && d['x5t#S256'] === s256) || (s1 && d.x5t === s1);
    });
    if (!pem) throw AppOnlyErrors.assertionKeyNotFound(thumbprintHex(s256 ?? s1 ?? ''));
    const alg = header.alg === 'PS256' ? 'PS256' : 'RS256';
    let payload;
    try {
      const key = await importX509(pem, alg);
      ({ payload } = await jwtVerify(assertion, key, { algorithms: [alg], currentDate: new Date(0), clockTolerance: Number.MAX_SAFE_INTEGER }));
    } catch {
      throw AppOnlyErrors.assertionBadSignature();
    }
    if (payload.iss?.toLowerCase() !== clientId || payload.sub?.toLowerCase() !== clientId)
      throw AppOnlyErrors.assertionInvalid("'iss' and 'sub' must be the application's client id");
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud ?? ''];
    const endpointOk = audiences.some((a) => {
      const lower = a.toLowerCase();
      return lower.startsWith(this.o.origin().toLowerCase()) && lower.endsWith('/oauth2/v2.0/token');
    });
    if (!endpointOk) throw AppOnlyErrors.assertionInvalid("'aud' must be the token endpoint");
    if (typeof payload.exp !== 'number') throw AppOnlyErrors.assertionInvalid("'exp' is missing");
  }
}

function describeCertificate(pem: string): AppCredentialsView['certificates'][number] {
  const cert = new X509Certificate(pem);
  return {
    x5t: createHash('sha1').update(cert.raw).digest('base64url'),
    'x5t#S256': createHash('sha256').update(cert.raw).digest('base64url'),
    subject: cert.subject,
    notAfter: new Date(cert.validTo).toISOString(),
  };
}

function thumbprintHex(b64url: string): string {
  return Buffer.from(b64url, 'base64url').toString('hex').toUpperCase();
}

function sameSecret(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

function required(p: Params, name: string): string {
  const v = p[name];
  if (v === undefined || v === '') throw Errors.missingParameter(name);
  return v;
}
