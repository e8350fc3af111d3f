/**
 * Tenant throttling as the tenant sees it (off by default): Entra's token endpoint limited per tenant and per app
 * (requests per second → 429 with Retry-After), Exchange's submissions limited per mailbox per minute. Fixed windows
 * on the twin's clock, so a fleet on virtual time is throttled exactly when its virtual second is full. The limiter
 * also counts the traffic it saw, per virtual second, for the storm report (src/fleet/storm.ts).
 *
 * Concurrent SMTP connections per mailbox are Exchange's own rule (3, 432 4.3.2) and stay in the Exchange twin.
 */
import { SmtpReplyError } from './exchange/replies.ts';

export interface ThrottlePolicy {
  /** Token requests per second for the whole tenant (null: unlimited). */
  tokenRequestsPerSecondPerTenant: number | null;
  /** Token requests per second per app (client_id) (null: unlimited). */
  tokenRequestsPerSecondPerApp: number | null;
  /** SMTP submissions (MAIL FROM) per mailbox per minute (null: unlimited; Exchange's documented figure is 30). */
  smtpSubmissionsPerMinutePerMailbox: number | null;
}

export const THROTTLING_OFF: ThrottlePolicy = {
  tokenRequestsPerSecondPerTenant: null,
  tokenRequestsPerSecondPerApp: null,
  smtpSubmissionsPerMinutePerMailbox: null,
};

/**
 * The twin's answer to a submission over the per-minute limit. Exchange delays such a message instead; why the twin
 * refuses it: docs/cloud-twin.md, "Tenant throttling".
 */
export const submissionRateReply = () => new SmtpReplyError(451, '4.7.500', 'Server busy. Please try again later.');

/** One virtual second of traffic at the twin. */
export interface TrafficSecond {
  /** Start of the second (virtual epoch ms). */
  at: number;
  tokenRequests: number;
  smtpSubmissions: number;
  /** Of those, answered 429 or 451 by this limiter. */
  throttled: number;
}

/** Seconds kept in the traffic record (a day); older ones are dropped first. */
const MAX_SECONDS_KEPT = 86_400;

export class ThrottlingError extends Error {
  override readonly name = 'ThrottlingError';
}

/** Checks a policy from the control API or the tenant fixture: every limit null or a positive integer. */
export function checkThrottlePolicy(input: unknown, where = 'throttling'): ThrottlePolicy {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ThrottlingError(`${where} must be an object`);
  const o = input as Record<string, unknown>;
  const known = Object.keys(THROTTLING_OFF);
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw new ThrottlingError(`${where}: unknown field(s) ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const out = { ...THROTTLING_OFF };
  for (const k of known as (keyof ThrottlePolicy)[]) {
    const v = o[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ThrottlingError(`${where}.${k} must be null or an integer >= 1, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

interface Window {
  start: number;
  count: number;
}

export class TenantThrottle {
  private current: ThrottlePolicy;
  private tenantWindow: Window = { start: -1, count: 0 };
  private readonly appWindows = new Map<string, Window>();
  private readonly mailboxWindows = new Map<string, Window>();
  private readonly seconds = new Map<number, TrafficSecond>();

  constructor(
    private readonly now: () => number,
    policy: ThrottlePolicy = THROTTLING_OFF,
  ) {
    this.current = checkThrottlePolicy(policy);
  }

  policy(): ThrottlePolicy {
    return { ...this.current };
  }

  /** Replaces the policy (checked first: a bad one changes nothing); windows start afresh. */
  setPolicy(input: unknown): ThrottlePolicy {
    this.current = checkThrottlePolicy(input);
    this.tenantWindow = { start: -1, count: 0 };
    this.appWindows.clear();
    this.mailboxWindows.clear();
    return this.policy();
  }

  /** A token request of `clientId`: null to answer it, or the Retry-After (s) of a 429. Counted either way. */
  admitTokenRequest(clientId: string): { retryAfterSeconds: number } | null {
    const now = this.now();
    const second = this.second(now);
    second.tokenRequests++;
    const p = this.current;
    const tenant = p.tokenRequestsPerSecondPerTenant;
    const app = p.tokenRequestsPerSecondPerApp;
    const appWindow = app === null ? null : windowOf(this.appWindows, clientId);
    if (tenant !== null) roll(this.tenantWindow, now, 1000);
    if (appWindow) roll(appWindow, now, 1000);
    // Both limits are checked before either window counts the request: a refused request uses neither.
    const over = (tenant !== null && this.tenantWindow.count >= tenant) || (appWindow !== null && app !== null && appWindow.count >= app);
    if (over) {
      second.throttled++;
      return { retryAfterSeconds: retryAfter(now, 1000) };
    }
    if (tenant !== null) this.tenantWindow.count++;
    if (appWindow) appWindow.count++;
    return null;
  }

  /** A submission (MAIL FROM) of `upn`: null to go on, or the transient reply to refuse it with. Counted either way. */
  admitSubmission(upn: string): SmtpReplyError | null {
    const now = this.now();
    const second = this.second(now);
    second.smtpSubmissions++;
    const limit = this.current.smtpSubmissionsPerMinutePerMailbox;
    if (limit === null) return null;
    const w = windowOf(this.mailboxWindows, upn.toLowerCase());
    roll(w, now, 60_000);
    if (w.count >= limit) {
      second.throttled++;
      return submissionRateReply();
    }
    w.count++;
    return null;
  }

  /** Every second that saw traffic, oldest first. */
  traffic(): TrafficSecond[] {
    return [...this.seconds.values()].sort((a, b) => a.at - b.at).map((s) => ({ ...s }));
  }

  resetTraffic(): void {
    this.seconds.clear();
  }

  private second(now: number): TrafficSecond {
    const at = Math.floor(now / 1000) * 1000;
    let s = this.seconds.get(at);
    if (!s) {
      s = { at, tokenRequests: 0, smtpSubmissions: 0, throttled: 0 };
      this.seconds.set(at, s);
      if (this.seconds.size > MAX_SECONDS_KEPT) this.seconds.delete(this.seconds.keys().next().value!);
    }
    return s;
  }
}

function windowOf(map: Map<string, Window>, key: string): Window {
  let w = map.get(key);
  if (!w) map.set(key, (w = { start: -1, count: 0 }));
  return w;
}

/** Moves a fixed window to the one holding `now` (windows are aligned to multiples of `size`). */
function roll(w: Window, now: number, size: number): void {
  const start = Math.floor(now / size) * size;
  if (w.start !== start) {
    w.start = start;
    w.count = 0;
  }
}

/** Whole seconds until the window holding `now` ends (at least 1: Retry-After is in whole seconds). */
function retryAfter(now: number, size: number): number {
  const end = (Math.floor(now / size) + 1) * size;
  return Math.max(1, Math.ceil((end - now) / 1000));
}
