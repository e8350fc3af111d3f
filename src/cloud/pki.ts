/**
 * The twin's PKI over time: a root migration re-issues both halves' server certificate under a new root at a given
 * time of the twin's clock, as Microsoft moved its services from Baltimore CyberTrust Root to DigiCert Global Root
 * G2. With `crossSign`, the new root also comes as a cross-certificate signed by the old root, served with the leaf,
 * so printers that trust only the old root keep connecting through the transition; without it they fail `unknown-ca`
 * until their admin imports the new root (its PEM is in `status()`, GET /_twin/pki).
 *
 * The material is made when the migration is asked for (key generation takes a while) and switched in at `at`.
 * Validity covers the host's time and the virtual time both (OpenSSL checks the former, printers the latter).
 * Not kept across a twin restart: a restarted twin serves its first root again.
 */
import { X509Certificate } from 'node:crypto';
import type { Clock, TimerHandle } from '../time/clock.ts';
import { issueRoot, issueServerCertificate, TWIN_PKI_EPOCH } from './entra/certs.ts';

const DAY_MS = 24 * 3600_000;
const YEAR_MS = 365 * DAY_MS;

export interface RootView {
  subject: string;
  fingerprint: string;
  validFrom: string;
  validTo: string;
  pem: string;
}

export interface PkiStatus {
  /** The root the served chain leads to now. */
  root: RootView;
  /** Roots served before, oldest first. */
  previous: RootView[];
  /** The served chain carries a cross-certificate from the previous root. */
  crossSigned: boolean;
  /** A migration asked for and not yet switched in. */
  scheduled: { at: string; root: RootView; crossSign: boolean } | null;
}

export interface MigrationRequest {
  /** Twin clock time (ms) to switch at; absent or past: at once. */
  at?: number;
  /** Serve a cross-certificate signed by the current root with the new chain. */
  crossSign?: boolean;
  /** Common name of the new root (default "mfp-oauth-sim twin CA G<n>"). */
  name?: string;
}

interface Issued {
  root: { cert: string; key: string };
  /** What the servers present: leaf, then the cross-certificate when there is one. */
  chain: string;
  key: string;
  crossSigned: boolean;
}

export class PkiError extends Error {
  override name = 'PkiError';
}

export interface TwinPkiOptions {
  clock: Clock;
  /** The root and its key the twin started with. */
  root: { cert: string; key: string | null };
  names: { dns: string[]; ips: string[] };
  /** Installs a certificate on both halves (Entra's HTTPS, Exchange's STARTTLS). */
  apply: (tls: { key: string; cert: string }) => void;
  /** Wall clock for validity (OpenSSL on this host checks it); injectable for tests. */
  wallNow?: () => number;
}

export class TwinPki {
  private root: { cert: string; key: string | null };
  private readonly previous: string[] = [];
  private crossSigned = false;
  private pending: { at: number; issued: Issued; timer: TimerHandle | null } | null = null;
  private generation = 1;

  constructor(private readonly o: TwinPkiOptions) {
    this.root = o.root;
  }

  /** The PEM of the root the twin's chain leads to now (what an admin imports). */
  rootPem(): string {
    return this.root.cert;
  }

  status(): PkiStatus {
    return {
      root: view(this.root.cert),
      previous: this.previous.map(view),
      crossSigned: this.crossSigned,
      scheduled: this.pending ? { at: new Date(this.pending.at).toISOString(), root: view(this.pending.issued.root.cert), crossSign: this.pending.issued.crossSigned } : null,
    };
  }

  /** Prepares the new root and certificates now, switches them in at `at` (or at once). One migration at a time. */
  async migrate(req: MigrationRequest = {}): Promise<PkiStatus> {
    if (this.pending) throw new PkiError(`a migration is already scheduled for ${new Date(this.pending.at).toISOString()}`);
    if (req.at !== undefined && !Number.isFinite(req.at)) throw new PkiError('at must be a date-time');
    if (req.crossSign && !this.root.key) throw new PkiError("cannot cross-sign: the current root's private key is not available");
    const now = this.o.clock.now();
    const at = Math.max(req.at ?? now, now);
    const wall = (this.o.wallNow ?? Date.now)();
    const validity = (years: number) => ({ notBefore: new Date(Math.min(TWIN_PKI_EPOCH, at - DAY_MS, wall - DAY_MS)), notAfter: new Date(Math.max(at, wall) + years * YEAR_MS) });
    const name = req.name?.trim() || `mfp-oauth-sim twin CA G${this.generation + 1}`;
    const root = await issueRoot(name, validity(10));
    const server = await issueServerCertificate({ key: root.private, cert: root.cert }, this.o.names, validity(2));
    const cross = req.crossSign
      ? await issueRoot(name, validity(2), { keyPair: { privateKey: root.private, publicKey: root.public }, signer: { key: this.root.key!, cert: this.root.cert } })
      : null;
    const issued: Issued = { root: { cert: root.cert, key: root.private }, chain: cross ? `${server.cert.trim()}\n${cross.cert.trim()}\n` : server.cert, key: server.private, crossSigned: !!cross };
    if (at <= now) {
      this.switchTo(issued);
    } else {
      this.pending = { at, issued, timer: null };
      this.pending.timer = this.o.clock.setTimer(at, () => {
        const p = this.pending;
        this.pending = null;
        if (p) this.switchTo(p.issued);
      });
    }
    return this.status();
  }

  /** Drops a scheduled migration (nothing was served yet). */
  cancel(): PkiStatus {
    if (this.pending?.timer) this.o.clock.clearTimer(this.pending.timer);
    this.pending = null;
    return this.status();
  }

  close(): void {
    this.cancel();
  }

  private switchTo(issued: Issued): void {
    this.o.apply({ key: issued.key, cert: issued.chain });
    this.previous.push(this.root.cert);
    this.root = issued.root;
    this.crossSigned = issued.crossSigned;
    this.generation++;
  }
}

function view(pem: string): RootView {
  const c = new X509Certificate(pem);
  return {
    subject: /CN=([^\n]+)/.exec(c.subject)?.[1] ?? c.subject,
    fingerprint: c.fingerprint256,
    validFrom: new Date(Date.parse(c.validFrom)).toISOString(),
    validTo: new Date(Date.parse(c.validTo)).toISOString(),
    pem,
  };
}
