/**
 * The twin reached as login.microsoftonline.com by an unmodified client (curl with --resolve, trusting only the
 * twin's CA): the certificate verifies for that name, and discovery and the device code answer name it, never the
 * listening address. curl missing: skipped with a reason outside CI, a failure in CI.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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

  it('device flow and an XOAUTH2 submission under Microsoft names, with only Microsoft names in what curl is given', async () => {
    const code = await curl(`/${twin.tenantId}/oauth2/v2.0/devicecode`, [
      '--data-urlencode', `client_id=${twin.clientId}`,
      '--data-urlencode', 'scope=https://outlook.office.com/SMTP.Send offline_access openid profile',
    ]);
    expect(twin.control.approveDeviceCode(code.user_code, twin.testUser.upn).state).toBe('approved');
    const token = await curl(`/${twin.tenantId}/oauth2/v2.0/token`, [
      '--data-urlencode', 'grant_type=urn:ietf:params:oauth:grant-type:device_code',
      '--data-urlencode', `client_id=${twin.clientId}`,
      '--data-urlencode', `device_code=${code.device_code}`,
    ]);
    const idClaims = JSON.parse(Buffer.from(token.id_token.split('.')[1], 'base64url').toString());
    expect(idClaims.iss).toBe(`https://${NAME}:${port}/${twin.tenantId}/v2.0`);
    const message = join(twin.dir, 'scan.eml');
    await writeFile(message, `From: ${twin.testUser.upn}\r\nTo: megan@contoso.com\r\nSubject: Scan\r\nMessage-ID: <scan-1@mfp.test>\r\nDate: Mon, 5 Jan 2026 08:00:00 +0000\r\n\r\nscan\r\n`);
    const SMTP = 'smtp.office365.com';
    const smtpPort = String(twin.smtp.port);
    const { stdout, stderr } = await run(
      '/usr/bin/curl',
      [
        '--silent', '--show-error', '--verbose', '--max-time', '20',
        '--resolve', `${SMTP}:${smtpPort}:127.0.0.1`,
        '--cacert', twin.caPath, '--ssl-reqd',
        '--user', twin.testUser.upn, '--oauth2-bearer', token.access_token, '--login-options', 'AUTH=XOAUTH2',
        '--mail-from', twin.testUser.upn, '--mail-rcpt', 'megan@contoso.com',
        '--upload-file', message,
        `smtp://${SMTP}:${smtpPort}`,
      ],
    ).then(
      (r) => r,
      (e: { stdout: string; stderr: string }) => e,
    );
    const transcript = `${stdout}\n${stderr}`;
    expect(transcript).toMatch(/< 235 2\.7\.0 Authentication successful/);
    expect(transcript).toMatch(/< 250 2\.0\.0 OK/);
    const banner = /< 220 (\S+) /.exec(transcript)?.[1] ?? '';
    expect(banner).toMatch(/\.prod\.outlook\.com$/);
    // What the server said names no listening address; "Hello [addr]" echoes the client's own, as Exchange does.
    const replies = transcript.split('\n').filter((l) => l.startsWith('< ')).map((l) => l.replace(/Hello \[[^\]]*\]/, 'Hello'));
    expect(replies.length).toBeGreaterThan(5);
    expect(replies.join('\n')).not.toContain('127.0.0.1');
  });

  it("Python's ssl verifies the twin as login.microsoftonline.com and smtp.office365.com (STARTTLS) with only the twin CA", async () => {
    const script = [
      'import socket, ssl, sys',
      'ca, port, smtp_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])',
      'ctx = ssl.create_default_context(cafile=ca)',
      'with socket.create_connection(("127.0.0.1", port)) as raw:',
      '    with ctx.wrap_socket(raw, server_hostname="login.microsoftonline.com") as tls:',
      '        print(tls.version())',
      'import smtplib',
      's = smtplib.SMTP(timeout=20)',
      's.connect("127.0.0.1", smtp_port)',
      '# connect() records the address it dialled; STARTTLS must verify the name a bench device uses instead.',
      's._host = "smtp.office365.com"',
      's.ehlo("bench")',
      'print(s.starttls(context=ctx)[0])',
      's.quit()',
    ].join('\n');
    const { stdout } = await run('/usr/bin/python3', ['-c', script, twin.caPath, port, String(twin.smtp.port)]);
    const [version, starttls] = stdout.trim().split('\n');
    expect(version).toMatch(/^TLSv1\.[23]$/);
    expect(starttls).toBe('220');
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
