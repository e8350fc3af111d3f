/**
 * `scenario run --driver URL --twin URL`: the same scenario files driven through the driver protocol against any
 * printer, with a running twin reached over its control API. Operator steps go to the driver, outcomes are scripted
 * on the twin, observations come from the driver's status, jobs and events and the twin's mailboxes.
 *
 * A step the printer lacks the capability for is *skipped* with the reason, never passed: a skipped step that would
 * change the world (clock, power cut, device clock) ends the scenario as skipped — later expectations would judge a
 * story that did not happen; a skipped check inside an `expect` (NVRAM token text, the device clock) is listed and
 * the scenario goes on.
 */
import type { LeafState } from '../../machines/oauthDevice.ts';
import type { DriverCapability } from '../driver/protocol.ts';
import { defaultSmtpSettings, type SmtpSettings } from '../nvram/schema.ts';
import type { RemoteTarget } from '../mbt/remote/executor.ts';
import type { Difference } from './expectations.ts';
import { formatPath, loadScenarioFile } from './load.ts';
import type { Expectation, Scenario, SimpleStep, Step } from './schema.ts';

export interface RemoteScenarioOptions {
  /** Without clock control: wait on wall time for an `advance`/`advanceUntil`/power cut up to this long (ms). */
  wallWaitMs?: number;
  /** Bound of each wall-time wait for the printer (approve, waitFor without timeout). */
  stepTimeoutMs?: number;
  onNote?: (line: string) => void;
}

export interface SkippedStep {
  where: string;
  line: number | undefined;
  step: string;
  reason: string;
  /** The capability that would run it, when one would. */
  capability?: DriverCapability;
}

export interface RemoteScenarioResult {
  name: string;
  file: string | null;
  outcome: 'passed' | 'failed' | 'skipped';
  failure: { where: string; line: number | undefined; step: string; message: string; differences: Difference[] } | null;
  /** Steps and checks not run, each with its reason; the first world-changing one ends the scenario. */
  skipped: SkippedStep[];
  stepsRun: number;
  stepsTotal: number;
  wallMs: number;
}

class StepFailure extends Error {
  constructor(
    message: string,
    readonly differences: Difference[] = [],
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

/** A step that cannot run on this printer and changes what follows: the scenario stops here, skipped. */
class StepSkipped extends Error {
  constructor(
    readonly reason: string,
    readonly capability?: DriverCapability,
  ) {
    super(reason);
    this.name = 'StepSkipped';
  }
}

const DEFAULT_WALL_WAIT_MS = 20_000;
const DEFAULT_STEP_TIMEOUT_MS = 20_000;

export async function runScenarioRemote(input: string | Scenario, target: RemoteTarget, opts: RemoteScenarioOptions = {}): Promise<RemoteScenarioResult> {
  const scenario = typeof input === 'string' ? await loadScenarioFile(input) : input;
  const run = new RemoteRun(scenario, target, opts);
  const started = performance.now();
  let outcome: RemoteScenarioResult['outcome'] = 'passed';
  let failure: RemoteScenarioResult['failure'] = null;
  try {
    await run.prepare();
    await run.steps(scenario.steps);
  } catch (err) {
    const step = run.current;
    const where = step ? formatPath(step.origin.path) : '(start)';
    const line = step?.origin.line;
    if (err instanceof StepSkipped) {
      outcome = 'skipped';
      run.skipped.push({ where, line, step: step?.kind ?? '(start)', reason: err.reason, ...(err.capability ? { capability: err.capability } : {}) });
    } else {
      outcome = 'failed';
      const e = err as Error;
      failure = { where, line, step: step?.kind ?? '(start)', message: `${step?.kind ?? 'start'}: ${e?.message ?? String(err)}`, differences: err instanceof StepFailure ? err.differences : [] };
    }
  }
  return {
    name: scenario.name,
    file: scenario.file,
    outcome,
    failure,
    skipped: run.skipped,
    stepsRun: run.stepsDone,
    stepsTotal: countSteps(scenario.steps),
    wallMs: Math.round(performance.now() - started),
  };
}

class RemoteRun {
  readonly skipped: SkippedStep[] = [];
  readonly labels = new Map<string, string>();
  stepsDone = 0;
  current: SimpleStep | null = null;
  /** Messages already in a mailbox when the scenario started: counts are of what this scenario put there. */
  private readonly baseline = new Map<string, number>();
  private eventsFrom = 0;
  private settings: SmtpSettings = defaultSmtpSettings();
  private readonly wallWaitMs: number;
  private readonly stepTimeoutMs: number;

  constructor(
    private readonly scenario: Scenario,
    private readonly t: RemoteTarget,
    private readonly opts: RemoteScenarioOptions,
  ) {
    this.wallWaitMs = opts.wallWaitMs ?? DEFAULT_WALL_WAIT_MS;
    this.stepTimeoutMs = opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
  }

  private get caps() {
    return this.t.driver.capabilities;
  }

  private note(text: string): void {
    this.opts.onNote?.(text);
  }

  /** A scenario starts from a new printer and a twin without faults, as the in-process runner's fresh simulator. */
  async prepare(): Promise<void> {
    if (this.scenario.tenant || this.scenario.nvramImage || this.scenario.startAt) {
      this.note('the scenario names a tenant, NVRAM image or start time: a running twin and printer keep their own');
    }
    await this.t.twin.clearFaults();
    const { state } = await this.t.driver.status();
    if (state !== 'unconfigured') {
      this.note(`printer in ${state}: factory reset first`);
      this.accepted(await this.t.driver.send({ type: 'FACTORY_RESET' }), 'FACTORY_RESET');
      await this.t.driver.idle();
    }
    if (this.caps.events) this.eventsFrom = (await this.t.driver.events(0)).next;
    await this.snapshotMailboxes();
  }

  async steps(steps: Step[]): Promise<void> {
    for (const step of steps) {
      if (step.kind === 'repeat') {
        for (let i = 0; i < step.args.times; i++) await this.steps(step.args.steps);
        continue;
      }
      this.current = step;
      await this.step(step);
      this.stepsDone++;
    }
  }

  private skip(reason: string, capability?: DriverCapability): void {
    const step = this.current!;
    this.skipped.push({ where: formatPath(step.origin.path), line: step.origin.line, step: step.kind, reason, ...(capability ? { capability } : {}) });
  }

  private async step(step: SimpleStep): Promise<void> {
    const { driver, twin } = this.t;
    switch (step.kind) {
      case 'settings': {
        // The driver takes whole settings; a partial step changes the run's last ones, from a fresh printer's
        // (as the in-process runner's device keeps the rest).
        const merged = { ...this.settings, ...step.args };
        this.settings = merged;
        return this.accepted(await driver.saveSettings(merged), 'SAVE_SETTINGS');
      }
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
        if (a.attachments.length) this.skip('attachments: the driver protocol sends a job as text (the job goes without them)');
        const job = await driver.submitJob({ to: a.to, subject: a.subject, body: a.body });
        if (a.label) this.labels.set(a.label, job.id);
        if (a.settle) await driver.idle();
        return;
      }
      case 'approve':
      case 'decline': {
        const s = await driver.status();
        if (!s.userCode) throw new StepFailure(`there is no code on the panel to ${step.kind} (state ${s.state})`);
        if (step.kind === 'approve') {
          const r = (await twin.approve(s.userCode, step.args.upn)) as { error?: { error: string; aadsts?: number } };
          if (r?.error) this.note(`sign-in as ${step.args.upn} refused by the tenant: ${r.error.error}${r.error.aadsts ? ` (AADSTS${r.error.aadsts})` : ''}`);
        } else {
          await twin.decline(s.userCode);
        }
        // The printer learns the answer at its next poll, on wall time.
        return this.waitFor(async () => (await driver.status()).state !== 'codePending', step.args.timeout ?? this.stepTimeoutMs, async () => [
          { what: 'state', expected: 'anything but codePending (the sign-in to end)', actual: (await driver.status()).state },
        ]);
      }
      case 'patchTenant':
        await twin.call('PATCH', '/tenant', step.args);
        return;
      case 'patchUser': {
        const { upn, ...patch } = step.args;
        await twin.call('PATCH', `/users/${encodeURIComponent(upn)}`, patch);
        return;
      }
      case 'resetPassword':
        await twin.call('POST', `/users/${encodeURIComponent(step.args.upn)}/password`, { password: step.args.password });
        return;
      case 'revokeSessions':
        await twin.call('POST', `/users/${encodeURIComponent(step.args.upn)}/revoke`, {});
        return;
      case 'fault':
        await twin.call('POST', '/faults', step.args);
        return;
      case 'clearFaults':
        await twin.clearFaults();
        return;
      case 'clock':
        throw new StepSkipped('the device clock (RTC, NTP, time zone) is not part of the driver protocol');
      case 'trust':
        throw new StepSkipped('the trust store is not part of the driver protocol');
      case 'rootMigration':
        if (step.args.in !== undefined) throw new StepSkipped('rootMigration "in": a remote run migrates at once only (POST /_twin/pki/migrate with "at" on the twin clock)');
        await twin.call('POST', '/pki/migrate', { ...(step.args.crossSign !== undefined ? { crossSign: step.args.crossSign } : {}), ...(step.args.name ? { name: step.args.name } : {}) });
        return;
      case 'advance':
        return this.advance(step.args);
      case 'advanceUntil':
        return this.advanceUntil(step.args.state, step.args.cap);
      case 'powerCycle':
        return this.powerCycle(step.args.off, step.args.deviceKey);
      case 'waitFor': {
        const { state, jobs, timeout } = step.args;
        const states = state === undefined ? null : Array.isArray(state) ? state : [state];
        const unmet = async (): Promise<Difference[]> => {
          const s = (await driver.status()).state;
          const diffs: Difference[] = states && !states.includes(s) ? [{ what: 'state', expected: states.join(' | '), actual: s }] : [];
          for (const [label, want] of Object.entries(jobs ?? {})) {
            const actual = await this.jobStatus(label);
            if (actual !== want) diffs.push({ what: `jobs.${label}`, expected: want, actual });
          }
          return diffs;
        };
        return this.waitFor(async () => (await unmet()).length === 0, timeout, unmet, false);
      }
      case 'expect': {
        await driver.idle();
        const diffs = await this.check(step.args);
        if (diffs.length) throw new StepFailure('expectation not met', diffs);
        return;
      }
      case 'note':
        this.note(step.args);
        return;
    }
  }

  private async operator(type: 'START_AUTH' | 'CANCEL_AUTH' | 'SIGN_OUT' | 'RETRY' | 'DISMISS' | 'FACTORY_RESET'): Promise<void> {
    this.accepted(await this.t.driver.send({ type }), type);
    await this.t.driver.idle();
  }

  private accepted(r: { accepted: boolean; state: LeafState; reason?: string }, what: string): void {
    if (!r.accepted) throw new StepFailure(`the printer refused ${what}: ${r.reason ?? `not handled in ${r.state}`}`);
  }

  /** Bounded wall-time wait (what runs outside any virtual clock: polling, the printer's own threads). */
  private async waitFor(done: () => Promise<boolean>, timeoutMs: number, unmet: () => Promise<Difference[]>, settle = true): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!(await done())) {
      if (performance.now() > deadline) throw new StepFailure(`not reached within ${timeoutMs} ms (wall time)`, await unmet());
      await new Promise((r) => setTimeout(r, 50));
    }
    if (settle) await this.t.driver.idle();
  }

  private async advance(ms: number): Promise<void> {
    if (this.caps.clock) {
      await this.t.driver.advance(ms);
    } else {
      if (ms > this.wallWaitMs) throw new StepSkipped(`advance ${ms} ms: longer than the wall-time wait (${this.wallWaitMs} ms) and the printer has no clock control`, 'clock');
      await new Promise((r) => setTimeout(r, ms));
    }
    await this.t.driver.idle();
  }

  /** With clock control: deadline by deadline as the status shows them; on wall time: wait, within the bound. */
  private async advanceUntil(state: LeafState | LeafState[], capMs: number): Promise<void> {
    const want = Array.isArray(state) ? state : [state];
    const { driver } = this.t;
    const unmet = async () => [{ what: 'state', expected: want.join(' | '), actual: (await driver.status()).state }];
    if (!this.caps.clock) {
      const waitMs = Math.min(capMs, this.wallWaitMs);
      try {
        return await this.waitFor(async () => want.includes((await driver.status()).state), waitMs, unmet);
      } catch (err) {
        if (err instanceof StepFailure && capMs > waitMs) {
          throw new StepSkipped(`advanceUntil ${want.join(' | ')}: not reached within the wall-time wait (${waitMs} ms) and the printer has no clock control`, 'clock');
        }
        throw err;
      }
    }
    const end = (await driver.now()) + capMs;
    for (;;) {
      const s = await driver.status();
      if (want.includes(s.state)) return;
      const now = await driver.now();
      if (now >= end) throw new StepFailure('state not reached within the cap', await unmet());
      const due = [s.expiresAt, s.tokenExpiresAt, s.retryAt].filter((x): x is number => typeof x === 'number' && x > now);
      await driver.advance(Math.min(due.length ? Math.min(...due) : end, end) - now);
      await driver.idle();
    }
  }

  private async powerCycle(offMs: number, deviceKey: string | undefined): Promise<void> {
    if (deviceKey) throw new StepSkipped(`powerCycle with deviceKey ${deviceKey}: the device key is our printer's file, not part of the driver protocol`);
    if (!this.caps.power) throw new StepSkipped('powerCycle: the printer cannot be power cycled through its driver', 'power');
    if (!this.caps.clock && offMs > this.wallWaitMs) {
      throw new StepSkipped(`powerCycle off ${offMs} ms: longer than the wall-time wait (${this.wallWaitMs} ms) and the printer has no clock control`, 'clock');
    }
    const { stateAfter } = await this.t.driver.powerCycle(offMs);
    this.note(`power cycle (${offMs} ms off): ${stateAfter}`);
    await this.t.driver.idle();
  }

  private async jobStatus(label: string): Promise<string> {
    const id = this.labels.get(label);
    if (!id) return '(no job with this label yet)';
    return (await this.t.driver.jobs()).find((j) => j.id === id)?.status ?? '(no longer in the job list)';
  }

  private async check(e: Expectation): Promise<Difference[]> {
    const { driver, twin } = this.t;
    const status = await driver.status();
    const diffs: Difference[] = [];
    if (e.state !== undefined) {
      const want = Array.isArray(e.state) ? e.state : [e.state];
      if (!want.includes(status.state)) diffs.push({ what: 'state', expected: want.join(' | '), actual: status.state });
    }
    if (e.lastError !== undefined) {
      const actual = status.lastError;
      if (e.lastError === null) {
        if (actual !== null) diffs.push({ what: 'lastError', expected: null, actual });
      } else {
        if (e.lastError.reason !== undefined && actual?.reason !== e.lastError.reason) diffs.push({ what: 'lastError.reason', expected: e.lastError.reason, actual: actual?.reason ?? null });
        if (e.lastError.code !== undefined && (actual?.code ?? null) !== e.lastError.code) diffs.push({ what: 'lastError.code', expected: e.lastError.code, actual: actual?.code ?? null });
      }
    }
    if (e.account !== undefined && status.account !== e.account) diffs.push({ what: 'account', expected: e.account, actual: status.account });
    if (e.clock) this.skip('expect.clock: the device clock is not part of the driver protocol');
    if (e.jobs) {
      const jobs = await driver.jobs();
      for (const [label, want] of Object.entries(e.jobs)) {
        const id = this.labels.get(label);
        const job = id ? jobs.find((j) => j.id === id) : undefined;
        const expected = typeof want === 'string' ? { status: want } : want;
        if (!job) {
          diffs.push({ what: `jobs.${label}`, expected, actual: id ? '(no longer in the job list)' : '(no job with this label yet)' });
          continue;
        }
        if (expected.status !== undefined && job.status !== expected.status) diffs.push({ what: `jobs.${label}.status`, expected: expected.status, actual: `${job.status}${job.reply ? ` (${job.reply})` : ''}` });
        if (expected.attempts !== undefined && job.attempts !== expected.attempts) diffs.push({ what: `jobs.${label}.attempts`, expected: expected.attempts, actual: job.attempts });
        if (expected.replyContains !== undefined && !(job.reply ?? '').includes(expected.replyContains)) diffs.push({ what: `jobs.${label}.reply`, expected: `containing "${expected.replyContains}"`, actual: job.reply });
      }
    }
    for (const m of e.mailbox === undefined ? [] : Array.isArray(e.mailbox) ? e.mailbox : [e.mailbox]) {
      const all = (await twin.messages(m.upn)) as { folder?: string; subject?: string | null }[];
      const key = `${m.upn} ${m.folder ?? ''}`;
      const inFolder = m.folder ? all.filter((x) => x.folder === m.folder) : all;
      // Counted from the scenario's start: the twin may hold earlier runs' mail.
      if (!this.baseline.has(key)) this.baseline.set(key, 0);
      const fresh = inFolder.slice(this.baseline.get(key));
      const where = `mailbox ${m.upn}${m.folder ? ` ${m.folder}` : ''}`;
      if (m.count !== undefined && fresh.length !== m.count) diffs.push({ what: `${where} count`, expected: m.count, actual: fresh.length });
      if (m.subject !== undefined && !fresh.some((x) => x.subject === m.subject)) diffs.push({ what: `${where} subject`, expected: m.subject, actual: fresh.slice(-5).map((x) => x.subject) });
    }
    if (e.nvram) {
      if (e.nvram.noTokenText) this.skip('expect.nvram.noTokenText: the tokens the printer holds are not visible through the driver');
      if (e.nvram.excludes?.length) {
        if (!this.caps.nvram) this.skip('expect.nvram.excludes: the printer offers no NVRAM view', 'nvram');
        else {
          const text = JSON.stringify(await driver.nvram());
          for (const x of e.nvram.excludes) if (text.includes(x)) diffs.push({ what: 'nvram contents', expected: `no "${x}"`, actual: 'present in the NVRAM view' });
        }
      }
    }
    if (e.eventLog) {
      if (!this.caps.events) this.skip('expect.eventLog: the printer offers no event stream', 'events');
      else {
        const lines = (await driver.events(this.eventsFrom)).events.map((x) => `${x.from} → ${x.to} on ${x.event}`);
        for (const text of Array.isArray(e.eventLog.contains) ? e.eventLog.contains : [e.eventLog.contains]) {
          if (!lines.some((l) => l.includes(text))) diffs.push({ what: 'eventLog', expected: `a transition containing "${text}"`, actual: lines.slice(-5) });
        }
      }
    }
    return diffs;
  }

  /** Mailbox counts are relative to what was there when the scenario started. */
  async snapshotMailboxes(): Promise<void> {
    for (const upn of mailboxesOf(this.scenario.steps)) {
      const all = (await this.t.twin.messages(upn.upn)) as { folder?: string }[];
      this.baseline.set(`${upn.upn} ${upn.folder ?? ''}`, (upn.folder ? all.filter((x) => x.folder === upn.folder) : all).length);
    }
  }
}

function mailboxesOf(steps: Step[]): { upn: string; folder?: string }[] {
  return steps.flatMap((s) => {
    if (s.kind === 'repeat') return mailboxesOf(s.args.steps);
    if (s.kind !== 'expect' || s.args.mailbox === undefined) return [];
    return Array.isArray(s.args.mailbox) ? s.args.mailbox : [s.args.mailbox];
  });
}

function countSteps(steps: Step[]): number {
  return steps.reduce((n, s) => n + (s.kind === 'repeat' ? s.args.times * countSteps(s.args.steps) : 1), 0);
}
