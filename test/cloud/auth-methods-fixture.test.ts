/** The fixture's basic-auth calendar and app-only fields: defaults, every bad field named, and the calendar's rule. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BASIC_AUTH_OFF_FROM } from '../../src/cloud/auth-methods-fixture.ts';
import { BasicAuthPolicy } from '../../src/cloud/exchange/basic-auth.ts';
import { DEFAULT_TENANT_FILE, FixtureError, validateTenantFixture } from '../../src/cloud/tenant-fixture.ts';

const base = async () => JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8'));
const t = (iso: string) => Date.parse(iso);

describe('auth-method fixture fields', () => {
  it('the default fixture: calendar at 31 December 2026, two app-only apps, two Exchange principals with FullAccess', async () => {
    const f = validateTenantFixture(await base());
    expect(f.authMethods.basicAuth).toEqual({ disabledByDefaultFrom: t('2026-12-31T00:00:00Z'), adminReEnabled: false, finalRemovalAt: null, tenantCreatedAt: t('2019-03-01T00:00:00Z') });
    expect(f.authMethods.appCredentials.map((a) => a.clientId)).toEqual(['5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a', '6e8f0a2b-3c4d-4e5f-9a7b-8c9d0e1f2a3b']);
    const [good, wrong] = f.authMethods.appCredentials;
    const sps = f.authMethods.exchange.servicePrincipals;
    expect(sps.find((s) => s.appId === good!.clientId)?.objectId).toBe(good!.servicePrincipalObjectId);
    // the common mistake: registered with the app registration's object id
    expect(sps.find((s) => s.appId === wrong!.clientId)?.objectId).toBe(wrong!.objectId);
    expect(f.authMethods.exchange.mailboxPermissions.every((p) => p.mailbox === 'scanner@contoso.com' && p.accessRights.includes('FullAccess'))).toBe(true);
  });

  it('a fixture without the fields gets the defaults', async () => {
    const raw = await base();
    delete raw.basicAuth;
    delete raw.exchange;
    const f = validateTenantFixture(raw);
    expect(f.authMethods.basicAuth.disabledByDefaultFrom).toBe(DEFAULT_BASIC_AUTH_OFF_FROM);
    expect(f.authMethods.exchange).toEqual({ servicePrincipals: [], mailboxPermissions: [] });
  });

  it('names every bad field at once', async () => {
    const raw = await base();
    raw.basicAuth = { disabledByDefaultFrom: '31/12/2026', adminReEnabled: 'yes', finalRemovalAt: '2027-09-30' };
    raw.apps[2].clientSecrets = [{ value: 'short', expiresAt: 'never' }];
    raw.apps[2].servicePrincipalObjectId = 'not-a-guid';
    raw.exchange.mailboxPermissions.push({ mailbox: 'scanner@contoso.com', servicePrincipal: '00000000-0000-4000-8000-000000000000', accessRights: ['Owner'] });
    let err: FixtureError | undefined;
    try {
      validateTenantFixture(raw, 'bad.json');
    } catch (e) {
      err = e as FixtureError;
    }
    expect(err).toBeInstanceOf(FixtureError);
    const text = err!.problems.join('\n');
    for (const path of [
      '$.basicAuth.disabledByDefaultFrom',
      '$.basicAuth.adminReEnabled',
      '$.basicAuth.finalRemovalAt',
      '$.apps[2].clientSecrets[0].value',
      '$.apps[2].clientSecrets[0].expiresAt',
      '$.apps[2].servicePrincipalObjectId',
      '$.exchange.mailboxPermissions[2].accessRights',
      '$.exchange.mailboxPermissions[2].servicePrincipal',
    ])
      expect(text).toContain(path);
  });
});

describe('basic-auth calendar', () => {
  const policy = (over: Partial<ConstructorParameters<typeof BasicAuthPolicy>[0]> = {}) =>
    new BasicAuthPolicy({ disabledByDefaultFrom: t('2026-12-31T00:00:00Z'), adminReEnabled: false, finalRemovalAt: null, tenantCreatedAt: t('2019-01-01T00:00:00Z'), ...over });

  it('allowed before the date, disabled from it, allowed again with the admin switch, removed after the final date', () => {
    expect(policy().status(t('2026-12-30T23:59:59Z'))).toBe('allowed');
    expect(policy().status(t('2026-12-31T00:00:00Z'))).toBe('disabled');
    expect(policy({ adminReEnabled: true }).status(t('2027-03-01T00:00:00Z'))).toBe('allowed');
    const removal = { adminReEnabled: true, finalRemovalAt: t('2027-10-01T00:00:00Z') };
    expect(policy(removal).status(t('2027-09-30T23:59:59Z'))).toBe('allowed');
    expect(policy(removal).status(t('2027-10-01T00:00:00Z'))).toBe('removed');
    expect(policy(removal).advertised(t('2027-10-01T00:00:00Z'))).toEqual(['XOAUTH2']);
    expect(policy().advertised(t('2027-01-01T00:00:00Z'))).toEqual(['LOGIN', 'XOAUTH2']);
  });

  it('a tenant created after the date never has it by default, whatever the clock says', () => {
    const fresh = policy({ tenantCreatedAt: t('2027-02-01T00:00:00Z') });
    expect(fresh.status(t('2026-06-01T00:00:00Z'))).toBe('disabled');
    expect(policy({ tenantCreatedAt: t('2027-02-01T00:00:00Z'), adminReEnabled: true }).status(t('2027-03-01T00:00:00Z'))).toBe('allowed');
  });
});
