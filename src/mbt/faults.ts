/**
 * Deliberate faults for the bite tests, injected through the device's effect interfaces (what the runtime is built
 * with), never by editing the runtime: if the suite does not fail with one of these in place, it is not testing.
 */
import { SendFailure } from '../device/failures.ts';
import type { DevicePorts, TokenCacheStore } from '../device/ports.ts';
import type { InjectedFault } from './system.ts';

/** A classifier that takes "535 5.7.139 SMTP AUTH disabled" for a temporary problem and schedules retries. */
export const smtpAuthDisabledAsTransient: InjectedFault = {
  name: 'smtp-auth-disabled-as-transient',
  description: 'the mail port reports 5.7.139 (SMTP AUTH disabled) as transient, so the device keeps retrying',
  wrapPorts: (ports: DevicePorts): DevicePorts => ({
    ...ports,
    mail: {
      submit: (args) =>
        ports.mail.submit(args).catch((err: unknown) => {
          if (err instanceof SendFailure && err.code?.value === '5.7.139') throw new SendFailure({ ...err, transient: true });
          throw err;
        }),
    },
  }),
};

/** A runtime that forgets to persist the token cache: the store drops what the adapter stages. */
export const tokenCacheNotPersisted: InjectedFault = {
  name: 'token-cache-not-persisted',
  description: 'the TokenCacheStore drops stage(), so the MSAL cache never reaches NVRAM',
  wrapTokenCache: (store: TokenCacheStore): TokenCacheStore => ({ load: () => store.load(), stage: () => undefined }),
};
