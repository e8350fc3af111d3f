/**
 * The names the twin answers as: loopback names, Microsoft's own (so a bench device that resolves
 * login.microsoftonline.com / smtp.office365.com to the twin is served under them) and any extra names configured.
 * A request's origin is taken from its Host header only when that host is one of these names; anything else gets
 * the twin's listening origin. The per-request origin travels in an AsyncLocalStorage owned by the twin instance,
 * so discovery, verification_uri, token issuers and assertion audiences all name what the client used.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP } from 'node:net';

export const MICROSOFT_LOGIN_HOST = 'login.microsoftonline.com';
export const MICROSOFT_SMTP_HOST = 'smtp.office365.com';
export const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'] as const;

const DNS_NAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

/** Extra names from options/CLI: DNS names or IP addresses; anything else is refused (nothing is started). */
export function validateExtraNames(names: readonly string[]): string[] {
  return names.map((raw) => {
    const n = raw.trim().toLowerCase();
    if (!isIP(n) && !DNS_NAME.test(n)) throw new RangeError(`not a DNS name or IP address: ${JSON.stringify(raw)}`);
    return n;
  });
}

export class ServedNames {
  readonly names: readonly string[];
  private readonly store = new AsyncLocalStorage<string>();

  constructor(extraNames: readonly string[] = []) {
    const all = [...LOOPBACK_NAMES, MICROSOFT_LOGIN_HOST, MICROSOFT_SMTP_HOST, ...validateExtraNames(extraNames)];
    this.names = [...new Set(all)];
  }

  /** DNS names (for the certificate's dNSName entries). */
  get dnsNames(): string[] {
    return this.names.filter((n) => !isIP(n));
  }

  get ipNames(): string[] {
    return this.names.filter((n) => isIP(n));
  }

  serves(hostname: string): boolean {
    return this.names.includes(hostname.toLowerCase().replace(/^\[|\]$/g, ''));
  }

  /** `https://<Host>` when the Host header names a served name (port kept), else `fallback`. */
  originFor(hostHeader: string | undefined, fallback: string): string {
    if (!hostHeader || hostHeader.length > 300) return fallback;
    let url: URL;
    try {
      url = new URL(`https://${hostHeader}`);
    } catch {
      return fallback;
    }
    if (url.pathname !== '/' || url.username || !this.serves(url.hostname)) return fallback;
    return url.origin;
  }

  /** Runs `work` with `origin` as the current request's origin. */
  withOrigin<T>(origin: string, work: () => T): T {
    return this.store.run(origin, work);
  }

  current(fallback: string): string {
    return this.store.getStore() ?? fallback;
  }
}
