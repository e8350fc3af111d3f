/**
 * The tenant's live directory: users, app registrations and policies, seeded from a fixture and changed through the
 * control API. The Exchange half reads it through the CloudDirectory view only.
 */
import { createHash } from 'node:crypto';
import type { CloudDirectory, DirectoryUser, MfaMethod, TenantPolicy } from './contracts.ts';
import type { FixtureUser, TenantFixture } from './tenant-fixture.ts';

/** A user as the Entra half keeps it: the shared view plus sign-in secrets and session bookkeeping. */
export interface UserRecord extends DirectoryUser {
  password: string;
  phone: string | null;
  /** Bumped by password reset and session revocation: refresh tokens from an older generation die (50173). */
  sessionGeneration: number;
  /** Time of the last bump, for the 50173 message. */
  tokensValidFrom: number;
  /** When set, refresh tokens issued before this generation need MFA (50076). */
  mfaGeneration: number;
  failedSignIns: number;
  lockedUntil: number;
}

/** The part of a user record that decides which of its refresh tokens still work. */
export type UserSessions = Pick<UserRecord, 'sessionGeneration' | 'tokensValidFrom' | 'mfaGeneration'>;

export interface AppRecord {
  clientId: string;
  displayName: string;
  publicClient: boolean;
  consentGranted: boolean;
}

export interface EntraPolicy extends TenantPolicy {
  displayName: string;
  blockDeviceCodeFlow: boolean;
  /** Tenant-wide consent switch applied on top of each app's own (PATCH /_twin/tenant consentGranted). */
  consentGranted: boolean;
}

export type UserPatch = Partial<{
  enabled: boolean;
  smtpAuthEnabled: boolean | null;
  sendAs: string[];
  mailboxFull: boolean;
  mfa: MfaMethod;
  displayName: string;
  phone: string | null;
  /** true: the next refresh of any existing grant answers interaction_required (50076). */
  requireMfa: boolean;
}>;

export type TenantPatch = Partial<{
  smtpAuthEnabled: boolean;
  securityDefaults: boolean;
  blockDeviceCodeFlow: boolean;
  consentGranted: boolean;
  sendAsDeniedAfterData: boolean;
}>;

export class TenantDirectory implements CloudDirectory {
  private readonly users = new Map<string, UserRecord>();
  private readonly apps = new Map<string, AppRecord>();
  private readonly state: EntraPolicy;
  readonly deviceCode: TenantFixture['deviceCode'];
  readonly signIn: TenantFixture['signIn'];

  constructor(
    fixture: TenantFixture,
    private readonly now: () => number,
  ) {
    this.state = {
      tenantId: fixture.tenantId,
      displayName: fixture.displayName,
      domains: [...fixture.domains],
      smtpAuthEnabled: fixture.policy.smtpAuthEnabled,
      securityDefaults: fixture.policy.securityDefaults,
      sendAsDeniedAfterData: fixture.policy.sendAsDeniedAfterData,
      blockDeviceCodeFlow: fixture.policy.blockDeviceCodeFlow,
      consentGranted: true,
    };
    this.deviceCode = { ...fixture.deviceCode };
    this.signIn = { ...fixture.signIn };
    for (const u of fixture.users) this.addUser(u);
    for (const a of fixture.apps) this.apps.set(a.clientId, { ...a });
  }

  get tenantId(): string {
    return this.state.tenantId;
  }

  policy(): TenantPolicy {
    const { tenantId, domains, smtpAuthEnabled, securityDefaults, sendAsDeniedAfterData } = this.state;
    return { tenantId, domains: [...domains], smtpAuthEnabled, securityDefaults, sendAsDeniedAfterData };
  }

  entraPolicy(): EntraPolicy {
    return { ...this.state, domains: [...this.state.domains] };
  }

  user(upn: string): DirectoryUser | undefined {
    const u = this.users.get(upn.toLowerCase());
    if (!u) return undefined;
    return publicUser(u);
  }

  /** The full record (secrets included) for the Entra half's own use. */
  record(upn: string): UserRecord | undefined {
    return this.users.get(upn.toLowerCase());
  }

  listUsers(): DirectoryUser[] {
    return [...this.users.values()].map(publicUser);
  }

  /** Accepts a tenant GUID or one of the verified domains (case-insensitive). */
  matchesTenant(tenant: string): boolean {
    const t = tenant.toLowerCase();
    return t === this.state.tenantId || this.state.domains.includes(t);
  }

  app(clientId: string): AppRecord | undefined {
    return this.apps.get(clientId.toLowerCase());
  }

  listApps(): AppRecord[] {
    return [...this.apps.values()].map((a) => ({ ...a }));
  }

  /** Effective consent: the app's own grant and the tenant-wide switch. */
  consentGranted(clientId: string): boolean {
    return this.state.consentGranted && (this.app(clientId)?.consentGranted ?? false);
  }

  addUser(u: FixtureUser): DirectoryUser {
    const upn = u.upn.toLowerCase();
    if (this.users.has(upn)) throw new DirectoryError(409, `user ${upn} already exists`);
    const domain = upn.split('@')[1] ?? '';
    if (!this.state.domains.includes(domain)) throw new DirectoryError(400, `domain ${domain} is not verified in this tenant`);
    const rec: UserRecord = {
      upn,
      displayName: u.displayName,
      objectId: u.objectId ?? objectIdFor(this.state.tenantId, upn),
      enabled: u.enabled ?? true,
      mfa: u.mfa,
      smtpAuthEnabled: u.smtpAuthEnabled ?? null,
      sendAs: [...(u.sendAs ?? [])],
      mailboxFull: u.mailboxFull ?? false,
      password: u.password,
      phone: u.phone ?? null,
      sessionGeneration: 0,
      tokensValidFrom: 0,
      mfaGeneration: 0,
      failedSignIns: 0,
      lockedUntil: 0,
    };
    this.users.set(upn, rec);
    return publicUser(rec);
  }

  patchUser(upn: string, patch: UserPatch): DirectoryUser {
    const u = this.mustRecord(upn);
    if (patch.enabled !== undefined) u.enabled = patch.enabled;
    if (patch.smtpAuthEnabled !== undefined) u.smtpAuthEnabled = patch.smtpAuthEnabled;
    if (patch.sendAs !== undefined) u.sendAs = patch.sendAs.map((a) => a.toLowerCase());
    if (patch.mailboxFull !== undefined) u.mailboxFull = patch.mailboxFull;
    if (patch.mfa !== undefined) u.mfa = patch.mfa;
    if (patch.displayName !== undefined) u.displayName = patch.displayName;
    if (patch.phone !== undefined) u.phone = patch.phone;
    if (patch.requireMfa) {
      u.mfaGeneration += 1;
      this.onSessionsChanged?.();
    }
    return publicUser(u);
  }

  /** Admin password reset: every refresh token of the user dies (50173). */
  resetPassword(upn: string, password: string): void {
    const u = this.mustRecord(upn);
    u.password = password;
    this.bumpSessions(u);
  }

  /** Revoke-MgUserSignInSession: same effect on refresh tokens as a password reset. */
  revokeSessions(upn: string): void {
    this.bumpSessions(this.mustRecord(upn));
  }

  patchTenant(patch: TenantPatch): EntraPolicy {
    for (const key of ['smtpAuthEnabled', 'securityDefaults', 'blockDeviceCodeFlow', 'consentGranted', 'sendAsDeniedAfterData'] as const) {
      const v = patch[key];
      if (v !== undefined) this.state[key] = v;
    }
    return this.entraPolicy();
  }

  private bumpSessions(u: UserRecord): void {
    u.sessionGeneration += 1;
    u.tokensValidFrom = this.now();
    this.onSessionsChanged?.();
  }

  /** Called when a user's session or MFA generation moves: persisted-sign-ins.ts saves them then. */
  onSessionsChanged: (() => void) | null = null;

  /** Each user's session counters (what decides which refresh tokens still work), for persisting. */
  sessions(): Record<string, UserSessions> {
    const out: Record<string, UserSessions> = {};
    for (const u of this.users.values()) out[u.upn] = { sessionGeneration: u.sessionGeneration, tokensValidFrom: u.tokensValidFrom, mfaGeneration: u.mfaGeneration };
    return out;
  }

  /** Puts back counters saved by `sessions()`, for the users that still exist. */
  restoreSessions(saved: Record<string, UserSessions>): void {
    for (const [upn, s] of Object.entries(saved)) {
      const u = this.record(upn);
      if (u) Object.assign(u, { sessionGeneration: s.sessionGeneration, tokensValidFrom: s.tokensValidFrom, mfaGeneration: s.mfaGeneration });
    }
  }

  private mustRecord(upn: string): UserRecord {
    const u = this.record(upn);
    if (!u) throw new DirectoryError(404, `no user ${upn}`);
    return u;
  }
}

export class DirectoryError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'DirectoryError';
  }
}

function publicUser(u: UserRecord): DirectoryUser {
  return {
    upn: u.upn,
    displayName: u.displayName,
    objectId: u.objectId,
    enabled: u.enabled,
    mfa: u.mfa,
    smtpAuthEnabled: u.smtpAuthEnabled,
    sendAs: [...u.sendAs],
    mailboxFull: u.mailboxFull,
  };
}

/** Stable object id for users added without one, so replays give the same oid. */
function objectIdFor(tenantId: string, upn: string): string {
  const h = createHash('sha256').update(`${tenantId}:${upn}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
