/** The fleet's vocabulary: what a run is asked to do, what each device ends up as, and what the run reports. */
import type { ProtocolCode } from '../device/failures.ts';
import type { LeafState } from '../../machines/oauthDevice.ts';
import type { LatencySummary } from './latency.ts';
import type { TrafficSecond } from '../cloud/throttling.ts';

export interface FleetOptions {
  /** Printers in the whole fleet (with a shard: across all shards). */
  devices: number;
  /** Run only this shard of the fleet (null: the whole fleet). */
  shard?: { index: number; count: number } | null;
  /** Root of every device's NVRAM and spool, the twins' certificates and the tenant file (must not hold an old fleet). */
  stateDir: string;
  /** Worker threads (1 = everything in this thread). */
  workers: number;
  /** Seeds the twins' token lifetimes (slice k uses seed + k). */
  seed: number;
  /** Mails each printer sends through the day (one an hour), before the night off. */
  mailsPerDay: number;
  /** Devices a slice drives at once within a phase (bounded so sockets and TLS handshakes do not pile up). */
  concurrency: number;
}

/** The scripted day, phase by phase; every slice runs each phase before any slice starts the next. */
export const PHASES = ['boot', 'sign-in', 'day', 'night', 'morning', 'check'] as const;
export type Phase = (typeof PHASES)[number];

export interface DeviceRow {
  /** printer-0001 … (also the device's folder under devices/). */
  id: string;
  index: number;
  slice: number;
  /** The printer's own mailbox, the account it signs in as. */
  upn: string;
  /** NVRAM identity. */
  deviceId: string;
  serial: string;
  state: LeafState | 'off';
  /** Since when (virtual time, ISO) the device has been in that state. */
  since: string;
  signIns: number;
  refreshes: number;
  mailsSent: number;
  mailsFailed: number;
  mailsHeld: number;
  /** Failure outcomes seen (sign-in, refresh or send failures, transient or not) plus step errors. */
  failures: number;
  lastError: { reason: string; code: ProtocolCode | null } | null;
  /** What the twin holds for this printer, read back after the morning (null before the check). */
  mailbox: { sentItems: number; inbox: number; messageIdsMatch: boolean } | null;
  /** Errors thrown by a step of the script (not device failures), for the summary. */
  errors: string[];
}

export interface SliceMemory {
  /** Heap of the slice's isolate after its twin started, before any device (after a GC). */
  heapBeforeDevices: number;
  /** Heap with every device booted and signed in (after a GC). */
  heapWithDevices: number;
  devices: number;
}

export interface SliceReport {
  slice: number;
  rows: DeviceRow[];
  memory: SliceMemory;
  /** Virtual time at the end of the day. */
  simulatedAt: number;
  simulatedMs: number;
  /** Wall latency of the slice's mails, an encoded HDR histogram (latency.ts). */
  mailLatency: string;
}

/** Shard i of n (0-based, as Kubernetes' JOB_COMPLETION_INDEX) and the printers it ran. */
export interface FleetShard {
  index: number;
  count: number;
  /** Fleet index of the shard's first printer, and how many it ran. */
  first: number;
  devices: number;
}

export interface FleetReport {
  options: FleetOptions;
  /** The shard this report covers (null: the whole fleet in one run, or a merge of every shard). */
  shard: FleetShard | null;
  /** For a merge (`mfp-sim fleet merge`): the shards it was made of, in index order. */
  mergedFrom?: FleetShard[];
  rows: DeviceRow[];
  states: Record<string, number>;
  totals: { mailsSent: number; mailsExpected: number; refreshes: number; signIns: number; failures: number; errors: number };
  /** Every device authorized, every mail sent and found in its mailbox, no failures. */
  ok: boolean;
  wallMs: number;
  simulatedMs: number;
  phaseWallMs: Record<string, number>;
  /**
   * CPU ms of each phase, user + system over every thread of the process (coordinator and workers): beside the wall
   * time it shows whether a phase was work or waiting. In a merge, the shards' sum; absent when a shard's report has
   * none (written before it was measured).
   */
  phaseCpuMs?: Record<string, number>;
  /** Per-mail wall latency: percentiles read from the histogram, which is kept so that reports merge. */
  mailLatency: LatencySummary;
  /** The day phase against the bare limit timed before and after the run (`mfp-sim fleet`; absent with --no-limit and in a merge). */
  limit?: DayLimit;
  memory: {
    /** Process RSS before the fleet started and at its end (all threads). */
    rssBefore: number;
    rssAfter: number;
    rssPeak: number;
    /** Sum over slices of the heap the devices added, per device. */
    heapPerDevice: number;
    /** (peak RSS at a phase end − RSS before) / devices: everything a device costs here, twins and workers included. */
    rssPerDevice: number;
  };
}

/** What a phase reports back to the coordinator (rows for the fleet page, progress for the bar). */
export interface PhaseResult {
  phase: Phase;
  rows: DeviceRow[];
  simulatedAt: number;
  /** The slice twin's traffic so far, per virtual second (token requests, SMTP submissions): the fleet page's chart. */
  traffic: TrafficSecond[];
}

/**
 * The day phase against the limit the same machine sets (issue 16): the day's mails as bare submissions spread over
 * the cores. Target: dayWallMs ≤ 1.5 × limitMs.
 */
export interface DayLimit {
  /**
   * Mean wall ms of one bare mail (HTTPS token request + XOAUTH2 submission over STARTTLS) over both batches, and how
   * many were timed in all.
   */
  bareMsPerMail: number;
  bareMails: number;
  /** The batch timed before the run and the one after it (mean wall ms per mail each). */
  bareBeforeMsPerMail: number;
  bareAfterMsPerMail: number;
  /** Process CPU ms (user + system, every thread) per mail: of the bare mails (both batches), and of the day phase. */
  bareCpuMsPerMail: number;
  dayCpuMsPerMail: number;
  /** Mails of the day phase: printers × mails per day. */
  dayMails: number;
  cores: number;
  /** dayMails × bareMsPerMail ÷ cores. */
  limitMs: number;
  dayWallMs: number;
  /** dayWallMs ÷ limitMs. */
  ratio: number;
}
