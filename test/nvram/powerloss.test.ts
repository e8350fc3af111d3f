/**
 * Power-loss sweep, littlefs style: the script runs once to count its bank writes and record the committed
 * content after each, then again with the power cut at every write k and every point inside it, under both disk
 * models (un-fsync'ed bytes kept / lost). After each cut the image must verify and hold exactly the content from
 * before the interrupted write, or after it when the commit record had reached the disk; never anything else.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeIo, openNvram, type Nvram, type NvramData, type NvramIo } from '../../src/nvram/index.ts';
import { nodeIoWith } from './wrapped-io.ts';
import { readCommitted, verifyImage } from '../../src/nvram/inspect.ts';
import { countNvramWrites, POWER_CUT_POINTS, powerLossSweep, PowerCutIo, UNSYNCED_MODELS } from '../../src/nvram/powercut.ts';
import { loadOrCreateDeviceKey, SecretVault } from '../../src/nvram/vault.ts';
import { FIXTURE_SMTP_PASSWORD } from '../../fixtures/nvram/values.ts';
import { copyFixture, steppingNow, tempDirs, TEST_DEVICE } from './helpers.ts';

const dirs = tempDirs();
let keyFile: string;
let vault: SecretVault;

beforeAll(async () => {
  keyFile = path.join(await dirs.make('nvram-key-'), 'secure-element.key');
  vault = new SecretVault(await loadOrCreateDeviceKey(keyFile));
});
afterAll(() => dirs.cleanup());

/** Committed content with secrets opened (sealed blobs differ run to run by their random IVs). */
function normalize(content: unknown): unknown {
  if (content === null) return null;
  const c = structuredClone(content) as NvramData;
  if (c.firmwareVersion === 2) {
    c.secrets = Object.fromEntries(Object.entries(c.secrets).map(([n, b]) => [n, { plaintext: vault.open(n, b) }])) as never;
  }
  return c;
}

async function committedNow(file: string): Promise<unknown> {
  return normalize((await readCommitted(file))?.content ?? null);
}

const TOKEN_1 = 'token-one.' + 'a'.repeat(300);
const TOKEN_2 = 'token-two.' + 'b'.repeat(900);

/** The device's day, in NVRAM writes: format, settings, sign-in, a job, a refresh+send, a power cycle, sign-out. */
async function deviceScript(io: NvramIo, file: string): Promise<void> {
  const open = () => openNvram({ file, keyFile, io, now: steppingNow(), factoryDevice: TEST_DEVICE });
  let nv: Nvram = await open();
  try {
    await nv.update((d) => {
      d.settings.smtp.authMethod = 'oauth2ExchangeOnline';
      d.settings.smtp.authEmailAddress = d.settings.smtp.authUsername = 'scanner@contoso.example';
    });
    await nv.secrets.set('msal-cache', TOKEN_1);
    await nv.update((d) => {
      d.spool.push({ id: 'job-1', messageId: '<job-1@mfp>', status: 'queued', to: ['a@contoso.example'], subject: 'Scan', contentPath: 'spool/job-1.pdf', attempts: 0, reply: null, createdAt: 1, updatedAt: 1 });
    });
    await nv.update((d, v) => {
      d.spool[0]!.status = 'sending';
      d.spool[0]!.attempts = 1;
      v.set('msal-cache', TOKEN_2); // token refresh and state change in one write
    });
    await nv.update((d) => {
      const job = d.spool.shift()!;
      d.jobLog.push({ ...job, status: 'sent', reply: '250 2.0.0 OK' });
      d.panel.note = 'n'.repeat(2000); // grow the payload past the older bank's length
    });
    await nv.close();
    nv = await open(); // power cycle (clean): no write
    await nv.secrets.delete('msal-cache');
    await nv.update((d) => void d.eventLog.push({ at: 99, kind: 'test', message: 'signed out' }));
  } finally {
    await nv.close();
  }
}

async function migrationScript(io: NvramIo, file: string): Promise<void> {
  const nv = await openNvram({ file, keyFile, io, now: steppingNow() });
  try {
    await nv.update((d) => void (d.settings.smtp.authEmailAddress = 'scanner@contoso.example'));
  } finally {
    await nv.close();
  }
}

/** Reference run: content after each write, indexed by write number (0 = before the first). */
async function reference(script: typeof deviceScript, prepare: (dir: string) => Promise<string>) {
  const dir = await dirs.make();
  const file = await prepare(dir);
  const io = new PowerCutIo();
  const after: unknown[] = [await committedNow(file)];
  io.onCommitted = async (write) => {
    after[write] = await committedNow(file);
  };
  await script(io, file);
  expect(after.length).toBe(io.writes + 1);
  expect(after.slice(1).every((a) => a !== null && a !== undefined)).toBe(true); // every write was recorded
  return { writes: io.writes, after };
}

async function sweep(script: typeof deviceScript, prepare: (dir: string) => Promise<string>, extraCheck?: (file: string) => Promise<void>) {
  const ref = await reference(script, prepare);
  const countDir = await dirs.make();
  expect(await countNvramWrites(async (io) => script(io, await prepare(countDir)))).toBe(ref.writes); // deterministic
  const outcomes = { before: 0, after: 0 };
  const { cases } = await powerLossSweep({
    writes: ref.writes,
    setup: async () => {
      const dir = await dirs.make();
      return { dir, file: await prepare(dir) };
    },
    run: ({ file }, io) => script(io, file),
    check: async ({ file }, c) => {
      const verdict = await verifyImage(file, undefined, keyFile);
      const got = await committedNow(file);
      // One fsync covers payload and header: only when both reached the disk complete (kept un-fsync'ed bytes) does
      // the interrupted write count. In every other case, the header on the disk ahead of its payload included, the
      // content is exactly what it was before.
      const expectAfter = c.point === 'before-fsync' && c.unsynced === 'kept';
      expect(got).toEqual(expectAfter ? ref.after[c.atWrite] : ref.after[c.atWrite - 1]);
      outcomes[expectAfter ? 'after' : 'before']++;
      expect(verdict.ok).toBe(got !== null);
      // Power back on: the store opens (never throws), boots the committed bank, and takes writes again.
      const nv = await openNvram({ file, keyFile, factoryDevice: TEST_DEVICE });
      const committed = await readCommitted(file);
      if (committed) expect(nv.boot.seq).toBe(committed.seq);
      await nv.update((d) => void (d.panel.afterCut = c.atWrite));
      await nv.close();
      const final = await verifyImage(file, undefined, keyFile);
      expect(final.ok).toBe(true);
      expect((await readCommitted(file))?.content).toMatchObject({ panel: { afterCut: c.atWrite } });
      await extraCheck?.(file);
      await fs.rm(path.dirname(file), { recursive: true, force: true });
    },
  });
  return { cases, writes: ref.writes, outcomes };
}

describe('power-loss sweep', () => {
  it('device script: every write × every cut point × both disk models', async () => {
    const fresh = async (dir: string) => path.join(dir, 'nvram.img');
    const { cases, writes, outcomes } = await sweep(deviceScript, fresh);
    expect(writes).toBe(8);
    expect(cases).toBe(writes * POWER_CUT_POINTS.length * UNSYNCED_MODELS.length);
    expect(outcomes.after).toBe(writes); // one (point, model) per write keeps the new content
  }, 120_000);

  it('firmware 1 → 2 migration: a cut at any point never loses settings nor leaves the plaintext password behind after the next boot', async () => {
    const fromFw1 = (dir: string) => copyFixture('firmware-1.img', dir);
    const { writes } = await sweep(migrationScript, fromFw1, async (file) => {
      expect((await fs.readFile(file)).includes(FIXTURE_SMTP_PASSWORD)).toBe(false);
    });
    expect(writes).toBe(3); // two migration commits (both banks), one update
  }, 60_000);

  it('the sweep bites: a planned cut past the last write is reported, not silently passed', async () => {
    const { writes } = await reference(migrationScript, (dir) => copyFixture('firmware-1.img', dir));
    await expect(
      powerLossSweep({
        writes: writes + 1,
        points: ['before-data'],
        models: ['lost'],
        setup: async () => ({ file: await copyFixture('firmware-1.img', await dirs.make()) }),
        run: ({ file }, io) => migrationScript(io, file),
        check: async () => {},
      }),
    ).rejects.toThrow(/never happened/);
  });

  it('PowerCutIo applies nothing after the cut and rolls back un-fsynced bytes only in the "lost" model', async () => {
    for (const unsynced of UNSYNCED_MODELS) {
      const dir = await dirs.make();
      const file = path.join(dir, 'raw.bin');
      const io = new PowerCutIo(undefined, { atWrite: 1, point: 'before-fsync', unsynced });
      const { file: f } = await io.open(file, 'readwrite');
      await f.write(Buffer.from('DATA'), 0, 'data');
      await f.write(Buffer.from('HEAD'), 4, 'commit');
      await expect(f.sync()).rejects.toThrow(/simulated power cut/);
      await expect(f.write(Buffer.from('MORE'), 8, 'data')).rejects.toThrow(/simulated power cut/);
      await f.close();
      expect(await fs.readFile(file, 'utf8')).toBe(unsynced === 'kept' ? 'DATAHEAD' : '');
    }
  });

  it('PowerCutIo "header-first": the header reaches the disk, the payload not at all ("lost") or half ("kept")', async () => {
    for (const unsynced of UNSYNCED_MODELS) {
      const dir = await dirs.make();
      const file = path.join(dir, 'raw.bin');
      await fs.writeFile(file, 'oldheadOLDPAYLOAD');
      const io = new PowerCutIo(undefined, { atWrite: 1, point: 'header-first', unsynced });
      const { file: f } = await io.open(file, 'readwrite');
      await f.write(Buffer.from('newpayload'), 7, 'data');
      await f.write(Buffer.from('ZERO'), 17, 'data'); // a zero fill past the payload: part of the same bank write
      await f.write(Buffer.from('newhead'), 0, 'commit');
      expect(io.writes).toBe(1);
      await expect(f.sync()).rejects.toThrow(/simulated power cut/);
      await f.close();
      expect(await fs.readFile(file, 'utf8')).toBe(unsynced === 'kept' ? 'newheadnewpaYLOAD' : 'newheadOLDPAYLOAD');
    }
  });

  it('every bank write is one fsync: payload, header, sync', async () => {
    const dir = await dirs.make();
    const calls: string[] = [];
    const tracing = nodeIoWith((f) => ({
      write: async (data, position, phase) => {
        calls.push(phase);
        await f.write(data, position, phase);
      },
      sync: async () => {
        calls.push('sync');
        await f.sync();
      },
    }));
    const nv = await openNvram({ file: path.join(dir, 'nvram.img'), keyFile, io: tracing, now: steppingNow(), factoryDevice: TEST_DEVICE });
    calls.length = 0; // the format at open
    await nv.update((d) => void (d.panel.note = 'x'));
    await nv.update((d) => void (d.panel.note = 'y'));
    await nv.close();
    expect(calls).toEqual(['data', 'commit', 'sync', 'data', 'commit', 'sync']);
  });
});
