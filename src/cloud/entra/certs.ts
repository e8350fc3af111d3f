/**
 * The twin's TLS material: a private CA and a server certificate signed by it (SHA-256) for every served name —
 * localhost / 127.0.0.1 / ::1, login.microsoftonline.com, smtp.office365.com and configured extra names — created on
 * first start in the state directory and reused afterwards (so a device that trusted the CA once keeps trusting it).
 * A server certificate that lacks one of the names asked for is re-issued under the same CA.
 */
import { readFile } from 'node:fs/promises';
import { makePrivateDir, writePrivateFile } from '../../util/private-fs.ts';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';

export interface TwinCertificates {
  caPath: string;
  caPem: string;
  serverKeyPem: string;
  serverCertPem: string;
}

const FILES = { ca: 'ca.pem', caKey: 'ca-key.pem', server: 'server.pem', serverKey: 'server-key.pem' } as const;

export interface CertificateNames {
  dns: readonly string[];
  ips: readonly string[];
}

const LOOPBACK: CertificateNames = { dns: ['localhost'], ips: ['127.0.0.1', '::1'] };

export async function ensureCertificates(
  stateDir: string,
  now: Date = new Date(),
  names: CertificateNames = LOOPBACK,
): Promise<TwinCertificates> {
  await makePrivateDir(stateDir);
  const path = (f: string) => join(stateDir, f);
  const existing = await readAll(stateDir);
  const caOk = existing !== null && stillValid(existing.caPem, now);
  if (existing && caOk && stillValid(existing.serverCertPem, now) && covers(existing.serverCertPem, names)) return existing;

  // Validity is on the wall clock (TLS stacks check it), not the twin's clock.
  const notBeforeDate = new Date(now.getTime() - 24 * 3600_000);
  const ca = caOk && existing ? { cert: existing.caPem, private: existing.caKeyPem } : await generate([{ name: 'commonName', value: 'mfp-oauth-sim twin CA' }], {
    algorithm: 'sha256',
    keySize: 2048,
    notBeforeDate,
    notAfterDate: new Date(now.getTime() + 10 * 365 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: names.dns[0] ?? 'localhost' }], {
    algorithm: 'sha256',
    keySize: 2048,
    notBeforeDate,
    notAfterDate: new Date(now.getTime() + 2 * 365 * 24 * 3600_000),
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [...names.dns.map((value) => ({ type: 2 as const, value })), ...names.ips.map((ip) => ({ type: 7 as const, ip }))],
      },
    ],
  });
  await writePrivateFile(path(FILES.ca), ca.cert);
  await writePrivateFile(path(FILES.caKey), ca.private);
  await writePrivateFile(path(FILES.server), server.cert);
  await writePrivateFile(path(FILES.serverKey), server.private);
  return { caPath: path(FILES.ca), caPem: ca.cert, serverKeyPem: server.private, serverCertPem: server.cert };
}

async function readAll(stateDir: string): Promise<(TwinCertificates & { caKeyPem: string }) | null> {
  try {
    const [caPem, caKeyPem, serverCertPem, serverKeyPem] = await Promise.all(
      [FILES.ca, FILES.caKey, FILES.server, FILES.serverKey].map((f) => readFile(join(stateDir, f), 'utf8')),
    );
    return { caPath: join(stateDir, FILES.ca), caPem: caPem!, caKeyPem: caKeyPem!, serverCertPem: serverCertPem!, serverKeyPem: serverKeyPem! };
  } catch {
    return null;
  }
}

/** Whether the certificate's subjectAltName lists every name asked for. */
function covers(pem: string, names: CertificateNames): boolean {
  try {
    const san = new X509Certificate(pem).subjectAltName ?? '';
    const entries = new Set(san.split(', ').map((e) => e.toLowerCase()));
    return names.dns.every((d) => entries.has(`dns:${d}`)) && names.ips.every((ip) => entries.has(`ip address:${ip.toLowerCase()}`) || entries.has(`ip address:${expandV6(ip)}`));
  } catch {
    return false;
  }
}

/** Node prints IPv6 SANs fully expanded ("0:0:0:0:0:0:0:1"). */
function expandV6(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => g.replace(/^0+(?=.)/, '').toLowerCase()).join(':');
}

function stillValid(pem: string, now: Date): boolean {
  try {
    const cert = new X509Certificate(pem);
    return new Date(cert.validTo).getTime() > now.getTime() + 24 * 3600_000;
  } catch {
    return false;
  }
}
