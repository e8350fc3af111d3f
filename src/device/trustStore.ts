/**
 * The printer's TLS trust store: the root certificates its HTTPS and SMTP clients accept a server chain from
 * (src/adapters/tls judges the chain against them on the printer's clock). Kept in NVRAM as the optional section
 * `trust`, so its bytes count in the NVRAM budget like everything else the firmware keeps.
 *
 * Factory roots come with the firmware: at every power-on the ones missing from the store are added (a firmware
 * update that ships a new root brings it in this way), except those the admin deleted. The admin imports a CA
 * certificate (PEM, validated: one certificate, parseable, a CA) and deletes certificates; bad input is refused with
 * a reason and changes nothing.
 */
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import type { Logger } from '../log/logger.ts';
import type { Clock } from '../time/clock.ts';
import { NvramCapacityError, type Nvram } from '../nvram/index.ts';
import type { TrustedCertificateRecord, TrustStoreRecord } from '../nvram/schema.ts';
import type { TrustedCertificate } from './printer.ts';

/** More than a printer's panel lists on one page; the NVRAM budget usually stops an import first. */
export const TRUST_STORE_LIMIT = 32;

/**
 * The roots a firmware for Microsoft 365 ships (as named in Node's bundled store): DigiCert Global Root G2 is
 * Microsoft's root since the 2020–2022 move from Baltimore CyberTrust Root; the Microsoft 2017 roots are next.
 * Names Node no longer bundles (Baltimore expired in 2025) are skipped.
 */
export const MICROSOFT_ROOT_NAMES = [
  'DigiCert Global Root G2',
  'DigiCert Global Root CA',
  'Microsoft RSA Root Certificate Authority 2017',
  'Microsoft ECC Root Certificate Authority 2017',
  'Baltimore CyberTrust Root',
] as const;

/** The Microsoft roots by name, from the bundled store (the PEMs a real firmware would carry). */
export function microsoftFactoryRoots(): string[] {
  const wanted = new Set<string>(MICROSOFT_ROOT_NAMES);
  return rootCertificates.filter((pem) => {
    const cn = commonName(new X509Certificate(pem));
    return cn !== null && wanted.has(cn);
  });
}

export type TrustStoreErrorReason = 'malformed' | 'not-a-ca' | 'duplicate' | 'full' | 'not-found';

/** A refused change to the store; nothing was changed. */
export class TrustStoreError extends Error {
  override name = 'TrustStoreError';
  constructor(
    readonly reason: TrustStoreErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Parses one PEM certificate the admin offers, refusing anything that is not exactly one CA certificate. */
export function parseCaCertificate(input: unknown): { pem: string; cert: X509Certificate } {
  if (typeof input !== 'string' || !input.trim()) throw new TrustStoreError('malformed', 'no certificate given: paste a PEM block (-----BEGIN CERTIFICATE----- …)');
  const blocks = input.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) {
    throw new TrustStoreError('malformed', blocks.length === 0 ? 'not a PEM certificate (no -----BEGIN CERTIFICATE----- … -----END CERTIFICATE----- block)' : `one certificate at a time, found ${blocks.length}`);
  }
  const pem = blocks[0]!.replace(/\r\n/g, '\n');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (err) {
    throw new TrustStoreError('malformed', `the PEM block is not a readable X.509 certificate (${(err as Error).message})`);
  }
  if (!cert.ca) {
    throw new TrustStoreError('not-a-ca', `"${commonName(cert) ?? cert.subject}" is not a CA certificate (basicConstraints CA:FALSE): import the root certificate that issued the server's, not the server's own`);
  }
  return { pem: `${pem}\n`, cert };
}

/** How the panel and the API show a certificate. */
export function describeCertificate(record: TrustedCertificateRecord): TrustedCertificate {
  const cert = new X509Certificate(record.pem);
  return {
    fingerprint: cert.fingerprint256,
    subject: commonName(cert) ?? cert.subject.replace(/\n/g, ', '),
    issuer: commonName(cert, 'issuer') ?? cert.issuer.replace(/\n/g, ', '),
    validFrom: Date.parse(cert.validFrom),
    validTo: Date.parse(cert.validTo),
    selfSigned: cert.subject === cert.issuer,
    origin: record.origin,
    addedAt: record.addedAt,
    bytes: Buffer.byteLength(record.pem),
  };
}

export interface TrustStoreOptions {
  nvram: Nvram;
  /** The device clock (stamps `addedAt` and the event log). */
  clock: Clock;
  /** The firmware's factory roots (PEM): the twin's root in twin mode, Microsoft's roots in Microsoft mode. */
  factoryRoots: readonly string[];
  logger?: Logger;
}

export class TrustStore {
  private readonly listeners = new Set<() => void>();
  /** What `roots()` answered for the record it was computed from (NVRAM replaces the frozen record on each change). */
  private rootsCache: { record: TrustStoreRecord | undefined; roots: { revision: string; pems: string[] } } | null = null;

  private constructor(private readonly opts: TrustStoreOptions) {}

  /** Power-on: adds the firmware's factory roots the store lacks (and the admin did not delete). */
  static async powerOn(opts: TrustStoreOptions): Promise<TrustStore> {
    const store = new TrustStore(opts);
    const have = new Set(store.record().certificates.map((c) => fingerprintOf(c.pem)));
    const removed = new Set(store.record().removedFactory);
    const missing = opts.factoryRoots.filter((pem) => {
      const fp = fingerprintOf(pem);
      return !have.has(fp) && !removed.has(fp);
    });
    if (missing.length) {
      const at = opts.clock.now();
      const names = missing.map((pem) => commonName(new X509Certificate(pem))).join(', ');
      try {
        await store.write((r) => r.certificates.push(...missing.map((pem) => ({ pem, origin: 'factory' as const, addedAt: at }))), 'trust.factory-added', `factory root(s) added to the trust store: ${names}`);
      } catch (err) {
        // A full NVRAM must not stop the boot: the printer runs without them (its TLS then says unknown-ca).
        if (!(err instanceof NvramCapacityError)) throw err;
        opts.logger?.warn({ roots: names }, 'no room in NVRAM for the factory roots: the trust store stays as it was');
      }
    }
    return store;
  }

  list(): TrustedCertificate[] {
    return this.record().certificates.map(describeCertificate);
  }

  /** What the TLS clients read at each handshake (src/adapters/tls TrustSource.roots). */
  roots(): { revision: string; pems: string[] } {
    const record = this.opts.nvram.data.trust;
    if (this.rootsCache?.record !== record || !this.rootsCache) {
      const certs = this.record().certificates;
      // Read at every handshake: parsed once per change of the store, not per connection.
      this.rootsCache = { record, roots: { revision: certs.map((c) => fingerprintOf(c.pem)).join(','), pems: certs.map((c) => c.pem) } };
    }
    return this.rootsCache.roots;
  }

  /** Adds a CA certificate; refused with a TrustStoreError (and nothing changed) when it is not one, or does not fit. */
  async importPem(input: unknown): Promise<TrustedCertificate> {
    const { pem, cert } = parseCaCertificate(input);
    const current = this.record();
    if (current.certificates.some((c) => fingerprintOf(c.pem) === cert.fingerprint256)) {
      throw new TrustStoreError('duplicate', `"${commonName(cert) ?? cert.subject}" is already in the trust store`);
    }
    if (current.certificates.length >= TRUST_STORE_LIMIT) throw new TrustStoreError('full', `the trust store holds ${TRUST_STORE_LIMIT} certificates at most: delete one first`);
    const record: TrustedCertificateRecord = { pem, origin: 'imported', addedAt: this.opts.clock.now() };
    try {
      await this.write(
        (r) => {
          r.certificates.push(record);
          // Importing a deleted factory root again is the admin changing their mind: it stays, as imported.
          r.removedFactory = r.removedFactory.filter((fp) => fp !== cert.fingerprint256);
        },
        'trust.imported',
        `certificate imported into the trust store: ${commonName(cert) ?? cert.subject} (SHA-256 ${cert.fingerprint256})`,
      );
    } catch (err) {
      if (err instanceof NvramCapacityError) throw new TrustStoreError('full', `no room in NVRAM for the certificate (${Buffer.byteLength(pem)} bytes): delete a certificate first`);
      throw err;
    }
    return describeCertificate(record);
  }

  /** Deletes a certificate by its SHA-256 fingerprint (as listed); a factory root stays deleted across boots. */
  async remove(fingerprint: unknown): Promise<void> {
    const fp = typeof fingerprint === 'string' ? fingerprint.trim().toUpperCase() : '';
    const current = this.record();
    const victim = current.certificates.find((c) => fingerprintOf(c.pem) === fp);
    if (!victim) throw new TrustStoreError('not-found', `no certificate with fingerprint ${JSON.stringify(fingerprint)} in the trust store`);
    const name = describeCertificate(victim).subject;
    await this.write(
      (r) => {
        r.certificates = r.certificates.filter((c) => fingerprintOf(c.pem) !== fp);
        if (victim.origin === 'factory' && !r.removedFactory.includes(fp)) r.removedFactory.push(fp);
      },
      'trust.deleted',
      `certificate deleted from the trust store: ${name} (SHA-256 ${fp})`,
    );
  }

  /** Called after every change (the runtime retries work a TLS failure held). Returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private record(): TrustStoreRecord {
    return this.opts.nvram.data.trust ?? { certificates: [], removedFactory: [] };
  }

  private async write(change: (r: TrustStoreRecord) => void, kind: string, message: string): Promise<void> {
    const next = structuredClone(this.record());
    change(next);
    const at = this.opts.clock.now();
    await this.opts.nvram.update((draft) => {
      draft.trust = next;
      draft.eventLog.push({ at, kind, message });
    });
    this.opts.logger?.info({ kind }, message);
    for (const l of this.listeners) l();
  }
}

/** SHA-256 fingerprint as Node prints it (AA:BB:…), the store's key. */
function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

function commonName(cert: X509Certificate, field: 'subject' | 'issuer' = 'subject'): string | null {
  return /(?:^|\n)CN=([^\n]+)/.exec(cert[field])?.[1] ?? null;
}
