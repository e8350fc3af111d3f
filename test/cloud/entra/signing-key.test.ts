/**
 * The twin signs its tokens with node:crypto (signJwt) rather than jose's SignJWT (WebCrypto, a thread-pool job per
 * token): the tokens must be the ones jose would have made, and verify with jose against the published key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { ensureSigningKey, signJwt, type SigningKey } from '../../../src/cloud/entra/signing-key.ts';

let dir: string;
let key: SigningKey;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mfp-signing-key-'));
  key = await ensureSigningKey(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const claims = {
  aud: 'https://outlook.office.com',
  iss: 'https://sts.windows.net/tenant/',
  iat: 1_790_000_000,
  nbf: 1_790_000_000,
  exp: 1_790_003_600,
  amr: ['pwd', 'mfa'],
  family_name: undefined,
  name: 'Scan to Email — Büro',
  upn: 'scanner@contoso.com',
  scp: 'SMTP.Send',
  ver: '1.0',
};

describe('signJwt', () => {
  it("gives byte for byte the token jose's SignJWT gives (RS256 PKCS#1 v1.5 is deterministic)", async () => {
    const v1 = await new SignJWT(claims).setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: key.kid, x5t: key.kid }).sign(key.signer);
    expect(signJwt(key, claims, { x5t: true })).toBe(v1);
    const v2 = await new SignJWT(claims).setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: key.kid }).sign(key.signer);
    expect(signJwt(key, claims)).toBe(v2);
  });

  it('verifies with jose against the published key, with the claims and header it was given', async () => {
    const token = signJwt(key, claims);
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet({ keys: [key.publicJwk] }), {
      audience: claims.aud,
      issuer: claims.iss,
      currentDate: new Date((claims.iat + 60) * 1000),
      algorithms: ['RS256'],
    });
    const { family_name: _left, ...kept } = claims; // JSON leaves undefined members out
    expect(payload).toEqual(kept);
    expect(protectedHeader).toEqual({ typ: 'JWT', alg: 'RS256', kid: key.kid });
    expect(decodeProtectedHeader(token)).not.toHaveProperty('x5t');
  });

  it('is refused by jose once a byte of the claims changes', async () => {
    const token = signJwt(key, claims);
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...claims, upn: 'ceo@contoso.com' })).toString('base64url');
    expect(forged).not.toBe(p);
    await expect(
      jwtVerify(`${h}.${forged}.${s}`, createLocalJWKSet({ keys: [key.publicJwk] }), { currentDate: new Date((claims.iat + 60) * 1000) }),
    ).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });
});
