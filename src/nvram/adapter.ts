/**
 * The lowdb adapter: lowdb's `Low` keeps the committed content in memory, this adapter gives it what printer NVRAM
 * gives and lowdb's JSONFile does not: A/B banks with CRC and sequence numbers, fsync'ed commits, recovery from a
 * torn write, a capacity limit, and a firmware check on read.
 */
import type { Adapter } from 'lowdb';
import type { BankStore, ScanResult } from './banks.ts';
import { NvramCapacityError, NvramDowngradeError } from './errors.ts';
import { checkContentFor, CURRENT_FIRMWARE, type NvramData } from './schema.ts';
import { PayloadBuffers } from './payloadBuffers.ts';

export interface NvramAdapterOptions {
  /** Firmware that is booting: newer images are refused. */
  runningFirmware: number;
  /** Payload bytes per bank (the configured limit; the image's slot size may be smaller). */
  capacityBytes: number;
  /** Turns older-firmware content into current content (firmware update). */
  upgrade: (fw: number, content: unknown) => NvramData;
  /** Where commits take their payload buffer from (shared by a fleet slice's printers). Default: one of its own. */
  payloadBuffers?: PayloadBuffers;
}

export class NvramAdapter implements Adapter<NvramData> {
  /** What the last read() saw, for boot reporting and stats. */
  lastScan: ScanResult | null = null;
  /** Firmware version the last read() migrated from, or null. */
  migratedFrom: number | null = null;

  /**
   * The commits' payload buffers (only the bytes just written are handed out): a file write has copied the bytes
   * when it resolves. A buffer this size allocated per commit cost more than encoding into it (a backing store per
   * commit for the young GC to sweep).
   */
  private readonly payloadBuffers: PayloadBuffers;

  constructor(
    readonly store: BankStore,
    private readonly options: NvramAdapterOptions,
  ) {
    this.payloadBuffers = options.payloadBuffers ?? new PayloadBuffers(1);
  }

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
   * JSON text when the caller already has it (the Nvram encodes once per commit).
   */
  async write(data: NvramData, payload: string = JSON.stringify(data)): Promise<void> {
    const capacity = this.capacityBytes();
    const length = Buffer.byteLength(payload, 'utf8');
    if (length > capacity) throw new NvramCapacityError(length, capacity);
    const buffer = this.payloadBuffers.take(length, capacity);
    try {
      buffer.write(payload, 0, length, 'utf8');
      await this.store.write(buffer.subarray(0, length), CURRENT_FIRMWARE);
    } finally {
      this.payloadBuffers.give(buffer);
    }
  }
}
