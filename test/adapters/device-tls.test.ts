/**
 * The device's chain check (src/adapters/tls/deviceTls.ts verifyChain) on certificates made here (EC keys: fast):
 * trust, time on the given clock, host name, and a cross-certificate path.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from 'selfsigned';
import type { PeerCertificate } from 'node:tls';
import { DeviceTls, TrustContextCache, verifyChain } from '../../src/adapters/tls/deviceTls.ts';

const day = 24 * 3600_000;
const FROM = Date.UTC(2025, 0, 1);
const ca = [
  { name: 'basicConstraints' as const, cA: true, critical: true },
  { name: 'keyUsage' as const, keyCertSign: true, cRLSign: true, critical: true },
];
const window = (from: number, days: number) => ({ notBeforeDate: new Date(from), notAfterDate: new Date(from + days * day) });
const base = { keyType: 'ec' as const, algorithm: 'sha256' };

async function leafUnder(issuer: { cert: string; private: string }, from = FROM, days = 365) {
  return generate([{ name: 'commonName', value: 'login.microsoftonline.com' }], {
    ...base,
    ...window(from, days),
    ca: { key: issuer.private, cert: issuer.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'login.microsoftonline.com' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
}

let oldRoot: Awaited<ReturnType<typeof generate>>;
let newRoot: Awaited<ReturnType<typeof generate>>;
let leaf: X509Certificate;
let cross: X509Certificate;
const x = (pem: string) => new X509Certificate(pem);
const at = FROM + 30 * day;

beforeAll(async () => {
  oldRoot = await generate([{ name: 'commonName', value: 'Old Root' }], { ...base, ...window(FROM - day, 3650), extensions: ca });
  newRoot = await generate([{ name: 'commonName', value: 'New Root' }], { ...base, ...window(FROM - day, 3650), extensions: ca });
  leaf = x((await leafUnder(newRoot)).cert);
  const crossed = await generate([{ name: 'commonName', value: 'New Root' }], {
    ...base,
    ...window(FROM - day, 730),
    keyPair: { privateKey: newRoot.private, publicKey: newRoot.public },
    ca: { key: oldRoot.private, cert: oldRoot.cert },
    extensions: ca,
  });
  cross = x(crossed.cert);
});

describe('verifyChain', () => {
  it('accepts a leaf issued by a root of the store, on the device clock, for its names (DNS and IP)', () => {
    expect(verifyChain([leaf], 'login.microsoftonline.com', at, [x(newRoot.cert)])).toBeUndefined();
    expect(verifyChain([leaf], '127.0.0.1', at, [x(newRoot.cert)])).toBeUndefined();
  });

  it('unknown-ca without the issuing root; accepted through a cross-certificate from a root it has', () => {
    expect(verifyChain([leaf], 'login.microsoftonline.com', at, [x(oldRoot.cert)])).toMatchObject({ reason: 'unknown-ca', code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });
    expect(verifyChain([leaf, cross], 'login.microsoftonline.com', at, [x(oldRoot.cert)])).toBeUndefined();
    expect(verifyChain([leaf, cross], 'login.microsoftonline.com', at, [x(newRoot.cert)])).toBeUndefined();
    expect(verifyChain([], 'login.microsoftonline.com', at, [x(newRoot.cert)])).toMatchObject({ reason: 'unknown-ca' });
  });

  it('judges validity on the given time: before notBefore, after notAfter', () => {
    expect(verifyChain([leaf], 'login.microsoftonline.com', Date.UTC(2024, 0, 1), [x(newRoot.cert)])).toMatchObject({ reason: 'cert-not-yet-valid', code: 'CERT_NOT_YET_VALID' });
    expect(verifyChain([leaf], 'login.microsoftonline.com', FROM + 400 * day, [x(newRoot.cert)])).toMatchObject({ reason: 'cert-expired', code: 'CERT_HAS_EXPIRED' });
    // The cross-certificate's own, shorter validity counts too.
    expect(verifyChain([leaf, cross], 'login.microsoftonline.com', FROM + 740 * day, [x(oldRoot.cert)])).toMatchObject({ reason: 'cert-expired' });
  });

  it('hostname-mismatch for a name the leaf does not carry', () => {
    expect(verifyChain([leaf], 'smtp.example.com', at, [x(newRoot.cert)])).toMatchObject({ reason: 'hostname-mismatch', code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(verifyChain([leaf], '10.0.0.1', at, [x(newRoot.cert)])).toMatchObject({ reason: 'hostname-mismatch' });
  });
});

describe('DeviceTls.check', () => {
  /** The peer chain as Node hands it to checkServerIdentity: DER, fingerprint, issuerCertificate links. */
  const peerOf = (chain: X509Certificate[]): PeerCertificate => {
    const nodes = chain.map((c) => ({ raw: c.raw, fingerprint256: c.fingerprint256 }) as PeerCertificate & { issuerCertificate?: PeerCertificate });
    nodes.forEach((n, i) => (n.issuerCertificate = nodes[i + 1] ?? n));
    return nodes[0]!;
  };

  it('judges every handshake of the same server again: the clock and the store, though the certificates are parsed once', () => {
    let now = at;
    let roots = { revision: 'new', pems: [newRoot.cert] };
    const tls = new DeviceTls({ now: () => now, roots: () => roots });
    const host = 'login.microsoftonline.com';
    expect(tls.check(host, peerOf([leaf]))).toBeUndefined();
    expect(tls.check(host, peerOf([leaf]))).toBeUndefined();
    now = FROM + 400 * day;
    expect(tls.check(host, peerOf([leaf]))).toMatchObject({ reason: 'cert-expired' });
    now = at;
    expect(tls.check('smtp.example.com', peerOf([leaf]))).toMatchObject({ reason: 'hostname-mismatch' });
    roots = { revision: 'old', pems: [oldRoot.cert] };
    expect(tls.check(host, peerOf([leaf]))).toMatchObject({ reason: 'unknown-ca' });
    expect(tls.check(host, peerOf([leaf, cross]))).toBeUndefined();
  });

  it('remembers issuer checks by the certificates themselves: a leaf of the same names under an impostor root stays refused', async () => {
    const impostor = await generate([{ name: 'commonName', value: 'New Root' }], { ...base, ...window(FROM - day, 3650), extensions: ca });
    const forged = x((await leafUnder(impostor)).cert);
    const cache = new TrustContextCache();
    const tls = new DeviceTls({ now: () => at, roots: () => ({ revision: 'new', pems: [newRoot.cert] }) }, cache);
    const host = 'login.microsoftonline.com';
    expect(tls.check(host, peerOf([leaf]))).toBeUndefined();
    expect(tls.check(host, peerOf([forged]))).toMatchObject({ reason: 'unknown-ca' });
    expect(tls.check(host, peerOf([leaf]))).toBeUndefined();
    expect(tls.check(host, peerOf([forged]))).toMatchObject({ reason: 'unknown-ca' });
    expect([cache.issued(leaf, x(newRoot.cert)), cache.issued(forged, x(newRoot.cert)), cache.issued(forged, x(impostor.cert))]).toEqual([true, false, true]);
  });

  it('printers sharing one cache share the parse of a server certificate, and each judges it on its own time and store', () => {
    const cache = new TrustContextCache();
    const host = 'login.microsoftonline.com';
    const onTime = new DeviceTls({ now: () => at, roots: () => ({ revision: 'new', pems: [newRoot.cert] }) }, cache);
    const late = new DeviceTls({ now: () => FROM + 400 * day, roots: () => ({ revision: 'new', pems: [newRoot.cert] }) }, cache);
    const otherStore = new DeviceTls({ now: () => at, roots: () => ({ revision: 'old', pems: [oldRoot.cert] }) }, cache);
    const peer = peerOf([leaf]);
    expect(cache.certificates).toBe(0);
    expect(onTime.check(host, peer)).toBeUndefined();
    expect(cache.certificates).toBe(1); // the device parsed the leaf into the shared cache
    const parsed = cache.certificate(peer);
    expect(cache.certificate(peerOf([leaf]))).toBe(parsed); // one parse for every printer of the cache
    expect(late.check(host, peerOf([leaf]))).toMatchObject({ reason: 'cert-expired' });
    expect(otherStore.check(host, peerOf([leaf]))).toMatchObject({ reason: 'unknown-ca' });
    expect(onTime.check(host, peerOf([leaf]))).toBeUndefined();
    expect(cache.certificates).toBe(1);
  });
});
