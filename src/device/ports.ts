/**
 * The device's view of the outside world. The runtime calls these ports from its effects; the real implementations
 * are the msal-node adapter (Entra ID) and the nodemailer adapter (Exchange Online SMTP), fakes in tests. Each
 * failure is a typed error already classified the way the statechart needs it (./failures.ts), so the runtime never
 * parses protocol text itself.
 */

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

/**
 * How the submission authenticates: XOAUTH2 with an access token (device code and app-only), or basic SMTP AUTH
 * (LOGIN/PLAIN) with the Auth. Username's password.
 */
export type SmtpCredential = { accessToken: string; password?: undefined } | { password: string; accessToken?: undefined };

export interface MailPort {
  /** Submits one message. Resolves with the server's final reply; rejects with a `SendFailure`. */
  submit(args: { target: SmtpTarget; message: OutgoingMessage } & SmtpCredential): Promise<{ reply: string }>;
}

/** An app registration's client credentials (app-only sending): read from the sealed NVRAM secret when needed. */
export interface AppCredentials {
  /** Directory (tenant) ID. */
  tenantId: string;
  /** Application (client) ID. */
  clientId: string;
  clientSecret: string;
}

export interface AppTokenPort {
  /**
   * A new app-only access token by the client-credentials grant (always from Entra: the runtime owns the deadlines;
   * there is no refresh token). Resolves with the grant (`account` is the mailbox it is for); rejects with a
   * `RefreshFailure` classified for client credentials.
   */
  request(args: { app: AppCredentials; mailbox: string }): Promise<Grant>;
  /** The cached app-only access token for XOAUTH2 (no network). Rejects with RefreshFailure when none. */
  accessToken(args: { clientId: string }): Promise<string>;
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
  /** App-only (client credentials); absent on ports that cannot do it (the method's token requests then fail, saying so). */
  appOnly?: AppTokenPort;
}
