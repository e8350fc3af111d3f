/**
 * The bench DNS responder, asked by unmodified clients: dig (Debian dnsutils; mandatory under CI), Node's own
 * dns.Resolver pointed at it, and then the device flow + an XOAUTH2 submission by MSAL on undici and nodemailer whose
 * only name service is that responder and whose only trust anchor is the twin's CA; curl reaches the address dig gave.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { promisify } from 'node:util';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { PublicClientApplication } from '@azure/msal-node';
import { SMTP_SCOPE, UndiciNetworkClient, signInThroughPages, startDeviceCodeFlow, startTestTwin, type TestTwin } from '../helpers.ts';
import { createNameResolver } from '../../../src/adapters/resolver.ts';
import { startDnsResponder } from '../../../src/cloud/dns/responder.ts';
import { RealClock } from '../../../src/time/clock.ts';
import { startTwin } from '../../../src/cloud/twin.ts';

const run = promisify(execFile);
const LOGIN = 'login.microsoftonline.com';
const SMTP = 'smtp.office365.com';
const scanner = { upn: 'scanner@contoso.com', password: 'Scan-to-Email-2026!' };
const hasDig = await run('dig', ['-v']).then(
  () => true,
  () => false,
);

let twin: TestTwin;
let dnsPort: number;

beforeAll(async () => {
  twin = await startTestTwin({ clock: new RealClock() });
  // startTestTwin takes no DNS option: the responder is started as the twin starts it, on the same names.
  const dns = await startDnsResponder({ host: '127.0.0.1', port: 0, names: [LOGIN, SMTP, 'twin.bench.example'], addresses: ['127.0.0.1', '::1'] });
  dnsPort = dns.port;
  const close = twin.close;
  twin.close = async () => {
    await dns.close();
    await close();
  };
});
afterAll(async () => {
  await twin?.close();
});

/** dig's header line, flags and answers. */
async function dig(...args: string[]) {
  const { stdout } = await run('dig', [`@127.0.0.1`, '-p', String(dnsPort), '+time=5', '+tries=2', ...args]);
  const status = /status: (\w+)/.exec(stdout)?.[1];
  const flags = (/;; flags: ([a-z ]+);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/);
  const answers = stdout
    .split('\n')
    .filter((l) => l && !l.startsWith(';'))
    .map((l) => l.split(/\s+/))
    .filter((f) => f[2] === 'IN')
    .map((f) => ({ name: f[0], ttl: Number(f[1]), type: f[3], address: f[4] }));
  return { status, flags, answers, stdout };
}

describe.skipIf(!hasDig && !process.env.CI)(`dig @127.0.0.1 -p P (${hasDig ? 'dnsutils' : 'skipped: dig missing — apt-get install dnsutils'})`, () => {
  it("answers login.microsoftonline.com and smtp.office365.com, A and AAAA, authoritatively and without recursion", async () => {
    const a = await dig(LOGIN, 'A');
    expect(a.status).toBe('NOERROR');
    expect(a.flags).toContain('aa');
    expect(a.flags).not.toContain('ra');
    expect(a.answers).toEqual([{ name: `${LOGIN}.`, ttl: 60, type: 'A', address: '127.0.0.1' }]);
    const aaaa = await dig(SMTP, 'AAAA');
    expect(aaaa.answers).toEqual([{ name: `${SMTP}.`, ttl: 60, type: 'AAAA', address: '::1' }]);
    // Names are case-insensitive; the answer keeps the question's spelling (0x20).
    expect((await dig('SMTP.Office365.COM', 'A')).answers[0]).toMatchObject({ type: 'A', address: '127.0.0.1' });
    expect((await dig('twin.bench.example', 'A')).answers[0]?.address).toBe('127.0.0.1');
  });

  it('refuses every name it does not own (no recursion, even when asked), NXDOMAIN below its names, NODATA for other types', async () => {
    for (const name of ['example.com', 'microsoftonline.com', 'login.microsoft.com']) {
      const r = await dig(name, 'A', '+recurse');
      expect(r.status, name).toBe('REFUSED');
      expect(r.flags).not.toContain('ra');
      expect(r.answers).toEqual([]);
    }
    const below = await dig(`x.${LOGIN}`, 'A');
    expect(below.status).toBe('NXDOMAIN');
    expect(below.flags).toContain('aa');
    const mx = await dig(LOGIN, 'MX');
    expect(mx.status).toBe('NOERROR');
    expect(mx.answers).toEqual([]);
  });

  it('answers over TCP on the same port', async () => {
    const r = await dig(LOGIN, 'A', '+tcp');
    expect(r.status).toBe('NOERROR');
    expect(r.answers[0]?.address).toBe('127.0.0.1');
  });

  it('curl reaches the address dig returned under the name, trusting only the twin CA', async (ctx) => {
    const curl = await run('curl', ['--version']).catch(() => null);
    if (!curl) return ctx.skip('curl is not installed');
    const address = (await dig(LOGIN, 'A')).answers[0]!.address!;
    const port = new URL(twin.entraUrl).port;
    const caFile = join(twin.dir, 'ca-for-curl.pem');
    await writeFile(caFile, twin.caPem);
    const { stdout } = await run('curl', [
      '-sS', '--fail-with-body', '--resolve', `${LOGIN}:${port}:${address}`, '--cacert', caFile, '--capath', '/nonexistent',
      `https://${LOGIN}:${port}/${twin.tenantId}/v2.0/.well-known/openid-configuration`,
    ]);
    expect(JSON.parse(stdout).issuer).toBe(`https://${LOGIN}:${port}/${twin.tenantId}/v2.0`);
  });
});

describe("Node's dns.Resolver pointed at the responder", () => {
  it('resolves the names (A and AAAA) and gets REFUSED for others', async () => {
    const r = new Resolver({ timeout: 5000, tries: 2 });
    r.setServers([`127.0.0.1:${dnsPort}`]);
    expect(await r.resolve4(LOGIN)).toEqual(['127.0.0.1']);
    expect(await r.resolve6(SMTP)).toEqual(['::1']);
    await expect(r.resolve4('example.com')).rejects.toMatchObject({ code: 'EREFUSED' });
  });

  it('is the only name service of MSAL and nodemailer: device flow and XOAUTH2 under Microsoft names, only the twin CA trusted', async () => {
    const names = createNameResolver({ dnsServer: `127.0.0.1:${dnsPort}` });
    const agent = new Agent({ connect: { ca: twin.caPem, lookup: names.connectLookup } });
    const port = new URL(twin.entraUrl).port;
    const base = `https://${LOGIN}:${port}`;
    try {
      const net = new UndiciNetworkClient(agent);
      const pca = new PublicClientApplication({
        auth: { clientId: twin.clientId, authority: `${base}/${twin.tenantId}`, knownAuthorities: [`${LOGIN}:${port}`] },
        system: { networkClient: net },
      });
      const flow = startDeviceCodeFlow(pca, [SMTP_SCOPE]);
      const code = await flow.code;
      expect(code.verificationUri).toBe(`${base}/devicelogin`);
      await signInThroughPages(twin, code.userCode, scanner);
      const result = await flow.result;
      expect(result?.accessToken).toBeTruthy();
      expect(JSON.stringify(net.responses.map((r) => r.body))).not.toMatch(/127\.0\.0\.1|localhost/);

      // nodemailer asks the process's DNS itself: the client resolves through the responder and dials the address.
      const [smtpAddress] = await names.lookup(SMTP);
      // The SMTP banner a client sees there names an Exchange front end, never the listening address.
      const greeting = await new Promise<string>((resolve, reject) => {
        const s = connect({ host: smtpAddress!.address, port: twin.smtp.port }, () => undefined);
        s.once('data', (d) => {
          resolve(String(d));
          s.end('QUIT\r\n');
        });
        s.once('error', reject);
      });
      expect(greeting).toMatch(/^220 \S+\.outlook\.com /);
      expect(greeting).not.toMatch(/127\.0\.0\.1|localhost/);
      const transport = nodemailer.createTransport({
        host: smtpAddress!.address,
        port: twin.smtp.port,
        secure: false,
        requireTLS: true,
        auth: { type: 'OAuth2', user: scanner.upn, accessToken: result!.accessToken },
        tls: { ca: twin.caPem, servername: SMTP, minVersion: 'TLSv1.2' },
      } as SMTPTransport.Options);
      try {
        const info = await transport.sendMail({ from: scanner.upn, to: 'admin@contoso.com', subject: 'Through the bench DNS', text: 'x' });
        expect(info.response).toMatch(/^250 2\.0\.0 OK/);
      } finally {
        transport.close();
      }
      const hosts = new Set(twin.journal.list({ kind: 'http' }).flatMap((e) => (e.kind === 'http' && e.host ? [e.host] : [])));
      expect([...hosts].filter((h) => h.startsWith(LOGIN))).not.toEqual([]);
    } finally {
      await agent.close();
    }
  });
});

describe('startTwin({ dns })', () => {
  it("serves the responder on the twin's host with the twin's names, prints a hosts-file line, and closes it", async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const other = await startTwin({ stateDir: await mkdtemp(join(tmpdir(), 'twin-dns-')), clock: new RealClock(), extraNames: ['twin.bench.example', '10.1.2.3'], dns: { port: 0 }, smtpGreetingDelayMs: 0 });
    let port = 0;
    try {
      expect(other.dns).not.toBeNull();
      port = other.dns!.port;
      expect(other.dns!.names).toEqual([LOGIN, SMTP, 'twin.bench.example']);
      expect(other.dns!.addresses).toEqual(['127.0.0.1']);
      expect(other.hostsLine).toBe(`127.0.0.1 ${LOGIN} ${SMTP} twin.bench.example`);
      const r = new Resolver({ timeout: 2000, tries: 1 });
      r.setServers([`127.0.0.1:${port}`]);
      expect(await r.resolve4('twin.bench.example')).toEqual(['127.0.0.1']);
      // Bound to IPv4 loopback only: no AAAA to give (NODATA), rather than an address nothing listens on.
      await expect(r.resolve6(LOGIN)).rejects.toMatchObject({ code: 'ENODATA' });
      await expect(r.resolve4('localhost')).rejects.toMatchObject({ code: 'EREFUSED' });
    } finally {
      await other.close();
    }
    const r = new Resolver({ timeout: 300, tries: 1 });
    r.setServers([`127.0.0.1:${port}`]);
    await expect(r.resolve4(LOGIN)).rejects.toBeTruthy();
  });

  it('bad responder settings are refused before anything listens', async () => {
    await expect(startDnsResponder({ host: 'not-an-ip', port: 0, names: [LOGIN], addresses: ['127.0.0.1'] })).rejects.toThrow(/IP address/);
    await expect(startDnsResponder({ host: '127.0.0.1', port: 0, names: [LOGIN], addresses: [] })).rejects.toThrow(/at least one address/);
    await expect(startDnsResponder({ host: '127.0.0.1', port: 0, names: [LOGIN], addresses: ['login'] })).rejects.toThrow(/not an IP address/);
  });
});
