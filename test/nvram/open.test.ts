/**
 * openNvram's own rules (src/nvram/index.ts) that the store suites pass over: its option checks, the firmware it
 * refuses to run as, a closed instance, what `stats()` says after a write and after a failed one, the secrets API,
 * and a key swapped under an image with nothing sealed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeIo, type NvramIo } from '../../src/nvram/io.ts';
import { nodeIoWith } from './wrapped-io.ts';
import { CURRENT_FIRMWARE, JOB_LOG_LIMIT, NvramError, openNvram, type JobRecord } from '../../src/nvram/index.ts';
import { copyFixture, steppingNow, tempDirs, TEST_DEVICE } from './helpers.ts';
import { decodeHeader, HEADER_SIZE, headerOffset, type BankHeader } from '../../src/nvram/banks.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** A printer that booted once and sealed one secret: its image and device key on disk. */
async function bootWithSealedSecret(file: string, keyFile: string): Promise<void> {
  const first = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
  await first.secrets.set('smtp-password', 'Sealed-Passw0rd-1');
  await first.close();
}

async function paths() {
  const dir = await dirs.make();
  return { dir, file: path.join(dir, 'nvram.img'), keyFile: path.join(dir, 'secure-element.key') };
}

describe('openNvram: options', () => {
  it('refuses a capacity under 1 KiB or not an integer, and takes exactly 1 KiB', async () => {
    const { file } = await paths();
    for (const capacityBytes of [1023, 2048.5, Number.NaN]) {
      await expect(openNvram({ file, capacityBytes })).rejects.toThrow(new RangeError(`capacityBytes must be an integer >= 1024, got ${capacityBytes}`));
    }
    await expect(fs.stat(file)).rejects.toMatchObject({ code: 'ENOENT' }); // nothing was created
    const nvram = await openNvram({ file, capacityBytes: 1024, factoryDevice: TEST_DEVICE });
    expect(nvram.stats().capacityBytes).toBe(1024);
    await nvram.close();
  });

  it('refuses an event-log limit under 1 or not an integer, and takes 1', async () => {
    const { file } = await paths();
    for (const eventLogLimit of [0, -3, 2.5]) {
      await expect(openNvram({ file, eventLogLimit })).rejects.toThrow(new RangeError(`eventLogLimit must be a positive integer, got ${eventLogLimit}`));
    }
    const nvram = await openNvram({ file, eventLogLimit: 1, factoryDevice: TEST_DEVICE });
    await nvram.update((d) => void d.eventLog.push({ at: 1, kind: 'test', message: 'one' }, { at: 2, kind: 'test', message: 'two' }));
    expect(nvram.data.eventLog.map((e) => e.message)).toEqual(['two']);
    await nvram.close();
  });

  it('keeps the newest JOB_LOG_LIMIT finished jobs', async () => {
    const { file } = await paths();
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE });
    const job = (i: number): JobRecord => ({ id: `job-${i}`, messageId: `<${i}@x>`, status: 'sent', to: ['a@example.com'], subject: 's', contentPath: `p${i}`, attempts: 1, reply: null, createdAt: i, updatedAt: i });
    await nvram.update((d) => void d.jobLog.push(...Array.from({ length: JOB_LOG_LIMIT + 3 }, (_, i) => job(i))));
    expect(nvram.data.jobLog).toHaveLength(JOB_LOG_LIMIT);
    expect(nvram.data.jobLog[0]!.id).toBe('job-3');
    expect(nvram.data.jobLog.at(-1)!.id).toBe(`job-${JOB_LOG_LIMIT + 2}`);
    await nvram.close();
  });

  it('refuses to run as another firmware, leaves no key behind on a first boot, and releases the image', async () => {
    const { file, keyFile } = await paths();
    const err = await openNvram({ file, keyFile, firmwareVersion: CURRENT_FIRMWARE + 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NvramError);
    expect(err).toMatchObject({
      code: 'nvram_unsupported_firmware',
      message: `this build is firmware ${CURRENT_FIRMWARE}; it cannot run as firmware ${CURRENT_FIRMWARE + 1}`,
    });
    await expect(fs.stat(keyFile)).rejects.toMatchObject({ code: 'ENOENT' });
    // The lock was released and the key not kept: the next open is a plain first boot, not "image lost".
    const nvram = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    expect(nvram.boot).toMatchObject({ recovered: false, findings: [] });
    await nvram.close();
  });

  it('a key file that existed before a failed open is kept', async () => {
    const { file, keyFile } = await paths();
    const first = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    await first.close();
    const key = await fs.readFile(keyFile);
    await expect(openNvram({ file, keyFile, firmwareVersion: CURRENT_FIRMWARE + 1 })).rejects.toMatchObject({ code: 'nvram_unsupported_firmware' });
    expect((await fs.readFile(keyFile)).equals(key)).toBe(true);
  });
});

describe('an open NVRAM', () => {
  it('after close: update refused with nvram_closed, close again is a no-op', async () => {
    const { file } = await paths();
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE });
    await nvram.close();
    await expect(nvram.update(() => {})).rejects.toMatchObject({ code: 'nvram_closed', message: 'NVRAM is closed' });
    await expect(nvram.close()).resolves.toBeUndefined();
  });

  it('stats: per bank seq, bytes, writes and firmware after each commit', async () => {
    const { file } = await paths();
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE, now: steppingNow() });
    expect(nvram.stats().file).toBe(path.resolve(file));
    const [a0, b0] = nvram.stats().banks;
    expect(a0).toMatchObject({ name: 'A', seq: 1, valid: true, writes: 1, firmwareVersion: CURRENT_FIRMWARE, error: null });
    expect(a0!.bytes).toBeGreaterThan(100);
    expect(b0).toEqual({ name: 'B', seq: 0, valid: false, bytes: 0, writes: 0, firmwareVersion: null, error: null });
    const after = await nvram.update((d) => void (d.panel.counter = 1));
    const [a1, b1] = nvram.stats().banks;
    expect(b1).toMatchObject({ name: 'B', seq: 2, valid: true, writes: 1, firmwareVersion: CURRENT_FIRMWARE, error: null });
    expect(b1!.bytes).toBe(Buffer.byteLength(JSON.stringify(after)));
    expect(a1).toEqual(a0);
    // A copy: changing what stats() returned changes nothing.
    nvram.stats().banks[0]!.seq = 99;
    expect(nvram.stats().banks[0]!.seq).toBe(1);
    await nvram.close();
  });

  it('a write the disk refuses marks the bank it was aimed at, keeps the data, and the next write heals it', async () => {
    const { file } = await paths();
    let failWrites = false;
    const io = nodeIoWith((inner) => ({
      write: (d, p, ph) => (failWrites ? Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) : inner.write(d, p, ph)),
    }));
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE, io });
    const before = nvram.data;
    failWrites = true;
    await expect(nvram.update((d) => void (d.panel.counter = 1))).rejects.toThrow('EIO');
    expect(nvram.data).toBe(before);
    expect(nvram.stats().banks[1]).toMatchObject({ name: 'B', valid: false, error: 'write interrupted: EIO: i/o error, write' });
    expect(nvram.stats().banks[0]).toMatchObject({ name: 'A', valid: true, error: null });
    failWrites = false;
    await nvram.update((d) => void (d.panel.counter = 2));
    expect(nvram.stats().banks[1]).toMatchObject({ name: 'B', valid: true, error: null, seq: 2 });
    await nvram.close();
  });

  it('secrets: set, get, has, delete, each one commit; the draft vault sees its own staged secret', async () => {
    const { file } = await paths();
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE });
    expect(nvram.secrets.has('token')).toBe(false);
    expect(nvram.secrets.get('token')).toBeUndefined();
    await nvram.secrets.set('token', 'a-sealed-token-value');
    expect(nvram.stats().banks[1]!.seq).toBe(2);
    expect(nvram.secrets.get('token')).toBe('a-sealed-token-value');
    expect(nvram.secrets.has('token')).toBe(true);
    expect(nvram.secrets.get('constructor')).toBeUndefined(); // only own entries are secrets
    let seen: [boolean, string | undefined, boolean, string | undefined] | null = null;
    await nvram.update((_, vault) => {
      vault.set('other', 'another-secret-value');
      const staged = [vault.has('other'), vault.get('other')] as const;
      vault.delete('token');
      seen = [...staged, vault.has('token'), vault.get('token')];
    });
    expect(seen).toEqual([true, 'another-secret-value', false, undefined]);
    expect(nvram.secrets.has('token')).toBe(false);
    await nvram.secrets.delete('other');
    expect(Object.keys(nvram.data.secrets)).toEqual([]);
    expect(nvram.secrets.unreadable()).toEqual([]);
    await nvram.close();
  });

  it('a random identity when none is given: a UUID and an upper-case SIM serial', async () => {
    const { file } = await paths();
    const nvram = await openNvram({ file });
    expect(nvram.data.device.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(nvram.data.device.serial).toMatch(/^SIM[0-9A-F]{10}$/);
    await nvram.close();
  });

  it('the directory is synced once, when the image file is created', async () => {
    const { file } = await paths();
    let syncs = 0;
    const io: NvramIo = { open: (f, m) => nodeIo.open(f, m), syncDir: async (d) => void (syncs++, await nodeIo.syncDir(d)) };
    await (await openNvram({ file, io, factoryDevice: TEST_DEVICE })).close();
    expect(syncs).toBe(1);
    await (await openNvram({ file, io, factoryDevice: TEST_DEVICE })).close();
    expect(syncs).toBe(1);
  });

  it('the plaintext scan starts at 8 characters: a secret of exactly 8 found elsewhere is refused', async () => {
    const { file } = await paths();
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE });
    await expect(
      nvram.update((d, vault) => {
        vault.set('pin', '12345678');
        d.panel.note = 'pin 12345678';
      }),
    ).rejects.toMatchObject({ code: 'nvram_invalid_data', message: expect.stringContaining('the plaintext of secret "pin" appears in the content') });
    await nvram.update((d, vault) => {
      vault.set('pin', '1234567');
      d.panel.note = 'pin 1234567';
    });
    await nvram.close();
  });

  it('what a boot without a valid bank says: the reason, the banks in the event, no-valid-bank; write counts zero', async () => {
    const { dir } = await paths();
    const file = await copyFixture('garbage.img', dir);
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE, now: steppingNow() });
    const reason = nvram.boot.reason!;
    expect(reason).toBe('no valid bank (bank A: header damaged (not JSON); bank B: header damaged (not JSON)): booted with factory defaults');
    expect(nvram.boot).toEqual({ bank: null, seq: 0, recovered: true, reason, migratedFrom: null, findings: [{ code: 'no-valid-bank', message: reason }], keyChanged: false });
    expect(nvram.data.eventLog).toEqual([
      { at: expect.any(Number), kind: 'nvram.recovered', message: reason, data: { banks: [{ bank: 'A', error: expect.stringMatching(/^header damaged/) }, { bank: 'B', error: expect.any(String) }] } },
    ]);
    expect(nvram.stats().banks.map((b) => b.writes)).toEqual([0, 0]);
    await nvram.close();
  });

  it('a fallback from a damaged bank: the reason names it and the bank booted, the event lists it and its finding', async () => {
    const { dir } = await paths();
    const file = await copyFixture('crc-mismatch.img', dir);
    await copyFixture('firmware-2.key', dir, 'secure-element.key'); // the key its secrets were sealed with
    const nvram = await openNvram({ file, now: steppingNow() });
    const reason = nvram.boot.reason!;
    expect(reason).toMatch(/^bank B: payload CRC mismatch \(header 0x[0-9a-f]{8}, payload 0x[0-9a-f]{8}\); booted from bank A seq 1$/);
    expect(nvram.boot.findings).toEqual([{ code: 'bank-invalid', message: reason.split('; booted')[0] }]);
    expect(nvram.data.eventLog.at(-1)).toMatchObject({ kind: 'nvram.recovered', message: reason, data: { damaged: ['B'], reasons: ['bank-invalid'] } });
    await nvram.close();
  });

  it('a first boot is formatted, said in one event line without data', async () => {
    const { file } = await paths();
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE, now: steppingNow() });
    expect(nvram.data.eventLog).toEqual([{ at: expect.any(Number), kind: 'nvram.formatted', message: 'blank NVRAM image: formatted with factory defaults' }]);
    expect(nvram.boot).toMatchObject({ recovered: false, findings: [] });
    await nvram.close();
  });

  it('a key swapped under an image that seals nothing: device-key-changed, naming both keys', async () => {
    const { dir, file, keyFile } = await paths();
    const first = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    await first.update((d) => void (d.panel.counter = 1));
    const written = first.data.deviceKeyId;
    await first.close();
    expect(written).toMatch(/\S/);
    const otherKey = path.join(dir, 'other.key');
    const again = await openNvram({ file, keyFile: otherKey, factoryDevice: TEST_DEVICE, now: steppingNow() });
    const message = again.boot.findings.find((f) => f.code === 'device-key-changed')?.message;
    expect(message).toMatch(new RegExp(`^device key changed: the image was written under device key ${written}, the key file holds key \\S+$`));
    expect(message).not.toContain(`holds key ${written}`);
    expect(again.boot).toMatchObject({ keyChanged: true, recovered: true, reason: message });
    expect(again.data.eventLog.at(-1)).toMatchObject({ kind: 'nvram.recovered', message, data: { reason: 'device-key-changed', secrets: [] } });
    await again.close();
    // The same key again: nothing to say.
    const same = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    expect(same.boot).toMatchObject({ keyChanged: false, findings: [] });
    await same.close();
  });
});

/** A disk error as node:fs makes them (a string errno code). */
const diskError = (code: string) => Object.assign(new Error(`${code}: i/o error`), { code });
/** The real disk, except that opening the image fails with EIO. */
const openFails: NvramIo = { open: () => Promise.reject(diskError('EIO')), syncDir: (d) => nodeIo.syncDir(d) };
/** The real disk, except that reading the image fails with EIO. */
const readFails = nodeIoWith(() => ({ read: () => Promise.reject(diskError('EIO')) }));

describe('a boot that fails', () => {
  it('a first boot whose device key cannot be created fails with the disk’s error and leaves the image unlocked', async () => {
    const { dir, file } = await paths();
    // The key's directory is a symlink to nowhere: the key reads as absent, and it cannot be made there.
    const keys = path.join(dir, 'keys');
    await fs.symlink(path.join(dir, 'nowhere', 'deeper'), keys);
    const err = await openNvram({ file, keyFile: path.join(keys, 'secure-element.key'), factoryDevice: TEST_DEVICE }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(TypeError);
    expect(err).toMatchObject({ code: 'ENOENT' });
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE }); // not locked: it opens, as a first boot
    expect(nvram.boot.findings).toEqual([]);
    await nvram.close();
  });

  it('a first boot whose image cannot be opened fails with the disk’s error and leaves no device key behind', async () => {
    const { file, keyFile } = await paths();
    await expect(openNvram({ file, keyFile, io: openFails, factoryDevice: TEST_DEVICE })).rejects.toMatchObject({ code: 'EIO' });
    await expect(fs.stat(keyFile)).rejects.toMatchObject({ code: 'ENOENT' });
    const nvram = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    expect(nvram.boot.findings).toEqual([]); // a first boot, not "image lost"
    await nvram.close();
  });

  it('an image that cannot be opened on a printer that booted before keeps its device key: the next boot opens its secrets', async () => {
    const { file, keyFile } = await paths();
    await bootWithSealedSecret(file, keyFile);
    const key = await fs.readFile(keyFile);
    for (const io of [openFails, readFails]) {
      await expect(openNvram({ file, keyFile, io })).rejects.toMatchObject({ code: 'EIO' });
      expect((await fs.readFile(keyFile)).equals(key)).toBe(true);
    }
    const again = await openNvram({ file, keyFile });
    expect(again.secrets.get('smtp-password')).toBe('Sealed-Passw0rd-1');
    expect(again.boot).toMatchObject({ keyChanged: false, findings: [] });
    await again.close();
  });

  it('an image that cannot be read after its device key was lost is kept: the next boot names the changed key', async () => {
    const { file, keyFile } = await paths();
    await bootWithSealedSecret(file, keyFile);
    const image = await fs.readFile(file);
    await fs.rm(keyFile);
    await expect(openNvram({ file, keyFile, io: readFails })).rejects.toMatchObject({ code: 'EIO' });
    expect((await fs.readFile(file)).equals(image)).toBe(true);
    await expect(fs.stat(keyFile)).rejects.toMatchObject({ code: 'ENOENT' }); // the key it made sealed nothing
    const again = await openNvram({ file, keyFile });
    expect(again.data.device).toEqual(TEST_DEVICE);
    expect(again.boot.findings.map((f) => f.code)).toEqual(['device-key-changed']);
    await again.close();
  });
});

describe('wear when no bank is valid', () => {
  it('both payloads damaged, both headers readable: the write counts the headers carry are still reported', async () => {
    const { file, keyFile } = await paths();
    const first = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    for (let i = 0; i < 3; i++) await first.update((d) => void d.eventLog.push({ at: i, kind: 'test', message: `write ${i}` }));
    const writes = first.stats().banks.map((b) => b.writes);
    await first.close();
    expect(writes.every((n) => n > 0)).toBe(true);
    const image = await fs.readFile(file);
    for (const bank of ['A', 'B'] as const) {
      const header = decodeHeader(image.subarray(headerOffset(bank), headerOffset(bank) + HEADER_SIZE), bank) as BankHeader;
      const at = header.offset + Math.floor(header.length / 2);
      image[at] = image[at]! ^ 0x01;
    }
    await fs.writeFile(file, image);
    const again = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    expect(again.boot.findings.map((f) => f.code)).toEqual(['no-valid-bank']);
    // Read from a header (bank A's, which may be one write older than the newest): not lost as zeros.
    again.stats().banks.forEach((b, i) => {
      expect(b.writes).toBeGreaterThan(0);
      expect(b.writes).toBeLessThanOrEqual(writes[i]!);
    });
    await again.close();
  });
});

describe('writes the disk refuses, and a migration cut between its two commits', () => {
  it('a refused write marks the bank it was aimed at when the current bank is B as well', async () => {
    const { file } = await paths();
    let failWrites = false;
    const io = nodeIoWith((inner) => ({
      write: (d, p, ph) => (failWrites ? Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })) : inner.write(d, p, ph)),
    }));
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE, io });
    await nvram.update((d) => void (d.panel.counter = 1)); // now B is current: the next write aims at A
    expect(nvram.stats().banks.map((b) => b.seq)).toEqual([1, 2]);
    failWrites = true;
    await expect(nvram.update((d) => void (d.panel.counter = 2))).rejects.toThrow('EIO');
    expect(nvram.stats().banks[0]).toMatchObject({ name: 'A', valid: false, error: 'write interrupted: EIO: i/o error, write' });
    expect(nvram.stats().banks[1]).toMatchObject({ name: 'B', valid: true, error: null });
    await nvram.close();
  });

  it('a firmware update cut after its first commit is finished at the next boot: no firmware-1 bank is left', async () => {
    const { dir, keyFile } = await paths();
    const file = await copyFixture('firmware-1.img', dir);
    let committed = false;
    // The second commit of the migration (into the older bank) writes nothing: the power went after the first.
    const cut = nodeIoWith((inner) => ({
      write: async (d, p, ph) => {
        if (committed) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        await inner.write(d, p, ph);
        if (ph === 'commit') committed = true;
      },
    }));
    await expect(openNvram({ file, keyFile, io: cut, factoryDevice: TEST_DEVICE })).rejects.toThrow('EIO');
    const nvram = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
    expect(nvram.boot.migratedFrom).toBeNull(); // the current bank was already migrated
    expect(nvram.stats().banks.map((b) => b.firmwareVersion)).toEqual([CURRENT_FIRMWARE, CURRENT_FIRMWARE]);
    await nvram.close();
  });
});
