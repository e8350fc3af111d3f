/**
 * Scripted stand-ins for Entra ID and Exchange Online, honestly named fakes: the device-core tests drive the runtime
 * through its ports without a network. (The end-to-end tests use the real adapters against the twin instead.)
 */
import type { AppCredentials, DevicePorts, Grant, IssuedCode, TokenCacheStore, CancelHandle } from '../../src/device/ports.ts';
import { RefreshFailure, SendFailure, SignInFailure } from '../../src/device/failures.ts';

type Deferred<T> = { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void };
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface FakeSignIn {
  account: string;
  cancel: CancelHandle;
  /** Issues (another) code; the fake already issued one when the sign-in started. */
  issue(code?: Partial<IssuedCode>): void;
  grant(grant?: Partial<Grant>): void;
  fail(f: SignInFailure): void;
}

export class FakePorts {
  readonly signIns: FakeSignIn[] = [];
  /** Refresh outcomes, consumed in order; empty = success with a 1-hour token. */
  readonly refreshResults: (Grant | RefreshFailure)[] = [];
  /** Submission outcomes, consumed in order; empty = 250 OK. */
  readonly sendResults: (string | SendFailure)[] = [];
  readonly sent: { to: string[]; subject: string; messageId: string; accessToken: string; password?: string; from: string }[] = [];
  /** Client-credentials outcomes, consumed in order; empty = success with a 1-hour token. */
  readonly appResults: (Grant | RefreshFailure)[] = [];
  /** The credentials each client-credentials request was made with. */
  readonly appRequests: AppCredentials[] = [];
  refreshCalls = 0;
  tokenCache: TokenCacheStore | null = null;
  /** When set, submissions wait for this before answering (to catch the device mid-send). */
  sendGate: Deferred<void> | null = null;
  appTokenGate: Deferred<void> | null = null;
  /** Like Entra, issue a code right away; set to a failure to make the next code request fail instead. */
  nextCodeFailure: SignInFailure | null = null;
  /** Extra characters in the token cache a grant or a refresh stages (MSAL's real cache is ~5 KB). */
  cachePadding = 0;
  /** Keep the code request in flight (the test calls `issue()` itself). */
  holdCodes = false;
  /** When set, refreshes wait for this before answering (to catch the device mid-refresh). */
  refreshGate: Deferred<void> | null = null;

  ports = (cache: TokenCacheStore): DevicePorts => {
    this.tokenCache = cache;
    return {
      oauth: {
        signIn: ({ account, onCode, cancel }) => {
          const result = deferred<Grant>();
          const s: FakeSignIn = {
            account,
            cancel,
            issue: (code = {}) =>
              onCode({
                userCode: 'FAKECODE1',
                verificationUri: 'https://fake.example/devicelogin',
                expiresInSeconds: 900,
                message: 'fake',
                ...code,
              }),
            grant: (g = {}) => {
              cache.stage(JSON.stringify({ fakeRefreshToken: `rt-for-${account}`, fakeAccessToken: 'at-secret-1', pad: 'x'.repeat(this.cachePadding) }));
              result.resolve({ account, accessTokenExpiresInMs: 3_600_000, ...g });
            },
            fail: (f) => result.reject(f),
          };
          cancel.onCancel(() => result.reject(new SignInFailure({ kind: 'cancelled', reason: 'cancelled' })));
          this.signIns.push(s);
          const failure = this.nextCodeFailure;
          this.nextCodeFailure = null;
          if (!this.holdCodes) queueMicrotask(() => (failure ? s.fail(failure) : s.issue()));
          return result.promise;
        },
        refresh: async ({ account }) => {
          if (this.refreshGate) await this.refreshGate.promise;
          this.refreshCalls++;
          const r = this.refreshResults.shift();
          if (r instanceof RefreshFailure) throw r;
          cache.stage(
            JSON.stringify({
              fakeRefreshToken: `rt-for-${account}-${this.refreshCalls}`,
              fakeAccessToken: `at-secret-r${this.refreshCalls}`,
              ...(this.cachePadding ? { pad: 'x'.repeat(this.cachePadding) } : {}),
            }),
          );
          return r ?? { account, accessTokenExpiresInMs: 3_600_000 };
        },
        accessToken: async () => {
          const c = cache.load();
          if (!c) throw new RefreshFailure({ transient: false, reason: 'no-token' });
          return (JSON.parse(c) as { fakeAccessToken: string }).fakeAccessToken;
        },
      },
      mail: {
        submit: async ({ accessToken = '', password, message }) => {
          if (this.sendGate) await this.sendGate.promise;
          const r = this.sendResults.shift();
          if (r instanceof SendFailure) throw r;
          this.sent.push({ to: message.to, subject: message.subject, messageId: message.messageId, accessToken, ...(password !== undefined ? { password } : {}), from: message.from });
          return { reply: r ?? '250 2.0.0 OK' };
        },
      },
      appOnly: {
        request: async ({ app, mailbox }) => {
          this.appRequests.push({ ...app });
          if (this.appTokenGate) await this.appTokenGate.promise;
          const r = this.appResults.shift();
          if (r instanceof RefreshFailure) throw r;
          cache.stage(JSON.stringify({ fakeAccessToken: `app-at-${this.appRequests.length}` }));
          return r ?? { account: mailbox, accessTokenExpiresInMs: 3_599_000 };
        },
        accessToken: async () => {
          const c = cache.load();
          if (!c) throw new RefreshFailure({ transient: false, reason: 'no-token' });
          return (JSON.parse(c) as { fakeAccessToken: string }).fakeAccessToken;
        },
      },
    };
  };

  lastSignIn(): FakeSignIn {
    const s = this.signIns.at(-1);
    if (!s) throw new Error('no sign-in was started');
    return s;
  }

  gateRefreshes(): () => void {
    this.refreshGate = deferred<void>();
    const gate = this.refreshGate;
    return () => {
      this.refreshGate = null;
      gate.resolve();
    };
  }

  /** Holds app-only token requests (requestingToken) until the returned function is called. */
  gateAppTokens(): () => void {
    this.appTokenGate = deferred<void>();
    const gate = this.appTokenGate;
    return () => {
      this.appTokenGate = null;
      gate.resolve();
    };
  }

  gateSends(): () => void {
    this.sendGate = deferred<void>();
    const gate = this.sendGate;
    return () => {
      this.sendGate = null;
      gate.resolve();
    };
  }
}
