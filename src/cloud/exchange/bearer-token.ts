/**
 * Verifies the bearer token of an XOAUTH2 login the way Exchange Online does: for real, with jose, against the Entra
 * twin's published keys, its issuer(s), the Outlook audience, the SMTP.Send scope and the expiry on the twin's clock.
 */
import { KeyObject, verify as verifySignature } from 'node:crypto';
import { base64url, createLocalJWKSet, decodeProtectedHeader, errors, UnsecuredJWT, type JWTClaimVerificationOptions, type JWTPayload } from 'jose';
import type { Clock } from '../../time/clock.ts';
import type { TokenTrust } from '../contracts.ts';

/** Audiences an SMTP access token may carry (Entra issues the first; the second is an accepted legacy alias). */
export const SMTP_AUDIENCES = ['https://outlook.office.com', 'https://outlook.office365.com'];
export const SMTP_SEND_SCOPE = 'SMTP.Send';

/** Why a token was refused; only for logs and tests, the client always gets the same 535 5.7.3. */
export type TokenRejection =
  | 'malformed'
  | 'bad-signature'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-issuer'
  | 'wrong-audience'
  | 'missing-scope'
  | 'missing-upn'
  | 'user-mismatch'
  /** App-only tokens (service-principals.ts): no SMTP.SendAsApp role; no registered principal with FullAccess. */
  | 'missing-role'
  | 'no-mailbox-permission';

export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';
  constructor(readonly reason: TokenRejection) {
    super(`access token refused: ${reason}`);
  }
}

export interface VerifiedSmtpToken {
  /** The signed-in mailbox, lower-cased. */
  upn: string;
  claims: JWTPayload;
}

export interface BearerTokenVerifier {
  /** A delegated token: resolves with the token's mailbox, or rejects with TokenRejectedError. */
  verify(saslUser: string, token: string): Promise<VerifiedSmtpToken>;
  /**
   * What every SMTP token must pass, delegated or app-only: the signature (the Entra twin's current keys), the issuer,
   * the Outlook audience and the expiry on the twin's clock. Resolves with the claims, or rejects with
   * TokenRejectedError saying which of these failed.
   */
  signed(token: string): Promise<JWTPayload>;
}

export function createBearerTokenVerifier(trust: TokenTrust, clock: Clock): BearerTokenVerifier {
  // The key set is read per login so a key rotation in the Entra twin takes effect at once, but rebuilt only when it
  // changed: createLocalJWKSet keeps the imported keys, and importing an RSA key per mail was the twin's largest
  // per-mail cost in the soak profile.
  let keySet: { json: string; set: ReturnType<typeof createLocalJWKSet> } | undefined;
  const currentKeySet = () => {
    const json = JSON.stringify(trust.jwks());
    if (keySet?.json !== json) keySet = { json, set: createLocalJWKSet(JSON.parse(json)) };
    return keySet.set;
  };
  const keyObjects = new WeakMap<CryptoKey, KeyObject>();
  const signed = async (token: string): Promise<JWTPayload> => {
    try {
      return await verifyRs256(token, currentKeySet(), keyObjects, {
        issuer: trust.issuers(),
        audience: SMTP_AUDIENCES,
        currentDate: new Date(clock.now()),
        requiredClaims: ['exp'],
      });
    } catch (err) {
      throw new TokenRejectedError(classify(err));
    }
  };
  return {
    signed,
    async verify(saslUser, token) {
      const claims = await signed(token);
      const scopes = typeof claims.scp === 'string' ? claims.scp.split(' ') : [];
      if (!scopes.some((s) => s === SMTP_SEND_SCOPE || s.endsWith(`/${SMTP_SEND_SCOPE}`))) {
        throw new TokenRejectedError('missing-scope');
      }
      const upn = typeof claims.upn === 'string' ? claims.upn.toLowerCase() : '';
      if (!upn) throw new TokenRejectedError('missing-upn');
      if (upn !== saslUser.trim().toLowerCase()) throw new TokenRejectedError('user-mismatch');
      return { upn, claims };
    },
  };
}

/**
 * jose's `jwtVerify` for RS256 with the signature checked by node:crypto, synchronously: WebCrypto's verify is a
 * thread-pool round trip on every login (the twin's largest wait in an SMTP AUTH). Everything else is jose's: the
 * key is chosen by the key set (kid, alg, use), and the header (crit, b64) and the claims are judged by
 * `UnsecuredJWT.decode` — the same claim checks `jwtVerify` makes — once the signature has been found good. Errors
 * are jose's classes, so `classify` reads them alike.
 */
async function verifyRs256(token: string, keySet: ReturnType<typeof createLocalJWKSet>, keyObjects: WeakMap<CryptoKey, KeyObject>, options: JWTClaimVerificationOptions): Promise<JWTPayload> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new errors.JWSInvalid('Invalid Compact JWS');
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];
  const header = decodeProtectedHeader(token);
  if (header.alg !== 'RS256') throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  const cryptoKey = await keySet(header, { payload: encodedPayload, signature: encodedSignature });
  let key = keyObjects.get(cryptoKey);
  if (!key) keyObjects.set(cryptoKey, (key = KeyObject.from(cryptoKey)));
  // jose refuses RSA keys under 2048 bits for RS256.
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new TypeError('RS256 requires key modulusLength to be 2048 bits or larger');
  const signature = base64url.decode(encodedSignature);
  if (!verifySignature('RSA-SHA256', Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii'), key, signature)) throw new errors.JWSSignatureVerificationFailed();
  const unsecured = `${base64url.encode(JSON.stringify({ ...header, alg: 'none' }))}.${encodedPayload}.`;
  return UnsecuredJWT.decode(unsecured, options).payload;
}

function classify(err: unknown): TokenRejection {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) return 'bad-signature';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'iss') return 'wrong-issuer';
    if (err.claim === 'aud') return 'wrong-audience';
    if (err.claim === 'nbf' || err.claim === 'iat') return 'not-yet-valid';
  }
  return 'malformed';
}
