/**
 * The XOAUTH2 bearer check (src/cloud/exchange/bearer-token.ts) verifies the RS256 signature with node:crypto and
 * leaves the rest to jose: every token here gets the same verdict from it as from jose's own `jwtVerify` with the
 * options the check used to pass, and the reason the twin logs; an app-only login goes through the same check before
 * its role and mailbox permission.
 */
import { describe, expect, it } from 'vitest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { base64url, createLocalJWKSet, exportJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { createBearerTokenVerifier, SMTP_AUDIENCES, TokenRejectedError } from '../../../src/cloud/exchange/bearer-token.ts';
import { ExchangeServicePrincipals, verifyAppOnlyLogin } from '../../../src/cloud/exchange/service-principals.ts';
import { VirtualClock } from '../../../src/time/clock.ts';

const NOW = Date.UTC(2026, 0, 5, 8, 0, 0);
const ISSUER = 'https://login.microsoftonline.com/tenant/v2.0';
const USER = 'scanner@contoso.com';

const rsa = (bits: number) => generateKeyPairSync('rsa', { modulusLength: bits });
const published = rsa(2048);
const other = rsa(2048);
const small = rsa(1024);
const jwkOf = async (k: ReturnType<typeof rsa>, kid: string): Promise<JWK> => ({ ...(await exportJWK(k.publicKey)), kid, alg: 'RS256', use: 'sig' });
const keys = { keys: [await jwkOf(published, 'k1'), await jwkOf(small, 'small')] };
const trust = { jwks: () => keys, issuers: () => [ISSUER] };

const claims = { upn: USER, scp: 'SMTP.Send', aud: SMTP_AUDIENCES[0], iss: ISSUER, iat: NOW / 1000 - 60, exp: NOW / 1000 + 3600 };
async function token(o: { claims?: Record<string, unknown>; kid?: string; key?: ReturnType<typeof rsa>; header?: Record<string, unknown> } = {}): Promise<string> {
  const body = Object.fromEntries(Object.entries({ ...claims, ...o.claims }).filter(([, v]) => v !== undefined));
  return new SignJWT(body).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: o.kid ?? 'k1', ...o.header }).sign((o.key ?? published).privateKey);
}

/** jose's own verdict with the options the check passed it before: null (accepted) or the error's class name. */
async function joseVerdict(t: string): Promise<string | null> {
  try {
    await jwtVerify(t, createLocalJWKSet(keys), { issuer: [ISSUER], audience: SMTP_AUDIENCES, currentDate: new Date(NOW), algorithms: ['RS256'], requiredClaims: ['exp'] });
    return null;
  } catch (err) {
    return (err as Error).constructor.name;
  }
}

async function ourVerdict(t: string): Promise<string> {
  const verifier = createBearerTokenVerifier(trust, new VirtualClock(NOW));
  try {
    return (await verifier.verify(USER, t)).upn;
  } catch (err) {
    if (err instanceof TokenRejectedError) return err.reason;
    throw err;
  }
}

/** Signed by hand: jose will not sign with a key under 2048 bits (it will not verify with one either). */
const signedWith = (k: ReturnType<typeof rsa>, kid: string) => {
  const input = `${base64url.encode(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))}.${base64url.encode(JSON.stringify(claims))}`;
  return `${input}.${base64url.encode(sign('RSA-SHA256', Buffer.from(input), k.privateKey))}`;
};

const tamper = (t: string) => {
  const [h, , s] = t.split('.');
  return `${h}.${base64url.encode(JSON.stringify({ ...claims, upn: 'admin@contoso.com' }))}.${s}`;
};

describe('the XOAUTH2 bearer check', () => {
  it('gives every token the verdict jose gives it', async () => {
    const cases: [string, string, string | null][] = [
      ['a good token', await token(), null],
      ['expired', await token({ claims: { exp: NOW / 1000 - 1 } }), 'JWTExpired'],
      ['not valid yet', await token({ claims: { nbf: NOW / 1000 + 600 } }), 'JWTClaimValidationFailed'],
      ['another issuer', await token({ claims: { iss: 'https://elsewhere.example' } }), 'JWTClaimValidationFailed'],
      ['another audience', await token({ claims: { aud: 'https://graph.microsoft.com' } }), 'JWTClaimValidationFailed'],
      ['no exp', await token({ claims: { exp: undefined } }), 'JWTClaimValidationFailed'],
      ['signed with a key that is not published', await token({ key: other }), 'JWSSignatureVerificationFailed'],
      ['a kid that is not published', await token({ kid: 'k9' }), 'JWKSNoMatchingKey'],
      ['a payload changed after signing', tamper(await token()), 'JWSSignatureVerificationFailed'],
      ['a published key under 2048 bits', signedWith(small, 'small'), 'TypeError'],
      ['not a JWT', 'not-a-jwt', 'JWSInvalid'],
      ['alg none', `${base64url.encode('{"alg":"none"}')}.${base64url.encode(JSON.stringify(claims))}.`, 'JOSEAlgNotAllowed'],
    ];
    const expected = { JWTExpired: 'expired', JWSSignatureVerificationFailed: 'bad-signature', JWKSNoMatchingKey: 'bad-signature', TypeError: 'malformed', JWSInvalid: 'malformed', JOSEAlgNotAllowed: 'malformed' } as Record<string, string>;
    const claimReason: Record<string, string> = { 'not valid yet': 'not-yet-valid', 'another issuer': 'wrong-issuer', 'another audience': 'wrong-audience', 'no exp': 'malformed' };
    for (const [what, t, jose] of cases) {
      expect(await joseVerdict(t), `jose on ${what}`).toBe(jose);
      const want = jose === null ? USER : (claimReason[what] ?? expected[jose]);
      expect(await ourVerdict(t), what).toBe(want);
    }
  });
});

describe('an app-only login', () => {
  const APP_ID = '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a';
  const SP = '2b3c4d5e-6f70-4b8c-9dae-000000000b01';
  const principals = new ExchangeServicePrincipals({
    servicePrincipals: [{ appId: APP_ID, objectId: SP, displayName: 'Scan Server (app-only)' }],
    mailboxPermissions: [{ mailbox: USER, servicePrincipal: SP, accessRights: ['FullAccess'] }],
  });
  const appClaims = { scp: undefined, upn: undefined, roles: ['SMTP.SendAsApp'], appid: APP_ID, oid: SP, idtyp: 'app' };

  async function verdict(t: string, mailbox = USER): Promise<string> {
    const tokens = createBearerTokenVerifier(trust, new VirtualClock(NOW));
    try {
      return (await verifyAppOnlyLogin(mailbox, t, { tokens, principals })).upn;
    } catch (err) {
      if (err instanceof TokenRejectedError) return err.reason;
      throw err;
    }
  }

  it('is judged by the same signature, issuer, audience and expiry check as a delegated one, which names what failed', async () => {
    expect(await verdict(await token({ claims: appClaims }))).toBe(USER);
    expect(await verdict(await token({ claims: { ...appClaims, exp: NOW / 1000 - 1 } }))).toBe('expired');
    expect(await verdict(await token({ claims: { ...appClaims, aud: 'https://graph.microsoft.com' } }))).toBe('wrong-audience');
    expect(await verdict(await token({ claims: { ...appClaims, iss: 'https://elsewhere.example' } }))).toBe('wrong-issuer');
    expect(await verdict(await token({ claims: appClaims, key: other }))).toBe('bad-signature');
    expect(await verdict('not-a-jwt')).toBe('malformed');
  });

  it('then needs the SMTP.SendAsApp role and FullAccess on the mailbox', async () => {
    expect(await verdict(await token({ claims: { ...appClaims, roles: [] } }))).toBe('missing-role');
    expect(await verdict(await token({ claims: appClaims }), 'admin@contoso.com')).toBe('no-mailbox-permission');
    expect(await verdict(await token({ claims: { ...appClaims, oid: '1a2b3c4d-5e6f-4a7b-8c9d-000000000a02' } }))).toBe('no-mailbox-permission');
  });
});
