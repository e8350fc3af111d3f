/**
 * `mfp-sim scenario run FILE…`: validates every file first (a bad one: clear error, exit 2, nothing run), then runs
 * them one after another, printing each transition and a summary per file. Exit 1 when any scenario failed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { formatElapsed } from './duration.ts';
import { loadScenarioFile, ScenarioFormatError } from './load.ts';
import { createProgressView } from './progress.ts';
import { describeFailure, prepareTwinCredentials, resolveScenarioFiles, runScenario, type ScenarioResult } from './runner.ts';
import type { Scenario } from './schema.ts';

export interface ScenarioCliIo {
  out: Writable & { isTTY?: boolean };
  err: Writable;
}

export function scenarioCommand(io: ScenarioCliIo = { out: process.stdout, err: process.stderr }): Command {
  const scenario = new Command('scenario').description('Scripted stories on a virtual clock: sign-in, idle hours, nights off, resets, failures');
  scenario
    .command('run')
    .description('run scenario files (JSON, see docs/scenarios.md) against the embedded twin on a virtual clock')
    .argument('<files...>', 'scenario files')
    .option('--state-dir <dir>', 'keep each run\'s device and twin files under <dir>/<file name> (default: temporary, removed)')
    .option('-q, --quiet', 'no transition lines, only the summary')
    .option('--smtp-greeting-delay <ms>', 'wall-time pause before each SMTP greeting of the twin (smtp-server\'s early-talker check; 0 for long soaks)', parseGreetingDelay, 100)
    .action(async (files: string[], opts: RunFilesOptions) => {
      const code = await runFiles(files, opts, io);
      if (code !== 0) throw new CommanderError(code, code === 2 ? 'scenario.invalid' : 'scenario.failed', `scenario run exited with ${code}`);
    });
  return scenario;
}

export interface RunFilesOptions {
  stateDir?: string;
  quiet?: boolean;
  /** See RunOptions.smtpGreetingDelayMs. */
  smtpGreetingDelay?: number;
}

function parseGreetingDelay(value: string): number {
  const ms = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(ms)) throw new InvalidArgumentError('a whole number of milliseconds (0 or more)');
  return ms;
}

/** The command's work; returns the exit code (0 all passed, 1 a scenario failed, 2 a file is invalid). */
export async function runFiles(files: string[], opts: RunFilesOptions, io: ScenarioCliIo): Promise<number> {
  const scenarios: Scenario[] = [];
  let invalid = false;
  for (const file of files) {
    try {
      const s = await loadScenarioFile(file);
      await resolveScenarioFiles(s); // files it names (tenant, image, attachments) must exist too
      scenarios.push(s);
    } catch (err) {
      if (!(err instanceof ScenarioFormatError)) throw err;
      io.err.write(`${err.message}\n`);
      invalid = true;
    }
  }
  if (invalid) {
    io.err.write('nothing was run: fix the scenario file(s) above\n');
    return 2;
  }

  // The twin's CA and signing key are made once and shared by every run (making them takes a second or two).
  const credentials = await mkdtemp(path.join(tmpdir(), 'mfp-scenario-twin-'));
  const results: ScenarioResult[] = [];
  try {
    await prepareTwinCredentials(credentials);
    for (const s of scenarios) {
      const view = createProgressView(io.out, { showLines: !opts.quiet });
      view.line(`▶ ${s.name} (${s.file})`);
      try {
        const result = await runScenario(s, {
          twinCertsFrom: credentials,
          ...(opts.smtpGreetingDelay !== undefined ? { smtpGreetingDelayMs: opts.smtpGreetingDelay } : {}),
          ...(opts.stateDir ? { stateDir: path.join(opts.stateDir, path.basename(s.file ?? s.name, '.json')) } : {}),
          onTransition: (t) => view.line(t.line),
          onNote: (line) => view.line(line),
          onProgress: (p) => view.progress(p),
        });
        results.push(result);
      } finally {
        view.done();
      }
      io.out.write(`${summaryLine(results[results.length - 1]!)}\n`);
    }
  } finally {
    await rm(credentials, { recursive: true, force: true });
  }
  const failed = results.filter((r) => !r.passed);
  io.out.write(`\n${results.length - failed.length} passed, ${failed.length} failed\n`);
  return failed.length ? 1 : 0;
}

export function summaryLine(r: ScenarioResult): string {
  const stats =
    `${r.stepsRun}/${r.stepsTotal} steps, ${r.transitions} transitions, ${r.mailsSent} mail${r.mailsSent === 1 ? '' : 's'} sent, ` +
    `sim ${formatElapsed(r.simElapsedMs)}, wall ${(r.wallMs / 1000).toFixed(1)} s`;
  if (r.passed) return `PASS ${r.name} (${r.file}): ${stats}`;
  return `FAIL ${r.name} (${r.file}): ${stats}\n  ${describeFailure(r.failure!, r.file)}`;
}
