/**
 * How the device looks from outside: the JSON shapes of the API and the plain words of the panel (the wording column
 * of the reference statechart). Times leave as ISO 8601 strings (UTC) everywhere in the API.
 */
import type { DeviceStatus, TransitionNotice } from '../device/device.ts';
import type { LeafState } from '../../machines/oauthDevice.ts';
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
  lastError: { reason: string; code: string | null; reply: string | null } | null;
  /** The state in the panel's words. */
  stateText: string;
  jobId: string | null;
  retryAt: string | null;
  /** The device clock's "now" (a virtual clock may be far from the wall clock). */
  now: string | null;
  /** The disk under the NVRAM or the spool is failing: why, since when, and when the printer tries again. */
  storageFault: { reason: string; area: string; operation: string; code: string; message: string; since: string | null; failures: number; retryAt: string | null } | null;
}

export function statusView(s: DeviceStatus, now: number): StatusView {
  return {
    state: s.state,
    since: iso(s.since),
    account: s.account,
    userCode: s.userCode,
    verificationUri: s.verificationUri,
    expiresAt: iso(s.expiresAt),
    tokenExpiresAt: iso(s.tokenExpiresAt),
    lastError: s.lastError ? { reason: s.lastError.reason, code: s.lastError.code, reply: s.lastError.reply } : null,
    stateText: stateText(s, now),
    jobId: s.jobId,
    retryAt: iso(s.retryAt),
    now: iso(now),
    storageFault: s.storageFault ? { ...s.storageFault, since: iso(s.storageFault.since), retryAt: iso(s.storageFault.retryAt) } : null,
  };
}

/** Short headline per state (statechart.md, panel wording column). */
export const STATE_TITLES: Record<LeafState, string> = {
  unconfigured: 'OAuth 2.0 not configured',
  ready: 'Not authenticated',
  requestingCode: 'Requesting a code from Microsoft…',
  codePending: 'Waiting for Microsoft sign-in',
  authFailed: 'Authentication failed',
  authorized: 'Authenticated',
  tokenExpired: 'Authenticated; token renews on next send',
  refreshing: 'Renewing access token…',
  sending: 'Sending…',
  sendFailure: 'Send failed',
  reauthRequired: 'Re-authentication required',
};

/** Severity for the status badge colour. */
export const STATE_TONE: Record<LeafState, 'ok' | 'busy' | 'warn' | 'error' | 'idle'> = {
  unconfigured: 'idle',
  ready: 'idle',
  requestingCode: 'busy',
  codePending: 'busy',
  authFailed: 'error',
  authorized: 'ok',
  tokenExpired: 'ok',
  refreshing: 'busy',
  sending: 'busy',
  sendFailure: 'error',
  reauthRequired: 'warn',
};

export function mmss(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

/** The full sentence of the panel wording column, with the details filled in. */
export function stateText(s: DeviceStatus, now: number): string {
  const reason = s.lastError ? describeError(s.lastError) : 'unknown reason';
  switch (s.state) {
    case 'codePending':
      return `Enter code ${s.userCode ?? '?'} at the Microsoft page (expires in ${mmss((s.expiresAt ?? now) - now)})`;
    case 'authFailed':
      return `Authentication failed: ${reason}`;
    case 'authorized':
      return `Authenticated as ${s.account ?? '?'}`;
    case 'sendFailure':
      return `Send failed: ${s.lastError?.reply ?? reason}`;
    case 'reauthRequired':
      return `Re-authentication required: ${reason}`;
    default:
      return STATE_TITLES[s.state];
  }
}

export function describeError(e: { reason: string; code: string | null; reply: string | null }): string {
  const code = e.code && !e.reason.includes(e.code) ? ` (${e.code})` : '';
  return `${e.reason}${code}`;
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
