/**
 * `mfp-sim fleet --devices N [--state-dir DIR] [--workers K] [--seed S] [--serve [--port P]]`: N printers through
 * the scripted day (day.ts) against embedded twins, a progress bar on a terminal, a summary at the end.
 * `--shard i/N` (or Kubernetes' JOB_COMPLETION_INDEX with `--shards N` / MFP_FLEET_SHARDS) runs only shard i of the
 * fleet; `--report FILE` writes the JSON report; `mfp-sim fleet merge REPORT…` sums the shards' reports (merge.ts).
 * Mounted by src/cli.ts. Exit code 1 when the fleet did not end as planned (a device not authorized, a mail missing),
 * or on bad input.
 */
import { writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { FleetBoard } from './board.ts';
import { progressUnitsPerDevice } from './day.ts';
import { measureMsalBytes } from './memory.ts';
import { startFleetPage } from './page.ts';
import { DEFAULT_FLEET_OPTIONS, defaultFleetWorkers, prepareStateDir, runFleet, shardRange } from './run.ts';
import { formatSummary } from './summary.ts';
import { dayLimit, measureBareMails } from './dayLimit.ts';
import { fleetPaths } from './slice.ts';
import { FleetMergeError, mergeShardFiles } from './merge.ts';
import { stormCommand } from './storm-cli.ts';
import type { FleetReport } from './types.ts';
import type { BareLimit } from './bareMailLimit.ts';
import { untilSignal } from '../util/signals.ts';

export interface FleetCommandIo {
  /** Where the summary (or the JSON report) goes; stdout by default. */
  out?: (text: string) => void;
  /** Whether to draw a progress bar; default: when stderr is a terminal. */
  progressBar?: boolean;
  /** Called with the report (tests). */
  onReport?: (report: FleetReport) => void;
  /** Where JOB_COMPLETION_INDEX and MFP_FLEET_SHARDS are read from; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** Where errors go (bad input); stderr by default. */
  err?: (text: string) => void;
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
  shard?: string;
  shards?: number;
  report?: string;
  limit: boolean;
}

/**
 * The shard this process runs: `--shard i/N` (0-based, as Kubernetes counts), else JOB_COMPLETION_INDEX (an Indexed
 * Job's pod) with the shard count from `--shards` or MFP_FLEET_SHARDS (the Job's completions). Throws on bad input.
 */
export function resolveShard(o: { shard?: string; shards?: number; devices: number }, env: NodeJS.ProcessEnv): { index: number; count: number } | null {
  const whole = (name: string, v: string) => {
    if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError(`${name} must be a whole number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  let index: number;
  let count: number;
  if (o.shard !== undefined) {
    const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(o.shard);
    if (!m) throw new InvalidArgumentError(`--shard must be i/N (shard i of N, i from 0 to N-1), got ${JSON.stringify(o.shard)}`);
    [index, count] = [Number(m[1]), Number(m[2])];
    if (o.shards !== undefined && o.shards !== count) throw new InvalidArgumentError(`--shard ${o.shard} and --shards ${o.shards} disagree on the shard count`);
  } else if (env.JOB_COMPLETION_INDEX !== undefined && env.JOB_COMPLETION_INDEX !== '') {
    index = whole('JOB_COMPLETION_INDEX', env.JOB_COMPLETION_INDEX);
    const fromEnv = env.MFP_FLEET_SHARDS;
    if (o.shards === undefined && (fromEnv === undefined || fromEnv === '')) {
      throw new InvalidArgumentError('JOB_COMPLETION_INDEX is set but the shard count is not: pass --shards N or set MFP_FLEET_SHARDS (the Job\'s completions)');
    }
    count = o.shards ?? whole('MFP_FLEET_SHARDS', fromEnv!);
  } else if (o.shards !== undefined) {
    throw new InvalidArgumentError('--shards N needs the shard index: --shard i/N, or JOB_COMPLETION_INDEX from an Indexed Job');
  } else return null;
  if (count < 1 || count > o.devices) throw new InvalidArgumentError(`the shard count must be from 1 to the ${o.devices} devices, got ${count}`);
  if (index >= count) throw new InvalidArgumentError(`shard index ${index} is out of range for ${count} shards (0 to ${count - 1})`);
  return { index, count };
}

export function fleetCommand(io: FleetCommandIo = {}): Command {
  const out = io.out ?? ((s: string) => void process.stdout.write(`${s}\n`));
  const errOut = io.err ?? ((s: string) => void process.stderr.write(`${s}\n`));
  const merge = new Command('merge')
    .description('Sum the JSON reports of the shards of one fleet (fleet --shard i/N --report FILE) into one report')
    .argument('<reports...>', 'report files, one per shard 0…N-1')
    .option('--json', 'print the merged report as JSON instead of the summary')
    .option('--report <file>', 'also write the merged report as JSON to this file')
    .action(async (files: string[], _o: unknown, command: Command) => {
      // With globals: the root program is not positional, so fleet's own --json/--report (same meaning) may take them.
      const o = command.optsWithGlobals<{ json?: boolean; report?: string }>();
      let merged: FleetReport;
      try {
        merged = await mergeShardFiles(files);
      } catch (err) {
        if (!(err instanceof FleetMergeError)) throw err;
        errOut(`mfp-sim fleet merge: ${err.message}`);
        process.exitCode = 1;
        return;
      }
      if (o.report) await writeFile(o.report, `${JSON.stringify(merged, null, 2)}\n`);
      io.onReport?.(merged);
      out(o.json ? JSON.stringify(merged, null, 2) : formatSummary(merged));
      if (!merged.ok) process.exitCode = 1;
    });
  return new Command('fleet')
    .description('Run N simulated printers (own NVRAM, identity and mailbox each) through a scripted day against embedded twins')
    // Checked in the action, not by commander: a required option here would also be demanded of `fleet merge`.
    .option('--devices <n>', 'number of printers (required; with --shard, of the whole fleet)', integer(1, 99999))
    .option('--state-dir <dir>', 'empty directory for every printer\'s NVRAM and spool (default: a new temporary directory)')
    .option('--workers <k>', 'worker threads; each runs a slice of the printers with its own twin and virtual clock', integer(1, 64), defaultFleetWorkers())
    .option('--seed <s>', 'seed of the twins\' token lifetimes', integer(0), DEFAULT_FLEET_OPTIONS.seed)
    .option('--mails <m>', 'mails each printer sends through the day (one an hour)', integer(0, 12), DEFAULT_FLEET_OPTIONS.mailsPerDay)
    .option('--concurrency <c>', 'printers a worker drives at once within a phase', integer(1, 1000), DEFAULT_FLEET_OPTIONS.concurrency)
    .option('--serve', 'serve the fleet page (GET /fleet) during the run and keep it up afterwards until Ctrl+C')
    .option('--port <p>', 'port of the fleet page (0 = ephemeral)', integer(0, 65535), 8090)
    .option('--json', 'print the report as JSON instead of the summary')
    .option('--shard <i/N>', 'run only shard i of N (0-based; default: JOB_COMPLETION_INDEX of a Kubernetes Indexed Job, with --shards)')
    .option('--shards <n>', 'shard count when the index comes from JOB_COMPLETION_INDEX (default: MFP_FLEET_SHARDS)', integer(1, 99999))
    .option('--report <file>', 'also write the JSON report to this file (what `fleet merge` reads)')
    .option('--no-limit', 'do not time bare submissions before and after the run (the day phase\'s limit, ~2 s each)')
    .addCommand(merge)
    .addCommand(stormCommand({ out }))
    .action(async (o: FleetCliOptions, command: Command) => {
      if (o.devices === undefined) command.error("error: required option '--devices <n>' not specified");
      let shard: { index: number; count: number } | null;
      try {
        shard = resolveShard(o, io.env ?? process.env);
      } catch (err) {
        errOut(`mfp-sim fleet: ${(err as Error).message}`);
        process.exitCode = 1;
        return;
      }
      const stateDir = path.resolve(o.stateDir ?? (await mkdtemp(path.join(os.tmpdir(), 'mfp-fleet-'))));
      const options = { devices: o.devices, shard, stateDir, workers: o.workers, seed: o.seed, mailsPerDay: o.mails, concurrency: o.concurrency };
      const runDevices = shardRange(o.devices, shard).devices;
      const total = runDevices * progressUnitsPerDevice(o.mails);
      const board = new FleetBoard(runDevices, total);
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
      // The bare per-mail cost on this machine, before the run and after it: the day phase's limit (dayLimit.ts).
      const cloudDir = fleetPaths(stateDir).cloudDir;
      let bareBefore: BareLimit | null = null;
      let report: FleetReport;
      try {
        if (o.limit) {
          // Prepared first (runFleet's own call then finds it ready): an earlier fleet's directory is refused before
          // anything is timed or written in it.
          await prepareStateDir(stateDir);
          bareBefore = await measureBareMails(cloudDir);
        }
        report = await runFleet(options, {
          onProgress: (units) => {
            board.progress(units);
            bar?.increment(units);
          },
          onPhase: (phase, rows, at, traffic) => {
            board.phaseDone(phase, rows, at, traffic);
            bar?.update({ phase });
          },
        });
      } catch (err) {
        board.failed();
        bar?.stop();
        await page?.close();
        throw err;
      }
      if (bareBefore) report = { ...report, limit: dayLimit(report, { before: bareBefore, after: await measureBareMails(cloudDir) }) };
      board.finished(report);
      bar?.update(total, { phase: 'done' });
      bar?.stop();
      io.onReport?.(report);
      if (o.report) await writeFile(o.report, `${JSON.stringify({ ...report, msal }, null, 2)}\n`);
      out(o.json ? JSON.stringify({ ...report, msal }, null, 2) : formatSummary(report, { msal }));
      if (!report.ok) process.exitCode = 1;

      if (page) {
        process.stderr.write(`Fleet page stays up at ${page.url} (Ctrl+C to stop)\n`);
        await (io.serveUntil ? io.serveUntil(page.url) : untilSignal());
        await page.close();
      }
    });
}
