/**
 * Assembly of the Microsoft twin: the Entra ID half (HTTPS: OAuth endpoints, sign-in pages, control API) and the
 * Exchange Online half (SMTP submission), sharing one certificate, directory, token trust, fault plan and clock.
 */
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../time/clock.ts';
import { seededRandom } from '../util/random.ts';
import type { SchemaCompilers } from '../util/schema-compilers.ts';
import type { FaultPlan, MailStore, TokenTrust } from './contracts.ts';
import { createAuthMethods } from './auth-methods.ts';
import { AuthMethodsControl } from './control/auth-methods-control.ts';
import { TwinControl } from './control/control.ts';
import { ClientCredentialsGrant } from './entra/client-credentials.ts';
import { TenantDirectory } from './directory.ts';
import { ensureCertificates, readCaKey, servedNames } from './entra/certs.ts';
import { TwinPki } from './pki.ts';
import { WireJournal, DEFAULT_JOURNAL_CAPACITY } from './journal/wire-journal.ts';
import { PhoneOutbox } from './entra/phone.ts';
import { startEntraServer, type EntraServer } from './entra/server.ts';
import { EntraService } from './entra/service.ts';
import { ensureSigningKey } from './entra/signing-key.ts';
import { TokenIssuer } from './entra/tokens.ts';
import { startExchangeTwin, type ExchangeTwin } from './exchange/index.ts';
import { createFaultPlan } from './faults.ts';
import { HoldRegistry } from './holds.ts';
import { TenantThrottle, THROTTLING_OFF, type ThrottlePolicy } from './throttling.ts';
import { startSntpServer, type SntpServer } from './sntp/server.ts';
import { persistSignIns, type PersistedSignIns } from './entra/persisted-sign-ins.ts';
import { loadTenantFixture, DEFAULT_TENANT_FILE } from './tenant-fixture.ts';
import { isIP } from 'node:net';
import { DnsConfigError, hostsFileLine, startDnsResponder, type DnsResponder } from './dns/responder.ts';
import { ControlToken, HostCheck, dialableHost, isLoopbackHost, reachableAddresses } from './exposure.ts';

export interface StartTwinOptions {
  host?: string;
  /** 0 (default) = ephemeral. */
  entraPort?: number;
  smtpPort?: number;
  /** UDP port of the SNTP server; 0 (default) = ephemeral. */
  ntpPort?: number;
  /** Wall-time pause before each SMTP greeting (default 100 ms, as smtp-server and a real server); 0 for soaks. */
  smtpGreetingDelayMs?: number;
  stateDir: string;
  /** Names (DNS or IP) the server certificate carries besides Microsoft's names, localhost and loopback IPs. */
  extraNames?: readonly string[];
  tenantFile?: string;
  clock: Clock;
  /** Wire journal ring size (entries; default 10 000). */
  journalCapacity?: number;
  /** Seeds token lifetimes; random when absent. */
  seed?: number;
  /**
   * Keep the sign-ins (refresh-token hashes, users' session counters) in this file, so that they outlive the process
   * (see entra/persisted-sign-ins.ts). Absent: in memory only.
   */
  signInsFile?: string;
  /**
   * The bench DNS responder (off when absent): answers Microsoft's names and the extra names with `addresses`
   * (default: the addresses the twin is reachable at) on `port` (UDP and TCP, 0 = ephemeral), on the twin's host.
   */
  dns?: { port: number; addresses?: readonly string[] };
  /**
   * Bound beyond loopback, the control API's bearer token: this one (32+ printable characters), else a generated one
   * (returned once in `controlToken`). Ignored on loopback, where /_twin needs no token.
   */
  controlToken?: string;
  /** Tenant throttling (throttling.ts); wins over the tenant fixture's `throttling`; absent in both: off. */
  throttling?: ThrottlePolicy;
  logger?: Logger;
  /** Route schemas compiled once for every twin and panel built with these (src/util/schema-compilers.ts). */
  schemaCompilers?: SchemaCompilers;
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
  /** The twin's roots over time: a root migration (also under /_twin/pki). */
  pki: TwinPki;
  /** The twin's time server (SNTP, UDP), answering with the shared clock; `setReachable(false)` is the fault. */
  ntp: SntpServer;
  /** The first app registration of the fixture (the printer's "Scan to Email"). */
  clientId: string;
  /** The fixture's first user, for CLIs and demos (test data). */
  testUser: { upn: string; password: string };
  control: TwinControl;
  journal: WireJournal;
  faults: FaultPlan;
  /** Holds at the network boundary (also under /_twin/holds). */
  holds: HoldRegistry;
  /** The tenant's throttling and the traffic it counted (also under /_twin/throttling). */
  throttle: TenantThrottle;
  clock: Clock;
  seed: number;
  /** Bound beyond loopback (explicit `host`): devices on the network reach it, /_twin needs `controlToken`. */
  exposed: boolean;
  /** The bearer token of /_twin when exposed (the twin itself keeps only its hash); null on loopback. */
  controlToken: string | null;
  /** Addresses a device reaches the twin at (the bound address; every interface address for a wildcard bind). */
  addresses: string[];
  /** `<address> login.microsoftonline.com smtp.office365.com …` for devices that take a hosts file. */
  hostsLine: string;
  /** The bench DNS responder, when asked for. */
  dns: DnsResponder | null;
  close(): Promise<void>;
}

function checkDnsOptions(dns: NonNullable<StartTwinOptions['dns']>): void {
  if (!Number.isInteger(dns.port) || dns.port < 0 || dns.port > 65535) throw new DnsConfigError(`not a DNS port: ${dns.port}`);
  for (const a of dns.addresses ?? []) if (isIP(a) === 0) throw new DnsConfigError(`not an IP address to answer with: ${JSON.stringify(a)}`);
}

export async function startTwin(opts: StartTwinOptions): Promise<Twin> {
  const host = opts.host ?? '127.0.0.1';
  // Beyond loopback only on explicit request; then /_twin is behind a bearer token.
  const exposed = !isLoopbackHost(host);
  const token = !exposed ? null : opts.controlToken !== undefined ? { token: opts.controlToken, guard: ControlToken.of(opts.controlToken) } : ControlToken.generate();
  const addresses = reachableAddresses(host);
  // Bad DNS settings are refused before anything listens.
  if (opts.dns) checkDnsOptions(opts.dns);
  const names = servedNames(opts.extraNames);
  const clock = opts.clock;
  const seed = opts.seed ?? randomInt(0, 2 ** 31 - 1);
  const fixture = await loadTenantFixture(opts.tenantFile ?? DEFAULT_TENANT_FILE);
  const journal = new WireJournal(() => clock.now(), opts.journalCapacity ?? DEFAULT_JOURNAL_CAPACITY);
  const certs = await ensureCertificates(opts.stateDir, { extraNames: opts.extraNames });
  const key = await ensureSigningKey(opts.stateDir);
  const log = opts.logger?.child({ component: 'cloud-twin' });

  const directory = new TenantDirectory(fixture, () => clock.now());
  let entraUrl = '';
  const issuer = new TokenIssuer({ tenantId: fixture.tenantId, origin: () => entraUrl, key, rng: seededRandom(seed), now: () => clock.now(), accessLifetimeS: fixture.tokens.accessTokenLifetimeSeconds });
  const authMethods = createAuthMethods(fixture.authMethods, directory);
  const clientCredentials = new ClientCredentialsGrant({
    directory,
    credentials: authMethods.credentials,
    key,
    v1Issuer: () => issuer.v1Issuer,
    origin: () => entraUrl,
    now: () => clock.now(),
  });
  const service = new EntraService(directory, issuer, clock, () => `${entraUrl}/devicelogin`, clientCredentials);
  // Its log stays open while the twin runs (let go by close(), and by a start that fails below).
  let signIns: PersistedSignIns | null = null;
  if (opts.signInsFile) {
    const kept = (signIns = persistSignIns(opts.signInsFile, service.refreshTokens, directory));
    if (kept.problem) log?.warn({ problem: kept.problem }, 'sign-ins of the last run not restored');
    else if (kept.restored > 0) log?.info({ refreshTokens: kept.restored }, 'sign-ins of the last run restored');
  }
  const phone = new PhoneOutbox();
  const faults = createFaultPlan();
  const holds = new HoldRegistry({ now: () => clock.now(), journal });
  const throttle = new TenantThrottle(() => clock.now(), opts.throttling ?? fixture.throttling ?? THROTTLING_OFF);
  let exchange: ExchangeTwin | null = null;
  const control = new TwinControl({
    service,
    phone,
    faults,
    clock,
    entraUrl: '',
    smtp: () => ({ host: dialableHost(host), port: exchange?.port ?? 0 }),
    mailStore: (): MailStore | null => exchange?.mailStore ?? null,
    authMethods: new AuthMethodsControl(authMethods, directory, clock),
    ntp: () => ntpServer,
    pki: () => pki,
    journal,
    holds,
    throttle,
  });
  let ntpServer: SntpServer | null = null;
  let pki: TwinPki | null = null;

  const entra: EntraServer = await startEntraServer({
    host,
    port: opts.entraPort ?? 0,
    tls: { key: certs.serverKeyPem, cert: certs.serverCertPem },
    service,
    phone,
    control,
    faults,
    key,
    servedNames: names.dns,
    journal,
    hostCheck: new HostCheck([...names.dns, ...names.ips, host, ...addresses, ...(exposed ? reachableAddresses('::') : [])]),
    controlToken: token?.guard ?? null,
    holds,
    throttle,
    logger: log,
    schemaCompilers: opts.schemaCompilers,
  });
  entraUrl = entra.url;
  control.setEntraUrl(entraUrl);

  const trust: TokenTrust = {
    jwks: () => ({ keys: [key.publicJwk] }),
    issuers: () => [issuer.v1Issuer, issuer.v2Issuer],
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
      idleTimeoutMs: fixture.exchange.connectionInactivityTimeoutSeconds * 1000,
      journal,
      authMethods,
      holds,
      throttle,
    });
  } catch (e) {
    signIns?.close();
    await entra.close();
    throw e;
  }
  const ex0 = exchange;
  pki = new TwinPki({
    clock,
    root: { cert: certs.caPem, key: await readCaKey(opts.stateDir) },
    names,
    apply: (tls) => {
      entra.setCertificate(tls);
      ex0.setCertificate(tls);
    },
  });
  let ntp: SntpServer;
  try {
    ntp = ntpServer = await startSntpServer({ clock, host, port: opts.ntpPort ?? 0, logger: log });
  } catch (e) {
    signIns?.close();
    await Promise.allSettled([exchange.close(), entra.close()]);
    throw e;
  }
  // DNS names only: localhost stays the machine's own, and a bench DNS never answers it.
  const dnsNames = names.dns.filter((n) => n !== 'localhost');
  let dns: DnsResponder | null = null;
  if (opts.dns) {
    try {
      dns = await startDnsResponder({
        host: host === 'localhost' ? '127.0.0.1' : host,
        port: opts.dns.port,
        names: dnsNames,
        addresses: opts.dns.addresses?.length ? opts.dns.addresses : addresses,
        onQuery: (q) => log?.debug({ dns: q }, 'dns query'),
      });
    } catch (e) {
      signIns?.close();
      await Promise.allSettled([exchange.close(), entra.close(), ntp.close()]);
      throw e;
    }
  }
  log?.info({ entraUrl, smtpPort: exchange.port, ntpPort: ntp.port, dnsPort: dns?.port, exposed, tenantId: fixture.tenantId }, 'twin listening');

  const first = fixture.users[0]!;
  const ex = exchange;
  return {
    authority: `${entraUrl}/${fixture.tenantId}`,
    tenantId: fixture.tenantId,
    entraUrl,
    verificationUri: `${entraUrl}/devicelogin`,
    caPath: certs.caPath,
    caPem: certs.caPem,
    smtp: { host: dialableHost(ex.host), port: ex.port },
    ntp,
    pki,
    clientId: fixture.apps[0]!.clientId,
    testUser: { upn: first.upn, password: first.password },
    control,
    journal,
    faults,
    holds,
    throttle,
    clock,
    seed,
    exposed,
    controlToken: token?.token ?? null,
    addresses,
    hostsLine: hostsFileLine(addresses[0]!, dnsNames),
    dns,
    close: async () => {
      // Held requests and long polls are let go first, so that no server waits on a request the tester forgot.
      holds.close();
      pki?.close();
      await Promise.allSettled([ex.close(), entra.close(), ntp.close(), ...(dns ? [dns.close()] : [])]);
      signIns?.close(); // after the servers: a token request still in flight may issue one more
    },
  };
}
