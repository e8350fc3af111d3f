/**
 * Reading an image from outside the device (the CLI): no device key needed, nothing written except by resetImage.
 * Secrets are shown only as their size; a firmware-1 plaintext password is redacted the same way.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { defaultKeyFile, DEVICE_KEY_BYTES, keyId } from './vault.ts';
import { BankStore, describeBank, markErasedBanks, type BankName, type ScanResult } from './banks.ts';
import { NvramDowngradeError } from './errors.ts';
import { nodeIo, type NvramIo } from './io.ts';
import { acquireImageLock } from './lock.ts';
import { checkContentFor, CURRENT_FIRMWARE, factoryDefaults, type DeviceIdentity } from './schema.ts';

export const DEFAULT_FORMAT_CAPACITY = 64 * 1024;

export interface InspectedBank {
  name: BankName;
  seq: number;
  valid: boolean;
  blank: boolean;
  bytes: number;
  writes: number;
  firmwareVersion: number | null;
  error: string | null;
}

export interface ImageInspection {
  file: string;
  banks: InspectedBank[];
  /** Content of the current bank with secrets redacted as "<sealed N bytes>", or null. */
  current: Record<string, unknown> | null;
  currentBank: BankName | null;
  seq: number;
  valid: boolean;
  reason: string | null;
}

/** Scan that accepts newer-firmware content on header+CRC alone (it is reported, not interpreted). */
async function scanImage(file: string, io: NvramIo): Promise<ScanResult | 'missing'> {
  let store: BankStore;
  try {
    store = await BankStore.open(io, file, 'read', DEFAULT_FORMAT_CAPACITY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const scan = await store.scan((fw, content) => (fw > CURRENT_FIRMWARE ? null : checkContentFor(fw, content)));
    markErasedBanks(scan);
    return scan;
  } finally {
    await store.close();
  }
}

function reasonOf(scan: ScanResult): string | null {
  const damaged = scan.banks.filter((b) => !b.valid && (!b.blank || b.error !== null));
  if (!scan.current) {
    return damaged.length ? `no valid bank: ${damaged.map(describeBank).join('; ')}` : 'blank image (never written)';
  }
  const notes = damaged.map(describeBank);
  const fw = scan.current.header!.fw;
  if (fw > CURRENT_FIRMWARE) notes.push(`written by firmware ${fw}, newer than this firmware ${CURRENT_FIRMWARE}: it will refuse to boot it`);
  if (fw < CURRENT_FIRMWARE) notes.push(`written by firmware ${fw}: migrates to firmware ${CURRENT_FIRMWARE} on next boot`);
  return notes.length ? notes.join('; ') : null;
}

export function redactSecrets(content: unknown): Record<string, unknown> {
  const copy = structuredClone(content) as Record<string, unknown>;
  const secrets = copy.secrets as Record<string, { ct?: string }> | undefined;
  if (secrets && typeof secrets === 'object') {
    for (const [name, blob] of Object.entries(secrets)) {
      secrets[name] = `<sealed ${Buffer.from(blob?.ct ?? '', 'base64').length} bytes>` as never;
    }
  }
  const smtp = copy.smtp as Record<string, unknown> | undefined; // firmware 1 kept its password in plain text
  if (smtp && typeof smtp.smtpPassword === 'string') {
    smtp.smtpPassword = `<plaintext ${Buffer.byteLength(smtp.smtpPassword)} bytes, firmware 1: sealed on next boot>`;
  }
  return copy;
}

export async function inspectImage(file: string, io: NvramIo = nodeIo): Promise<ImageInspection> {
  const abs = path.resolve(file);
  const scan = await scanImage(abs, io);
  if (scan === 'missing') return { file: abs, banks: [], current: null, currentBank: null, seq: 0, valid: false, reason: `no image file at ${abs}` };
  const wear = (scan.current ?? scan.banks.find((b) => b.header))?.header?.wear;
  const banks = scan.banks.map((b) => ({
    name: b.name,
    seq: b.header?.seq ?? 0,
    valid: b.valid,
    blank: b.blank,
    bytes: b.payloadBytes,
    writes: wear?.[b.name] ?? 0,
    firmwareVersion: b.header?.fw ?? null,
    error: b.error,
  }));
  return {
    file: abs,
    banks,
    current: scan.current ? redactSecrets(scan.current.content) : null,
    currentBank: scan.current?.name ?? null,
    seq: scan.current?.header?.seq ?? 0,
    valid: scan.current !== null,
    reason: reasonOf(scan),
  };
}

/** ok when a valid bank exists. */
export async function verifyImage(file: string, io: NvramIo = nodeIo, keyFile: string = defaultKeyFile(path.resolve(file))): Promise<{ ok: boolean; reason: string | null; bank: BankName | null; seq: number }> {
  const abs = path.resolve(file);
  const scan = await scanImage(abs, io);
  if (scan === 'missing') return { ok: false, reason: `no image file at ${abs}`, bank: null, seq: 0 };
  // OK means a device boots from it with what it last committed, or the write a power cut interrupted (a torn bank:
  // the reason says so). Not OK: no valid bank; a bank erased or zeroed behind the device's back (a silent rollback
  // to older content); a device key beside the image that cannot open its sealed secrets.
  const erased = scan.banks.some((b) => b.blank && b.error !== null);
  const keyProblem = deviceKeyProblem(keyFile, scan);
  const reason = [reasonOf(scan), keyProblem].filter(Boolean).join('; ') || null;
  return { ok: scan.current !== null && !erased && keyProblem === null, reason, bank: scan.current?.name ?? null, seq: scan.current?.header?.seq ?? 0 };
}

/** Whether the key file beside the image can open the current bank's sealed secrets (read only; never creates it). */
function deviceKeyProblem(keyFile: string, scan: ScanResult): string | null {
  let key: Buffer | null = null;
  try {
    key = readFileSync(keyFile);
  } catch {
    key = null;
  }
  if (!scan.current) return key ? `the device key exists (${keyFile}): this printer had booted before, so the image was lost` : null;
  // A key of the wrong size is a fault whatever the image holds: the device replaces it at its next boot.
  if (key && key.length !== DEVICE_KEY_BYTES) return `device key changed: key file ${keyFile} holds ${key.length} bytes, expected ${DEVICE_KEY_BYTES}`;
  // The key the image says it was written under (images of this firmware name it; older ones do not).
  const recorded = (scan.current.content as { deviceKeyId?: unknown }).deviceKeyId;
  if (typeof recorded === 'string') {
    if (!key) return `device key changed: key file ${keyFile} missing; the image was written under device key ${recorded}`;
    if (keyId(key) !== recorded) return `device key changed: the image was written under device key ${recorded}, ${keyFile} holds key ${keyId(key)}`;
  }
  const secrets = Object.values(((scan.current.content as { secrets?: Record<string, { kid?: string }> }).secrets ?? {}));
  if (secrets.length === 0) return null;
  if (!key) return `device key changed: key file ${keyFile} missing, ${secrets.length} sealed secret(s) cannot be opened`;
  const kid = keyId(key);
  const foreign = secrets.filter((s) => s.kid !== kid).length;
  return foreign ? `device key changed: ${foreign} sealed secret(s) were sealed with another key than ${keyFile} (${kid})` : null;
}

/**
 * The unredacted content of the current bank (null when none): for tests and tools that must compare exact
 * content. Secrets stay sealed.
 */
export async function readCommitted(file: string, io: NvramIo = nodeIo): Promise<{ bank: BankName; seq: number; content: unknown } | null> {
  const scan = await scanImage(path.resolve(file), io);
  if (scan === 'missing' || !scan.current) return null;
  return { bank: scan.current.name, seq: scan.current.header!.seq, content: scan.current.content };
}

/**
 * Factory defaults into both banks (two commits, so neither bank keeps old content). Keeps the device identity
 * when the current bank names one; secrets are wiped. Takes the image lock; refuses an image from newer firmware.
 */
export async function resetImage(file: string, opts: { now?: () => number; io?: NvramIo } = {}): Promise<void> {
  const abs = path.resolve(file);
  const io = opts.io ?? nodeIo;
  const now = opts.now ?? Date.now; // CLI entry point: wall time is the right clock here
  const lock = await acquireImageLock(abs);
  try {
    const store = await BankStore.open(io, abs, 'readwrite', DEFAULT_FORMAT_CAPACITY);
    try {
      if (store.created) await io.syncDir(path.dirname(abs));
      const scan = await store.scan((fw, content) => (fw > CURRENT_FIRMWARE ? null : checkContentFor(fw, content)));
      const fw = scan.current?.header?.fw ?? CURRENT_FIRMWARE;
      if (fw > CURRENT_FIRMWARE) throw new NvramDowngradeError(fw, CURRENT_FIRMWARE);
      const device = (scan.current?.content as { device?: DeviceIdentity } | undefined)?.device ?? {
        id: randomUUID(),
        serial: `SIM${randomBytes(5).toString('hex').toUpperCase()}`,
      };
      const data = factoryDefaults(device);
      data.eventLog.push({ at: now(), kind: 'nvram.factory-reset', message: 'factory reset: both banks rewritten with defaults' });
      const payload = Buffer.from(JSON.stringify(data), 'utf8');
      await store.write(payload, CURRENT_FIRMWARE);
      await store.write(payload, CURRENT_FIRMWARE);
    } finally {
      await store.close();
    }
  } finally {
    await lock.release();
  }
}
