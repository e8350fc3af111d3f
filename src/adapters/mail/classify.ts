/**
 * Exchange Online's SMTP replies, and the ways a connection fails, sorted into the statechart's send categories.
 * Pure. Rule of thumb: 4xx and network trouble are transient (retry on the runtime's schedule); 5xx are permanent;
 * TLS failures are permanent too (a certificate or protocol mismatch does not heal by retrying; the runtime retries a
 * job held on one when the printer's clock or trust store changes), with their TlsReason.
 * Exceptions, with reasons, are in the table below and in docs/adapters.md.
 */
import type { SendCategory } from '../../../machines/oauthDevice.ts';
import { NODEMAILER_CODES, protocolCode, SendFailure, tlsReasonOfCode, type ProtocolCode } from '../../device/failures.ts';
import { isTlsErrorCode } from '../msal/errors.ts';

/** What nodemailer tells about a failed submission (its error's fields). */
export interface SmtpFailureFacts {
  /** nodemailer's code: EAUTH, EENVELOPE, EMESSAGE, ECONNECTION, ESOCKET, ETIMEDOUT, ETLS, EDNS... */
  code?: string;
  /** The socket's own code when nodemailer replaced it (ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE...). */
  originalCode?: string;
  responseCode?: number;
  /** The server's reply line. */
  response?: string;
  message?: string;
}

const NETWORK_CODES = new Set([
  'ECONNECTION', 'ESOCKET', 'ETIMEDOUT', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH',
  'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'EPROTOCOL',
]);

export function enhancedCodeOf(reply: string | undefined): string | null {
  const m = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reply?.trim() ?? '');
  return m ? m[1]! : null;
}

/** A reply's category, by enhanced code first (Exchange always sends one), then by basic code. */
function categoryOfReply(basic: number, enhanced: string | null, text: string): SendCategory {
  switch (enhanced) {
    case '5.7.3': // bad, expired or wrong-audience token → the machine refreshes once and resends
    case '5.7.57': // not authenticated: our AUTH did not take
    case '5.7.8': // "Authentication credentials invalid" (OAuth proxies in the field say this)
      return 'auth-rejected';
    case '5.7.139': // SMTP AUTH off (tenant / mailbox), basic auth off (its own words: the panel says switch to OAuth), security defaults
      return /basic authentication is disabled/i.test(text) ? 'basic-auth-disabled' : 'smtp-auth-disabled';
    case '5.7.30': // basic authentication not supported for client submission (the final removal)
      return 'basic-auth-disabled';
    case '5.7.60': // no Send As right for the From address
      return 'send-as-denied';
    case '5.2.2': // mailbox full
    case '5.4.5': // daily recipient quota
      return 'quota';
    case '4.3.2': // concurrent connections limit
      return 'throttled';
  }
  if (enhanced === '5.2.0' && /SendAsDenied/i.test(text)) return 'send-as-denied';
  // 5.2.251–5.2.255: "Sender throttled due to continuous send as denied errors". A throttle by name, but it
  // only follows Send As refusals and lasts while they go on: the fix is the From address, so it is send-as-denied
  // (and permanent, as a 5xx), not a throttle to wait out.
  if (enhanced !== null && /^5\.2\.25[1-5]$/.test(enhanced)) return 'send-as-denied';
  if (basic === 535) return 'auth-rejected';
  if (basic === 421) return 'network'; // service closing the channel
  if (basic >= 400 && basic < 500 && /throttl|too many|limit exceeded|busy/i.test(text)) return 'throttled';
  return 'other';
}

export function classifySmtp(f: SmtpFailureFacts): SendFailure {
  const reply = f.response?.trim() || null;
  const basic = f.responseCode ?? (reply ? Number(/^(\d{3})/.exec(reply)?.[1]) || undefined : undefined);
  if (basic !== undefined && basic >= 400) {
    const enhanced = enhancedCodeOf(reply ?? `${basic}`);
    const category = categoryOfReply(basic, enhanced, reply ?? '');
    return new SendFailure({ category, transient: basic < 500, reply: reply ?? `${basic}`, code: protocolCode('smtp', enhanced ?? basic) });
  }
  const words = f.message ?? null;
  const failure = (category: SendCategory, transient: boolean, code: ProtocolCode | null) =>
    new SendFailure({ category, transient, reply: words, code });
  const transportCode = transportCodeOf(f);
  if (isTlsErrorCode(f.originalCode, f.message) || f.code === 'ETLS' || f.code === 'EREQUIRETLS') {
    if (f.originalCode && NETWORK_CODES.has(f.originalCode)) return failure('network', true, protocolCode('socket', f.originalCode));
    return new SendFailure({ category: 'tls', transient: false, reason: tlsReasonOfCode(f.originalCode ?? f.code, f.message), reply: words, code: transportCode ?? protocolCode('nodemailer', 'ETLS') });
  }
  if ((f.originalCode && NETWORK_CODES.has(f.originalCode)) || (f.code && NETWORK_CODES.has(f.code))) {
    return failure('network', true, transportCode);
  }
  // EAUTH without a reply: nodemailer could not even offer the token.
  if (f.code === 'EAUTH' || f.code === 'ENOAUTH') return failure('auth-rejected', false, protocolCode('nodemailer', f.code));
  // Our own message or envelope was refused before it left (bad address, unreadable attachment): retrying won't help.
  if (f.code && ['EENVELOPE', 'EMESSAGE', 'EFILEACCESS', 'ESTREAM', 'ECONFIG'].includes(f.code)) {
    return failure('other', false, protocolCode('nodemailer', f.code));
  }
  return failure('other', true, transportCode);
}

/** The socket's code when nodemailer kept it, else nodemailer's own (or a socket code it passed through as is). */
function transportCodeOf(f: SmtpFailureFacts): ProtocolCode | null {
  if (f.originalCode) return protocolCode('socket', f.originalCode);
  if (!f.code) return null;
  return protocolCode(NODEMAILER_CODES.has(f.code) ? 'nodemailer' : 'socket', f.code);
}

/** Reads the facts off whatever nodemailer threw. */
export function smtpFactsOf(err: unknown): SmtpFailureFacts {
  const e = (err ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  return {
    code: str(e.code),
    originalCode: str(e.originalCode),
    responseCode: typeof e.responseCode === 'number' ? e.responseCode : undefined,
    response: str(e.response),
    message: err instanceof Error ? err.message : String(err),
  };
}
