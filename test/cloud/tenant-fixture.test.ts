/** Fixture validation and the reuse of the twin's certificates. */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ensureCertificates } from '../../src/cloud/entra/certs.ts';
import { FixtureError, loadTenantFixture, validateTenantFixture } from '../../src/cloud/tenant-fixture.ts';

describe('tenant fixtures', () => {
  it('loads both shipped fixtures', async () => {
    const contoso = await loadTenantFixture();
    expect(contoso.policy.smtpAuthEnabled).toBe(true);
    expect(contoso.apps[0]!.displayName).toBe('Scan to Email');
    const fabrikam = await loadTenantFixture(new URL('../../fixtures/tenants/fabrikam-new.json', import.meta.url).pathname);
    expect(fabrikam.policy.smtpAuthEnabled).toBe(false);
  });

  it("defaults the SMTP idle timeout to Exchange's 5 minutes and refuses one that is not a positive number", async () => {
    const contoso = JSON.parse(await readFile(new URL('../../fixtures/tenants/contoso.json', import.meta.url), 'utf8'));
    delete contoso.exchange;
    expect(validateTenantFixture(contoso).exchange).toEqual({ connectionInactivityTimeoutSeconds: 300 });
    expect(validateTenantFixture({ ...contoso, exchange: { connectionInactivityTimeoutSeconds: 0.5 } }).exchange.connectionInactivityTimeoutSeconds).toBe(0.5);
    for (const bad of [0, -5, '300', 86_401]) {
      expect(() => validateTenantFixture({ ...contoso, exchange: { connectionInactivityTimeoutSeconds: bad } })).toThrow(
        /\$\.exchange\.connectionInactivityTimeoutSeconds: expected a number in \[0\.05, 86400\]/,
      );
    }
    expect(() => validateTenantFixture({ ...contoso, exchange: 'five minutes' })).toThrow(/\$\.exchange: expected an object/);
  });

  it('ships a short-lifetime Contoso for wall-time printers and refuses a bad access-token lifetime', async () => {
    const short = await loadTenantFixture(new URL('../../fixtures/tenants/contoso-short.json', import.meta.url).pathname);
    expect(short.deviceCode).toMatchObject({ expiresInSeconds: 25, intervalSeconds: 3 });
    expect(Number.isInteger(short.deviceCode.intervalSeconds)).toBe(true);
    expect(short.tokens.accessTokenLifetimeSeconds).toBe(30);
    expect((await loadTenantFixture()).tokens.accessTokenLifetimeSeconds).toBeNull();
    const contoso = JSON.parse(await readFile(new URL('../../fixtures/tenants/contoso.json', import.meta.url), 'utf8'));
    for (const bad of [0, 1.5, '30', 86_401]) {
      expect(() => validateTenantFixture({ ...contoso, tokens: { accessTokenLifetimeSeconds: bad } })).toThrow(
        /\$\.tokens\.accessTokenLifetimeSeconds: expected an integer in \[1, 86400\]/,
      );
    }
  });

  it('lists every problem with its path', () => {
    const bad = {
      tenantId: 'not-a-guid',
      displayName: 'X',
      domains: ['x.com'],
      policy: { smtpAuthEnabled: 'yes' },
      deviceCode: { intervalSeconds: 0, expiredError: 'gone' },
      users: [{ upn: 'a@other.org', displayName: 'A', password: 'p', mfa: 'fax' }],
      apps: [],
    };
    try {
      validateTenantFixture(bad, 'bad.json');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FixtureError);
      const msg = (e as Error).message;
      for (const part of ['$.tenantId', '$.policy.smtpAuthEnabled', '$.deviceCode.intervalSeconds', '$.deviceCode.expiredError', '$.users[0].upn', '$.users[0].mfa', '$.apps'])
        expect(msg).toContain(part);
    }
  });
});

describe('twin certificates', () => {
  it('creates a CA-signed localhost/127.0.0.1 certificate once and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twin-certs-'));
    const first = await ensureCertificates(dir);
    const ca = new X509Certificate(first.caPem);
    const server = new X509Certificate(first.serverCertPem);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.toLegacyObject().ca ?? false).toBe(false);
    expect(ca.ca).toBe(true);
    const second = await ensureCertificates(dir);
    expect(second.serverCertPem).toBe(first.serverCertPem);
    expect(await readFile(join(dir, 'ca.pem'), 'utf8')).toBe(first.caPem);
  });
});
