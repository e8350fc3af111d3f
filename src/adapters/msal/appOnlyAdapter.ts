/**
 * App-only sending's token port on @azure/msal-node: `ConfidentialClientApplication.acquireTokenByClientCredential`
 * for `https://outlook.office365.com/.default` with the app's client secret. No refresh token exists: every renewal
 * is a new client-credentials request (skipCache: the runtime's clock, not MSAL's Date.now(), decides when). The
 * token lands in the same sealed NVRAM cache as the device code's (one method is configured at a time; switching
 * deletes the tokens), staged and committed with the transition like every other token.
 */
import { randomUUID } from 'node:crypto';
import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import type { Logger } from '../../log/logger.ts';
import { RefreshFailure } from '../../device/failures.ts';
import type { AppCredentials, AppTokenPort, Grant, TokenCacheStore } from '../../device/ports.ts';
import { APP_ONLY_SCOPE, microsoftAuthority, type CloudConfig } from '../config.ts';
import { authorityHost, resolveUrl } from '../network.ts';
import { nvramCachePlugin } from './cachePlugin.ts';
import { classifyClientCredentials, factsOf } from './classify.ts';
import type { EntraNetworkClient } from './networkClient.ts';

export interface MsalAppOnlyOptions {
  cloud: CloudConfig;
  tokenCache: TokenCacheStore;
  logger: Logger;
  /** Shared with the device-code adapter: one HTTPS client (trust, resolver, kept error bodies) per device. */
  network: EntraNetworkClient;
}

export class MsalAppOnlyAdapter implements AppTokenPort {
  private readonly log: Logger;

  constructor(private readonly opts: MsalAppOnlyOptions) {
    this.log = opts.logger.child({ component: 'msal-app-only' });
  }

  /** One application per request: the credentials are the admin's latest, read from NVRAM by the runtime. */
  private app(app: AppCredentials): ConfidentialClientApplication {
    const { cloud } = this.opts;
    const configured = microsoftAuthority(app.tenantId);
    const authority = resolveUrl(cloud.network, configured);
    const log = this.log;
    const client: ConfidentialClientApplication = new ConfidentialClientApplication({
      auth: {
        clientId: app.clientId,
        authority,
        clientSecret: app.clientSecret,
        ...(authority !== configured ? { knownAuthorities: [authorityHost(authority)] } : {}),
      },
      cache: { cachePlugin: nvramCachePlugin(this.opts.tokenCache, () => client.clearCache()) },
      system: {
        networkClient: this.opts.network,
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: LogLevel.Warning,
          loggerCallback: (level, message) => (level === LogLevel.Error ? log.warn({ msal: message }, 'msal-node') : log.debug({ msal: message }, 'msal-node')),
        },
      },
    });
    return client;
  }

  async request({ app, mailbox }: { app: AppCredentials; mailbox: string }): Promise<Grant> {
    const correlationId = randomUUID();
    const network = this.opts.network;
    try {
      const result = await this.app(app).acquireTokenByClientCredential({ scopes: [APP_ONLY_SCOPE], skipCache: true, correlationId });
      if (!result?.accessToken) throw new RefreshFailure({ transient: true, reason: 'no-token', reply: 'Entra returned no access token' });
      const fromServer = network.expiresInMs(correlationId);
      const fromMsal = result.expiresOn ? Math.round((result.expiresOn.getTime() - Date.now()) / 1000) * 1000 : 0;
      this.log.info({ clientId: app.clientId, mailbox }, 'app-only token granted');
      return { account: mailbox, accessTokenExpiresInMs: Math.max(0, fromServer ?? fromMsal) };
    } catch (err) {
      const failure = err instanceof RefreshFailure ? err : classifyClientCredentials(factsOf(err, network.errorBody(correlationId), network.lastDiscoveryFailure));
      this.log.info({ clientId: app.clientId, transient: failure.transient, reason: failure.reason, code: failure.code }, 'app-only token request failed');
      throw failure;
    } finally {
      network.endExchange(correlationId);
    }
  }

  async accessToken({ clientId }: { clientId: string }): Promise<string> {
    const token = appTokenFromCache(this.opts.tokenCache.load(), clientId);
    if (!token) throw new RefreshFailure({ transient: false, reason: 'no-token', reply: `no app-only access token for application ${clientId} in the token cache` });
    return token;
  }
}

interface SerializedAppToken {
  home_account_id?: string;
  client_id?: string;
  secret?: string;
  target?: string;
  cached_at?: string;
}

/** The newest app-only token (no account) of `clientId` for the Exchange `.default` scope in a serialized MSAL cache. */
export function appTokenFromCache(serialized: string | undefined, clientId: string): string | null {
  if (!serialized) return null;
  let cache: { AccessToken?: Record<string, SerializedAppToken> };
  try {
    cache = JSON.parse(serialized);
  } catch {
    return null;
  }
  const scope = APP_ONLY_SCOPE.toLowerCase();
  const tokens = Object.values(cache.AccessToken ?? {})
    .filter((t) => !t.home_account_id && t.client_id?.toLowerCase() === clientId.toLowerCase() && t.target?.toLowerCase().split(' ').includes(scope))
    .sort((a, b) => Number(b.cached_at ?? 0) - Number(a.cached_at ?? 0));
  return tokens[0]?.secret ?? null;
}
