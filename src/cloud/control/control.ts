/**
 * The twin's control surface as plain methods: what testers do through /_twin over HTTP, tests can do in-process.
 * Failures are ControlError with the HTTP status the control API answers.
 */
import type { Clock } from '../../time/clock.ts';
import { VirtualClock } from '../../time/clock.ts';
import type { DirectoryUser, FaultRule, MailStore, StoredMessage } from '../contracts.ts';
import type { FaultPlan } from '../contracts.ts';
import { DirectoryError, type EntraPolicy, type TenantPatch, type UserPatch } from '../directory.ts';
import type { DeviceCodeView } from '../entra/device-codes.ts';
import type { PhoneMessage } from '../entra/phone.ts';
import type { PhoneOutbox } from '../entra/phone.ts';
import type { RefreshTokenView } from '../entra/refresh-tokens.ts';
import type { EntraService } from '../entra/service.ts';
import type { FixtureUser } from '../tenant-fixture.ts';

export class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export interface TenantView extends EntraPolicy {
  authority: string;
  entraUrl: string;
  verificationUri: string;
  apps: { clientId: string; displayName: string; publicClient: boolean; consentGranted: boolean }[];
  smtp: { host: string; port: number };
  deviceCode: { expiresInSeconds: number; intervalSeconds: number; expiredError: string };
}

export interface ClockView {
  now: number;
  iso: string;
  kind: 'real' | 'virtual';
}

export interface TwinControlDeps {
  service: EntraService;
  phone: PhoneOutbox;
  faults: FaultPlan;
  clock: Clock;
  entraUrl: string;
  /** Filled in once the Exchange half is up. */
  smtp: () => { host: string; port: number };
  mailStore: () => MailStore | null;
  /** Basic auth and app-only control (auth-methods-control.ts); its routes are registered when present. */
  authMethods?: import('./auth-methods-control.ts').AuthMethodsControl;
  /** The wire journal (journal-routes.ts); its routes are registered when present. */
  journal?: import('../journal/wire-journal.ts').WireJournal;
  /** Holds at the network boundary (holds-routes.ts); its routes are registered when present. */
  holds?: import('../holds.ts').HoldRegistry;
  /** The tenant's throttling (throttling-routes.ts); its routes are registered when present. */
  throttle?: import('../throttling.ts').TenantThrottle;
  /** The twin's PKI (root migration, pki-routes.ts), once both servers listen. */
  pki?: () => import('../pki.ts').TwinPki | null;
  /** The twin's SNTP server, once it listens. */
  ntp?: () => { host: string; port: number; reachable(): boolean; setReachable(r: boolean): void; answered(): number } | null;
}

export interface NtpView {
  host: string;
  port: number;
  /** false = the "NTP unreachable" fault: requests are dropped. */
  reachable: boolean;
  answered: number;
}

export class TwinControl {
  constructor(private readonly d: TwinControlDeps) {}

  get authMethods() {
    return this.d.authMethods;
  }

  get journal() {
    return this.d.journal;
  }

  get holds() {
    return this.d.holds;
  }

  get throttle() {
    return this.d.throttle;
  }

  get pki() {
    return this.d.pki;
  }

  /** The Entra origin is known only once the server listens. */
  setEntraUrl(url: string): void {
    this.d.entraUrl = url;
  }

  private get directory() {
    return this.d.service.directory;
  }

  tenant(): TenantView {
    const dir = this.directory;
    return {
      ...dir.entraPolicy(),
      authority: `${this.d.entraUrl}/${dir.tenantId}`,
      entraUrl: this.d.entraUrl,
      verificationUri: `${this.d.entraUrl}/devicelogin`,
      apps: dir.listApps(),
      smtp: this.d.smtp(),
      deviceCode: { ...dir.deviceCode },
    };
  }

  patchTenant(patch: TenantPatch): TenantView {
    this.directory.patchTenant(patch);
    return this.tenant();
  }

  users(): DirectoryUser[] {
    return this.directory.listUsers();
  }

  addUser(u: FixtureUser): DirectoryUser {
    return wrap(() => this.directory.addUser(u));
  }

  patchUser(upn: string, patch: UserPatch): DirectoryUser {
    return wrap(() => this.directory.patchUser(upn, patch));
  }

  resetPassword(upn: string, password: string): void {
    wrap(() => this.directory.resetPassword(upn, password));
  }

  revokeSessions(upn: string): void {
    wrap(() => this.directory.revokeSessions(upn));
  }

  deviceCodes(includeFinished = false): DeviceCodeView[] {
    return this.d.service.deviceCodes.list(includeFinished);
  }

  /** Approves a pending code as `upn` would by signing in (MFA counted as done); policy refusals still apply. */
  approveDeviceCode(userCode: string, upn: string): { state: string; error?: { error: string; aadsts?: number; description: string } } {
    const rec = this.pendingCode(userCode);
    const user = this.directory.record(upn);
    if (!user) throw new ControlError(404, `no user ${upn}`);
    const refusal = this.d.service.completeSignIn(rec, user, user.mfa !== 'none');
    return refusal
      ? { state: rec.state, error: { error: refusal.error, aadsts: refusal.aadsts, description: refusal.description } }
      : { state: rec.state };
  }

  declineDeviceCode(userCode: string): { state: string } {
    const rec = this.pendingCode(userCode);
    this.d.service.decline(rec);
    return { state: rec.state };
  }

  ntp(): NtpView {
    const server = this.d.ntp?.() ?? null;
    if (!server) throw new ControlError(409, 'this twin runs no NTP server');
    return { host: server.host, port: server.port, reachable: server.reachable(), answered: server.answered() };
  }

  setNtpReachable(reachable: boolean): NtpView {
    const server = this.d.ntp?.() ?? null;
    if (!server) throw new ControlError(409, 'this twin runs no NTP server');
    server.setReachable(reachable);
    return this.ntp();
  }

  clock(): ClockView {
    const now = this.d.clock.now();
    return { now, iso: new Date(now).toISOString(), kind: this.d.clock instanceof VirtualClock ? 'virtual' : 'real' };
  }

  async advanceClock(ms: number): Promise<ClockView> {
    if (!(this.d.clock instanceof VirtualClock)) throw new ControlError(409, 'the twin runs on a real clock; start it with --clock virtual');
    if (!Number.isFinite(ms) || ms < 0) throw new ControlError(400, 'ms must be a finite number >= 0');
    await this.d.clock.advance(ms);
    return this.clock();
  }

  addFault(rule: Omit<FaultRule, 'id'>): FaultRule {
    return this.d.faults.add(rule);
  }

  faults(): FaultRule[] {
    return this.d.faults.list();
  }

  clearFaults(): void {
    this.d.faults.clear();
  }

  messages(upn: string): StoredMessage[] {
    return this.mailStore().list(upn.toLowerCase());
  }

  rawMessage(upn: string, id: string): Buffer {
    const raw = this.mailStore().raw(upn.toLowerCase(), id);
    if (!raw) throw new ControlError(404, `no message ${id} in ${upn}`);
    return raw;
  }

  /** One-time codes sent to the user's phone, newest first. */
  phone(upn: string): PhoneMessage[] {
    if (!this.directory.record(upn)) throw new ControlError(404, `no user ${upn}`);
    return this.d.phone.list(upn);
  }

  /** Convenience for tests: the newest one-time code on the user's phone. */
  latestOneTimeCode(upn: string): string | undefined {
    return this.phone(upn)[0]?.code;
  }

  tokens(): RefreshTokenView[] {
    return this.d.service.tokenViews();
  }

  private pendingCode(userCode: string) {
    const rec = this.d.service.deviceCodes.byUser(userCode);
    if (!rec) throw new ControlError(404, `no device code ${userCode}`);
    if (this.d.service.deviceCodes.isExpired(rec)) throw new ControlError(409, `device code ${userCode} has expired`);
    if (rec.state !== 'pending') throw new ControlError(409, `device code ${userCode} is already ${rec.state}`);
    return rec;
  }

  private mailStore(): MailStore {
    const store = this.d.mailStore();
    if (!store) throw new ControlError(503, 'the Exchange twin is not running');
    return store;
  }
}

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DirectoryError) throw new ControlError(e.status, e.message);
    throw e;
  }
}
