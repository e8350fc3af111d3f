/**
 * The twin served under Microsoft's names: unmodified clients (MSAL on undici, nodemailer, curl) that resolve
 * login.microsoftonline.com / smtp.office365.com to loopback and trust only the twin's CA complete the device flow and
 * an XOAUTH2 submission, and see Microsoft's names — never 127.0.0.1 — in discovery and verification_uri.
 */
import { execFile, execFileSync } from 'node:child_process';
import { get as httpsGet } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LookupFunction } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { PublicClientApplication } from '@azure/msal-node';
import { startTwin } from '../../../src/cloud/twin.ts';
import { servedNames } from '../../../src/cloud/entra/certs.ts';
import { SMTP_SCOPE, UndiciNetworkClient, signInThroughPages, startDeviceCodeFlow, startTestTwin, type TestTwin } from '../helpers.ts';
import { VirtualClock } from '../../../src/time/clock.ts';

const LOGIN = 'login.microsoftonline.com';
const SMTP = 'smtp.office365.com';
const scanner = { upn: 'scanner@contoso.com', password: 'Scan-to-Email-2026!' };

/** Resolves every name to 127.0.0.1, as a bench DNS or hosts file would: loopback only. */
const toLoopback: LookupFunction = (_host, options, cb) => {
  if ((options as { all?: boolean }).all) (cb as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else cb(null, '127.0.0.1', 4);
};

let twin: TestTwin;
let msAgent: Agent;
let port: number;

beforeAll(async () => {
  twin = await startTestTwin({ clock: new VirtualClock() });
  port = Number(new URL(twin.entraUrl).port);
  // Trusts only the twin's CA (ca replaces Node's bundled roots).
  msAgent = new Agent({ connect: { ca: twin.caPem, lookup: toLoopback } });
});
afterAll(async () => {
  await msAgent?.close();
  await twin?.close();
});

function peerCertificate(servername: string) {
  return new Promise<import('node:crypto').X509Certificate>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca: twin.caPem }, () => {
      const cert = s.getPeerX509Certificate();
      s.end();
      cert ? resolve(cert) : reject(new Error('no certificate'));
    });
    s.on('error', reject);
  });
}

describe("the twin's certificate", () => {
  it("carries Microsoft's names and loopback, is issued by the twin's CA and signed with SHA-256", async () => {
    const cert = await peerCertificate(LOGIN);
    for (const n of [LOGIN, SMTP, 'localhost']) expect(cert.checkHost(n)).toBe(n);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('login.microsoft.com')).toBeUndefined();
    const ca = new (await import('node:crypto')).X509Certificate(twin.caPem);
    expect(cert.verify(ca.publicKey)).toBe(true);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: cert.toString(), encoding: 'utf8' });
    expect(text).toMatch(/Signature Algorithm: sha256WithRSAEncryption/);
    expect(cert.issuer).toBe(ca.subject);
  });

  it('carries configured extra names, and bad extra names are refused before anything starts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'twin-names-'));
    const other = await startTwin({ stateDir: dir, clock: new VirtualClock(), extraNames: ['twin.bench.example', '10.0.0.7'], smtpGreetingDelayMs: 0 });
    try {
      const cert = await new Promise<import('node:crypto').X509Certificate>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: Number(new URL(other.entraUrl).port), servername: 'twin.bench.example', ca: other.caPem }, () => {
          resolve(s.getPeerX509Certificate()!);
          s.end();
        });
        s.on('error', reject);
      });
      expect(cert.checkHost('twin.bench.example')).toBe('twin.bench.example');
      expect(cert.checkIP('10.0.0.7')).toBe('10.0.0.7');
      expect(cert.checkHost(LOGIN)).toBe(LOGIN);
    } finally {
      await other.close();
    }
    expect(() => servedNames(['bad name!'])).toThrow(/not a DNS name/);
    await expect(startTwin({ stateDir: dir, clock: new VirtualClock(), extraNames: ['-x.example'] })).rejects.toThrow(/not a DNS name/);
  });
});

describe("reached as login.microsoftonline.com (undici's connect.lookup, only the twin's CA trusted)", () => {
  const base = () => `https://${LOGIN}:${port}`;

  it("discovery names login.microsoftonline.com in issuer and every endpoint", async () => {
    const res = await request(`${base()}/${twin.tenantId}/v2.0/.well-known/openid-configuration`, { dispatcher: msAgent });
    expect(res.statusCode).toBe(200);
    const text = await res.body.text();
    const doc = JSON.parse(text);
    expect(doc.issuer).toBe(`${base()}/${twin.tenantId}/v2.0`);
    expect(doc.token_endpoint).toBe(`${base()}/${twin.tenantId}/oauth2/v2.0/token`);
    expect(doc.device_authorization_endpoint).toBe(`${base()}/${twin.tenantId}/oauth2/v2.0/devicecode`);
    expect(text).not.toMatch(/127\.0\.0\.1|localhost/);
  });

  it('a Host that is not a served name is misdirected (421), never echoed into discovery', async () => {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsGet(
        { host: '127.0.0.1', port, servername: 'localhost', ca: twin.caPem, path: `/${twin.tenantId}/v2.0/.well-known/openid-configuration`, headers: { host: `evil.example:${port}` } },
        (res) => {
          let t = '';
          res.on('data', (c) => (t += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: t }));
        },
      );
      req.on('error', reject);
    });
    expect(status).toBe(421);
    expect(body).not.toContain('evil.example');
  });

  it('MSAL completes the device flow under the name, and nodemailer submits with XOAUTH2 to smtp.office365.com', async () => {
    const net = new UndiciNetworkClient(msAgent);
    const pca = new PublicClientApplication({
      auth: { clientId: twin.clientId, authority: `${base()}/${twin.tenantId}`, knownAuthorities: [`${LOGIN}:${port}`] },
      system: { networkClient: net },
    });
    const flow = startDeviceCodeFlow(pca, [SMTP_SCOPE]);
    const code = await flow.code;
    expect(code.verificationUri).toBe(`${base()}/devicelogin`);
    expect(code.message).toContain(`${base()}/devicelogin`);
    expect(code.message).not.toMatch(/127\.0\.0\.1/);
    await signInThroughPages(twin, code.userCode, scanner);
    const result = await flow.result;
    expect(result?.accessToken).toBeTruthy();
    expect(JSON.stringify(net.responses.map((r) => r.body))).not.toMatch(/127\.0\.0\.1/);

    const transport = nodemailer.createTransport({
      host: '127.0.0.1', // what smtp.office365.com resolves to on this bench
      port: twin.smtp.port,
      secure: false,
      requireTLS: true,
      auth: { type: 'OAuth2', user: scanner.upn, accessToken: result!.accessToken },
      tls: { ca: twin.caPem, servername: SMTP, minVersion: 'TLSv1.2' },
    } as SMTPTransport.Options);
    try {
      const info = await transport.sendMail({ from: scanner.upn, to: 'admin@contoso.com', subject: 'Scan under Microsoft names', text: 'x' });
      expect(info.response).toMatch(/^250 2\.0\.0 OK/);
    } finally {
      transport.close();
    }
    const tls = twin.journal.list({ kind: 'smtp' }).find((e) => e.kind === 'smtp' && e.command === 'TLS');
    expect(tls && tls.kind === 'smtp' ? tls.tls?.servername : undefined).toBe(SMTP);
  });

  it('curl with --resolve and only the twin CA sees the name in verification_uri', async (ctx) => {
    const curl = await promisify(execFile)('curl', ['--version']).catch(() => null);
    if (!curl) return ctx.skip('curl is not installed');
    const { writeFile } = await import('node:fs/promises');
    const caFile = join(twin.dir, 'ca-for-curl.pem');
    await writeFile(caFile, twin.caPem);
    const { stdout } = await promisify(execFile)('curl', [
      '-sS', '--fail-with-body', '--resolve', `${LOGIN}:${port}:127.0.0.1`, '--cacert', caFile, '--capath', '/nonexistent',
      '-d', `client_id=${twin.clientId}&scope=${encodeURIComponent(SMTP_SCOPE)}`,
      `${base()}/${twin.tenantId}/oauth2/v2.0/devicecode`,
    ]);
    const body = JSON.parse(stdout);
    expect(body.verification_uri).toBe(`${base()}/devicelogin`);
  });
});
