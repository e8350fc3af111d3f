/**
 * The device's OAuth port on @azure/msal-node: the device authorization grant, forced refreshes, and the cached
 * access token for XOAUTH2. One PublicClientApplication per device (per boot), its cache in the device's sealed NVRAM.
 */
import { randomUUID } from 'node:crypto';
import {
  LogLevel,
  PublicClientApplication,
  type AuthenticationResult,
  type DeviceCodeRequest,
} from '@azure/msal-node';
import type { Logger } from '../../log/logger.ts';
import { RefreshFailure, SignInFailure } from '../../device/failures.ts';
import type { Grant, OAuthPort, TokenCacheStore } from '../../device/ports.ts';
import { DEVICE_SCOPES, SMTP_SEND_SCOPE, type CloudConfig } from '../config.ts';
import { authorityHost, resolveUrl } from '../network.ts';
import { accessTokenFromCache, nvramCachePlugin } from './cachePlugin.ts';
import { classifyRefresh, classifySignIn, factsOf } from './classify.ts';
import { EntraNetworkClient } from './networkClient.ts';
import { DeviceTls, fixedTrust } from '../tls/deviceTls.ts';

export interface MsalOAuthOptions {
  cloud: CloudConfig;
  /** The device's TLS (trust store at the device clock); default: the network's CA on the host clock. */
  tls?: DeviceTls;
  tokenCache: TokenCacheStore;
  logger: Logger;
}

export class MsalOAuthAdapter implements OAuthPort {
  readonly network: EntraNetworkClient;
  private routedAuthority: string | null = null;
  private readonly cloud: MsalOAuthOptions['cloud'];
  private readonly log: Logger;
  private readonly tokenCache: TokenCacheStore;
  private app: PublicClientApplication | null = null;
  private readonly makeApp: () => PublicClientApplication;

  constructor(opts: MsalOAuthOptions) {
    const { cloud } = opts;
    this.log = opts.logger.child({ component: 'msal' });
    this.tokenCache = opts.tokenCache;
    this.network = new EntraNetworkClient({ tls: opts.tls ?? new DeviceTls(fixedTrust(cloud.network.caPem)), ...(cloud.network.resolver ? { lookup: cloud.network.resolver.connectLookup } : {}) });
    this.cloud = cloud;
    const log = this.log;
    this.makeApp = () => {
      const routed = this.authority !== cloud.authority;
      return new PublicClientApplication({
        auth: {
          clientId: cloud.clientId,
          authority: this.authority,
          // A routed authority is not a Microsoft host MSAL knows: trust it as given (skips instance discovery).
          ...(routed ? { knownAuthorities: [authorityHost(this.authority)] } : {}),
        },
        cache: { cachePlugin: nvramCachePlugin(opts.tokenCache, () => this.app?.clearCache()) },
        system: {
          networkClient: this.network,
          loggerOptions: {
            piiLoggingEnabled: false,
            logLevel: LogLevel.Warning,
            loggerCallback: (level, message) => {
              if (level === LogLevel.Error) log.warn({ msal: message }, 'msal-node');
              else log.debug({ msal: message }, 'msal-node');
            },
          },
        },
      });
    };
  }

  /** The authority MSAL really talks to (after the simulated network's routes): worked out with the app, at first use. */
  get authority(): string {
    return (this.routedAuthority ??= resolveUrl(this.cloud.network, this.cloud.authority));
  }

  /**
   * The msal-node application, built on first use (sign-in, refresh, or a test looking at it): a boot that only
   * restores the state, or sends with the cached token, does not pay for it. Its cache lives in NVRAM, so building
   * it later loses nothing.
   */
  get pca(): PublicClientApplication {
    return (this.app ??= this.makeApp());
  }

  async signIn(args: Parameters<OAuthPort['signIn']>[0]): Promise<Grant> {
    const { account, onCode, cancel } = args;
    if (cancel.cancelled) throw new SignInFailure({ kind: 'cancelled', reason: 'cancelled' });
    const correlationId = randomUUID();
    let codeIssued = false;
    let codeRefused = false;
    const request: DeviceCodeRequest = {
      scopes: DEVICE_SCOPES,
      correlationId,
      cancel: false,
      deviceCodeCallback: (r) => {
        // msal-node does not check the /devicecode answer: an error body arrives here with no code in it.
        if (!r.userCode || !r.deviceCode) {
          codeRefused = true;
          request.cancel = true;
          return;
        }
        codeIssued = true;
        this.log.info({ account, expiresIn: r.expiresIn, interval: r.interval }, 'device code issued');
        onCode({ userCode: r.userCode, verificationUri: r.verificationUri, expiresInSeconds: r.expiresIn, message: r.message });
      },
    };
    cancel.onCancel(() => {
      request.cancel = true; // msal-node looks at it before its next poll
    });
    try {
      const result = await this.pca.acquireTokenByDeviceCode(request);
      if (!result?.account) throw new SignInFailure({ kind: 'poll-failed', reason: 'no-account', reply: 'Entra returned no account (no id_token)' });
      return this.grantOf(result, correlationId);
    } catch (err) {
      if (err instanceof SignInFailure) throw err;
      const body = this.network.errorBody(correlationId);
      const failure = codeRefused
        ? classifySignIn(factsOf(null, body), false)
        : cancel.cancelled
          ? new SignInFailure({ kind: 'cancelled', reason: 'cancelled' })
          : classifySignIn(factsOf(err, body, this.network.lastDiscoveryFailure), codeIssued);
      this.log.info({ account, kind: failure.kind, reason: failure.reason, code: failure.code }, 'sign-in ended without a token');
      throw failure;
    } finally {
      this.network.endExchange(correlationId);
    }
  }

  async refresh({ account }: { account: string }): Promise<Grant> {
    const correlationId = randomUUID();
    let cached;
    try {
      cached = (await this.pca.getTokenCache().getAllAccounts(correlationId)).find((a) => sameUser(a.username, account));
    } catch (err) {
      throw new RefreshFailure({ transient: false, reason: 'no-token', reply: `token cache unreadable: ${(err as Error).message}` });
    }
    if (!cached) throw new RefreshFailure({ transient: false, reason: 'no-token', reply: `no account ${account} in the token cache` });
    try {
      // forceRefresh: MSAL would judge the cached token by Date.now(); the runtime already decided it is time.
      const result = await this.pca.acquireTokenSilent({ account: cached, scopes: [SMTP_SEND_SCOPE], forceRefresh: true, correlationId });
      return this.grantOf(result, correlationId);
    } catch (err) {
      const failure = classifyRefresh(factsOf(err, this.network.errorBody(correlationId), this.network.lastDiscoveryFailure));
      this.log.info({ account, transient: failure.transient, reason: failure.reason, code: failure.code }, 'refresh failed');
      throw failure;
    } finally {
      this.network.endExchange(correlationId);
    }
  }

  async accessToken({ account }: { account: string }): Promise<string> {
    const token = accessTokenFromCache(this.tokenCache.load(), account, SMTP_SEND_SCOPE);
    if (!token) throw new RefreshFailure({ transient: false, reason: 'no-token', reply: `no access token for ${account} in the token cache` });
    return token;
  }

  /** Power off: abandon whatever is on the wire. */
  async shutdown(): Promise<void> {
    await this.network.destroy().catch(() => undefined);
  }

  private grantOf(result: AuthenticationResult, correlationId: string): Grant {
    const fromServer = this.network.expiresInMs(correlationId);
    const fromMsal = result.expiresOn ? Math.round((result.expiresOn.getTime() - Date.now()) / 1000) * 1000 : 0;
    return { account: result.account?.username ?? '', accessTokenExpiresInMs: Math.max(0, fromServer ?? fromMsal) };
  }
}

function sameUser(a: string | undefined, b: string): boolean {
  return (a ?? '').trim().toLowerCase() === b.trim().toLowerCase();
}
