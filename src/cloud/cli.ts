/**
 * `mfp-sim cloud`: runs the Microsoft twin alone and prints what a device or tester needs to reach it.
 * Mounted by src/cli.ts.
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { RealClock, VirtualClock, type Clock } from '../time/clock.ts';
import { startTwin } from './twin.ts';

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0-65535)');
  return n;
}

function integer(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}

export function cloudCommand(): Command {
  return new Command('cloud')
    .description('Run the offline Entra ID + Exchange Online twin alone')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--entra-port <port>', 'HTTPS port of the Entra twin (0 = ephemeral)', port, 8443)
    .option('--smtp-port <port>', 'SMTP submission port of the Exchange twin (0 = ephemeral)', port, 2587)
    .option('--state-dir <dir>', 'where the CA, certificates and signing key live', '.mfp-sim/cloud')
    .option('--name <name...>', 'extra DNS names or IPs for the server certificate (besides login.microsoftonline.com, smtp.office365.com, localhost, loopback IPs)')
    .option('--tenant <file>', 'tenant fixture (default fixtures/tenants/contoso.json)')
    .addOption(new Option('--clock <kind>', 'real time, or a virtual clock moved by POST /_twin/clock/advance').choices(['real', 'virtual']).default('real'))
    .option('--seed <n>', 'seed for token lifetimes', integer)
    .action(async (o: { host: string; entraPort: number; smtpPort: number; stateDir: string; name?: string[]; tenant?: string; clock: string; seed?: number }) => {
      const clock: Clock = o.clock === 'virtual' ? new VirtualClock(Date.now()) : new RealClock();
      const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
      const twin = await startTwin({
        host: o.host,
        entraPort: o.entraPort,
        smtpPort: o.smtpPort,
        stateDir: resolve(o.stateDir),
        extraNames: o.name,
        tenantFile: o.tenant ? resolve(o.tenant) : undefined,
        clock,
        seed: o.seed,
        logger,
      });
      const lines = [
        'Microsoft twin is running (Ctrl+C to stop)',
        `  Authority (MSAL):  ${twin.authority}`,
        `  Client id:         ${twin.clientId}`,
        `  Sign-in page:      ${twin.verificationUri}`,
        `  SMTP (STARTTLS):   ${twin.smtp.host}:${twin.smtp.port}`,
        `  CA certificate:    ${twin.caPath}`,
        `  Control API:       ${twin.entraUrl}/_twin  (OpenAPI: ${twin.entraUrl}/_twin/openapi.json)`,
        `  Test user:         ${twin.testUser.upn}  password: ${twin.testUser.password}  (fixture test data)`,
        `  One-time codes:    ${twin.entraUrl}/_twin/phone/${twin.testUser.upn}`,
        `  Clock:             ${o.clock}, seed ${twin.seed}`,
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await twin.close();
    });
}
