/**
 * How the device looks from outside: the JSON shapes of the API (the words are in ./wording.ts). Times leave as
 * ISO 8601 strings (UTC) everywhere in the API.
 */
import type { PrinterStatus as DeviceStatus, TransitionNotice } from '../device/printer.ts';
import type { LeafState } from '../../machines/oauthDevice.ts';
import { lastErrorWire, type LastErrorWire } from '../device/failures.ts';
import { failureAdvice, stateText } from './wording.ts';
import type { JobRecord, SmtpSettings } from '../device/printer.ts';

export const iso = (ms: number | null | undefined): string | null =>
  typeof ms === 'number' && Number.isFinite(ms) ? new Date(ms).toISOString() : null;

export interface StatusView {
  state: LeafState;
  since: string | null;
  account: string | null;
  userCode: string | null;
  verificationUri: string | null;
  expiresAt: string | null;
  tokenExpiresAt: string | null;
  lastError: LastErrorWire | null;
  /** The state in the panel's words. */
  stateText: string;
  /** What to do about the last failure, when the panel knows (e.g. "Check Date/Time or enable NTP"); else null. */
  advice: string | null;
  jobId: string | null;
  retryAt: string | null;
  /** The device clock's "now" (a virtual clock may be far from the wall clock). */
  now: string | null;
  /** The disk under the NVRAM or the spool is failing: why, since when, and when the printer tries again. */
  storageFault: { reason: string; area: string; operation: string; code: string; message: string; since: string | null; failures: number; retryAt: string | null } | null;
}

/** What the status view says that depends on the status alone (not on the clock's now). */
export type StatusFacts = Omit<StatusView, 'stateText' | 'now'>;

export function statusFacts(s: DeviceStatus): StatusFacts {
  return {
    state: s.state,
    since: iso(s.since),
    account: s.account,
    userCode: s.userCode,
    verificationUri: s.verificationUri,
    expiresAt: iso(s.expiresAt),
    tokenExpiresAt: iso(s.tokenExpiresAt),
    lastError: s.lastError ? lastErrorWire(s.lastError) : null,
    advice: failureAdvice(s),
    jobId: s.jobId,
    retryAt: iso(s.retryAt),
    storageFault: s.storageFault ? { ...s.storageFault, since: iso(s.storageFault.since), retryAt: iso(s.storageFault.retryAt) } : null,
  };
}

/** The status view from the facts `facts` gives (a route may remember them per status: see perObject), with the clock's now. */
export function statusPresenter(facts: (s: DeviceStatus) => StatusFacts = statusFacts): (s: DeviceStatus, now: number) => StatusView {
  // The state text reads the clock too (a code's countdown).
  return (s, now) => ({ ...facts(s), stateText: stateText(s, now), now: iso(now) });
}

export const statusView = statusPresenter();

/**
 * `present` remembered per input object, for as long as that object lives: the local printer hands out the same
 * frozen status and boot report until they change (src/device/device.ts), so a polled route presents each once.
 * A printer that answers with new objects each time (a remote one) gets a new view each time, as without it.
 */
export function perObject<I extends object, V>(present: (input: I) => V): (input: I) => V {
  const views = new WeakMap<I, V>();
  return (input) => {
    let view = views.get(input);
    if (view === undefined) views.set(input, (view = present(input)));
    return view;
  };
}

export interface JobView {
  id: string;
  messageId: string;
  status: JobRecord['status'];
  reply: string | null;
  to: string[];
  subject: string;
  attempts: number;
  createdAt: string | null;
  updatedAt: string | null;
}

export function jobView(j: JobRecord): JobView {
  return {
    id: j.id,
    messageId: j.messageId,
    status: j.status,
    reply: j.reply,
    to: [...j.to],
    subject: j.subject,
    attempts: j.attempts,
    createdAt: iso(j.createdAt),
    updatedAt: iso(j.updatedAt),
  };
}

export function transitionView(t: TransitionNotice, now: number) {
  return { at: iso(t.at), from: t.from, to: t.to, event: t.event, status: statusView(t.status, now) };
}

/** Exchange refuses what these catch, so the panel says so before the first send. */
export function settingsWarnings(s: SmtpSettings): string[] {
  const warnings: string[] = [];
  if (s.authMethod !== 'oauth2ExchangeOnline') return warnings;
  const norm = (v: string) => v.trim().toLowerCase();
  if (s.authEmailAddress && s.authUsername && norm(s.authEmailAddress) !== norm(s.authUsername)) {
    warnings.push(
      'Auth. Username differs from Auth. Email Address: the device signs in as Auth. Username, and Exchange ' +
        'refuses to send from another mailbox unless that account has Send As permission on it.',
    );
  }
  const sender = s.adminEmailAddress || s.authEmailAddress;
  if (sender && s.authUsername && norm(sender) !== norm(s.authUsername)) {
    warnings.push(
      `The sender (Administrator E-mail Address ${sender}) differs from the signed-in account ` +
        `${s.authUsername}: Exchange will refuse the message (550 5.7.60, Send As denied) unless that account has Send As permission.`,
    );
  }
  return warnings;
}
