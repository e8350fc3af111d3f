import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureCertificates, servedNames } from '../../../src/cloud/entra/certs.ts';

const dirs: string[] = [];
async function stateDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mfp-certs-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('twin server certificate', () => {
  it("carries Microsoft's names, localhost and loopback IPs, signed by the twin's CA with SHA-256", async () => {
    const certs = await ensureCertificates(await stateDir());
    const server = new X509Certificate(certs.serverCertPem);
    const ca = new X509Certificate(certs.caPem);
    expect(server.checkHost('login.microsoftonline.com')).toBe('login.microsoftonline.com');
    expect(server.checkHost('smtp.office365.com')).toBe('smtp.office365.com');
    expect(server.checkHost('localhost')).toBe('localhost');
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('evil.example')).toBeUndefined();
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIssued(ca)).toBe(true);
  });

  it('adds extra names on request and reissues under the same CA', async () => {
    const dir = await stateDir();
    const first = await ensureCertificates(dir);
    const second = await ensureCertificates(dir, { extraNames: ['twin.bench.lan', '192.168.7.2'] });
    expect(second.caPem).toBe(first.caPem);
    const server = new X509Certificate(second.serverCertPem);
    expect(server.checkHost('twin.bench.lan')).toBe('twin.bench.lan');
    expect(server.checkIP('192.168.7.2')).toBe('192.168.7.2');
    expect(server.checkHost('login.microsoftonline.com')).toBe('login.microsoftonline.com');
    expect(server.verify(new X509Certificate(first.caPem).publicKey)).toBe(true);
    // Asked again with the same names: reused as is.
    const third = await ensureCertificates(dir, { extraNames: ['twin.bench.lan', '192.168.7.2'] });
    expect(third.serverCertPem).toBe(second.serverCertPem);
  });

  it('refuses a name that is neither a DNS name nor an IP address, writing nothing', async () => {
    expect(() => servedNames(['bad name!'])).toThrow(/not a DNS name/);
    const dir = await stateDir();
    await expect(ensureCertificates(dir, { extraNames: ['http://x'] })).rejects.toThrow(/not a DNS name/);
  });
});
