/**
 * Device authorization requests of one tenant (RFC 8628 as Entra runs it): issued by /devicecode, resolved by the
 * sign-in pages or the control API, redeemed once by the token endpoint.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { Errors, type EntraError } from './errors.ts';
import type { GrantedScopes } from './scopes.ts';

export type DeviceCodeState = 'pending' | 'approved' | 'declined' | 'failed' | 'redeemed';

export interface DeviceCodeRecord {
  deviceCode: string;
  userCode: string;
  clientId: string;
  scopes: GrantedScopes;
  issuedAt: number;
  expiresAt: number;
  intervalSeconds: number;
  state: DeviceCodeState;
  /** Who approved it (approved / redeemed). */
  upn: string | null;
  /** The error the next poll gets when the sign-in ended in a policy failure. */
  failure: EntraError | null;
  /** True when MFA was done in this sign-in (goes into the token's amr). */
  mfaDone: boolean;
}

export interface DeviceCodeView {
  userCode: string;
  clientId: string;
  issuedAt: string;
  expiresAt: string;
  state: DeviceCodeState | 'expired';
  upn: string | null;
}

const USER_CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** How long finished or expired records are kept for "already used" / "expired" answers. */
const RETENTION_MS = 24 * 3600_000;

export class DeviceCodeStore {
  private readonly byDeviceCode = new Map<string, DeviceCodeRecord>();
  private readonly byUserCode = new Map<string, DeviceCodeRecord>();

  constructor(private readonly now: () => number) {}

  issue(clientId: string, scopes: GrantedScopes, expiresInSeconds: number, intervalSeconds: number): DeviceCodeRecord {
    this.prune();
    let userCode: string;
    do userCode = makeUserCode();
    while (this.byUserCode.has(userCode));
    const issuedAt = this.now();
    const rec: DeviceCodeRecord = {
      // Opaque, like Entra's long DAQABAAEAAA… strings.
      deviceCode: `DAQABIQEAAAD${randomBytes(96).toString('base64url')}`,
      userCode,
      clientId,
      scopes,
      issuedAt,
      expiresAt: issuedAt + expiresInSeconds * 1000,
      intervalSeconds,
      state: 'pending',
      upn: null,
      failure: null,
      mfaDone: false,
    };
    this.byDeviceCode.set(rec.deviceCode, rec);
    this.byUserCode.set(userCode, rec);
    return rec;
  }

  byUser(userCode: string): DeviceCodeRecord | undefined {
    return this.byUserCode.get(normaliseUserCode(userCode));
  }

  byDevice(deviceCode: string): DeviceCodeRecord | undefined {
    return this.byDeviceCode.get(deviceCode);
  }

  isExpired(rec: DeviceCodeRecord): boolean {
    return this.now() >= rec.expiresAt;
  }

  /** Pending requests (and recently resolved ones not yet redeemed), for the control API. */
  list(includeFinished = false): DeviceCodeView[] {
    this.prune();
    return [...this.byUserCode.values()]
      .filter((r) => includeFinished || ((r.state === 'pending' || r.state === 'approved') && !this.isExpired(r)))
      .map((r) => ({
        userCode: r.userCode,
        clientId: r.clientId,
        issuedAt: new Date(r.issuedAt).toISOString(),
        expiresAt: new Date(r.expiresAt).toISOString(),
        state: r.state === 'pending' && this.isExpired(r) ? 'expired' : r.state,
        upn: r.upn,
      }));
  }

  /**
   * The token endpoint's answer for a poll: the record to issue tokens for, or the error to send. A code yields
   * tokens (or its final error) once; later polls get invalid_grant 90120.
   */
  redeem(deviceCode: string, clientId: string, expiredVariant: 'code_expired' | 'expired_token'): DeviceCodeRecord {
    const rec = this.byDeviceCode.get(deviceCode);
    if (!rec || rec.clientId !== clientId) throw Errors.badVerificationCode();
    if (rec.state === 'redeemed') throw Errors.codeAlreadyUsed();
    if (this.isExpired(rec)) throw Errors.codeExpired(expiredVariant);
    switch (rec.state) {
      case 'pending':
        throw Errors.authorizationPending();
      case 'declined':
        rec.state = 'redeemed';
        throw Errors.declined();
      case 'failed':
        rec.state = 'redeemed';
        throw rec.failure ?? Errors.declined();
      case 'approved':
        rec.state = 'redeemed';
        return rec;
    }
  }

  private prune(): void {
    const cutoff = this.now() - RETENTION_MS;
    for (const [code, rec] of this.byDeviceCode) {
      if (rec.expiresAt < cutoff) {
        this.byDeviceCode.delete(code);
        this.byUserCode.delete(rec.userCode);
      }
    }
  }
}

export function normaliseUserCode(input: string): string {
  return input.replace(/[\s-]/g, '').toUpperCase();
}

function makeUserCode(): string {
  let s = '';
  for (let i = 0; i < 9; i++) s += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return s;
}

