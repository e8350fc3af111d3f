/**
 * The tenant fixture's fields for the other ways a client sends through Exchange Online (issue 14): the basic-auth
 * calendar, app-only credentials of app registrations, and Exchange's service principals and mailbox permissions.
 * Kept apart from tenant-fixture.ts (which calls validateAuthMethods) so those rules live in one room.
 */

/** Microsoft's calendar for basic SMTP AUTH (Exchange team, January 2026), as data a fixture can move. */
export interface BasicAuthCalendar {
  /** From this instant basic auth is off by default in existing tenants ("end of December 2026"). */
  disabledByDefaultFrom: number;
  /** The administrator turned basic auth back on (only until the final removal). */
  adminReEnabled: boolean;
  /** Basic auth gone for good (550 5.7.30); null = not announced yet. */
  finalRemovalAt: number | null;
  /** When the tenant was created: tenants created after `disabledByDefaultFrom` never have it by default. */
  tenantCreatedAt: number;
}

export interface FixtureSecret {
  /** The value a client sends (test data, like the users' passwords: never logged or answered). */
  value: string;
  expiresAt: number;
  /** First three characters, as the portal shows a secret ("Value: abc*******"). */
  hint: string;
}

export interface FixtureAppCredentials {
  clientId: string;
  /** The app registration's object id (what the common mistake passes to New-ServicePrincipal). */
  objectId: string;
  /** The enterprise application's (service principal's) object id in this tenant; null = no service principal. */
  servicePrincipalObjectId: string | null;
  /** Application permissions requested (Office 365 Exchange Online), e.g. SMTP.SendAsApp. */
  applicationPermissions: string[];
  /** Admin consent for the application permissions (without it the token has no `roles`). */
  adminConsent: boolean;
  secrets: FixtureSecret[];
  /** PEM certificates (public part) whose keys may sign client assertions. */
  certificates: string[];
}

export type MailboxRight = 'FullAccess' | 'SendAs';

export interface FixtureServicePrincipal {
  appId: string;
  /** The object id given to New-ServicePrincipal -ObjectId (right or wrong). */
  objectId: string;
  displayName: string;
}

export interface FixtureMailboxPermission {
  mailbox: string;
  /** The service principal's -ObjectId as registered in Exchange. */
  servicePrincipal: string;
  accessRights: MailboxRight[];
}

export interface AuthMethodsFixture {
  basicAuth: BasicAuthCalendar;
  appCredentials: FixtureAppCredentials[];
  exchange: { servicePrincipals: FixtureServicePrincipal[]; mailboxPermissions: FixtureMailboxPermission[] };
}

/** "At the end of December 2026": the twin's default is the first instant of 31 December 2026 (UTC). */
export const DEFAULT_BASIC_AUTH_OFF_FROM = Date.parse('2026-12-31T00:00:00Z');

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UPN = /^[^@\s]+@[a-z0-9.-]+\.[a-z]{2,}$/i;
export const MAILBOX_RIGHTS: readonly MailboxRight[] = ['FullAccess', 'SendAs'];

/** Parses an ISO 8601 instant with an explicit zone; NaN otherwise. */
export function parseInstant(v: unknown): number {
  if (typeof v !== 'string' || !/(Z|[+-]\d\d:\d\d)$/.test(v)) return Number.NaN;
  return Date.parse(v);
}

/** Reads the auth-method fields of a raw fixture, pushing every problem (with its JSON path) onto `problems`. */
export function validateAuthMethods(root: Record<string, unknown>, problems: string[]): AuthMethodsFixture {
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  const instant = (o: Record<string, unknown>, key: string, path: string, dflt: number | null): number | null => {
    const v = o[key];
    if (v === undefined || (v === null && dflt === null)) return dflt;
    const t = parseInstant(v);
    if (Number.isNaN(t)) problems.push(`${path}.${key}: expected an ISO 8601 instant with a zone (e.g. "2026-12-31T00:00:00Z")`);
    return Number.isNaN(t) ? dflt : t;
  };
  const guid = (o: Record<string, unknown>, key: string, path: string, nullable = false): string | null => {
    const v = o[key];
    if (nullable && (v === null || v === undefined)) return null;
    if (typeof v !== 'string' || !GUID.test(v)) problems.push(`${path}.${key}: expected a GUID`);
    return typeof v === 'string' ? v.toLowerCase() : '';
  };

  const ba = isObj(root.basicAuth) ? root.basicAuth : root.basicAuth === undefined ? {} : (problems.push('$.basicAuth: expected an object'), {});
  if (ba.adminReEnabled !== undefined && typeof ba.adminReEnabled !== 'boolean') problems.push('$.basicAuth.adminReEnabled: expected true or false');
  const basicAuth: BasicAuthCalendar = {
    disabledByDefaultFrom: instant(ba, 'disabledByDefaultFrom', '$.basicAuth', DEFAULT_BASIC_AUTH_OFF_FROM) ?? DEFAULT_BASIC_AUTH_OFF_FROM,
    adminReEnabled: ba.adminReEnabled === true,
    finalRemovalAt: instant(ba, 'finalRemovalAt', '$.basicAuth', null),
    tenantCreatedAt: instant(ba, 'tenantCreatedAt', '$.basicAuth', 0) ?? 0,
  };

  const apps = Array.isArray(root.apps) ? root.apps : [];
  const appCredentials: FixtureAppCredentials[] = [];
  apps.forEach((a, i) => {
    const path = `$.apps[${i}]`;
    if (!isObj(a) || a.objectId === undefined) return; // a public client of the device code flow only
    const secretsRaw = a.clientSecrets ?? [];
    const certsRaw = a.certificates ?? [];
    const perms = a.applicationPermissions ?? [];
    if (!Array.isArray(secretsRaw)) problems.push(`${path}.clientSecrets: expected an array`);
    if (!Array.isArray(certsRaw) || certsRaw.some((c) => typeof c !== 'string' || !c.includes('BEGIN CERTIFICATE')))
      problems.push(`${path}.certificates: expected an array of PEM certificates`);
    if (!Array.isArray(perms) || perms.some((p) => typeof p !== 'string')) problems.push(`${path}.applicationPermissions: expected an array of names`);
    if (a.adminConsent !== undefined && typeof a.adminConsent !== 'boolean') problems.push(`${path}.adminConsent: expected true or false`);
    const secrets = (Array.isArray(secretsRaw) ? secretsRaw : []).map((s, j) => {
      const sp = `${path}.clientSecrets[${j}]`;
      const o = isObj(s) ? s : (problems.push(`${sp}: expected an object`), {});
      const value = o.value;
      if (typeof value !== 'string' || value.length < 8) problems.push(`${sp}.value: expected a string of at least 8 characters`);
      const expiresAt = instant(o, 'expiresAt', sp, null);
      if (expiresAt === null) problems.push(`${sp}.expiresAt: expected an ISO 8601 instant`);
      const v = typeof value === 'string' ? value : '';
      return { value: v, expiresAt: expiresAt ?? 0, hint: v.slice(0, 3) };
    });
    appCredentials.push({
      clientId: guid(a, 'clientId', path) ?? '',
      objectId: guid(a, 'objectId', path) ?? '',
      servicePrincipalObjectId: guid(a, 'servicePrincipalObjectId', path, true),
      applicationPermissions: Array.isArray(perms) ? perms.filter((p): p is string => typeof p === 'string') : [],
      adminConsent: a.adminConsent !== false,
      secrets,
      certificates: Array.isArray(certsRaw) ? certsRaw.filter((c): c is string => typeof c === 'string') : [],
    });
  });

  const ex = isObj(root.exchange) ? root.exchange : root.exchange === undefined ? {} : (problems.push('$.exchange: expected an object'), {});
  const spsRaw = ex.servicePrincipals ?? [];
  const permsRaw = ex.mailboxPermissions ?? [];
  if (!Array.isArray(spsRaw)) problems.push('$.exchange.servicePrincipals: expected an array');
  if (!Array.isArray(permsRaw)) problems.push('$.exchange.mailboxPermissions: expected an array');
  const servicePrincipals = (Array.isArray(spsRaw) ? spsRaw : []).map((s, i) => {
    const path = `$.exchange.servicePrincipals[${i}]`;
    const o = isObj(s) ? s : (problems.push(`${path}: expected an object`), {});
    return {
      appId: guid(o, 'appId', path) ?? '',
      objectId: guid(o, 'objectId', path) ?? '',
      displayName: typeof o.displayName === 'string' ? o.displayName : '',
    };
  });
  const mailboxPermissions = (Array.isArray(permsRaw) ? permsRaw : []).map((p, i) => {
    const path = `$.exchange.mailboxPermissions[${i}]`;
    const o = isObj(p) ? p : (problems.push(`${path}: expected an object`), {});
    if (typeof o.mailbox !== 'string' || !UPN.test(o.mailbox)) problems.push(`${path}.mailbox: expected a mailbox address`);
    const rights = o.accessRights;
    if (!Array.isArray(rights) || rights.length === 0 || rights.some((r) => !MAILBOX_RIGHTS.includes(r as MailboxRight)))
      problems.push(`${path}.accessRights: expected a non-empty array of ${MAILBOX_RIGHTS.join(', ')}`);
    const sp = guid(o, 'servicePrincipal', path) ?? '';
    if (sp && !servicePrincipals.some((s) => s.objectId === sp))
      problems.push(`${path}.servicePrincipal: no service principal with object id ${sp} in $.exchange.servicePrincipals`);
    return {
      mailbox: typeof o.mailbox === 'string' ? o.mailbox.toLowerCase() : '',
      servicePrincipal: sp,
      accessRights: (Array.isArray(rights) ? rights : []) as MailboxRight[],
    };
  });
  return { basicAuth, appCredentials, exchange: { servicePrincipals, mailboxPermissions } };
}
