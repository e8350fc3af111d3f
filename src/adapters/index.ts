/**
 * The real ports of a device: msal-node for Entra ID, nodemailer for Exchange Online, wired to one cloud
 * (the twin through the simulated network, or Microsoft). `createDevice({ ports: adapters.ports })`.
 */
import type { Logger } from '../log/logger.ts';
import type { DevicePorts, TokenCacheStore } from '../device/ports.ts';
import type { CloudConfig } from './config.ts';
import { MsalOAuthAdapter } from './msal/oauthAdapter.ts';
import { MsalAppOnlyAdapter } from './msal/appOnlyAdapter.ts';
import { NodemailerMailAdapter } from './mail/mailAdapter.ts';
import { DeviceTls, fixedTrust, type TrustSource } from './tls/deviceTls.ts';

export * from './config.ts';
export * from './network.ts';
export { MsalOAuthAdapter } from './msal/oauthAdapter.ts';
export { NodemailerMailAdapter } from './mail/mailAdapter.ts';
export { DeviceTls, DeviceTlsError, fixedTrust, verifyChain, type TrustSource } from './tls/deviceTls.ts';
export { MsalAppOnlyAdapter } from './msal/appOnlyAdapter.ts';

export interface DeviceAdapters {
  /** For createDevice: builds the ports around the device's token cache store. */
  ports: (tokenCache: TokenCacheStore) => DevicePorts;
  /** The adapters built by the last `ports` call (tests read the MSAL instance from here). */
  readonly oauth: MsalOAuthAdapter | null;
  readonly mail: NodemailerMailAdapter | null;
  /** Power off: abandon every request and connection in flight. */
  shutdown(): Promise<void>;
}

export function createDeviceAdapters(opts: { cloud: CloudConfig; logger: Logger; clientName?: string; trust?: TrustSource }): DeviceAdapters {
  // One TLS judgement for both clients, as a printer has one trust store and one clock.
  const tls = new DeviceTls(opts.trust ?? fixedTrust(opts.cloud.network.caPem));
  let oauth: MsalOAuthAdapter | null = null;
  let mail: NodemailerMailAdapter | null = null;
  return {
    ports: (tokenCache) => {
      oauth = new MsalOAuthAdapter({ cloud: opts.cloud, tokenCache, logger: opts.logger, tls });
      mail = new NodemailerMailAdapter({ network: opts.cloud.network, tls, logger: opts.logger, clientName: opts.clientName });
      const appOnly = new MsalAppOnlyAdapter({ cloud: opts.cloud, tokenCache, logger: opts.logger, network: oauth.network });
      return { oauth, mail, appOnly };
    },
    get oauth() {
      return oauth;
    },
    get mail() {
      return mail;
    },
    shutdown: async () => {
      mail?.shutdown();
      await oauth?.shutdown();
    },
  };
}
