/**
 * The twin's TLS material: a private CA and a server certificate signed by it, created on first start in the state
 * directory and reused afterwards (so a device that trusted the CA once keeps trusting it). The server certificate
 * carries Microsoft's names (a bench device reaches the twin as login.microsoftonline.com / smtp.office365.com),
 * any extra names asked for, and localhost / loopback IPs. A stored server certificate lacking an asked-for name is
 * reissued under the same CA, so the trust a device already has stays valid.
 */
import { readFile } from 'node:fs/promises';
import { makePrivateDir, writePrivateFile } from '../../util/private-fs.ts';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { generate } from 'selfsigned';

export interface TwinCertificates {
  caPath: string;
  caPem: string;
  serverKeyPem: string;
  serverCertPem: string;
}

/** The names Microsoft's clients use for the two halves of the twin. */
export const MICROSOFT_NAMES = ['login.microsoftonline.com', 'smtp.office365.com'] as const;
const LOOPBACK_IPS = ['127.0.0.1', '::1'];

export interface CertificateOptions {
  /** DNS names or IP addresses the server certificate carries besides Microsoft's names and localhost. */
  extraNames?: readonly string[];
  now?: Date;
}

/**
 * Where the twin's certificates start: before any virtual time a simulation starts at (the virtual clock's origin is
 * 2026-01-05) and after the printer firmware's epoch (2024-01-01), so a printer whose RTC battery died judges them
 * "not yet valid" while every printer with a sane clock accepts them. Printers judge validity on their own clock,
 * OpenSSL on the host's: the window covers both.
 */
export const TWIN_PKI_EPOCH = Date.UTC(2025, 0, 1);

const FILES = { ca: 'ca.pem', caKey: 'ca-key.pem', server: 'server.pem', serverKey: 'server-key.pem' } as const;

/** Every name the server certificate must carry, DNS names first, deduplicated (case-insensitive for DNS names). */
export function servedNames(extraNames: readonly string[] = []): { dns: string[]; ips: string[] } {
  const dns = new Set<string>([...MICROSOFT_NAMES, 'localhost']);
  const ips = new Set<string>(LOOPBACK_IPS);
  for (const raw of extraNames) {
    const name = raw.trim();
    if (isIP(name)) ips.add(name);
    else if (/^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(name)) dns.add(name.toLowerCase());
    else throw new Error(`not a DNS name or IP address: ${JSON.stringify(raw)}`);
  }
  return { dns: [...dns], ips: [...ips] };
}

export async function ensureCertificates(stateDir: string, opts: CertificateOptions | Date = {}): Promise<TwinCertificates> {
  const { extraNames = [], now = new Date() } = opts instanceof Date ? { now: opts } : opts;
  const names = servedNames(extraNames);
  await makePrivateDir(stateDir);
  const path = (f: string) => join(stateDir, f);
  const existing = await readAll(stateDir);
  if (existing && stillValid(existing.serverCertPem, now) && stillValid(existing.caPem, now) && covers(existing.serverCertPem, names)) return existing;

  const notBeforeDate = new Date(Math.min(TWIN_PKI_EPOCH, now.getTime() - 24 * 3600_000));
  const kept = existing && stillValid(existing.caPem, now) ? await readCaKey(stateDir) : null;
  const ca = kept ? { cert: existing!.caPem, private: kept } : await issueRoot(TWIN_CA_NAME, { notBefore: notBeforeDate, notAfter: new Date(now.getTime() + 10 * YEAR_MS) });
  const server = await issueServerCertificate({ key: ca.private, cert: ca.cert }, names, { notBefore: notBeforeDate, notAfter: new Date(now.getTime() + 2 * YEAR_MS) });
  await writePrivateFile(path(FILES.ca), ca.cert);
  await writePrivateFile(path(FILES.caKey), ca.private);
  await writePrivateFile(path(FILES.server), server.cert);
  await writePrivateFile(path(FILES.serverKey), server.private);
  return { caPath: path(FILES.ca), caPem: ca.cert, serverKeyPem: server.private, serverCertPem: server.cert };
}

const YEAR_MS = 365 * 24 * 3600_000;
/** The common name of the twin's first root. */
export const TWIN_CA_NAME = 'mfp-oauth-sim twin CA';

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

const CA_EXTENSIONS = [
  { name: 'basicConstraints' as const, cA: true, critical: true },
  { name: 'keyUsage' as const, keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
];

/**
 * A root CA: self-signed, or — with `keyPair` and `signer` — the same subject and key signed by another root (a
 * cross-certificate: clients that trust only `signer` reach the new root through it).
 */
export async function issueRoot(
  commonName: string,
  validity: Validity,
  cross?: { keyPair: { privateKey: string; publicKey: string }; signer: { key: string; cert: string } },
): Promise<{ cert: string; private: string; public: string }> {
  return generate([{ name: 'commonName', value: commonName }], {
    algorithm: 'sha256',
    keySize: 2048,
    notBeforeDate: validity.notBefore,
    notAfterDate: validity.notAfter,
    extensions: CA_EXTENSIONS,
    ...(cross ? { keyPair: cross.keyPair, ca: cross.signer } : {}),
  });
}

/** The server certificate both halves of the twin present: Microsoft's names and loopback, signed by `ca`. */
export async function issueServerCertificate(ca: { key: string; cert: string }, names: { dns: string[]; ips: string[] }, validity: Validity): Promise<{ cert: string; private: string }> {
  return generate([{ name: 'commonName', value: MICROSOFT_NAMES[0] }], {
    algorithm: 'sha256',
    keySize: 2048,
    notBeforeDate: validity.notBefore,
    notAfterDate: validity.notAfter,
    ca,
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

/** The twin CA's private key (a root migration cross-signs the new root with it), or null when it is gone. */
export async function readCaKey(stateDir: string): Promise<string | null> {
  try {
    return await readFile(join(stateDir, FILES.caKey), 'utf8');
  } catch {
    return null;
  }
}

/** Whether a stored server certificate already carries every name asked for. */
function covers(pem: string, names: { dns: string[]; ips: string[] }): boolean {
  try {
    const san = (new X509Certificate(pem).subjectAltName ?? '').split(', ');
    const dns = new Set(san.filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4).toLowerCase()));
    const ips = new Set(san.filter((e) => e.startsWith('IP Address:')).map((e) => normaliseIp(e.slice(11))));
    return names.dns.every((n) => dns.has(n)) && names.ips.every((ip) => ips.has(normaliseIp(ip)));
  } catch {
    return false;
  }
}

function normaliseIp(ip: string): string {
  // X509Certificate prints IPv6 in full form; compare on the parsed address.
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname : ip;
}

/** Valid for at least a day more, and since the twin's PKI epoch (older state directories started at their wall time). */
function stillValid(pem: string, now: Date): boolean {
  try {
    const cert = new X509Certificate(pem);
    return new Date(cert.validTo).getTime() > now.getTime() + 24 * 3600_000 && new Date(cert.validFrom).getTime() <= TWIN_PKI_EPOCH;
  } catch {
    return false;
  }
}
