/**
 * The model the tests are generated from: the statechart itself, plus the two things the runtime adds on its own that
 * change which transitions the statechart sees — the job pump (a queued job is handed over as SEND whenever the
 * statechart can take one; held jobs are queued again when a sign-in succeeds) and the deadline scheduler (deadlines
 * that passed while the power was off are raised at boot, right after POWER_CYCLE and the first pump).
 *
 * One model step = one stimulus the tester applies (an operator action, an outcome the twin is scripted to give, a
 * deadline reached on the clock, a power cycle). A step may take more than one statechart transition (the pump's SEND
 * after TOKEN_GRANTED, the deadlines raised at boot); all of them are returned, each mapped to its row of
 * `transitionTable`, so coverage counts what the system really did.
 */
import { createActor, type ActorScope, type AnyActorLogic, type SnapshotFrom } from 'xstate';
import {
  oauthDeviceMachine as machine,
  initialContext,
  leafState,
  type DeviceContext,
  type DeviceEvent,
  type LeafState,
} from '../../machines/oauthDevice.ts';
import { transitionTable, type TransitionRow, type TransitionTable } from '../model/transitionTable.ts';
import { retryDelayMs } from '../device/backoff.ts';
import { armedDeadlines, type DeadlineEvent } from '../device/deadlines.ts';
import { releasesHeldJobs } from '../device/records.ts';
import { EVENT_LABELS, eventFor, type EventLabel } from './vocabulary.ts';

export type MachineSnapshot = SnapshotFrom<typeof machine>;

/** The model's view of the system: the statechart snapshot and the spool as counts (the pump's input). */
export interface SystemState {
  snapshot: MachineSnapshot;
  /** Jobs waiting in the spool with status "queued" that the statechart is not working on. */
  queued: number;
  /** Jobs marked "held" (waiting for a sign-in). */
  held: number;
  /** Model time (ms): only the order of deadlines matters, and `retryDelayMs` keeps the runtime's order. */
  now: number;
  /** Jobs created so far (job ids); not part of the graph key. */
  jobs: number;
  /**
   * The sealed basic password / client secret went with a changed device key (the boot discards what the key cannot
   * open) and has not been saved again: the runtime's next basic send or app token request fails at once.
   */
  passwordLost: boolean;
  clientSecretLost: boolean;
}

/** One statechart transition a step took, with its row. */
export interface TakenTransition {
  event: DeviceEvent['type'];
  from: LeafState;
  to: LeafState;
  row: TransitionRow;
  /** Why it happened: the step's own event, the job pump, or a deadline raised at boot. */
  cause: 'step' | 'pump' | 'boot-deadline' | 'missing-secret';
  /** Effects the transition starts (entry actions that call out: a remote harness holds their request at the twin). */
  effects: DeviceEffect[];
}

/** The statechart's actions that start a call to Microsoft, each kept in its state until the outcome arrives. */
export const DEVICE_EFFECTS = ['requestDeviceCode', 'requestAppToken', 'refreshAccessToken', 'submitJob'] as const;
export type DeviceEffect = (typeof DEVICE_EFFECTS)[number];

export interface StepResult {
  state: SystemState;
  taken: TakenTransition[];
}

/** An operator submits a new job only while fewer jobs than this are in the spool (keeps the graph finite). */
export const MAX_JOBS_IN_SPOOL = 2;

const POWER_OFF_LONG_MS = 24 * 3_600_000;
type DeadlineName = DeadlineEvent;

/** One table for the process: rows hold transition objects of the one machine, so they are shared safely. */
let sharedTable: TransitionTable | undefined;
export function machineTable(): TransitionTable {
  // Created on first use; the table is immutable and derived from the immutable machine definition.
  return (sharedTable ??= transitionTable(machine));
}

export function initialSystemState(): SystemState {
  return { snapshot: machine.resolveState({ value: 'unconfigured', context: initialContext() }), queued: 0, held: 0, now: 0, jobs: 0, passwordLost: false, clientSecretLost: false };
}

/** The graph key: state value plus every context field a guard reads, plus the pump's input. Nothing display-only. */
export function stateKey(s: SystemState): string {
  const c = s.snapshot.context;
  return JSON.stringify([
    leafState(s.snapshot.value),
    c.account,
    c.method,
    c.jobId !== null,
    c.accessTokenStale,
    c.retryAt !== null,
    c.sendRetries,
    c.refreshRetries,
    c.forcedRefreshUsed,
    s.queued,
    s.held,
    s.passwordLost,
    s.clientSecretLost,
  ]);
}

/** The leaves that hold the sealed token cache (the grant wrote it; leaving them deletes it). */
export const SIGNED_IN: ReadonlySet<LeafState> = new Set(['authorized', 'tokenExpired', 'refreshing', 'sending', 'sendFailure']);

/** The earliest armed deadline (the only one a tester can reach by moving the clock without passing another). */
export function nextDeadline(snapshot: MachineSnapshot): DeadlineName | null {
  let best: [DeadlineName, number] | null = null;
  for (const [e, at] of Object.entries(armedDeadlines(snapshot)) as [DeadlineName, number][]) {
    if (!best || at < best[1]) best = [e, at];
  }
  return best?.[0] ?? null;
}

/** The statechart event a label stands for in this model state. */
export function modelEvent(s: SystemState, label: EventLabel): DeviceEvent {
  const c = s.snapshot.context;
  const e = eventFor(label, c, s.now, `job-${s.jobs + 1}`);
  // Retry deadlines follow the runtime's backoff so that their order against other deadlines is the runtime's.
  if (e.type === 'SEND_FAILED' && e.transient) return { ...e, retryAt: s.now + retryDelayMs(c.sendRetries) };
  if (e.type === 'REFRESH_FAILED' && e.transient) return { ...e, retryAt: s.now + retryDelayMs(c.refreshRetries) };
  return e;
}

/**
 * Whether a tester can apply this stimulus here: the statechart must handle it (`can`, as the reference asks), a new
 * job is only submitted while the spool holds fewer than MAX_JOBS_IN_SPOOL (a held job always waits in
 * reauthRequired, so the bound is 2), a
 * deadline is only reached when it is the earliest one armed, and a changed device key is only noticed at boot where
 * there is a sealed token cache for it to fail to open (elsewhere it is the same step as POWER_CYCLE:short).
 */
export function isEnabled(s: SystemState, label: EventLabel): boolean {
  const event = modelEvent(s, label);
  if (!s.snapshot.can(event)) return false;
  if (label === 'POWER_CYCLE:keyChanged') return SIGNED_IN.has(leafState(s.snapshot.value));
  if (event.type === 'SEND') return s.queued + s.held + (s.snapshot.context.jobId !== null ? 1 : 0) < MAX_JOBS_IN_SPOOL;
  if (event.type === 'CODE_DEADLINE' || event.type === 'ACCESS_TOKEN_DEADLINE' || event.type === 'RETRY_DUE') {
    return nextDeadline(s.snapshot) === event.type;
  }
  return true;
}

export function enabledLabels(s: SystemState): EventLabel[] {
  return EVENT_LABELS.filter((l) => isEnabled(s, l));
}

/** One statechart transition: the next snapshot and the names of the actions it would run. */
export type MachineTransition = (snapshot: MachineSnapshot, event: DeviceEvent) => [MachineSnapshot, string[]];

/**
 * The machine's transitions with one actor scope for all of them. xstate's `transition()` builds an actor (and with it
 * the machine's initial snapshot) at every call just to collect the actions; exploring the graph takes some 40,000
 * transitions, and that was a third of its CPU. The scope is the one `transition()` builds (an inert actor that is
 * never started: the actions are only collected, never run), made once.
 */
export function machineTransitions(): MachineTransition {
  const self = createActor(machine as AnyActorLogic); // as transition() does: no input, never started
  let actions: string[] = [];
  const scope = {
    self,
    id: '',
    sessionId: '',
    logger: () => undefined,
    defer: () => undefined,
    emit: () => undefined,
    system: self.system,
    stopChild: () => undefined,
    actionExecutor: (action: { type: string }) => void actions.push(action.type),
  } as unknown as ActorScope<MachineSnapshot, DeviceEvent>;
  return (snapshot, event) => {
    actions = [];
    return [machine.transition(snapshot, event, scope as never), actions];
  };
}

/**
 * Applies one stimulus and everything the runtime does by itself because of it. `transitions`: where many steps are
 * taken (exploring the graph), one machineTransitions() for all of them.
 */
export function step(s: SystemState, label: EventLabel, transitions: MachineTransition = machineTransitions()): StepResult {
  const table = machineTable();
  let snapshot = s.snapshot;
  let { queued, held, jobs, passwordLost, clientSecretLost } = s;
  if (label === 'POWER_CYCLE:keyChanged') passwordLost = clientSecretLost = true;
  // These labels save the method's secret with the settings (see the executors).
  if (label === 'SAVE_SETTINGS:basicA') passwordLost = false;
  if (label === 'SAVE_SETTINGS:appOnlyA') clientSecretLost = false;
  if (label === 'FACTORY_RESET') passwordLost = clientSecretLost = false;
  let now = s.now;
  const taken: TakenTransition[] = [];

  const first = modelEvent(s, label);
  if (first.type === 'SEND') jobs += 1; // an operator's new job
  if (first.type === 'CODE_DEADLINE' || first.type === 'ACCESS_TOKEN_DEADLINE' || first.type === 'RETRY_DUE') {
    now = Math.max(now, armedDeadlines(snapshot)[first.type] ?? now);
  }
  const isBoot = first.type === 'POWER_CYCLE';
  if (label === 'POWER_CYCLE:deadlinePassed') now += POWER_OFF_LONG_MS;

  // The runtime's dispatch queue: the stimulus, then the pump and any deadline already due, in the runtime's order.
  type Item = { kind: 'event'; event: DeviceEvent; cause: TakenTransition['cause'] } | { kind: 'pump' };
  const queue: Item[] = [{ kind: 'event', event: first, cause: 'step' }];
  let pumpQueued = false;
  // Which deadlines the scheduler holds. At boot the scheduler starts empty; otherwise the stimulus was the earliest
  // deadline and the others stay armed.
  const armed = new Map<DeadlineName, number>(isBoot ? [] : Object.entries(armedDeadlines(snapshot)) as [DeadlineName, number][]);
  if (!isBoot && (first.type === 'CODE_DEADLINE' || first.type === 'ACCESS_TOKEN_DEADLINE' || first.type === 'RETRY_DUE')) {
    armed.delete(first.type);
  }

  const apply = (event: DeviceEvent, cause: TakenTransition['cause']): boolean => {
    if (!snapshot.can(event)) return false;
    const from = leafState(snapshot.value);
    const defs = machine.getTransitionData(snapshot, event);
    const [next, actions] = transitions(snapshot, event);
    const names = new Set(actions);
    const to = leafState(next.value);
    for (const def of defs) {
      const row = table.rowFor(from, def);
      if (!row) throw new Error(`no table row for ${from} on ${event.type}`);
      taken.push({ event: event.type, from, to, row, cause, effects: DEVICE_EFFECTS.filter((a) => names.has(a)) });
    }
    const prevJob = snapshot.context.jobId;
    if (names.has('holdJob') && (event.type === 'SEND' || prevJob !== null)) held += 1;
    if (names.has('requeueJob') && prevJob !== null) queued += 1;
    if (releasesHeldJobs(event.type, to)) {
      queued += held;
      held = 0;
    }
    if (event.type === 'FACTORY_RESET') {
      queued = 0;
      held = 0;
    }
    snapshot = next;
    // rearm: changed deadlines are dropped, new ones armed; those already due fire after the pump.
    const d = armedDeadlines(snapshot);
    for (const [e, at] of [...armed]) if (d[e] !== at) armed.delete(e);
    const fires: DeadlineName[] = [];
    for (const [e, at] of Object.entries(d) as [DeadlineName, number][]) {
      if (armed.has(e)) continue;
      if (at <= now) fires.push(e); // fire() removes it from the scheduler before raising it
      else armed.set(e, at);
    }
    if (!pumpQueued) {
      queue.push({ kind: 'pump' });
      pumpQueued = true;
    }
    for (const e of fires) queue.push({ kind: 'event', event: { type: e }, cause: 'boot-deadline' });
    // A missing secret: the effect fails before it reaches the network (src/device/effects.ts), with a permanent outcome.
    const method = snapshot.context.method;
    const asksAppToken = names.has('requestAppToken') || (names.has('refreshAccessToken') && method === 'appOnly');
    if (asksAppToken && clientSecretLost) {
      queue.push({ kind: 'event', event: { type: 'REFRESH_FAILED', transient: false, retryAt: null, reason: 'client-secret-missing', code: null, reply: null }, cause: 'missing-secret' });
    }
    if (names.has('submitJob') && method === 'basic' && passwordLost) {
      queue.push({ kind: 'event', event: { type: 'SEND_FAILED', category: 'auth-rejected', transient: false, retryAt: null, reason: 'auth-rejected', code: null, reply: null }, cause: 'missing-secret' });
    }
    return true;
  };

  for (let guard = 0; queue.length > 0; guard++) {
    if (guard > 50) throw new Error(`runaway step ${label} from ${stateKey(s)}`);
    const item = queue.shift()!;
    if (item.kind === 'pump') {
      pumpQueued = false;
      if (snapshot.context.jobId !== null || queued === 0) continue;
      const send: DeviceEvent = { type: 'SEND', jobId: `job-queued-${queued}` };
      if (!snapshot.can(send)) continue;
      queued -= 1;
      apply(send, 'pump');
    } else {
      apply(item.event, item.cause);
    }
  }
  return { state: { snapshot, queued, held, now: now + 1, jobs, passwordLost, clientSecretLost }, taken };
}

export function leafOf(s: SystemState): LeafState {
  return leafState(s.snapshot.value);
}

export type { DeviceContext };
