/**
 * The SMTP replies Exchange Online gives, word for word (see microsoft-protocol-facts.md), and the typed error that
 * carries one through smtp-server. smtp-server answers a handler's error with `err.responseCode` and `err.message`,
 * so a refusal is an `Error` whose message is the reply text after the code (enhanced status code included).
 */

/** An SMTP refusal: `responseCode` is the basic code, `enhancedCode` the RFC 3463 code, `message` the text after the
 * basic code (so `${responseCode} ${message}` is the full reply line the client sees). */
export class SmtpReplyError extends Error {
  override readonly name = 'SmtpReplyError';
  constructor(
    readonly responseCode: number,
    readonly enhancedCode: string | null,
    text: string,
  ) {
    super(enhancedCode ? `${enhancedCode} ${text}` : text);
  }

  /** The reply line as it goes over the wire. */
  get reply(): string {
    return `${this.responseCode} ${this.message}`;
  }

  /** Parses a full reply line such as "432 4.3.2 Concurrent connections limit exceeded." (fault plans give these). */
  static fromReplyLine(line: string): SmtpReplyError {
    const match = /^\s*([2-5]\d\d)[ -]?(?:([245]\.\d{1,3}\.\d{1,3})\s+)?(.*)$/s.exec(line);
    if (!match) return new SmtpReplyError(451, '4.3.0', line.trim() || 'Temporary server error. Please try again later');
    return new SmtpReplyError(Number(match[1]), match[2] ?? null, (match[3] ?? '').trim());
  }
}

/** Starts with an RFC 3463 enhanced status code ("5.7.3 ..."): such text must not get smtp-server's default one. */
export const ENHANCED_CODE_PREFIX = /^[245]\.\d{1,3}\.\d{1,3}(\s|$)/;

/** A reply smtp-server composes itself, reworded as Exchange gives it. */
export interface LibraryReplyInExchangeWords {
  code: number;
  /** Text after the code, enhanced status code included. */
  text: string;
  /** The library closes the connection after this reply only for a 421; say so when the new code is another. */
  closes: boolean;
}

/**
 * smtp-server's own texts that Exchange words differently, keyed by the library's `code text` (smtp-server 3.x):
 * - STARTTLS: Exchange Online answers `220 2.0.0 SMTP server ready` (microsoft-protocol-facts.md, second round).
 * - Idle session: Exchange Server closes a session idle for the receive connector's ConnectionInactivityTimeout
 *   (default 00:05:00) with `451 4.7.0 Timeout waiting for client input` (as its SMTP receive protocol logs show it;
 *   see docs/cloud-twin.md "Fidelity"); Exchange Online publishes no text of its own. The library would say
 *   `421 Timeout - closing connection`.
 */
const LIBRARY_REPLIES: ReadonlyMap<string, LibraryReplyInExchangeWords> = new Map([
  ['220 Ready to start TLS', { code: 220, text: '2.0.0 SMTP server ready', closes: false }],
  ['421 Timeout - closing connection', { code: 451, text: '4.7.0 Timeout waiting for client input', closes: true }],
]);

/** Exchange's version of a reply the library composed, or undefined when Exchange says the same (or we don't know). */
export function inExchangeWords(code: number, text: string): LibraryReplyInExchangeWords | undefined {
  return LIBRARY_REPLIES.get(`${code} ${text}`);
}

/**
 * The name the twin's front end shows in its greeting and inside the brackets of its refusals, shaped like the
 * outlook.com front ends that real replies name ("SN2PR00CA0018.namprd00.prod.outlook.com").
 */
export interface ExchangeHostIdentity {
  /** Front-end host name (the greeting's and the brackets' host). */
  readonly name: string;
  /** `[host timestamp id]` as 5.7.139 replies carry it; the timestamp is the twin clock's. */
  diagnostic(now: number): string;
}

export function createHostIdentity(randomInt: (max: number) => number): ExchangeHostIdentity {
  const pod = `${pick('SN2BN6MN2DM6CH2', randomInt)}PR${pad(randomInt(100), 2)}CA${pad(randomInt(10_000), 4)}`;
  const region = `namprd${pad(randomInt(20), 2)}`;
  const name = `${pod}.${region}.prod.outlook.com`;
  let sequence = randomInt(0xffff);
  return {
    name,
    diagnostic(now) {
      sequence = (sequence + 1) & 0xffff;
      const id = `08DE${pad(sequence.toString(16).toUpperCase(), 4)}${pad(randomInt(0xffffff).toString(16).toUpperCase(), 6)}`;
      return `[${name} ${new Date(now).toISOString()} ${id}]`;
    },
  };
}

function pick(pairs: string, randomInt: (max: number) => number): string {
  const i = randomInt(pairs.length / 3);
  return pairs.slice(i * 3, i * 3 + 3);
}

function pad(value: number | string, width: number): string {
  return String(value).padStart(width, '0');
}

/** Every refusal the twin gives, built with the host's diagnostic tail where the real service adds one. */
export function exchangeReplies(host: ExchangeHostIdentity) {
  const r = (code: number, enhanced: string, text: string) => new SmtpReplyError(code, enhanced, text);
  return {
    /** Bad, expired, wrong-audience or badly signed token; also a disabled or unknown user (see README). */
    badToken: () => r(535, '5.7.3', `Authentication unsuccessful [${host.name}]`),
    smtpAuthDisabledForTenant: (now: number) =>
      r(535, '5.7.139', `Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. ${host.diagnostic(now)}`),
    smtpAuthDisabledForMailbox: (now: number) =>
      r(535, '5.7.139', `Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. ${host.diagnostic(now)}`),
    basicAuthDisabled: (now: number) =>
      r(535, '5.7.139', `Authentication unsuccessful, basic authentication is disabled. ${host.diagnostic(now)}`),
    /** Basic auth after Microsoft's final removal (issue 14). */
    basicAuthRemoved: () => r(550, '5.7.30', 'Basic authentication is not supported for Client Submission.'),
    securityDefaults: (now: number) =>
      r(535, '5.7.139', `Authentication unsuccessful, user is locked by your organization's security defaults policy. ${host.diagnostic(now)}`),
    notAuthenticated: () => r(530, '5.7.57', 'Client not authenticated to send mail.'),
    sendAsDeniedAtMailFrom: () => r(550, '5.7.60', 'SMTP; Client does not have permissions to send as this sender'),
    sendAsDeniedAfterData: () =>
      r(554, '5.2.0', 'STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.'),
    sendAsThrottled: () => r(550, '5.2.252', 'Sender throttled due to continuous send as denied errors.'),
    concurrentConnections: () =>
      r(432, '4.3.2', 'Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.'),
    mailboxFull: () => r(554, '5.2.2', 'mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded'),
    messageTooBig: () => r(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
    dailyRecipientQuota: () => r(550, '5.4.5', 'Daily user sending quota exceeded.'),
  };
}

export type ExchangeReplies = ReturnType<typeof exchangeReplies>;
