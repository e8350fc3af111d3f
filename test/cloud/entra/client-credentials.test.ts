/**
 * The client credentials grant with msal-node's ConfidentialClientApplication: a certificate assertion (x5t#S256,
 * and x5t with the SHA-1 thumbprint), then the refusals — bad signature (AADSTS700027), unknown certificate, no
 * service principal (AADSTS7000229), no admin consent (a token without roles, refused by Exchange) — and the control
 * API, which never answers a secret's value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, X509Certificate } from 'node:crypto';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { decodeJwt, SignJWT, importPKCS8 } from 'jose';
import { generate } from 'selfsigned';
import { RawSmtp } from '../exchange/fixture.ts';
import { api, oauth, startTestTwin, UndiciNetworkClient, expectEntraError, type TestTwin } from '../helpers.ts';

const APP = '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a';
const SECRET = 'Xq8~AppOnly.Secret-Contoso-2026';
const SCOPE = 'https://outlook.office365.com/.default';

let twin: TestTwin;
let cert: { cert: string; private: string };
let other: { cert: string; private: string };

function cca(credential: { clientSecret?: string; clientCertificate?: { thumbprintSha256?: string; thumbprint?: string; privateKey: string } }) {
  const net = new UndiciNetworkClient(twin.agent);
  const app = new ConfidentialClientApplication({
    auth: { clientId: APP, authority: twin.authority, knownAuthorities: [new URL(twin.entraUrl).host], ...credential },
    system: { networkClient: net },
  });
  return { app, net };
}

const thumb = (pem: string, alg: 'sha1' | 'sha256') => createHash(alg).update(new X509Certificate(pem).raw).digest('hex');

describe('client credentials grant', () => {
  beforeAll(async () => {
    twin = await startTestTwin();
    cert = await generate([{ name: 'commonName', value: 'Scan Server app-only' }], { keySize: 2048, algorithm: 'sha256' });
    other = await generate([{ name: 'commonName', value: 'someone else' }], { keySize: 2048, algorithm: 'sha256' });
    expect((await api(twin, 'POST', `/_twin/apps/${APP}/certificates`, { pem: cert.cert })).status).toBe(201);
  });
  afterAll(async () => twin?.close());

  it('msal-node with a certificate (x5t#S256) gets an app-only token, appidacr 2', async () => {
    const { app } = cca({ clientCertificate: { thumbprintSha256: thumb(cert.cert, 'sha256'), privateKey: cert.private } });
    const r = await app.acquireTokenByClientCredential({ scopes: [SCOPE] });
    const claims = decodeJwt(r!.accessToken);
    expect(claims).toMatchObject({ aud: 'https://outlook.office365.com', roles: ['SMTP.SendAsApp'], idtyp: 'app', appid: APP, appidacr: '2' });
    expect(claims.scp).toBeUndefined();
  });

  it('the SHA-1 thumbprint (x5t) works too; a certificate not uploaded is AADSTS700027', async () => {
    const ok = cca({ clientCertificate: { thumbprint: thumb(cert.cert, 'sha1'), privateKey: cert.private } });
    expect((await ok.app.acquireTokenByClientCredential({ scopes: [SCOPE] }))?.accessToken).toBeTruthy();
    const unknown = cca({ clientCertificate: { thumbprintSha256: thumb(other.cert, 'sha256'), privateKey: other.private } });
    await expect(unknown.app.acquireTokenByClientCredential({ scopes: [SCOPE] })).rejects.toThrow();
    expect(expectEntraError(unknown.net.lastError()).error_codes).toEqual([700027]);
  });

  it('an assertion naming the uploaded certificate but signed with another key: AADSTS700027 signature', async () => {
    const key = await importPKCS8(other.private, 'RS256');
    const x5t = createHash('sha256').update(new X509Certificate(cert.cert).raw).digest('base64url');
    const assertion = await new SignJWT({ aud: `${twin.authority}/oauth2/v2.0/token`, iss: APP, sub: APP, jti: 'x' })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', 'x5t#S256': x5t })
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key);
    const r = await oauth(twin, '/oauth2/v2.0/token', {
      grant_type: 'client_credentials',
      client_id: APP,
      scope: SCOPE,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    expect(r.status).toBe(401);
    expect(expectEntraError(r.json)).toMatchObject({ error: 'invalid_client', error_codes: [700027] });
    expect(r.json.error_description).toMatch(/^AADSTS700027: Client assertion failed signature validation\./);
  });

  it('neither secret nor assertion: AADSTS7000218; an unknown app: AADSTS700016', async () => {
    const none = await oauth(twin, '/oauth2/v2.0/token', { grant_type: 'client_credentials', client_id: APP, scope: SCOPE });
    expect(expectEntraError(none.json).error_codes).toEqual([7000218]);
    const unknown = await oauth(twin, '/oauth2/v2.0/token', { grant_type: 'client_credentials', client_id: '00000000-0000-4000-8000-000000000000', scope: SCOPE, client_secret: SECRET });
    expect(expectEntraError(unknown.json).error_codes).toEqual([700016]);
  });

  it('no enterprise application in the tenant: AADSTS7000229', async () => {
    await api(twin, 'PATCH', `/_twin/apps/${APP}/credentials`, { servicePrincipalObjectId: null });
    try {
      const r = await oauth(twin, '/oauth2/v2.0/token', { grant_type: 'client_credentials', client_id: APP, scope: SCOPE, client_secret: SECRET });
      expect(expectEntraError(r.json)).toMatchObject({ error: 'invalid_client', error_codes: [7000229] });
    } finally {
      await api(twin, 'PATCH', `/_twin/apps/${APP}/credentials`, { servicePrincipalObjectId: '2b3c4d5e-6f70-4b8c-9dae-000000000b01' });
    }
  });

  it('without admin consent the token has no roles, and Exchange refuses it with 535 5.7.3', async () => {
    await api(twin, 'PATCH', `/_twin/apps/${APP}/credentials`, { adminConsent: false });
    try {
      const r = await oauth(twin, '/oauth2/v2.0/token', { grant_type: 'client_credentials', client_id: APP, scope: SCOPE, client_secret: SECRET });
      expect(r.status).toBe(200);
      expect(r.json.refresh_token).toBeUndefined();
      const claims = decodeJwt(r.json.access_token);
      expect(claims.roles).toBeUndefined();
      const c = await RawSmtp.connect(twin.smtp.port);
      try {
        await c.reply();
        await c.startTls(twin.caPem);
        expect(await c.authXoauth2('scanner@contoso.com', r.json.access_token)).toMatch(/^535 5\.7\.3 Authentication unsuccessful/);
      } finally {
        await c.quit();
      }
    } finally {
      await api(twin, 'PATCH', `/_twin/apps/${APP}/credentials`, { adminConsent: true });
    }
  });

  it('the control API shows secrets by hint only, and refuses bad input without changing anything', async () => {
    const listed = await api(twin, 'GET', '/_twin/apps/credentials');
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(SECRET);
    expect(listed.text).not.toContain('Old~Expired.Secret-Contoso-2025');
    expect(listed.text).not.toContain('Pr7~WrongObjectId.Secret-2026');
    const one = await api(twin, 'GET', `/_twin/apps/${APP}/credentials`);
    expect(one.json.secrets[0]).toEqual({ hint: 'Xq8********', expiresAt: '2028-06-30T00:00:00.000Z' });
    const added = await api(twin, 'POST', `/_twin/apps/${APP}/secrets`, { value: 'Fresh~Secret-Value-2027', expiresAt: '2029-01-01T00:00:00Z' });
    expect(added.status).toBe(201);
    expect(added.text).not.toContain('Fresh~Secret-Value-2027');
    const bad = await api(twin, 'POST', `/_twin/apps/${APP}/secrets`, { value: 'Another~Secret-2027', expiresAt: 'soon' });
    expect(bad.status).toBe(400);
    expect((await api(twin, 'GET', `/_twin/apps/${APP}/credentials`)).json.secrets).toHaveLength(3);
    const badSp = await api(twin, 'POST', '/_twin/mailboxes/scanner@contoso.com/permissions', { servicePrincipal: '00000000-0000-4000-8000-000000000000', accessRights: ['FullAccess'] });
    expect(badSp.status).toBe(404);
    expect((await api(twin, 'GET', '/_twin/mailboxes/scanner@contoso.com/permissions')).json).toHaveLength(2);
    expect((await api(twin, 'GET', '/_twin/exchange/service-principals')).json).toHaveLength(2);
  });

  it('the OpenAPI document lists the new control routes', async () => {
    const doc = await api(twin, 'GET', '/_twin/openapi.json');
    for (const p of ['/_twin/tenant/basic-auth', '/_twin/apps/credentials', '/_twin/apps/{clientId}/credentials', '/_twin/apps/{clientId}/secrets', '/_twin/apps/{clientId}/certificates', '/_twin/exchange/service-principals', '/_twin/exchange/service-principals/{objectId}', '/_twin/mailboxes/{upn}/permissions', '/_twin/mailboxes/{upn}/permissions/{servicePrincipal}'])
      expect(Object.keys(doc.json.paths)).toContain(p);
  });
});
