/**
 * What the two halves of the Microsoft twin share. The Entra half (directory, tokens, sign-in pages, control API)
 * owns the tenant state; the Exchange half (SMTP submission, mailboxes) reads it through these interfaces only.
 * Nothing here knows about printers, and nothing in src/device may import src/cloud.
 */
import type { Clock } from '../time/clock.ts';
import type { JSONWebKeySet } from 'jose';

export type MfaMethod = 'sms' | 'authenticator' | 'none';

/** A user and mailbox of the tenant, as the twin keeps it. Passwords are kept as the fixture gives them (test data). */
export interface DirectoryUser {
  upn: string;
  displayName: string;
  objectId: string;
  enabled: boolean;
  mfa: MfaMethod;
  /** Per-mailbox SMTP AUTH switch (Set-CASMailbox -SmtpClientAuthenticationDisabled). null = follow the tenant. */
  smtpAuthEnabled: boolean | null;
  /** Addresses this mailbox may send as, besides itself. */
  sendAs: string[];
  /** Mailbox over quota: submissions get 554 5.2.2. */
  mailboxFull: boolean;
}

export interface TenantPolicy {
  tenantId: string;
  /** Verified domains of the tenant (recipients there get an Inbox copy). */
  domains: string[];
  /** Organisation-wide SMTP AUTH (Set-TransportConfig -SmtpClientAuthenticationDisabled). */
  smtpAuthEnabled: boolean;
  securityDefaults: boolean;
  /** Send-As refusal comes after DATA (554 5.2.0 SendAsDenied) instead of at MAIL FROM (550 5.7.60). */
  sendAsDeniedAfterData: boolean;
}

/** Read-only view of the directory that the Exchange twin needs. */
export interface CloudDirectory {
  policy(): TenantPolicy;
  user(upn: string): DirectoryUser | undefined;
}

/** Everything the Exchange twin needs to verify an XOAUTH2 bearer token for real. */
export interface TokenTrust {
  /** The Entra twin's public signing keys. */
  jwks(): JSONWebKeySet;
  /** Issuer(s) the access tokens carry. */
  issuers(): string[];
}

export type FaultTarget =
  | 'devicecode'
  | 'token'
  | 'smtp.connect'
  | 'smtp.auth'
  | 'smtp.mail'
  | 'smtp.data';

/**
 * What to do instead of the normal answer.
 * - http targets: `error` answers HTTP 400 (or `status`) with a Microsoft-shaped error body for `error`/`aadsts`;
 *   `http` answers a bare status (5xx); `throttle` answers 429 with Retry-After.
 * - smtp targets: `reply` answers the given SMTP reply line (e.g. "432 4.3.2 Concurrent connections limit exceeded.").
 * - any target: `delay` waits ms (on wall time) then answers normally; `drop` closes the connection.
 */
export type FaultAction =
  | { kind: 'error'; error: string; aadsts?: number; description?: string; suberror?: string; status?: number }
  | { kind: 'http'; status: number }
  | { kind: 'throttle'; retryAfterSeconds: number }
  | { kind: 'reply'; reply: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'drop' };

export interface FaultRule {
  id: string;
  target: FaultTarget;
  action: FaultAction;
  /** Apply to the next N matching requests (default 1). Ignored when `probability` is set. */
  count?: number;
  /** Apply with this probability (0..1) drawn from a seeded source, until removed. */
  probability?: number;
  seed?: number;
}

export interface FaultPlan {
  add(rule: Omit<FaultRule, 'id'>): FaultRule;
  list(): FaultRule[];
  clear(): void;
  /** The action to apply to this request of `target`, consuming one use of the rule; null = behave normally. */
  take(target: FaultTarget): FaultAction | null;
}

/** One stored message, as the control API lists it. */
export interface StoredMessage {
  id: string;
  /** 'SentItems' for the sender's copy, 'Inbox' for an in-tenant recipient's copy. */
  folder: 'Inbox' | 'SentItems';
  mailbox: string;
  messageId: string | null;
  from: string | null;
  to: string[];
  subject: string | null;
  receivedAt: string;
  size: number;
  attachments: { filename: string | null; contentType: string; size: number }[];
}

export interface MailStore {
  list(upn: string): StoredMessage[];
  /** Raw RFC 5322 bytes of one message, or undefined. */
  raw(upn: string, id: string): Buffer | undefined;
}
