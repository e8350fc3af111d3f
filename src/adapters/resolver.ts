/**
 * How the device turns a host name into addresses, when a bench says so instead of the system resolver: fixed
 * entries (`--resolve name:address`, a hosts file in effect) first, then a DNS server of the bench (`--dns-server
 * host:port`, e.g. the twin's responder). The names in URLs, Host headers and TLS server names stay the real ones
 * (login.microsoftonline.com, smtp.office365.com): only the address the socket dials changes, as on a bench network.
 */
import { Resolver } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface NameResolver {
  /** Every address of `name` (IPv4 first); rejects with an ENOTFOUND-style error when there is none. */
  lookup(name: string): Promise<ResolvedAddress[]>;
  /** A `net.connect` lookup (undici's connect.lookup) over `lookup`. */
  readonly connectLookup: LookupFunction;
  /** What the resolver consults, for banners and logs. */
  readonly description: string;
}

export interface ResolveEntry {
  name: string;
  address: string;
}

export class ResolverConfigError extends Error {
  override name = 'ResolverConfigError';
}

/** `name:address` (the address may be IPv6, bracketed or not) → an entry; refuses anything else. */
export function parseResolveEntry(text: string): ResolveEntry {
  const i = text.indexOf(':');
  const name = i > 0 ? text.slice(0, i).trim().toLowerCase().replace(/\.$/, '') : '';
  const address = i > 0 ? text.slice(i + 1).trim().replace(/^\[|\]$/g, '') : '';
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name) || isIP(address) === 0) {
    throw new ResolverConfigError(`expected name:address (e.g. login.microsoftonline.com:192.0.2.10), got ${JSON.stringify(text)}`);
  }
  return { name, address };
}

/** `host:port`, `[v6]:port` or a bare address (port 53) of a DNS server → the form node:dns setServers takes. */
export function parseDnsServer(text: string): string {
  const t = text.trim();
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t) ?? (isIP(t) === 6 ? [t, t, undefined] : /^([^:]+)(?::(\d+))?$/.exec(t));
  const address = m?.[1];
  const port = m?.[2] === undefined ? 53 : Number(m[2]);
  if (!address || isIP(address) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ResolverConfigError(`expected a DNS server as address[:port] (e.g. 127.0.0.1:5353), got ${JSON.stringify(text)}`);
  }
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A resolver over fixed entries and, for every other name, a DNS server (or nothing: unknown names fail). */
export function createNameResolver(opts: { entries?: readonly ResolveEntry[]; dnsServer?: string | null; timeoutMs?: number }): NameResolver {
  const fixed = new Map<string, ResolvedAddress[]>();
  for (const e of opts.entries ?? []) {
    const list = fixed.get(e.name) ?? [];
    list.push({ address: e.address, family: isIP(e.address) === 6 ? 6 : 4 });
    fixed.set(e.name, list);
  }
  const server = opts.dnsServer ? parseDnsServer(opts.dnsServer) : null;
  // One Resolver per device: its servers are its own, never the process's (dns.setServers would be global state).
  const dns = server ? new Resolver({ timeout: opts.timeoutMs ?? 5000, tries: 2 }) : null;
  dns?.setServers([server!]);

  const lookup = async (host: string): Promise<ResolvedAddress[]> => {
    const name = host.trim().toLowerCase().replace(/\.$/, '');
    const literal = name.replace(/^\[|\]$/g, '');
    if (isIP(literal)) return [{ address: literal, family: isIP(literal) === 6 ? 6 : 4 }];
    const entries = fixed.get(name);
    if (entries) return [...entries].sort((a, b) => a.family - b.family);
    if (!dns) throw notFound(name, 'no --resolve entry for it');
    const [v4, v6] = await Promise.all([dns.resolve4(name).catch((e: NodeJS.ErrnoException) => e), dns.resolve6(name).catch((e: NodeJS.ErrnoException) => e)]);
    const out: ResolvedAddress[] = [
      ...(Array.isArray(v4) ? v4.map((address) => ({ address, family: 4 as const })) : []),
      ...(Array.isArray(v6) ? v6.map((address) => ({ address, family: 6 as const })) : []),
    ];
    if (out.length) return out;
    const why = !Array.isArray(v4) ? v4 : !Array.isArray(v6) ? v6 : null;
    throw notFound(name, `DNS server ${server} answered ${why?.code ?? 'no address'}`, why?.code);
  };

  const connectLookup: LookupFunction = (hostname, options, callback) => {
    lookup(hostname).then(
      (all) => {
        const family = (options as { family?: number }).family;
        const usable = family === 4 || family === 6 ? all.filter((a) => a.family === family) : all;
        if (!usable.length) return callback(notFound(hostname, `no IPv${family} address`), '', 0);
        if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, usable);
        else callback(null, usable[0]!.address, usable[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };

  const parts = [...(fixed.size ? [`fixed ${[...fixed].map(([n, a]) => `${n}=${a.map((x) => x.address).join(',')}`).join(' ')}`] : []), ...(server ? [`DNS ${server}`] : [])];
  return { lookup, connectLookup, description: parts.join('; ') || 'nothing' };
}

/** The error the system resolver gives for an unknown name, so the classifiers read it the same way. */
function notFound(name: string, why: string, dnsCode?: string): NodeJS.ErrnoException {
  const err = new Error(`getaddrinfo ENOTFOUND ${name} (${why})`) as NodeJS.ErrnoException & { hostname?: string; dnsCode?: string };
  err.code = 'ENOTFOUND';
  err.syscall = 'getaddrinfo';
  err.hostname = name;
  if (dnsCode) err.dnsCode = dnsCode;
  return err;
}
