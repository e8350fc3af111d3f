/**
 * The bank layer on its own (src/nvram/banks.ts): the header's encoding and every reason a header or a bank is
 * refused, the erased-bank rule, and what a write puts where. The store suites reach these through openNvram; here
 * each rule is pinned by the exact problem it reports, so a loosened check shows.
 */
import { crc32 } from 'node:zlib';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BankStore,
  decodeHeader,
  describeBank,
  encodeHeader,
  HEADER_SIZE,
  headerOffset,
  LAYOUT_VERSION,
  MAGIC,
  markErasedBanks,
  PAYLOAD_START,
  payloadOffset,
  type BankHeader,
  type BankState,
  type ScanResult,
} from '../../src/nvram/banks.ts';
import { nodeIo } from '../../src/nvram/io.ts';
import { tempDirs } from './helpers.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const SLOT = 1024;

function header(over: Partial<BankHeader> = {}): BankHeader {
  const bank = over.bank ?? 'A';
  return {
    magic: MAGIC,
    layout: LAYOUT_VERSION,
    bank,
    seq: 3,
    fw: 2,
    offset: payloadOffset(bank, over.slot ?? SLOT),
    length: 10,
    slot: SLOT,
    crc: 1234,
    wear: { A: 2, B: 1 },
    ...over,
  };
}

/** A header slot holding any JSON object with a correct header CRC (encodeHeader only writes well-typed headers). */
function rawHeader(fields: Record<string, unknown>): Buffer {
  const body = JSON.stringify(fields);
  const buf = Buffer.alloc(HEADER_SIZE, 0x20);
  buf.write(`${body.slice(0, -1)},"hcrc":${crc32(body)}}`, 0, 'utf8');
  buf[HEADER_SIZE - 1] = 0x0a;
  return buf;
}

/** A header slot holding `text` as is, space padded. */
function textSlot(text: string): Buffer {
  const buf = Buffer.alloc(HEADER_SIZE, 0x20);
  buf.write(text, 0, 'utf8');
  return buf;
}

describe('bank header: blank means every byte zero', () => {
  it('a header whose first bytes were zeroed but not the rest is damaged, not blank (not taken for an erased bank)', () => {
    const buf = encodeHeader(header());
    buf.fill(0, 0, 16); // a zeroing that stopped after 16 bytes
    const decoded = decodeHeader(buf, 'A');
    expect(decoded).not.toBe('blank');
    expect(decoded).toMatch(/^header damaged/);
    expect(decodeHeader(Buffer.alloc(HEADER_SIZE), 'A')).toBe('blank');
  });
});

describe('bank header: encoding', () => {
  it('is one 256-byte slot: JSON with its own CRC, space padded, a newline in the last byte', () => {
    const h = header();
    const buf = encodeHeader(h);
    expect(buf.length).toBe(HEADER_SIZE);
    expect(buf[HEADER_SIZE - 1]).toBe(0x0a);
    const text = buf.toString('utf8');
    expect(text.trimEnd()).toBe(text.slice(0, text.indexOf('}', text.indexOf('"hcrc"')) + 1));
    expect(buf[text.trimEnd().length]).toBe(0x20);
    const parsed = JSON.parse(text.trimEnd()) as Record<string, unknown>;
    const { hcrc, ...rest } = parsed;
    expect(rest).toEqual({ ...h });
    expect(hcrc).toBe(crc32(JSON.stringify(rest)));
    expect(decodeHeader(buf, 'A')).toEqual(h);
  });

  it('writes the extent only when there is one, and reads it back', () => {
    expect(JSON.parse(encodeHeader(header()).toString('utf8'))).not.toHaveProperty('extent');
    const h = header({ extent: 20 });
    expect(decodeHeader(encodeHeader(h), 'A')).toEqual(h);
  });

  it('takes a header of up to 255 bytes (the newline is the 256th) and refuses a longer one, saying how long', () => {
    // The header's text length for a given CRC field: the body plus `,"hcrc":<crc of the body>`.
    const textLength = (h: BankHeader) => {
      const body = JSON.stringify({ ...h });
      return body.length + ',"hcrc":'.length + String(crc32(body)).length;
    };
    // Big, valid numbers: k nines in every field, and a separate width for seq to land on the exact length.
    const nines = (k: number) => 10 ** k - 1;
    const sized = (n: number) => {
      for (let k = 1; k <= 15; k++) {
        for (let q = 1; q <= 15; q++) {
          const v = nines(k);
          const h = header({ seq: nines(q), fw: v, crc: v, slot: v, length: v, extent: v, offset: payloadOffset('A', v), wear: { A: v, B: v } });
          if (textLength(h) === n) return h;
        }
      }
      throw new Error(`no header of ${n} bytes`);
    };
    const fits = sized(HEADER_SIZE - 1);
    expect(decodeHeader(encodeHeader(fits), 'A')).toEqual(fits);
    const over = header({ seq: nines(15), fw: nines(15), crc: nines(15), slot: nines(15), length: nines(15), extent: nines(15), wear: { A: nines(15), B: nines(15) } });
    expect(textLength(over)).toBeGreaterThan(HEADER_SIZE);
    expect(() => encodeHeader(over)).toThrow(new Error(`bank header too long (${textLength(over)} bytes)`));
  });
});

describe('bank header: every reason it is refused', () => {
  it('zeros or nothing read as blank (never written), not as damage', () => {
    expect(decodeHeader(Buffer.alloc(0), 'A')).toBe('blank');
    expect(decodeHeader(Buffer.alloc(HEADER_SIZE), 'A')).toBe('blank');
    expect(decodeHeader(Buffer.alloc(10), 'B')).toBe('blank');
  });

  it('a short, non-zero slot is truncated, with how much there was', () => {
    expect(decodeHeader(encodeHeader(header()).subarray(0, 100), 'A')).toBe(`header truncated (100 of ${HEADER_SIZE} bytes)`);
    expect(decodeHeader(encodeHeader(header()).subarray(0, HEADER_SIZE - 1), 'A')).toBe(`header truncated (255 of ${HEADER_SIZE} bytes)`);
  });

  it('damage in the JSON, its shape or its CRC', () => {
    expect(decodeHeader(textSlot('{"magic":'), 'A')).toBe('header damaged (not JSON)');
    expect(decodeHeader(textSlot('null'), 'A')).toBe('header damaged (not an object)');
    expect(decodeHeader(textSlot('42'), 'A')).toBe('header damaged (not an object)');
    const flipped = encodeHeader(header());
    flipped[flipped.indexOf('"seq":3') + 6] = '4'.charCodeAt(0);
    expect(decodeHeader(flipped, 'A')).toBe('header damaged (header CRC mismatch)');
  });

  it('a header of another kind, layout or slot', () => {
    expect(decodeHeader(encodeHeader(header({ magic: 'OTHER' as typeof MAGIC })), 'A')).toBe('header has wrong magic "OTHER"');
    expect(decodeHeader(encodeHeader(header({ layout: 2 })), 'A')).toBe('header has unknown layout 2');
    expect(decodeHeader(encodeHeader(header({ bank: 'B' })), 'A')).toBe('header claims bank B in slot A');
    expect(decodeHeader(encodeHeader(header({ bank: 'A' })), 'B')).toBe('header claims bank A in slot B');
  });

  it('every numeric field must be a non-negative integer, the wear counters included', () => {
    const malformed = 'header has malformed fields';
    for (const over of [{ seq: -1 }, { fw: 1.5 }, { length: -2 }, { crc: 2 ** 60 }, { wear: { A: 1, B: -1 } }, { wear: { A: 0.5, B: 0 } }] as Partial<BankHeader>[]) {
      expect(decodeHeader(rawHeader({ ...header(), ...over }), 'A'), JSON.stringify(over)).toBe(malformed);
    }
    const { wear: _wear, ...noWear } = header();
    expect(decodeHeader(rawHeader(noWear), 'A')).toBe(malformed);
    expect(decodeHeader(rawHeader({ ...header(), slot: '1024' }), 'A')).toBe(malformed);
    expect(decodeHeader(rawHeader({ ...header(), offset: null }), 'A')).toBe(malformed);
    // Zero is a count, not a malformed one.
    expect(decodeHeader(encodeHeader(header({ seq: 0, fw: 0, length: 0, crc: 0, wear: { A: 0, B: 0 } })), 'A')).not.toBeTypeOf('string');
  });

  it('the payload must lie in its own slot', () => {
    const outside = 'header points outside its slot';
    expect(decodeHeader(encodeHeader(header({ offset: PAYLOAD_START + SLOT })), 'A')).toBe(outside);
    expect(decodeHeader(encodeHeader(header({ bank: 'B', offset: PAYLOAD_START })), 'B')).toBe(outside);
    expect(decodeHeader(encodeHeader(header({ length: SLOT + 1 })), 'A')).toBe(outside);
    expect(decodeHeader(encodeHeader(header({ length: SLOT })), 'A')).not.toBeTypeOf('string'); // a full slot is fine
    expect(decodeHeader(encodeHeader(header({ bank: 'B' })), 'B')).toMatchObject({ bank: 'B', offset: PAYLOAD_START + SLOT });
  });

  it('an extent must cover the payload and stay in the slot', () => {
    const bad = 'header has a malformed extent';
    expect(decodeHeader(encodeHeader(header({ length: 10, extent: 9 })), 'A')).toBe(bad);
    expect(decodeHeader(encodeHeader(header({ extent: SLOT + 1 })), 'A')).toBe(bad);
    expect(decodeHeader(rawHeader({ ...header(), extent: 10.5 }), 'A')).toBe(bad);
    expect(decodeHeader(encodeHeader(header({ length: 10, extent: 10 })), 'A')).toMatchObject({ extent: 10 });
    expect(decodeHeader(encodeHeader(header({ extent: SLOT })), 'A')).toMatchObject({ extent: SLOT });
  });
});

describe('bank layout', () => {
  it('headers first, then the payload slots, A before B', () => {
    expect([headerOffset('A'), headerOffset('B')]).toEqual([0, HEADER_SIZE]);
    expect([payloadOffset('A', SLOT), payloadOffset('B', SLOT)]).toEqual([PAYLOAD_START, PAYLOAD_START + SLOT]);
    expect(PAYLOAD_START).toBe(2 * HEADER_SIZE);
  });
});

function bankState(over: Partial<BankState> & Pick<BankState, 'name'>): BankState {
  return { header: null, valid: false, blank: false, error: null, content: undefined, payloadBytes: 0, contentChecked: false, ...over };
}

describe('erased banks and bank descriptions', () => {
  const scanOf = (a: BankState, b: BankState, current: BankState | null): ScanResult => ({ fileSize: 0, banks: [a, b], current });

  it('a blank bank the valid bank counts writes for was erased; one never written was not', () => {
    const valid = bankState({ name: 'A', valid: true, header: header({ wear: { A: 3, B: 2 } }) });
    const blank = bankState({ name: 'B', blank: true });
    expect(markErasedBanks(scanOf(valid, blank, valid))).toEqual([blank]);
    expect(blank.error).toBe('header blank although bank B had been written 2 times (erased or zeroed)');

    const neverWritten = bankState({ name: 'B', blank: true });
    const fresh = bankState({ name: 'A', valid: true, header: header({ wear: { A: 1, B: 0 } }) });
    expect(markErasedBanks(scanOf(fresh, neverWritten, fresh))).toEqual([]);
    expect(neverWritten.error).toBeNull();

    // A damaged (not blank) bank is not "erased", and with no valid bank there are no counts to go by.
    const damaged = bankState({ name: 'B', error: 'payload CRC mismatch' });
    expect(markErasedBanks(scanOf(valid, damaged, valid))).toEqual([]);
    expect(damaged.error).toBe('payload CRC mismatch');
    expect(markErasedBanks(scanOf(bankState({ name: 'A', blank: true }), bankState({ name: 'B', blank: true }), null))).toEqual([]);
  });

  it('describes a bank by validity, error, or blankness', () => {
    expect(describeBank(bankState({ name: 'A', valid: true, header: header({ seq: 7 }) }))).toBe('bank A: valid, seq 7');
    expect(describeBank(bankState({ name: 'B', error: 'payload truncated' }))).toBe('bank B: payload truncated');
    expect(describeBank(bankState({ name: 'B', blank: true }))).toBe('bank B: blank');
    expect(describeBank(bankState({ name: 'A' }))).toBe('bank A: invalid');
  });
});

describe('bank store: scan and write', () => {
  async function openStore(formatSlot = SLOT) {
    const dir = await dirs.make();
    const file = path.join(dir, 'image.bin');
    const store = await BankStore.open(nodeIo, file, 'readwrite', formatSlot);
    return { file, store };
  }
  const content = (n: number, fw = 2) => Buffer.from(JSON.stringify({ firmwareVersion: fw, n }));
  const accept = () => null;

  it('a fresh image: created, blank banks, the format slot; writes alternate A, B, A with seq and wear counts', async () => {
    const { file, store } = await openStore();
    expect(store.created).toBe(true);
    const empty = await store.scan(accept);
    expect(empty.current).toBeNull();
    expect(empty.banks.map((b) => [b.name, b.blank, b.valid, b.error])).toEqual([['A', true, false, null], ['B', true, false, null]]);
    expect(store.slotBytes()).toBe(SLOT);
    expect(store.current()).toBeNull();

    const first = await store.write(content(1), 2);
    expect(first).toMatchObject({ bank: 'A', seq: 1, wear: { A: 1, B: 0 }, offset: PAYLOAD_START, slot: SLOT, fw: 2 });
    expect(store.current()).toEqual(first);
    const second = await store.write(content(2), 2);
    expect(second).toMatchObject({ bank: 'B', seq: 2, wear: { A: 1, B: 1 }, offset: PAYLOAD_START + SLOT });
    const third = await store.write(content(3), 2);
    expect(third).toMatchObject({ bank: 'A', seq: 3, wear: { A: 2, B: 1 } });
    await store.close();

    const again = await BankStore.open(nodeIo, file, 'readwrite', 4096);
    expect(again.created).toBe(false);
    const scan = await again.scan(accept);
    expect(scan.current?.name).toBe('A');
    expect(scan.current?.content).toEqual({ firmwareVersion: 2, n: 3 });
    expect(scan.banks[1]).toMatchObject({ valid: true, content: { firmwareVersion: 2, n: 2 }, contentChecked: true, payloadBytes: content(2).length });
    expect(again.slotBytes()).toBe(SLOT); // the image's slot, not the format size asked for
    expect(again.current()).toEqual(third);
    await again.close();
  });

  it('refuses a payload bigger than the slot, saying both sizes, and writes nothing', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await expect(store.write(Buffer.alloc(SLOT + 1, 0x20), 2)).rejects.toThrow(new RangeError(`payload of ${SLOT + 1} bytes exceeds the ${SLOT}-byte slot`));
    expect((await fs.stat(file)).size).toBe(0);
    await expect(store.write(Buffer.from(JSON.stringify({ firmwareVersion: 2, pad: 'x'.repeat(SLOT - 30) }).padEnd(SLOT)), 2)).resolves.toMatchObject({ length: SLOT });
    await store.close();
  });

  it('zero-fills the older tail of the slot it writes over, and records how far', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    const long = Buffer.from(JSON.stringify({ firmwareVersion: 2, secret: 'S'.repeat(200) }));
    await store.write(long, 2); // A
    await store.write(content(2), 2); // B
    const short = content(3);
    const h = await store.write(short, 2); // A again, over the long one
    expect(h.extent).toBe(long.length);
    await store.close();
    const image = await fs.readFile(file);
    const tail = image.subarray(PAYLOAD_START + short.length, PAYLOAD_START + long.length);
    expect(tail.every((b) => b === 0)).toBe(true);
    expect(image.includes('SSSS')).toBe(false);
    // The next write over A needs no zero fill beyond its own payload: the fill is durable.
    const again = await BankStore.open(nodeIo, file, 'readwrite', SLOT);
    await again.scan(accept);
    await again.write(content(4), 2); // B
    expect((await again.write(content(5), 2)).extent).toBe(long.length); // A: the header's extent still bounds old bytes
    expect((await again.write(content(6), 2)).extent).toBe(content(2).length); // B: written by this store, fill durable
    await again.close();
  });

  it('the zero fill stays inside the slot it cleans: the other bank is untouched', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    const nearlyFull = Buffer.from(JSON.stringify({ firmwareVersion: 2, pad: 'p'.repeat(SLOT - 40) }));
    await store.write(nearlyFull, 2); // A, almost the whole slot
    await store.write(content(2), 2); // B
    await store.write(content(3), 2); // A again: zero-fills up to the old extent, no further
    await store.close();
    const s = await BankStore.open(nodeIo, file, 'read', SLOT);
    const scan = await s.scan(accept);
    expect(scan.banks.map((b) => [b.name, b.valid, b.error])).toEqual([['A', true, null], ['B', true, null]]);
    expect(scan.banks[1].content).toEqual({ firmwareVersion: 2, n: 2 });
    await s.close();
  });

  it('a payload that is JSON null names no firmware: refused, not a crash', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await store.write(Buffer.from('null'), 2);
    await store.close();
    const s = await BankStore.open(nodeIo, file, 'read', SLOT);
    expect((await s.scan(accept)).banks[0].error).toBe('payload firmwareVersion undefined disagrees with header fw 2');
    await s.close();
  });

  it('with no valid bank, the next write still counts on from the newest intact header', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await store.write(content(1), 2); // A: wear A 1
    await store.write(content(2), 2); // B: wear B 1
    await store.close();
    const image = await fs.readFile(file);
    image[PAYLOAD_START + 2] ^= 0x01; // both payloads damaged, both headers intact
    image[PAYLOAD_START + SLOT + 2] ^= 0x01;
    await fs.writeFile(file, image);
    const s = await BankStore.open(nodeIo, file, 'readwrite', SLOT);
    expect((await s.scan(accept)).current).toBeNull();
    expect(await s.write(content(3), 2)).toMatchObject({ bank: 'A', seq: 3, wear: { A: 2, B: 1 } });
    await s.close();
  });

  it('a bank that is neither valid nor blank may hold anything: its next write zero-fills the whole slot', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await store.write(content(1), 2); // A
    await store.write(content(2), 2); // B
    await store.close();
    const image = await fs.readFile(file);
    image[headerOffset('A') + 5] ^= 0xff; // A's header damaged
    await fs.writeFile(file, image);
    const again = await BankStore.open(nodeIo, file, 'readwrite', SLOT);
    const scan = await again.scan(accept);
    expect(scan.banks[0].error).toMatch(/^header damaged/);
    expect((await again.write(content(3), 2))).toMatchObject({ bank: 'A', extent: SLOT });
    await again.close();
  });

  it('reports a truncated payload and a payload CRC mismatch, falling back to the other bank', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await store.write(content(1), 2); // A
    await store.write(content(22), 2); // B
    await store.close();
    const image = await fs.readFile(file);
    const flipped = Buffer.from(image);
    flipped[PAYLOAD_START + SLOT + 3] ^= 0x01;
    await fs.writeFile(file, flipped);
    let s = await BankStore.open(nodeIo, file, 'read', SLOT);
    let scan = await s.scan(accept);
    const payloadB = content(22);
    const was = crc32(payloadB).toString(16).padStart(8, '0');
    expect(scan.banks[1].error).toMatch(new RegExp(`^payload CRC mismatch \\(header 0x${was}, payload 0x[0-9a-f]{8}\\)$`));
    expect(scan.banks[1]).toMatchObject({ valid: false, payloadBytes: payloadB.length });
    expect(scan.current?.name).toBe('A');
    await s.close();

    await fs.writeFile(file, image.subarray(0, PAYLOAD_START + SLOT + 4));
    s = await BankStore.open(nodeIo, file, 'read', SLOT);
    scan = await s.scan(accept);
    const end = PAYLOAD_START + SLOT + payloadB.length;
    expect(scan.fileSize).toBe(PAYLOAD_START + SLOT + 4);
    expect(scan.banks[1].error).toBe(`payload truncated (needs bytes up to ${end}, file has ${PAYLOAD_START + SLOT + 4})`);
    expect(scan.current?.name).toBe('A');
    await s.close();

    // Exactly long enough is not truncated.
    await fs.writeFile(file, image.subarray(0, end));
    s = await BankStore.open(nodeIo, file, 'read', SLOT);
    expect((await s.scan(accept)).current?.name).toBe('B');
    await s.close();
  });

  it('checks the content: JSON, the firmware it names against the header, then the caller\'s check', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await store.write(content(1), 2); // A: good
    await store.write(Buffer.from('{"firmwareVersion":2,'), 2); // B: CRC intact, not JSON
    await store.close();
    const reopen = async (check: (fw: number, c: unknown) => string | null = accept) => {
      const s = await BankStore.open(nodeIo, file, 'read', SLOT);
      const scan = await s.scan(check);
      await s.close();
      return scan;
    };
    let scan = await reopen();
    expect(scan.banks[1]).toMatchObject({ valid: false, error: 'payload is not JSON', contentChecked: true, content: undefined });
    expect(scan.current?.name).toBe('A');

    const w = await BankStore.open(nodeIo, file, 'readwrite', SLOT);
    await w.scan(accept);
    await w.write(content(3, 1), 2); // B: says firmware 1, header says 2
    await w.close();
    scan = await reopen();
    expect(scan.banks[1].error).toBe('payload firmwareVersion 1 disagrees with header fw 2');
    expect(scan.current?.name).toBe('A');

    const seen: [number, unknown][] = [];
    scan = await reopen((fw, c) => {
      seen.push([fw, c]);
      return 'no good';
    });
    expect(scan.current).toBeNull();
    expect(scan.banks[0]).toMatchObject({ valid: false, error: 'content invalid: no good', contentChecked: true });
    expect(seen).toEqual([[2, { firmwareVersion: 2, n: 1 }]]); // B failed before the check was asked
  });

  it("olderBanks 'crc' stops parsing at the current bank; 'full' checks both", async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await store.write(content(1), 2);
    await store.write(content(2), 2);
    await store.close();
    const checked: number[] = [];
    const count = (_fw: number, c: unknown) => {
      checked.push((c as { n: number }).n);
      return null;
    };
    const s = await BankStore.open(nodeIo, file, 'read', SLOT);
    const quick = await s.scan(count, { olderBanks: 'crc' });
    expect(checked).toEqual([2]);
    expect(quick.current?.name).toBe('B');
    expect(quick.banks[0]).toMatchObject({ valid: true, contentChecked: false, content: undefined });
    checked.length = 0;
    const full = await s.scan(count);
    expect(checked).toEqual([2, 1]);
    expect(full.banks[0]).toMatchObject({ valid: true, contentChecked: true, content: { firmwareVersion: 2, n: 1 } });
    await s.close();
  });

  it('when the newer bank fails its content check, the older one is checked and becomes current', async () => {
    const { file, store } = await openStore();
    await store.scan(accept);
    await store.write(content(1), 2);
    await store.write(content(2), 2);
    await store.close();
    const s = await BankStore.open(nodeIo, file, 'readwrite', SLOT);
    const scan = await s.scan((_fw, c) => ((c as { n: number }).n === 2 ? 'bad' : null), { olderBanks: 'crc' });
    expect(scan.current?.name).toBe('A');
    expect(s.current()?.seq).toBe(1);
    // The next write goes to B and takes its seq after the newest header seen (B's, seq 2), not the current one's.
    expect(await s.write(content(3), 2)).toMatchObject({ bank: 'B', seq: 3 });
    await s.close();
  });

  it('a failing fsync leaves the previous bank current', async () => {

    const dir = await dirs.make();
    const file = path.join(dir, 'failing.bin');
    let failSync = false;
    const failingIo = {
      ...nodeIo,
      open: async (f: string, mode: 'read' | 'readwrite') => {
        const opened = await nodeIo.open(f, mode);
        const inner = opened.file;
        return {
          ...opened,
          file: {
            size: () => inner.size(),
            read: (p: number, l: number) => inner.read(p, l),
            write: (d: Buffer, p: number, ph: 'data' | 'commit') => inner.write(d, p, ph),
            sync: () => (failSync ? Promise.reject(new Error('EIO')) : inner.sync()),
            truncate: (n: number) => inner.truncate(n),
            close: () => inner.close(),
          },
        };
      },
    };
    const f = await BankStore.open(failingIo, file, 'readwrite', SLOT);
    await f.scan(accept);
    const ok = await f.write(content(1), 2);
    failSync = true;
    await expect(f.write(content(2), 2)).rejects.toThrow('EIO');
    expect(f.current()).toEqual(ok);
    expect(ok).toMatchObject({ bank: 'A', seq: 1 });
    await f.close();
  });
});
