/**
 * The printer as every face and tool sees it: the one interface the panel, the scenario runner, the model-based
 * executor and the fleet use, and the one a remote (HTTP) driver for another printer implements.
 *
 * Written so that it can cross a wire:
 *  - every method is async and every result is plain data (JSON-safe: no class instances, no functions, no Dates);
 *  - nothing here exposes storage (no NVRAM object, no log text to parse): the boot report and NVRAM health are
 *    structured data, the event log is entries with a kind and optional data;
 *  - what only some printers can do is an optional capability, declared in `capabilities` and present as an object
 *    when declared, so a tool says what it skips instead of assuming (a real printer has no virtual clock).
 * A `Printer` is the box, not one boot of it: it survives power cycles (the local implementation swaps its runtime
 * underneath, a remote one reconnects).
 */
import type { DeviceEvent, LastError, LeafState } from '../../machines/oauthDevice.ts';
import type { EventLogEntry, JobRecord, JobStatus, SmtpSettings } from '../nvram/schema.ts';
import type { OPERATOR_EVENT_TYPES } from './validation.ts';
import type { StorageFault } from './storage-fault.ts';
import type { DeadlineEvent, Deadlines } from './deadlines.ts';

// Plain-data shapes shared with storage, re-exported so faces need no import of src/nvram.
export type { EventLogEntry, JobRecord, JobStatus, SmtpSettings, LastError, LeafState, StorageFault, DeadlineEvent, Deadlines };

// Job statuses, the job log's limit and a fresh printer's settings are defined once, with the records they describe
// (src/nvram/schema.ts).
export { JOB_LOG_LIMIT, JOB_STATUSES, defaultSmtpSettings } from '../nvram/schema.ts';
export { isTimeZone } from '../time/zone.ts';

/** Events a person (or a tool acting for one) may send. Outcomes and deadlines come from inside the printer. */
export { OPERATOR_EVENT_TYPES } from './validation.ts';
export type OperatorEventType = (typeof OPERATOR_EVENT_TYPES)[number];

export interface PrinterIdentity {
  id: string;
  serial: string;
  model: string;
  /** Firmware version running now. */
  firmware: number;
}

/** The public state and the context fields a panel shows. No secret is ever part of it. */
export interface PrinterStatus {
  state: LeafState;
  /** Clock time (ms) the printer entered `state`. */
  since: number;
  account: string | null;
  userCode: string | null;
  verificationUri: string | null;
  /** When the user code expires. */
  expiresAt: number | null;
  tokenExpiresAt: number | null;
  lastError: LastError | null;
  jobId: string | null;
  retryAt: number | null;
  /**
   * The disk under the NVRAM or the spool is failing (full, read-only, I/O error): the reason, and when the printer
   * tries again by itself. null when the storage works; absent on printers that do not report it.
   */
  storageFault?: StorageFault | null;
}

export interface DispatchResult {
  accepted: boolean;
  state: LeafState;
  /** Why an event was not taken (the state does not handle it, or the printer is off). */
  reason?: string;
}

export interface TransitionNotice {
  at: number;
  from: LeafState;
  to: LeafState;
  event: DeviceEvent['type'];
  /** The statechart's failure reason on this step, when the step recorded one. */
  reason: string | null;
  status: PrinterStatus;
}

/**
 * Why a boot went the way it did. A list of coded reasons, so new ones (bank fallback, key changed, …) are added
 * without changing the shape; `detail` is for people, `code` for tools.
 */
export interface BootReason {
  /** Stable, kebab-case: 'first-boot', 'bank-invalid', 'bank-erased', 'no-valid-bank', 'image-lost', 'device-key-changed', 'snapshot-unreadable', 'migrated', … */
  code: string;
  detail: string;
  data?: Record<string, unknown>;
}

export interface BootReport {
  /** Clock time of the boot. */
  at: number;
  /** 'restored': the stored state was used; 'recovered': something was damaged and the printer worked around it; 'fresh': first boot or factory defaults. */
  outcome: 'restored' | 'recovered' | 'fresh';
  /** The bank booted from (null: none was valid). */
  bank: 'A' | 'B' | null;
  seq: number;
  /** Firmware version the stored image was migrated from, or null. */
  migratedFrom: number | null;
  /** State before the power went off (null: first boot or unreadable). */
  stateBefore: LeafState | null;
  /** State after the boot's own transitions (POWER_CYCLE and whatever it caused). */
  stateAfter: LeafState;
  /** The transitions the boot itself made, in order (they happen before anyone can subscribe). */
  transitions: TransitionNotice[];
  reasons: BootReason[];
}

export interface NvramBankHealth {
  name: 'A' | 'B';
  seq: number;
  valid: boolean;
  bytes: number;
  writes: number;
  firmwareVersion: number | null;
  error: string | null;
}

export interface NvramHealth {
  /** The image's file name (no directory). */
  file: string;
  capacityBytes: number;
  /** Bytes of the current content. */
  usedBytes: number;
  banks: NvramBankHealth[];
  /** What the NVRAM layer found at boot (the boot report says the same with coded reasons). */
  image: { bank: 'A' | 'B' | null; seq: number; recovered: boolean; reason: string | null; migratedFrom: number | null };
  /** Size of each section of the content, for the panel's NVRAM page. */
  sections: { name: string; bytes: number }[];
  /** Sealed secrets by name and size (never their content). */
  secrets: { name: string; sealedBytes: number; kid: string }[];
}

/** What the printer's time is, and whether a tool may move it (a simulator's virtual clock). */
export interface ClockControl {
  now(): Promise<number>;
  /** Moves virtual time, letting the printer finish what each fired deadline started before time moves on. */
  advance(ms: number): Promise<void>;
  /** The deadlines the printer has armed now (event → clock time), so a tool can move time deadline by deadline. */
  deadlines(): Promise<Deadlines>;
}

/** Read-only look at the raw NVRAM image (for checks such as "no token in plain text"). */
export interface NvramImageInspection {
  /** The image file as it is on the medium, latin1, so byte searches work. */
  image(): Promise<string>;
  /** The whole content with sealed secrets redacted. */
  content(): Promise<Record<string, unknown>>;
  /**
   * The current bank read back from the medium and checked (as `mfp-sim nvram show` reads it), secrets redacted:
   * what a power cut now would boot from. `tokenCache`: whether it holds a sealed token cache.
   */
  readBack(): Promise<NvramReadBack>;
}

export interface NvramReadBack {
  valid: boolean;
  /** Why the image is not valid (null when it is). */
  reason: string | null;
  content: Record<string, unknown> | null;
  tokenCache: boolean;
}

/**
 * A secrecy check the printer runs on itself: the tokens it held are looked for in its raw NVRAM image. It answers
 * counts, never a token, so no face can leak one through it.
 */
export interface SecretAudit {
  /** From now on every token the printer holds (at each transition, across boots) is remembered, in memory only. */
  watch(): Promise<void>;
  /** The remembered tokens and those held now: how many there are, and how many the raw image holds in plain text. */
  check(): Promise<{ tokens: number; inImage: number }>;
}

/** Holding effects before they reach the network, for model-based tests (see src/mbt/gates.ts). */
export interface EffectHolds {
  held(): Promise<('signIn' | 'refresh' | 'submit')[]>;
  release(kind: 'signIn' | 'refresh' | 'submit'): Promise<void>;
}

/** How the device key can be gone at the next boot (a tester with the printer's storage did it while it was off). */
export type DeviceKeyLoss = 'deleted' | 'replaced' | 'truncated';

export interface PowerControl {
  /**
   * Power off (work in flight abandoned, nothing written), stay off for `offMs` of the printer's clock, boot; with
   * `deviceKey`, the device key file is deleted, replaced or truncated while the power is off (needs `deviceKeyLoss`).
   */
  powerCycle(offMs?: number, opts?: { deviceKey?: DeviceKeyLoss }): Promise<BootReport>;
  /** Whether `powerCycle` can lose the device key. */
  readonly deviceKeyLoss?: boolean;
}

/** A certificate of the printer's TLS trust store, as the panel and the API show it. */
export interface TrustedCertificate {
  /** SHA-256 fingerprint, AA:BB:… (the key to delete it by). */
  fingerprint: string;
  subject: string;
  issuer: string;
  validFrom: number;
  validTo: number;
  selfSigned: boolean;
  origin: 'factory' | 'imported';
  /** Printer time it was added. */
  addedAt: number;
  /** What it costs in NVRAM (bytes of PEM). */
  bytes: number;
}

/**
 * The TLS trust store (src/device/trustStore.ts): the roots the printer accepts the cloud's chain from. A refused
 * change rejects with `{ reason: 'malformed' | 'not-a-ca' | 'duplicate' | 'full' | 'not-found', message }` and
 * changes nothing.
 */
export interface TrustStoreControl {
  list(): Promise<TrustedCertificate[]>;
  /** One PEM CA certificate. */
  importPem(pem: string): Promise<TrustedCertificate>;
  remove(fingerprint: string): Promise<void>;
}

/** Optional capabilities by name; each true one is present on the printer as the object of the same name. */
export type CapabilityName = 'clock' | 'nvramImage' | 'effectHolds' | 'power' | 'secretAudit' | 'trustStore';
export type PrinterCapabilities = Record<CapabilityName, boolean>;

export interface AdminCredential {
  /** True when `password` is the administrator's. Serialized with every other operation of the printer. */
  check(password: string): Promise<boolean>;
  /** Replaces the administrator password (stored only as a salted hash). */
  change(password: string): Promise<void>;
  /**
   * Makes sure a password is set: an explicit one replaces a different stored one; with none, the stored one stays;
   * with neither, one is generated, stored as a hash and returned once (for the CLI to print).
   */
  ensure(explicit: string | undefined): Promise<{ generatedPassword: string | null }>;
  /**
   * An opaque, non-secret tag of the stored password that changes whenever it changes (null: none is set), so a
   * face that remembers a verified credential knows when to forget it (a change through another face, a reset).
   */
  revision(): Promise<string | null>;
}

export interface Printer {
  readonly capabilities: PrinterCapabilities;

  // ---- stimuli
  saveSettings(input: unknown): Promise<DispatchResult>;
  /** An operator event (START_AUTH, CANCEL_AUTH, SIGN_OUT, RETRY, DISMISS, FACTORY_RESET); bad input is refused. */
  send(event: { type: OperatorEventType }): Promise<DispatchResult>;
  /** Makes a job durable (content in the spool, record in NVRAM), then acknowledges it. */
  submitJob(input: unknown): Promise<JobRecord>;

  // ---- observations
  identity(): Promise<PrinterIdentity>;
  status(): Promise<PrinterStatus>;
  settings(): Promise<SmtpSettings>;
  /** Whether the statechart, in its current state, takes an event of this type (the panel's buttons follow it). */
  can(eventType: DeviceEvent['type']): Promise<boolean>;
  jobs(): Promise<JobRecord[]>;
  job(id: string): Promise<JobRecord | undefined>;
  eventLog(): Promise<EventLogEntry[]>;
  /** How the current boot went. */
  bootReport(): Promise<BootReport>;
  nvramHealth(): Promise<NvramHealth>;
  /** Transition notices of this and every later boot. Returns the unsubscribe function. */
  subscribe(listener: (notice: TransitionNotice) => void): () => void;
  /** The boot report of every later boot, once the new boot's notices are subscribed. Returns the unsubscribe function. */
  onBoot(listener: (report: BootReport) => void): () => void;
  /** Resolves when no event is queued and no effect is in flight. */
  idle(): Promise<void>;
  /**
   * Resolves when no event is queued, without waiting for effects in flight (a call held on the network). Local
   * printers only: the driver protocol has no such call (its `idle` waits for effects too).
   */
  eventsDrained?(): Promise<void>;

  readonly admin: AdminCredential;

  // ---- optional capabilities: present exactly when `capabilities` says so
  readonly clock?: ClockControl;
  readonly nvramImage?: NvramImageInspection;
  readonly effectHolds?: EffectHolds;
  readonly power?: PowerControl;
  readonly secretAudit?: SecretAudit;
  readonly trustStore?: TrustStoreControl;
}

/** Narrows a printer to one with a capability, or says plainly that it lacks it. */
export function requireCapability<K extends CapabilityName>(
  printer: Printer,
  what: K,
): Required<Pick<Printer, K>>[K] {
  const c = printer[what];
  if (!printer.capabilities[what] || !c) throw new Error(`this printer does not offer ${what}`);
  return c as Required<Pick<Printer, K>>[K];
}
