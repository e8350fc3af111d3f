/**
 * The model-based executor for any printer behind a driver (src/driver/client.ts), with the twin reached over its
 * control API (twin-client.ts). The same model, labels and checks as the in-process executor (../executor.ts); what
 * changes is how a step is brought about and observed from outside:
 *  - operator stimuli are driver calls (settings, operator events, jobs with their content, power cycles);
 *  - outcomes are scripted on the twin: approve / decline a user code, a one-shot fault rule for a poll, and the
 *    twin's holds instead of in-process gates — a step that enters requestingCode / refreshing / sending arms a hold
 *    for the request the printer is about to make (device-code, token with grant refresh_token, smtp-auth), and the
 *    outcome step releases it to proceed or with the fault action (the printer sees the same wire answer); a
 *    transient send failure lets AUTH through and refuses the message at DATA, so the wire shows its Message-ID;
 *  - deadlines: with the `clock` capability the shared clock is advanced to the deadline the status shows; without
 *    it the harness waits on wall time when the deadline is within `wallWaitMs`, else the step is skipped;
 *  - after each step the driver's status must show the model's state (bounded wait) and its guard-relevant fields,
 *    and the recipient's mailbox on the twin must hold one more message per SENT.
 * A step the printer cannot be made to take (a capability it lacks) throws StepSkipped: the caller stops the path
 * there and counts the rest as skipped, never covered. NVRAM is not compared: its format is the printer's own.
 */
import type { LeafState } from '../../../machines/oauthDevice.ts';
import type { FaultAction } from '../../cloud/contracts.ts';
import { ACCESS_TOKEN_SKEW_MS, armedDeadlines, type DeadlineEvent } from '../../device/deadlines.ts';
import type { DriverClient } from '../../driver/client.ts';
import { DEVICE_KEY_LOSSES, type DriverStatus } from '../../driver/protocol.ts';
import { ModelDivergence, statusFactsMismatch, type StepRecord } from '../executor.ts';
import { initialSystemState, leafOf, step as modelStep, type DeviceEffect, type SystemState } from '../systemModel.ts';
import { ACCOUNT_A, ACCOUNT_B, APP_ONLY_A, BASIC_PASSWORD_A, JOB_RECIPIENT, SEND_FAILURES, kindOf, type EventLabel } from '../vocabulary.ts';
import type { CoverageTracker } from '../coverage.ts';
import type { Hold, HoldTarget, TwinControlClient } from './twin-client.ts';

/** A step this printer cannot be made to take; `capability` names what would make it possible. */
export class StepSkipped extends Error {
  constructor(
    readonly label: EventLabel,
    readonly capability: string,
    readonly reason: string,
  ) {
    super(`${label} skipped: ${reason}`);
    this.name = 'StepSkipped';
  }
}

export interface RemoteTarget {
  driver: DriverClient;
  twin: TwinControlClient;
}

export interface RemoteExecutorOptions {
  /** Wall-time bound for the printer to show the expected state after a step (default 10 000 ms). */
  settleTimeoutMs?: number;
  /** Without the clock capability: wait on wall time for a deadline at most this far away, else skip (default 20 000). */
  wallWaitMs?: number;
  coverage?: CoverageTracker;
  /** Longest status polling interval while settling (default 25 ms; the first polls come sooner, see settle). */
  pollMs?: number;
  /**
   * How long before the access token's expiry the printer raises its access-token deadline (its refresh lead; default
   * ours, ACCESS_TOKEN_SKEW_MS = 5 min). The status shows the expiry, not the lead, and the harness needs the deadline
   * itself to wait for it on wall time and to order it against the other deadlines.
   */
  accessTokenSkewMs?: number;
}

const OAUTH_SMTP = { smtpServerName: 'smtp.office365.com', smtpPort: 587, useSecureConnection: true, adminEmailAddress: '' };
/** The held states, the effect that makes the request, and the twin hold that stops it. */
const HELD: Partial<Record<LeafState, { effect: DeviceEffect; target: HoldTarget; grantType?: string }>> = {
  requestingCode: { effect: 'requestDeviceCode', target: 'device-code' },
  refreshing: { effect: 'refreshAccessToken', target: 'token', grantType: 'refresh_token' },
  sending: { effect: 'submitJob', target: 'smtp-auth' },
  requestingToken: { effect: 'requestAppToken', target: 'token', grantType: 'client_credentials' },
};
/** App-only renews with a new client-credentials request (no refresh token): its refreshing holds that grant. */
const grantTypeIn = (held: { grantType?: string }, s: SystemState): string | undefined =>
  held.grantType === 'refresh_token' && s.snapshot.context.method === 'appOnly' ? 'client_credentials' : held.grantType;
const POWER_OFF_LONG_MS = 24 * 3_600_000;
/** Past a wall-time deadline, how long the printer's timer may take to fire. */
const WALL_MARGIN_MS = 250;
/** A request the printer abandoned (it left the state) is answered with a cut connection, as a dead link would. */
const ABANDON: FaultAction = { kind: 'drop' };

const CODE_FAILED_ERROR: FaultAction = { kind: 'error', error: 'unauthorized_client', aadsts: 700016, description: "Application with identifier was not found in the directory 'Contoso'." };
const CODE_EXPIRED_ERROR: FaultAction = { kind: 'error', error: 'code_expired', aadsts: 70020, description: 'The provided value for the input parameter device_code is not valid. The device code has expired.' };
const POLL_FAILED_ERROR: FaultAction = { kind: 'error', error: 'invalid_grant', aadsts: 53003, description: 'Access has been blocked by Conditional Access policies.' };
const REFRESH_TRANSIENT: FaultAction = { kind: 'error', error: 'temporarily_unavailable', aadsts: 90033, description: 'A transient error has occurred. Please try again.' };
const REFRESH_PERMANENT: FaultAction = { kind: 'error', error: 'invalid_grant', aadsts: 50173, description: 'The provided grant has expired due to it being revoked, a fresh auth token is needed.' };

/** Which capability (if any) a label needs on this printer, before the step is tried. */
export function missingCapability(label: EventLabel, caps: DriverClient['capabilities']): { capability: string; reason: string } | null {
  if (kindOf(label) === 'power' && !caps.power) return { capability: 'power', reason: 'the printer does not declare the power capability' };
  if (label === 'POWER_CYCLE:keyChanged' && !caps.deviceKey) {
    return { capability: 'deviceKey', reason: 'the printer does not declare the deviceKey capability (a power cycle that loses the device key)' };
  }
  if (label === 'SAVE_SETTINGS:basicA' && !caps.smtpAuth) return { capability: 'smtpAuth', reason: 'the printer does not declare the smtpAuth capability (settings with a password)' };
  if (label === 'SAVE_SETTINGS:appOnlyA' && !caps.oauth2AppOnly) return { capability: 'oauth2AppOnly', reason: 'the printer does not declare the oauth2AppOnly capability (app-only OAuth settings)' };
  return null;
}

/** One printer, one model: `reset()` before each path or walk, then `run(label)` step by step. */
export class RemoteExecutor {
  private model: SystemState = initialSystemState();
  private labels: EventLabel[] = [];
  private delivered = 0;
  private mailboxBase = 0;
  private hold: { id: string; state: LeafState } | null = null;
  /** The three ways a device key goes, in turn: deleted, replaced, truncated. */
  private keyLosses = 0;
  records: StepRecord[] = [];

  constructor(
    readonly target: RemoteTarget,
    private readonly opts: RemoteExecutorOptions = {},
  ) {}

  get modelState(): SystemState {
    return this.model;
  }
  get attempted(): readonly EventLabel[] {
    return this.labels;
  }
  get capabilities(): DriverClient['capabilities'] {
    return this.target.driver.capabilities;
  }

  /**
   * Back to the model's initial state: every hold let go (held requests cut), fault rules removed, a factory reset,
   * the printer idle in `unconfigured`; the mailbox count is taken as the new baseline.
   */
  async reset(): Promise<void> {
    const { driver, twin } = this.target;
    await this.letGoAllHolds();
    await twin.clearFaults();
    const r = await driver.send({ type: 'FACTORY_RESET' });
    if (!r.accepted && r.state !== 'unconfigured') throw new Error(`the printer refused FACTORY_RESET in ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
    const shown = await this.settle('unconfigured', false, this.opts.settleTimeoutMs ?? 10_000);
    if (shown.state !== 'unconfigured') throw new Error(`after FACTORY_RESET the printer shows ${shown.state}, not unconfigured`);
    this.model = initialSystemState();
    this.labels = [];
    this.records = [];
    this.delivered = 0;
    this.mailboxBase = (await twin.messages(JOB_RECIPIENT)).filter(inbox).length;
  }

  /** Lets go whatever the harness still holds (for teardown). */
  async letGoAllHolds(): Promise<void> {
    const { twin } = this.target;
    for (const h of await twin.holds()) if (h.state === 'holding') await twin.release(h.id, ABANDON).catch(() => undefined);
    await twin.cancelHolds();
    this.hold = null;
  }

  /** Whether the walk may pick this label now (capabilities, and a deadline near enough on wall time). */
  async canTake(label: EventLabel): Promise<boolean> {
    if (missingCapability(label, this.capabilities)) return false;
    if (kindOf(label) !== 'deadline' && label !== 'POWER_CYCLE:deadlinePassed') return true;
    try {
      await this.plan(label, await this.target.driver.status());
      return true;
    } catch (err) {
      if (err instanceof StepSkipped) return false;
      throw err;
    }
  }

  /** For walks: what the printer can take now; a deadline only when the status shows it is the earliest armed. */
  async eligible(label: EventLabel): Promise<boolean> {
    if (!(await this.canTake(label))) return false;
    if (kindOf(label) !== 'deadline') return true;
    const status = await this.target.driver.status();
    const at = this.dueAt(label as DeadlineEvent, status);
    if (at === null) return false;
    const armed = Object.keys(armedDeadlines(this.model.snapshot)) as DeadlineEvent[];
    return armed.every((e) => e === label || (this.dueAt(e, status) ?? Infinity) > at);
  }

  async runAll(labels: readonly EventLabel[]): Promise<StepRecord[]> {
    for (const l of labels) await this.run(l);
    return this.records;
  }

  async run(label: EventLabel): Promise<StepRecord> {
    const started = performance.now();
    const missing = missingCapability(label, this.capabilities);
    if (missing) throw new StepSkipped(label, missing.capability, missing.reason);
    const index = this.labels.length;
    this.labels.push(label);
    const before = this.model;
    const { state: after, taken } = modelStep(before, label);
    const expected = leafOf(after);
    const fail = (actual: string, detail: string) => new ModelDivergence(index, this.labels, expected, actual, detail);
    const held = HELD[expected];
    // The printer makes a new request of the held kind in this step: stop it at the twin.
    const needsHold = held !== undefined && taken.some((t) => t.effects.includes(held.effect));
    const statusBefore = await this.target.driver.status();
    let plan: { waitMs: number };
    try {
      plan = await this.plan(label, statusBefore);
    } catch (err) {
      if (err instanceof StepSkipped) this.labels.pop();
      throw err;
    }
    const previous = this.hold;
    let fresh: Hold | null = null;
    if (needsHold) fresh = await this.target.twin.armHold(held.target, { grantType: grantTypeIn(held, after) });
    try {
      await this.perform(label, before, statusBefore);
    } catch (err) {
      if (fresh) await this.target.twin.release(fresh.id, ABANDON).catch(() => this.target.twin.call('DELETE', `/holds/${fresh!.id}`).catch(() => undefined));
      throw fail('?', `could not perform the step: ${(err as Error).message}`);
    }
    // The request held before this step: released by the step itself, or abandoned because the printer left its
    // state (or made a new one in its place).
    if (previous && (needsHold || HELD[expected] === undefined || previous.state !== expected)) {
      if (this.hold === previous) await this.abandon(previous.id);
      this.hold = null;
    }
    const settleMs = (this.opts.settleTimeoutMs ?? 10_000) + plan.waitMs;
    if (fresh) {
      const caught = await this.target.twin.hold(fresh.id, 'holding', settleMs);
      this.hold = { id: fresh.id, state: expected };
      if (caught.state !== 'holding') {
        const shown = await this.target.driver.status();
        throw fail(shown.state, `the printer made no ${held!.target} request within ${settleMs} ms (hold ${caught.state}; printer in ${shown.state}, model in ${expected})`);
      }
    }
    const shown = await this.settle(expected, held !== undefined, settleMs);
    if (shown.state !== expected) throw fail(shown.state, `printer in ${shown.state}, model in ${expected}${errorNote(shown)}`);
    const mismatch = statusFactsMismatch(shown, after, 'printer');
    if (mismatch) throw fail(shown.state, `in ${shown.state}: ${mismatch}${errorNote(shown)}`);
    this.model = after;
    this.delivered += taken.filter((t) => t.row.id.includes(':SENT#')).length;
    const inboxNow = (await this.target.twin.messages(JOB_RECIPIENT)).filter(inbox).length - this.mailboxBase;
    if (inboxNow !== this.delivered) {
      throw fail(shown.state, `the twin's mailbox ${JOB_RECIPIENT} holds ${inboxNow} new message(s), model delivered ${this.delivered}`);
    }
    for (const t of taken) this.opts.coverage?.record(t.row.id, t.to);
    const record: StepRecord = { label, expected, actual: shown.state, taken, ms: performance.now() - started };
    this.records.push(record);
    return record;
  }

  /**
   * For deadlines and the long power cut: how the printer's clock gets there. With the clock capability nothing to
   * wait; without it the wall-time wait, or StepSkipped when the deadline is beyond `wallWaitMs`.
   */
  private async plan(label: EventLabel, status: DriverStatus): Promise<{ waitMs: number }> {
    if (kindOf(label) !== 'deadline' && label !== 'POWER_CYCLE:deadlinePassed') return { waitMs: 0 };
    if (this.capabilities.clock) return { waitMs: 0 };
    const bound = this.opts.wallWaitMs ?? 20_000;
    const due = label === 'POWER_CYCLE:deadlinePassed' ? this.latestDue(status) : this.dueAt(label as DeadlineEvent, status);
    if (due === undefined) return { waitMs: 0 };
    if (due === null) throw new StepSkipped(label, 'clock', `the printer's status does not show when ${label} falls due`);
    const wait = due - Date.now();
    if (wait > bound) throw new StepSkipped(label, 'clock', `${label} is ${Math.round(wait / 1000)} s away on wall time (bound ${bound / 1000} s): a clock capability or a short-lifetime tenant fixture would reach it`);
    if (kindOf(label) === 'deadline') {
      // On wall time the printer's own lifetimes order its deadlines (e.g. a 30 s token before the third 12 s
      // retry), not the model's; the harness cannot make this one come first.
      const armed = Object.keys(armedDeadlines(this.model.snapshot)) as DeadlineEvent[];
      const earlier = armed.filter((e) => e !== label && (this.dueAt(e, status) ?? Infinity) <= due);
      if (earlier.length) throw new StepSkipped(label, 'clock', `${earlier.join(', ')} falls due first on the printer's wall time; a clock capability would let the harness take ${label} first`);
    }
    return { waitMs: Math.max(0, wait) };
  }

  private async perform(label: EventLabel, before: SystemState, status: DriverStatus): Promise<void> {
    const { driver, twin } = this.target;
    switch (kindOf(label)) {
      case 'operator':
        return this.operator(label);
      case 'power': {
        let offMs = 0;
        if (label === 'POWER_CYCLE:deadlinePassed') {
          offMs = this.capabilities.clock ? POWER_OFF_LONG_MS : Math.max(0, (this.latestDue(status) ?? Date.now()) - Date.now() + 500);
        }
        if (label === 'POWER_CYCLE:keyChanged') {
          await driver.powerCycle(0, DEVICE_KEY_LOSSES[this.keyLosses++ % DEVICE_KEY_LOSSES.length]);
          return;
        }
        await driver.powerCycle(offMs);
        return;
      }
      case 'deadline': {
        const which = label as DeadlineEvent;
        const at = this.dueAt(which, status);
        if (at === null || at === undefined) throw new Error(`the printer's status shows no time for ${which}`);
        const armed = Object.keys(armedDeadlines(before.snapshot)) as DeadlineEvent[];
        const earlier = armed.filter((e) => e !== which && (this.dueAt(e, status) ?? Infinity) <= at);
        if (earlier.length) throw new Error(`${earlier.join(', ')} would fire first (the model cannot order these deadlines)`);
        if (this.capabilities.clock) await driver.advance(Math.max(0, at - (await driver.now())));
        // Without a clock the printer's own timer fires on wall time: wait for it (a deadline that keeps the state,
        // like ACCESS_TOKEN_DEADLINE in sending, shows nothing else to wait for).
        else await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now()) + WALL_MARGIN_MS));
        return;
      }
      case 'outcome':
        break;
    }
    const userCode = () => {
      if (!status.userCode) throw new Error('the printer shows no user code');
      return status.userCode;
    };
    const release = async (outcome?: FaultAction) => {
      if (!this.hold) throw new Error(`no request is held for ${label}`);
      const id = this.hold.id;
      this.hold = null;
      await twin.release(id, outcome ?? 'proceed');
    };
    const account = before.snapshot.context.account ?? ACCOUNT_A;
    // App-only's first grant is the held client-credentials request let through (Entra answers for the app).
    if (leafOf(before) === 'requestingToken' && label.startsWith('TOKEN_GRANTED')) return release();
    switch (label) {
      case 'CODE_ISSUED':
      case 'REFRESHED':
      case 'SENT':
        return release();
      case 'CODE_FAILED':
        return release(CODE_FAILED_ERROR);
      case 'REFRESH_FAILED:transient':
        return release(REFRESH_TRANSIENT);
      case 'REFRESH_FAILED:permanent':
        return release(REFRESH_PERMANENT);
      case 'SEND_FAILED:auth-rejected':
      case 'SEND_FAILED:permanent':
        return release({ kind: 'reply', reply: SEND_FAILURES[label.slice('SEND_FAILED:'.length) as keyof typeof SEND_FAILURES].reply });
      case 'SEND_FAILED:transient': {
        // Refused once the message is on the wire (AUTH proceeds, DATA is refused): the twin journals its Message-ID,
        // so rule smtp.one-message-id-per-job can judge the resend (a refusal at AUTH carries no message).
        const data = await twin.armHold('smtp-data');
        await release();
        const caught = await twin.hold(data.id, 'holding', this.opts.settleTimeoutMs ?? 10_000);
        if (caught.state !== 'holding') {
          await this.abandon(data.id);
          throw new Error(`the printer sent no message after its AUTH was let through (smtp-data hold ${caught.state})`);
        }
        await twin.release(data.id, { kind: 'reply', reply: SEND_FAILURES.transient.reply });
        return;
      }
      case 'TOKEN_GRANTED:configured':
        await twin.approve(userCode(), account);
        return;
      case 'TOKEN_GRANTED:other':
        await twin.approve(userCode(), account.toLowerCase() === ACCOUNT_B ? ACCOUNT_A : ACCOUNT_B);
        return;
      case 'AUTH_DECLINED':
        await twin.decline(userCode());
        return;
      case 'CODE_EXPIRED':
        await twin.addFault('token', CODE_EXPIRED_ERROR);
        return;
      case 'POLL_FAILED':
        await twin.addFault('token', POLL_FAILED_ERROR);
        return;
      default:
        throw new Error(`no remote executor for ${label}`);
    }
  }

  private async operator(label: EventLabel): Promise<void> {
    const { driver } = this.target;
    const settings = (authMethod: 'off' | 'oauth2ExchangeOnline' | 'smtpAuth' | 'oauth2AppOnly', account: string) => ({ ...OAUTH_SMTP, authMethod, authEmailAddress: account, authUsername: account });
    const check = (r: { accepted: boolean; state: string; reason?: string }) => {
      if (!r.accepted) throw new Error(`the printer did not accept ${label} in ${r.state}${r.reason ? `: ${r.reason}` : ''}`);
    };
    switch (label) {
      case 'SAVE_SETTINGS:accountA':
        return check(await driver.saveSettings(settings('oauth2ExchangeOnline', ACCOUNT_A)));
      case 'SAVE_SETTINGS:accountB':
        return check(await driver.saveSettings(settings('oauth2ExchangeOnline', ACCOUNT_B)));
      case 'SAVE_SETTINGS:off':
        return check(await driver.saveSettings(settings('off', '')));
      case 'SAVE_SETTINGS:basicA':
        return check(await driver.saveSettings({ ...settings('smtpAuth', ACCOUNT_A), smtpPassword: BASIC_PASSWORD_A }));
      case 'SAVE_SETTINGS:appOnlyA':
        return check(await driver.saveSettings({ ...settings('oauth2AppOnly', ACCOUNT_A), ...APP_ONLY_A }));
      case 'SEND':
        await driver.submitJob({ to: [JOB_RECIPIENT], subject: `mbt job ${this.labels.length}`, body: `Scanned page of step ${this.labels.length}.\r\n` });
        return;
      case 'START_AUTH':
      case 'CANCEL_AUTH':
      case 'SIGN_OUT':
      case 'RETRY':
      case 'DISMISS':
      case 'FACTORY_RESET':
        return check(await driver.send({ type: label }));
      default:
        throw new Error(`${label} is not an operator event`);
    }
  }

  private async abandon(id: string): Promise<void> {
    const { twin } = this.target;
    const h = await twin.hold(id).catch(() => null);
    if (h?.state === 'holding') await twin.release(id, ABANDON).catch(() => undefined);
    else if (h?.state === 'armed') await twin.call('DELETE', `/holds/${encodeURIComponent(id)}`).catch(() => undefined);
  }

  /**
   * Polls the status until it shows the expected state, then (with nothing held) waits for the printer to go idle
   * and looks again, so that a state passed through on the way does not count. Returns the last status seen.
   * The driver protocol has no push (its `events` route is polled too), so the status is polled: 1 ms after the first
   * look, then twice as long each time up to `pollMs`: a change usually lands soon after the step (the printer
   * handling an answer it was let through), and with a fixed 25 ms pause every such step waited for the next poll;
   * the cap keeps a printer that takes long from being asked more often than before.
   */
  private async settle(expected: LeafState, held: boolean, boundMs: number): Promise<DriverStatus> {
    const { driver } = this.target;
    const deadline = performance.now() + boundMs;
    const longest = this.opts.pollMs ?? 25;
    let pause = Math.min(1, longest);
    for (;;) {
      let shown = await driver.status();
      if (shown.state === expected) {
        if (!held) await driver.idle();
        shown = await driver.status();
        if (shown.state === expected) return shown;
      }
      if (performance.now() > deadline) return shown;
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, longest);
    }
  }

  /**
   * When a deadline falls due by the printer's status (null: not shown; undefined: not armed in the status). The
   * access-token deadline is the token's expiry less the printer's refresh lead (`accessTokenSkewMs`), which the
   * status does not show.
   */
  private dueAt(which: DeadlineEvent, s: DriverStatus): number | null {
    switch (which) {
      case 'CODE_DEADLINE':
        return s.expiresAt;
      case 'ACCESS_TOKEN_DEADLINE':
        return s.tokenExpiresAt === null ? null : s.tokenExpiresAt - (this.opts.accessTokenSkewMs ?? ACCESS_TOKEN_SKEW_MS);
      case 'RETRY_DUE':
        return s.retryAt;
    }
  }

  /** The last deadline a long power cut must pass (undefined: the model has none armed). */
  private latestDue(s: DriverStatus): number | null | undefined {
    const c = this.model.snapshot.context;
    const names: DeadlineEvent[] = [];
    if (c.accessTokenExpiresAt !== null) names.push('ACCESS_TOKEN_DEADLINE');
    if (c.retryAt !== null) names.push('RETRY_DUE');
    if (c.codeExpiresAt !== null) names.push('CODE_DEADLINE');
    if (!names.length) return undefined;
    const times = names.map((n) => this.dueAt(n, s));
    if (times.some((t) => t === null)) return null;
    return Math.max(...(times as number[]));
  }
}

const inbox = (m: { folder?: string }) => m.folder === undefined || m.folder === 'Inbox';

function errorNote(s: DriverStatus): string {
  const e = s.lastError;
  return e ? ` (printer's last error: ${e.reason}${e.code ? ` ${e.code}` : ''}${e.reply ? `: ${e.reply}` : ''})` : '';
}
