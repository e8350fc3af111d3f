/**
 * `mfp-sim scenario run FILE…`: validates every file first (a bad one: clear error, exit 2, nothing run), then runs
 * them one after another, printing each transition and a summary per file. Exit 1 when any scenario failed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { writeJunit } from '../mbt/remote/junit.ts';
import { openRemote } from '../mbt/remote/run.ts';
import type { RunCase } from '../mbt/remote/run.ts';
import { runScenarioRemote, type RemoteScenarioResult } from './remote.ts';
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
    .description('run scenario files (JSON, see docs/scenarios.md) against the embedded twin on a virtual clock, or with --driver and --twin against any printer behind a driver')
    .argument('<files...>', 'scenario files')
    .option('--state-dir <dir>', 'keep each run\'s device and twin files under <dir>/<file name> (default: temporary, removed)')
    .option('-q, --quiet', 'no transition lines, only the summary')
    .option('--smtp-greeting-delay <ms>', 'wall-time pause before each SMTP greeting of the twin (smtp-server\'s early-talker check; 0 for long soaks)', parseMs, 100)
    .option('--driver <url>', 'run against the printer behind this driver (docs/driver-protocol.md) instead of the built-in simulator; needs --twin')
    .option('--twin <url>', 'with --driver: the running twin\'s HTTPS URL (control API under /_twin), e.g. https://127.0.0.1:8443')
    .option('--twin-ca <file>', 'with --driver: the CA that issued the twin\'s certificate (PEM)')
    .addOption(new Option('--twin-token <token>', 'with --driver: bearer token for the twin\'s control API').env('MFP_TWIN_TOKEN'))
    .option('--step-timeout <ms>', 'with --driver: timeout of each driver and twin call, and of each wall-time wait', parseMs, 20_000)
    .option('--wall-wait <ms>', 'with --driver, without clock control: wait on wall time this long at most for advance/advanceUntil/power cuts; longer ones are skipped', parseMs, 20_000)
    .addOption(new Option('--reporter <reporter>', 'also write a report to --output').choices(['text', 'junit']).default('text'))
    .option('--output <file>', 'with --reporter junit: the JUnit XML file (one testcase per scenario)')
    .action(async (files: string[], opts: RunFilesOptions) => {
      const code = await runFiles(files, opts, io);
      if (code !== 0) throw new CommanderError(code, code === 2 ? 'scenario.invalid' : 'scenario.failed', `scenario run exited with ${code}`);
    });
  return scenario;
}

export interface RunFilesOptions {
  stateDir?: string;
  driver?: string;
  twin?: string;
  twinCa?: string;
  twinToken?: string;
  stepTimeout?: number;
  wallWait?: number;
  reporter?: 'text' | 'junit';
  output?: string;
  quiet?: boolean;
  /** See RunOptions.smtpGreetingDelayMs. */
  smtpGreetingDelay?: number;
}

function parseMs(value: string): number {
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

  if (opts.reporter === 'junit' && !opts.output) {
    io.err.write('--reporter junit needs --output FILE\n');
    return 2;
  }
  if (opts.driver !== undefined || opts.twin !== undefined) {
    if (!opts.driver || !opts.twin) {
      io.err.write('--driver and --twin go together: the printer behind the driver and the twin it uses as Microsoft\n');
      return 2;
    }
    return runRemoteFiles(scenarios, opts, io);
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
  if (opts.reporter === 'junit' && opts.output) {
    const cases = results.map((r): RunCase => ({
      kind: 'scenario',
      name: r.file ? `${r.name} (${path.basename(r.file)})` : r.name,
      labels: [],
      outcome: r.passed ? 'passed' : 'failed',
      ms: r.wallMs,
      steps: r.stepsRun,
      ...(r.failure ? { failure: { message: describeFailure(r.failure, r.file) } } : {}),
    }));
    io.out.write(`JUnit report: ${await writeJunit(cases, opts.output, { printer: 'mfp-sim' })}\n`);
  }
  return failed.length ? 1 : 0;
}

/** `--driver URL --twin URL`: every scenario through the driver protocol, one after another on the same printer. */
async function runRemoteFiles(scenarios: Scenario[], opts: RunFilesOptions, io: ScenarioCliIo): Promise<number> {
  let target;
  try {
    target = await openRemote({ driverUrl: opts.driver!, twinUrl: opts.twin!, twinCaFile: opts.twinCa, twinToken: opts.twinToken, stepTimeoutMs: opts.stepTimeout });
  } catch (err) {
    io.err.write(`${(err as Error).message}\n`);
    return 1;
  }
  const caps = Object.entries(target.driver.capabilities).filter(([, v]) => v).map(([k]) => k);
  io.out.write(`printer: ${target.driver.hello.name} (capabilities: ${caps.join(', ') || 'none'})\n`);
  const results: RemoteScenarioResult[] = [];
  for (const s of scenarios) {
    if (!opts.quiet) io.out.write(`▶ ${s.name} (${s.file})\n`);
    const r = await runScenarioRemote(s, target, {
      wallWaitMs: opts.wallWait,
      stepTimeoutMs: opts.stepTimeout,
      onNote: (line) => !opts.quiet && io.out.write(`  ${line}\n`),
    });
    results.push(r);
    io.out.write(`${remoteSummaryLine(r)}\n`);
  }
  const n = (o: RemoteScenarioResult['outcome']) => results.filter((r) => r.outcome === o).length;
  io.out.write(`\n${n('passed')} passed, ${n('failed')} failed, ${n('skipped')} skipped\n`);
  if (opts.reporter === 'junit' && opts.output) {
    const cases = results.map((r): RunCase => {
      const last = r.skipped.at(-1);
      const checks = r.skipped.filter((x) => x !== last || r.outcome !== 'skipped').map((x) => `not checked at ${x.where}: ${x.reason}`);
      return {
        kind: 'scenario',
        name: r.file ? `${r.name} (${path.basename(r.file)})` : r.name,
        labels: [],
        outcome: r.outcome,
        ms: r.wallMs,
        steps: r.stepsRun,
        ...(checks.length ? { detail: checks.join('\n') } : {}),
        ...(r.failure ? { failure: { message: describeRemoteFailure(r), label: r.failure.step, expected: JSON.stringify(r.failure.differences.map((d) => d.expected)), observed: JSON.stringify(r.failure.differences.map((d) => d.actual)) } } : {}),
        ...(r.outcome === 'skipped' && last ? { skipped: { label: `${last.where} ${last.step}`, reason: last.reason, ...(last.capability ? { capability: last.capability } : {}) } } : {}),
      };
    });
    io.out.write(`JUnit report: ${await writeJunit(cases, opts.output, { printer: target.driver.hello.name })}\n`);
  }
  return n('failed') ? 1 : 0;
}

function describeRemoteFailure(r: RemoteScenarioResult): string {
  const f = r.failure!;
  const lines = [`${r.file ?? '(scenario)'}${f.line !== undefined ? `:${f.line}` : ''} ${f.where}: ${f.message}`];
  for (const d of f.differences) lines.push(`    ${d.what}: expected ${JSON.stringify(d.expected)}, actual ${JSON.stringify(d.actual)}`);
  return lines.join('\n');
}

export function remoteSummaryLine(r: RemoteScenarioResult): string {
  const stats = `${r.stepsRun}/${r.stepsTotal} steps, wall ${(r.wallMs / 1000).toFixed(1)} s`;
  const notChecked = r.skipped.filter((x) => r.outcome !== 'skipped' || x !== r.skipped.at(-1));
  const extra = notChecked.length ? `\n  not checked: ${notChecked.map((x) => `${x.where} (${x.reason})`).join('; ')}` : '';
  if (r.outcome === 'passed') return `PASS ${r.name} (${r.file}): ${stats}${extra}`;
  if (r.outcome === 'skipped') {
    const s = r.skipped.at(-1)!;
    return `SKIP ${r.name} (${r.file}): ${stats}\n  skipped at ${s.where}${s.line !== undefined ? ` (line ${s.line})` : ''}: ${s.reason}${s.capability ? ` [needs ${s.capability}]` : ''}${extra}`;
  }
  return `FAIL ${r.name} (${r.file}): ${stats}\n  ${describeRemoteFailure(r)}${extra}`;
}

export function summaryLine(r: ScenarioResult): string {
  const stats =
    `${r.stepsRun}/${r.stepsTotal} steps, ${r.transitions} transitions, ${r.mailsSent} mail${r.mailsSent === 1 ? '' : 's'} sent, ` +
    `sim ${formatElapsed(r.simElapsedMs)}, wall ${(r.wallMs / 1000).toFixed(1)} s`;
  if (r.passed) return `PASS ${r.name} (${r.file}): ${stats}`;
  return `FAIL ${r.name} (${r.file}): ${stats}\n  ${describeFailure(r.failure!, r.file)}`;
}
