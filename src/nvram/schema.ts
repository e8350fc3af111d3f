/**
 * What the NVRAM holds, per firmware version, with hand-written validation. Data read from disk that fails these
 * checks is treated like a bank with a bad CRC: invalid, never half-trusted.
 */
export const CURRENT_FIRMWARE = 2;

/** The statechart owns the vocabulary; the store keeps what it says. */
import type { AuthMethod } from '../../machines/oauthDevice.ts';
export type { AuthMethod };
import { validateRtcState, type RtcState } from '../time/rtc.ts';
import { isTimeZone } from '../time/zone.ts';
export interface SmtpSettings {
  smtpServerName: string;
  smtpPort: number;
  useSecureConnection: boolean;
  authMethod: AuthMethod;
  authEmailAddress: string;
  authUsername: string;
  adminEmailAddress: string;
  /** App-only: Directory (tenant) ID and Application (client) ID; absent on images from before the method ('' unset). */
  appTenantId?: string;
  appClientId?: string;
}
export interface CloudSettings {
  mode: 'twin' | 'microsoft';
  authority: string | null;
  clientId: string | null;
}
/** Every status a job record can have: the one list of them (records, scenario files and the panel read it). */
export const JOB_STATUSES = ['queued', 'held', 'sending', 'sent', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export interface JobRecord {
  id: string;
  messageId: string;
  status: JobStatus;
  to: string[];
  subject: string;
  /** Spool file holding the scanned content; not in NVRAM. */
  contentPath: string;
  attempts: number;
  reply: string | null;
  createdAt: number;
  updatedAt: number;
}
export interface EventLogEntry {
  at: number;
  kind: string;
  message: string;
  data?: Record<string, unknown>;
}
/** An AES-256-GCM sealed secret as stored in the image (all binary fields base64). */
export interface SealedBlob {
  alg: 'A256GCM';
  /** Which device key sealed it (first 16 hex digits of SHA-256 of the key). */
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}
export interface DeviceIdentity {
  id: string;
  serial: string;
}
export interface NvramData {
  firmwareVersion: number;
  device: DeviceIdentity;
  settings: { smtp: SmtpSettings; cloud: CloudSettings };
  /** e.g. 'msal-cache', 'smtp-password', 'panel-admin-hash' — always sealed. */
  secrets: Record<string, SealedBlob>;
  /** Persisted xstate snapshot (no secrets in it by construction). */
  snapshot: unknown | null;
  /** Jobs not yet finished (queued/sending/held). */
  spool: JobRecord[];
  /** Bounded history. */
  jobLog: JobRecord[];
  /** Bounded. */
  eventLog: EventLogEntry[];
  /** Free section for the web panel (hashes only, never a plaintext secret). */
  panel: { sessionSecretSealed?: never } & Record<string, unknown>;
  /** The RTC chip's state and the date/time settings; absent on images written before the device clock existed. */
  clock?: DeviceClockRecord;
  /** The TLS trust store (src/device/trustStore.ts); absent on images written before it existed (= factory roots). */
  trust?: TrustStoreRecord;
  /**
   * Fingerprint (key id, as in sealed blobs) of the device key this image was written under: a key deleted or
   * replaced behind the device's back is noticed at boot even when no secret is sealed. Absent on older images (set
   * at their next commit).
   */
  deviceKeyId?: string;
}

/** What the NVRAM keeps of the device clock (see src/time/rtc.ts and src/device/clockService.ts). */
export interface DeviceClockRecord {
  rtc: RtcState;
  ntpEnabled: boolean;
  /** IANA time zone name for the Date header and the panel (e.g. "Europe/Berlin"); the clock itself is UTC. */
  timeZone: string;
}

/** One certificate of the trust store, as the firmware keeps it: the PEM is the truth, the rest is read from it. */
export interface TrustedCertificateRecord {
  pem: string;
  /** 'factory': shipped with the firmware; 'imported': added by the admin. */
  origin: 'factory' | 'imported';
  /** Device time it was added. */
  addedAt: number;
}

export interface TrustStoreRecord {
  certificates: TrustedCertificateRecord[];
  /** SHA-256 fingerprints of factory roots the admin deleted: a boot (or a firmware update) does not bring them back. */
  removedFactory: string[];
}

/** What firmware 1 (SMTP basic AUTH only) wrote. Its password is plaintext: that is how firmware 1 stored it. */
export interface NvramDataV1 {
  firmwareVersion: 1;
  device: DeviceIdentity;
  smtp: {
    smtpServerName: string;
    smtpPort: number;
    useSecureConnection: boolean;
    authMethod: 'off' | 'smtpAuth';
    smtpUsername: string;
    smtpPassword: string;
    adminEmailAddress: string;
  };
  eventLog: EventLogEntry[];
}

export const DEFAULT_EVENT_LOG_LIMIT = 200;
export const JOB_LOG_LIMIT = 50;

export function defaultSmtpSettings(): SmtpSettings {
  return {
    smtpServerName: 'smtp.office365.com',
    smtpPort: 587,
    useSecureConnection: true,
    authMethod: 'off',
    authEmailAddress: '',
    authUsername: '',
    adminEmailAddress: '',
  };
}

export function defaultCloudSettings(): CloudSettings {
  return { mode: 'twin', authority: null, clientId: null };
}

export function factoryDefaults(device: DeviceIdentity): NvramData {
  return {
    firmwareVersion: CURRENT_FIRMWARE,
    device: { ...device },
    settings: { smtp: defaultSmtpSettings(), cloud: defaultCloudSettings() },
    secrets: {},
    snapshot: null,
    spool: [],
    jobLog: [],
    eventLog: [],
    panel: {},
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Validation: each check returns null when fine, or a short path-qualified problem.

type Problem = string | null;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const first = (...checks: Problem[]): Problem => checks.find((c) => c !== null) ?? null;

function need(ok: boolean, path: string, what: string): Problem {
  return ok ? null : `${path} must be ${what}`;
}

function checkDevice(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be an object`;
  return first(need(isStr(v.id) && v.id.length > 0, `${path}.id`, 'a non-empty string'), need(isStr(v.serial), `${path}.serial`, 'a string'));
}

function checkPort(v: unknown, path: string): Problem {
  return need(isInt(v) && v >= 1 && v <= 65535, path, 'an integer 1..65535');
}

function checkSmtp(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be an object`;
  return first(
    need(isStr(v.smtpServerName), `${path}.smtpServerName`, 'a string'),
    checkPort(v.smtpPort, `${path}.smtpPort`),
    need(typeof v.useSecureConnection === 'boolean', `${path}.useSecureConnection`, 'a boolean'),
    need(
      v.authMethod === 'off' || v.authMethod === 'smtpAuth' || v.authMethod === 'oauth2ExchangeOnline' || v.authMethod === 'oauth2AppOnly',
      `${path}.authMethod`,
      "'off' | 'smtpAuth' | 'oauth2ExchangeOnline' | 'oauth2AppOnly'",
    ),
    need(isStr(v.authEmailAddress), `${path}.authEmailAddress`, 'a string'),
    need(isStr(v.authUsername), `${path}.authUsername`, 'a string'),
    need(isStr(v.adminEmailAddress), `${path}.adminEmailAddress`, 'a string'),
    need(v.appTenantId === undefined || isStr(v.appTenantId), `${path}.appTenantId`, 'a string when present'),
    need(v.appClientId === undefined || isStr(v.appClientId), `${path}.appClientId`, 'a string when present'),
  );
}

function checkCloud(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be an object`;
  return first(
    need(v.mode === 'twin' || v.mode === 'microsoft', `${path}.mode`, "'twin' | 'microsoft'"),
    need(v.authority === null || isStr(v.authority), `${path}.authority`, 'a string or null'),
    need(v.clientId === null || isStr(v.clientId), `${path}.clientId`, 'a string or null'),
  );
}

export function checkSealedBlob(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be a sealed blob`;
  return first(
    need(v.alg === 'A256GCM', `${path}.alg`, "'A256GCM'"),
    need(isStr(v.kid), `${path}.kid`, 'a string'),
    need(isStr(v.iv), `${path}.iv`, 'a base64 string'),
    need(isStr(v.tag), `${path}.tag`, 'a base64 string'),
    need(isStr(v.ct), `${path}.ct`, 'a base64 string'),
  );
}


function checkJob(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be an object`;
  return first(
    need(isStr(v.id), `${path}.id`, 'a string'),
    need(isStr(v.messageId), `${path}.messageId`, 'a string'),
    need(isStr(v.status) && (JOB_STATUSES as readonly string[]).includes(v.status), `${path}.status`, JOB_STATUSES.join(' | ')),
    need(Array.isArray(v.to) && v.to.every(isStr), `${path}.to`, 'an array of strings'),
    need(isStr(v.subject), `${path}.subject`, 'a string'),
    need(isStr(v.contentPath), `${path}.contentPath`, 'a string'),
    need(isInt(v.attempts) && v.attempts >= 0, `${path}.attempts`, 'an integer >= 0'),
    need(v.reply === null || isStr(v.reply), `${path}.reply`, 'a string or null'),
    need(isInt(v.createdAt), `${path}.createdAt`, 'an integer'),
    need(isInt(v.updatedAt), `${path}.updatedAt`, 'an integer'),
  );
}

function checkEvent(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be an object`;
  return first(
    need(isInt(v.at), `${path}.at`, 'an integer'),
    need(isStr(v.kind), `${path}.kind`, 'a string'),
    need(isStr(v.message), `${path}.message`, 'a string'),
    need(v.data === undefined || isObj(v.data), `${path}.data`, 'an object when present'),
  );
}

function checkArray(v: unknown, path: string, item: (x: unknown, p: string) => Problem): Problem {
  if (!Array.isArray(v)) return `${path} must be an array`;
  for (let i = 0; i < v.length; i++) {
    const p = item(v[i], `${path}[${i}]`);
    if (p) return p;
  }
  return null;
}

/**
 * Firmware-2 content, part by part (one rule per top-level key, in the order problems are reported). A `list` or
 * `record` part is a collection whose items are checked one by one: a commit re-checks only the items it added or
 * changed (see encoder.ts), a boot checks them all. This table is the only place the firmware-2 rules live.
 */
export type PartRule =
  | { kind: 'value'; check: (v: unknown, present: boolean) => Problem }
  | { kind: 'list' | 'record'; item: (v: unknown, path: string) => Problem };

function checkSettings(v: unknown): Problem {
  if (!isObj(v)) return 'settings must be an object';
  return first(checkSmtp(v.smtp, 'settings.smtp'), checkCloud(v.cloud, 'settings.cloud'));
}

export const CONTENT_PARTS: Readonly<Record<string, PartRule>> = {
  firmwareVersion: { kind: 'value', check: (v) => need(v === CURRENT_FIRMWARE, 'firmwareVersion', `${CURRENT_FIRMWARE}`) },
  secrets: { kind: 'record', item: checkSealedBlob },
  device: { kind: 'value', check: (v) => checkDevice(v, 'device') },
  settings: { kind: 'value', check: checkSettings },
  snapshot: { kind: 'value', check: (_, present) => need(present, 'snapshot', 'present (null when none)') },
  spool: { kind: 'list', item: checkJob },
  jobLog: { kind: 'list', item: checkJob },
  eventLog: { kind: 'list', item: checkEvent },
  panel: { kind: 'value', check: (v) => need(isObj(v) && !('sessionSecretSealed' in v), 'panel', 'an object without sessionSecretSealed') },
  clock: { kind: 'value', check: (v) => (v === undefined ? null : checkDeviceClock(v, 'clock')) },
  trust: { kind: 'value', check: (v) => (v === undefined ? null : checkTrustStore(v, 'trust')) },
  deviceKeyId: { kind: 'value', check: (v) => (v === undefined ? null : need(isStr(v) && /^[0-9a-f]{16}$/.test(v), 'deviceKeyId', '16 hex digits')) },
};

/** The shape of a collection part before its items: an array for a list, an object for a record. */
export function collectionProblem(name: string, kind: 'list' | 'record', v: unknown): Problem {
  if (kind === 'list') return Array.isArray(v) ? null : `${name} must be an array`;
  return isObj(v) ? null : `${name} must be an object`;
}

/** Path of an item in a collection part, as problems name it: `eventLog[3]`, `secrets.msal-cache`. */
export function itemPath(name: string, kind: 'list' | 'record', key: string | number): string {
  return kind === 'list' ? `${name}[${key}]` : `${name}.${key}`;
}

/** One part checked whole (every item of a collection). */
export function checkPart(name: string, rule: PartRule, v: unknown, present: boolean): Problem {
  if (rule.kind === 'value') return rule.check(v, present);
  if (rule.kind === 'list') return checkArray(v, name, rule.item);
  const shape = collectionProblem(name, rule.kind, v);
  if (shape) return shape;
  const items = v as Record<string, unknown>;
  for (const key of Object.keys(items)) {
    const p = rule.item(items[key], itemPath(name, rule.kind, key));
    if (p) return p;
  }
  return null;
}

/** Firmware-2 content. Returns null when valid, else the first problem found. */
export function checkNvramData(v: unknown): Problem {
  if (!isObj(v)) return 'content must be an object';
  for (const [name, rule] of Object.entries(CONTENT_PARTS)) {
    const p = checkPart(name, rule, v[name], name in v);
    if (p) return p;
  }
  return null;
}

export function checkDeviceClock(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be an object`;
  try {
    validateRtcState(v.rtc);
  } catch (err) {
    return `${path}.rtc: ${(err as Error).message}`;
  }
  if (typeof v.ntpEnabled !== 'boolean') return `${path}.ntpEnabled must be a boolean`;
  if (typeof v.timeZone !== 'string' || !isTimeZone(v.timeZone)) return `${path}.timeZone must be an IANA time zone name`;
  return null;
}

export function checkTrustStore(v: unknown, path: string): Problem {
  if (!isObj(v)) return `${path} must be an object`;
  return first(
    checkArray(v.certificates, `${path}.certificates`, (c, at) =>
      !isObj(c)
        ? `${at} must be an object`
        : first(
            need(isStr(c.pem) && c.pem.includes('-----BEGIN CERTIFICATE-----'), `${at}.pem`, 'a PEM certificate'),
            need(c.origin === 'factory' || c.origin === 'imported', `${at}.origin`, "'factory' | 'imported'"),
            need(typeof c.addedAt === 'number' && Number.isFinite(c.addedAt), `${at}.addedAt`, 'a number'),
          ),
    ),
    checkArray(v.removedFactory, `${path}.removedFactory`, (f, at) => need(isStr(f), at, 'a string')),
  );
}

/** Firmware-1 content (read only: this firmware never writes it). */
export function checkNvramDataV1(v: unknown): Problem {
  if (!isObj(v)) return 'content must be an object';
  if (v.firmwareVersion !== 1) return 'firmwareVersion must be 1';
  const smtp = v.smtp;
  if (!isObj(smtp)) return 'smtp must be an object';
  return first(
    checkDevice(v.device, 'device'),
    need(isStr(smtp.smtpServerName), 'smtp.smtpServerName', 'a string'),
    checkPort(smtp.smtpPort, 'smtp.smtpPort'),
    need(typeof smtp.useSecureConnection === 'boolean', 'smtp.useSecureConnection', 'a boolean'),
    need(smtp.authMethod === 'off' || smtp.authMethod === 'smtpAuth', 'smtp.authMethod', "'off' | 'smtpAuth'"),
    need(isStr(smtp.smtpUsername), 'smtp.smtpUsername', 'a string'),
    need(isStr(smtp.smtpPassword), 'smtp.smtpPassword', 'a string'),
    need(isStr(smtp.adminEmailAddress), 'smtp.adminEmailAddress', 'a string'),
    checkArray(v.eventLog, 'eventLog', checkEvent),
  );
}

/** Validates content as written by `firmwareVersion` (1 or 2); unknown versions have no checker here. */
export function checkContentFor(firmwareVersion: number, v: unknown): Problem {
  if (firmwareVersion === 1) return checkNvramDataV1(v);
  if (firmwareVersion === CURRENT_FIRMWARE) return checkNvramData(v);
  return `no schema known for firmware ${firmwareVersion}`;
}

/** Deep-freezes plain JSON data so `nvram.data` cannot be mutated behind update()'s back. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
