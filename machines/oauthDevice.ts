/**
 * The printer's OAuth 2.0 lifecycle for scan-to-email through Exchange Online, as a pure statechart.
 *
 * Contract: ../shared/reference/statechart.md. Pure on purpose: no I/O, no `invoke`, no `after`. Every outcome from
 * the outside world (Entra ID, Exchange Online) arrives as an explicit event sent by the runtime's effect layer, and
 * every timer is a deadline kept in context that the runtime's scheduler raises as an event on its own clock. That
 * keeps the machine explorable by `xstate/graph`, persistable as a snapshot, and restorable after a power cycle.
 *
 * Actions come in three named kinds, all no-ops here; the runtime interprets them by name, from the actions xstate's
 * `transition` returns for each step (src/device/records.ts, src/device/effects.ts):
 *  - context updates (`assign`): the only thing the machine does by itself;
 *  - records (`holdJob`, `failJob`, `completeJob`, `requeueJob`, `deleteTokens`): durable bookkeeping the runtime
 *    commits to NVRAM in the same write as the new snapshot;
 *  - effects (`requestDeviceCode` — request a code, then poll until the user finishes —, `cancelSignIn`,
 *    `refreshAccessToken`, `submitJob`): network work the runtime starts after that write, whose outcome comes back
 *    as an event.
 * Context holds nothing secret: tokens live in the sealed MSAL cache in NVRAM, never in a snapshot.
 */
import { assign, setup } from 'xstate';

/** Retries of one kind before the machine stops retrying by itself (keeps the state space finite). */
export const MAX_RETRIES = 3;

export type AuthMethod = 'off' | 'smtpAuth' | 'oauth2ExchangeOnline' | 'oauth2AppOnly';

/** The part of the SMTP settings the lifecycle depends on. */
export interface OAuthSettings {
  authMethod: AuthMethod;
  authEmailAddress: string;
  authUsername: string;
  /**
   * The method's own credentials are saved: the sealed password (basic), or the tenant, the client id and the sealed
   * client secret (app-only). The runtime says so; the machine never sees a secret. Absent means false.
   */
  credentialsReady?: boolean;
}

/**
 * How a configured device gets to send: a person's device-code sign-in (OAuth2.0 for Exchange Online), a password
 * (basic SMTP AUTH, no sign-in, no token) or an app's client credentials (a token without a person or refresh token).
 */
export type SendPath = 'deviceCode' | 'basic' | 'appOnly';

/**
 * Which protocol a failure's code comes from, so no reader guesses it from the spelling: an Entra AADSTS number, an
 * OAuth `error` word, an SMTP (enhanced) status, a socket or TLS error code, an HTTP status, an MSAL error code,
 * nodemailer's own code, or the device's storage.
 */
export type CodeKind = 'aadsts' | 'oauth' | 'smtp' | 'socket' | 'http' | 'msal' | 'nodemailer' | 'storage';

/** A protocol code tagged by kind: `{kind:'aadsts', value:'70020'}`, `{kind:'smtp', value:'5.7.139'}`, `{kind:'http', value:'503'}`. */
export interface ProtocolCode {
  kind: CodeKind;
  value: string;
}

/** Why the last thing failed, for the panel: a stable reason, the protocol's code and the server's reply. */
export interface LastError {
  reason: string;
  code: ProtocolCode | null;
  /** The server's words (SMTP reply line or error_description's first line). */
  reply: string | null;
}

export type SendCategory =
  | 'auth-rejected'
  | 'smtp-auth-disabled'
  | 'basic-auth-disabled'
  | 'send-as-denied'
  | 'quota'
  | 'throttled'
  | 'network'
  | 'tls'
  | 'other';

export interface DeviceContext {
  /** Configured Auth. Username (the mailbox the device signs in as); null unless a method is fully configured. */
  account: string | null;
  /** How the configured account sends; null when not configured (snapshots written before it existed: deviceCode). */
  method: SendPath | null;
  userCode: string | null;
  verificationUri: string | null;
  /** Deadline: the device code's expiry (CODE_DEADLINE). */
  codeExpiresAt: number | null;
  /** The access token's expiry as Entra reported it (the scheduler raises ACCESS_TOKEN_DEADLINE a little before). */
  accessTokenExpiresAt: number | null;
  /** The access token's deadline passed while a refresh, send or failure was in progress. */
  accessTokenStale: boolean;
  /** The spool job this lifecycle is working on, if any. */
  jobId: string | null;
  /** Deadline: automatic retry after a transient failure (RETRY_DUE). */
  retryAt: number | null;
  sendRetries: number;
  refreshRetries: number;
  /** A 535 5.7.3 already forced one refresh for the current job; a second one is final. */
  forcedRefreshUsed: boolean;
  lastError: LastError | null;
}

type Failure = { reason: string; code?: ProtocolCode | null; reply?: string | null };

/**
 * The first event after a restore, with what the boot found. `accessDeadlinePassed`: the access token's deadline
 * passed while the printer was off. `keyChanged`: the device key no longer opens the sealed secrets (key file
 * deleted, replaced or damaged), so the tokens are gone: a signed-in printer must sign in again. Absent means false.
 */
export interface PowerCycleEvent {
  type: 'POWER_CYCLE';
  accessDeadlinePassed: boolean;
  keyChanged?: boolean;
}

/** lastError.reason of a boot whose device key could not open the sealed sign-in. */
export const DEVICE_KEY_CHANGED = 'device-key-changed';

export type DeviceEvent =
  // operator
  | { type: 'SAVE_SETTINGS'; settings: OAuthSettings }
  | { type: 'START_AUTH' }
  | { type: 'CANCEL_AUTH' }
  | { type: 'SIGN_OUT' }
  | { type: 'SEND'; jobId: string }
  | { type: 'RETRY' }
  | { type: 'DISMISS' }
  | { type: 'FACTORY_RESET' }
  // outcomes reported by the effect layer
  | { type: 'CODE_ISSUED'; userCode: string; verificationUri: string; expiresAt: number }
  | ({ type: 'CODE_FAILED' } & Failure)
  | { type: 'TOKEN_GRANTED'; account: string; accessTokenExpiresAt: number }
  | ({ type: 'AUTH_DECLINED' } & Failure)
  | ({ type: 'CODE_EXPIRED' } & Failure)
  | ({ type: 'POLL_FAILED' } & Failure)
  | { type: 'REFRESHED'; accessTokenExpiresAt: number }
  | ({ type: 'REFRESH_FAILED'; transient: boolean; retryAt: number | null } & Failure)
  | { type: 'SENT'; reply: string | null }
  | ({ type: 'SEND_FAILED'; category: SendCategory; transient: boolean; retryAt: number | null } & Failure)
  // deadlines raised by the scheduler
  | { type: 'CODE_DEADLINE' }
  | { type: 'ACCESS_TOKEN_DEADLINE' }
  | { type: 'RETRY_DUE' }
  // power: what the boot found travels with it (see PowerCycleEvent)
  | PowerCycleEvent;

export type DeviceEventType = DeviceEvent['type'];

export const LEAF_STATES = [
  'unconfigured',
  'ready',
  'requestingCode',
  'codePending',
  'authFailed',
  'authorized',
  'tokenExpired',
  'refreshing',
  'sending',
  'sendFailure',
  'reauthRequired',
  'requestingToken',
] as const;
export type LeafState = (typeof LEAF_STATES)[number];

/** What a finished, cancelled or abandoned sign-in leaves behind. */
const noSignIn = { userCode: null, verificationUri: null, codeExpiresAt: null } as const;
/** What leaving the signed-in states leaves behind. */
const noSession = {
  accessTokenExpiresAt: null,
  accessTokenStale: false,
  jobId: null,
  retryAt: null,
  sendRetries: 0,
  refreshRetries: 0,
  forcedRefreshUsed: false,
} as const;

/** A device with no account, no sign-in and no session. */
export const initialContext = (): DeviceContext => ({ account: null, method: null, ...noSignIn, ...noSession, lastError: null });

export function isCompleteOAuth(s: OAuthSettings): boolean {
  return sendPathOf(s) === 'deviceCode';
}

/** The path complete settings take, or null when they are incomplete (or the method is Off). */
export function sendPathOf(s: OAuthSettings): SendPath | null {
  if (s.authUsername.trim() === '') return null;
  if (s.authMethod === 'oauth2ExchangeOnline') return s.authEmailAddress.trim() !== '' ? 'deviceCode' : null;
  if (s.authMethod === 'smtpAuth' || s.authMethod === 'oauth2AppOnly') {
    return s.credentialsReady === true ? (s.authMethod === 'smtpAuth' ? 'basic' : 'appOnly') : null;
  }
  return null;
}

/** The context's path, reading a snapshot from before the methods (method null while signed in) as device code. */
const pathOfContext = (c: DeviceContext): SendPath => c.method ?? 'deviceCode';

const savedPath = (e: DeviceEvent): SendPath | null => (e.type === 'SAVE_SETTINGS' ? sendPathOf(e.settings) : null);

const sameAccount = (a: string | null, b: string | null) =>
  a !== null && b !== null && a.trim().toLowerCase() === b.trim().toLowerCase();

const failureOf = (e: Failure): LastError => ({ reason: e.reason, code: e.code ?? null, reply: e.reply ?? null });



/**
 * POWER_CYCLE's first branch in every signed-in leaf: with the device key changed, the sealed tokens cannot be
 * opened, so the printer boots into reauthRequired; the job it was working on is held (with every queued one, which
 * the pump holds there) until the admin signs in again. Declared once, listed first in each leaf so it wins.
 */
const keyChangedAtBoot = {
  guard: 'deviceKeyChanged',
  target: '#oauthDevice.reauthRequired',
  actions: ['holdJob', 'deleteTokens', 'clearSession', 'recordKeyChanged'],
} as const;

/**
 * SAVE_SETTINGS branches that complete basic or app-only settings outside the signed-in states: basic needs no
 * sign-in and goes to `authorized` (no access-token deadline); app-only asks for its token. Declared once, placed
 * before each state's own branches for the device-code method. `reenter`: saving app-only settings again (a new
 * secret) while a token request runs starts a new request with them.
 */
const toBasicOrAppOnly = (before: readonly 'deleteTokens'[]) =>
  [
    { guard: 'basicSettingsComplete', target: '#oauthDevice.signedIn.authorized', actions: [...before, 'storeAccount', 'clearError'] },
    { guard: 'appOnlySettingsComplete', target: '#oauthDevice.requestingToken', reenter: true, actions: [...before, 'storeAccount', 'clearError'] },
  ] as const;

export const oauthDeviceMachine = setup({
  types: {
    context: {} as DeviceContext,
    events: {} as DeviceEvent,
    input: {} as Partial<DeviceContext> | undefined,
  },
  guards: {
    oauthSettingsComplete: ({ event }) => savedPath(event) === 'deviceCode',
    basicSettingsComplete: ({ event }) => savedPath(event) === 'basic',
    appOnlySettingsComplete: ({ event }) => savedPath(event) === 'appOnly',
    settingsIncomplete: ({ event }) => event.type === 'SAVE_SETTINGS' && savedPath(event) === null,
    // Another mailbox, or another way of sending for the same one: the session the device has is not for it.
    changesAccount: ({ context, event }) =>
      event.type === 'SAVE_SETTINGS' &&
      (!sameAccount(context.account, event.settings.authUsername) || savedPath(event) !== pathOfContext(context)),
    switchesToBasic: ({ context, event }) =>
      savedPath(event) === 'basic' && (pathOfContext(context) !== 'basic' || !sameAccount(context.account, (event as { settings: OAuthSettings }).settings.authUsername)),
    switchesToAppOnly: ({ context, event }) =>
      savedPath(event) === 'appOnly' && (pathOfContext(context) !== 'appOnly' || !sameAccount(context.account, (event as { settings: OAuthSettings }).settings.authUsername)),
    usesBasic: ({ context }) => context.method === 'basic',
    usesAppOnly: ({ context }) => context.method === 'appOnly',
    usesDeviceCode: ({ context }) => pathOfContext(context) === 'deviceCode',
    grantedForConfiguredAccount: ({ context, event }) =>
      event.type === 'TOKEN_GRANTED' && sameAccount(context.account, event.account),
    hasJob: ({ context }) => context.jobId !== null,
    hasNoJob: ({ context }) => context.jobId === null,
    accessTokenStale: ({ context }) => context.accessTokenStale,
    accessTokenFresh: ({ context }) => !context.accessTokenStale,
    retryScheduled: ({ context }) => context.retryAt !== null,
    retryScheduledWithStaleToken: ({ context }) => context.retryAt !== null && context.accessTokenStale,
    // Passed by the clock at boot, or already known before the power went (the deadline was raised while sending).
    accessDeadlinePassed: ({ context, event }) =>
      event.type === 'POWER_CYCLE' && (event.accessDeadlinePassed || context.accessTokenStale),
    deviceKeyChanged: ({ event }) => event.type === 'POWER_CYCLE' && event.keyChanged === true,
    // Basic has no token to refresh: its 535 5.7.3 (a wrong password) is final at once.
    authRejectedFirstTime: ({ context, event }) =>
      event.type === 'SEND_FAILED' && event.category === 'auth-rejected' && !context.forcedRefreshUsed && context.method !== 'basic',
    permanentFailure: ({ event }) =>
      (event.type === 'SEND_FAILED' || event.type === 'REFRESH_FAILED') && !event.transient,
    sendRetriesLeft: ({ context }) => context.sendRetries < MAX_RETRIES,
    refreshRetriesLeft: ({ context }) => context.refreshRetries < MAX_RETRIES,
  },
  actions: {
    // --- context updates ---
    storeAccount: assign(({ event }) => {
      const method = savedPath(event);
      return { account: method && event.type === 'SAVE_SETTINGS' ? event.settings.authUsername.trim() : null, method };
    }),
    clearSession: assign({ ...noSession }),
    clearSignIn: assign({ ...noSignIn }),
    clearError: assign({ lastError: null }),
    resetAll: assign(() => initialContext()),
    storeCode: assign(({ event }) =>
      event.type === 'CODE_ISSUED'
        ? { userCode: event.userCode, verificationUri: event.verificationUri, codeExpiresAt: event.expiresAt }
        : {},
    ),
    storeGrant: assign(({ event }) =>
      event.type === 'TOKEN_GRANTED'
        ? { ...noSignIn, ...noSession, accessTokenExpiresAt: event.accessTokenExpiresAt, lastError: null }
        : {},
    ),
    storeRefresh: assign(({ event }) =>
      event.type === 'REFRESHED'
        ? { accessTokenExpiresAt: event.accessTokenExpiresAt, accessTokenStale: false, refreshRetries: 0, retryAt: null }
        : {},
    ),
    recordFailure: assign({
      lastError: ({ event, context }) =>
        'reason' in event && typeof event.reason === 'string' ? failureOf(event as Failure) : context.lastError,
    }),
    recordInterrupted: assign({
      lastError: () => ({ reason: 'interrupted-by-restart', code: null, reply: null }),
    }),
    recordKeyChanged: assign({
      lastError: () => ({
        reason: DEVICE_KEY_CHANGED,
        code: null,
        reply: 'The device key changed while the printer was off: the stored sign-in cannot be opened. Sign in again.',
      }),
    }),
    recordAccountMismatch: assign({
      lastError: ({ event, context }) => ({
        reason: 'account-mismatch',
        code: null,
        reply:
          event.type === 'TOKEN_GRANTED'
            ? `Signed in as ${event.account}, but Auth. Username is ${context.account ?? '(none)'}`
            : null,
      }),
    }),
    takeJob: assign(({ event }) =>
      event.type === 'SEND' ? { jobId: event.jobId, sendRetries: 0, forcedRefreshUsed: false, lastError: null } : {},
    ),
    dropJob: assign({ jobId: null, sendRetries: 0, forcedRefreshUsed: false, retryAt: null }),
    markAccessTokenStale: assign({ accessTokenStale: true }),
    forceRefresh: assign({ forcedRefreshUsed: true, accessTokenStale: true }),
    scheduleSendRetry: assign(({ context, event }) => ({
      retryAt: event.type === 'SEND_FAILED' ? event.retryAt : null,
      sendRetries: Math.min(MAX_RETRIES, context.sendRetries + 1),
    })),
    scheduleRefreshRetry: assign(({ context, event }) => ({
      retryAt: event.type === 'REFRESH_FAILED' ? event.retryAt : null,
      refreshRetries: Math.min(MAX_RETRIES, context.refreshRetries + 1),
    })),
    stopRetrying: assign({ retryAt: null }),
    resetRefreshRetries: assign({ refreshRetries: 0, retryAt: null }),
    resetSendRetries: assign({ sendRetries: 0, retryAt: null }),
    // --- records (the runtime commits them with the snapshot) ---
    holdJob: () => {},
    failJob: () => {},
    completeJob: () => {},
    requeueJob: () => {},
    deleteTokens: () => {},
    // --- effects (the runtime starts them after the commit) ---
    requestDeviceCode: () => {},
    requestAppToken: () => {},
    cancelSignIn: () => {},
    refreshAccessToken: () => {},
    submitJob: () => {},
  },
}).createMachine({
  id: 'oauthDevice',
  initial: 'unconfigured',
  context: ({ input }) => ({ ...initialContext(), ...(input ?? {}) }),
  on: {
    FACTORY_RESET: { target: '.unconfigured', actions: ['deleteTokens', 'resetAll'] },
  },
  states: {
    unconfigured: {
      on: {
        SAVE_SETTINGS: [
          ...toBasicOrAppOnly([]),
          { guard: 'oauthSettingsComplete', target: 'ready', actions: ['storeAccount', 'clearError'] },
          { target: 'unconfigured', actions: 'storeAccount' },
        ],
        SEND: { actions: 'holdJob' },
        POWER_CYCLE: { target: 'unconfigured', reenter: true },
      },
    },
    ready: {
      on: {
        SAVE_SETTINGS: [
          ...toBasicOrAppOnly([]),
          { guard: 'oauthSettingsComplete', target: 'ready', actions: 'storeAccount' },
          { target: 'unconfigured', actions: 'storeAccount' },
        ],
        // After a sign-out: app-only asks for a token again, basic sends again; only device code signs in.
        START_AUTH: [
          { guard: 'usesAppOnly', target: 'requestingToken', actions: 'clearError' },
          { guard: 'usesBasic', target: '#oauthDevice.signedIn.authorized', actions: 'clearError' },
          { target: 'signingIn', actions: 'clearError' },
        ],
        SEND: { actions: 'holdJob' },
        POWER_CYCLE: { target: 'ready', reenter: true },
      },
    },
    signingIn: {
      initial: 'requestingCode',
      // Whatever ends a sign-in (grant, failure, cancel, settings change, reset) stops the polling first.
      exit: ['cancelSignIn', 'clearSignIn'],
      on: {
        CANCEL_AUTH: { target: 'ready' },
        SAVE_SETTINGS: [
          ...toBasicOrAppOnly([]),
          { guard: 'settingsIncomplete', target: 'unconfigured', actions: 'storeAccount' },
          { guard: 'changesAccount', target: 'ready', actions: 'storeAccount' },
          { actions: 'storeAccount' },
        ],
        SEND: { actions: 'holdJob' },
        POWER_CYCLE: { target: 'authFailed', actions: 'recordInterrupted' },
      },
      states: {
        requestingCode: {
          entry: ['deleteTokens', 'requestDeviceCode'],
          on: {
            CODE_ISSUED: { target: 'codePending', actions: 'storeCode' },
            CODE_FAILED: { target: '#oauthDevice.authFailed', actions: 'recordFailure' },
          },
        },
        codePending: {
          on: {
            TOKEN_GRANTED: [
              { guard: 'grantedForConfiguredAccount', target: '#oauthDevice.signedIn.authorized', actions: 'storeGrant' },
              { target: '#oauthDevice.authFailed', actions: ['deleteTokens', 'recordAccountMismatch'] },
            ],
            AUTH_DECLINED: { target: '#oauthDevice.authFailed', actions: 'recordFailure' },
            CODE_EXPIRED: { target: '#oauthDevice.authFailed', actions: 'recordFailure' },
            POLL_FAILED: { target: '#oauthDevice.authFailed', actions: 'recordFailure' },
            CODE_DEADLINE: {
              target: '#oauthDevice.authFailed',
              actions: assign({ lastError: { reason: 'code-expired', code: null, reply: null } }),
            },
          },
        },
      },
    },
    authFailed: {
      on: {
        START_AUTH: { target: 'signingIn', actions: 'clearError' },
        DISMISS: { target: 'ready', actions: 'clearError' },
        SAVE_SETTINGS: [
          ...toBasicOrAppOnly([]),
          { guard: 'oauthSettingsComplete', target: 'ready', actions: ['storeAccount', 'clearError'] },
          { target: 'unconfigured', actions: ['storeAccount', 'clearError'] },
        ],
        SEND: { actions: 'holdJob' },
        POWER_CYCLE: { target: 'authFailed', reenter: true },
      },
    },
    signedIn: {
      initial: 'authorized',
      on: {
        SIGN_OUT: { target: 'ready', actions: ['requeueJob', 'deleteTokens', 'clearSession', 'clearError'] },
        SAVE_SETTINGS: [
          {
            guard: 'settingsIncomplete',
            target: 'unconfigured',
            actions: ['requeueJob', 'deleteTokens', 'clearSession', 'storeAccount'],
          },
          // Another method or mailbox: the session ends, the job goes back to the spool (held jobs wait for the new one).
          {
            guard: 'switchesToBasic',
            target: '#oauthDevice.signedIn.authorized',
            reenter: true,
            actions: ['requeueJob', 'deleteTokens', 'clearSession', 'storeAccount', 'clearError'],
          },
          {
            guard: 'switchesToAppOnly',
            target: '#oauthDevice.requestingToken',
            actions: ['requeueJob', 'deleteTokens', 'clearSession', 'storeAccount', 'clearError'],
          },
          {
            guard: 'changesAccount',
            target: 'ready',
            actions: ['requeueJob', 'deleteTokens', 'clearSession', 'storeAccount'],
          },
          { actions: 'storeAccount' },
        ],
      },
      states: {
        authorized: {
          on: {
            SEND: { target: 'sending', actions: 'takeJob' },
            ACCESS_TOKEN_DEADLINE: { target: 'tokenExpired', actions: 'markAccessTokenStale' },
            POWER_CYCLE: [
              keyChangedAtBoot,
              { guard: 'accessDeadlinePassed', target: 'tokenExpired', actions: 'markAccessTokenStale' },
              { target: 'authorized', reenter: true },
            ],
          },
        },
        tokenExpired: {
          on: {
            SEND: { guard: 'hasNoJob', target: 'refreshing', actions: 'takeJob' },
            RETRY_DUE: { guard: 'retryScheduled', target: 'refreshing', actions: 'stopRetrying' },
            // "Renew now" from the panel: refresh without waiting for a job (or for a scheduled retry).
            RETRY: { target: 'refreshing', actions: 'stopRetrying' },
            POWER_CYCLE: [keyChangedAtBoot, { target: 'tokenExpired', reenter: true }],
          },
        },
        refreshing: {
          entry: 'refreshAccessToken',
          on: {
            REFRESHED: [
              { guard: 'hasJob', target: 'sending', actions: 'storeRefresh' },
              { target: 'authorized', actions: 'storeRefresh' },
            ],
            REFRESH_FAILED: [
              {
                guard: 'permanentFailure',
                target: '#oauthDevice.reauthRequired',
                actions: ['recordFailure', 'holdJob', 'deleteTokens', 'clearSession'],
              },
              { guard: 'refreshRetriesLeft', target: 'tokenExpired', actions: ['recordFailure', 'scheduleRefreshRetry'] },
              { guard: 'hasJob', target: 'sendFailure', actions: ['recordFailure', 'resetRefreshRetries'] },
              { target: 'tokenExpired', actions: ['recordFailure', 'resetRefreshRetries'] },
            ],
            // The refresh in flight is abandoned at power-off; a job it was for goes back to the spool.
            POWER_CYCLE: [keyChangedAtBoot, { target: 'tokenExpired', actions: ['requeueJob', 'dropJob', 'markAccessTokenStale'] }],
          },
        },
        sending: {
          entry: 'submitJob',
          on: {
            // The submission in flight carries on; what comes after it will need a fresh token.
            ACCESS_TOKEN_DEADLINE: { guard: 'accessTokenFresh', actions: 'markAccessTokenStale' },
            SENT: [
              { guard: 'accessTokenStale', target: 'tokenExpired', actions: ['completeJob', 'dropJob', 'clearError'] },
              { target: 'authorized', actions: ['completeJob', 'dropJob', 'clearError'] },
            ],
            SEND_FAILED: [
              // Exchange says the token is bad (535 5.7.3): get a fresh one and resend once.
              { guard: 'authRejectedFirstTime', target: 'refreshing', actions: ['recordFailure', 'forceRefresh'] },
              { guard: 'permanentFailure', target: 'sendFailure', actions: ['recordFailure', 'stopRetrying'] },
              { guard: 'sendRetriesLeft', target: 'sendFailure', actions: ['recordFailure', 'scheduleSendRetry'] },
              { target: 'sendFailure', actions: ['recordFailure', 'stopRetrying'] },
            ],
            POWER_CYCLE: [
              keyChangedAtBoot,
              {
                guard: 'accessDeadlinePassed',
                target: 'tokenExpired',
                actions: ['requeueJob', 'dropJob', 'markAccessTokenStale'],
              },
              { target: 'authorized', actions: ['requeueJob', 'dropJob'] },
            ],
          },
        },
        sendFailure: {
          on: {
            RETRY: [
              { guard: 'accessTokenStale', target: 'refreshing', actions: 'resetSendRetries' },
              { target: 'sending', actions: 'resetSendRetries' },
            ],
            RETRY_DUE: [
              { guard: 'retryScheduledWithStaleToken', target: 'refreshing', actions: 'stopRetrying' },
              { guard: 'retryScheduled', target: 'sending', actions: 'stopRetrying' },
            ],
            ACCESS_TOKEN_DEADLINE: { guard: 'accessTokenFresh', actions: 'markAccessTokenStale' },
            DISMISS: [
              { guard: 'accessTokenStale', target: 'tokenExpired', actions: ['failJob', 'dropJob', 'clearError'] },
              { target: 'authorized', actions: ['failJob', 'dropJob', 'clearError'] },
            ],
            POWER_CYCLE: [keyChangedAtBoot, { target: 'sendFailure', reenter: true }],
          },
        },
      },
    },
    reauthRequired: {
      on: {
        // App-only asks for a token again (the panel asks for a new secret first; saving one does the same). Basic
        // has nothing to start: its way back is saving the password again.
        START_AUTH: [
          { guard: 'usesAppOnly', target: 'requestingToken', actions: 'clearError' },
          { guard: 'usesDeviceCode', target: 'signingIn', actions: 'clearError' },
        ],
        SIGN_OUT: { target: 'ready', actions: ['deleteTokens', 'clearError'] },
        SEND: { actions: 'holdJob' },
        SAVE_SETTINGS: [
          ...toBasicOrAppOnly(['deleteTokens']),
          { guard: 'settingsIncomplete', target: 'unconfigured', actions: ['deleteTokens', 'storeAccount', 'clearError'] },
          { guard: 'changesAccount', target: 'ready', actions: ['deleteTokens', 'storeAccount', 'clearError'] },
          { actions: 'storeAccount' },
        ],
        POWER_CYCLE: { target: 'reauthRequired', reenter: true },
      },
    },
    // App-only's first grant: client credentials, no code and no person (so not inside signingIn). Renewals at the
    // deadline go through tokenExpired → refreshing like the device code's, with a new client-credentials request.
    requestingToken: {
      entry: ['deleteTokens', 'requestAppToken'],
      on: {
        TOKEN_GRANTED: { target: '#oauthDevice.signedIn.authorized', actions: 'storeGrant' },
        REFRESH_FAILED: [
          // A wrong, expired or unknown secret, or an app Entra does not know: the admin must give a new secret.
          { guard: 'permanentFailure', target: 'reauthRequired', actions: ['recordFailure', 'clearSession'] },
          {
            target: '#oauthDevice.signedIn.tokenExpired',
            actions: ['recordFailure', 'markAccessTokenStale', 'scheduleRefreshRetry'],
          },
        ],
        SAVE_SETTINGS: [
          ...toBasicOrAppOnly([]),
          { guard: 'oauthSettingsComplete', target: 'ready', actions: ['storeAccount', 'clearError'] },
          { target: 'unconfigured', actions: ['storeAccount', 'clearError'] },
        ],
        SEND: { actions: 'holdJob' },
        // The request in flight is lost at power-off: the boot asks again.
        POWER_CYCLE: { target: 'requestingToken', reenter: true },
      },
    },
  },
});

/** The leaf state name of a snapshot value (leaf names are unique, so this is the public state name). */
export function leafState(value: unknown): LeafState {
  let v = value;
  while (v && typeof v === 'object') v = Object.values(v as Record<string, unknown>)[0];
  if (typeof v !== 'string' || !(LEAF_STATES as readonly string[]).includes(v)) {
    throw new Error(`not a state of the OAuth device machine: ${JSON.stringify(value)}`);
  }
  return v as LeafState;
}
