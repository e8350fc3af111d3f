/**
 * Scope handling for the twin's one resource, Exchange Online (https://outlook.office.com). Scopes are normalised so
 * the token response can echo exactly what was granted, e.g. `https://outlook.office.com/SMTP.Send openid profile offline_access`.
 */
import { Errors } from './errors.ts';

export const EXCHANGE_RESOURCE = 'https://outlook.office.com';
/** Delegated permissions the twin knows for Exchange; `.default` means "what the app registration lists". */
const EXCHANGE_PERMISSIONS = ['SMTP.Send', 'IMAP.AccessAsUser.All', 'POP.AccessAsUser.All'];
const APP_DEFAULT_PERMISSIONS = ['SMTP.Send'];
const OIDC_ORDER = ['openid', 'profile', 'email', 'offline_access'] as const;
const RESOURCE_ALIASES = ['https://outlook.office.com/', 'https://outlook.office365.com/'];

export interface GrantedScopes {
  /** Exchange permissions, canonical case, e.g. ['SMTP.Send']. */
  resource: string[];
  oidc: (typeof OIDC_ORDER)[number][];
}

export function parseScopes(raw: string): GrantedScopes {
  const resource = new Set<string>();
  const oidc = new Set<string>();
  for (const s of raw.split(/\s+/).filter(Boolean)) {
    const lower = s.toLowerCase();
    if ((OIDC_ORDER as readonly string[]).includes(lower)) {
      oidc.add(lower);
      continue;
    }
    const prefix = RESOURCE_ALIASES.find((p) => lower.startsWith(p));
    if (!prefix) throw Errors.invalidScope(s);
    const perm = s.slice(prefix.length);
    if (perm === '.default') {
      APP_DEFAULT_PERMISSIONS.forEach((p) => resource.add(p));
      continue;
    }
    const known = EXCHANGE_PERMISSIONS.find((p) => p.toLowerCase() === perm.toLowerCase());
    if (!known) throw Errors.invalidScope(s);
    resource.add(known);
  }
  // Entra needs a resource; with only OIDC scopes it would mint a Graph token, which this twin does not serve.
  if (resource.size === 0) throw Errors.invalidScope(raw.trim() || '(empty)');
  return {
    resource: EXCHANGE_PERMISSIONS.filter((p) => resource.has(p)),
    oidc: OIDC_ORDER.filter((o) => oidc.has(o)),
  };
}

export function formatScopes(g: GrantedScopes): string {
  return [...g.resource.map((p) => `${EXCHANGE_RESOURCE}/${p}`), ...g.oidc].join(' ');
}

/** A refresh may ask for a subset of the grant; anything beyond it is refused. */
export function narrowScopes(granted: GrantedScopes, requestedRaw: string | undefined): GrantedScopes {
  if (!requestedRaw || !requestedRaw.trim()) return granted;
  const req = parseScopes(requestedRaw);
  const extra = req.resource.find((p) => !granted.resource.includes(p));
  if (extra) throw Errors.invalidScope(`${EXCHANGE_RESOURCE}/${extra}`);
  // OIDC scopes follow the original grant (MSAL always re-sends openid profile offline_access).
  return { resource: req.resource, oidc: granted.oidc };
}
