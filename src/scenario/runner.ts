/**
 * Runs one scenario in process: a whole simulator (device + msal-node + nodemailer + the embedded twin over loopback
 * sockets) on a virtual clock, as the stage (stage.ts) of the one step interpreter (interpreter.ts). Every state
 * change is reported as a line; the first failed expectation (or refused action) stops the run with the differences,
 * the step's place in the file and the repeat iteration. The simulator offers everything a scenario asks for, so a
 * step or check it would skip is a failure here.
 */
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TENANT_FILE } from '../cloud/tenant-fixture.ts';
import { ensureCertificates } from '../cloud/entra/certs.ts';
import { ensureSigningKey } from '../cloud/entra/signing-key.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { startSimulator } from '../sim/simulator.ts';
import type { Simulator } from '../sim/types.ts';
import { VirtualClock } from '../time/clock.ts';
import type { Difference } from './expectations.ts';
import { ScenarioRun, StepFailure, StepSkipped, type ScenarioProgress, type TransitionRecord } from './interpreter.ts';
import { formatPath, loadScenarioFile, parseScenario, ScenarioFormatError, type FormatProblem } from './load.ts';
import type { Scenario, Step } from './schema.ts';
import { simulatorStage } from './stage.ts';

export type { ScenarioProgress, TransitionRecord };

const SCANS_DIR = fileURLToPath(new URL('../../fixtures/scans/', import.meta.url));

export interface RunOptions {
  /** Where the device and twin keep their files; kept after the run. Default: a temporary directory, removed. */
  stateDir?: string;
  /** A directory holding the twin's certificates and signing key to reuse (key generation takes seconds). */
  twinCertsFrom?: string;
  /**
   * Wall-time pause before each SMTP greeting of the twin (default 100 ms, as smtp-server and a real server). It is
   * pure waiting, once per mail: long runs such as the 90-day soak pass 0 (a simulation choice; the virtual clock
   * does not see it either way).
   */
  smtpGreetingDelayMs?: number;
  /** Wire journal ring size of the twin (default 10 000 entries): a long run judged for conformance whole needs more. */
  journalCapacity?: number;
  onTransition?: (t: TransitionRecord) => void;
  /** After the last step (passed or not), before the simulator closes: a look at its twin (e.g. the wire journal). */
  beforeClose?: (sim: Simulator) => void | Promise<void>;
  /** After every step (including each step of each repeat). */
  onProgress?: (p: ScenarioProgress) => void;
  /** Other things worth a line: notes, power cycles, approvals refused by policy. */
  onNote?: (line: string) => void;
  logger?: Logger;
}

export interface ScenarioFailure {
  /** "steps[4]" or "steps[2].repeat.steps[1]" */
  where: string;
  line: number | undefined;
  /** 1-based iteration of each enclosing repeat, outermost first. */
  iterations: number[];
  kind: string;
  message: string;
  differences: Difference[];
}

export interface ScenarioResult {
  name: string;
  file: string | null;
  passed: boolean;
  failure: ScenarioFailure | null;
  stepsRun: number;
  stepsTotal: number;
  transitions: number;
  mailsSent: number;
  simElapsedMs: number;
  wallMs: number;
  /** The state directory (null when it was temporary and has been removed). */
  stateDir: string | null;
}

/** Runs a scenario file (path) or object. Invalid input throws ScenarioFormatError before anything starts. */
export async function runScenario(input: string | object, opts: RunOptions = {}): Promise<ScenarioResult> {
  const scenario = typeof input === 'string' ? await loadScenarioFile(input) : isScenario(input) ? input : parseScenario(input);
  const files = await resolveScenarioFiles(scenario);
  const started = performance.now();
  const ownsStateDir = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? (await mkdtemp(path.join(tmpdir(), 'mfp-scenario-')));

  const sim = await startScenarioSimulator(scenario, files, stateDir, opts);
  const run = new ScenarioRun(scenario, simulatorStage(sim), {
    attachments: files.attachments,
    onTransition: opts.onTransition,
    onProgress: opts.onProgress,
    onNote: opts.onNote,
  });
  const startAt = sim.clock.now();
  let failure: ScenarioFailure | null = null;
  try {
    await run.start();
    await run.steps(scenario.steps);
    // The simulator offers every capability: a check it could not make is a failure, never a pass.
    if (run.skipped.length) throw new StepSkipped(run.skipped.map((x) => `${x.where}: ${x.reason}`).join('; '));
  } catch (err) {
    failure = failureFrom(run, err);
  } finally {
    run.detach();
    try {
      await opts.beforeClose?.(sim);
    } finally {
      await sim.close();
    }
  }
  const result: ScenarioResult = {
    name: scenario.name,
    file: scenario.file,
    passed: failure === null,
    failure,
    stepsRun: run.stepsDone,
    stepsTotal: run.stepsTotal,
    transitions: run.transitions,
    mailsSent: run.mailsSent.size,
    simElapsedMs: sim.clock.now() - startAt,
    wallMs: Math.round(performance.now() - started),
    stateDir: ownsStateDir ? null : stateDir,
  };
  if (ownsStateDir) await rm(stateDir, { recursive: true, force: true });
  return result;
}

/**
 * Makes the twin's CA, server certificate and token signing key in `dir`, to pass as `twinCertsFrom` to many runs
 * (generating them is the slowest part of starting a twin).
 */
export async function prepareTwinCredentials(dir: string): Promise<void> {
  await ensureCertificates(dir);
  await ensureSigningKey(dir);
}

function isScenario(x: object): x is Scenario {
  return 'baseDir' in x && Array.isArray((x as Scenario).steps) && (x as Scenario).steps.every((s) => typeof s === 'object' && s !== null && 'origin' in s);
}

export interface ResolvedFiles {
  tenant: string;
  nvramImage: string | null;
  nvramKey: string | null;
  /** As written in the scenario → absolute path. */
  attachments: Map<string, string>;
}

/** Every file the scenario names must exist before anything starts (a bad file is refused, nothing run). */
export async function resolveScenarioFiles(s: Scenario): Promise<ResolvedFiles> {
  const problems: FormatProblem[] = [];
  const exists = async (p: string) => stat(p).then((st) => st.isFile(), () => false);
  const need = async (rel: string | undefined, where: string, line: number | undefined): Promise<string | null> => {
    if (rel === undefined) return null;
    const abs = path.resolve(s.baseDir, rel);
    if (!(await exists(abs))) problems.push({ where, line, message: `no such file: ${abs}` });
    return abs;
  };
  const tenant = (await need(s.tenant, 'tenant', undefined)) ?? DEFAULT_TENANT_FILE;
  const nvramImage = await need(s.nvramImage, 'nvramImage', undefined);
  const nvramKey = await need(s.nvramKey, 'nvramKey', undefined);
  const attachments = new Map<string, string>();
  const walk = async (steps: Step[]) => {
    for (const step of steps) {
      if (step.kind === 'repeat') await walk(step.args.steps);
      if (step.kind !== 'submitJob') continue;
      for (const [i, name] of step.args.attachments.entries()) {
        if (attachments.has(name)) continue;
        const inScans = !name.includes('/') && !name.includes(path.sep) ? path.join(SCANS_DIR, name) : null;
        const abs = inScans && (await exists(inScans)) ? inScans : path.resolve(s.baseDir, name);
        if (!(await exists(abs))) {
          problems.push({ where: formatPath([...step.origin.path, 'submitJob', 'attachments', i]), line: step.origin.line, message: `no such file in fixtures/scans/ or at ${abs}` });
        }
        attachments.set(name, abs);
      }
    }
  };
  await walk(s.steps);
  if (problems.length) throw new ScenarioFormatError(s.file, problems);
  return { tenant, nvramImage, nvramKey, attachments };
}

async function startScenarioSimulator(s: Scenario, files: ResolvedFiles, stateDir: string, opts: RunOptions): Promise<Simulator> {
  await mkdir(stateDir, { recursive: true });
  // A scenario starts from a new printer (or its nvramImage), never from whatever an earlier run left behind.
  if (await stat(path.join(stateDir, 'nvram.json')).then(() => true, () => false)) {
    throw new Error(`the state directory ${stateDir} already holds a device (nvram.json); give each run a fresh one`);
  }
  // msal-node polls on wall time; the twin's interval is shortened so a sign-in takes a second, not five.
  const fixture = JSON.parse(await readFile(files.tenant, 'utf8')) as { deviceCode?: { intervalSeconds?: number } };
  fixture.deviceCode = { ...fixture.deviceCode, intervalSeconds: s.pollIntervalSeconds };
  const tenantFile = path.join(stateDir, 'tenant.json');
  await writeFile(tenantFile, JSON.stringify(fixture));
  if (files.nvramImage) await copyFile(files.nvramImage, path.join(stateDir, 'nvram.json'));
  if (files.nvramKey) await copyFile(files.nvramKey, path.join(stateDir, 'secure-element.key'));
  if (opts.twinCertsFrom) await cp(opts.twinCertsFrom, path.join(stateDir, 'cloud'), { recursive: true });
  return startSimulator({
    stateDir,
    clock: s.startAt ? new VirtualClock(Date.parse(s.startAt)) : 'virtual',
    cloud: { mode: 'twin', tenantFile, seed: s.seed, smtpGreetingDelayMs: opts.smtpGreetingDelayMs, journalCapacity: opts.journalCapacity },
    logger: opts.logger ?? silentLogger(),
  });
}

function failureFrom(run: ScenarioRun, err: unknown): ScenarioFailure {
  const { where, line, step, iterations } = run.place();
  const base = { where, line, iterations };
  if (err instanceof StepFailure) return { ...base, kind: err.kind, message: `${step}: ${err.message}`, differences: err.differences };
  if (err instanceof StepSkipped) return { ...base, kind: 'skipped', message: `${step}: not run on the simulator: ${err.reason}`, differences: [] };
  const e = err as Error;
  return { ...base, kind: e?.name ?? 'error', message: `${step}: ${e?.message ?? String(err)}`, differences: [] };
}

/** Human-readable report of a failure: where, what, and each difference as expected vs actual. */
export function describeFailure(f: ScenarioFailure, file: string | null): string {
  const place = `${file ?? '(scenario)'}${f.line !== undefined ? `:${f.line}` : ''} ${f.where}`;
  const iter = f.iterations.length ? ` (repeat iteration ${f.iterations.join('/')})` : '';
  const lines = [`${place}${iter}: ${f.message}`];
  for (const d of f.differences) {
    lines.push(`    ${d.what}: expected ${show(d.expected)}, actual ${show(d.actual)}`);
  }
  return lines.join('\n');
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(v) ?? String(v);
}
