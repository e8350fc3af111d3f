/**
 * Runs one scenario: a whole simulator (device + msal-node + nodemailer + the embedded twin over loopback sockets)
 * on a virtual clock, driven step by step. Every state change is reported as a line; the first failed expectation
 * (or refused action) stops the run with the differences, the step's place in the file and the repeat iteration.
 */
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LastError, LeafState } from '../../machines/oauthDevice.ts';
import type { Device, TransitionNotice } from '../device/device.ts';
import { DEFAULT_TENANT_FILE } from '../cloud/tenant-fixture.ts';
import { ensureCertificates } from '../cloud/entra/certs.ts';
import { ensureSigningKey } from '../cloud/entra/signing-key.ts';
import { silentLogger, type Logger } from '../log/logger.ts';
import { startSimulator } from '../sim/simulator.ts';
import type { Simulator } from '../sim/types.ts';
import { damageDeviceKey, type DeviceKeyFault } from '../sim/device-key-fault.ts';
import { VirtualClock } from '../time/clock.ts';
import { formatSimTime } from './duration.ts';
import { checkExpectation, jobStatusOf, tokensHeld, type Difference } from './expectations.ts';
import { formatPath, loadScenarioFile, parseScenario, ScenarioFormatError, type FormatProblem } from './load.ts';
import type { Scenario, SimpleStep, Step } from './schema.ts';

const SCANS_DIR = fileURLToPath(new URL('../../fixtures/scans/', import.meta.url));

export interface TransitionRecord {
  at: number;
  from: LeafState;
  to: LeafState;
  event: string;
  /** The new lastError's reason, when this transition set one. */
  reason: string | null;
  /** `[2026-01-05 08:00:00Z] ready → requestingCode on START_AUTH (reason)` */
  line: string;
}

export interface ScenarioProgress {
  name: string;
  simNow: number;
  simElapsedMs: number;
  stepsDone: number;
  stepsTotal: number;
  transitions: number;
  mailsSent: number;
}

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

/** A step that did not go as the scenario says; carries what to report. */
class StepFailure extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly differences: Difference[] = [],
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/** Runs a scenario file (path) or object. Invalid input throws ScenarioFormatError before anything starts. */
export async function runScenario(input: string | object, opts: RunOptions = {}): Promise<ScenarioResult> {
  const scenario = typeof input === 'string' ? await loadScenarioFile(input) : isScenario(input) ? input : parseScenario(input);
  const files = await resolveScenarioFiles(scenario);
  const started = performance.now();
  const ownsStateDir = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? (await mkdtemp(path.join(tmpdir(), 'mfp-scenario-')));

  const sim = await startScenarioSimulator(scenario, files, stateDir, opts);
  const run = new ScenarioRun(scenario, sim, files.attachments, opts);
  const startAt = sim.clock.now();
  let failure: ScenarioFailure | null = null;
  try {
    await run.steps(scenario.steps, []);
  } catch (err) {
    failure = run.failureFrom(err);
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

/** The state of one run: labels, counters, the subscription to whichever device is current. */
class ScenarioRun {
  readonly labels = new Map<string, string>();
  readonly mailsSent = new Set<string>();
  readonly tokensSeen = new Set<string>();
  readonly stepsTotal: number;
  stepsDone = 0;
  transitions = 0;
  private readonly startAt: number;
  private readonly watchTokens: boolean;
  private lastError: LastError | null = null;
  private unsubscribe: () => void = () => {};
  private readonly offBoot: () => void;
  /** Where the run is: the step and the iteration of each enclosing repeat. */
  private current: { step: Step; iterations: number[] } | null = null;

  constructor(
    private readonly scenario: Scenario,
    private readonly sim: Simulator,
    private readonly attachments: Map<string, string>,
    private readonly opts: RunOptions,
  ) {
    this.stepsTotal = countSteps(scenario.steps);
    this.startAt = sim.clock.now();
    this.watchTokens = usesTokenCheck(scenario.steps);
    this.attach(sim.device);
    this.offBoot = sim.onBoot((d) => this.attach(d));
  }

  private attach(device: Device): void {
    this.unsubscribe();
    this.lastError = device.status().lastError;
    this.unsubscribe = device.subscribe((n) => this.onNotice(n));
  }

  detach(): void {
    this.unsubscribe();
    this.offBoot();
  }

  private onNotice(n: TransitionNotice): void {
    const err = n.status.lastError;
    const newError = err !== null && JSON.stringify(err) !== JSON.stringify(this.lastError);
    this.lastError = err;
    if (this.watchTokens) for (const t of tokensHeld(this.sim)) this.tokensSeen.add(t);
    if (n.from === n.to) return;
    this.report(n.at, n.from, n.to, n.event, newError ? err.reason : null);
  }

  private report(at: number, from: LeafState, to: LeafState, event: string, reason: string | null): void {
    this.transitions++;
    const line = `[${formatSimTime(at)}] ${from} → ${to} on ${event}${reason ? ` (${reason})` : ''}`;
    this.opts.onTransition?.({ at, from, to, event, reason, line });
  }

  private note(text: string): void {
    this.opts.onNote?.(`[${formatSimTime(this.sim.clock.now())}] ${text}`);
  }

  async steps(steps: Step[], iterations: number[]): Promise<void> {
    for (const step of steps) {
      if (step.kind === 'repeat') {
        for (let i = 1; i <= step.args.times; i++) await this.steps(step.args.steps, [...iterations, i]);
        continue;
      }
      this.current = { step, iterations };
      await this.step(step);
      this.stepsDone++;
      this.countSent();
      this.opts.onProgress?.({
        name: this.scenario.name,
        simNow: this.sim.clock.now(),
        simElapsedMs: this.sim.clock.now() - this.startAt,
        stepsDone: this.stepsDone,
        stepsTotal: this.stepsTotal,
        transitions: this.transitions,
        mailsSent: this.mailsSent.size,
      });
    }
  }

  /** Jobs the device has finished as sent (the job log keeps the last 50; counted after every step). */
  private countSent(): void {
    for (const j of this.sim.device.jobs()) if (j.status === 'sent') this.mailsSent.add(j.id);
  }

  private async step(step: SimpleStep): Promise<void> {
    const sim = this.sim;
    const device = () => sim.device;
    const twin = () => {
      if (!sim.twin) throw new StepFailure('no-twin', 'this step needs the embedded twin');
      return sim.twin;
    };
    switch (step.kind) {
      case 'settings':
        return this.accepted(await device().saveSettings(step.args), 'SAVE_SETTINGS');
      case 'startAuth':
        return this.operator('START_AUTH');
      case 'cancelAuth':
        return this.operator('CANCEL_AUTH');
      case 'signOut':
        return this.operator('SIGN_OUT');
      case 'retry':
        return this.operator('RETRY');
      case 'dismiss':
        return this.operator('DISMISS');
      case 'factoryReset':
        return this.operator('FACTORY_RESET');
      case 'submitJob': {
        const a = step.args;
        const job = await device().submitJob({
          to: a.to,
          subject: a.subject,
          body: a.body,
          attachments: a.attachments.map((name) => ({
            filename: path.basename(name),
            contentType: contentTypeOf(name),
            path: this.attachments.get(name)!,
          })),
        });
        if (a.label) this.labels.set(a.label, job.id);
        if (a.settle) await device().idle();
        return;
      }
      case 'approve':
      case 'decline': {
        const code = device().status().userCode;
        if (!code) {
          throw new StepFailure('no-code', `there is no code on the panel to ${step.kind} (state ${device().state()})`);
        }
        if (step.kind === 'approve') {
          const r = twin().control.approveDeviceCode(code, step.args.upn);
          if (r.error) this.note(`sign-in as ${step.args.upn} refused by the tenant: ${r.error.error}${r.error.aadsts ? ` (AADSTS${r.error.aadsts})` : ''}`);
        } else {
          twin().control.declineDeviceCode(code);
        }
        // msal-node learns the answer at its next poll, on wall time.
        const timeout = step.args.timeout ?? Math.max(5_000, 2 * this.scenario.pollIntervalSeconds * 1000 + 3_000);
        return this.waitUntil(() => device().state() !== 'codePending', timeout, () => [
          { what: 'state', expected: 'anything but codePending (the sign-in to end)', actual: device().state() },
        ]);
      }
      case 'patchTenant':
        twin().control.patchTenant(step.args);
        return;
      case 'patchUser': {
        const { upn, ...patch } = step.args;
        twin().control.patchUser(upn, patch);
        return;
      }
      case 'resetPassword':
        twin().control.resetPassword(step.args.upn, step.args.password);
        return;
      case 'revokeSessions':
        twin().control.revokeSessions(step.args.upn);
        return;
      case 'fault':
        twin().control.addFault(step.args);
        return;
      case 'clearFaults':
        twin().control.clearFaults();
        return;
      case 'clock':
        return this.clockStep(step.args);
      case 'trust':
        return this.trustStep(step.args);
      case 'rootMigration': {
        const { in: after, ...rest } = step.args;
        await twin().pki.migrate({ ...rest, ...(after !== undefined ? { at: sim.clock.now() + after } : {}) });
        this.note(`twin root migration${after ? ` in ${formatDurationShort(after)}` : ''}${rest.crossSign ? ' (cross-signed by the old root)' : ''}`);
        return;
      }
      case 'advance':
        return sim.advance(step.args);
      case 'advanceUntil':
        return this.advanceUntil(step.args.state, step.args.cap);
      case 'powerCycle':
        return this.powerCycle(step.args.off, step.args.deviceKey);
      case 'waitFor': {
        const { state, jobs, timeout } = step.args;
        const states = state === undefined ? null : Array.isArray(state) ? state : [state];
        const world = { sim, labels: this.labels };
        const unmet = (): Difference[] => [
          ...(states && !states.includes(device().state()) ? [{ what: 'state', expected: states.join(' | '), actual: device().state() }] : []),
          ...Object.entries(jobs ?? {})
            .filter(([label, want]) => jobStatusOf(label, world) !== want)
            .map(([label, want]) => ({ what: `jobs.${label}`, expected: want, actual: jobStatusOf(label, world) })),
        ];
        return this.waitUntil(() => unmet().length === 0, timeout, unmet, false);
      }
      case 'expect': {
        await device().idle();
        const diffs = await checkExpectation(step.args, { sim, labels: this.labels, tokensSeen: this.tokensSeen });
        if (diffs.length) throw new StepFailure('expectation', 'expectation not met', diffs);
        return;
      }
      case 'note':
        this.note(step.args);
        return;
    }
  }

  private async operator(type: string): Promise<void> {
    const r = await this.sim.device.send({ type });
    this.accepted(r, type);
    await this.sim.device.idle();
  }

  private accepted(r: { accepted: boolean; state: LeafState; reason?: string }, what: string): void {
    if (!r.accepted) throw new StepFailure('refused', `the device refused ${what}: ${r.reason ?? `not handled in ${r.state}`}`);
  }

  /**
   * Wall-time wait, for what runs outside the virtual clock. `settle`: then wait for the device to finish what it
   * started (not for `waitFor`, whose point is to catch the device in the middle of something).
   */
  private async waitUntil(done: () => boolean, timeoutMs: number, unmet: () => Difference[], settle = true): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() > deadline) throw new StepFailure('timeout', `not reached within ${timeoutMs} ms (wall time)`, unmet());
      await new Promise((r) => setTimeout(r, 10));
    }
    if (settle) await this.sim.device.idle();
  }

  /** Moves the clock deadline by deadline (the device's own) until the state is reached, never past the cap. */
  private async advanceUntil(state: LeafState | LeafState[], capMs: number): Promise<void> {
    const want = Array.isArray(state) ? state : [state];
    const end = this.sim.clock.now() + capMs;
    for (;;) {
      if (want.includes(this.sim.device.state())) return;
      const now = this.sim.clock.now();
      if (now >= end) {
        throw new StepFailure('timeout', `state not reached within the cap`, [
          { what: 'state', expected: want.join(' | '), actual: this.sim.device.state() },
        ]);
      }
      const due = Object.values(this.sim.device.deadlines()).filter((t): t is number => typeof t === 'number' && t > now);
      const next = due.length ? Math.min(...due) : end;
      await this.sim.advance(Math.min(next, end) - now);
    }
  }

  /** RTC faults first (they are the world's doing), then what the admin sets, then NTP: the order a person reads. */
  private async clockStep(c: Extract<SimpleStep, { kind: 'clock' }>['args']): Promise<void> {
    const clock = this.sim.deviceClock;
    if (c.ntpReachable !== undefined) {
      if (!this.sim.twin) throw new StepFailure('no-twin', 'ntpReachable needs the embedded twin');
      this.sim.twin.ntp.setReachable(c.ntpReachable);
    }
    if (c.battery !== undefined) clock.rtc.setBattery(c.battery === 'ok');
    if (c.driftPpm !== undefined) clock.rtc.setDrift(c.driftPpm);
    if (c.step !== undefined) clock.rtc.step(c.step);
    if (c.set !== undefined) await clock.setDateTime(c.set === 'world' ? this.sim.clock.now() : Date.parse(c.set));
    if (c.ntp !== undefined || c.timeZone !== undefined) {
      await clock.saveTimeSettings({ ...(c.ntp !== undefined ? { ntpEnabled: c.ntp } : {}), ...(c.timeZone !== undefined ? { timeZone: c.timeZone } : {}) });
    }
    if (c.sync) await clock.syncNow();
    await clock.idle();
  }

  /** Deletes first, then imports: "replace the factory root by the new one" reads in that order. */
  private async trustStep(t: Extract<SimpleStep, { kind: 'trust' }>['args']): Promise<void> {
    const store = this.sim.trustStore;
    if (t.delete !== undefined) {
      const victims = t.delete === 'factory' ? store.list().filter((c) => c.origin === 'factory').map((c) => c.fingerprint) : [t.delete];
      for (const fp of victims) await store.remove(fp);
    }
    if (t.import !== undefined) {
      if (t.import === 'twin-root' && !this.sim.twin) throw new StepFailure('no-twin', 'import "twin-root" needs the embedded twin');
      await store.importPem(t.import === 'twin-root' ? this.sim.twin!.pki.rootPem() : t.import);
    }
    await this.sim.device.idle();
  }

  private async powerCycle(offMs: number, deviceKey?: DeviceKeyFault): Promise<void> {
    const from = this.sim.device.state();
    this.note(`power off in ${from}${offMs ? ` for ${formatDurationShort(offMs)}` : ''}${deviceKey ? `; device key ${deviceKey}` : ''}`);
    if (deviceKey) await damageDeviceKey(path.join(this.sim.stateDir, 'nvram.json'), deviceKey);
    const device = await this.sim.powerCycle(offMs);
    // The boot's own transitions happen before anyone can subscribe; the boot report has them.
    for (const t of device.bootReport().transitions) {
      if (t.from !== t.to) this.report(t.at, t.from, t.to, t.event, t.reason);
    }
    this.lastError = device.status().lastError;
    this.note(`power on: ${device.state()}`);
  }

  failureFrom(err: unknown): ScenarioFailure {
    const step = this.current?.step;
    const base = {
      where: step ? formatPath(step.origin.path) : '(start)',
      line: step?.origin.line,
      iterations: this.current?.iterations ?? [],
    };
    if (err instanceof StepFailure) {
      return { ...base, kind: err.kind, message: `${step?.kind ?? 'step'}: ${err.message}`, differences: err.differences };
    }
    const e = err as Error;
    return { ...base, kind: e?.name ?? 'error', message: `${step?.kind ?? 'step'}: ${e?.message ?? String(err)}`, differences: [] };
  }
}

function countSteps(steps: Step[]): number {
  return steps.reduce((n, s) => n + (s.kind === 'repeat' ? s.args.times * countSteps(s.args.steps) : 1), 0);
}

function usesTokenCheck(steps: Step[]): boolean {
  return steps.some((s) => (s.kind === 'repeat' ? usesTokenCheck(s.args.steps) : s.kind === 'expect' && s.args.nvram?.noTokenText === true));
}

function contentTypeOf(name: string): string {
  const ext = path.extname(name).toLowerCase();
  return ({ '.pdf': 'application/pdf', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png', '.tif': 'image/tiff', '.tiff': 'image/tiff', '.txt': 'text/plain' } as Record<string, string>)[ext] ?? 'application/octet-stream';
}

function formatDurationShort(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
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
