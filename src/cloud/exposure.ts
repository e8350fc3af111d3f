/**
 * How far the twin is reachable, and what guards it when it is reachable beyond loopback:
 *  - loopback (the default): nothing but this machine reaches it; the control API needs no token;
 *  - exposed (`--host 0.0.0.0`, `::` or a LAN address, only on explicit request): devices on the bench reach the OAuth
 *    endpoints, sign-in pages and SMTP; the control API `/_twin` demands `Authorization: Bearer <token>`.
 * On both, the Entra origin answers only Host names it serves (421 Misdirected Request otherwise).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** Environment variable carrying a chosen control API token (an exposed twin generates one otherwise). */
export const CONTROL_TOKEN_ENV = 'MFP_TWIN_CONTROL_TOKEN';

/** Whether an address (or `localhost`) is loopback-only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h) || /^::ffff:127\./.test(h);
}

/** A bind to every interface. */
export function isWildcardHost(host: string): boolean {
  const h = host.trim().replace(/^\[|\]$/g, '');
  return h === '0.0.0.0' || h === '::' || h === '0:0:0:0:0:0:0:0';
}

/** An address the twin's own in-process clients can dial: loopback for a wildcard bind, else the bound address. */
export function dialableHost(host: string): string {
  if (!isWildcardHost(host)) return host === 'localhost' ? '127.0.0.1' : host;
  return isIP(host.replace(/^\[|\]$/g, '')) === 6 ? '::1' : '127.0.0.1';
}

/**
 * Addresses a device on the network reaches the twin at: the bound address, or, for a wildcard bind, every
 * non-loopback interface address of that family (`::` also takes IPv4, as Linux binds it dual-stack). Link-local IPv6
 * is left out (it needs a zone a DNS answer cannot carry). Loopback when the machine has nothing else.
 */
export function reachableAddresses(host: string, interfaces = networkInterfaces()): string[] {
  if (!isWildcardHost(host)) return [dialableHost(host)];
  const v6 = isIP(host.replace(/^\[|\]$/g, '')) === 6;
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) {
      if (i.internal) continue;
      if (i.family === 'IPv4') out.push(i.address);
      else if (v6 && !/^fe80:/i.test(i.address)) out.push(i.address);
    }
  }
  return out.length ? out : [dialableHost(host)];
}

/**
 * The control API's bearer token. 32 random bytes (256 bits): no one guesses it, so a fast SHA-256 is enough to
 * keep it unreadable in memory — a slow hash (scrypt) only helps against guessing low-entropy secrets such as
 * passwords. Only the hash is kept; the comparison is constant-time over the digests.
 */
export class ControlToken {
  private readonly digest: Buffer;

  private constructor(token: string) {
    this.digest = sha256(token);
  }

  /** A fresh token (base64url, 43 characters), to be printed once. */
  static generate(): { token: string; guard: ControlToken } {
    const token = randomBytes(32).toString('base64url');
    return { token, guard: new ControlToken(token) };
  }

  /** A guard for a token chosen by the operator (at least 32 characters, so it is as hard to guess). */
  static of(token: string): ControlToken {
    if (!/^[\x21-\x7e]{32,512}$/.test(token)) throw new Error('a control API token has 32 to 512 printable ASCII characters, no spaces');
    return new ControlToken(token);
  }

  /** Whether an Authorization header carries this token (scheme case-insensitive, RFC 6750 §2.1). */
  accepts(authorization: string | undefined): boolean {
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(authorization ?? '');
    // The digest is compared even when the header is absent, so timing tells nothing about why it failed.
    const given = sha256(m ? m[1]! : '');
    return timingSafeEqual(given, this.digest) && !!m;
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/**
 * Host names (and addresses) the Entra origin answers to: the certificate's names, the bound address, the
 * addresses it is reachable at, and loopback. Anything else is misdirected (RFC 9110 §15.5.20).
 */
export class HostCheck {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(names: Iterable<string>) {
    for (const raw of names) {
      const n = normaliseHost(raw);
      if (n.startsWith('*.')) this.suffixes.push(n.slice(1));
      else this.exact.add(n);
    }
    for (const n of ['localhost', '127.0.0.1', '::1']) this.exact.add(n);
  }

  /** Whether a Host header (name or address, with or without :port) names this server. */
  allows(hostHeader: string | undefined): boolean {
    if (!hostHeader) return false;
    const name = normaliseHost(hostHeader.trim().replace(/:\d+$/, ''));
    if (this.exact.has(name)) return true;
    // A wildcard covers exactly one label, as in a certificate (RFC 6125 §6.4.3).
    return this.suffixes.some((s) => name.endsWith(s) && !name.slice(0, -s.length).includes('.') && name.length > s.length);
  }
}

function normaliseHost(h: string): string {
  const n = h.trim().toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
  return isIP(n) === 6 ? new URL(`http://[${n}]/`).hostname.replace(/^\[|\]$/g, '') : n;
}
