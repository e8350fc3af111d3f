/**
 * Assembly of the Microsoft twin: the Entra ID half (HTTPS: OAuth endpoints, sign-in pages, control API) and the
 * Exchange Online half (SMTP submission), sharing one certificate, directory, token trust, fault plan and clock.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../time/clock.ts';
import { seededRandom } from '../util/random.ts';
import type { FaultPlan, MailStore, TokenTrust } from './contracts.ts';
import { createAuthMethods } from './auth-methods.ts';
import { AuthMethodsControl } from './control/auth-methods-control.ts';
import { TwinControl } from './control/control.ts';
import { ClientCredentialsGrant } from './entra/client-credentials.ts';
import { TenantDirectory } from './directory.ts';
import { ensureCertificates } from './entra/certs.ts';
import { PhoneOutbox } from './entra/phone.ts';
import { startEntraServer, type EntraServer } from './entra/server.ts';
import { EntraService } from './entra/service.ts';
import { WireJournal, DEFAULT_JOURNAL_CAPACITY } from './journal/wire-journal.ts';
import { ServedNames } from './entra/served-names.ts';
import { ensureSigningKey } from './entra/signing-key.ts';
import { TokenIssuer } from './entra/tokens.ts';
import { startExchangeTwin, type ExchangeTwin } from './exchange/index.ts';
import { createFaultPlan } from './faults.ts';
import { loadTenantFixture, DEFAULT_TENANT_FILE } from './tenant-fixture.ts';

export interface StartTwinOptions {
  host?: string;
  /** 0 (default) = ephemeral. */
  entraPort?: number;
  smtpPort?: number;
  /** Wall-time pause before each SMTP greeting (default 100 ms, as smtp-server and a real server); 0 for soaks. */
  smtpGreetingDelayMs?: number;
  stateDir: string;
  tenantFile?: string;
  clock: Clock;
  /** Names besides loopback and Microsoft's that the certificate carries and the Host header may use. */
  extraNames?: string[];
  /** Wire journal ring size (entries; default 10 000). */
  journalCapacity?: number;
  /** Seeds token lifetimes; random when absent. */
  seed?: number;
  logger?: Logger;
}

export interface Twin {
  /** https://host:port/<tenantId>, what a client uses as its MSAL authority. */
  authority: string;
  tenantId: string;
  /** https://host:port */
  entraUrl: string;
  /** https://host:port/devicelogin */
  verificationUri: string;
  caPath: string;
  caPem: string;
  smtp: { host: string; port: number };
  /** The first app registration of the fixture (the printer's "Scan to Email"). */
  clientId: string;
  /** The fixture's first user, for CLIs and demos (test data). */
  testUser: { upn: string; password: string };
  control: TwinControl;
  journal: WireJournal;
  /** Every name the certificate carries and the Host header may use. */
  servedNames: readonly string[];
  faults: FaultPlan;
  clock: Clock;
  seed: number;
  close(): Promise<void>;
}

export async function startTwin(opts: StartTwinOptions): Promise<Twin> {
  const host = opts.host ?? '127.0.0.1';
  const clock = opts.clock;
  const seed = opts.seed ?? randomInt(0, 2 ** 31 - 1);
  const fixture = await loadTenantFixture(opts.tenantFile ?? DEFAULT_TENANT_FILE);
  const journal = new WireJournal(() => clock.now(), opts.journalCapacity ?? DEFAULT_JOURNAL_CAPACITY);
  const served = new ServedNames(opts.extraNames ?? []);
  const certs = await ensureCertificates(opts.stateDir, new Date(), { dns: served.dnsNames, ips: served.ipNames });
  const key = await ensureSigningKey(opts.stateDir);
  const log = opts.logger?.child({ component: 'cloud-twin' });

  const directory = new TenantDirectory(fixture, () => clock.now());
  let entraUrl = '';
  const issuer = new TokenIssuer({ tenantId: fixture.tenantId, origin: () => served.current(entraUrl), key, rng: seededRandom(seed), now: () => clock.now() });
  const authMethods = createAuthMethods(fixture.authMethods, directory);
  const clientCredentials = new ClientCredentialsGrant({
    directory,
    credentials: authMethods.credentials,
    key,
    v1Issuer: () => issuer.v1Issuer,
    origin: () => served.current(entraUrl),
    now: () => clock.now(),
  });
  const service = new EntraService(directory, issuer, clock, () => `${served.current(entraUrl)}/devicelogin`, clientCredentials);
  const phone = new PhoneOutbox();
  const faults = createFaultPlan();
  let exchange: ExchangeTwin | null = null;
  const control = new TwinControl({
    service,
    phone,
    faults,
    clock,
    entraUrl: '',
    smtp: () => ({ host, port: exchange?.port ?? 0 }),
    mailStore: (): MailStore | null => exchange?.mailStore ?? null,
    authMethods: new AuthMethodsControl(authMethods, directory, clock),
    journal,
  });

  const entra: EntraServer = await startEntraServer({
    host,
    port: opts.entraPort ?? 0,
    tls: { key: certs.serverKeyPem, cert: certs.serverCertPem },
    service,
    phone,
    control,
    faults,
    key,
    served,
    journal,
    logger: log,
  });
  entraUrl = entra.url;
  control.setEntraUrl(entraUrl);

  const servedOrigins = () => {
    const port = new URL(entraUrl).port;
    return served.names.map((n) => `https://${n.includes(':') ? `[${n}]` : n}${port ? `:${port}` : ''}`);
  };
  const trust: TokenTrust = {
    jwks: () => ({ keys: [key.publicJwk] }),
    // v2 tokens name the origin the client used: any served name on the twin's port.
    issuers: () => [issuer.v1Issuer, ...servedOrigins().map((o) => `${o}/${fixture.tenantId}/v2.0`)],
  };
  try {
    exchange = await startExchangeTwin({
      host,
      port: opts.smtpPort ?? 0,
      tls: { key: certs.serverKeyPem, cert: certs.serverCertPem },
      clock,
      directory,
      trust,
      faults,
      logger: log,
      smtpGreetingDelayMs: opts.smtpGreetingDelayMs,
      journal,
      authMethods,
    });
  } catch (e) {
    await entra.close();
    throw e;
  }
  log?.info({ entraUrl, smtpPort: exchange.port, tenantId: fixture.tenantId }, 'twin listening');

  const first = fixture.users[0]!;
  const ex = exchange;
  return {
    authority: `${entraUrl}/${fixture.tenantId}`,
    tenantId: fixture.tenantId,
    entraUrl,
    verificationUri: `${entraUrl}/devicelogin`,
    caPath: certs.caPath,
    caPem: certs.caPem,
    smtp: { host: ex.host, port: ex.port },
    clientId: fixture.apps[0]!.clientId,
    testUser: { upn: first.upn, password: first.password },
    control,
    journal,
    servedNames: served.names,
    faults,
    clock,
    seed,
    close: async () => {
      await Promise.allSettled([ex.close(), entra.close()]);
    },
  };
}
