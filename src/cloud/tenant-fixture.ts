/**
 * Tenant fixtures: the JSON files under fixtures/tenants/ that seed a twin's directory. Validated by hand on load so
 * that a typo in a fixture fails at start with the path of the bad field, not later with a confusing protocol error.
 */
import { checkThrottlePolicy, type ThrottlePolicy } from './throttling.ts';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { validateAuthMethods, type AuthMethodsFixture } from './auth-methods-fixture.ts';
import type { MfaMethod } from './contracts.ts';

export interface FixtureUser {
  upn: string;
  displayName: string;
  /** Test data only: passwords of fake users, never logged or rendered. */
  password: string;
  mfa: MfaMethod;
  /** Where one-time codes "go" (shown masked on the sign-in page). */
  phone?: string;
  objectId?: string;
  enabled?: boolean;
  smtpAuthEnabled?: boolean | null;
  sendAs?: string[];
  mailboxFull?: boolean;
}

export interface FixtureApp {
  clientId: string;
  displayName: string;
  /** "Allow public client flows" in the app registration; the device code flow needs it. */
  publicClient: boolean;
  /** Tenant-wide (admin) consent for the app's delegated permissions. */
  consentGranted: boolean;
}

export interface TenantFixture {
  tenantId: string;
  displayName: string;
  domains: string[];
  policy: {
    smtpAuthEnabled: boolean;
    securityDefaults: boolean;
    sendAsDeniedAfterData: boolean;
    /** Conditional Access policy blocking the device code flow (sign-ins end with AADSTS53003). */
    blockDeviceCodeFlow: boolean;
  };
  deviceCode: {
    expiresInSeconds: number;
    intervalSeconds: number;
    /** Observed `code_expired` (AADSTS70020) or documented `expired_token` (AADSTS70019). */
    expiredError: 'code_expired' | 'expired_token';
  };
  signIn: { maxFailedAttempts: number; lockoutSeconds: number };
  tokens: {
    /**
     * A fixed access-token lifetime in seconds, or null for Entra's 60–90 minutes drawn from the seed. Short values
     * let a printer on wall time (no virtual clock) reach its refresh within seconds.
     */
    accessTokenLifetimeSeconds: number | null;
  };
  exchange: {
    /**
     * Seconds an SMTP session may wait for the client's next input before `451 4.7.0 Timeout waiting for client
     * input`: Exchange Server's receive-connector ConnectionInactivityTimeout, default 300 (Exchange Online publishes
     * none). Tests may set a fraction of a second.
     */
    connectionInactivityTimeoutSeconds: number;
  };
  /** Tenant throttling (throttling.ts); absent: off. */
  throttling?: ThrottlePolicy;
  users: FixtureUser[];
  apps: FixtureApp[];
  /** Basic-auth calendar, app-only credentials, Exchange service principals (auth-methods-fixture.ts). */
  authMethods: AuthMethodsFixture;
}

export class FixtureError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`Invalid tenant fixture ${file}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'FixtureError';
  }
}

export const DEFAULT_TENANT_FILE = fileURLToPath(new URL('../../fixtures/tenants/contoso.json', import.meta.url));

export async function loadTenantFixture(file: string = DEFAULT_TENANT_FILE): Promise<TenantFixture> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new FixtureError(file, [`cannot read as JSON: ${(e as Error).message}`]);
  }
  return validateTenantFixture(raw, file);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UPN = /^[^@\s]+@[a-z0-9.-]+\.[a-z]{2,}$/i;

/** Fills defaults and checks every field; throws FixtureError listing all problems at once. */
export function validateTenantFixture(raw: unknown, file = '<inline>'): TenantFixture {
  const problems: string[] = [];
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    problems.push(`${path}: expected an object`);
    return {};
  };
  const str = (o: Record<string, unknown>, key: string, path: string, re?: RegExp, what?: string): string => {
    const v = o[key];
    if (typeof v !== 'string' || v.length === 0) problems.push(`${path}.${key}: expected a non-empty string`);
    else if (re && !re.test(v)) problems.push(`${path}.${key}: ${JSON.stringify(v)} is not ${what}`);
    return typeof v === 'string' ? v : '';
  };
  const bool = (o: Record<string, unknown>, key: string, path: string, dflt?: boolean): boolean => {
    const v = o[key];
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'boolean') problems.push(`${path}.${key}: expected true or false`);
    return v === true;
  };
  const int = (o: Record<string, unknown>, key: string, path: string, dflt: number, min: number, max: number): number => {
    const v = o[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      problems.push(`${path}.${key}: expected an integer in [${min}, ${max}]`);
    return typeof v === 'number' ? v : dflt;
  };

  const num = (o: Record<string, unknown>, key: string, path: string, dflt: number, min: number, max: number): number => {
    const v = o[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
      problems.push(`${path}.${key}: expected a number in [${min}, ${max}]`);
    return typeof v === 'number' ? v : dflt;
  };

  const root = obj(raw, '$');
  const tenantId = str(root, 'tenantId', '$', GUID, 'a GUID').toLowerCase();
  const displayName = str(root, 'displayName', '$');
  const domains = Array.isArray(root.domains) ? root.domains : [];
  if (domains.length === 0) problems.push('$.domains: expected at least one verified domain');
  domains.forEach((d, i) => {
    if (typeof d !== 'string' || !/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(d)) problems.push(`$.domains[${i}]: not a domain name`);
  });
  const lowerDomains = domains.filter((d): d is string => typeof d === 'string').map((d) => d.toLowerCase());

  const p = obj(root.policy ?? {}, '$.policy');
  const policy = {
    smtpAuthEnabled: bool(p, 'smtpAuthEnabled', '$.policy'),
    securityDefaults: bool(p, 'securityDefaults', '$.policy', false),
    sendAsDeniedAfterData: bool(p, 'sendAsDeniedAfterData', '$.policy', false),
    blockDeviceCodeFlow: bool(p, 'blockDeviceCodeFlow', '$.policy', false),
  };

  const dc = obj(root.deviceCode ?? {}, '$.deviceCode');
  const expiredError = dc.expiredError ?? 'code_expired';
  if (expiredError !== 'code_expired' && expiredError !== 'expired_token')
    problems.push('$.deviceCode.expiredError: expected "code_expired" or "expired_token"');
  const deviceCode = {
    expiresInSeconds: int(dc, 'expiresInSeconds', '$.deviceCode', 900, 1, 86_400),
    // Entra says 5. Test fixtures may poll faster than a whole second (msal-node multiplies by 1000; RFC 8628's
    // interval is a JSON number): a sign-in then costs a tenth of a second of wall time, not one second.
    intervalSeconds: num(dc, 'intervalSeconds', '$.deviceCode', 5, 0.05, 60),
    expiredError: expiredError as 'code_expired' | 'expired_token',
  };

  const si = obj(root.signIn ?? {}, '$.signIn');
  const signIn = {
    maxFailedAttempts: int(si, 'maxFailedAttempts', '$.signIn', 5, 1, 100),
    lockoutSeconds: int(si, 'lockoutSeconds', '$.signIn', 60, 1, 86_400),
  };

  const tk = obj(root.tokens ?? {}, '$.tokens');
  const tokens = {
    accessTokenLifetimeSeconds:
      tk.accessTokenLifetimeSeconds === undefined || tk.accessTokenLifetimeSeconds === null
        ? null
        : int(tk, 'accessTokenLifetimeSeconds', '$.tokens', 3600, 1, 86_400),
  };

  const ex = obj(root.exchange ?? {}, '$.exchange');
  const exchange = {
    connectionInactivityTimeoutSeconds: num(ex, 'connectionInactivityTimeoutSeconds', '$.exchange', 300, 0.05, 86_400),
  };

  let throttling: ThrottlePolicy | undefined;
  if (root.throttling !== undefined) {
    try {
      throttling = checkThrottlePolicy(root.throttling, '$.throttling');
    } catch (e) {
      problems.push((e as Error).message);
    }
  }

  const usersRaw = Array.isArray(root.users) ? root.users : (problems.push('$.users: expected an array'), []);
  const seenUpn = new Set<string>();
  const users: FixtureUser[] = usersRaw.map((u, i) => {
    const path = `$.users[${i}]`;
    const o = obj(u, path);
    const upn = str(o, 'upn', path, UPN, 'a user principal name').toLowerCase();
    if (seenUpn.has(upn)) problems.push(`${path}.upn: duplicate ${upn}`);
    seenUpn.add(upn);
    const domain = upn.split('@')[1];
    if (domain && lowerDomains.length && !lowerDomains.includes(domain))
      problems.push(`${path}.upn: domain ${domain} is not one of the tenant's domains`);
    const mfa = o.mfa ?? 'none';
    if (mfa !== 'sms' && mfa !== 'authenticator' && mfa !== 'none')
      problems.push(`${path}.mfa: expected "sms", "authenticator" or "none"`);
    if (o.objectId !== undefined && (typeof o.objectId !== 'string' || !GUID.test(o.objectId)))
      problems.push(`${path}.objectId: not a GUID`);
    if (o.smtpAuthEnabled !== undefined && o.smtpAuthEnabled !== null && typeof o.smtpAuthEnabled !== 'boolean')
      problems.push(`${path}.smtpAuthEnabled: expected true, false or null`);
    if (o.sendAs !== undefined && (!Array.isArray(o.sendAs) || o.sendAs.some((a) => typeof a !== 'string' || !UPN.test(a))))
      problems.push(`${path}.sendAs: expected an array of addresses`);
    if (o.phone !== undefined && typeof o.phone !== 'string') problems.push(`${path}.phone: expected a string`);
    return {
      upn,
      displayName: str(o, 'displayName', path),
      password: str(o, 'password', path),
      mfa: mfa as MfaMethod,
      phone: o.phone as string | undefined,
      objectId: (o.objectId as string | undefined)?.toLowerCase(),
      enabled: bool(o, 'enabled', path, true),
      smtpAuthEnabled: (o.smtpAuthEnabled as boolean | null | undefined) ?? null,
      sendAs: ((o.sendAs as string[] | undefined) ?? []).map((a) => a.toLowerCase()),
      mailboxFull: bool(o, 'mailboxFull', path, false),
    };
  });

  const appsRaw = Array.isArray(root.apps) ? root.apps : (problems.push('$.apps: expected an array'), []);
  if (appsRaw.length === 0) problems.push('$.apps: expected at least one app registration');
  const apps: FixtureApp[] = appsRaw.map((a, i) => {
    const path = `$.apps[${i}]`;
    const o = obj(a, path);
    return {
      clientId: str(o, 'clientId', path, GUID, 'a GUID').toLowerCase(),
      displayName: str(o, 'displayName', path),
      publicClient: bool(o, 'publicClient', path, true),
      consentGranted: bool(o, 'consentGranted', path, true),
    };
  });

  const authMethods = validateAuthMethods(root, problems);
  if (problems.length) throw new FixtureError(file, problems);
  return { tenantId, displayName, domains: lowerDomains, policy, deviceCode, signIn, tokens, exchange, ...(throttling ? { throttling } : {}), users, apps, authMethods };
}
