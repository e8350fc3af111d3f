/**
 * `mfp-sim cloud`: runs the Microsoft twin alone and prints what a device or tester needs to reach it.
 * Mounted by src/cli.ts.
 */
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import pino from 'pino';
import { RealClock, VirtualClock, type Clock } from '../time/clock.ts';
import { startTwin } from './twin.ts';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { CONFORMANCE_FORMATS } from './journal/conformance-format.ts';
import { untilSignal } from '../util/signals.ts';
import { benchBannerLines } from './bench-banner.ts';
import { CONTROL_TOKEN_ENV } from './exposure.ts';
import { isIP } from 'node:net';

function ipAddress(v: string, previous: string[] = []): string[] {
  if (isIP(v) === 0) throw new InvalidArgumentError('expected an IPv4 or IPv6 address');
  return [...previous, v];
}

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

/**
 * `mfp-sim cloud conformance`: asks a running twin's control API for its conformance report. Exit code 0 when every
 * rule passes (or does not apply), 1 when one fails, 2 when the twin cannot be asked.
 */
function conformanceCommand(): Command {
  return new Command('conformance')
    .description("Print the conformance report judged from a running twin's wire journal")
    .option('--url <url>', "the twin's Entra origin", 'https://127.0.0.1:8443')
    .option('--ca <file>', "the twin's CA certificate (the only trusted root)", '.mfp-sim/cloud/ca.pem')
    .option('--since <seq>', 'only journal entries after this seq', (v) => {
      const n = integer(v);
      if (n < 0) throw new InvalidArgumentError('expected a journal seq ≥ 0');
      return n;
    })
    .option('--client <client>', 'only this client: a peer address, a client_id or a UPN')
    .option('--token <token>', `the control API token of a twin bound beyond loopback (default: ${CONTROL_TOKEN_ENV})`)
    .addOption(new Option('--format <format>', 'output format').choices([...CONFORMANCE_FORMATS]).default('text'))
    .action(async (o: { url: string; ca: string; since?: number; client?: string; format: string; token?: string }) => {
      let url: URL;
      try {
        url = new URL('/_twin/conformance', o.url);
      } catch {
        throw new InvalidArgumentError(`not a URL: ${o.url}`);
      }
      url.searchParams.set('format', o.format);
      if (o.since !== undefined) url.searchParams.set('since', String(o.since));
      if (o.client !== undefined) url.searchParams.set('client', o.client);
      const ca = await readFile(resolve(o.ca), 'utf8');
      const agent = new Agent({ connect: { ca } });
      try {
        const token = o.token ?? process.env[CONTROL_TOKEN_ENV];
        const res = await request(url, { dispatcher: agent, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
        const text = await res.body.text();
        if (res.statusCode !== 200) {
          process.stderr.write(`twin answered ${res.statusCode}: ${text}\n`);
          process.exitCode = 2;
          return;
        }
        process.stdout.write(o.format === 'json' ? `${JSON.stringify(JSON.parse(text), null, 2)}\n` : text);
        const failed = o.format === 'json' ? !JSON.parse(text).passed : o.format === 'junit' ? /<failure\b/.test(text) : /^conformance: FAIL/.test(text);
        process.exitCode = failed ? 1 : 0;
      } finally {
        await agent.close();
      }
    });
}

export function cloudCommand(): Command {
  return new Command('cloud')
    .addCommand(conformanceCommand())
    .description('Run the offline Entra ID + Exchange Online twin alone')
    .option('--host <host>', 'address to listen on; beyond loopback (0.0.0.0, ::, a LAN address) only when asked, and then /_twin needs a bearer token', '127.0.0.1')
    .option('--entra-port <port>', 'HTTPS port of the Entra twin (0 = ephemeral)', port, 8443)
    .option('--smtp-port <port>', 'SMTP submission port of the Exchange twin (0 = ephemeral)', port, 2587)
    .option('--state-dir <dir>', 'where the CA, certificates and signing key live', '.mfp-sim/cloud')
    .option('--name <name...>', 'extra DNS names or IPs for the server certificate (besides login.microsoftonline.com, smtp.office365.com, localhost, loopback IPs)')
    .option('--tenant <file>', 'tenant fixture (default fixtures/tenants/contoso.json)')
    .addOption(new Option('--clock <kind>', 'real time, or a virtual clock moved by POST /_twin/clock/advance').choices(['real', 'virtual']).default('real'))
    .option('--seed <n>', 'seed for token lifetimes', integer)
    .option('--dns-port <port>', 'also answer Microsoft\'s names (and --name) over DNS, UDP and TCP, on this port of --host (0 = ephemeral)', port)
    .option('--dns-address <ip>', 'address(es) the DNS responder answers with (default: where the twin is reachable)', ipAddress)
    .action(async (o: { host: string; entraPort: number; smtpPort: number; stateDir: string; name?: string[]; tenant?: string; clock: string; seed?: number; dnsPort?: number; dnsAddress?: string[] }) => {
      if (o.dnsAddress && o.dnsPort === undefined) throw new Error('--dns-address needs --dns-port');
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
        ...(o.dnsPort !== undefined ? { dns: { port: o.dnsPort, addresses: o.dnsAddress } } : {}),
        ...(process.env[CONTROL_TOKEN_ENV] ? { controlToken: process.env[CONTROL_TOKEN_ENV] } : {}),
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
        `  Wire journal:      ${twin.entraUrl}/_twin/journal  (conformance: mfp-sim cloud conformance --url ${twin.entraUrl})`,
        `  Clock:             ${o.clock}, seed ${twin.seed}`,
        ...benchBannerLines(twin),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      await untilSignal();
      await twin.close();
    });
}
