/**
 * The device's typed failures, as data: each is built from an options object (like the twin's `EntraError`) and
 * carries the protocol code tagged by kind, so the panel, the classifiers and the reports read one shape instead of
 * guessing what "AADSTS70020", "5.7.139", "ECONNREFUSED" or "HTTP 503" is from its spelling.
 * The adapters build them (src/adapters/{msal,mail}/classify.ts); the runtime turns them into statechart events.
 */
import type { CodeKind, LastError, ProtocolCode, SendCategory } from '../../machines/oauthDevice.ts';

export type { CodeKind, ProtocolCode };

export const CODE_KINDS = ['aadsts', 'oauth', 'smtp', 'socket', 'http', 'msal', 'nodemailer', 'storage'] as const satisfies readonly CodeKind[];

export const protocolCode = (kind: CodeKind, value: string | number): ProtocolCode => ({ kind, value: String(value) });

/** How people read a code: AADSTS and HTTP codes carry their prefix ("AADSTS70020", "HTTP 503"), the rest as sent. */
export function codeText(code: ProtocolCode): string;
export function codeText(code: ProtocolCode | null): string | null;
export function codeText(code: ProtocolCode | null): string | null {
  if (code === null) return null;
  if (code.kind === 'aadsts') return `AADSTS${code.value}`;
  if (code.kind === 'http') return `HTTP ${code.value}`;
  return code.value;
}

/** True when `code` is written `text` (its display form) — how expectations written as plain strings compare. */
export const codeIs = (code: ProtocolCode | null, text: string | null): boolean => codeText(code) === text;

/** nodemailer's own error codes (it puts the socket's, when it had one, in `originalCode`). */
export const NODEMAILER_CODES: ReadonlySet<string> = new Set([
  'ECONNECTION', 'EAUTH', 'ENOAUTH', 'EENVELOPE', 'EPROTOCOL', 'ETLS', 'EREQUIRETLS', 'EMESSAGE', 'ESOCKET', 'ETIMEDOUT',
  'ESTREAM', 'EDNS', 'EFILEACCESS', 'ECONFIG', 'EMAXLIMIT', 'EMAXRECIPIENTS', 'EPROXY', 'EABORT',
]);

/** OAuth 2.0 `error` words Entra sends (RFC 6749 §5.2, RFC 8628 §3.5, OIDC, Entra's own). */
const OAUTH_ERRORS = new Set([
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope',
  'access_denied', 'authorization_pending', 'slow_down', 'expired_token', 'authorization_declined',
  'bad_verification_code', 'code_expired', 'interaction_required', 'login_required', 'consent_required',
  'temporarily_unavailable', 'server_error', 'invalid_tenant', 'invalid_resource',
]);

/**
 * The tagged form of a code written as one string (firmware before tagged codes stored `lastError.code` that way).
 * Tolerant by design: an old image must load, so what matches no pattern is kept, as an MSAL code.
 */
export function codeFromText(text: string): ProtocolCode {
  const t = text.trim();
  let m: RegExpExecArray | null;
  if ((m = /^AADSTS(\d+)$/.exec(t))) return protocolCode('aadsts', m[1]!);
  if ((m = /^HTTP (\d{3})$/.exec(t))) return protocolCode('http', m[1]!);
  if (/^[245]\.\d{1,3}\.\d{1,3}$/.test(t) || /^[2-5]\d\d$/.test(t)) return protocolCode('smtp', t);
  if (OAUTH_ERRORS.has(t)) return protocolCode('oauth', t);
  if (NODEMAILER_CODES.has(t)) return protocolCode('nodemailer', t);
  if (/^[A-Z][A-Z0-9_]+$/.test(t)) return protocolCode('socket', t);
  return protocolCode('msal', t);
}

/** A stored `code` of any firmware: the tagged object, an old plain string, or nothing. Null for anything else. */
export function storedCode(v: unknown): ProtocolCode | null {
  if (typeof v === 'string' && v.trim()) return codeFromText(v);
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const { kind, value } = v as Record<string, unknown>;
    if (typeof kind === 'string' && (CODE_KINDS as readonly string[]).includes(kind) && typeof value === 'string') {
      return protocolCode(kind as CodeKind, value);
    }
  }
  return null;
}

// ---------------------------------------------------------------- TLS

/**
 * Why a TLS connection was refused, judged on the printer's clock and trust store (src/adapters/tls): the reason a
 * failure of category `tls` carries in the status and the event log, and what the panel's advice keys on.
 */
export const TLS_REASONS = ['cert-not-yet-valid', 'cert-expired', 'unknown-ca', 'hostname-mismatch', 'protocol'] as const;
export type TlsReason = (typeof TLS_REASONS)[number];

export const isTlsReason = (reason: string | null | undefined): reason is TlsReason =>
  (TLS_REASONS as readonly string[]).includes(reason ?? '');

/**
 * The reason a TLS stack's error code means. OpenSSL's verification codes and ours (DeviceTlsError uses the same
 * names) read alike, so a chain refused by OpenSSL and one refused on the device clock land on the same reasons.
 */
export function tlsReasonOfCode(code: string | null | undefined, message = ''): TlsReason {
  const c = code ?? '';
  if (c === 'CERT_NOT_YET_VALID' || c === 'ERROR_IN_CERT_NOT_BEFORE_FIELD') return 'cert-not-yet-valid';
  if (c === 'CERT_HAS_EXPIRED' || c === 'ERROR_IN_CERT_NOT_AFTER_FIELD') return 'cert-expired';
  if (c === 'ERR_TLS_CERT_ALTNAME_INVALID' || c === 'HOSTNAME_MISMATCH') return 'hostname-mismatch';
  if (/^(UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_UNTRUSTED|CERT_SIGNATURE_FAILURE|INVALID_CA|CERT_REJECTED)$/.test(c)) return 'unknown-ca';
  // Only words (a wrapper that dropped the code): OpenSSL's phrases.
  if (/not yet valid/i.test(message)) return 'cert-not-yet-valid';
  if (/has expired/i.test(message)) return 'cert-expired';
  if (/self[- ]signed|unable to verify|issuer certificate/i.test(message)) return 'unknown-ca';
  if (/altnames|does not match/i.test(message)) return 'hostname-mismatch';
  return 'protocol';
}

/** lastError.reason of a basic send Exchange refused because Microsoft turned basic SMTP AUTH off (5.7.139, 5.7.30). */
export const BASIC_AUTH_DISABLED = 'basic-auth-disabled' satisfies SendCategory;

/**
 * lastError.reasons of a client-credentials request Entra refused for the app's own credentials or registration
 * (src/adapters/msal/classify.ts names them): only a new secret (or a fix in Entra) helps.
 */
export const APP_CREDENTIAL_REASONS = ['client-secret-missing', 'client-secret-invalid', 'client-secret-expired', 'client-assertion-invalid', 'app-not-in-tenant', 'scope-invalid'] as const;
export const isAppCredentialFailure = (reason: string): boolean => (APP_CREDENTIAL_REASONS as readonly string[]).includes(reason);

// ---------------------------------------------------------------- the failures

export type SignInFailureKind = 'code-request-failed' | 'declined' | 'expired' | 'poll-failed' | 'cancelled';

export interface SignInFailureInit {
  /** How the sign-in ended: a failed code request, declined, expired, a failed poll, or cancelled. */
  kind: SignInFailureKind;
  /** Stable reason the panel shows ("consent-required", "code-expired", …). */
  reason: string;
  code?: ProtocolCode | null;
  /** The server's words (error_description's first line), when it said any. */
  reply?: string | null;
}

/** Why a sign-in ended without a token. */
export class SignInFailure extends Error {
  readonly kind: SignInFailureKind;
  readonly reason: string;
  readonly code: ProtocolCode | null;
  readonly reply: string | null;

  constructor(init: SignInFailureInit) {
    super(init.reply ?? init.reason);
    this.name = 'SignInFailure';
    this.kind = init.kind;
    this.reason = init.reason;
    this.code = init.code ?? null;
    this.reply = init.reply ?? null;
  }
}

export interface RefreshFailureInit {
  /** true: network, 5xx, 429 — try again later; false: the refresh token is unusable — sign in again. */
  transient: boolean;
  reason: string;
  code?: ProtocolCode | null;
  reply?: string | null;
  /** A server's Retry-After, when it gave one. */
  retryAfterMs?: number | null;
}

export class RefreshFailure extends Error {
  readonly transient: boolean;
  readonly reason: string;
  readonly code: ProtocolCode | null;
  readonly reply: string | null;
  readonly retryAfterMs: number | null;

  constructor(init: RefreshFailureInit) {
    super(init.reply ?? init.reason);
    this.name = 'RefreshFailure';
    this.transient = init.transient;
    this.reason = init.reason;
    this.code = init.code ?? null;
    this.reply = init.reply ?? null;
    this.retryAfterMs = init.retryAfterMs ?? null;
  }
}

export interface SendFailureInit {
  category: SendCategory;
  transient: boolean;
  /** A finer reason than the category, when there is one (a `tls` failure's TlsReason); default: the category. */
  reason?: string;
  /** The SMTP reply line, or the transport error's words. */
  reply?: string | null;
  /** SMTP (enhanced) status, a socket or nodemailer code. */
  code?: ProtocolCode | null;
}

export class SendFailure extends Error {
  readonly category: SendCategory;
  readonly transient: boolean;
  readonly reason: string;
  readonly reply: string | null;
  readonly code: ProtocolCode | null;

  constructor(init: SendFailureInit) {
    super(init.reply ?? init.category);
    this.name = 'SendFailure';
    this.category = init.category;
    this.transient = init.transient;
    this.reason = init.reason ?? init.category;
    this.reply = init.reply ?? null;
    this.code = init.code ?? null;
  }
}

// ---------------------------------------------------------------- on the wire

/**
 * A last error as the JSON wires carry it (the panel's /api/status, driver protocol v1): `code` stays the text it
 * always was, so existing clients keep reading it, and `codeKind` adds the tag.
 */
export interface LastErrorWire {
  reason: string;
  code: string | null;
  codeKind: CodeKind | null;
  reply: string | null;
}

export const lastErrorWire = (e: LastError): LastErrorWire => ({
  reason: e.reason,
  code: codeText(e.code),
  codeKind: e.code?.kind ?? null,
  reply: e.reply,
});

/** Back from the wire: the kind when the sender gave one (the text loses its AADSTS / HTTP prefix), else inferred. */
export function codeFromWire(text: string | null, kind: CodeKind | null | undefined): ProtocolCode | null {
  if (text === null || !text.trim()) return null;
  if (!kind) return codeFromText(text);
  const prefix = kind === 'aadsts' ? /^AADSTS/ : kind === 'http' ? /^HTTP / : null;
  return protocolCode(kind, prefix ? text.trim().replace(prefix, '') : text.trim());
}
