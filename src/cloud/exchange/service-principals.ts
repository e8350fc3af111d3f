/**
 * Exchange Online's side of app-only sending: service principals registered with New-ServicePrincipal (app id +
 * object id), mailbox permissions from Add-MailboxPermission, and the check of an app-only XOAUTH2 token against them
 * (microsoft-protocol-facts.md, "App-only sending"). The object id must be the enterprise application's, which is
 * what the token's `oid` carries; one registered with the app registration's object id never matches.
 */
import { decodeJwt } from 'jose';
import { MAILBOX_RIGHTS, type AuthMethodsFixture, type FixtureServicePrincipal, type MailboxRight } from '../auth-methods-fixture.ts';
import { TokenRejectedError, type BearerTokenVerifier } from './bearer-token.ts';

export const SEND_AS_APP_ROLE = 'SMTP.SendAsApp';

export interface MailboxPermissionView {
  mailbox: string;
  servicePrincipal: string;
  accessRights: MailboxRight[];
}

export class ExchangeServicePrincipals {
  /** By registered object id (Exchange's identity of the principal). */
  private readonly principals = new Map<string, FixtureServicePrincipal>();
  /** mailbox → principal object id → rights. */
  private readonly permissions = new Map<string, Map<string, Set<MailboxRight>>>();

  constructor(fixture: AuthMethodsFixture['exchange']) {
    for (const sp of fixture.servicePrincipals) this.add(sp);
    for (const p of fixture.mailboxPermissions) this.grant(p.mailbox, p.servicePrincipal, p.accessRights);
  }

  list(): FixtureServicePrincipal[] {
    return [...this.principals.values()].map((p) => ({ ...p }));
  }

  add(sp: FixtureServicePrincipal): FixtureServicePrincipal {
    const objectId = sp.objectId.toLowerCase();
    if (this.principals.has(objectId)) throw new ServicePrincipalError(409, `a service principal with object id ${objectId} already exists`);
    const rec = { appId: sp.appId.toLowerCase(), objectId, displayName: sp.displayName };
    this.principals.set(objectId, rec);
    return { ...rec };
  }

  /** Remove-ServicePrincipal: its mailbox permissions go with it. */
  remove(objectId: string): void {
    const id = objectId.toLowerCase();
    if (!this.principals.delete(id)) throw new ServicePrincipalError(404, `no service principal ${id}`);
    for (const perMailbox of this.permissions.values()) perMailbox.delete(id);
  }

  permissionsOf(mailbox: string): MailboxPermissionView[] {
    const perMailbox = this.permissions.get(mailbox.toLowerCase());
    if (!perMailbox) return [];
    return [...perMailbox].map(([sp, rights]) => ({ mailbox: mailbox.toLowerCase(), servicePrincipal: sp, accessRights: [...rights] }));
  }

  /** Add-MailboxPermission -User <principal> -AccessRights …; the principal must be registered first. */
  grant(mailbox: string, servicePrincipal: string, rights: MailboxRight[]): MailboxPermissionView[] {
    const sp = servicePrincipal.toLowerCase();
    if (!this.principals.has(sp)) throw new ServicePrincipalError(404, `no service principal ${sp} is registered in Exchange`);
    if (rights.length === 0 || rights.some((r) => !MAILBOX_RIGHTS.includes(r))) throw new ServicePrincipalError(400, `access rights must be among ${MAILBOX_RIGHTS.join(', ')}`);
    const key = mailbox.toLowerCase();
    const perMailbox = this.permissions.get(key) ?? new Map<string, Set<MailboxRight>>();
    const set = perMailbox.get(sp) ?? new Set<MailboxRight>();
    for (const r of rights) set.add(r);
    perMailbox.set(sp, set);
    this.permissions.set(key, perMailbox);
    return this.permissionsOf(key);
  }

  /** Remove-MailboxPermission. */
  revoke(mailbox: string, servicePrincipal: string): MailboxPermissionView[] {
    const removed = this.permissions.get(mailbox.toLowerCase())?.delete(servicePrincipal.toLowerCase());
    if (!removed) throw new ServicePrincipalError(404, `${servicePrincipal} has no permission on ${mailbox}`);
    return this.permissionsOf(mailbox);
  }

  /** Whether the principal (by the token's app id and object id) holds `right` on the mailbox. */
  holds(appId: string, objectId: string, mailbox: string, right: MailboxRight): boolean {
    const sp = this.principals.get(objectId.toLowerCase());
    if (!sp || sp.appId !== appId.toLowerCase()) return false;
    return this.permissions.get(mailbox.toLowerCase())?.get(sp.objectId)?.has(right) ?? false;
  }
}

export class ServicePrincipalError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ServicePrincipalError';
  }
}

/** An app-only token is recognised by `idtyp: app` (read unverified, only to choose the check that follows). */
export function isAppOnlyToken(token: string): boolean {
  try {
    return decodeJwt(token).idtyp === 'app';
  } catch {
    return false;
  }
}

/**
 * Verifies an app-only XOAUTH2 login for `user=<mailbox>`: signature, issuer, audience and expiry by the same check
 * as delegated tokens (`tokens.signed`, which names what failed), then the SMTP.SendAsApp role, then Exchange's
 * registration and FullAccess on the mailbox. Rejects with TokenRejectedError (the client always gets 535 5.7.3).
 */
export async function verifyAppOnlyLogin(
  saslUser: string,
  token: string,
  deps: { tokens: Pick<BearerTokenVerifier, 'signed'>; principals: ExchangeServicePrincipals },
): Promise<{ upn: string; appId: string; objectId: string }> {
  const claims = await deps.tokens.signed(token);
  const roles = Array.isArray(claims.roles) ? claims.roles : [];
  if (!roles.includes(SEND_AS_APP_ROLE)) throw new TokenRejectedError('missing-role');
  const appId = typeof claims.appid === 'string' ? claims.appid : '';
  const objectId = typeof claims.oid === 'string' ? claims.oid : '';
  const upn = saslUser.trim().toLowerCase();
  if (!upn) throw new TokenRejectedError('missing-upn');
  if (!deps.principals.holds(appId, objectId, upn, 'FullAccess')) throw new TokenRejectedError('no-mailbox-permission');
  return { upn, appId, objectId };
}
