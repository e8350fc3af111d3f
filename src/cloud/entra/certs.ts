/**
 * The twin's TLS material: a private CA and a server certificate for localhost / 127.0.0.1 signed by it, created on
 * first start in the state directory and reused afterwards (so a device that trusted the CA once keeps trusting it).
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

export async function ensureCertificates(stateDir: string, now: Date = new Date()): Promise<TwinCertificates> {
  await makePrivateDir(stateDir);
  const path = (f: string) => join(stateDir, f);
  const existing = await readAll(stateDir);
  if (existing && stillValid(existing.serverCertPem, now) && stillValid(existing.caPem, now)) return existing;

  // Validity is on the wall clock (TLS stacks check it), not the twin's clock.
  const notBeforeDate = new Date(now.getTime() - 24 * 3600_000);
  const ca = await generate([{ name: 'commonName', value: 'mfp-oauth-sim twin CA' }], {
    algorithm: 'sha256',
    keySize: 2048,
    notBeforeDate,
    notAfterDate: new Date(now.getTime() + 10 * 365 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
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
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  await writePrivateFile(path(FILES.ca), ca.cert);
  await writePrivateFile(path(FILES.caKey), ca.private);
  await writePrivateFile(path(FILES.server), server.cert);
  await writePrivateFile(path(FILES.serverKey), server.private);
  return { caPath: path(FILES.ca), caPem: ca.cert, serverKeyPem: server.private, serverCertPem: server.cert };
}

async function readAll(stateDir: string): Promise<TwinCertificates | null> {
  try {
    const [caPem, , serverCertPem, serverKeyPem] = await Promise.all(
      [FILES.ca, FILES.caKey, FILES.server, FILES.serverKey].map((f) => readFile(join(stateDir, f), 'utf8')),
    );
    return { caPath: join(stateDir, FILES.ca), caPem: caPem!, serverCertPem: serverCertPem!, serverKeyPem: serverKeyPem! };
  } catch {
    return null;
  }
}

function stillValid(pem: string, now: Date): boolean {
  try {
    const cert = new X509Certificate(pem);
    return new Date(cert.validTo).getTime() > now.getTime() + 24 * 3600_000;
  } catch {
    return false;
  }
}
