/**
 * Runs model steps on the running system and checks each one from outside.
 *  - Operator events go through the panel's JSON API over HTTP (Basic auth), as a tester or a script would.
 *  - Outcomes are scripted on the twin before the step that triggers them (fault plans for devicecode / token /
 *    smtp.auth, approve / decline through the twin's control), then the held effect is let through (gates.ts).
 *  - Deadlines: the shared virtual clock is moved to the deadline the device has armed (and must be the earliest).
 *  - POWER_CYCLE: the panel's power-cycle route, off for 0 ms or for a day (the access deadline passes); for a
 *    changed key, the printer's power capability loses the device key while off (deleted, replaced or truncated,
 *    in turn), as a tester with the printer's storage would.
 * Everything the executor reads of the printer goes through the printer interface (src/device/printer.ts): its
 * status, the armed deadlines (the clock capability) and the image read back (the nvramImage capability).
 * After each step: `/api/status` must show the model's state; the NVRAM image (read back from the medium, as
 * `mfp-sim nvram show` does) must hold that state's snapshot, the token cache exactly when the model has one, and as
 * many spool records as the model has jobs, with as many held besides the job in progress; the recipient's mailbox
 * on the twin must hold one message per SENT.
 * With `timing`, every wait on the system (performing the step, settling, HTTP reads, twin control reads) is
 * counted as system time; predicting, comparing and inspecting the NVRAM image are the harness's own time.
 */
import { requireCapability, type Printer } from '../device/printer.ts';
import { DEVICE_KEY_FAULTS } from '../sim/device-key-fault.ts';
import type { LeafState } from '../../machines/oauthDevice.ts';
import { codeText } from '../device/failures.ts';
import type { FaultAction, FaultTarget } from '../cloud/contracts.ts';
import { ACCOUNT_A, ACCOUNT_B, APP_ONLY_A, BASIC_PASSWORD_A, JOB_RECIPIENT, SEND_FAILURES, kindOf, type EventLabel } from './vocabulary.ts';
import { initialSystemState, leafOf, nextDeadline, step as modelStep, type SystemState, type TakenTransition } from './systemModel.ts';
import { expectationsFor } from './generator.ts';
import type { SystemUnderTest } from './system.ts';
import type { GateKind } from './gates.ts';
import type { CoverageTracker } from './coverage.ts';
import { lastRowAfter, type PairCoverageTracker } from './pairs.ts';
import { SystemTime } from './timing.ts';

/** A step's check failed: carries everything needed to read, save and replay the failure. */
export class ModelDivergence extends Error {
  constructor(
    readonly stepIndex: number,
    readonly labels: readonly EventLabel[],
    readonly expected: LeafState,
    readonly actual: string,
    readonly detail: string,
  ) {
    super(
      `step ${stepIndex + 1} (${labels[stepIndex]}): ${detail}\n  path: ${labels
        .slice(0, stepIndex + 1)
        .map((l, i) => `${i + 1}. ${l}`)
        .join('  ')}`,
    );
    this.name = 'ModelDivergence';
  }
}

export interface ExecutorOptions {
  /** Check the NVRAM image after every step (default) or every nth step. */
  nvramEvery?: number;
  /** Wall-time bound for the system to reach the expected state after a step (default 8000 ms). */
  settleTimeoutMs?: number;
  coverage?: CoverageTracker;
  /** Transition-pair coverage (opt-in, pairs.ts): the rows of each checked step, after the row taken before it. */
  pairs?: PairCoverageTracker;
  /** Accumulates the wall time spent waiting on the system (see timing.ts); a private one when absent. */
  timing?: SystemTime;
}

export interface StepRecord {
  label: EventLabel;
  expected: LeafState;
  actual: string;
  taken: TakenTransition[];
  ms: number;
}

const OAUTH_SMTP = { smtpServerName: 'smtp.office365.com', smtpPort: 587, useSecureConnection: true, adminEmailAddress: '' };
// App-only's client-credentials request waits at the refresh gate (gates.ts), in requestingToken as in refreshing.
const HELD_KIND: Partial<Record<LeafState, GateKind>> = { requestingCode: 'signIn', refreshing: 'refresh', sending: 'submit', requestingToken: 'refresh' };
const POWER_OFF_LONG_MS = 24 * 3_600_000;

/** One system, one model: apply labels one by one with `run`, or all of them with `runAll`. */
export class ModelExecutor {
  private model: SystemState = initialSystemState();
  private readonly labels: EventLabel[] = [];
  /** Every label run() was called with, the failing one included. */
  get attempted(): readonly EventLabel[] {
    return this.labels;
  }
  private delivered = 0;
  /** The last row a checked step took on this system (null until one did): the first half of the next pair. */
  private lastRow: string | null = null;
  readonly records: StepRecord[] = [];

  private readonly timing: SystemTime;

  constructor(
    readonly sut: SystemUnderTest,
    private readonly opts: ExecutorOptions = {},
  ) {
    this.timing = opts.timing ?? new SystemTime();
  }

  get modelState(): SystemState {
    return this.model;
  }

  private get printer(): Printer {
    return this.sut.printer;
  }

  private armedDeadlines() {
    return requireCapability(this.printer, 'clock').deadlines();
  }

  /** For walks: a deadline only when it is the one the device has armed first. */
  async eligible(label: EventLabel): Promise<boolean> {
    if (kindOf(label) !== 'deadline') return true;
    const pending = Object.entries(await this.armedDeadlines()).sort((a, b) => a[1]! - b[1]!);
    return pending[0]?.[0] === label;
  }

  async runAll(labels: readonly EventLabel[]): Promise<StepRecord[]> {
    for (const l of labels) await this.run(l);
    return this.records;
  }

  async run(label: EventLabel): Promise<StepRecord> {
    const started = performance.now();
    const index = this.labels.length;
    this.labels.push(label);
    const before = this.model;
    const { state: after, taken } = modelStep(before, label);
    const expected = leafOf(after);
    const fail = (actual: string, detail: string) => new ModelDivergence(index, this.labels, expected, actual, detail);

    try {
      await this.timing.inside(() => this.perform(label, before));
    } catch (err) {
      if (err instanceof ModelDivergence) throw err;
      throw fail('?', `could not perform the step: ${(err as Error).message}`);
    }
    const actual = await this.timing.inside(() => this.settle(expected));
    if (actual !== expected) {
      throw fail(actual, `system in ${actual}, model in ${expected}${await this.lastErrorNote()}`);
    }
    const mismatch = await this.checkStatusFields(after);
    if (mismatch) throw fail(actual, `in ${actual}: ${mismatch}${await this.lastErrorNote()}`);
    this.model = after;
    const rows = taken.map((t) => t.row.id);
    if (rows.some((r) => r.includes(':SENT#'))) this.delivered += rows.filter((r) => r.includes(':SENT#')).length;
    const every = this.opts.nvramEvery ?? 1;
    if (every > 0 && index % every === 0) await this.checkNvram(after, rows, fail);
    await this.checkMailbox(fail);
    for (const t of taken) this.opts.coverage?.record(t.row.id, t.to);
    this.opts.pairs?.recordStep(this.lastRow, rows);
    this.lastRow = lastRowAfter(this.lastRow, rows);
    const record: StepRecord = { label, expected, actual, taken, ms: performance.now() - started };
    this.records.push(record);
    return record;
  }

  // ------------------------------------------------------------------ performing a step
  private async perform(label: EventLabel, before: SystemState): Promise<void> {
    const { sut } = this;
    const control = sut.twin.control;
    switch (kindOf(label)) {
      case 'operator':
        return this.operator(label);
      case 'power':
        if (label === 'POWER_CYCLE:keyChanged') return this.powerCycleLosingKey();
        await this.api('POST', '/api/device/power-cycle', { offMs: label === 'POWER_CYCLE:deadlinePassed' ? POWER_OFF_LONG_MS : 0 });
        return;
      case 'deadline': {
        const which = label as 'CODE_DEADLINE' | 'ACCESS_TOKEN_DEADLINE' | 'RETRY_DUE';
        if (nextDeadline(before.snapshot) !== which) throw new Error(`${which} is not the model's next deadline`);
        const pending = await this.armedDeadlines();
        const at = pending[which];
        if (at === undefined) throw new Error(`the device has no ${which} armed (armed: ${JSON.stringify(pending)})`);
        const earlier = Object.entries(pending).filter(([e, t]) => e !== which && t! <= at);
        if (earlier.length) throw new Error(`${earlier.map(([e]) => e).join(', ')} would fire first (the model cannot order these deadlines)`);
        // Moving the clock straight past gated work: the deadline's event is dispatched, the held effect stays held.
        await sut.clock.advance(Math.max(0, at - sut.clock.now()));
        return;
      }
      case 'outcome':
        break;
    }
    const userCode = async () => {
      const code = (await this.printer.status()).userCode;
      if (!code) throw new Error('no user code on the device');
      return code;
    };
    const fault = (target: FaultTarget, action: FaultAction) => control.addFault({ target, action, count: 1 });
    const release = (kind: GateKind) => {
      if (!sut.gates.release(kind)) throw new Error(`no ${kind} call was held`);
    };
    const account = before.snapshot.context.account ?? ACCOUNT_A;
    // App-only's first grant is a client-credentials request (held at the refresh gate): whoever "signs in", Entra
    // answers for the app, so both grant labels are the request let through.
    if (leafOf(before) === 'requestingToken' && label.startsWith('TOKEN_GRANTED')) return release('refresh');
    switch (label) {
      case 'CODE_ISSUED':
        return release('signIn');
      case 'CODE_FAILED':
        fault('devicecode', { kind: 'error', error: 'unauthorized_client', aadsts: 700016, description: "Application with identifier was not found in the directory 'Contoso'." });
        return release('signIn');
      case 'TOKEN_GRANTED:configured':
        control.approveDeviceCode(await userCode(), account);
        return;
      case 'TOKEN_GRANTED:other':
        control.approveDeviceCode(await userCode(), account.toLowerCase() === ACCOUNT_B ? ACCOUNT_A : ACCOUNT_B);
        return;
      case 'AUTH_DECLINED':
        control.declineDeviceCode(await userCode());
        return;
      case 'CODE_EXPIRED':
        fault('token', { kind: 'error', error: 'code_expired', aadsts: 70020, description: 'The provided value for the input parameter device_code is not valid. The device code has expired.' });
        return;
      case 'POLL_FAILED':
        fault('token', { kind: 'error', error: 'invalid_grant', aadsts: 53003, description: 'Access has been blocked by Conditional Access policies.' });
        return;
      case 'REFRESHED':
        return release('refresh');
      case 'REFRESH_FAILED:transient':
        fault('token', { kind: 'error', error: 'temporarily_unavailable', aadsts: 90033, description: 'A transient error has occurred. Please try again.' });
        return release('refresh');
      case 'REFRESH_FAILED:permanent':
        fault('token', { kind: 'error', error: 'invalid_grant', aadsts: 50173, description: 'The provided grant has expired due to it being revoked, a fresh auth token is needed.' });
        return release('refresh');
      case 'SENT':
        return release('submit');
      case 'SEND_FAILED:auth-rejected':
      case 'SEND_FAILED:permanent':
      case 'SEND_FAILED:transient':
        fault('smtp.auth', { kind: 'reply', reply: SEND_FAILURES[label.slice('SEND_FAILED:'.length) as keyof typeof SEND_FAILURES].reply });
        return release('submit');
      default:
        throw new Error(`no executor for ${label}`);
    }
  }

  private keyFaults = 0;
  /** A power cycle losing the device key the three ways it goes while the printer is off, in turn: deleted, replaced, truncated. */
  private async powerCycleLosingKey(): Promise<void> {
    const power = requireCapability(this.printer, 'power');
    if (!power.deviceKeyLoss) throw new Error('the printer cannot lose its device key on a power cycle');
    await power.powerCycle(0, { deviceKey: DEVICE_KEY_FAULTS[this.keyFaults++ % DEVICE_KEY_FAULTS.length]! });
  }

  private async operator(label: EventLabel): Promise<void> {
    const settings = (authMethod: string, account: string) => ({ ...OAUTH_SMTP, authMethod, authEmailAddress: account, authUsername: account });
    switch (label) {
      case 'SAVE_SETTINGS:accountA':
        return this.api('PUT', '/api/settings/smtp', settings('oauth2ExchangeOnline', ACCOUNT_A));
      case 'SAVE_SETTINGS:accountB':
        return this.api('PUT', '/api/settings/smtp', settings('oauth2ExchangeOnline', ACCOUNT_B));
      case 'SAVE_SETTINGS:off':
        return this.api('PUT', '/api/settings/smtp', settings('off', ''));
      case 'SAVE_SETTINGS:basicA':
        return this.api('PUT', '/api/settings/smtp', { ...settings('smtpAuth', ACCOUNT_A), smtpPassword: BASIC_PASSWORD_A });
      case 'SAVE_SETTINGS:appOnlyA':
        return this.api('PUT', '/api/settings/smtp', { ...settings('oauth2AppOnly', ACCOUNT_A), ...APP_ONLY_A });
      case 'START_AUTH':
        return this.api('POST', '/api/oauth/start');
      case 'CANCEL_AUTH':
        return this.api('POST', '/api/oauth/cancel');
      case 'SIGN_OUT':
        return this.api('DELETE', '/api/oauth/token');
      case 'SEND':
        return this.api('POST', '/api/mail/test', { to: JOB_RECIPIENT, subject: `mbt job ${this.labels.length}` });
      case 'RETRY':
        return this.api('POST', '/api/device/retry');
      case 'DISMISS':
        return this.api('POST', '/api/device/dismiss');
      case 'FACTORY_RESET':
        return this.api('POST', '/api/device/factory-reset');
      default:
        throw new Error(`${label} is not an operator event`);
    }
  }

  /** One call to the panel's JSON API; anything but 2xx is a failed step. */
  async api(method: string, route: string, body?: unknown): Promise<void> {
    const res = await this.call(method, route, body);
    if (res.status >= 300) throw new Error(`${method} ${route} answered ${res.status}: ${JSON.stringify(res.body)}`);
  }

  async call(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
    return this.timing.inside(() => this.request(method, route, body));
  }

  private async request(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(this.sut.panelUrl + route, {
      method,
      headers: {
        authorization: 'Basic ' + Buffer.from(`admin:${this.sut.adminPassword}`).toString('base64'),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed };
  }

  // ------------------------------------------------------------------ waiting and observing
  /**
   * Waits (wall time, bounded) until the system shows the expected state with nothing but a held effect in flight,
   * and returns the state `/api/status` shows. Held calls of states the device has left are failed: the device
   * abandoned them and drops what they report.
   * The waiting is done on the printer's own status and wakes on its transition notices and on calls reaching a
   * gate, not on a timer over HTTP: polling the panel every few ms took CPU from the system it waited for. The state
   * returned is still read over HTTP, once the printer looked ready and again after it went quiet.
   */
  private async settle(expected: LeafState): Promise<string> {
    const { sut } = this;
    const heldKind = HELD_KIND[expected];
    const deadline = performance.now() + (this.opts.settleTimeoutMs ?? 8000);
    const change = new ChangeSignal();
    const offNotice = this.printer.subscribe(() => change.fire());
    const offHold = sut.gates.onHold(() => change.fire());
    try {
      let shown = '?';
      for (;;) {
        // Only calls of a state the device has left are abandoned (a diverging device keeps its own work). The
        // device enters a state and calls its effect synchronously, and the local printer's status is taken when
        // asked, so the state read here and the look at the gates below belong together.
        const woken = change.next();
        const now = (await this.printer.status()).state;
        for (const k of ['signIn', 'refresh', 'submit'] as const) if (HELD_KIND[now] !== k) sut.gates.abandon(k);
        shown = now;
        if (now === expected && (heldKind === undefined || sut.gates.count(heldKind) > 0)) {
          // With a call held, idle() would wait for it; the events the step queued behind the call still count: the
          // pump's SENDs that only hold a job raise no notice, and a spool read before their commits is short of them.
          const quiet = heldKind === undefined ? this.printer.idle() : this.eventsDrained();
          await withTimeout(quiet, Math.max(100, deadline - performance.now()));
          // Look again, over the panel, after the device went quiet: a state passed through on the way must not count.
          const again = (await this.call('GET', '/api/status')).body?.state ?? '?';
          if (again === expected) return again;
          shown = again;
        }
        if (performance.now() > deadline) return shown;
        // A notice or a held call wakes the loop at once; the timer is a fallback for changes that send neither.
        await withTimeout(woken, 25);
      }
    } finally {
      offNotice();
      offHold();
    }
  }

  private eventsDrained(): Promise<void> {
    if (!this.printer.eventsDrained) throw new Error('the in-process executor needs a printer that says when its events are drained');
    return this.printer.eventsDrained();
  }

  /** The guard-relevant facts `/api/status` shows, against the model's context. */
  private async checkStatusFields(after: SystemState): Promise<string | null> {
    return statusFactsMismatch((await this.call('GET', '/api/status')).body as ShownFacts, after, 'system');
  }

  private async lastErrorNote(): Promise<string> {
    const e = (await this.printer.status()).lastError;
    return e ? ` (device's last error: ${e.reason}${e.code ? ` ${codeText(e.code)}` : ''}${e.reply ? `: ${e.reply}` : ''})` : '';
  }

  private async checkNvram(after: SystemState, rows: string[], fail: (a: string, d: string) => ModelDivergence): Promise<void> {
    const image = await requireCapability(this.printer, 'nvramImage').readBack();
    if (!image.valid || !image.content) throw fail('?', `NVRAM image not valid: ${image.reason}`);
    const content = image.content as {
      snapshot?: { value?: unknown; context?: { jobId?: string | null } };
      secrets?: Record<string, unknown>;
      spool?: { id?: string; status?: string }[];
    };
    const stored = leafOfValue(content.snapshot?.value);
    const expected = leafOf(after);
    if (stored !== expected) throw fail(stored, `NVRAM snapshot is ${stored}, model in ${expected}`);
    const want = expectationsFor(after, rows);
    const hasCache = image.tokenCache;
    if (want.tokenCache === 'present' && !hasCache) throw fail(expected, `no token cache in NVRAM in ${expected}`);
    if (want.tokenCache === 'absent' && hasCache) throw fail(expected, `a token cache is still in NVRAM in ${expected}`);
    const spooled = content.spool?.length ?? 0;
    if (spooled !== want.jobsInSpool) throw fail(expected, `NVRAM spool holds ${spooled} job(s), model has ${want.jobsInSpool}`);
    // A job left held where the model has it queued waits for a sign-in instead of the pump (pairs-63).
    const inProgress = content.snapshot?.context?.jobId ?? null;
    const held = (content.spool ?? []).filter((j) => j.status === 'held' && j.id !== inProgress).length;
    if (held !== want.heldInSpool) throw fail(expected, `NVRAM spool holds ${held} held job(s) besides the one in progress, model has ${want.heldInSpool}`);
  }

  private async checkMailbox(fail: (a: string, d: string) => ModelDivergence): Promise<void> {
    const messages = await this.timing.inside(() => this.sut.twin.control.messages(JOB_RECIPIENT));
    const inbox = messages.filter((m) => m.folder === 'Inbox');
    if (inbox.length !== this.delivered) {
      throw fail(leafOf(this.model), `the twin's mailbox ${JOB_RECIPIENT} holds ${inbox.length} message(s), model delivered ${this.delivered}`);
    }
  }
}

function leafOfValue(value: unknown): string {
  let v = value;
  while (v && typeof v === 'object') v = Object.values(v as Record<string, unknown>)[0];
  return typeof v === 'string' ? v : '?';
}

/** A promise per wait that the next `fire()` resolves. */
class ChangeSignal {
  private resolve: (() => void) | null = null;
  next(): Promise<void> {
    return new Promise<void>((r) => (this.resolve = r));
  }
  fire(): void {
    this.resolve?.();
  }
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The guard-relevant facts a printer's status shows: the panel's `/api/status` and the driver protocol's alike. */
export interface ShownFacts {
  account: string | null;
  jobId: unknown;
  retryAt: unknown;
  userCode: unknown;
  tokenExpiresAt: unknown;
}

/** Those facts against the model's context after the step, or null when they agree; `system` names the shown side. */
export function statusFactsMismatch(shown: ShownFacts, after: SystemState, system: string): string | null {
  const c = after.snapshot.context;
  const facts: [string, unknown, unknown][] = [
    ['account', shown.account?.toLowerCase() ?? null, c.account?.toLowerCase() ?? null],
    ['a job in progress', shown.jobId !== null, c.jobId !== null],
    ['a retry scheduled', shown.retryAt !== null, c.retryAt !== null],
    ['a user code shown', shown.userCode !== null, c.userCode !== null],
    ['an access-token expiry', shown.tokenExpiresAt !== null, c.accessTokenExpiresAt !== null],
  ];
  const wrong = facts.filter(([, shownValue, model]) => shownValue !== model);
  return wrong.length ? wrong.map(([what, shownValue, model]) => `${what}: ${system} ${String(shownValue)}, model ${String(model)}`).join('; ') : null;
}
