/**
 * The panel's words, in one place: state titles, badge tones, the full state sentences (the wording column of the
 * reference statechart), how a failure and a countdown read. The server renders with them, and sends the part the
 * browser needs (titles, tones, the few labels panel.js changes) as JSON in every page's `data-wording` attribute,
 * so public/panel.js holds no copy of any of it.
 */
import type { AuthMethod, LastError, LeafState } from '../../machines/oauthDevice.ts';
import { BASIC_AUTH_DISABLED, codeText, isAppCredentialFailure, isTlsReason, type TlsReason } from '../device/failures.ts';
import type { PrinterStatus } from '../device/printer.ts';

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
  requestingToken: 'Requesting an app-only token from Microsoft…',
};

export type Tone = 'ok' | 'busy' | 'warn' | 'error' | 'idle';

/** Severity for the status badge colour (a CSS class `tone-<tone>`). */
export const STATE_TONE: Record<LeafState, Tone> = {
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
  requestingToken: 'busy',
};

/** What the panel says when Exchange refuses basic SMTP AUTH for the tenant (5.7.139 basic disabled, 5.7.30). */
export const BASIC_AUTH_TURNED_OFF =
  'Microsoft has turned off basic authentication for this tenant: switch to OAuth2.0 (for Exchange Online)';

/** What the panel asks for when Entra refuses the app's credentials (app-only's reauthRequired). */
export const NEW_CLIENT_SECRET_NEEDED = 'Enter a new client secret for the application and save it.';

/** Under a write-only field: what an empty one does (the stored secret is never shown). */
export const SECRET_HINT = 'Never shown again once saved; leave empty to keep the stored one.';

/** The method select's entries (the seed's labels, and the app-only one of issue 14). */
export const METHOD_LABELS: Record<AuthMethod, string> = {
  off: 'Off',
  smtpAuth: 'SMTP Authentication',
  oauth2ExchangeOnline: 'OAuth2.0 (for Exchange Online)',
  oauth2AppOnly: 'OAuth2.0 app-only (client credentials)',
};

/** Labels the browser script puts on the page by itself (the copy button's confirmation, the countdown's end). */
export const LIVE_LABELS = {
  copied: 'Copied',
  codeExpired: '00:00 (expired)',
} as const;

/** A duration as the panel shows it, mm:ss (rounded up: "00:01" until the last second has gone). */
export function mmss(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
}

/** A failure in the panel's words: the reason, and the protocol code when the reason does not already say it. */
export function describeError(e: LastError): string {
  const text = codeText(e.code);
  const code = text && !e.reason.includes(text) ? ` (${text})` : '';
  return `${e.reason}${code}`;
}

/** The host a failure in this state was talking to: Exchange while sending, Entra ID otherwise. */
const failedHost = (state: LeafState): string => (state === 'sendFailure' || state === 'sending' ? 'smtp.office365.com' : 'login.microsoftonline.com');

const TLS_ADVICE: Record<TlsReason, (host: string) => string> = {
  'cert-not-yet-valid': () => 'Check Date/Time or enable NTP',
  'cert-expired': () => 'Check Date/Time or enable NTP',
  'unknown-ca': (host) => `Import the root certificate of ${host}`,
  'hostname-mismatch': (host) => `Check the server name: the certificate does not name ${host}`,
  protocol: () => 'Check that the server offers TLS 1.2 or later',
};

/** What the admin should do about the last failure, when the panel knows (TLS failures: the printer's clock or store). */
export function failureAdvice(s: Pick<PrinterStatus, 'state' | 'lastError'>): string | null {
  const reason = s.lastError?.reason;
  return isTlsReason(reason) ? TLS_ADVICE[reason](failedHost(s.state)) : null;
}

/** The full sentence of the panel wording column, with the details filled in. */
export function stateText(s: PrinterStatus, now: number): string {
  const reason = s.lastError ? describeError(s.lastError) : 'unknown reason';
  switch (s.state) {
    case 'codePending':
      return `Enter code ${s.userCode ?? '?'} at the Microsoft page (expires in ${mmss((s.expiresAt ?? now) - now)})`;
    case 'authFailed':
      return `Authentication failed: ${reason}`;
    case 'authorized':
      return `Authenticated as ${s.account ?? '?'}`;
    case 'sendFailure':
      if (s.lastError?.reason === BASIC_AUTH_DISABLED) return `${BASIC_AUTH_TURNED_OFF}. Send failed: ${s.lastError.reply ?? reason}`;
      return `Send failed: ${s.lastError?.reply ?? reason}`;
    case 'reauthRequired':
      if (s.lastError && isAppCredentialFailure(s.lastError.reason)) return `Re-authentication required: ${reason}. ${NEW_CLIENT_SECRET_NEEDED}`;
      return `Re-authentication required: ${reason}`;
    default:
      return STATE_TITLES[s.state];
  }
}

/** What the browser script gets: the page's `data-wording` attribute (on `<body>`), as JSON. */
export interface BrowserWording {
  titles: Record<LeafState, string>;
  tones: Record<LeafState, Tone>;
  labels: typeof LIVE_LABELS;
}

export const browserWording = (): BrowserWording => ({ titles: STATE_TITLES, tones: STATE_TONE, labels: LIVE_LABELS });

/**
 * The JSON the layout puts in `data-wording` (the template's HTML escaping makes it a safe attribute value). An
 * attribute rather than a `<script>` block: the pages carry no inline `<script>` element of any type, so the CSP
 * (`script-src 'self'`) and the "no inline script" checks hold without exceptions.
 */
export const browserWordingJson = (): string => JSON.stringify(browserWording());
