/**
 * The image as a flash part with two bank slots, A and B (see docs/nvram.md):
 *
 *   [0, 256)            header A   (JSON, space padded, newline at byte 255)
 *   [256, 512)          header B
 *   [512, 512+slot)     payload A  (JSON text of the content)
 *   [512+slot, …)       payload B
 *
 * A header is the commit record of its bank: it names the payload's offset, length and CRC-32, the bank's sequence
 * number, the firmware that wrote it and the wear counters of both banks; it carries its own CRC so a torn header
 * is recognised. A write goes to the bank that is not the current one: payload, header, then ONE fsync. Each bank
 * validates itself (header CRC, payload CRC), so a torn or reordered write leaves a bank that fails its checks, and
 * the reader, which takes the valid bank with the highest sequence number, falls back to the other bank: only the
 * bank being written is ever at risk.
 */
import { crc32 } from 'node:zlib';
import type { NvramFile, NvramIo } from './io.ts';

export type BankName = 'A' | 'B';
export const BANK_NAMES: readonly BankName[] = ['A', 'B'];
export const HEADER_SIZE = 256;
export const PAYLOAD_START = 2 * HEADER_SIZE;
export const MAGIC = 'MFP-NVRAM';
export const LAYOUT_VERSION = 1;

export interface BankHeader {
  magic: typeof MAGIC;
  layout: number;
  bank: BankName;
  seq: number;
  /** Firmware version that wrote this bank. */
  fw: number;
  offset: number;
  length: number;
  /** Size of each payload slot in this image (fixed when the image was formatted). */
  slot: number;
  crc: number;
  /** Committed writes per bank, as of this commit (so a damaged header loses no count). */
  wear: Record<BankName, number>;
  /**
   * How far into the slot older bytes may still lie: the payload, plus the older tail this write zero-filled in case
   * that zero fill did not reach the disk (one fsync covers payload, tail and header, in any order). Absent in
   * headers written before the single-fsync protocol, whose tail was always durable before the header: `length`.
   */
  extent?: number;
}

export interface BankState {
  name: BankName;
  header: BankHeader | null;
  /** Header and payload intact and the content passed validation. */
  valid: boolean;
  /** Never written (zeros or beyond end of file): not an error. */
  blank: boolean;
  error: string | null;
  /** Parsed payload when valid and its content was checked. */
  content: unknown;
  payloadBytes: number;
  /**
   * Whether the content was parsed and checked. False only for a bank older than the current one scanned with
   * `olderBanks: 'crc'`: its header and payload CRC are intact (so `valid`), its content was not looked at.
   */
  contentChecked: boolean;
}

export interface ScanOptions {
  /**
   * 'full' (default): parse and check the content of every bank whose CRC is intact. 'crc': stop parsing once the
   * current bank is found; older banks are checked by header and CRC only. Boot uses 'crc': the older bank's
   * content is never used unless the newer bank fails (then it is checked), and the next commit overwrites it.
   */
  olderBanks?: 'full' | 'crc';
}

export interface ScanResult {
  fileSize: number;
  banks: [BankState, BankState];
  /** Valid bank with the highest seq, or null. */
  current: BankState | null;
}

/** Decides whether parsed content is acceptable for the firmware that wrote it (null = fine). */
export type ContentCheck = (fw: number, content: unknown) => string | null;

const isUint = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

export function headerOffset(bank: BankName): number {
  return bank === 'A' ? 0 : HEADER_SIZE;
}

export function payloadOffset(bank: BankName, slot: number): number {
  return bank === 'A' ? PAYLOAD_START : PAYLOAD_START + slot;
}

/**
 * The header's JSON, field by field in the one order decodeHeader's CRC check re-serializes (every field is a
 * number but magic and bank, which are fixed words): a template, not a JSON.stringify of an object per commit. The
 * body is written into the slot first and its CRC taken from those bytes, then `,"hcrc":…}` put over its last brace.
 * `into`: the slot's bytes to fill (a store reuses one per commit; a file write has copied it when it resolves).
 */
export function encodeHeader(h: BankHeader, into: Buffer = Buffer.allocUnsafe(HEADER_SIZE)): Buffer {
  for (const n of [h.layout, h.seq, h.fw, h.offset, h.length, h.slot, h.crc, h.wear.A, h.wear.B, h.extent ?? 0]) {
    if (!Number.isSafeInteger(n)) throw new TypeError(`bank header field is not an integer: ${String(n)}`);
  }
  const extent = h.extent === undefined ? '' : `,"extent":${h.extent}`;
  const body = `{"magic":${JSON.stringify(h.magic)},"layout":${h.layout},"bank":${JSON.stringify(h.bank)},"seq":${h.seq},"fw":${h.fw},"offset":${h.offset},"length":${h.length},"slot":${h.slot},"crc":${h.crc},"wear":{"A":${h.wear.A},"B":${h.wear.B}}${extent}}`;
  if (body.length > HEADER_SIZE - 1) throw headerTooLong(`${body.slice(0, -1)},"hcrc":${crc32(body)}}`.length);
  into.fill(0x20, 0, HEADER_SIZE - 1);
  into[HEADER_SIZE - 1] = 0x0a;
  const bodyBytes = into.write(body, 0, 'latin1');
  const tail = `,"hcrc":${crc32(into.subarray(0, bodyBytes))}}`;
  if (bodyBytes - 1 + tail.length > HEADER_SIZE - 1) throw headerTooLong(bodyBytes - 1 + tail.length);
  into.write(tail, bodyBytes - 1, 'latin1');
  return into;
}

/** Parses a header slot; returns the header, 'blank', or a problem. */
export function decodeHeader(raw: Buffer, expected: BankName): BankHeader | 'blank' | string {
  // A written header starts with '{': only a slot that starts with a zero can be all zeros (no scan of 256 bytes).
  if (raw.length === 0 || (raw[0] === 0 && raw.every((b) => b === 0))) return 'blank';
  if (raw.length < HEADER_SIZE) return `header truncated (${raw.length} of ${HEADER_SIZE} bytes)`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8').trimEnd());
  } catch {
    return 'header damaged (not JSON)';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'header damaged (not an object)';
  const { hcrc, ...rest } = parsed as Record<string, unknown>;
  if (hcrc !== crc32(JSON.stringify(rest))) return 'header damaged (header CRC mismatch)';
  const h = rest as Partial<BankHeader>;
  if (h.magic !== MAGIC) return `header has wrong magic ${JSON.stringify(h.magic)}`;
  if (h.layout !== LAYOUT_VERSION) return `header has unknown layout ${String(h.layout)}`;
  if (h.bank !== expected) return `header claims bank ${String(h.bank)} in slot ${expected}`;
  const wear = h.wear as Record<string, unknown> | undefined;
  if (![h.seq, h.fw, h.offset, h.length, h.slot, h.crc, wear?.A, wear?.B].every(isUint)) return 'header has malformed fields';
  if (h.offset !== payloadOffset(expected, h.slot!) || h.length! > h.slot!) return 'header points outside its slot';
  if (h.extent !== undefined && (!isUint(h.extent) || h.extent < h.length! || h.extent > h.slot!)) return 'header has a malformed extent';
  return h as BankHeader;
}

/**
 * Banks that read as never written although the valid bank's wear counters say they were written: erased or
 * zeroed (a silent rollback otherwise). Marks each with the reason in `error` and returns them.
 */
export function markErasedBanks(scan: ScanResult): BankState[] {
  const wear = scan.current?.header?.wear;
  if (!wear) return [];
  const erased = scan.banks.filter((b) => b.blank && wear[b.name] > 0);
  for (const b of erased) b.error = `header blank although bank ${b.name} had been written ${wear[b.name]} times (erased or zeroed)`;
  return erased;
}

export function describeBank(b: BankState): string {
  return `bank ${b.name}: ${b.valid ? `valid, seq ${b.header!.seq}` : b.error ?? (b.blank ? 'blank' : 'invalid')}`;
}

/**
 * One open image file. Not safe for concurrent writes by itself: the Nvram serializes them and the lock file keeps
 * other processes out.
 */
export class BankStore {
  private constructor(
    private readonly file: NvramFile,
    readonly created: boolean,
    private readonly formatSlot: number,
  ) {}

  /** `formatSlot` is the payload slot size used if the image has no valid bank yet. */
  static async open(io: NvramIo, path: string, mode: 'read' | 'readwrite', formatSlot: number): Promise<BankStore> {
    const { file, created } = await io.open(path, mode);
    return new BankStore(file, created, formatSlot);
  }

  /** Highest-seq header whose own CRC is intact, valid bank or not: the source for the next seq and wear counts. */
  private newestHeader: BankHeader | null = null;
  private currentHeader: BankHeader | null = null;
  /** How far into each slot old bytes may lie; a write zero-fills up to there so nothing stale outlives it. */
  private extent: Record<BankName, number | null> = { A: null, B: null };
  /** The commits' header slot, filled anew by each (commits are serialized). */
  private readonly headerBytes = Buffer.alloc(HEADER_SIZE);

  async scan(check: ContentCheck, options: ScanOptions = {}): Promise<ScanResult> {
    const fileSize = await this.file.size();
    // The whole image in one read (two 64 KiB slots at most by default): one trip to the disk instead of four.
    const image = await this.file.read(0, fileSize);
    const banks = BANK_NAMES.map((name) => this.readBank(image, name)) as [BankState, BankState];
    // Newest first: the first bank whose content also passes is the current one.
    let current: BankState | null = null;
    for (const b of banks.filter((x) => x.valid).sort((x, y) => y.header!.seq - x.header!.seq)) {
      if (current && options.olderBanks === 'crc') break;
      Object.assign(b, this.checkContent(image, b, check));
      if (b.valid) current ??= b;
    }
    const headers = banks.map((b) => b.header).filter((h): h is BankHeader => h !== null).sort((x, y) => y.seq - x.seq);
    this.newestHeader = headers[0] ?? null;
    this.currentHeader = current?.header ?? null;
    // A valid bank's header bounds its slot's old bytes. Any other bank may hold a torn write of unknown reach
    // (e.g. a header that reached the disk without its payload): its next write zero-fills the whole slot, once.
    for (const b of banks) this.extent[b.name] = b.valid ? (b.header!.extent ?? b.header!.length) : b.blank ? 0 : null;
    return { fileSize, banks, current };
  }

  /** Header and payload CRC: `valid` here means intact; the content is checked by checkContent(). */
  private readBank(image: Buffer, name: BankName): BankState {
    const fileSize = image.length;
    const state: BankState = { name, header: null, valid: false, blank: false, error: null, content: undefined, payloadBytes: 0, contentChecked: false };
    const decoded = decodeHeader(image.subarray(headerOffset(name), headerOffset(name) + HEADER_SIZE), name);
    if (decoded === 'blank') return { ...state, blank: true };
    if (typeof decoded === 'string') return { ...state, error: decoded };
    state.header = decoded;
    state.payloadBytes = decoded.length;
    if (decoded.offset + decoded.length > fileSize) {
      return { ...state, error: `payload truncated (needs bytes up to ${decoded.offset + decoded.length}, file has ${fileSize})` };
    }
    const payload = image.subarray(decoded.offset, decoded.offset + decoded.length);
    const crc = crc32(payload);
    if (crc !== decoded.crc) return { ...state, error: `payload CRC mismatch (header ${hex(decoded.crc)}, payload ${hex(crc)})` };
    return { ...state, valid: true };
  }

  /** Parses an intact bank's payload and checks it: it stays valid only if the content passes. */
  private checkContent(image: Buffer, b: BankState, check: ContentCheck): Pick<BankState, 'valid' | 'error' | 'content' | 'contentChecked'> {
    const h = b.header!;
    const invalid = (error: string) => ({ valid: false, error, content: undefined, contentChecked: true });
    let content: unknown;
    try {
      content = JSON.parse(image.toString('utf8', h.offset, h.offset + h.length));
    } catch {
      return invalid('payload is not JSON');
    }
    const fwInPayload = (content as { firmwareVersion?: unknown } | null)?.firmwareVersion;
    if (fwInPayload !== h.fw) return invalid(`payload firmwareVersion ${String(fwInPayload)} disagrees with header fw ${h.fw}`);
    const problem = check(h.fw, content);
    if (problem) return invalid(`content invalid: ${problem}`);
    return { valid: true, error: null, content, contentChecked: true };
  }

  /** Size of a payload slot: fixed by the current image, or the format size for a fresh one. */
  slotBytes(): number {
    return this.newestHeader?.slot ?? this.formatSlot;
  }

  /** Header of the bank that counts right now (after scan() or the last write()). */
  current(): BankHeader | null {
    return this.currentHeader;
  }

  /**
   * Commits `payload` into the bank that is not current: payload (and a zero fill of the older tail beyond it),
   * header, one fsync. Only when this resolves is the new content the current one.
   * On any error, or a power cut at any byte in any order, the previous current bank is untouched: the target bank
   * is the only one written, and until all of it is on the disk its header or payload CRC fails, so a reader falls
   * back to the previous bank. A string payload is written as UTF-8. `whileSyncing` (which must not throw) runs once
   * the fsync is under way: CPU work of the caller's that overlaps the wait for the disk.
   */
  async write(payload: Buffer | string, fw: number, whileSyncing?: () => void): Promise<BankHeader> {
    const slot = this.slotBytes();
    const length = typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
    if (length > slot) throw new RangeError(`payload of ${length} bytes exceeds the ${slot}-byte slot`);
    const target: BankName = this.currentHeader?.bank === 'A' ? 'B' : 'A';
    const basis = this.currentHeader ?? this.newestHeader;
    const wear = { A: basis?.wear.A ?? 0, B: basis?.wear.B ?? 0 };
    wear[target] += 1;
    // Zero-fill past the payload over whatever the slot held before (unknown reach: the whole slot), so no stale
    // tail of older content (e.g. a firmware-1 plaintext password) survives in the file.
    const oldExtent = Math.min(slot, this.extent[target] ?? slot);
    const extent = Math.max(length, oldExtent);
    const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    const header: BankHeader = {
      magic: MAGIC,
      layout: LAYOUT_VERSION,
      bank: target,
      seq: (this.newestHeader?.seq ?? 0) + 1,
      fw,
      offset: payloadOffset(target, slot),
      length,
      slot,
      crc: crc32(data),
      wear,
      extent,
    };
    const encoded = encodeHeader(header, this.headerBytes);
    this.extent[target] = extent; // until this write is durable, older bytes may lie this far
    await this.file.write(data, header.offset, 'data');
    // A separate write (not one buffer with the payload): a disk may persist the payload and lose the fill, and the
    // header's extent covers exactly that.
    if (extent > length) await this.file.write(Buffer.alloc(extent - length), header.offset + length, 'data');
    await this.file.write(encoded, headerOffset(target), 'commit');
    const syncing = this.file.sync();
    // The fsync waits for the disk (on the thread pool): the caller's work that need not precede it runs meanwhile.
    whileSyncing?.();
    await syncing;
    this.extent[target] = length; // the zero fill is durable now
    this.currentHeader = header;
    this.newestHeader = header;
    return header;
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

function headerTooLong(length: number): Error {
  return new Error(`bank header too long (${length} bytes)`);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
