/**
 * The lowdb adapter: lowdb's `Low` keeps the committed content in memory, this adapter gives it what printer NVRAM
 * gives and lowdb's JSONFile does not: A/B banks with CRC and sequence numbers, fsync'ed commits, recovery from a
 * torn write, a capacity limit, and a firmware check on read.
 */
import type { Adapter } from 'lowdb';
import type { BankStore, ScanResult } from './banks.ts';
import { NvramCapacityError, NvramDowngradeError } from './errors.ts';
import { checkContentFor, CURRENT_FIRMWARE, type NvramData } from './schema.ts';

export interface NvramAdapterOptions {
  /** Firmware that is booting: newer images are refused. */
  runningFirmware: number;
  /** Payload bytes per bank (the configured limit; the image's slot size may be smaller). */
  capacityBytes: number;
  /** Turns older-firmware content into current content (firmware update). */
  upgrade: (fw: number, content: unknown) => NvramData;
}

export class NvramAdapter implements Adapter<NvramData> {
  /** What the last read() saw, for boot reporting and stats. */
  lastScan: ScanResult | null = null;
  /** Firmware version the last read() migrated from, or null. */
  migratedFrom: number | null = null;

  constructor(
    readonly store: BankStore,
    private readonly options: NvramAdapterOptions,
  ) {}

  /** Effective limit: the configured capacity, but never more than the image's physical slot. */
  capacityBytes(): number {
    return Math.min(this.options.capacityBytes, this.store.slotBytes());
  }

  async read(): Promise<NvramData | null> {
    const running = this.options.runningFirmware;
    // Content from a newer firmware is not ours to judge: only its header and CRC are checked, then it is refused.
    // The bank older than the current one is checked by header and CRC only: see ScanOptions.
    const scan = await this.store.scan((fw, content) => (fw > running ? null : checkContentFor(fw, content)), { olderBanks: 'crc' });
    this.lastScan = scan;
    this.migratedFrom = null;
    if (!scan.current) return null;
    const fw = scan.current.header!.fw;
    if (fw > running) throw new NvramDowngradeError(fw, running);
    if (fw === CURRENT_FIRMWARE) return scan.current.content as NvramData;
    this.migratedFrom = fw;
    return this.options.upgrade(fw, scan.current.content);
  }

  /**
   * One physical bank write. Refuses, writing nothing, when the content does not fit. `payload` is the content's
   * JSON text in UTF-8 when the caller already has it (the Nvram encodes it once per commit, into its own buffer).
   * `whileSyncing`: see BankStore.write.
   */
  async write(data: NvramData, payload: Buffer = Buffer.from(JSON.stringify(data), 'utf8'), whileSyncing?: () => void): Promise<void> {
    const capacity = this.capacityBytes();
    if (payload.length > capacity) throw new NvramCapacityError(payload.length, capacity);
    await this.store.write(payload, CURRENT_FIRMWARE, whileSyncing);
  }
}
