/**
 * Which cloud the adapters talk to. The device stores the real names (authority on login.microsoftonline.com,
 * smtp.office365.com); in twin mode the simulated network routes them to the twin.
 */
import type { SimulatedNetwork } from './network.ts';

export const MICROSOFT_LOGIN_HOST = 'login.microsoftonline.com';
export const EXCHANGE_SMTP_HOST = 'smtp.office365.com';
export const SMTP_SEND_SCOPE = 'https://outlook.office.com/SMTP.Send';
/** What the device asks for: SMTP.Send, and offline_access for the refresh token (MSAL adds openid profile). */
export const DEVICE_SCOPES = [SMTP_SEND_SCOPE, 'offline_access'];

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

/** Real Microsoft: no routes, system CAs. */
export function microsoftCloud(tenant: string, clientId: string): CloudConfig {
  return { mode: 'microsoft', authority: microsoftAuthority(tenant), clientId, network: { routes: [], caPem: null } };
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
