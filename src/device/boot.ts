/**
 * Boot: the statechart snapshot the runtime starts from (restored from NVRAM, or built from the settings on a first
 * boot or when the stored one is unreadable), and the structured boot report tools read instead of log text.
 */
import {
  oauthDeviceMachine as machine,
  initialContext,
  leafState,
  sendPathOf,
  type DeviceContext,
  type LastError,
  type LeafState,
  type PowerCycleEvent,
} from '../../machines/oauthDevice.ts';
import { storedCode } from './failures.ts';
import { lifecycleSettings } from './credentials.ts';
import type { BootInfo } from '../nvram/index.ts';
import type { NvramData, SmtpSettings } from '../nvram/schema.ts';
import type { Snapshot } from './dispatch.ts';
import type { BootReason, BootReport, TransitionNotice } from './printer.ts';

/** The stored snapshot, or null when there is none or it does not fit the statechart. */
export function restoreSnapshot(stored: unknown, now: number): { snapshot: Snapshot; since: number } | null {
  if (!isObject(stored) || !('value' in stored) || !isObject(stored.context)) return null;
  try {
    leafState(stored.value);
    const s = machine.resolveState({
      value: stored.value as never,
      context: { ...initialContext(), ...(stored.context as Partial<DeviceContext>), lastError: storedLastError(stored.context.lastError) },
    });
    return { snapshot: s, since: typeof stored.since === 'number' ? stored.since : now };
  } catch {
    return null;
  }
}

/**
 * A stored last error of any firmware. Images written before codes were tagged hold `code` as one string
 * ("AADSTS70020", "5.7.139"): it is read into its tagged form, so old images load without a migration step.
 */
function storedLastError(v: unknown): LastError | null {
  if (!isObject(v) || typeof v.reason !== 'string') return null;
  return { reason: v.reason, code: storedCode(v.code), reply: typeof v.reply === 'string' ? v.reply : null };
}

/**
 * The snapshot a printer without a usable stored one starts in: ready when the settings are complete; basic with its
 * sealed password sends at once (a firmware-1 printer after the update: its password was migrated, sealed).
 */
export function snapshotFromSettings(smtp: SmtpSettings, hasSecret: (name: string) => boolean): Snapshot {
  const method = sendPathOf(lifecycleSettings(smtp, hasSecret));
  return machine.resolveState({
    value: method === null ? 'unconfigured' : method === 'basic' ? { signedIn: 'authorized' } : 'ready',
    context: { ...initialContext(), account: method === null ? null : smtp.authUsername.trim(), method },
  });
}

/** The first event after a restore: what the clock says of the access deadline, and what the NVRAM found of the key. */
export function powerCycleEvent(accessDeadlinePassed: boolean, nvram: Pick<BootInfo, 'keyChanged'>): PowerCycleEvent {
  return { type: 'POWER_CYCLE', accessDeadlinePassed, ...(nvram.keyChanged ? { keyChanged: true } : {}) };
}

/**
 * Sealed secrets this device's key cannot open will never open again (the key they were sealed with is gone): the
 * boot's first write drops them, so that the next boot does not find the same key change again and send a printer
 * that has signed in anew back to reauthRequired. Undefined when there is nothing to drop.
 */
export function discardUnopenableSecrets(names: readonly string[], at: number): ((draft: NvramData) => void) | undefined {
  if (names.length === 0) return undefined;
  return (draft) => {
    for (const name of names) delete draft.secrets[name];
    draft.eventLog.push({
      at,
      kind: 'nvram.secrets-discarded',
      message: `discarded ${names.length} sealed secret(s) the device key cannot open: ${names.join(', ')}`,
      data: { reason: 'device-key-changed', secrets: [...names] },
    });
  };
}

/** The event-log line of a boot that did not restore a snapshot. */
export function freshBootMessage(hadSnapshot: boolean, state: LeafState): string {
  return hadSnapshot ? `stored state was unreadable; started in ${state} from the settings` : `first boot of the OAuth feature: ${state}`;
}

/** The boot report: the NVRAM's view of the image, and the runtime's of the snapshot and its boot steps. */
export function bootReport(args: {
  at: number;
  nvram: BootInfo;
  /** 'restored', 'unreadable' (a stored snapshot that did not fit), or 'none' (first boot of the feature). */
  snapshot: 'restored' | 'unreadable' | 'none';
  stateBefore: LeafState | null;
  stateAfter: LeafState;
  transitions: TransitionNotice[];
  /** The runtime's own findings (e.g. spool-reconciled). */
  extra?: BootReason[];
}): BootReport {
  const reasons: BootReason[] = [];
  const n = args.nvram;
  // The NVRAM's own coded findings (bank-invalid, bank-erased, no-valid-bank, image-lost, device-key-changed).
  for (const f of n.findings) reasons.push({ code: f.code, detail: f.message });
  if (n.migratedFrom !== null) reasons.push({ code: 'migrated', detail: `migrated from firmware ${n.migratedFrom}`, data: { from: n.migratedFrom } });
  if (args.snapshot === 'none') reasons.push({ code: 'first-boot', detail: 'first boot of the OAuth feature' });
  if (args.snapshot === 'unreadable') reasons.push({ code: 'snapshot-unreadable', detail: 'stored state was unreadable; started from the settings' });
  const extra = args.extra ?? [];
  reasons.push(...extra);
  const outcome = n.recovered || n.findings.length > 0 || args.snapshot === 'unreadable' || extra.length > 0 ? 'recovered' : args.snapshot === 'restored' ? 'restored' : 'fresh';
  return {
    at: args.at,
    outcome,
    bank: n.bank,
    seq: n.seq,
    migratedFrom: n.migratedFrom,
    stateBefore: args.stateBefore,
    stateAfter: args.stateAfter,
    transitions: args.transitions,
    reasons,
  };
}

/** Reasons that mean something went wrong (a warning for the process log, the banner and the panel). */
const INFORMATIONAL_REASONS = new Set(['first-boot', 'migrated']);
export function bootWarnings(report: Pick<BootReport, 'reasons'>): BootReason[] {
  return report.reasons.filter((r) => !INFORMATIONAL_REASONS.has(r.code));
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
