/**
 * The twin reached as login.microsoftonline.com by an unmodified client (curl with --resolve, trusting only the
 * twin's CA): the certificate verifies for that name, and discovery and the device code answer name it, never the
 * listening address. curl missing: skipped with a reason outside CI, a failure in CI.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestTwin, type TestTwin } from '../helpers.ts';

const run = promisify(execFile);
const curlPresent = existsSync('/usr/bin/curl');
const inCI = Boolean(process.env.CI);
if (!curlPresent && !inCI) console.warn('skipping Microsoft-names test: /usr/bin/curl missing (CI installs it)');

describe.skipIf(!curlPresent && !inCI)("the twin under Microsoft's names (curl --resolve, twin CA only)", () => {
  let twin: TestTwin;
  let port: string;
  const NAME = 'login.microsoftonline.com';
  const curl = async (path: string, extra: string[] = []) => {
    const { stdout } = await run('/usr/bin/curl', [
      '--silent', '--show-error', '--fail-with-body', '--max-time', '20',
      '--resolve', `${NAME}:${port}:127.0.0.1`,
      '--cacert', twin.caPath,
      ...extra,
      `https://${NAME}:${port}${path}`,
    ]);
    return JSON.parse(stdout);
  };

  beforeAll(async () => {
    twin = await startTestTwin();
    port = new URL(twin.entraUrl).port;
  });
  afterAll(async () => {
    await twin?.close();
  });

  it('discovery names login.microsoftonline.com in issuer and every endpoint', async () => {
    const doc = await curl(`/${twin.tenantId}/v2.0/.well-known/openid-configuration`);
    const origin = `https://${NAME}:${port}`;
    expect(doc.issuer).toBe(`${origin}/${twin.tenantId}/v2.0`);
    for (const k of ['token_endpoint', 'device_authorization_endpoint', 'jwks_uri', 'authorization_endpoint']) {
      expect(doc[k].startsWith(`${origin}/${twin.tenantId}/`)).toBe(true);
    }
    expect(JSON.stringify(doc)).not.toContain('127.0.0.1');
  });

  it('the device code answer gives verification_uri under the same name', async () => {
    const body = await curl(`/${twin.tenantId}/oauth2/v2.0/devicecode`, [
      '--data-urlencode', `client_id=${twin.clientId}`,
      '--data-urlencode', 'scope=https://outlook.office.com/SMTP.Send offline_access',
    ]);
    expect(body.verification_uri).toBe(`https://${NAME}:${port}/devicelogin`);
    expect(body.message).toContain(`https://${NAME}:${port}/devicelogin`);
    expect(JSON.stringify(body)).not.toContain('127.0.0.1');
  });

  it('a Host that is not a served name gets the listening origin', async () => {
    const res = await fetch(`${twin.entraUrl}/${twin.tenantId}/v2.0/.well-known/openid-configuration`, {
      // @ts-expect-error undici's dispatcher option on Node's fetch
      dispatcher: twin.agent,
    });
    const doc = (await res.json()) as { issuer: string };
    expect(doc.issuer).toBe(`${twin.entraUrl}/${twin.tenantId}/v2.0`);
  });
});
