/**
 * The device's view of the outside world. The runtime calls these ports from its effects; the real implementations
 * are the msal-node adapter (Entra ID) and the nodemailer adapter (Exchange Online SMTP), fakes in tests. Each
 * failure is a typed error already classified the way the statechart needs it, so the runtime never parses protocol
 * text itself.
 */
import type { SendCategory } from '../../machines/oauthDevice.ts';

/** A user code Entra issued, as the panel shows it. */
export interface IssuedCode {
  userCode: string;
  verificationUri: string;
  /** Seconds until the code expires (Entra: 900). */
  expiresInSeconds: number;
  /** Entra's own sentence ("To sign in, use a web browser to open the page … and enter the code …"). */
  message: string;
}

export interface Grant {
  /** The account the token was issued to (id_token preferred_username / upn). */
  account: string;
  /** Lifetime of the access token as the server reported it, in ms (the runtime puts it on its own clock). */
  accessTokenExpiresInMs: number;
}

/** Why a sign-in ended without a token; `kind` says how (a failed code request, declined, expired, …). */
export class SignInFailure extends Error {
  constructor(
    readonly kind: 'code-request-failed' | 'declined' | 'expired' | 'poll-failed' | 'cancelled',
    readonly reason: string,
    readonly code: string | null = null,
    readonly reply: string | null = null,
  ) {
    super(reply ?? reason);
    this.name = 'SignInFailure';
  }
}

export class RefreshFailure extends Error {
  constructor(
    /** true: network, 5xx, 429 — try again later; false: the refresh token is unusable — sign in again. */
    readonly transient: boolean,
    readonly reason: string,
    readonly code: string | null = null,
    readonly reply: string | null = null,
    /** A server's Retry-After, when it gave one. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(reply ?? reason);
    this.name = 'RefreshFailure';
  }
}

export class SendFailure extends Error {
  constructor(
    readonly category: SendCategory,
    readonly transient: boolean,
    /** The SMTP reply line, or the transport error's words. */
    readonly reply: string | null,
    /** SMTP enhanced status ("5.7.139") or a transport error code ("ECONNREFUSED"). */
    readonly code: string | null = null,
  ) {
    super(reply ?? category);
    this.name = 'SendFailure';
  }
}

/** Cancellation of a sign-in in progress (msal-node checks `request.cancel` at its next poll). */
export interface CancelHandle {
  readonly cancelled: boolean;
  onCancel(fn: () => void): void;
}

export interface OAuthPort {
  /**
   * Runs the device authorization grant for `account`: requests a code (reported through `onCode`), then polls until
   * the user finishes. Resolves with the grant; rejects with a `SignInFailure`.
   */
  signIn(args: { account: string; onCode: (code: IssuedCode) => void; cancel: CancelHandle }): Promise<Grant>;
  /** Gets a new access token with the refresh token (always a real refresh: the runtime owns the deadlines). */
  refresh(args: { account: string }): Promise<Grant>;
  /** The current access token for XOAUTH2 (from the cache, no network). Rejects with RefreshFailure when none. */
  accessToken(args: { account: string }): Promise<string>;
}

export interface OutgoingMessage {
  /** Stable across resends so a duplicate after a power cut can be recognised. */
  messageId: string;
  from: string;
  to: string[];
  subject: string;
  text: string;
  attachments: { filename: string; contentType: string; path: string }[];
}

export interface SmtpTarget {
  host: string;
  port: number;
  /** STARTTLS required ("Use Secure Connection (SSL)"). */
  secure: boolean;
  /** SMTP AUTH user (Auth. Username). */
  user: string;
}

export interface MailPort {
  /** Submits one message with XOAUTH2. Resolves with the server's final reply; rejects with a `SendFailure`. */
  submit(args: { target: SmtpTarget; accessToken: string; message: OutgoingMessage }): Promise<{ reply: string }>;
}

/**
 * Where the MSAL token cache lives: the sealed secrets section of NVRAM. The adapter reads and stages through this;
 * the runtime commits a staged cache in the same NVRAM write as the transition its outcome causes.
 */
export interface TokenCacheStore {
  load(): string | undefined;
  stage(serialized: string | null): void;
}

export interface DevicePorts {
  oauth: OAuthPort;
  mail: MailPort;
}
