import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BankStore, HEADER_SIZE, PAYLOAD_START } from '../../src/nvram/banks.ts';
import { nodeIo } from '../../src/nvram/io.ts';
import { nodeIoWith } from './wrapped-io.ts';
import { inspectImage, readCommitted } from '../../src/nvram/inspect.ts';
import { NvramCapacityError, NvramInvalidDataError, NvramLockedError, NvramPrerequisiteError, openNvram } from '../../src/nvram/index.ts';
import { copyFixture, steppingNow, tempDirs, TEST_DEVICE } from './helpers.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

async function fresh(opts: { capacityBytes?: number; eventLogLimit?: number } = {}) {
  const dir = await dirs.make();
  const file = path.join(dir, 'nvram.img');
  const nvram = await openNvram({ file, now: steppingNow(), factoryDevice: TEST_DEVICE, ...opts });
  return { dir, file, nvram };
}

const counterOf = (d: { panel: Record<string, unknown> }) => d.panel.counter as number | undefined;

describe('NVRAM store: boot', () => {
  it('formats a missing file with factory defaults and logs it', async () => {
    const { file, nvram } = await fresh();
    expect(nvram.boot).toMatchObject({ bank: 'A', seq: 1, recovered: false, reason: null, migratedFrom: null });
    expect(nvram.data.settings.smtp).toEqual({
      smtpServerName: 'smtp.office365.com',
      smtpPort: 587,
      useSecureConnection: true,
      authMethod: 'off',
      authEmailAddress: '',
      authUsername: '',
      adminEmailAddress: '',
    });
    expect(nvram.data.device).toEqual(TEST_DEVICE);
    expect(nvram.data.eventLog.map((e) => e.kind)).toEqual(['nvram.formatted']);
    await nvram.close();
    expect((await readCommitted(file))?.content).toEqual(nvram.data);
  });

  it('treats an empty file as blank (first boot), not as damage', async () => {
    const dir = await dirs.make();
    const file = await copyFixture('empty.img', dir);
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE });
    expect(nvram.boot).toMatchObject({ bank: 'A', seq: 1, recovered: false });
    await nvram.close();
  });

  it('reads back the newest valid bank after a restart', async () => {
    const { file, nvram } = await fresh();
    for (let i = 1; i <= 3; i++) await nvram.update((d) => void (d.panel.counter = i));
    await nvram.close();
    const again = await openNvram({ file });
    expect(again.boot).toMatchObject({ bank: 'B', seq: 4, recovered: false }); // A, B, A, B
    expect(counterOf(again.data)).toBe(3);
    await again.close();
  });

  it('a zeroed newer header: booted from the other bank, and the next commit heals the erased bank', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((d) => void (d.panel.counter = 1)); // bank B, seq 2
    await nvram.update((d) => void (d.panel.counter = 2)); // bank A, seq 3
    await nvram.close();
    const fh = await fs.open(file, 'r+');
    await fh.write(Buffer.alloc(HEADER_SIZE), 0, HEADER_SIZE, 0); // bank A's header erased to zeros
    await fh.close();

    const again = await openNvram({ file, now: steppingNow() });
    expect(again.boot).toMatchObject({ bank: 'B', seq: 2, recovered: true });
    expect(again.boot.findings.map((f) => f.code)).toEqual(['bank-erased']);
    expect(counterOf(again.data)).toBe(1);
    await again.update((d) => void (d.panel.counter = 3)); // the next commit overwrites the erased bank
    await again.close();
    const healed = await openNvram({ file });
    expect(healed.boot).toMatchObject({ bank: 'A', seq: 3, recovered: false });
    expect(counterOf(healed.data)).toBe(3);
    await healed.close();
  });

  it('keeps a never-written second bank blank (no wear counted for it), not damaged', async () => {
    const { file, nvram } = await fresh();
    await nvram.close();
    const inspection = await inspectImage(file);
    expect(inspection.banks[1]).toMatchObject({ name: 'B', blank: true, error: null });
    expect(inspection.reason).toBeNull();
  });

  it('falls back to the older bank when the newest has a CRC mismatch, and says so', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((d) => void (d.panel.counter = 1)); // bank B, seq 2
    await nvram.update((d) => void (d.panel.counter = 2)); // bank A, seq 3
    await nvram.close();
    const fh = await fs.open(file, 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, PAYLOAD_START + 30);
    b[0] ^= 0x04;
    await fh.write(b, 0, 1, PAYLOAD_START + 30); // one bit in bank A's payload
    await fh.close();
    const before = await fs.readFile(file);
    const again = await openNvram({ file, now: steppingNow() });
    expect(again.boot.bank).toBe('B');
    expect(again.boot.seq).toBe(2);
    expect(again.boot.recovered).toBe(true);
    expect(again.boot.reason).toMatch(/bank A: payload CRC mismatch/);
    expect(counterOf(again.data)).toBe(1);
    expect(again.data.eventLog.at(-1)?.kind).toBe('nvram.recovered');
    expect(again.stats().banks.find((x) => x.name === 'A')).toMatchObject({ valid: false, error: expect.stringMatching(/CRC/) });
    await again.close();
    expect((await fs.readFile(file)).equals(before)).toBe(true); // reading never repairs behind the caller's back
  });

  it('treats a bank whose content fails the schema as invalid (even with a good CRC)', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((d) => void (d.panel.counter = 7));
    await nvram.close();
    const store = await BankStore.open(nodeIo, file, 'readwrite', 65536);
    await store.scan(() => null);
    const bad = { ...(await readCommitted(file))!.content as object, settings: { smtp: { smtpPort: 'x' } } };
    await store.write(Buffer.from(JSON.stringify(bad)), 2);
    await store.close();
    const again = await openNvram({ file });
    expect(again.boot.recovered).toBe(true);
    expect(again.boot.reason).toMatch(/content invalid: settings\.smtp/);
    expect(counterOf(again.data)).toBe(7);
    await again.close();
  });

  it('at boot parses only down to the current bank: an older bank is checked by CRC; the CLI inspection checks both', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((d) => void (d.panel.counter = 7));
    await nvram.close();
    // Put schema-bad content with a good CRC in the bank that is not current, then a good commit on top of it.
    const store = await BankStore.open(nodeIo, file, 'readwrite', 65536);
    await store.scan(() => null);
    const good = (await readCommitted(file))!.content as Record<string, unknown>;
    await store.write(Buffer.from(JSON.stringify({ ...good, settings: { smtp: { smtpPort: 'x' } } })), 2);
    await store.write(Buffer.from(JSON.stringify({ ...good, panel: { counter: 8 } })), 2);
    await store.close();
    const inspected = await inspectImage(file); // the CLI parses and checks both banks
    expect(inspected.valid).toBe(true);
    expect(inspected.banks.filter((b) => !b.valid).map((b) => b.error)).toEqual([expect.stringMatching(/content invalid: settings\.smtp/)]);
    const again = await openNvram({ file });
    expect(counterOf(again.data)).toBe(8);
    expect(again.boot.recovered).toBe(false); // the older bank's content was not looked at
    await again.update((d) => void (d.panel.counter = 9)); // and the next commit overwrites it
    await again.close();
    expect(await inspectImage(file)).toMatchObject({ valid: true, banks: [{ valid: true }, { valid: true }] });
  });

  it.each([
    ['crc-mismatch.img', 'A', /bank B: payload CRC mismatch/],
    ['truncated-newest.img', 'A', /bank B: payload truncated/],
  ])('recovers from %s onto the intact bank without changing the file', async (fixture, bank, reason) => {
    const dir = await dirs.make();
    const file = await copyFixture(fixture, dir);
    const before = await fs.readFile(file);
    const nvram = await openNvram({ file, keyFile: path.join(dir, 'k') });
    expect(nvram.boot).toMatchObject({ bank, seq: 1, recovered: true });
    expect(nvram.boot.reason).toMatch(reason);
    expect(nvram.data.eventLog.some((e) => e.message === 'older bank (A)')).toBe(true);
    await nvram.close();
    expect((await fs.readFile(file)).equals(before)).toBe(true);
  });

  it.each([
    ['garbage.img', /bank A: header damaged/],
    ['truncated-header.img', /bank A: header truncated/],
  ])('boots %s on factory defaults with an event, never a crash, and leaves the file as it was', async (fixture, reason) => {
    const dir = await dirs.make();
    const file = await copyFixture(fixture, dir);
    const before = await fs.readFile(file);
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE, now: steppingNow() });
    expect(nvram.boot).toMatchObject({ bank: null, seq: 0, recovered: true });
    expect(nvram.boot.reason).toMatch(/no valid bank/);
    expect(nvram.boot.reason).toMatch(reason);
    expect(nvram.data.settings.smtp.smtpServerName).toBe('smtp.office365.com');
    expect(nvram.data.eventLog).toEqual([expect.objectContaining({ kind: 'nvram.recovered', message: expect.stringMatching(/factory defaults/) })]);
    await nvram.close();
    expect((await fs.readFile(file)).equals(before)).toBe(true);
    // The first update writes a valid bank; the recovery event goes with it.
    const again = await openNvram({ file, factoryDevice: TEST_DEVICE });
    await again.update((d) => void (d.panel.counter = 1));
    await again.close();
    const committed = await readCommitted(file);
    expect(committed?.content).toMatchObject({ panel: { counter: 1 }, eventLog: [{ kind: 'nvram.recovered' }] });
  });
});

describe('NVRAM store: writes', () => {
  it('refuses a write over capacity with a typed error and keeps the old content, in memory and on disk', async () => {
    const { file, nvram } = await fresh({ capacityBytes: 2048 });
    await nvram.update((d) => void (d.panel.counter = 1));
    const bytes = await fs.readFile(file);
    const err = await nvram.update((d) => void (d.panel.blob = 'x'.repeat(4000))).catch((e) => e);
    expect(err).toBeInstanceOf(NvramCapacityError);
    expect(err).toMatchObject({ code: 'nvram_capacity', capacityBytes: 2048 });
    expect(err.payloadBytes).toBeGreaterThan(4000);
    expect(err.message).toMatch(/nothing was written/);
    expect(nvram.data.panel.blob).toBeUndefined();
    expect((await fs.readFile(file)).equals(bytes)).toBe(true);
    expect((await nvram.update((d) => void (d.panel.counter = 2))).panel.counter).toBe(2); // still usable
    await nvram.close();
  });

  it('zero-fills over older, longer content so no stale tail survives in either slot', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((d) => void (d.panel.note = 'STALE-MARKER-'.repeat(200)));
    await nvram.update((d) => void (d.panel.note = 'STALE-MARKER-'.repeat(200) + 'again'));
    await nvram.update((d) => void delete d.panel.note);
    await nvram.update((d) => void (d.panel.counter = 1));
    await nvram.close();
    expect((await fs.readFile(file)).includes(Buffer.from('STALE-MARKER-'))).toBe(false);
  });

  it('zero-fills a stale tail even when the disk kept payload and header but lost the zero fill (the header records the reach)', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((d) => void (d.panel.note = 'STALE-MARKER-'.repeat(200)));
    await nvram.update((d) => void (d.panel.note = 'STALE-MARKER-'.repeat(200) + 'again'));
    await nvram.close();
    // A fake disk that drops the zero fill (the second data write of a bank write): one fsync covers all three
    // writes, so a disk may persist the payload and the header and not the tail.
    let dropped = 0;
    let dataWrites = 0;
    const dropsZeroFill = nodeIoWith((inner) => ({
      write: async (data, position, phase) => {
        dataWrites = phase === 'data' ? dataWrites + 1 : 0;
        if (dataWrites === 2) return void dropped++;
        await inner.write(data, position, phase);
      },
    }));
    const lossy = await openNvram({ file, io: dropsZeroFill, now: steppingNow() });
    await lossy.update((d) => void delete d.panel.note);
    await lossy.update((d) => void (d.panel.counter = 1));
    await lossy.close();
    expect(dropped).toBe(2);
    expect((await fs.readFile(file)).includes(Buffer.from('STALE-MARKER-'))).toBe(true); // the fake really lost them
    const again = await openNvram({ file, now: steppingNow() });
    expect(again.data.panel.counter).toBe(1);
    await again.update((d) => void (d.panel.counter = 2));
    await again.update((d) => void (d.panel.counter = 3));
    await again.close();
    expect((await fs.readFile(file)).includes(Buffer.from('STALE-MARKER-'))).toBe(false);
  });

  it('rejects invalid content and a throwing mutator without writing', async () => {
    const { file, nvram } = await fresh();
    const bytes = await fs.readFile(file);
    await expect(nvram.update((d) => void (d.settings.smtp.smtpPort = 0))).rejects.toBeInstanceOf(NvramInvalidDataError);
    await expect(
      nvram.update((d) => {
        d.panel.counter = 99;
        throw new Error('mutator failed');
      }),
    ).rejects.toThrow('mutator failed');
    expect(nvram.data.settings.smtp.smtpPort).toBe(587);
    expect(nvram.data.panel.counter).toBeUndefined();
    expect((await fs.readFile(file)).equals(bytes)).toBe(true);
    await nvram.close();
  });

  it('writes a commit with a prerequisite only once it is done, and nothing when it fails', async () => {
    const { file, nvram } = await fresh();
    const bytes = await fs.readFile(file);
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const committed = nvram.update((d) => void (d.panel.counter = 1), held);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect((await fs.readFile(file)).equals(bytes)).toBe(true); // not a byte before the prerequisite is done
    expect(counterOf(nvram.data)).toBeUndefined();
    finish();
    await committed;
    expect(counterOf(nvram.data)).toBe(1);
    expect((await readCommitted(file))?.content).toEqual(nvram.data);

    const after = await fs.readFile(file);
    const cause = Object.assign(new Error('input/output error'), { code: 'EIO' });
    const err = await nvram.update((d) => void (d.panel.counter = 2), Promise.reject(cause)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NvramPrerequisiteError);
    expect((err as NvramPrerequisiteError).cause).toBe(cause);
    expect(counterOf(nvram.data)).toBe(1);
    expect((await fs.readFile(file)).equals(after)).toBe(true);
    await nvram.update((d) => void (d.panel.counter = 3)); // the next commit is not held by the failed one
    expect(counterOf(nvram.data)).toBe(3);
    await nvram.close();
  });

  it('refuses an async mutator (its late changes would be lost)', async () => {
    const { nvram } = await fresh();
    const seq = nvram.boot.seq;
    await expect(nvram.update((async () => {}) as never)).rejects.toThrow(/must be synchronous/);
    expect(Math.max(...nvram.stats().banks.map((b) => b.seq))).toBe(seq);
    await nvram.close();
  });

  it('hands out deep-frozen data', async () => {
    const { nvram } = await fresh();
    expect(() => {
      (nvram.data.settings.smtp as { smtpPort: number }).smtpPort = 25;
    }).toThrow(TypeError);
    await nvram.close();
  });

  it('serializes concurrent updates: every one lands, one bank write each', async () => {
    const { nvram } = await fresh();
    await Promise.all(Array.from({ length: 20 }, () => nvram.update((d) => void (d.panel.counter = (counterOf(d) ?? 0) + 1))));
    expect(counterOf(nvram.data)).toBe(20);
    const banks = nvram.stats().banks;
    expect(Math.max(...banks.map((b) => b.seq))).toBe(21);
    await nvram.close();
  });

  it('keeps the event log and job log bounded', async () => {
    const { nvram } = await fresh({ eventLogLimit: 5 });
    await nvram.update((d) => {
      for (let i = 0; i < 12; i++) d.eventLog.push({ at: i, kind: 'test', message: `event ${i}` });
    });
    expect(nvram.data.eventLog.map((e) => e.message)).toEqual(['event 7', 'event 8', 'event 9', 'event 10', 'event 11']);
    await nvram.close();
  });

  it('counts writes per bank in the headers, and the counts survive restarts and a damaged header', async () => {
    const { file, nvram } = await fresh();
    for (let i = 0; i < 5; i++) await nvram.update((d) => void (d.panel.counter = i));
    // 6 writes: format (A), then B, A, B, A, B.
    expect(nvram.stats().banks.map((b) => [b.name, b.writes])).toEqual([['A', 3], ['B', 3]]);
    await nvram.close();
    const again = await openNvram({ file });
    expect(again.stats().banks.map((b) => [b.name, b.writes])).toEqual([['A', 3], ['B', 3]]);
    await again.close();
    const fh = await fs.open(file, 'r+');
    await fh.write(Buffer.alloc(HEADER_SIZE, 0x41), 0, HEADER_SIZE, 0); // junk over header A (the older bank)
    await fh.close();
    const third = await openNvram({ file });
    expect(third.boot.bank).toBe('B');
    expect(third.stats().banks.map((b) => b.writes)).toEqual([3, 3]); // both counts live in every header
    await third.update((d) => void (d.panel.counter = 100)); // goes to the damaged bank A
    expect(third.stats().banks.map((b) => b.writes)).toEqual([4, 3]);
    await third.close();
  });
});

describe('NVRAM store: one writer per image', () => {
  it('refuses a second open while the first is open, and allows it after close', async () => {
    const { file, nvram } = await fresh();
    const err = await openNvram({ file }).catch((e) => e);
    expect(err).toBeInstanceOf(NvramLockedError);
    expect(err.message).toContain(String(process.pid));
    await nvram.close();
    const again = await openNvram({ file });
    await again.close();
    await expect(fs.access(`${file}.lock`)).rejects.toThrow();
  });

  it('takes over a stale lock left by a dead process', async () => {
    const dir = await dirs.make();
    const file = path.join(dir, 'nvram.img');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await fs.writeFile(`${file}.lock`, `${dead} stale-token\n`);
    const nvram = await openNvram({ file });
    expect(await fs.readFile(`${file}.lock`, 'utf8')).toContain(String(process.pid));
    await nvram.close();
  });
});
