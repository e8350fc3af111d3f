/**
 * `mfp-sim start` (what `npm start` runs): one printer with its Web Image Monitor panel and, by default, the embedded
 * Microsoft twin, on a real clock. Everything is on loopback; the twin's control API can move a virtual clock.
 */
import path from 'node:path';
import { makePrivateDir, touchPrivateFile } from '../util/private-fs.ts';
import pino from 'pino';
import { Command, InvalidArgumentError, Option } from 'commander';
import { startSimulator } from '../sim/simulator.ts';
import { startPanel, DEFAULT_PANEL_PORT } from '../panel/index.ts';
import { REDACTED_PATHS } from '../log/logger.ts';
import type { CloudChoice } from '../sim/types.ts';
import { startDriverServer } from '../driver/server.ts';
import { localPrinter } from '../sim/printer.ts';
import { untilSignal } from '../util/signals.ts';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { parseDnsServer, parseResolveEntry, type ResolveEntry } from '../adapters/resolver.ts';
import type { MicrosoftBench } from '../adapters/config.ts';
import { benchBannerLines } from '../cloud/bench-banner.ts';
import { CONTROL_TOKEN_ENV } from '../cloud/exposure.ts';
import { bootWarnings } from '../device/boot.ts';

const port = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number from 0 to 65535');
  return n;
};

export interface StartOptions {
  stateDir: string;
  host: string;
  port: number;
  /** Twin: its HTTPS port (default 8443, MFP_ENTRA_PORT). Microsoft: login.microsoftonline.com's port (bench; default 443). */
  entraPort?: number;
  /** Twin: its SMTP port (default 2587, MFP_SMTP_PORT). Microsoft: smtp.office365.com's port (bench; default as typed, 587). */
  smtpPort?: number;
  clock: 'real' | 'virtual';
  cloud: 'twin' | 'microsoft';
  tenant?: string;
  clientId?: string;
  seed?: number;
  /** Serve the driver protocol (src/driver) for this printer on this port. */
  driverPort?: number;
  /** Twin: its bench DNS responder's port, and the addresses it answers with. */
  dnsPort?: number;
  dnsAddress?: string[];
  /** Microsoft (bench): fixed name → address entries, a DNS server, an extra CA file. */
  resolve?: ResolveEntry[];
  dnsServer?: string;
  ca?: string;
}

/** Options that do not fit together (found after parsing; commander prints only its own parse errors). */
export class StartOptionError extends Error {
  override name = 'StartOptionError';
}

const collectResolve = (v: string, previous: ResolveEntry[] = []) => {
  try {
    return [...previous, parseResolveEntry(v)];
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};
const dnsServer = (v: string) => {
  try {
    parseDnsServer(v);
    return v;
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};
const ipAddress = (v: string, previous: string[] = []) => {
  if (isIP(v) === 0) throw new InvalidArgumentError('must be an IPv4 or IPv6 address');
  return [...previous, v];
};

/** The PEM of --ca: one or more certificates, each must parse. */
function readCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(path.resolve(file), 'utf8');
  } catch (e) {
    throw new StartOptionError(`--ca ${file}: ${(e as Error).message}`);
  }
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!certs.length) throw new StartOptionError(`--ca ${file}: no PEM certificate in it`);
  for (const c of certs) {
    try {
      new X509Certificate(c);
    } catch (e) {
      throw new StartOptionError(`--ca ${file}: not a certificate (${(e as Error).message})`);
    }
  }
  return certs.join('\n');
}

export function startCommand(): Command {
  return new Command('start')
    .description('run one simulated printer: device + Web Image Monitor panel + the Microsoft twin (default)')
    .option('--state-dir <dir>', 'NVRAM, spool, twin certificates and logs', process.env.MFP_STATE_DIR ?? './var')
    .option('--host <host>', 'address the panel and the twin listen on; beyond loopback only when asked (then /_twin needs a bearer token)', process.env.MFP_HOST ?? '127.0.0.1')
    .option('--port <port>', 'panel port', port, Number(process.env.MFP_PORT ?? DEFAULT_PANEL_PORT))
    .option('--entra-port <port>', 'twin: Entra HTTPS port (0 = any free port; default 8443 or MFP_ENTRA_PORT); microsoft (bench): port of login.microsoftonline.com (default 443)', port)
    .option('--smtp-port <port>', 'twin: Exchange SMTP port (0 = any free port; default 2587 or MFP_SMTP_PORT); microsoft (bench): port of smtp.office365.com (default: as typed in the panel, 587)', port)
    .option('--dns-port <port>', "twin: also answer Microsoft's names over DNS (UDP and TCP) on this port of --host (0 = any free port)", port)
    .option('--dns-address <ip>', 'twin: address(es) the DNS responder answers with (default: where the twin is reachable)', ipAddress)
    .option('--resolve <name:address>', 'microsoft (bench): resolve this name to this address, e.g. login.microsoftonline.com:127.0.0.1 (repeatable)', collectResolve)
    .option('--dns-server <address[:port]>', 'microsoft (bench): ask this DNS server for names without a --resolve entry, e.g. 127.0.0.1:5353', dnsServer)
    .option('--ca <file>', "microsoft (bench): PEM certificate(s) the device trusts besides the public roots (the twin's ca.pem)")
    .addOption(new Option('--clock <kind>', 'real time, or a virtual clock moved by POST /_twin/clock/advance').choices(['real', 'virtual']).default('real'))
    .addOption(new Option('--cloud <cloud>', 'the embedded twin, or real Microsoft').choices(['twin', 'microsoft']).default('twin'))
    .option('--tenant <tenant>', 'twin: tenant fixture file (default fixtures/tenants/contoso.json); microsoft: tenant id or domain')
    .option('--client-id <id>', 'microsoft: the app registration (public client) id')
    .option('--driver-port <port>', 'also serve the driver protocol for this printer (docs/driver-protocol.md)', port)
    .option('--seed <n>', 'twin: seed for token lifetimes', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new InvalidArgumentError('must be an integer');
      return n;
    })
    .action(async (o: StartOptions) => {
      await runStart(o);
    });
}

export async function runStart(o: StartOptions): Promise<void> {
  if (o.cloud === 'microsoft' && (!o.tenant || !o.clientId)) {
    throw new StartOptionError('--cloud microsoft needs --tenant <tenant id or domain> and --client-id <app id>');
  }
  const onlyFor = (mode: 'twin' | 'microsoft', names: [string, unknown][]) => {
    const given = names.filter(([, v]) => v !== undefined).map(([n]) => n);
    if (o.cloud !== mode && given.length) throw new StartOptionError(`${given.join(', ')}: only with --cloud ${mode}`);
  };
  onlyFor('twin', [['--dns-port', o.dnsPort], ['--dns-address', o.dnsAddress]]);
  onlyFor('microsoft', [['--resolve', o.resolve], ['--dns-server', o.dnsServer], ['--ca', o.ca]]);
  if (o.dnsAddress && o.dnsPort === undefined) throw new StartOptionError('--dns-address needs --dns-port');
  const bench: MicrosoftBench = {
    ...(o.resolve ? { resolve: o.resolve } : {}),
    ...(o.dnsServer ? { dnsServer: o.dnsServer } : {}),
    ...(o.ca ? { caPem: readCa(o.ca) } : {}),
    ...(o.entraPort !== undefined ? { entraPort: o.entraPort } : {}),
    ...(o.smtpPort !== undefined ? { smtpPort: o.smtpPort } : {}),
  };
  const envPort = (name: string, fallback: number) => {
    const v = process.env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new StartOptionError(`${name} must be a port number from 0 to 65535`);
    return n;
  };
  const stateDir = path.resolve(o.stateDir);
  await makePrivateDir(stateDir);
  const logFile = path.join(stateDir, 'mfp-sim.log');
  await touchPrivateFile(logFile); // pino appends to it: created 0600 first
  const logger = pino(
    { name: 'mfp-sim', level: process.env.MFP_LOG_LEVEL ?? 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    pino.destination({ dest: logFile, mkdir: true, sync: false }),
  );
  const cloud: CloudChoice =
    o.cloud === 'microsoft'
      ? { mode: 'microsoft', tenant: o.tenant!, clientId: o.clientId!, ...(Object.keys(bench).length ? { bench } : {}) }
      : {
          mode: 'twin',
          host: o.host,
          entraPort: o.entraPort ?? envPort('MFP_ENTRA_PORT', 8443),
          smtpPort: o.smtpPort ?? envPort('MFP_SMTP_PORT', 2587),
          seed: o.seed,
          ...(o.tenant ? { tenantFile: path.resolve(o.tenant) } : {}),
          ...(o.dnsPort !== undefined ? { dns: { port: o.dnsPort, addresses: o.dnsAddress } } : {}),
          ...(process.env[CONTROL_TOKEN_ENV] ? { controlToken: process.env[CONTROL_TOKEN_ENV] } : {}),
        };

  // With a driver, a black-box harness may hold the boot's first call at the twin (a refresh after a long power cut):
  // the boot must not wait for it to finish.
  const sim = await startSimulator({ stateDir, clock: o.clock, cloud, logger, ...(o.driverPort !== undefined ? { settleOnBoot: false } : {}) });
  let panel;
  try {
    panel = await startPanel({ sim, host: o.host, port: o.port, logger });
  } catch (err) {
    await sim.close();
    throw err;
  }
  let driver;
  try {
    if (o.driverPort !== undefined) driver = await startDriverServer({ printer: localPrinter(sim), name: 'mfp-sim reference printer', host: o.host, port: o.driverPort });
  } catch (err) {
    await panel.close();
    await sim.close();
    throw err;
  }

  const lines = [
    'mfp-oauth-sim is running (Ctrl+C to stop)',
    `  Web Image Monitor:  ${panel.url}   (user: admin)`,
    panel.generatedPassword
      ? `  Admin password:     ${panel.generatedPassword}   (generated on first boot, shown once; stored only as a hash)`
      : `  Admin password:     ${process.env.MFP_ADMIN_PASSWORD ? 'from MFP_ADMIN_PASSWORD' : 'as set on first boot (reset: mfp-sim nvram reset)'}`,
    `  Device state:       ${sim.device.state()}   (NVRAM ${path.join(stateDir, 'nvram.json')})`,
  ];
  // What the boot found wrong (NVRAM findings, a reconciled spool): said at start-up, not only in the event log.
  for (const r of bootWarnings(sim.device.bootReport())) lines.push(`  WARNING (${r.code === 'spool-reconciled' ? 'spool' : 'NVRAM'}):    ${r.code}: ${r.detail}`);
  if (sim.twin) {
    const t = sim.twin;
    lines.push(
      `  Microsoft twin:     sign-in ${t.verificationUri}`,
      `                      authority ${t.authority}   SMTP ${t.smtp.host}:${t.smtp.port} (STARTTLS)`,
      `                      test user ${t.testUser.upn} / ${t.testUser.password}   (one-time codes: ${t.entraUrl}/_twin/phone/${t.testUser.upn})`,
      `                      CA ${t.caPath}   control API ${t.entraUrl}/_twin   clock ${o.clock}`,
      ...benchBannerLines(t, (label) => `                      ${label.replace(/:$/, '').toLowerCase()} `),
      '  In the panel: SMTP settings -> "OAuth2.0 (for Exchange Online)", Auth. Email Address and Auth. Username =',
      `  ${t.testUser.upn}, then OAuth 2.0 Authentication -> Start Authentication.`,
    );
  } else {
    lines.push(`  Microsoft:          ${o.tenant} / app ${o.clientId} (login.microsoftonline.com${bench.entraPort ? `:${bench.entraPort}` : ''}, smtp.office365.com:${bench.smtpPort ?? 587})`);
    const resolver = sim.internals.cloud.network.resolver;
    if (resolver) lines.push(`  Bench names:        resolved by ${resolver.description}`);
    if (o.ca) lines.push(`  Bench trust:        ${path.resolve(o.ca)} besides the public roots`);
  }
  if (driver) lines.push(`  Driver protocol:    ${driver.url}/driver/v1/hello   (all capabilities; clock ${o.clock})`);
  lines.push(`  Log:                ${logFile}`);
  console.log(lines.join('\n'));

  await untilSignal();
  console.log('stopping…');
  await driver?.close();
  await panel.close();
  await sim.close();
  logger.flush();
}
