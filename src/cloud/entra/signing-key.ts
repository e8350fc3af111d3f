/** The RS256 key that signs access and id tokens; kept in the state directory so tokens survive a twin restart. */
import { readFile } from 'node:fs/promises';
import { writePrivateFile } from '../../util/private-fs.ts';
import { join } from 'node:path';
import { createHash, KeyObject, sign } from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type JWK } from 'jose';

export interface SigningKey {
  kid: string;
  /** The private key, for node:crypto (signJwt). */
  signer: KeyObject;
  publicJwk: JWK;
}

/**
 * A compact RS256 JWS of `claims` (JSON leaves out undefined members, as jose's SignJWT does), signed by node:crypto
 * in place. Its header is `{"typ":"JWT","alg":"RS256","kid":…}`, with Entra's `x5t` (the same thumbprint) on v1
 * tokens. jose's SignJWT signs through WebCrypto, which is a thread-pool job for each token: about 90 µs more CPU a
 * signature (measured with the refresh's two signatures: ~740 against ~560 µs), and a fleet of printers is CPU-bound.
 * The twin's Exchange checks these tokens with jose's key set and claim checks (bearer-token.ts), and a test has
 * jose's `jwtVerify` accept them and `SignJWT` give the same bytes.
 */
export function signJwt(key: SigningKey, claims: Record<string, unknown>, opts: { x5t?: boolean } = {}): string {
  const header = { typ: 'JWT', alg: 'RS256', kid: key.kid, ...(opts.x5t ? { x5t: key.kid } : {}) };
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), key.signer).toString('base64url')}`;
}

const FILE = 'signing-key.pem';

export async function ensureSigningKey(stateDir: string): Promise<SigningKey> {
  const file = join(stateDir, FILE);
  let pkcs8: string;
  try {
    pkcs8 = await readFile(file, 'utf8');
  } catch {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    pkcs8 = await exportPKCS8(privateKey);
    await writePrivateFile(file, pkcs8);
  }
  const privateKey = await importPKCS8(pkcs8, 'RS256', { extractable: true });
  const full = await exportJWK(privateKey);
  const publicJwk: JWK = { kty: full.kty, n: full.n, e: full.e };
  // Entra's kids are base64url thumbprints; a hash of the modulus is stable and looks alike.
  const kid = createHash('sha1').update(publicJwk.n ?? '').digest('base64url');
  return { kid, signer: KeyObject.from(privateKey), publicJwk: { ...publicJwk, kid, use: 'sig', alg: 'RS256' } };
}
