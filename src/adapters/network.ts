/**
 * The simulated network: in twin mode the admin still types Microsoft's real names (smtp.office365.com:587,
 * login.microsoftonline.com/<tenant>), and this small route table sends them to the twin's loopback endpoints, the
 * way a lab DNS would. TLS is then verified against the twin's CA. Any host without a route is dialled as given;
 * against real Microsoft there are no routes and no extra CA — unless a bench gives a resolver (names → the twin's
 * address, the URLs keep Microsoft's names), port overrides (routes that change only the port) and an extra CA.
 */
import type { NameResolver } from './resolver.ts';

export interface Endpoint {
  host: string;
  port: number;
  /** Name to verify the certificate against, when it differs from `host` (never an IP address: SNI forbids it). */
  servername?: string;
}

export interface Route {
  /** The name the device dials (case-insensitive). */
  host: string;
  /** Only this port (any port when absent). */
  port?: number;
  to: Endpoint;
}

export interface SimulatedNetwork {
  routes: Route[];
  /** Extra trust anchor (the twin's CA, PEM); null = the system's CAs only. */
  caPem: string | null;
  /** How host names become addresses (a bench's --resolve / --dns-server); absent = the system resolver. */
  resolver?: NameResolver | null;
}

/** Where a connection to `host:port` really goes. */
export function resolveEndpoint(network: SimulatedNetwork, host: string, port: number): Endpoint {
  const name = host.trim().toLowerCase().replace(/\.$/, '');
  const route = network.routes.find((r) => r.host.toLowerCase() === name && (r.port === undefined || r.port === port));
  return route ? { ...route.to } : { host, port };
}

/** Rewrites an https URL whose host has a route (e.g. the authority https://login.microsoftonline.com/<tenant>). */
export function resolveUrl(network: SimulatedNetwork, url: string): string {
  const u = new URL(url);
  const port = u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  const to = resolveEndpoint(network, u.hostname, port);
  if (to.host === u.hostname && to.port === port) return url;
  u.hostname = to.host;
  u.port = String(to.port);
  return u.toString().replace(/\/$/, '');
}

/** host:port as MSAL's knownAuthorities wants it. */
export function authorityHost(authority: string): string {
  return new URL(authority).host;
}
