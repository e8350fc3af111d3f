/**
 * `mfp-sim fleet storm --devices N --event outage|revoke [--jitter F | --compare]`: a site's printers against one
 * twin through a scripted site event with the tenant throttled (storm.ts); prints the storm report, `--report FILE`
 * writes it as JSON, `--page FILE` an HTML page with the requests/s chart. `--compare` runs the event twice, without
 * and with jitter, on the same seed. Exit code 1 when a run did not recover (a printer unhealthy or a mail lost).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { runStorm, stormChartSvg, STORM_EVENTS, type StormEvent, type StormReport } from './storm.ts';

/** The tenant's limits during a storm unless told otherwise (a small site's share; see docs/scaling.md, "Storms"). */
export const DEFAULT_STORM_THROTTLING = { tokenRequestsPerSecondPerTenant: 20, tokenRequestsPerSecondPerApp: 10, smtpSubmissionsPerMinutePerMailbox: 30 };

const integer = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
  return n;
};
const fraction = (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
};
/** A limit: a positive integer, or "off". */
const limit = (v: string) => (v === 'off' ? null : integer(1, 1_000_000)(v));

export interface StormCliIo {
  out?: (text: string) => void;
  onReports?: (reports: StormReport[]) => void;
}

export function stormCommand(io: StormCliIo = {}): Command {
  const out = io.out ?? ((s: string) => void process.stdout.write(`${s}\n`));
  return new Command('storm')
    .description('A whole site against one throttled tenant through a site event: peak requests/s, throttled requests, time to 99% healthy, mails delayed')
    .option('--devices <n>', 'printers on the site (required)', integer(1, 99999))
    .requiredOption('--event <event>', `the site event: ${STORM_EVENTS.join(' | ')}`, (v: string) => {
      if (!(STORM_EVENTS as readonly string[]).includes(v)) throw new InvalidArgumentError(`expected one of ${STORM_EVENTS.join(', ')}`);
      return v as StormEvent;
    })
    .option('--jitter <fraction>', 'retry jitter of every printer, 0…1 (default: none)', fraction)
    .option('--compare', 'run twice, without jitter and with --jitter (default 0.5), and report both')
    .option('--token-rps-tenant <n|off>', 'token requests per second for the tenant', limit, DEFAULT_STORM_THROTTLING.tokenRequestsPerSecondPerTenant)
    .option('--token-rps-app <n|off>', 'token requests per second per app (client_id)', limit, DEFAULT_STORM_THROTTLING.tokenRequestsPerSecondPerApp)
    .option('--smtp-per-minute <n|off>', 'SMTP submissions per mailbox per minute', limit, DEFAULT_STORM_THROTTLING.smtpSubmissionsPerMinutePerMailbox)
    .option('--watch-minutes <m>', 'virtual minutes watched after the event', integer(1, 1440), 30)
    .option('--seed <s>', 'seed of the twin and of the printers\' jitter', integer(0, 2 ** 31 - 1), 1)
    .option('--concurrency <c>', 'printers driven at once (wall time)', integer(1, 1000), 16)
    .option('--state-dir <dir>', 'empty directory (default: a new temporary one per run)')
    .option('--report <file>', 'write the report(s) as JSON')
    .option('--page <file>', 'write an HTML page with the chart and the figures')
    .option('--json', 'print the report(s) as JSON')
    .action(async (_o: unknown, command: Command) => {
      const o = ownOrParent(command) as {
      devices: number; event: StormEvent; jitter?: number; compare?: boolean; tokenRpsTenant: number | null; tokenRpsApp: number | null;
      smtpPerMinute: number | null; watchMinutes: number; seed: number; concurrency: number; stateDir?: string; report?: string; page?: string; json?: boolean;
      };
      if (o.devices === undefined) command.error("error: required option '--devices <n>' not specified");
      const arms: Array<number | null> = o.compare ? [null, o.jitter ?? 0.5] : [o.jitter ?? null];
      const reports: StormReport[] = [];
      for (const [i, jitter] of arms.entries()) {
        const stateDir = o.stateDir ? (arms.length > 1 ? path.join(o.stateDir, `arm-${i}`) : o.stateDir) : await mkdtemp(path.join(os.tmpdir(), 'mfp-storm-'));
        reports.push(
          await runStorm({
            devices: o.devices,
            event: o.event,
            jitter,
            stateDir,
            seed: o.seed,
            concurrency: o.concurrency,
            watchMs: o.watchMinutes * 60_000,
            throttling: { tokenRequestsPerSecondPerTenant: o.tokenRpsTenant, tokenRequestsPerSecondPerApp: o.tokenRpsApp, smtpSubmissionsPerMinutePerMailbox: o.smtpPerMinute },
          }),
        );
      }
      io.onReports?.(reports);
      const doc = { reports, chartSvg: stormChartSvg(reports.map((r) => ({ label: armLabel(r), perSecond: r.perSecond }))) };
      if (o.report) await writeFile(o.report, `${JSON.stringify(doc, null, 2)}\n`);
      if (o.page) await writeFile(o.page, stormPage(doc.reports, doc.chartSvg));
      out(o.json ? JSON.stringify(doc, null, 2) : reports.map(formatStorm).join('\n\n'));
      if (reports.some((r) => !r.recovered)) process.exitCode = 1;
    });
}

/**
 * Under `mfp-sim fleet`, options the parent also has (--devices, --seed, --concurrency, --state-dir, --report,
 * --json) may be parsed by the parent: a value typed on the command line wins, wherever commander put it; else ours.
 */
function ownOrParent(command: Command): Record<string, unknown> {
  const own = command.opts();
  const parent = command.parent;
  if (!parent) return own;
  const merged: Record<string, unknown> = { ...own };
  for (const [key, value] of Object.entries(parent.opts())) {
    if (parent.getOptionValueSource(key) === 'cli' && command.getOptionValueSource(key) !== 'cli') merged[key] = value;
  }
  return merged;
}

const armLabel = (r: StormReport) => (r.options.jitter === null ? 'no jitter' : `jitter ${r.options.jitter}`);

export function formatStorm(r: StormReport): string {
  const t = r.options.throttling;
  const lim = (v: number | null) => (v === null ? 'off' : String(v));
  return [
    `storm: ${r.options.event} at ${r.eventAt}, ${r.options.devices} printers, ${armLabel(r)}`,
    `  throttling: ${lim(t.tokenRequestsPerSecondPerTenant)} token req/s per tenant, ${lim(t.tokenRequestsPerSecondPerApp)} per app, ${lim(t.smtpSubmissionsPerMinutePerMailbox)} submissions/min per mailbox`,
    `  peak requests/s at the twin: ${r.peakRequestsPerSecond} (after the first second: ${r.peakRetryRequestsPerSecond})`,
    `  requests: ${r.tokenRequests} token, ${r.smtpSubmissions} SMTP; throttled: ${r.throttled}`,
    `  99% healthy after: ${r.msTo99PercentHealthy === null ? 'never (within the watch)' : `${(r.msTo99PercentHealthy / 1000).toFixed(1)} s`} of virtual time; healthy ${r.healthy}/${r.options.devices}`,
    `  mails: ${r.mailsSent}/${r.mailsExpected} sent, ${r.mailsDelayed} delayed, ${r.mailsLost} not delivered (not in the mailbox)`,
    `  ${r.recovered ? 'recovered' : 'NOT RECOVERED'} (wall ${(r.wallMs / 1000).toFixed(1)} s)`,
  ].join('\n');
}

function stormPage(reports: StormReport[], svg: string): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fleet storm</title></head><body><h1>Fleet storm</h1>${svg}${reports
    .map((r) => `<pre>${esc(formatStorm(r))}</pre>`)
    .join('')}</body></html>\n`;
}
