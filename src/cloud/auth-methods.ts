/**
 * The twin's state for basic auth and app-only sending (issue 14), built from the fixture and shared by the Entra
 * half (client credentials), the Exchange half (AUTH LOGIN/PLAIN, service principals) and the control API.
 */
import type { AuthMethodsFixture } from './auth-methods-fixture.ts';
import type { TenantDirectory } from './directory.ts';
import { AppCredentialStore } from './entra/client-credentials.ts';
import { BasicAuthPolicy, passwordMatches } from './exchange/basic-auth.ts';
import type { ExchangeAuthMethods } from './exchange/exchange-twin.ts';
import { ExchangeServicePrincipals } from './exchange/service-principals.ts';

export interface AuthMethods extends ExchangeAuthMethods {
  credentials: AppCredentialStore;
}

export function createAuthMethods(fixture: AuthMethodsFixture, directory: TenantDirectory): AuthMethods {
  return {
    basicAuth: new BasicAuthPolicy(fixture.basicAuth),
    credentials: new AppCredentialStore(fixture.appCredentials),
    principals: new ExchangeServicePrincipals(fixture.exchange),
    checkPassword: (upn, password) => {
      const rec = directory.record(upn);
      return !!rec && passwordMatches(rec.password, password);
    },
  };
}
