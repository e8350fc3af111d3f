/** The RS256 key that signs access and id tokens; kept in the state directory so tokens survive a twin restart. */
import { readFile } from 'node:fs/promises';
import { writePrivateFile } from '../../util/private-fs.ts';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type JWK } from 'jose';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
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
  return { kid, privateKey, publicJwk: { ...publicJwk, kid, use: 'sig', alg: 'RS256' } };
}
