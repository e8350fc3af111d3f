/** JSON schemas of the API: request validation (ajv, no type coercion) and response serialization. */
import { LEAF_STATES } from '../../machines/oauthDevice.ts';
import { CODE_KINDS } from '../device/failures.ts';

const nullableString = { type: ['string', 'null'] } as const;
const isoTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const errorSchema = {
  $id: 'PanelError',
  type: 'object',
  properties: {
    error: { type: 'string' },
    state: { type: 'string' },
    fields: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['error'],
} as const;

export const lastErrorSchema = {
  type: ['object', 'null'],
  properties: {
    reason: { type: 'string' },
    /** The code as text ("AADSTS70020", "5.7.139", "HTTP 503"); `codeKind` says which protocol it is from. */
    code: nullableString,
    codeKind: { type: ['string', 'null'], enum: [...CODE_KINDS, null] },
    reply: nullableString,
  },
} as const;

export const statusSchema = {
  $id: 'DeviceStatus',
  type: 'object',
  properties: {
    state: { type: 'string', enum: [...LEAF_STATES] },
    since: isoTime,
    account: nullableString,
    userCode: nullableString,
    verificationUri: nullableString,
    expiresAt: isoTime,
    tokenExpiresAt: isoTime,
    lastError: lastErrorSchema,
    stateText: { type: 'string' },
    advice: { type: ['string', 'null'], description: 'What to do about the last failure (TLS: "Check Date/Time or enable NTP", "Import the root certificate of …"); null when the panel has no advice' },
    jobId: nullableString,
    retryAt: isoTime,
    now: isoTime,
    storageFault: {
      type: ['object', 'null'],
      description: 'The disk under the NVRAM or the spool is failing (docs/nvram.md, "Storage faults"); null when it works',
      properties: {
        reason: { type: 'string', enum: ['storage-full', 'storage-read-only', 'nvram-write-failed', 'spool-write-failed', 'spool-read-failed'] },
        area: { type: 'string', enum: ['nvram', 'spool'] },
        operation: { type: 'string', enum: ['read', 'write'] },
        code: { type: 'string', description: 'errno code, e.g. ENOSPC' },
        message: { type: 'string' },
        since: isoTime,
        failures: { type: 'integer' },
        retryAt: isoTime,
      },
    },
    boot: {
      type: 'object',
      description: 'How the last boot went: the coded reasons (bank fallback, lost image, changed device key, reconciled spool, …)',
      properties: {
        at: isoTime,
        outcome: { type: 'string', enum: ['restored', 'recovered', 'fresh'] },
        bank: { type: ['string', 'null'], enum: ['A', 'B', null] },
        seq: { type: 'integer' },
        reasons: {
          type: 'array',
          items: {
            type: 'object',
            properties: { code: { type: 'string' }, detail: { type: 'string' }, warning: { type: 'boolean' } },
            required: ['code', 'detail', 'warning'],
          },
        },
      },
      required: ['at', 'outcome', 'reasons'],
    },
  },
  required: ['state', 'since', 'account', 'userCode', 'verificationUri', 'expiresAt', 'tokenExpiresAt', 'lastError'],
} as const;

const smtpProperties = {
  smtpServerName: { type: 'string', maxLength: 253, description: 'SMTP Server Name' },
  smtpPort: { type: 'integer', minimum: 1, maximum: 65535, description: 'SMTP Port No.' },
  useSecureConnection: { type: 'boolean', description: 'Use Secure Connection (SSL): STARTTLS' },
  authMethod: {
    type: 'string',
    enum: ['off', 'smtpAuth', 'oauth2ExchangeOnline', 'oauth2AppOnly'],
    description: 'Email Send Authentication Method: Off, SMTP Authentication (basic), OAuth2.0 (for Exchange Online), OAuth2.0 app-only (client credentials)',
  },
  authEmailAddress: { type: 'string', maxLength: 254, description: 'Auth. Email Address' },
  authUsername: { type: 'string', maxLength: 254, description: 'Auth. Username' },
  adminEmailAddress: { type: 'string', maxLength: 254, description: 'Administrator E-mail Address (the sender)' },
} as const;

/** App-only's identifiers (not secret; '' when unset, absent on devices that never had them). */
const appOnlyProperties = {
  appTenantId: { type: 'string', maxLength: 36, description: 'Directory (tenant) ID (app-only)' },
  appClientId: { type: 'string', maxLength: 36, description: 'Application (client) ID (app-only)' },
} as const;

/** Write-only: accepted on save, sealed in NVRAM, never in an answer ('' or absent keeps the stored one). */
const secretProperties = {
  smtpPassword: { type: 'string', maxLength: 256, writeOnly: true, description: 'Password for SMTP Authentication (basic)' },
  clientSecret: { type: 'string', maxLength: 256, writeOnly: true, description: 'Client secret of the application (app-only)' },
} as const;

export const smtpSettingsSchema = {
  $id: 'SmtpSettings',
  type: 'object',
  properties: { ...smtpProperties, ...appOnlyProperties },
  required: Object.keys(smtpProperties),
  additionalProperties: false,
} as const;

/** PUT merges: any subset of the fields, nothing else. */
export const smtpSettingsInputSchema = {
  type: 'object',
  properties: { ...smtpProperties, ...appOnlyProperties, ...secretProperties },
  additionalProperties: false,
} as const;

export const dispatchResultSchema = {
  $id: 'DispatchResult',
  type: 'object',
  properties: { accepted: { type: 'boolean' }, state: { type: 'string' } },
  required: ['accepted', 'state'],
} as const;

export const jobSchema = {
  $id: 'Job',
  type: 'object',
  properties: {
    id: { type: 'string' },
    messageId: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'sending', 'held', 'sent', 'failed'] },
    reply: nullableString,
    to: { type: 'array', items: { type: 'string' } },
    subject: { type: 'string' },
    attempts: { type: 'integer' },
    createdAt: isoTime,
    updatedAt: isoTime,
  },
  required: ['id', 'messageId', 'status', 'reply', 'createdAt', 'updatedAt'],
} as const;

export const testMailSchema = {
  type: 'object',
  properties: {
    to: {
      anyOf: [
        { type: 'string', maxLength: 254 },
        { type: 'array', items: { type: 'string', maxLength: 254 }, minItems: 1, maxItems: 100 },
      ],
    },
    subject: { type: 'string', maxLength: 998 },
    body: { type: 'string', maxLength: 100_000 },
  },
  required: ['to'],
  additionalProperties: false,
} as const;

export const jobIdParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;

export const powerCycleSchema = {
  type: ['object', 'null'],
  properties: { offMs: { type: 'integer', minimum: 0, maximum: 400 * 24 * 3600 * 1000 } },
  additionalProperties: false,
} as const;

export const eventLogSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { at: isoTime, kind: { type: 'string' }, message: { type: 'string' }, data: { type: 'object', additionalProperties: true } },
  },
} as const;

/** The printer's clock as the API shows it (src/device/clockService.ts). */
export const clockSettingsSchema = {
  $id: 'ClockSettings',
  type: 'object',
  properties: {
    now: { type: 'string', format: 'date-time', description: "What the printer believes the time is (its RTC), UTC" },
    ntpEnabled: { type: 'boolean', description: 'NTP on: sync with the NTP server at power-on and hourly' },
    timeZone: { type: 'string', description: 'IANA time zone name (display and mail Date header; the clock is UTC)' },
    lastSync: {
      type: ['object', 'null'],
      description: 'Outcome of the last NTP exchange since power-on',
      properties: {
        at: { type: 'string', format: 'date-time' },
        ok: { type: 'boolean' },
        offsetMs: { type: 'integer', description: 'How far the clock was corrected' },
        reason: { type: 'string', enum: ['timeout', 'kiss-of-death', 'bad-reply', 'socket', 'no-server'] },
        message: { type: 'string' },
      },
    },
  },
  required: ['now', 'ntpEnabled', 'timeZone', 'lastSync'],
} as const;

export const clockSettingsInputSchema = {
  type: 'object',
  properties: {
    dateTime: { type: 'string', format: 'date-time', description: 'Set the date and time (RFC 3339, e.g. 2026-01-05T08:00:00Z)' },
    ntpEnabled: { type: 'boolean' },
    timeZone: { type: 'string', minLength: 1, maxLength: 64 },
  },
  additionalProperties: false,
  minProperties: 1,
} as const;

/** Simulation only: faults of the printer's RTC (a real printer has no such route). */
export const clockFaultSchema = {
  type: 'object',
  properties: {
    stepMs: { type: 'integer', minimum: -100 * 365 * 24 * 3600 * 1000, maximum: 100 * 365 * 24 * 3600 * 1000, description: 'The RTC jumps by this many ms (either sign)' },
    driftPpm: { type: 'number', minimum: -100_000, maximum: 100_000, description: 'Oscillator rate error from now on (ppm; positive = fast)' },
    battery: { type: 'string', enum: ['ok', 'dead'], description: 'dead: the RTC restarts at the firmware epoch (2024-01-01) at every power-on' },
  },
  additionalProperties: false,
  minProperties: 1,
} as const;
