/**
 * Control of basic auth and app-only sending (issue 14) as plain methods: the basic-auth calendar, app credentials
 * (secrets shown by hint only), Exchange service principals and mailbox permissions. Failures are ControlError.
 */
import type { Clock } from '../../time/clock.ts';
import { parseInstant, type MailboxRight } from '../auth-methods-fixture.ts';
import type { AuthMethods } from '../auth-methods.ts';
import type { TenantDirectory } from '../directory.ts';
import { AppCredentialsError, type AppCredentialsPatch, type AppCredentialsView } from '../entra/client-credentials.ts';
import type { BasicAuthStatus } from '../exchange/basic-auth.ts';
import { ServicePrincipalError, type MailboxPermissionView } from '../exchange/service-principals.ts';
import type { FixtureServicePrincipal } from '../auth-methods-fixture.ts';
import { ControlError } from './control.ts';

export interface BasicAuthView {
  disabledByDefaultFrom: string;
  adminReEnabled: boolean;
  finalRemovalAt: string | null;
  tenantCreatedAt: string;
  /** Where the tenant stands now, on the twin's clock. */
  status: BasicAuthStatus;
  /** The SASL mechanisms EHLO lists now. */
  advertised: string[];
}

export interface BasicAuthPatchBody {
  disabledByDefaultFrom?: string;
  adminReEnabled?: boolean;
  finalRemovalAt?: string | null;
  tenantCreatedAt?: string;
}

export class AuthMethodsControl {
  constructor(
    private readonly m: AuthMethods,
    private readonly directory: TenantDirectory,
    private readonly clock: Clock,
  ) {}

  basicAuth(): BasicAuthView {
    const c = this.m.basicAuth.view();
    const now = this.clock.now();
    return {
      disabledByDefaultFrom: new Date(c.disabledByDefaultFrom).toISOString(),
      adminReEnabled: c.adminReEnabled,
      finalRemovalAt: c.finalRemovalAt === null ? null : new Date(c.finalRemovalAt).toISOString(),
      tenantCreatedAt: new Date(c.tenantCreatedAt).toISOString(),
      status: this.m.basicAuth.status(now),
      advertised: this.m.basicAuth.advertised(now),
    };
  }

  /** All fields are checked before any is applied: a bad one changes nothing. */
  patchBasicAuth(body: BasicAuthPatchBody): BasicAuthView {
    const instant = (name: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined;
      const t = parseInstant(v);
      if (Number.isNaN(t)) throw new ControlError(400, `${name}: expected an ISO 8601 instant with a zone`);
      return t;
    };
    const patch = {
      disabledByDefaultFrom: instant('disabledByDefaultFrom', body.disabledByDefaultFrom),
      tenantCreatedAt: instant('tenantCreatedAt', body.tenantCreatedAt),
      finalRemovalAt: body.finalRemovalAt === null ? null : instant('finalRemovalAt', body.finalRemovalAt),
      adminReEnabled: body.adminReEnabled,
    };
    this.m.basicAuth.patch(patch);
    return this.basicAuth();
  }

  appCredentials(): AppCredentialsView[] {
    return this.m.credentials.list();
  }

  appCredentialsOf(clientId: string): AppCredentialsView {
    const v = this.m.credentials.view(clientId);
    if (!v) throw new ControlError(404, `no app-only credentials for app ${clientId}`);
    return v;
  }

  patchAppCredentials(clientId: string, patch: AppCredentialsPatch): AppCredentialsView {
    return wrap(() => this.m.credentials.patch(clientId, patch));
  }

  addSecret(clientId: string, body: { value: string; expiresAt: string }): AppCredentialsView {
    const expiresAt = parseInstant(body.expiresAt);
    if (Number.isNaN(expiresAt)) throw new ControlError(400, 'expiresAt: expected an ISO 8601 instant with a zone');
    return wrap(() => this.m.credentials.addSecret(clientId, { value: body.value, expiresAt }));
  }

  clearSecrets(clientId: string): AppCredentialsView {
    return wrap(() => this.m.credentials.clearSecrets(clientId));
  }

  addCertificate(clientId: string, pem: string): AppCredentialsView {
    return wrap(() => this.m.credentials.addCertificate(clientId, pem));
  }

  servicePrincipals(): FixtureServicePrincipal[] {
    return this.m.principals.list();
  }

  addServicePrincipal(sp: FixtureServicePrincipal): FixtureServicePrincipal {
    return wrap(() => this.m.principals.add(sp));
  }

  removeServicePrincipal(objectId: string): void {
    wrap(() => this.m.principals.remove(objectId));
  }

  mailboxPermissions(upn: string): MailboxPermissionView[] {
    this.mustMailbox(upn);
    return this.m.principals.permissionsOf(upn);
  }

  grantMailboxPermission(upn: string, body: { servicePrincipal: string; accessRights: MailboxRight[] }): MailboxPermissionView[] {
    this.mustMailbox(upn);
    return wrap(() => this.m.principals.grant(upn, body.servicePrincipal, body.accessRights));
  }

  revokeMailboxPermission(upn: string, servicePrincipal: string): MailboxPermissionView[] {
    this.mustMailbox(upn);
    return wrap(() => this.m.principals.revoke(upn, servicePrincipal));
  }

  private mustMailbox(upn: string): void {
    if (!this.directory.user(upn)) throw new ControlError(404, `no mailbox ${upn}`);
  }
}

function wrap<T>(work: () => T): T {
  try {
    return work();
  } catch (e) {
    if (e instanceof AppCredentialsError || e instanceof ServicePrincipalError) throw new ControlError(e.status, e.message);
    throw e;
  }
}
