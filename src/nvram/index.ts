/**
 * The printer's NVRAM: a power-safe A/B image under lowdb, sealed secrets, firmware migration.
 * `openNvram` is the only way in; one open instance per image (lock file), writes serialized in-process.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { enableArrayMethods, Immer } from 'immer';
import { Low } from 'lowdb';
import { RealClock } from '../time/clock.ts';
import { NvramAdapter } from './adapter.ts';
import { ContentEncoder, freezeNew, PayloadBuffers, type Encoded, type EncodeWork } from './encoder.ts';
import { BankStore, describeBank, markErasedBanks, type BankName, type BankState, type ScanResult } from './banks.ts';
import { NvramError, NvramInvalidDataError, NvramPrerequisiteError, NvramSecretError } from './errors.ts';
import { nodeIo, type NvramIo } from './io.ts';
import { acquireImageLock, type ImageLock } from './lock.ts';
import { migrateFromV1 } from './migrate.ts';
import {
  CONTENT_PARTS,
  CURRENT_FIRMWARE,
  deepFreeze,
  DEFAULT_EVENT_LOG_LIMIT,
  factoryDefaults,
  JOB_LOG_LIMIT,
  type DeviceIdentity,
  type EventLogEntry,
  type NvramData,
  type NvramDataV1,
  type SealedBlob,
} from './schema.ts';
import { defaultKeyFile, loadOrCreateDeviceKey, replaceDamagedDeviceKey, SecretVault } from './vault.ts';

export * from './errors.ts';
export * from './schema.ts';
export type { NvramIo, NvramFile, WritePhase } from './io.ts';
export { nodeIo } from './io.ts';
export { PayloadBuffers } from './encoder.ts';
export { SMTP_PASSWORD_SECRET } from './migrate.ts';

export const DEFAULT_CAPACITY_BYTES = 64 * 1024;
export const DEFAULT_NVRAM_FILE = 'var/nvram.json';

export interface OpenNvramOptions {
  file: string;
  /** Device key (secure element stand-in). Default: `secure-element.key` next to the image. */
  keyFile?: string;
  /** Payload bytes per bank. Default 64 KiB. */
  capacityBytes?: number;
  /** Firmware that is booting. Default CURRENT_FIRMWARE; an image written by a newer one is refused. */
  firmwareVersion?: number;
  /** Event-log times (pass clock.now). */
  now?: () => number;
  io?: NvramIo;
  eventLogLimit?: number;
  /** Identity written with factory defaults on a blank or unrecoverable image. Default: random. */
  factoryDevice?: DeviceIdentity;
  /** Spare payload buffers shared with other images of this process (a fleet slice). Default: this image's own. */
  payloadBuffers?: PayloadBuffers;
}

/** Secret helpers for use inside update(): staged into the same single commit. */
export interface DraftVault {
  set(name: string, value: string): void;
  delete(name: string): void;
  get(name: string): string | undefined;
  has(name: string): boolean;
}

export interface BootInfo {
  bank: BankName | null;
  seq: number;
  /** Something was wrong with the image (a damaged bank, or no valid bank at all). */
  recovered: boolean;
  reason: string | null;
  migratedFrom: number | null;
  /** Everything the boot found wrong, coded (empty on a clean boot). See BootFindingCode. */
  findings: BootFinding[];
  /** Sealed secrets exist that this device's key cannot open: the key was deleted, replaced or damaged. */
  keyChanged: boolean;
}

export type BootFindingCode =
  /** A bank failed its checks (torn, flipped, truncated); the other bank was used. */
  | 'bank-invalid'
  /** A bank reads as never written although the other bank's wear counters say it was written: zeroed or erased. */
  | 'bank-erased'
  /** No bank is valid: factory defaults. */
  | 'no-valid-bank'
  /** The image is blank although the device key already existed: the image was lost (truncated, erased, replaced). */
  | 'image-lost'
  /** The device key cannot open the sealed secrets (deleted, replaced or truncated key file). */
  | 'device-key-changed';

export interface BootFinding {
  code: BootFindingCode;
  message: string;
}

export interface BankStats {
  name: BankName;
  seq: number;
  valid: boolean;
  bytes: number;
  writes: number;
  firmwareVersion: number | null;
  error: string | null;
}

/**
 * What commits have checked so far (cumulative): parts and collection items serialized and validated, and sealed
 * secrets opened for the plaintext scan. Unchanged parts and secrets are not looked at again; see docs/nvram.md.
 */
export interface CommitWork extends EncodeWork {
  secretsOpened: number;
}

export interface Nvram {
  /** Current committed content, deep-frozen. */
  readonly data: Readonly<NvramData>;
  /**
   * Atomically applies `mutate` to a copy and commits it (one physical bank write). Throws NvramCapacityError,
   * NvramInvalidDataError, NvramSecretError, I/O errors; on any error the committed content is unchanged.
   * Serialized with every other write of this instance. Returns the new data.
   * `after`: durable work elsewhere that this write must follow (a job's spool content before its record). The
   * commit encodes and checks while it runs and writes only once it has resolved; if it rejects, nothing is
   * written and update() rejects with an NvramPrerequisiteError carrying its reason.
   */
  update(mutate: (draft: NvramData, vault: DraftVault) => void, after?: Promise<unknown>): Promise<NvramData>;
  readonly secrets: {
    /** Plaintext, or undefined when absent or unreadable (wrong/missing key: the device treats it as "no token"). */
    get(name: string): string | undefined;
    /** True when the secret exists and opens with this device's key. */
    has(name: string): boolean;
    /** Seals and commits at once (one write through update()). */
    set(name: string, value: string): Promise<void>;
    delete(name: string): Promise<void>;
    /**
     * Sealed secrets this device cannot open, with the reason. `lost`: the device key is usable and the blob does not
     * open with it (sealed with another key, or damaged), so it never will; false when the key itself cannot be read.
     */
    unreadable(): { name: string; reason: string; lost: boolean }[];
  };
  readonly boot: BootInfo;
  stats(): { file: string; capacityBytes: number; banks: BankStats[]; work: CommitWork };
  close(): Promise<void>;
}

const MIN_SECRET_SCAN_LENGTH = 8;
const LIST_PARTS = Object.entries(CONTENT_PARTS).filter(([, rule]) => rule.kind === 'list').map(([name]) => name);

export async function openNvram(opts: OpenNvramOptions): Promise<Nvram> {
  const file = path.resolve(opts.file);
  const capacityBytes = opts.capacityBytes ?? DEFAULT_CAPACITY_BYTES;
  if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 1024) throw new RangeError(`capacityBytes must be an integer >= 1024, got ${capacityBytes}`);
  const eventLogLimit = opts.eventLogLimit ?? DEFAULT_EVENT_LOG_LIMIT;
  if (!Number.isSafeInteger(eventLogLimit) || eventLogLimit < 1) throw new RangeError(`eventLogLimit must be a positive integer, got ${eventLogLimit}`);
  const runningFirmware = opts.firmwareVersion ?? CURRENT_FIRMWARE;
  const now = opts.now ?? (() => new RealClock().now());
  const io = opts.io ?? nodeIo;

  // The key file is not part of the image (and its creation is race-safe on its own): load it while the lock is taken.
  const keyFile = opts.keyFile ?? defaultKeyFile(file);
  const [locked, loaded] = await Promise.allSettled([acquireImageLock(file), loadOrCreateDeviceKey(keyFile)]);
  if (locked.status === 'rejected') throw locked.reason;
  const lock = locked.value;
  let store: BankStore | null = null;
  try {
    if (loaded.status === 'rejected') throw loaded.reason;
    // Replaced only now, under the image's lock: a second opener that lost the lock never touches the key file.
    const key = !loaded.value.ok && loaded.value.damaged ? await replaceDamagedDeviceKey(keyFile, loaded.value.reason) : loaded.value;
    const vault = new SecretVault(key);
    store = await BankStore.open(io, file, 'readwrite', capacityBytes);
    if (store.created) await io.syncDir(path.dirname(file));
    const adapter = new NvramAdapter(store, {
      runningFirmware,
      capacityBytes,
      upgrade: (fw, content) => {
        if (fw === 1) return migrateFromV1(content as NvramDataV1, vault, now());
        throw new NvramError('nvram_unsupported_firmware', `no migration from firmware ${fw}`);
      },
    });
    const low = new Low<NvramData>(adapter, placeholder());
    await low.read(); // throws NvramDowngradeError before anything is written
    if (runningFirmware !== CURRENT_FIRMWARE) {
      throw new NvramError('nvram_unsupported_firmware', `this build is firmware ${CURRENT_FIRMWARE}; it cannot run as firmware ${runningFirmware}`);
    }
    const nvram = new NvramInstance(file, low, adapter, vault, lock, now, eventLogLimit, opts.payloadBuffers);
    await nvram.decideBoot(adapter.lastScan!, () => opts.factoryDevice ?? randomDevice(), key.ok && !key.created, key.ok ? (key.replaced ?? null) : null);
    return nvram;
  } catch (err) {
    await store?.close().catch(() => {});
    // The first boot failed before its format was durable (a failing disk): the key it made seals nothing. Left
    // behind, it would make the next boot call the still blank image lost. The image file this boot created goes
    // with it: the format's writes may read back although their fsync failed, and a formatted image without the
    // key it names would boot as "device key changed".
    const firstBoot = loaded.status === 'fulfilled' && loaded.value.ok && loaded.value.created;
    if (firstBoot && !store?.current()) {
      if (store?.created) await rm(file, { force: true }).catch(() => {});
      await rm(keyFile, { force: true }).catch(() => {});
    }
    await lock.release().catch(() => {});
    throw err;
  }
}

/**
 * The Immer the NVRAM drafts with. Its array-methods plugin applies push, splice, filter and find to the draft's copy
 * in one step, where a plain proxy traps every index and the length one by one (a commit appends to a 200-item log
 * at every transition). The plugin registry is immer's own, process-wide and idempotent: enabling it twice is a no-op.
 */
function draftingImmer(): Immer {
  enableArrayMethods();
  return new Immer({ autoFreeze: false });
}

function placeholder(): NvramData {
  return factoryDefaults({ id: 'unset', serial: '' });
}

function randomDevice(): DeviceIdentity {
  return { id: randomUUID(), serial: `SIM${randomBytes(5).toString('hex').toUpperCase()}` };
}

class NvramInstance implements Nvram {
  boot: BootInfo = { bank: null, seq: 0, recovered: false, reason: null, migratedFrom: null, findings: [], keyChanged: false };
  /** Drafts share every part the mutator does not touch with the committed content (no deep copy per update). */
  private readonly immer = draftingImmer();
  private readonly encoder: ContentEncoder;
  /**
   * The scan's needle (JSON-escaped plaintext in UTF-8, or null: too short to scan for, or the blob does not open
   * here) per committed blob and name, so a commit opens only blobs that are new. Kept in memory only, like an opened
   * secret.
   */
  private readonly needles = new WeakMap<object, { name: string; needle: Buffer | null }>();
  private secretsOpened = 0;
  /** The bounded lists, kept to their newest items at every commit. */
  private readonly listLimits: Readonly<Record<string, number>>;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The committed content's draft base, and a draft of it not handed out yet (see prepareNext). Kept until the end
   * of the event-loop turn: back-to-back commits use them, and a printer that commits now and then does not hold a
   * copy of its lists in between (a fleet runs thousands of printers in one process).
   */
  private nextBase: DraftBase | null = null;
  private nextDraft: PreparedDraft | null = null;
  private dropping = false;
  /** What prepareNext made for the commit under way: becomes nextBase/nextDraft when its write is durable. */
  private prepared: PreparedDraft | null = null;
  private closed = false;
  private banks: Record<BankName, BankStats>;

  constructor(
    private readonly file: string,
    private readonly low: Low<NvramData>,
    private readonly adapter: NvramAdapter,
    private readonly vault: SecretVault,
    private readonly lock: ImageLock,
    private readonly now: () => number,
    private readonly eventLogLimit: number,
    payloadBuffers: PayloadBuffers | undefined,
  ) {
    this.encoder = new ContentEncoder(payloadBuffers);
    this.listLimits = { eventLog: eventLogLimit, jobLog: JOB_LOG_LIMIT };
    const scan = adapter.lastScan!;
    this.banks = { A: bankStats(scan.banks[0]), B: bankStats(scan.banks[1]) };
    const wear = (scan.current ?? scan.banks.find((b) => b.header))?.header?.wear;
    if (wear) for (const n of ['A', 'B'] as const) this.banks[n].writes = wear[n];
  }

  /**
   * Decides what the device boots with; commits only for a blank image (format) or a firmware migration.
   * `newIdentity` is called only when the boot falls back to factory defaults (random bytes are not free).
   */
  async decideBoot(scan: ScanResult, newIdentity: () => DeviceIdentity, keyExisted: boolean, keyReplaced: string | null): Promise<void> {
    // The scan checked the current bank's content whole: commits start from it.
    if (scan.current && this.low.data === scan.current.content) this.encoder.adopt(this.low.data);
    // A replaced key had existed (damaged): a blank image beside it was lost, not new.
    await this.decideImage(scan, newIdentity, keyExisted || keyReplaced !== null);
    this.checkKey(keyReplaced);
    deepFreeze(this.low.data);
  }

  /**
   * Sealed secrets that the key cannot open, or a damaged key file replaced at this boot, mean the key changed: say
   * so at boot, not at the first send.
   */
  private checkKey(replaced: string | null): void {
    const unreadable = this.secrets.unreadable();
    const recorded = this.low.data.deviceKeyId;
    const kid = this.vault.kid;
    // The image names the key it was written under: a key deleted or swapped shows even with nothing sealed.
    const swapped = recorded !== undefined && kid !== null && recorded !== kid && replaced === null && unreadable.length === 0
      ? `the image was written under device key ${recorded}, the key file holds key ${kid}`
      : null;
    if (unreadable.length === 0 && replaced === null && swapped === null) return;
    const parts = [...(replaced ? [replaced] : []), ...(swapped ? [swapped] : []), ...unreadable.map((u) => `${u.name}: ${u.reason}`)];
    const message = `device key changed: ${parts.join('; ')}`;
    this.boot.keyChanged = true;
    this.boot.recovered = true;
    this.boot.findings.push({ code: 'device-key-changed', message });
    this.boot.reason = this.boot.reason ? `${this.boot.reason}; ${message}` : message;
    this.low.data = withEventLogCopy(this.low.data);
    this.appendEvent(this.low.data, 'nvram.recovered', message, { reason: 'device-key-changed', secrets: unreadable.map((u) => u.name) });
  }

  private async decideImage(scan: ScanResult, newIdentity: () => DeviceIdentity, keyExisted: boolean): Promise<void> {
    // A bank that reads as blank although the valid bank's wear counters say it was written was erased (a zeroed
    // header): without this the fallback would be silent.
    const erased = markErasedBanks(scan);
    const damaged = scan.banks.filter((b) => !b.valid && (!b.blank || erased.includes(b)));
    const migratedFrom = this.adapter.migratedFrom;
    if (scan.current) {
      const reason = damaged.length ? `${damaged.map(describeBank).join('; ')}; booted from bank ${scan.current.name} seq ${scan.current.header!.seq}` : null;
      const findings: BootFinding[] = damaged.map((b) => ({ code: erased.includes(b) ? 'bank-erased' : 'bank-invalid', message: describeBank(b) }));
      this.boot = { bank: scan.current.name, seq: scan.current.header!.seq, recovered: damaged.length > 0, reason, migratedFrom, findings, keyChanged: false };
      if (migratedFrom !== null) {
        // Firmware update: commit the migrated content into both banks, so the firmware-1 bank (with its plaintext
        // password) does not linger as the "older" bank. A cut between the two leaves one valid migrated bank.
        await this.commitData(this.low.data);
        await this.commitData(structuredClone(this.low.data));
        this.boot.bank = this.adapter.store.current()!.bank;
        this.boot.seq = this.adapter.store.current()!.seq;
      } else if (scan.banks.some((b) => b.valid && b.header!.fw < CURRENT_FIRMWARE)) {
        // A migration was cut between its two commits: the older bank still holds firmware-1 content (plaintext
        // password). Overwrite it now.
        await this.commitData(structuredClone(this.low.data));
        this.boot.bank = this.adapter.store.current()!.bank;
        this.boot.seq = this.adapter.store.current()!.seq;
      } else if (reason) {
        this.low.data = withEventLogCopy(this.low.data);
        this.appendEvent(this.low.data, 'nvram.recovered', reason, { damaged: damaged.map((b) => b.name), reasons: findings.map((f) => f.code) });
      }
    } else if (damaged.length === 0) {
      // Blank image: first power-on — unless the device key was already there, which only a printer that had booted
      // before has: then the image was lost (truncated to nothing, erased), and that is said, not passed off as new.
      const data = factoryDefaults(newIdentity());
      const lost = keyExisted;
      const reason = lost ? `NVRAM image blank (${scan.fileSize} bytes) although the device key already existed: the image was lost; booted with factory defaults as a new identity` : null;
      if (lost) this.appendEvent(data, 'nvram.recovered', reason!, { reason: 'image-lost', fileSize: scan.fileSize });
      else this.appendEvent(data, 'nvram.formatted', 'blank NVRAM image: formatted with factory defaults');
      await this.commitData(data);
      const head = this.adapter.store.current()!;
      this.boot = { bank: head.bank, seq: head.seq, recovered: lost, reason, migratedFrom: null, findings: lost ? [{ code: 'image-lost', message: reason! }] : [], keyChanged: false };
    } else {
      // Nothing valid. Boot on factory defaults without touching the image; the next update() writes them.
      const reason = `no valid bank (${damaged.map(describeBank).join('; ')}): booted with factory defaults`;
      const data = factoryDefaults(newIdentity());
      this.appendEvent(data, 'nvram.recovered', reason, { banks: scan.banks.map((b) => ({ bank: b.name, error: b.error })) });
      this.low.data = data;
      this.boot = { bank: null, seq: 0, recovered: true, reason, migratedFrom: null, findings: [{ code: 'no-valid-bank', message: reason }], keyChanged: false };
    }
  }

  get data(): Readonly<NvramData> {
    return this.low.data;
  }

  readonly secrets: Nvram['secrets'] = {
    get: (name) => this.openSecret(this.low.data, name),
    has: (name) => this.openSecret(this.low.data, name) !== undefined,
    set: async (name, value) => {
      await this.update((_, vault) => vault.set(name, value));
    },
    delete: async (name) => {
      await this.update((_, vault) => vault.delete(name));
    },
    unreadable: () => {
      const out: { name: string; reason: string; lost: boolean }[] = [];
      for (const [name, blob] of Object.entries(this.low.data.secrets)) {
        try {
          this.vault.open(name, blob);
        } catch (err) {
          out.push({ name, reason: err instanceof NvramSecretError ? err.reason : String(err), lost: this.vault.available });
        }
      }
      return out;
    },
  };

  update(mutate: (draft: NvramData, vault: DraftVault) => void, after?: Promise<unknown>): Promise<NvramData> {
    after?.catch(() => {}); // a prerequisite that fails before this commit's turn is answered by the commit, not unhandled
    return this.enqueue(async () => {
      if (this.closed) throw new NvramError('nvram_closed', 'NVRAM is closed');
      const base = this.draftBase();
      const draft = this.takeDraft(base);
      const vault = new StagingVault(this.vault, draft);
      const returned: unknown = mutate(draft, vault);
      // An async mutator would change the draft after the commit: refuse it instead of losing writes silently.
      if (typeof (returned as PromiseLike<unknown> | undefined)?.then === 'function') throw new TypeError('update(): the mutator must be synchronous');
      const next: Record<string, unknown> = { ...this.immer.finishDraft(draft) };
      for (const key of Object.keys(next)) {
        const value = next[key];
        if (!Array.isArray(value)) continue;
        const at = base.copies.indexOf(value);
        if (at >= 0) next[key] = base.originals[at];
      }
      return this.commitData(next as unknown as NvramData, vault.sealed, after);
    });
  }

  stats() {
    const { parts, items } = this.encoder.work;
    const work = { parts: { ...parts }, items: { ...items }, secretsOpened: this.secretsOpened };
    return { file: this.file, capacityBytes: this.adapter.capacityBytes(), banks: [{ ...this.banks.A }, { ...this.banks.B }], work };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.enqueue(async () => {
      this.closed = true;
    });
    // Every write is done, so the handle and the lock can go together. After a power cut the handle is already dead.
    await Promise.all([this.adapter.store.close().catch(() => {}), this.lock.release()]);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => {});
    return run;
  }

  /** The draft base of the committed content (made while the last commit's fsync ran, or now). */
  private draftBase(): DraftBase {
    if (this.nextBase?.data !== this.low.data) this.nextBase = makeDraftBase(this.low.data);
    return this.nextBase;
  }

  /** A draft of `base`: the one made while the last commit's fsync ran (each is used once), or a new one. */
  private takeDraft(base: DraftBase): NvramData {
    const made = this.nextDraft;
    this.nextDraft = null;
    return made?.base === base ? made.draft : this.immer.createDraft(base.base);
  }

  /** Lets the draft base and draft go at the end of this event-loop turn (see nextBase). */
  private dropDraftsSoon(): void {
    if (this.dropping) return;
    this.dropping = true;
    setImmediate(() => {
      this.dropping = false;
      this.nextBase = null;
      this.nextDraft = null;
    });
  }

  /**
   * What need not precede the write, done while its fsync runs: the freeze of what the commit parsed anew, and the
   * next update's draft base and draft. Published (by commitData) only once the write is durable; a failed write
   * leaves them unused. Never throws: all of it would be done again by the next update anyway.
   */
  private prepareNext(encoded: Encoded): void {
    freezeNew(encoded);
    try {
      const base = makeDraftBase(encoded.data);
      this.prepared = { base, draft: this.immer.createDraft(base.base) };
    } catch {
      this.prepared = null;
    }
  }

  /**
   * Normalizes (bounds, JSON round trip), validates, and writes one bank. The encoder serializes, normalizes and
   * checks only the parts and items that changed; the bytes it returns are the payload and what the secret scan
   * reads. Memory changes only after the write is durable. `sealed`: plaintexts sealed by this update, by name and
   * ciphertext (no need to open what was just sealed).
   */
  private async commitData(next: NvramData, sealed: ReadonlyMap<string, string> = new Map(), after?: Promise<unknown>): Promise<NvramData> {
    const root: Record<string, unknown> = { ...next };
    // Every bank names the key it was written under (checked at the next boot and by `nvram verify`).
    if (this.vault.kid !== null) root.deviceKeyId = this.vault.kid;
    const encoded = this.encoder.encode(root, this.listLimits);
    if ('problem' in encoded) throw new NvramInvalidDataError(encoded.problem);
    this.refusePlaintextSecrets(encoded.data, encoded.payload, sealed);
    if (after) {
      // The work above overlapped the prerequisite's wait for its disk; the bank is written only once it is done.
      try {
        await after;
      } catch (err) {
        throw new NvramPrerequisiteError(err);
      }
    }
    this.prepared = null;
    try {
      // Not low.write(): that reads low.data, which would publish the content before it is durable.
      await this.adapter.write(encoded.data, encoded.payload, () => this.prepareNext(encoded));
    } catch (err) {
      const target = this.adapter.store.current()?.bank === 'A' ? 'B' : 'A';
      this.banks[target] = { ...this.banks[target], valid: false, error: `write interrupted: ${(err as Error).message}` };
      throw err;
    }
    if (encoded.unfrozen.length > 0) this.prepareNext(encoded); // an io that did not call back: do it now
    this.encoder.committed(encoded);
    this.low.data = encoded.data;
    const prepared = this.prepared as PreparedDraft | null; // set by the callback while the fsync ran
    this.nextBase = prepared?.base ?? null;
    this.nextDraft = prepared;
    this.prepared = null;
    this.dropDraftsSoon();
    const head = this.adapter.store.current()!;
    this.banks[head.bank] = { name: head.bank, seq: head.seq, valid: true, bytes: head.length, writes: head.wear[head.bank], firmwareVersion: head.fw, error: null };
    for (const n of ['A', 'B'] as const) this.banks[n].writes = head.wear[n];
    return encoded.data;
  }

  /**
   * Guard for the house rule: no secret's plaintext may appear anywhere in the image. Every secret's plaintext is
   * searched for in the whole payload at every commit (a search is cheap); only blobs that are new are opened.
   */
  private refusePlaintextSecrets(data: NvramData, payload: Buffer, sealed: ReadonlyMap<string, string>): void {
    for (const [name, blob] of Object.entries(data.secrets)) {
      const needle = this.needleOf(name, blob, sealed);
      // The payload is the text's UTF-8, which holds the needle's UTF-8 exactly where the text holds the needle.
      if (needle !== null && payload.includes(needle)) {
        throw new NvramInvalidDataError(`the plaintext of secret "${name}" appears in the content`);
      }
    }
  }

  private needleOf(name: string, blob: SealedBlob, sealed: ReadonlyMap<string, string>): Buffer | null {
    const known = this.needles.get(blob);
    if (known?.name === name) return known.needle;
    let plain = sealed.get(sealedKey(name, blob));
    if (plain === undefined) {
      this.secretsOpened++;
      try {
        plain = this.vault.open(name, blob);
      } catch {
        plain = ''; // does not open with this key: nothing to search for
      }
    }
    const needle = plain.length >= MIN_SECRET_SCAN_LENGTH ? Buffer.from(JSON.stringify(plain).slice(1, -1), 'utf8') : null;
    this.needles.set(blob, { name, needle });
    return needle;
  }

  private openSecret(data: NvramData, name: string): string | undefined {
    return openSecretIn(this.vault, data, name);
  }

  private appendEvent(data: NvramData, kind: string, message: string, extra?: Record<string, unknown>): void {
    const entry: EventLogEntry = { at: this.now(), kind, message };
    if (extra) entry.data = extra;
    data.eventLog.push(entry);
  }
}

/**
 * What immer drafts from: the committed content with its lists copied. V8 copies a frozen array on a slow path
 * (tens of times a plain one) and immer copies a list at its first change; the copies are only read (immer never
 * writes its base, so one base serves every update until the next commit), and an untouched copy is mapped back to
 * the committed list, which the encoder then reuses.
 */
interface DraftBase {
  data: NvramData;
  base: NvramData;
  copies: unknown[][];
  originals: unknown[];
}

/** An immer draft of a draft base, made ahead (each is handed to one update). */
interface PreparedDraft {
  base: DraftBase;
  draft: NvramData;
}

function makeDraftBase(data: NvramData): DraftBase {
  const parts = data as unknown as Record<string, unknown>;
  const base: Record<string, unknown> = { ...parts };
  const copies: unknown[][] = [];
  const originals: unknown[] = [];
  for (const key of LIST_PARTS) {
    const list = parts[key];
    if (!Array.isArray(list)) continue;
    const copy = [...(list as unknown[])];
    base[key] = copy;
    copies.push(copy);
    originals.push(list);
  }
  return { data, base: base as unknown as NvramData, copies, originals };
}

/**
 * The vault a mutator sees: seals into the draft and remembers what it sealed (no need to open it for the scan). A
 * class, not an object of closures: one update allocates one small object.
 */
class StagingVault implements DraftVault {
  readonly sealed = new Map<string, string>();
  constructor(
    private readonly vault: SecretVault,
    private readonly draft: NvramData,
  ) {}
  set(name: string, value: string): void {
    const blob = this.vault.seal(name, value);
    this.sealed.set(sealedKey(name, blob), value);
    this.draft.secrets[name] = blob;
  }
  delete(name: string): void {
    delete this.draft.secrets[name];
  }
  get(name: string): string | undefined {
    return openSecretIn(this.vault, this.draft, name);
  }
  has(name: string): boolean {
    return openSecretIn(this.vault, this.draft, name) !== undefined;
  }
}

/** Plaintext of a sealed secret in `data`, or undefined when absent or it does not open with this key. */
function openSecretIn(vault: SecretVault, data: NvramData, name: string): string | undefined {
  const blob = Object.hasOwn(data.secrets, name) ? data.secrets[name] : undefined;
  if (!blob) return undefined;
  try {
    return vault.open(name, blob);
  } catch (err) {
    if (err instanceof NvramSecretError) return undefined;
    throw err;
  }
}

function sealedKey(name: string, blob: SealedBlob): string {
  return `${name}\0${blob.iv}\0${blob.ct}`;
}

/** The data with its own event log array (to append a boot finding); every other part stays shared. */
function withEventLogCopy(data: NvramData): NvramData {
  return { ...data, eventLog: [...data.eventLog] };
}

function bankStats(b: BankState): BankStats {
  return {
    name: b.name,
    seq: b.header?.seq ?? 0,
    valid: b.valid,
    bytes: b.payloadBytes,
    writes: b.header?.wear[b.name] ?? 0,
    firmwareVersion: b.header?.fw ?? null,
    error: b.blank ? null : b.error,
  };
}
