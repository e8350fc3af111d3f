/**
 * Which cloud the adapters talk to. The device stores the real names (authority on login.microsoftonline.com,
 * smtp.office365.com); in twin mode the simulated network routes them to the twin.
 */
import { rootCertificates } from 'node:tls';
import type { Route, SimulatedNetwork } from './network.ts';
import { createNameResolver, type ResolveEntry } from './resolver.ts';

export const MICROSOFT_LOGIN_HOST = 'login.microsoftonline.com';
export const EXCHANGE_SMTP_HOST = 'smtp.office365.com';
export const SMTP_SEND_SCOPE = 'https://outlook.office.com/SMTP.Send';
/** What the device asks for: SMTP.Send, and offline_access for the refresh token (MSAL adds openid profile). */
export const DEVICE_SCOPES = [SMTP_SEND_SCOPE, 'offline_access'];
/** App-only (client credentials) asks for Exchange's application permissions as granted: `.default` is required. */
export const APP_ONLY_SCOPE = 'https://outlook.office365.com/.default';

export interface CloudConfig {
  mode: 'twin' | 'microsoft';
  /** As configured: https://login.microsoftonline.com/<tenant>. */
  authority: string;
  clientId: string;
  network: SimulatedNetwork;
}

export function microsoftAuthority(tenant: string): string {
  return `https://${MICROSOFT_LOGIN_HOST}/${tenant}`;
}

/**
 * Bench options of real-Microsoft mode (a bench that serves Microsoft's names itself, e.g. the twin): where the names
 * resolve, an extra trust anchor, and non-standard ports. Without any, the device talks to the real service.
 */
export interface MicrosoftBench {
  /** Fixed name → address entries, consulted first (as a hosts file). */
  resolve?: readonly ResolveEntry[];
  /** A DNS server (address[:port]) for every other name; without it, names without an entry fail. */
  dnsServer?: string;
  /** PEM added to the bundled roots (the device keeps trusting the public CAs too). */
  caPem?: string;
  /** Port of login.microsoftonline.com instead of 443. */
  entraPort?: number;
  /** Port of smtp.office365.com instead of what the admin typed (587). */
  smtpPort?: number;
}

/** Real Microsoft: no routes, system CAs; a bench may resolve the names elsewhere, add a CA, move the ports. */
export function microsoftCloud(tenant: string, clientId: string, bench: MicrosoftBench = {}): CloudConfig {
  const routes: Route[] = [];
  // Only the port changes: URLs, Host headers and TLS names stay Microsoft's.
  if (bench.entraPort !== undefined && bench.entraPort !== 443) routes.push({ host: MICROSOFT_LOGIN_HOST, port: 443, to: { host: MICROSOFT_LOGIN_HOST, port: bench.entraPort } });
  if (bench.smtpPort !== undefined) routes.push({ host: EXCHANGE_SMTP_HOST, to: { host: EXCHANGE_SMTP_HOST, port: bench.smtpPort } });
  const resolver = bench.resolve?.length || bench.dnsServer ? createNameResolver({ entries: bench.resolve, dnsServer: bench.dnsServer }) : null;
  return {
    mode: 'microsoft',
    authority: microsoftAuthority(tenant),
    clientId,
    network: { routes, caPem: bench.caPem ? [...rootCertificates, bench.caPem].join('\n') : null, resolver },
  };
}

/** What the twin exposes that the routes need (a subset of `Twin`). */
export interface TwinEndpoints {
  entraUrl: string;
  tenantId: string;
  clientId: string;
  caPem: string;
  smtp: { host: string; port: number };
}

/** The twin: Microsoft's names routed to its loopback endpoints, TLS verified against its CA. */
export function twinCloud(twin: TwinEndpoints): CloudConfig {
  const entra = new URL(twin.entraUrl);
  return {
    mode: 'twin',
    authority: microsoftAuthority(twin.tenantId),
    clientId: twin.clientId,
    network: {
      caPem: twin.caPem,
      routes: [
        { host: MICROSOFT_LOGIN_HOST, port: 443, to: { host: entra.hostname, port: Number(entra.port) } },
        // Any port: the admin may type 587 or 25; the twin has one submission port.
        { host: EXCHANGE_SMTP_HOST, to: { host: twin.smtp.host, port: twin.smtp.port } },
      ],
    },
  };
}
