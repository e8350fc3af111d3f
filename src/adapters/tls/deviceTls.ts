/**
 * TLS as the printer judges it: the twin's (or Microsoft's) certificate chain is checked against the printer's own
 * trust store at the printer's own clock (its RTC), not at the host's time against the host's roots.
 *
 * Node's TLS stack (OpenSSL) cannot be told another verification time, so the check has two halves:
 *  - OpenSSL builds and verifies the chain against a SecureContext whose `ca` is the device's store (rebuilt when the
 *    store changes): a server outside the store fails there (UNABLE_TO_VERIFY_LEAF_SIGNATURE → `unknown-ca`);
 *  - `checkServerIdentity`, which Node calls once OpenSSL accepted the chain, checks it again with node:crypto's
 *    X509Certificate (issuer, signature, validity at the device's `now()`, host name) and refuses with a
 *    DeviceTlsError; Node then destroys the socket before a byte of HTTP or SMTP is written.
 * Node's X509Certificate does the crypto; no library needed (pkijs / @peculiar/x509 would add path building we do
 * not need: the server sends the chain, the store holds roots).
 * Sessions are never resumed (a resumed session skips checkServerIdentity, so a clock reset would go unnoticed).
 */
import { X509Certificate } from 'node:crypto';
import tls, { type PeerCertificate } from 'node:tls';
import type { TlsReason } from '../../device/failures.ts';

/** What the device's clients read at every handshake: the RTC and the trust store. */
export interface TrustSource {
  /** The device clock (ms since the epoch). */
  now(): number;
  /** The trust store's roots (PEM) and a tag that changes whenever they change. */
  roots(): { revision: string; pems: readonly string[] };
}

/** A handshake refused on the device's terms. `code` uses OpenSSL's names, so tlsReasonOfCode reads both alike. */
export class DeviceTlsError extends Error {
  override name = 'DeviceTlsError';
  constructor(
    readonly code: 'CERT_NOT_YET_VALID' | 'CERT_HAS_EXPIRED' | 'ERR_TLS_CERT_ALTNAME_INVALID' | 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    readonly reason: TlsReason,
    message: string,
  ) {
    super(message);
  }
}

/** The certificates of a PEM bundle, one PEM each (a bundle is many BEGIN/END blocks in one string). */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** A trust source that is not the device's: fixed PEMs (or the bundled roots) on the host's clock (tools, benches). */
export function fixedTrust(caPem: string | null): TrustSource {
  const pems = caPem ? splitPem(caPem) : [...tls.rootCertificates];
  return { now: () => Date.now(), roots: () => ({ revision: 'fixed', pems }) };
}

/** One per device (per boot): both clients share it, as a printer has one trust store. */
export class DeviceTls {
  private context: { revision: string; secureContext: tls.SecureContext; roots: X509Certificate[] } | null = null;

  constructor(private readonly source: TrustSource) {}

  /** Options for `tls.connect` (undici's connector, nodemailer's `tls`). */
  connectOptions(): Pick<tls.ConnectionOptions, 'secureContext' | 'checkServerIdentity' | 'minVersion' | 'rejectUnauthorized'> {
    return {
      secureContext: this.current().secureContext,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      checkServerIdentity: (host, cert) => this.check(host, cert),
    };
  }

  /** The chain the server sent, judged at the device's time against its store; undefined = accepted. */
  check(host: string, peer: PeerCertificate): Error | undefined {
    const chain = chainOf(peer);
    return verifyChain(chain, host, this.source.now(), this.current().roots);
  }

  private current(): NonNullable<DeviceTls['context']> {
    const { revision, pems } = this.source.roots();
    if (this.context?.revision !== revision) {
      this.context = {
        revision,
        // One SecureContext per store revision: parsing the CA PEMs per connection costs ~3 ms of CPU each.
        secureContext: tls.createSecureContext({ minVersion: 'TLSv1.2', ...(pems.length ? { ca: [...pems] } : {}) }),
        roots: pems.flatMap(splitPem).map((p) => new X509Certificate(p)),
      };
    }
    return this.context;
  }
}

/** The peer's chain as Node hands it (leaf first, each `issuerCertificate` the next; a root points to itself). */
function chainOf(peer: PeerCertificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = peer;
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(new X509Certificate(c.raw));
    c = c.issuerCertificate;
  }
  return out;
}

/**
 * Accepts when the chain leads from the leaf to a root of the store, every certificate on the way is valid at `at`,
 * and the leaf carries `host`. The order of the checks is the order a person fixes them in: trust, time, name.
 */
export function verifyChain(chain: readonly X509Certificate[], host: string, at: number, roots: readonly X509Certificate[]): DeviceTlsError | undefined {
  const leaf = chain[0];
  if (!leaf) return new DeviceTlsError('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown-ca', 'the server sent no certificate');
  const path: X509Certificate[] = [];
  let anchor: X509Certificate | undefined;
  for (const cert of chain) {
    path.push(cert);
    anchor = roots.find((r) => r.fingerprint256 === cert.fingerprint256) ?? roots.find((r) => issuedBy(cert, r));
    if (anchor) break;
    const next = chain[path.length];
    if (!next || !issuedBy(cert, next)) break;
  }
  if (!anchor) {
    return new DeviceTlsError('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown-ca', `no root in the printer's trust store issued "${subjectName(path.at(-1)!)}"`);
  }
  if (anchor.fingerprint256 !== path.at(-1)!.fingerprint256) path.push(anchor);
  for (const cert of path) {
    if (Date.parse(cert.validFrom) > at) {
      return new DeviceTlsError('CERT_NOT_YET_VALID', 'cert-not-yet-valid', `certificate "${subjectName(cert)}" is valid from ${iso(cert.validFrom)}, the printer's clock says ${new Date(at).toISOString()}`);
    }
    if (Date.parse(cert.validTo) < at) {
      return new DeviceTlsError('CERT_HAS_EXPIRED', 'cert-expired', `certificate "${subjectName(cert)}" expired ${iso(cert.validTo)}, the printer's clock says ${new Date(at).toISOString()}`);
    }
  }
  const name = host.replace(/^\[|\]$/g, '');
  const matches = /^[\d.]+$|:/.test(name) ? leaf.checkIP(name) !== undefined : leaf.checkHost(name) !== undefined;
  if (!matches) return new DeviceTlsError('ERR_TLS_CERT_ALTNAME_INVALID', 'hostname-mismatch', `certificate "${subjectName(leaf)}" does not name ${name}`);
  return undefined;
}

function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

const subjectName = (c: X509Certificate): string => /CN=([^\n]+)/.exec(c.subject)?.[1] ?? c.subject.replace(/\n/g, ', ');
const iso = (d: string): string => new Date(Date.parse(d)).toISOString();
