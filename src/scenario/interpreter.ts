/**
 * The one step interpreter: runs a scenario's steps on a stage (stage.ts) — the in-process simulator or any printer
 * behind a driver — through the printer interface and the twin's control. Every state change the printer reports is
 * a line; the first failed expectation (or refused action) stops the run with the differences.
 *
 * A step the stage cannot take is *skipped* with the reason, never passed: a skipped step that would change the world
 * (clock, power cut, device clock) ends the run as skipped (`StepSkipped`) — later expectations would judge a story
 * that did not happen; a skipped check inside an `expect` is listed (`skipped`) and the run goes on.
 */
import path from 'node:path';
import type { LastError, LeafState } from '../../machines/oauthDevice.ts';
import type { DeviceKeyLoss, TransitionNotice } from '../device/printer.ts';
import { formatSimTime } from './duration.ts';
import { checkExpectation, jobStatusOf, mailboxKey, type Difference } from './expectations.ts';
import { formatPath } from './load.ts';
import type { Scenario, SimpleStep, Step } from './schema.ts';
import type { ScenarioStage, ScenarioTwin } from './stage.ts';

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

export interface SkippedStep {
  where: string;
  line: number | undefined;
  step: string;
  reason: string;
  /** The capability that would run it, when one would. */
  capability?: string;
}

export interface InterpreterOptions {
  onTransition?: (t: TransitionRecord) => void;
  /** After every step (including each step of each repeat). */
  onProgress?: (p: ScenarioProgress) => void;
  /** Other things worth a line: notes, power cycles, approvals refused by policy. */
  onNote?: (line: string) => void;
  /** Bound of each wall-time wait for the printer (approve, waitFor without timeout); default from the poll interval. */
  stepTimeoutMs?: number;
  /** Without clock control: wait on wall time for an `advance`/`advanceUntil`/power cut up to this long (ms). */
  wallWaitMs?: number;
  /** How often a wall-time wait looks at the printer (ms). */
  pollMs?: number;
  /** Files the `submitJob` steps name → absolute paths. */
  attachments?: ReadonlyMap<string, string>;
}

/** A step that did not go as the scenario says; carries what to report. */
export class StepFailure extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly differences: Difference[] = [],
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/** A step that cannot run on this stage and changes what follows: the scenario stops here, skipped. */
export class StepSkipped extends Error {
  constructor(
    readonly reason: string,
    readonly capability?: string,
  ) {
    super(reason);
    this.name = 'StepSkipped';
  }
}

const DEFAULT_WALL_WAIT_MS = 20_000;

/** The state of one run: labels, counters, skips, the subscription to the printer's transitions. */
export class ScenarioRun {
  readonly labels = new Map<string, string>();
  readonly mailsSent = new Set<string>();
  readonly skipped: SkippedStep[] = [];
  readonly stepsTotal: number;
  stepsDone = 0;
  transitions = 0;
  private startAt = 0;
  private lastError: LastError | null = null;
  private unsubscribe: () => void = () => {};
  private readonly mailboxBaseline = new Map<string, number>();
  /** Where the run is: the step and the iteration of each enclosing repeat. */
  current: { step: SimpleStep; iterations: number[] } | null = null;

  constructor(
    private readonly scenario: Scenario,
    private readonly stage: ScenarioStage,
    private readonly opts: InterpreterOptions = {},
  ) {
    this.stepsTotal = countSteps(scenario.steps);
  }

  private get printer() {
    return this.stage.printer;
  }

  /** Before the first step: subscribe, remember what the twin's mailboxes already hold, start the secret audit. */
  async start(): Promise<void> {
    this.startAt = (await this.printer.clock?.now()) ?? 0;
    this.lastError = (await this.printer.status()).lastError;
    // The printer interface follows the printer across power cycles: one subscription is enough.
    this.unsubscribe = this.printer.subscribe((n) => this.onNotice(n));
    if (usesTokenCheck(this.scenario.steps)) await this.printer.secretAudit?.watch();
    for (const m of mailboxesOf(this.scenario.steps)) {
      if (!this.stage.twin || this.mailboxBaseline.has(mailboxKey(m))) continue;
      const all = await this.stage.twin.messages(m.upn);
      this.mailboxBaseline.set(mailboxKey(m), (m.folder ? all.filter((x) => x.folder === m.folder) : all).length);
    }
  }

  detach(): void {
    this.unsubscribe();
  }

  private onNotice(n: TransitionNotice): void {
    const err = n.status.lastError;
    const newError = err !== null && JSON.stringify(err) !== JSON.stringify(this.lastError);
    this.lastError = err;
    if (n.from === n.to) return;
    this.report(n.at, n.from, n.to, n.event, newError ? err.reason : null);
  }

  private report(at: number, from: LeafState, to: LeafState, event: string, reason: string | null): void {
    this.transitions++;
    const line = `[${formatSimTime(at)}] ${from} → ${to} on ${event}${reason ? ` (${reason})` : ''}`;
    this.opts.onTransition?.({ at, from, to, event, reason, line });
  }

  note(text: string): void {
    const now = this.stage.worldNow?.();
    this.opts.onNote?.(now === undefined ? text : `[${formatSimTime(now)}] ${text}`);
  }

  /** A check this stage cannot make: listed with the step it belongs to; the run goes on. */
  private skip(reason: string, capability?: string): void {
    const step = this.current!.step;
    this.skipped.push({ where: formatPath(step.origin.path), line: step.origin.line, step: step.kind, reason, ...(capability ? { capability } : {}) });
  }

  /** The place of a run that ended (failed or skipped): the step and the enclosing repeats' iterations. */
  place(): { where: string; line: number | undefined; step: string; iterations: number[] } {
    const step = this.current?.step;
    return { where: step ? formatPath(step.origin.path) : '(start)', line: step?.origin.line, step: step?.kind ?? '(start)', iterations: this.current?.iterations ?? [] };
  }

  async steps(steps: Step[], iterations: number[] = []): Promise<void> {
    for (const step of steps) {
      if (step.kind === 'repeat') {
        for (let i = 1; i <= step.args.times; i++) await this.steps(step.args.steps, [...iterations, i]);
        continue;
      }
      this.current = { step, iterations };
      await this.step(step);
      this.stepsDone++;
      await this.countSent();
      if (this.opts.onProgress) await this.progress();
    }
  }

  private async progress(): Promise<void> {
    const now = (await this.printer.clock?.now()) ?? 0;
    this.opts.onProgress!({
      name: this.scenario.name,
      simNow: now,
      simElapsedMs: now - this.startAt,
      stepsDone: this.stepsDone,
      stepsTotal: this.stepsTotal,
      transitions: this.transitions,
      mailsSent: this.mailsSent.size,
    });
  }

  /** Jobs the printer has finished as sent (the job log keeps the last 50: counted after every step). */
  private async countSent(): Promise<void> {
    for (const j of await this.printer.jobs()) if (j.status === 'sent') this.mailsSent.add(j.id);
  }

  private twin(): ScenarioTwin {
    if (!this.stage.twin) throw new StepFailure('no-twin', 'this step needs the embedded twin');
    return this.stage.twin;
  }

  private async step(step: SimpleStep): Promise<void> {
    const printer = this.printer;
    const state = async () => (await printer.status()).state;
    switch (step.kind) {
      case 'settings':
        return this.accepted(await printer.saveSettings(step.args), 'SAVE_SETTINGS');
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
        const without = this.stage.noAttachments;
        if (a.attachments.length && without) this.skip(`attachments: ${without.reason} (the job goes without them)`, without.capability);
        const job = await printer.submitJob({
          to: a.to,
          subject: a.subject,
          body: a.body,
          attachments: without
            ? []
            : a.attachments.map((name) => ({ filename: path.basename(name), contentType: contentTypeOf(name), path: this.opts.attachments?.get(name) ?? name })),
        });
        if (a.label) this.labels.set(a.label, job.id);
        if (a.settle) await printer.idle();
        return;
      }
      case 'approve':
      case 'decline': {
        const s = await printer.status();
        if (!s.userCode) throw new StepFailure('no-code', `there is no code on the panel to ${step.kind} (state ${s.state})`);
        if (step.kind === 'approve') {
          const r = await this.twin().approve(s.userCode, step.args.upn);
          if (r.error) this.note(`sign-in as ${step.args.upn} refused by the tenant: ${r.error.error}${r.error.aadsts ? ` (AADSTS${r.error.aadsts})` : ''}`);
        } else {
          await this.twin().decline(s.userCode);
        }
        // The printer learns the answer at its next poll, on wall time.
        const timeout = step.args.timeout ?? this.opts.stepTimeoutMs ?? Math.max(5_000, 2 * this.scenario.pollIntervalSeconds * 1000 + 3_000);
        return this.waitUntil(async () => (await state()) !== 'codePending', timeout, async () => [
          { what: 'state', expected: 'anything but codePending (the sign-in to end)', actual: await state() },
        ]);
      }
      case 'patchTenant':
        return this.twin().patchTenant(step.args);
      case 'patchUser': {
        const { upn, ...patch } = step.args;
        return this.twin().patchUser(upn, patch);
      }
      case 'resetPassword':
        return this.twin().resetPassword(step.args.upn, step.args.password);
      case 'revokeSessions':
        return this.twin().revokeSessions(step.args.upn);
      case 'fault':
        return this.twin().addFault(step.args);
      case 'clearFaults':
        return this.twin().clearFaults();
      case 'clock':
        return this.clockStep(step.args);
      case 'trust':
        return this.trustStep(step.args);
      case 'rootMigration': {
        const { in: inMs, ...rest } = step.args;
        await this.twin().migrateRoot({ ...rest, ...(inMs !== undefined ? { inMs } : {}) });
        this.note(`twin root migration${inMs ? ` in ${formatDurationShort(inMs)}` : ''}${rest.crossSign ? ' (cross-signed by the old root)' : ''}`);
        return;
      }
      case 'advance':
        return this.advance(step.args);
      case 'advanceUntil':
        return this.advanceUntil(step.args.state, step.args.cap);
      case 'powerCycle':
        return this.powerCycle(step.args.off, step.args.deviceKey);
      case 'waitFor': {
        const { state: wanted, jobs, timeout } = step.args;
        const states = wanted === undefined ? null : Array.isArray(wanted) ? wanted : [wanted];
        const world = { stage: this.stage, labels: this.labels };
        const unmet = async (): Promise<Difference[]> => {
          const s = await state();
          const diffs: Difference[] = states && !states.includes(s) ? [{ what: 'state', expected: states.join(' | '), actual: s }] : [];
          for (const [label, want] of Object.entries(jobs ?? {})) {
            const actual = await jobStatusOf(label, world);
            if (actual !== want) diffs.push({ what: `jobs.${label}`, expected: want, actual });
          }
          return diffs;
        };
        return this.waitUntil(async () => (await unmet()).length === 0, timeout, unmet, false);
      }
      case 'expect': {
        await printer.idle();
        const diffs = await checkExpectation(step.args, {
          stage: this.stage,
          labels: this.labels,
          mailboxBaseline: this.mailboxBaseline,
          skip: (reason, capability) => this.skip(reason, capability),
        });
        if (diffs.length) throw new StepFailure('expectation', 'expectation not met', diffs);
        return;
      }
      case 'note':
        this.note(step.args);
        return;
    }
  }

  private async operator(type: 'START_AUTH' | 'CANCEL_AUTH' | 'SIGN_OUT' | 'RETRY' | 'DISMISS' | 'FACTORY_RESET'): Promise<void> {
    this.accepted(await this.printer.send({ type }), type);
    await this.printer.idle();
  }

  private accepted(r: { accepted: boolean; state: LeafState; reason?: string }, what: string): void {
    if (!r.accepted) throw new StepFailure('refused', `the printer refused ${what}: ${r.reason ?? `not handled in ${r.state}`}`);
  }

  /**
   * Bounded wall-time wait, for what runs outside the virtual clock (polling, a printer's own threads). `settle`:
   * then wait for the printer to finish what it started (not for `waitFor`, whose point is to catch the printer in
   * the middle of something).
   */
  private async waitUntil(done: () => Promise<boolean>, timeoutMs: number, unmet: () => Promise<Difference[]>, settle = true): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!(await done())) {
      if (performance.now() > deadline) throw new StepFailure('timeout', `not reached within ${timeoutMs} ms (wall time)`, await unmet());
      await new Promise((r) => setTimeout(r, this.opts.pollMs ?? 10));
    }
    if (settle) await this.printer.idle();
  }

  private get wallWaitMs(): number {
    return this.opts.wallWaitMs ?? DEFAULT_WALL_WAIT_MS;
  }

  private async advance(ms: number): Promise<void> {
    const clock = this.printer.clock;
    if (clock) await clock.advance(ms);
    else {
      if (ms > this.wallWaitMs) throw new StepSkipped(`advance ${ms} ms: longer than the wall-time wait (${this.wallWaitMs} ms) and the printer has no clock control`, 'clock');
      await new Promise((r) => setTimeout(r, ms));
    }
    await this.printer.idle();
  }

  /** With clock control: deadline by deadline (the printer's own), never past the cap; on wall time: wait, within the bound. */
  private async advanceUntil(state: LeafState | LeafState[], capMs: number): Promise<void> {
    const want = Array.isArray(state) ? state : [state];
    const current = async () => (await this.printer.status()).state;
    const unmet = async () => [{ what: 'state', expected: want.join(' | '), actual: await current() }];
    const clock = this.printer.clock;
    if (!clock) {
      const waitMs = Math.min(capMs, this.wallWaitMs);
      try {
        return await this.waitUntil(async () => want.includes(await current()), waitMs, unmet);
      } catch (err) {
        if (err instanceof StepFailure && capMs > waitMs) {
          throw new StepSkipped(`advanceUntil ${want.join(' | ')}: not reached within the wall-time wait (${waitMs} ms) and the printer has no clock control`, 'clock');
        }
        throw err;
      }
    }
    const end = (await clock.now()) + capMs;
    for (;;) {
      if (want.includes(await current())) return;
      const now = await clock.now();
      if (now >= end) throw new StepFailure('timeout', 'state not reached within the cap', await unmet());
      const due = Object.values(await clock.deadlines()).filter((t): t is number => typeof t === 'number' && t > now);
      await clock.advance(Math.min(due.length ? Math.min(...due) : end, end) - now);
      await this.printer.idle();
    }
  }

  /** RTC faults first (they are the world's doing), then what the admin sets, then NTP: the order a person reads. */
  private async clockStep(c: Extract<SimpleStep, { kind: 'clock' }>['args']): Promise<void> {
    const clock = this.stage.deviceClock;
    if (!clock || !this.stage.worldNow) throw new StepSkipped('the device clock (RTC, NTP, time zone) is out of this stage\'s reach');
    if (c.ntpReachable !== undefined) {
      const twin = this.twin();
      if (!twin.setNtpReachable) throw new StepFailure('no-twin', 'ntpReachable needs the embedded twin');
      await twin.setNtpReachable(c.ntpReachable);
    }
    if (c.battery !== undefined) clock.rtc.setBattery(c.battery === 'ok');
    if (c.driftPpm !== undefined) clock.rtc.setDrift(c.driftPpm);
    if (c.step !== undefined) clock.rtc.step(c.step);
    if (c.set !== undefined) await clock.setDateTime(c.set === 'world' ? this.stage.worldNow() : Date.parse(c.set));
    if (c.ntp !== undefined || c.timeZone !== undefined) {
      await clock.saveTimeSettings({ ...(c.ntp !== undefined ? { ntpEnabled: c.ntp } : {}), ...(c.timeZone !== undefined ? { timeZone: c.timeZone } : {}) });
    }
    if (c.sync) await clock.syncNow();
    await clock.idle();
  }

  /** The admin on the Certificates page: deletes first, then imports ("replace the factory root by the new one"). */
  private async trustStep(t: Extract<SimpleStep, { kind: 'trust' }>['args']): Promise<void> {
    const store = this.printer.trustStore;
    if (!store) throw new StepSkipped('the trust store is out of this stage\'s reach', 'trustStore');
    if (t.delete !== undefined) {
      const victims = t.delete === 'factory' ? (await store.list()).filter((c) => c.origin === 'factory').map((c) => c.fingerprint) : [t.delete];
      for (const fp of victims) await store.remove(fp);
    }
    if (t.import !== undefined) await store.importPem(t.import === 'twin-root' ? await this.twin().rootPem() : t.import);
    await this.printer.idle();
  }

  private async powerCycle(offMs: number, deviceKey?: DeviceKeyLoss): Promise<void> {
    const power = this.printer.power;
    if (!power) throw new StepSkipped('powerCycle: the printer cannot be power cycled from here', 'power');
    if (deviceKey && !power.deviceKeyLoss) throw new StepSkipped(`powerCycle with deviceKey ${deviceKey}: the printer cannot be made to lose its device key from here`, 'deviceKey');
    if (!this.printer.clock && offMs > this.wallWaitMs) {
      throw new StepSkipped(`powerCycle off ${offMs} ms: longer than the wall-time wait (${this.wallWaitMs} ms) and the printer has no clock control`, 'clock');
    }
    const from = (await this.printer.status()).state;
    this.note(`power off in ${from}${offMs ? ` for ${formatDurationShort(offMs)}` : ''}${deviceKey ? `; device key ${deviceKey}` : ''}`);
    const report = await power.powerCycle(offMs, deviceKey ? { deviceKey } : undefined);
    // The boot's own transitions happen before anyone can subscribe; the boot report has them.
    for (const t of report.transitions) {
      if (t.from !== t.to) this.report(t.at, t.from, t.to, t.event, t.reason);
    }
    this.lastError = (await this.printer.status()).lastError;
    this.note(`power on: ${report.stateAfter}`);
    await this.printer.idle();
  }
}

export function countSteps(steps: Step[]): number {
  return steps.reduce((n, s) => n + (s.kind === 'repeat' ? s.args.times * countSteps(s.args.steps) : 1), 0);
}

function usesTokenCheck(steps: Step[]): boolean {
  return steps.some((s) => (s.kind === 'repeat' ? usesTokenCheck(s.args.steps) : s.kind === 'expect' && s.args.nvram?.noTokenText === true));
}

function mailboxesOf(steps: Step[]): { upn: string; folder?: string }[] {
  return steps.flatMap((s) => {
    if (s.kind === 'repeat') return mailboxesOf(s.args.steps);
    if (s.kind !== 'expect' || s.args.mailbox === undefined) return [];
    return Array.isArray(s.args.mailbox) ? s.args.mailbox : [s.args.mailbox];
  });
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
