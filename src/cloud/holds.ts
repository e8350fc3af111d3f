/**
 * Holds at the network boundary: a rule armed through the control API stops the next request that matches it (a
 * device code request, a token request by grant type, an SMTP connect, AUTH or DATA) until the tester releases it,
 * then the request proceeds normally or is answered with a chosen fault action. This lets a black-box tester keep any
 * device in `requestingCode`, `refreshing` or `sending`, as src/mbt/gates.ts does in-process for our own printer.
 *
 * A hold is consumed by the first request it catches (it never catches a second one) and every caught request ends:
 * released, cancelled, or timed out. The timeout runs on wall time, not on the twin's clock: a virtual clock moves
 * only when someone advances it, and the tester who forgot a hold is exactly the one not advancing it; the held
 * client's own patience (socket and greeting timeouts of MSAL, nodemailer, a printer's firmware) is wall time too.
 */
import { randomUUID } from 'node:crypto';
import type { FaultAction, FaultTarget } from './contracts.ts';
import { DEVICE_CODE_GRANTS } from './entra/service.ts';
import { faultActionProblem } from './faults.ts';
import type { HoldJournalEntry, WireJournal } from './journal/wire-journal.ts';

export const HOLD_TARGETS = ['device-code', 'token', 'smtp-connect', 'smtp-auth', 'smtp-data'] as const;
export type HoldTarget = (typeof HOLD_TARGETS)[number];

/** Grant types a token hold can be narrowed to (`device_code` also stands for the RFC 8628 URN). */
export const HOLD_GRANT_TYPES = ['device_code', 'refresh_token', 'client_credentials'] as const;
export type HoldGrantType = (typeof HOLD_GRANT_TYPES)[number];

export const HOLD_STATES = ['armed', 'holding', 'released', 'timed-out', 'cancelled', 'abandoned'] as const;
export type HoldState = (typeof HOLD_STATES)[number];

/** What GET /_twin/holds/{id}?until= can wait for: the catch, or the end whichever way it ends. */
export const HOLD_WAITS = ['holding', 'finished'] as const;
export type HoldWait = (typeof HOLD_WAITS)[number];
/** Longest wall-time wait of one GET (a driver asks again if it needs longer). */
export const MAX_HOLD_WAIT_MS = 60_000;

export const DEFAULT_HOLD_TIMEOUT_MS = 30_000;
export const MAX_HOLD_TIMEOUT_MS = 600_000;
/** Bounds on what the registry keeps: armed or holding rules, and finished ones kept for GET /_twin/holds. */
export const MAX_LIVE_HOLDS = 100;
export const FINISHED_HOLDS_KEPT = 100;

/** What a held request is let go with: as if nothing happened, or one fault action (the /_twin/faults vocabulary). */
export type HoldOutcome = 'proceed' | FaultAction;

/** Narrows a hold; every given field must match. `upn` is the SMTP mailbox (AUTH user name, signed-in mailbox). */
export interface HoldMatch {
  /** Peer IP address, as the journal's `client` (e.g. 127.0.0.1, 192.168.1.40). */
  client?: string;
  /** `client_id` of a device-code or token request. */
  clientId?: string;
  upn?: string;
}

export interface HoldSpec {
  target: HoldTarget;
  /** Only for target `token`. */
  grantType?: HoldGrantType;
  match?: HoldMatch;
  /** Wall-time milliseconds a caught request is held at most (default 30 s, at most 10 min). */
  timeoutMs?: number;
  /** What the request gets when the hold times out (default: proceed). */
  onTimeout?: HoldOutcome;
}

/** What the boundary tells the registry about a request: only identifiers that are not secrets. */
export interface HoldRequest {
  client: string;
  grantType?: string;
  clientId?: string;
  upn?: string;
  /** smtp-server's session id. */
  session?: string;
}

export interface HoldView {
  id: string;
  target: HoldTarget;
  grantType?: HoldGrantType;
  match?: HoldMatch;
  timeoutMs: number;
  onTimeout: HoldOutcome;
  state: HoldState;
  /** Twin clock (ISO 8601) when the hold entered its state. */
  since: string;
  createdAt: string;
  /** The request the hold caught. */
  caught?: HoldRequest & { at: string };
  /** What the caught request was let go with. */
  outcome?: HoldOutcome;
  /** Wall-time milliseconds the request was held (once it is let go). */
  heldMs?: number;
}

export class HoldError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HoldError';
  }
}

/** The one method the network boundary needs (oauth-routes.ts, exchange-twin.ts). */
export interface HoldGate {
  /**
   * Waits while a hold holds this request. Resolves at once with null when no hold matches (or the hold was
   * released to proceed), or with the fault action the request must be answered with instead. `gone` fires when the
   * client closes its connection: the hold then ends `abandoned` and the request proceeds, as it would have reached
   * a server that was merely slow.
   */
  wait(target: HoldTarget, request: HoldRequest, gone?: AbortSignal): Promise<FaultAction | null>;
}

const HTTP_TARGETS: readonly HoldTarget[] = ['device-code', 'token'];
/** Fault action kinds with a meaning per transport (http-faults.ts, smtp-faults.ts). */
const HTTP_ACTIONS: readonly FaultAction['kind'][] = ['error', 'http', 'throttle', 'delay', 'drop'];
const SMTP_ACTIONS: readonly FaultAction['kind'][] = ['reply', 'delay', 'drop'];

/** The hold target at the place of a fault target, where the two meet (smtp.mail has no hold). */
export const HOLD_TARGET_OF: Partial<Record<FaultTarget, HoldTarget>> = {
  devicecode: 'device-code',
  token: 'token',
  'smtp.connect': 'smtp-connect',
  'smtp.auth': 'smtp-auth',
  'smtp.data': 'smtp-data',
};

interface LiveHold extends HoldView {
  /** performance.now() at the catch. */
  caughtAtWall?: number;
  timer?: ReturnType<typeof setTimeout>;
  letGo?: (action: FaultAction | null) => void;
  /** Stops listening for the client's departure. */
  unlisten?: () => void;
}

export interface HoldRegistryDeps {
  /** The twin's clock, for the stamps testers compare with the journal. */
  now: () => number;
  journal?: WireJournal;
}

export class HoldRegistry implements HoldGate {
  /** Armed and holding, in creation order (the first armed match catches). */
  private readonly live: LiveHold[] = [];
  private readonly finished: LiveHold[] = [];
  /** Called on every state change (long-polling GETs). */
  private readonly watchers = new Set<() => void>();
  private closed = false;

  constructor(private readonly d: HoldRegistryDeps) {}

  /** Arms a hold; the spec is checked whole before anything changes. */
  add(spec: HoldSpec): HoldView {
    const problem = specProblem(spec);
    if (problem) throw new HoldError(400, problem);
    if (this.live.length >= MAX_LIVE_HOLDS) throw new HoldError(409, `at most ${MAX_LIVE_HOLDS} holds may be armed or holding at once`);
    const at = this.stamp();
    const hold: LiveHold = {
      id: randomUUID(),
      target: spec.target,
      ...(spec.grantType ? { grantType: spec.grantType } : {}),
      ...(spec.match && Object.keys(spec.match).length ? { match: { ...spec.match } } : {}),
      timeoutMs: spec.timeoutMs ?? DEFAULT_HOLD_TIMEOUT_MS,
      onTimeout: spec.onTimeout ?? 'proceed',
      state: 'armed',
      since: at,
      createdAt: at,
    };
    this.live.push(hold);
    return view(hold);
  }

  list(): HoldView[] {
    return [...this.live, ...this.finished].map(view);
  }

  get(id: string): HoldView {
    return view(this.find(id));
  }

  /**
   * The hold once it has caught a request (`holding`: also when it already ended) or has ended (`finished`), or as it
   * is after `waitMs` of wall time, whichever comes first. Lets a driver wait for the catch without polling.
   */
  async until(id: string, what: HoldWait, waitMs: number): Promise<HoldView> {
    const hold = this.find(id);
    const reached = () => (what === 'holding' ? hold.state !== 'armed' : hold.state !== 'armed' && hold.state !== 'holding');
    if (!reached() && !this.closed && waitMs > 0) {
      await new Promise<void>((resolve) => {
        const check = () => (reached() || this.closed) && done();
        const done = () => {
          clearTimeout(timer);
          this.watchers.delete(check);
          resolve();
        };
        const timer = setTimeout(done, Math.min(waitMs, MAX_HOLD_WAIT_MS));
        timer.unref?.();
        this.watchers.add(check);
      });
    }
    return view(hold);
  }

  wait(target: HoldTarget, request: HoldRequest, gone?: AbortSignal): Promise<FaultAction | null> {
    const hold = gone?.aborted ? undefined : this.live.find((h) => h.state === 'armed' && matches(h, target, request));
    if (!hold) return Promise.resolve(null);
    // Consumed here, synchronously: no other request can be caught by the same hold.
    hold.state = 'holding';
    hold.since = this.stamp();
    hold.caught = { ...request, at: hold.since };
    hold.caughtAtWall = performance.now();
    this.journal(hold, 'hold.caught');
    this.notify();
    return new Promise<FaultAction | null>((resolve) => {
      hold.letGo = resolve;
      hold.timer = setTimeout(() => this.finish(hold, 'timed-out', hold.onTimeout), hold.timeoutMs);
      // A forgotten hold does not keep a process alive on its own.
      hold.timer.unref?.();
      if (gone) {
        const left = () => this.finish(hold, 'abandoned', 'proceed');
        gone.addEventListener('abort', left, { once: true });
        hold.unlisten = () => gone.removeEventListener('abort', left);
      }
    });
  }

  /** Lets the caught request go, with `outcome` (default proceed). 409 when the hold holds nothing. */
  release(id: string, outcome: HoldOutcome = 'proceed'): HoldView {
    const hold = this.find(id);
    if (hold.state === 'armed') throw new HoldError(409, `hold ${id} has not caught a request yet (state armed); DELETE it to cancel`);
    if (hold.state !== 'holding') throw new HoldError(409, `hold ${id} is already ${hold.state}`);
    const problem = outcomeProblem(hold.target, outcome, 'outcome');
    if (problem) throw new HoldError(400, problem);
    this.finish(hold, 'released', outcome);
    return view(hold);
  }

  /** Cancels a hold: an armed one catches nothing, a holding one lets its request proceed. 409 when finished. */
  cancel(id: string): HoldView {
    const hold = this.find(id);
    if (hold.state !== 'armed' && hold.state !== 'holding') throw new HoldError(409, `hold ${id} is already ${hold.state}`);
    this.finish(hold, 'cancelled', 'proceed');
    return view(hold);
  }

  /** Cancels every armed or holding hold (a test's teardown); answers how many. */
  cancelAll(): number {
    const live = [...this.live];
    for (const h of live) this.finish(h, 'cancelled', 'proceed');
    return live.length;
  }

  /** The twin is stopping: held requests proceed, long polls answer now, nothing is armed any more. */
  close(): void {
    this.closed = true;
    this.cancelAll();
    this.notify();
  }

  private finish(hold: LiveHold, state: 'released' | 'timed-out' | 'cancelled' | 'abandoned', outcome: HoldOutcome): void {
    // Ends once: a release, a timeout and the client's departure can meet in one turn of the event loop.
    if (hold.state !== 'armed' && hold.state !== 'holding') return;
    const wasHolding = hold.state === 'holding';
    if (hold.timer) clearTimeout(hold.timer);
    hold.unlisten?.();
    hold.unlisten = undefined;
    hold.state = state;
    hold.since = this.stamp();
    this.live.splice(this.live.indexOf(hold), 1);
    this.finished.push(hold);
    if (this.finished.length > FINISHED_HOLDS_KEPT) this.finished.shift();
    this.notify();
    if (!wasHolding) return; // an armed hold caught nothing: nothing to let go, nothing on the wire
    hold.outcome = outcome;
    hold.heldMs = Math.round((performance.now() - (hold.caughtAtWall ?? performance.now())) * 10) / 10;
    this.journal(hold, `hold.${state}`);
    const letGo = hold.letGo;
    hold.letGo = undefined;
    letGo?.(outcome === 'proceed' ? null : outcome);
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  private find(id: string): LiveHold {
    const hold = this.live.find((h) => h.id === id) ?? this.finished.find((h) => h.id === id);
    if (!hold) throw new HoldError(404, `no hold ${id}`);
    return hold;
  }

  private journal(hold: LiveHold, event: HoldJournalEntry['event']): void {
    const c = hold.caught;
    if (!this.d.journal || !c) return;
    this.d.journal.add({
      kind: 'hold',
      client: c.client,
      event,
      hold: hold.id,
      target: hold.target,
      ...(c.grantType ? { grantType: c.grantType } : {}),
      ...(c.clientId ? { clientId: c.clientId } : {}),
      ...(c.upn ? { upn: c.upn } : {}),
      ...(c.session ? { session: c.session } : {}),
      ...(hold.outcome ? { answer: describeOutcome(hold.outcome) } : {}),
      ...(hold.heldMs !== undefined ? { heldMs: hold.heldMs } : {}),
    });
  }

  private stamp(): string {
    return new Date(this.d.now()).toISOString();
  }
}

function matches(hold: LiveHold, target: HoldTarget, r: HoldRequest): boolean {
  if (hold.target !== target) return false;
  if (hold.grantType && normalGrantType(r.grantType) !== hold.grantType) return false;
  const m = hold.match ?? {};
  if (m.client !== undefined && m.client !== r.client) return false;
  if (m.clientId !== undefined && m.clientId.toLowerCase() !== r.clientId?.toLowerCase()) return false;
  if (m.upn !== undefined && m.upn.toLowerCase() !== r.upn?.toLowerCase()) return false;
  return true;
}

function normalGrantType(g: string | undefined): string | undefined {
  return g && DEVICE_CODE_GRANTS.includes(g) ? 'device_code' : g;
}

/** Why a spec cannot be armed, or null. The control API's schema checks shapes; this checks what fits together. */
export function specProblem(spec: HoldSpec): string | null {
  if (!HOLD_TARGETS.includes(spec.target)) return `target must be one of ${HOLD_TARGETS.join(', ')}`;
  if (spec.grantType !== undefined) {
    if (spec.target !== 'token') return 'grantType narrows only target token';
    if (!HOLD_GRANT_TYPES.includes(spec.grantType)) return `grantType must be one of ${HOLD_GRANT_TYPES.join(', ')}`;
  }
  const t = spec.timeoutMs;
  if (t !== undefined && (!Number.isInteger(t) || t < 1 || t > MAX_HOLD_TIMEOUT_MS)) return `timeoutMs must be an integer from 1 to ${MAX_HOLD_TIMEOUT_MS}`;
  const http = HTTP_TARGETS.includes(spec.target);
  if (spec.match?.clientId !== undefined && !http) return 'match.clientId applies to targets device-code and token only';
  if (spec.match?.upn !== undefined && (http || spec.target === 'smtp-connect')) {
    return 'match.upn applies to targets smtp-auth and smtp-data only (the mailbox is not on the wire before AUTH)';
  }
  return spec.onTimeout === undefined ? null : outcomeProblem(spec.target, spec.onTimeout, 'onTimeout');
}

function outcomeProblem(target: HoldTarget, outcome: HoldOutcome, field: string): string | null {
  if (outcome === 'proceed') return null;
  if (typeof outcome !== 'object' || outcome === null) return `${field} must be "proceed" or a fault action`;
  const allowed = HTTP_TARGETS.includes(target) ? HTTP_ACTIONS : SMTP_ACTIONS;
  if (!allowed.includes(outcome.kind)) return `${field}: fault action ${String(outcome.kind)} has no meaning for ${target} (use ${allowed.join(', ')})`;
  const missing = faultActionProblem(outcome);
  return missing ? `${field}: ${missing}` : null;
}

/** "proceed", "error invalid_grant 50173", "reply 535 5.7.139 …": the journal's short form of an outcome. */
function describeOutcome(o: HoldOutcome): string {
  if (o === 'proceed') return 'proceed';
  switch (o.kind) {
    case 'error':
      return ['error', o.error, o.aadsts].filter((x) => x !== undefined).join(' ');
    case 'http':
      return `http ${o.status}`;
    case 'throttle':
      return `throttle ${o.retryAfterSeconds}`;
    case 'reply':
      return `reply ${o.reply}`.slice(0, 200);
    case 'delay':
      return `delay ${o.ms}`;
    case 'drop':
      return 'drop';
  }
}

function view(h: LiveHold): HoldView {
  const { caughtAtWall, timer, letGo, unlisten, ...rest } = h;
  return { ...rest, ...(rest.match ? { match: { ...rest.match } } : {}), ...(rest.caught ? { caught: { ...rest.caught } } : {}) };
}
