/**
 * Refresh tokens, opaque and rotating: each refresh returns a new one and the old one stays usable until it dies of
 * inactivity (90 days after it was issued, AADSTS700082) or its user's sessions are cut (password reset, revocation:
 * AADSTS50173). A grant issued before an admin demanded MFA needs interaction (AADSTS50076).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { GrantedScopes } from './scopes.ts';

export const REFRESH_TOKEN_INACTIVITY_MS = 90 * 24 * 3600_000;

export interface RefreshTokenRecord {
  /** Short public id for listings (the token itself is never shown). */
  id: string;
  upn: string;
  clientId: string;
  scopes: GrantedScopes;
  issuedAt: number;
  /** User session generation at issue time (see UserRecord.sessionGeneration). */
  sessionGeneration: number;
  mfaGeneration: number;
  mfaDone: boolean;
  /** Set once this token has been exchanged (it stays valid; only for listings). */
  rotatedAt: number | null;
}

export interface RefreshTokenView {
  id: string;
  upn: string;
  clientId: string;
  issuedAt: string;
  lastRotatedAt: string | null;
  status: 'active' | 'inactive-expired' | 'revoked' | 'mfa-required';
}

export class RefreshTokenStore {
  /** Keyed by a hash of the token so the store itself holds no usable secrets. */
  private readonly byHash = new Map<string, RefreshTokenRecord>();
  /** Called with the record that changed (issued, or rotated): persisted-sign-ins.ts appends it to its log. */
  onChange: ((hash: string, record: RefreshTokenRecord) => void) | null = null;

  issue(rec: Omit<RefreshTokenRecord, 'id' | 'rotatedAt'>): { token: string; record: RefreshTokenRecord } {
    const token = `1.AQ${randomBytes(160).toString('base64url')}`;
    const hash = hashToken(token);
    const record: RefreshTokenRecord = { ...rec, id: hash.slice(0, 12), rotatedAt: null };
    this.byHash.set(hash, record);
    this.onChange?.(hash, record);
    return { token, record };
  }

  /** The token was exchanged at `at` (it stays valid: the time is only for listings). */
  markRotated(token: string, at: number): void {
    const hash = hashToken(token);
    const record = this.byHash.get(hash);
    if (!record) return;
    record.rotatedAt = at;
    this.onChange?.(hash, record);
  }

  /** Records by token hash (no token in them), for persisting. */
  entries(): [string, RefreshTokenRecord][] {
    return [...this.byHash.entries()];
  }

  /** Puts back records saved by `entries()` (at start, before any token is issued). */
  restore(entries: Iterable<[string, RefreshTokenRecord]>): void {
    for (const [hash, rec] of entries) this.byHash.set(hash, rec);
  }

  find(token: string): RefreshTokenRecord | undefined {
    return this.byHash.get(hashToken(token));
  }

  all(): RefreshTokenRecord[] {
    return [...this.byHash.values()];
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
