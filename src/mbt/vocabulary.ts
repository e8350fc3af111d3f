/**
 * The model's event vocabulary: every statechart event, with one entry per payload variant a guard can tell apart
 * (settings for the configured account / another account / leaving OAuth / basic or app-only for account A, a grant for the right or the wrong account,
 * transient or permanent failures, a power cut long or short enough for the access-token deadline to pass, a power
 * cycle during which the device key was lost or replaced).
 * A label ("SEND_FAILED:transient") names a variant; the executor turns it into an action on the running system.
 */
import type { DeviceContext, DeviceEvent, SendCategory } from '../../machines/oauthDevice.ts';
import { protocolCode, type ProtocolCode } from '../device/failures.ts';

/** The mailbox the device is configured for first, and a second one (for `changesAccount` and wrong-account grants). */
export const ACCOUNT_A = 'scanner@contoso.com';
export const ACCOUNT_B = 'frontdesk@contoso.com';
/** Account A's basic SMTP AUTH password in the twin's default tenant (fixtures/tenants/contoso.json). */
export const BASIC_PASSWORD_A = 'Scan-to-Email-2026!';
/** The default tenant's app-only application with FullAccess on account A, and its current client secret. */
export const APP_ONLY_A = {
  appTenantId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b',
  appClientId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a',
  clientSecret: 'Xq8~AppOnly.Secret-Contoso-2026',
} as const;

/** Where scan jobs go: an in-tenant mailbox, so the twin keeps an Inbox copy the executor can look for. */
export const JOB_RECIPIENT = 'megan@contoso.com';

export const EVENT_LABELS = [
  'SAVE_SETTINGS:accountA',
  'SAVE_SETTINGS:accountB',
  'SAVE_SETTINGS:off',
  'SAVE_SETTINGS:basicA',
  'SAVE_SETTINGS:appOnlyA',
  'START_AUTH',
  'CANCEL_AUTH',
  'SIGN_OUT',
  'SEND',
  'RETRY',
  'DISMISS',
  'FACTORY_RESET',
  'CODE_ISSUED',
  'CODE_FAILED',
  'TOKEN_GRANTED:configured',
  'TOKEN_GRANTED:other',
  'AUTH_DECLINED',
  'CODE_EXPIRED',
  'POLL_FAILED',
  'REFRESHED',
  'REFRESH_FAILED:transient',
  'REFRESH_FAILED:permanent',
  'SENT',
  'SEND_FAILED:auth-rejected',
  'SEND_FAILED:permanent',
  'SEND_FAILED:transient',
  'CODE_DEADLINE',
  'ACCESS_TOKEN_DEADLINE',
  'RETRY_DUE',
  'POWER_CYCLE:deadlinePassed',
  'POWER_CYCLE:short',
  'POWER_CYCLE:keyChanged',
] as const;
export type EventLabel = (typeof EVENT_LABELS)[number];

/** How the executor brings an event about on the running system. */
export type EventKind = 'operator' | 'outcome' | 'deadline' | 'power';

export function kindOf(label: EventLabel): EventKind {
  const type = label.split(':')[0]!;
  if (['CODE_DEADLINE', 'ACCESS_TOKEN_DEADLINE', 'RETRY_DUE'].includes(type)) return 'deadline';
  if (type === 'POWER_CYCLE') return 'power';
  if (['SAVE_SETTINGS', 'START_AUTH', 'CANCEL_AUTH', 'SIGN_OUT', 'SEND', 'RETRY', 'DISMISS', 'FACTORY_RESET'].includes(type)) {
    return 'operator';
  }
  return 'outcome';
}

/** The SMTP replies the twin is scripted with for each SEND_FAILED variant, and how the device must classify them. */
export const SEND_FAILURES: Record<
  'auth-rejected' | 'permanent' | 'transient',
  { reply: string; category: SendCategory; transient: boolean; code: ProtocolCode }
> = {
  'auth-rejected': {
    reply: '535 5.7.3 Authentication unsuccessful',
    category: 'auth-rejected',
    transient: false,
    code: protocolCode('smtp', '5.7.3'),
  },
  permanent: {
    reply: '535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.',
    category: 'smtp-auth-disabled',
    transient: false,
    code: protocolCode('smtp', '5.7.139'),
  },
  transient: {
    reply: '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.',
    category: 'throttled',
    transient: true,
    code: protocolCode('smtp', '4.3.2'),
  },
};

const settings = (authMethod: 'off' | 'oauth2ExchangeOnline' | 'smtpAuth' | 'oauth2AppOnly', account: string) => ({
  authMethod,
  authEmailAddress: authMethod === 'off' ? '' : account,
  authUsername: authMethod === 'off' ? '' : account,
  // Basic and app-only come with their secret (the executor saves the password or the client secret with them).
  credentialsReady: authMethod === 'smtpAuth' || authMethod === 'oauth2AppOnly',
});

/**
 * The statechart event a label stands for, in a model state. Times are model times (`now`): they only need to be
 * distinct and ordered; the executor reads the real ones from the device.
 */
export function eventFor(label: EventLabel, context: DeviceContext, now: number, jobId: string): DeviceEvent {
  const failure = (reason: string) => ({ reason, code: null, reply: null });
  switch (label) {
    case 'SAVE_SETTINGS:accountA':
      return { type: 'SAVE_SETTINGS', settings: settings('oauth2ExchangeOnline', ACCOUNT_A) };
    case 'SAVE_SETTINGS:accountB':
      return { type: 'SAVE_SETTINGS', settings: settings('oauth2ExchangeOnline', ACCOUNT_B) };
    case 'SAVE_SETTINGS:off':
      return { type: 'SAVE_SETTINGS', settings: settings('off', '') };
    case 'SAVE_SETTINGS:basicA':
      return { type: 'SAVE_SETTINGS', settings: settings('smtpAuth', ACCOUNT_A) };
    case 'SAVE_SETTINGS:appOnlyA':
      return { type: 'SAVE_SETTINGS', settings: settings('oauth2AppOnly', ACCOUNT_A) };
    case 'START_AUTH':
    case 'CANCEL_AUTH':
    case 'SIGN_OUT':
    case 'RETRY':
    case 'DISMISS':
    case 'FACTORY_RESET':
    case 'SENT':
    case 'CODE_DEADLINE':
    case 'ACCESS_TOKEN_DEADLINE':
    case 'RETRY_DUE':
      return label === 'SENT' ? { type: 'SENT', reply: '250 2.0.0 OK' } : { type: label };
    case 'SEND':
      return { type: 'SEND', jobId };
    case 'CODE_ISSUED':
      return { type: 'CODE_ISSUED', userCode: 'MODELCODE', verificationUri: 'https://model.invalid/devicelogin', expiresAt: now + 900_000 };
    case 'CODE_FAILED':
      return { type: 'CODE_FAILED', ...failure('unauthorized-client') };
    case 'TOKEN_GRANTED:configured':
      return { type: 'TOKEN_GRANTED', account: context.account ?? ACCOUNT_A, accessTokenExpiresAt: now + 3_600_000 };
    case 'TOKEN_GRANTED:other':
      return {
        type: 'TOKEN_GRANTED',
        account: context.account?.toLowerCase() === ACCOUNT_B ? ACCOUNT_A : ACCOUNT_B,
        accessTokenExpiresAt: now + 3_600_000,
      };
    case 'AUTH_DECLINED':
      return { type: 'AUTH_DECLINED', ...failure('declined') };
    case 'CODE_EXPIRED':
      return { type: 'CODE_EXPIRED', ...failure('code-expired') };
    case 'POLL_FAILED':
      return { type: 'POLL_FAILED', ...failure('poll-failed') };
    case 'REFRESHED':
      return { type: 'REFRESHED', accessTokenExpiresAt: now + 3_600_000 };
    case 'REFRESH_FAILED:transient':
      return { type: 'REFRESH_FAILED', transient: true, retryAt: now + 30_000, ...failure('refresh-unavailable') };
    case 'REFRESH_FAILED:permanent':
      return { type: 'REFRESH_FAILED', transient: false, retryAt: null, ...failure('refresh-token-revoked') };
    case 'SEND_FAILED:auth-rejected':
    case 'SEND_FAILED:permanent':
    case 'SEND_FAILED:transient': {
      const f = SEND_FAILURES[label.slice('SEND_FAILED:'.length) as keyof typeof SEND_FAILURES];
      return {
        type: 'SEND_FAILED',
        category: f.category,
        transient: f.transient,
        retryAt: f.transient ? now + 30_000 : null,
        reason: f.category,
        code: f.code,
        reply: f.reply,
      };
    }
    case 'POWER_CYCLE:deadlinePassed':
      return { type: 'POWER_CYCLE', accessDeadlinePassed: context.accessTokenExpiresAt !== null };
    case 'POWER_CYCLE:short':
      return { type: 'POWER_CYCLE', accessDeadlinePassed: false };
    case 'POWER_CYCLE:keyChanged':
      return { type: 'POWER_CYCLE', accessDeadlinePassed: false, keyChanged: true };
  }
}
