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
import { createHash, X509Certificate } from 'node:crypto';
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

/** What OpenSSL and our check need for one trust store content: built once, read-only afterwards. */
export interface TrustContext {
  secureContext: tls.SecureContext;
  roots: readonly X509Certificate[];
}

/**
 * The contexts of one process's printers, one per distinct trust store content, and the server certificates as
 * parsed at their handshakes. A real printer has one TLS stack;
 * a fleet slice runs hundreds of printers in one process, and each private SecureContext with the twin's CA costs
 * ~19 KiB of native memory. Sharing is safe: a context holds only the roots (content-keyed, so two printers share
 * one only when their stores hold the same certificates); a client resumes a TLS session only when handed one,
 * which ours never are, so no printer inherits another's; the clock and the host-name check stay per device, in
 * DeviceTls. Pass one cache to every printer of a slice (simulator option `tlsContexts`); never module-level.
 */
export class TrustContextCache {
  private readonly contexts = new Map<string, TrustContext>();
  /**
   * Server certificates as parsed at earlier handshakes, by SHA-256 of their DER: the same servers answer every
   * refresh and mail of every printer, and parsing a chain cost more than checking it. A parse is the DER's and
   * nothing else (no trust, time or name in it), so printers share it like the context; each judges it itself.
   */
  private readonly parsed = new Map<string, X509Certificate>();
  /**
   * Whether one certificate issued another (names and signature), by the two SHA-256 fingerprints: like the parse, a
   * fact of the two DERs alone, and the RSA verify of the same pair was made again at every handshake.
   */
  private readonly signatures = new Map<string, boolean>();

  /** `limit`: distinct stores kept (least recently used dropped; a device holding a dropped one keeps using it). */
  constructor(private readonly limit = 16) {}

  /** The context for exactly these roots (PEM), built on first use. */
  forRoots(pems: readonly string[]): TrustContext {
    // Keyed by the certificates themselves (line breaks and blanks dropped): the same roots however they were typed.
    const key = createHash('sha256').update(pems.flatMap(splitPem).join(',').replace(/\s+/g, '')).digest('base64');
    const hit = this.contexts.get(key);
    if (hit) {
      this.contexts.delete(key);
      this.contexts.set(key, hit);
      return hit;
    }
    const built: TrustContext = {
      // Parsing the CA PEMs per connection costs ~3 ms of CPU each: once per store content instead.
      secureContext: tls.createSecureContext({ minVersion: 'TLSv1.2', ...(pems.length ? { ca: [...pems] } : {}) }),
      roots: pems.flatMap(splitPem).map((p) => new X509Certificate(p)),
    };
    this.contexts.set(key, built);
    while (this.contexts.size > this.limit) this.contexts.delete(this.contexts.keys().next().value!);
    return built;
  }

  /** The certificate Node handed over at a handshake, parsed on its first sight in this cache. */
  certificate(c: PeerCertificate): X509Certificate {
    const hit = this.parsed.get(c.fingerprint256);
    if (hit) return hit;
    if (this.parsed.size >= PARSED_CERTIFICATES_KEPT) this.parsed.clear(); // a handful of servers: never grows
    const cert = new X509Certificate(c.raw);
    this.parsed.set(c.fingerprint256, cert);
    return cert;
  }

  /** Whether `issuer` issued `cert` (checkIssued and the signature), judged on the pair's first sight in this cache. */
  issued(cert: X509Certificate, issuer: X509Certificate): boolean {
    const key = `${cert.fingerprint256}<${issuer.fingerprint256}`;
    const hit = this.signatures.get(key);
    if (hit !== undefined) return hit;
    if (this.signatures.size >= SIGNATURE_CHECKS_KEPT) this.signatures.clear(); // chains × store roots: never grows
    const verdict = issuedBy(cert, issuer);
    this.signatures.set(key, verdict);
    return verdict;
  }

  /** Distinct stores held (tests). */
  get size(): number {
    return this.contexts.size;
  }

  /** Parsed server certificates held (tests). */
  get certificates(): number {
    return this.parsed.size;
  }
}

/** One per device (per boot): both clients share it, as a printer has one trust store. */
export class DeviceTls {
  private context: { revision: string; trust: TrustContext } | null = null;

  /** `contexts`: shared by the printers of one process (a fleet slice); default: this device's own. */
  constructor(
    private readonly source: TrustSource,
    private readonly contexts: TrustContextCache = new TrustContextCache(1),
  ) {}

  /** Options for `tls.connect` (undici's connector, nodemailer's `tls`). */
  connectOptions(): Pick<tls.ConnectionOptions, 'secureContext' | 'checkServerIdentity' | 'minVersion' | 'rejectUnauthorized'> {
    return {
      secureContext: this.current().secureContext,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      checkServerIdentity: (host, cert) => this.check(host, cert),
    };
  }

  /**
   * The chain the server sent, judged at the device's time against its store; undefined = accepted. Only the parse
   * of the certificates and their issuer checks are reused (the contexts' cache): which roots the store holds,
   * validity at the device's clock and the host name are judged every time.
   */
  check(host: string, peer: PeerCertificate): Error | undefined {
    const chain = chainOf(peer, (c) => this.contexts.certificate(c));
    return verifyChain(chain, host, this.source.now(), this.current().roots, (c, i) => this.contexts.issued(c, i));
  }

  /** The context of the store as it is now (looked up again only when the store's revision changed). */
  current(): TrustContext {
    const { revision, pems } = this.source.roots();
    if (this.context?.revision !== revision) this.context = { revision, trust: this.contexts.forRoots(pems) };
    return this.context.trust;
  }
}

/** Parsed server certificates a cache keeps (the twin's or Microsoft's hosts, each with its chain). */
const PARSED_CERTIFICATES_KEPT = 16;
/** Issuer checks a cache keeps (a chain's certificates against each other and against a store's roots). */
const SIGNATURE_CHECKS_KEPT = 1024;

/** The peer's chain as Node hands it (leaf first, each `issuerCertificate` the next; a root points to itself). */
function chainOf(peer: PeerCertificate, parse: (c: PeerCertificate) => X509Certificate): X509Certificate[] {
  const out: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = peer;
  while (c?.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    out.push(parse(c));
    c = c.issuerCertificate;
  }
  return out;
}

/**
 * Accepts when the chain leads from the leaf to a root of the store, every certificate on the way is valid at `at`,
 * and the leaf carries `host`. The order of the checks is the order a person fixes them in: trust, time, name.
 */
export function verifyChain(
  chain: readonly X509Certificate[],
  host: string,
  at: number,
  roots: readonly X509Certificate[],
  /** Whether the second issued the first; a cache may remember it (TrustContextCache.issued). */
  issued: (cert: X509Certificate, issuer: X509Certificate) => boolean = issuedBy,
): DeviceTlsError | undefined {
  const leaf = chain[0];
  if (!leaf) return new DeviceTlsError('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown-ca', 'the server sent no certificate');
  const path: X509Certificate[] = [];
  let anchor: X509Certificate | undefined;
  for (const cert of chain) {
    path.push(cert);
    anchor = roots.find((r) => r.fingerprint256 === cert.fingerprint256) ?? roots.find((r) => issued(cert, r));
    if (anchor) break;
    const next = chain[path.length];
    if (!next || !issued(cert, next)) break;
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
