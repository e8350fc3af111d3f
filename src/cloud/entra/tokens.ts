/**
 * Minting of the tokens Entra returns for the device code and refresh token grants: a v1 access token for Exchange
 * Online (what Outlook's resource gets in reality), a v2 id_token for the app, client_info, and the response body.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Random } from '../../util/random.ts';
import type { AppRecord, UserRecord } from '../directory.ts';
import { EXCHANGE_RESOURCE, formatScopes, type GrantedScopes } from './scopes.ts';
import { signJwt, type SigningKey } from './signing-key.ts';

export interface TokenResponse {
  token_type: 'Bearer';
  scope: string;
  expires_in: number;
  ext_expires_in: number;
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  client_info: string;
}

export interface TokenIssuerOptions {
  tenantId: string;
  /** https://host:port of the twin (known once it listens); the v2 issuer is `${origin}/${tenantId}/v2.0`. */
  origin: () => string;
  key: SigningKey;
  rng: Random;
  now: () => number;
  /** A fixed access-token lifetime (the fixture's `tokens.accessTokenLifetimeSeconds`); unset: 60–90 minutes. */
  accessLifetimeS?: number | null;
}

/** Access token lifetime: 60–90 minutes, drawn from the seeded source (Entra's documented variation). */
const ACCESS_MIN_S = 60 * 60;
const ACCESS_MAX_S = 90 * 60;
const ID_TOKEN_S = 60 * 60;

export class TokenIssuer {
  constructor(private readonly o: TokenIssuerOptions) {}

  /** Issuer of the id_token and of discovery. */
  get v2Issuer(): string {
    return this.v2IssuerAt(this.o.origin());
  }

  /** The v2 issuer as seen from an origin a client used (e.g. https://login.microsoftonline.com). */
  v2IssuerAt(origin: string): string {
    return `${origin}/${this.o.tenantId}/v2.0`;
  }

  /** Issuer of v1 access tokens such as Exchange's (`https://sts.windows.net/{tid}/`). */
  get v1Issuer(): string {
    return `https://sts.windows.net/${this.o.tenantId}/`;
  }

  async mint(args: {
    user: UserRecord;
    app: AppRecord;
    scopes: GrantedScopes;
    mfaDone: boolean;
    refreshToken?: string;
    /** The origin the client used; the id_token's `iss` is under it. */
    origin?: string;
  }): Promise<TokenResponse> {
    const { user, app, scopes } = args;
    const nowS = Math.floor(this.o.now() / 1000);
    const lifetime = this.o.accessLifetimeS ?? this.o.rng.int(ACCESS_MIN_S, ACCESS_MAX_S);
    const [given, ...rest] = user.displayName.split(' ');
    const accessToken = signJwt(this.o.key, {
      aud: EXCHANGE_RESOURCE,
      iss: this.v1Issuer,
      iat: nowS,
      nbf: nowS,
      exp: nowS + lifetime,
      acr: '1',
      amr: args.mfaDone ? ['pwd', 'mfa'] : ['pwd'],
      app_displayname: app.displayName,
      appid: app.clientId,
      appidacr: '0',
      given_name: given,
      family_name: rest.join(' ') || undefined,
      ipaddr: '127.0.0.1',
      name: user.displayName,
      oid: user.objectId,
      scp: scopes.resource.join(' '),
      sub: pairwiseSub(user.objectId, EXCHANGE_RESOURCE),
      tid: this.o.tenantId,
      unique_name: user.upn,
      upn: user.upn,
      uti: uti(),
      ver: '1.0',
    }, { x5t: true });
    const id = scopes.oidc.includes('openid') ? this.idToken(user, app, nowS, args.origin ? this.v2IssuerAt(args.origin) : this.v2Issuer) : null;
    const body: TokenResponse = {
      token_type: 'Bearer',
      scope: formatScopes(scopes),
      expires_in: lifetime,
      ext_expires_in: lifetime,
      access_token: accessToken,
      client_info: Buffer.from(JSON.stringify({ uid: user.objectId, utid: this.o.tenantId })).toString('base64url'),
    };
    if (args.refreshToken) body.refresh_token = args.refreshToken;
    if (id !== null) body.id_token = id;
    return body;
  }

  private idToken(user: UserRecord, app: AppRecord, nowS: number, iss: string): string {
    return signJwt(this.o.key, {
      aud: app.clientId,
      iss,
      iat: nowS,
      nbf: nowS,
      exp: nowS + ID_TOKEN_S,
      name: user.displayName,
      oid: user.objectId,
      preferred_username: user.upn,
      email: user.upn,
      rh: '0.twin',
      sub: pairwiseSub(user.objectId, app.clientId),
      tid: this.o.tenantId,
      uti: uti(),
      ver: '2.0',
    });
  }
}

/** Entra's `sub` is pairwise: stable per user and app, different across apps. */
function pairwiseSub(oid: string, audience: string): string {
  return createHash('sha256').update(`${oid}|${audience}`).digest('base64url').slice(0, 43);
}

/** Unique token id, as Entra's 22-character `uti`. */
function uti(): string {
  return randomBytes(16).toString('base64url').slice(0, 22);
}
