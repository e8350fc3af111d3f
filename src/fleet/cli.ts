/**
 * `mfp-sim fleet --devices N [--state-dir DIR] [--workers K] [--seed S] [--serve [--port P]]`: N printers through
 * the scripted day (day.ts) against embedded twins, a progress bar on a terminal, a summary at the end.
 * Mounted by src/cli.ts. Exit code 1 when the fleet did not end as planned (a device not authorized, a mail missing).
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { FleetBoard } from './board.ts';
import { progressUnitsPerDevice } from './day.ts';
import { measureMsalBytes } from './memory.ts';
import { startFleetPage } from './page.ts';
import { DEFAULT_FLEET_OPTIONS, defaultFleetWorkers, runFleet } from './run.ts';
import { formatSummary } from './summary.ts';
import type { FleetReport } from './types.ts';

export interface FleetCommandIo {
  /** Where the summary (or the JSON report) goes; stdout by default. */
  out?: (text: string) => void;
  /** Whether to draw a progress bar; default: when stderr is a terminal. */
  progressBar?: boolean;
  /** Called with the report (tests). */
  onReport?: (report: FleetReport) => void;
  /** With --serve: resolves when the page should close (default: SIGINT or SIGTERM). */
  serveUntil?: (url: string) => Promise<void>;
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

interface FleetCliOptions {
  devices: number;
  stateDir?: string;
  workers: number;
  seed: number;
  mails: number;
  concurrency: number;
  serve?: boolean;
  port: number;
  json?: boolean;
}

export function fleetCommand(io: FleetCommandIo = {}): Command {
  const out = io.out ?? ((s: string) => void process.stdout.write(`${s}\n`));
  return new Command('fleet')
    .description('Run N simulated printers (own NVRAM, identity and mailbox each) through a scripted day against embedded twins')
    .requiredOption('--devices <n>', 'number of printers', integer(1, 9999))
    .option('--state-dir <dir>', 'empty directory for every printer\'s NVRAM and spool (default: a new temporary directory)')
    .option('--workers <k>', 'worker threads; each runs a slice of the printers with its own twin and virtual clock', integer(1, 64), defaultFleetWorkers())
    .option('--seed <s>', 'seed of the twins\' token lifetimes', integer(0), DEFAULT_FLEET_OPTIONS.seed)
    .option('--mails <m>', 'mails each printer sends through the day (one an hour)', integer(0, 12), DEFAULT_FLEET_OPTIONS.mailsPerDay)
    .option('--concurrency <c>', 'printers a worker drives at once within a phase', integer(1, 1000), DEFAULT_FLEET_OPTIONS.concurrency)
    .option('--serve', 'serve the fleet page (GET /fleet) during the run and keep it up afterwards until Ctrl+C')
    .option('--port <p>', 'port of the fleet page (0 = ephemeral)', integer(0, 65535), 8090)
    .option('--json', 'print the report as JSON instead of the summary')
    .action(async (o: FleetCliOptions) => {
      const stateDir = path.resolve(o.stateDir ?? (await mkdtemp(path.join(os.tmpdir(), 'mfp-fleet-'))));
      const options = { devices: o.devices, stateDir, workers: o.workers, seed: o.seed, mailsPerDay: o.mails, concurrency: o.concurrency };
      const total = o.devices * progressUnitsPerDevice(o.mails);
      const board = new FleetBoard(o.devices, total);
      const page = o.serve ? await startFleetPage(board, { port: o.port }) : null;
      if (page) process.stderr.write(`Fleet page: ${page.url}\n`);

      const drawBar = io.progressBar ?? Boolean(process.stderr.isTTY);
      const bar = drawBar
        ? new cliProgress.SingleBar(
            { format: 'fleet {bar} {percentage}% | {value}/{total} steps | {phase} | {duration_formatted}', stream: process.stderr, hideCursor: true },
            cliProgress.Presets.shades_classic,
          )
        : null;
      bar?.start(total, 0, { phase: 'boot' });

      // msal-node's heap per printer, measured here before the run (each printer holds one per boot).
      const msal = await measureMsalBytes(500);
      let report: FleetReport;
      try {
        report = await runFleet(options, {
          onProgress: (units) => {
            board.progress(units);
            bar?.increment(units);
          },
          onPhase: (phase, rows, at) => {
            board.phaseDone(phase, rows, at);
            bar?.update({ phase });
          },
        });
      } catch (err) {
        board.failed();
        bar?.stop();
        await page?.close();
        throw err;
      }
      board.finished(report);
      bar?.update(total, { phase: 'done' });
      bar?.stop();
      io.onReport?.(report);
      out(o.json ? JSON.stringify({ ...report, msal }, null, 2) : formatSummary(report, { msal }));
      if (!report.ok) process.exitCode = 1;

      if (page) {
        process.stderr.write(`Fleet page stays up at ${page.url} (Ctrl+C to stop)\n`);
        await (io.serveUntil ?? untilSignal)(page.url);
        await page.close();
      }
    });
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
