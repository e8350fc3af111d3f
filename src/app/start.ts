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
  entraPort: number;
  smtpPort: number;
  clock: 'real' | 'virtual';
  cloud: 'twin' | 'microsoft';
  tenant?: string;
  clientId?: string;
  seed?: number;
  /** Serve the driver protocol (src/driver) for this printer on this port. */
  driverPort?: number;
}

export function startCommand(): Command {
  return new Command('start')
    .description('run one simulated printer: device + Web Image Monitor panel + the Microsoft twin (default)')
    .option('--state-dir <dir>', 'NVRAM, spool, twin certificates and logs', process.env.MFP_STATE_DIR ?? './var')
    .option('--host <host>', 'address the panel and the twin listen on', process.env.MFP_HOST ?? '127.0.0.1')
    .option('--port <port>', 'panel port', port, Number(process.env.MFP_PORT ?? DEFAULT_PANEL_PORT))
    .option('--entra-port <port>', 'Entra twin HTTPS port (0 = any free port)', port, Number(process.env.MFP_ENTRA_PORT ?? 8443))
    .option('--smtp-port <port>', 'Exchange twin SMTP port (0 = any free port)', port, Number(process.env.MFP_SMTP_PORT ?? 2587))
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
    throw new InvalidArgumentError('--cloud microsoft needs --tenant <tenant id or domain> and --client-id <app id>');
  }
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
      ? { mode: 'microsoft', tenant: o.tenant!, clientId: o.clientId! }
      : { mode: 'twin', host: o.host, entraPort: o.entraPort, smtpPort: o.smtpPort, seed: o.seed, ...(o.tenant ? { tenantFile: path.resolve(o.tenant) } : {}) };

  const sim = await startSimulator({ stateDir, clock: o.clock, cloud, logger });
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
      '  In the panel: SMTP settings -> "OAuth2.0 (for Exchange Online)", Auth. Email Address and Auth. Username =',
      `  ${t.testUser.upn}, then OAuth 2.0 Authentication -> Start Authentication.`,
    );
  } else {
    lines.push(`  Microsoft:          ${o.tenant} / app ${o.clientId} (login.microsoftonline.com, smtp.office365.com:587)`);
  }
  if (driver) lines.push(`  Driver protocol:    ${driver.url}/driver/v1/hello   (all capabilities; clock ${o.clock})`);
  lines.push(`  Log:                ${logFile}`);
  console.log(lines.join('\n'));

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.log('stopping…');
  await driver?.close();
  await panel.close();
  await sim.close();
  logger.flush();
}
