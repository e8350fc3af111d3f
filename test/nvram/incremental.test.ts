/**
 * Commits encode, check and scan only what changed (src/nvram/encoder.ts), and drop no check: a changed part that is
 * invalid is still refused, a secret's plaintext is still caught, and what the disk holds is exactly what a full
 * serialization of the content would be. "Not re-checked" is asserted with the instance's work counters, not time.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HEADER_SIZE } from '../../src/nvram/banks.ts';
import { readCommitted } from '../../src/nvram/inspect.ts';
import { NvramInvalidDataError, openNvram, PayloadBuffers, type Nvram } from '../../src/nvram/index.ts';
import { steppingNow, tempDirs, TEST_DEVICE } from './helpers.ts';
import { nodeIoWith } from './wrapped-io.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

async function fresh(opts: { eventLogLimit?: number } = {}) {
  const dir = await dirs.make();
  const file = path.join(dir, 'nvram.img');
  const nvram = await openNvram({ file, now: steppingNow(), factoryDevice: TEST_DEVICE, ...opts });
  return { dir, file, nvram };
}

/** A reproducible stream of numbers in [0, 1] (a linear congruential generator): the seeded sweeps replay. */
function seededRandom(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
}

const event = (n: number) => ({ at: n, kind: 'test', message: `event ${n}` });

/** The current bank's payload text, straight from the image bytes. */
async function payloadText(file: string): Promise<string> {
  const image = await fs.readFile(file);
  const headers = [0, HEADER_SIZE].map((at) => image.subarray(at, at + HEADER_SIZE).toString('utf8').trim()).filter((h) => h.startsWith('{'));
  const current = headers.map((h) => JSON.parse(h) as { seq: number; offset: number; length: number }).reduce((a, b) => (b.seq > a.seq ? b : a));
  return image.toString('utf8', current.offset, current.offset + current.length);
}

async function refusedWithoutWriting(file: string, nvram: Nvram, mutate: Parameters<Nvram['update']>[0], message: RegExp): Promise<void> {
  const before = await fs.readFile(file);
  const data = nvram.data;
  await expect(nvram.update(mutate)).rejects.toThrow(NvramInvalidDataError);
  await expect(nvram.update(mutate)).rejects.toThrow(message);
  expect(nvram.data).toBe(data);
  expect((await fs.readFile(file)).equals(before)).toBe(true);
}

describe('NVRAM commits: only what changed is encoded and checked, nothing is dropped', () => {
  it('writes exactly the full serialization of the content through appends, trims, edits in place and removals', async () => {
    const { file, nvram } = await fresh({ eventLogLimit: 5 });
    const steps: Parameters<Nvram['update']>[0][] = [
      (d) => void d.eventLog.push(event(1), event(2), event(3)),
      (d) => void d.eventLog.push(event(4), event(5), event(6), event(7)), // trimmed to the newest 5
      (d) => void (d.eventLog[1]!.message = 'edited in place'),
      (d) => void d.eventLog.splice(2, 1),
      (d) => void (d.panel.note = 'x'),
      (d) => void (d.panel.dropped = undefined), // JSON leaves it out
      (d) => void delete d.panel.note,
      (d) => void (d.snapshot = { value: 'authorized', context: { list: [1, undefined, 3] }, since: 4 }),
      (d) => void (d.spool = [...d.spool]), // a new array holding the same items
      (d, vault) => vault.set('smtp-password', 'a long enough password'),
      (d) => void (d.settings.smtp.smtpPort = 465),
      (d) => void d.eventLog.reverse(),
    ];
    for (const step of steps) {
      await nvram.update(step);
      const text = await payloadText(file);
      expect(text).toBe(JSON.stringify(nvram.data));
      expect(JSON.parse(text)).toEqual(nvram.data);
    }
    expect(nvram.data.eventLog).toHaveLength(4); // trimmed to 5, then one spliced out
    expect(nvram.data.snapshot).toEqual({ value: 'authorized', context: { list: [1, null, 3] }, since: 4 });
    expect(Object.keys(nvram.data.panel)).toEqual([]);
    // Memory is frozen all the way down, reused parts and new ones alike.
    expect(Object.isFrozen(nvram.data)).toBe(true);
    expect(Object.isFrozen(nvram.data.eventLog)).toBe(true);
    expect(nvram.data.eventLog.every((e) => Object.isFrozen(e))).toBe(true);
    expect(Object.isFrozen(nvram.data.settings.smtp)).toBe(true);
    await nvram.close();
    const again = await openNvram({ file, now: steppingNow() });
    expect(again.data).toEqual(nvram.data);
    await again.close();
  });

  it('does not look at unchanged parts again: an appended event checks one item, nothing else', async () => {
    const { file, nvram } = await fresh();
    for (let i = 0; i < 30; i++) await nvram.update((d) => void d.eventLog.push(event(i)));
    const before = nvram.stats().work;
    await nvram.update((d) => void d.eventLog.push(event(99)));
    const after = nvram.stats().work;
    expect(after.items.eventLog! - before.items.eventLog!).toBe(1);
    expect(after.parts.eventLog! - before.parts.eventLog!).toBe(1); // its shape
    for (const part of ['settings', 'device', 'secrets', 'spool', 'jobLog', 'snapshot', 'panel', 'firmwareVersion']) {
      expect(after.parts[part], part).toBe(before.parts[part]);
    }
    // A commit of an edited setting checks settings and nothing of the event log.
    await nvram.update((d) => void (d.settings.smtp.smtpServerName = 'smtp.example.com'));
    const edited = nvram.stats().work;
    expect(edited.parts.settings! - after.parts.settings!).toBe(1);
    expect(edited.items.eventLog).toBe(after.items.eventLog);
    expect(edited.parts.eventLog).toBe(after.parts.eventLog);
    await nvram.close();
    // After a reboot the scan has checked everything: the first commit checks only what it changes.
    const again = await openNvram({ file, now: steppingNow() });
    await again.update((d) => void d.eventLog.push(event(100)));
    expect(again.stats().work.items).toEqual({ eventLog: 1 });
    expect(Object.keys(again.stats().work.parts).sort()).toEqual(['eventLog']);
    await again.close();
  });

  it('still refuses a changed part that is invalid, with its path, and writes nothing', async () => {
    const { file, nvram } = await fresh();
    for (let i = 0; i < 10; i++) await nvram.update((d) => void d.eventLog.push(event(i)));
    await nvram.update((d) => void d.jobLog.push({ id: 'j1', messageId: '<m1@x>', status: 'sent', to: ['a@contoso.com'], subject: 's', contentPath: 'p', attempts: 1, reply: null, createdAt: 1, updatedAt: 2 }));
    await refusedWithoutWriting(file, nvram, (d) => void (d.settings.smtp.smtpPort = 0), /settings\.smtp\.smtpPort must be an integer 1\.\.65535/);
    // A new item, an item edited in place (it counts as new), an item committed in another part.
    await refusedWithoutWriting(file, nvram, (d) => void d.eventLog.push({ at: 'later', kind: 'test', message: 'm' } as never), /eventLog\[11\]\.at must be an integer/);
    await refusedWithoutWriting(file, nvram, (d) => void ((d.eventLog[3] as { kind: unknown }).kind = 7), /eventLog\[3\]\.kind must be a string/);
    await refusedWithoutWriting(file, nvram, (d) => void d.eventLog.push(nvram.data.jobLog[0] as never), /eventLog\[11\]\.at must be an integer/);
    await refusedWithoutWriting(file, nvram, (d) => void (d.eventLog = 'not a list' as never), /eventLog must be an array/);
    await refusedWithoutWriting(file, nvram, (d) => void delete (d as { snapshot?: unknown }).snapshot, /snapshot must be present/);
    await refusedWithoutWriting(file, nvram, (d) => void ((d.secrets as Record<string, unknown>).x = { alg: 'none' }), /secrets\.x\.alg must be 'A256GCM'/);
    // And the same content is fine once corrected: nothing was remembered from the refused attempts.
    await nvram.update((d) => void d.eventLog.push(event(11)));
    expect(nvram.data.eventLog.at(-1)).toEqual(event(11));
    await nvram.close();
  });

  it('still catches a secret whose plaintext appears in the content, when the blob changes and when it does not', async () => {
    const { file, nvram } = await fresh();
    const secret = 'refresh-token-0123456789';
    // The blob changes in the same commit that leaks its plaintext.
    await refusedWithoutWriting(file, nvram, (d, vault) => {
      vault.set('msal-cache', secret);
      d.panel.note = `cache: ${secret}`;
    }, /plaintext of secret "msal-cache" appears/);
    // A blob sealed over plaintext already in the content.
    await nvram.update((d) => void (d.panel.note = secret));
    await refusedWithoutWriting(file, nvram, (_, vault) => vault.set('msal-cache', secret), /plaintext of secret "msal-cache"/);
    await nvram.update((d) => void delete d.panel.note);
    // The blob unchanged, its plaintext leaking into a part that changes later.
    await nvram.update((_, vault) => vault.set('msal-cache', secret));
    await refusedWithoutWriting(file, nvram, (d) => void d.eventLog.push({ at: 1, kind: 'leak', message: secret }), /plaintext of secret "msal-cache"/);
    await nvram.close();
  });

  it('opens a sealed blob once: not when this commit sealed it, not again while it is unchanged', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((_, vault) => vault.set('msal-cache', 'token cache plaintext'));
    expect(nvram.stats().work.secretsOpened).toBe(0); // sealed here: its plaintext is known
    for (let i = 0; i < 5; i++) await nvram.update((d) => void d.eventLog.push(event(i)));
    expect(nvram.stats().work.secretsOpened).toBe(0);
    await nvram.close();
    const again = await openNvram({ file, now: steppingNow() });
    for (let i = 0; i < 5; i++) await again.update((d) => void d.eventLog.push(event(i)));
    expect(again.stats().work.secretsOpened).toBe(1); // once after the reboot, then remembered
    // The scan still runs on every commit: a leak of the unchanged secret is caught after the reboot too.
    await expect(again.update((d) => void (d.panel.x = 'token cache plaintext'))).rejects.toThrow(/plaintext of secret "msal-cache"/);
    expect(again.secrets.get('msal-cache')).toBe('token cache plaintext');
    await again.close();
  });

  it('keeps what the mutator left unchanged by identity and what it handed in normalized, not aliased', async () => {
    const { nvram } = await fresh();
    await nvram.update((d) => void d.eventLog.push(event(1)));
    const { settings, eventLog } = nvram.data;
    await nvram.update((d) => void (d.panel.n = 1));
    expect(nvram.data.settings).toBe(settings);
    expect(nvram.data.eventLog).toBe(eventLog);
    const handed = { value: 'x', context: { when: new Date(0) }, since: 1 };
    await nvram.update((d) => void (d.snapshot = handed));
    handed.value = 'changed after the commit';
    expect(nvram.data.snapshot).toEqual({ value: 'x', context: { when: '1970-01-01T00:00:00.000Z' }, since: 1 });
    await nvram.close();
  });

  it('reads what the disk holds after a boot that appended a recovery event (checked at its commit)', async () => {
    const { file, nvram } = await fresh();
    await nvram.update((d) => void d.eventLog.push(event(1)));
    await nvram.update((d) => void d.eventLog.push(event(2)));
    await nvram.close();
    // Damage the newest bank's payload CRC: the boot falls back and appends an nvram.recovered event.
    const image = await fs.readFile(file);
    const text = await payloadText(file);
    const at = image.indexOf(Buffer.from(text));
    image[at + 5] ^= 0x01;
    await fs.writeFile(file, image);
    const again = await openNvram({ file, now: steppingNow() });
    expect(again.boot.recovered).toBe(true);
    await again.update((d) => void d.eventLog.push(event(3)));
    expect(again.data.eventLog.map((e) => e.kind)).toEqual(['nvram.formatted', 'test', 'nvram.recovered', 'test']);
    expect(again.stats().work.items.eventLog).toBe(2); // the recovery event and the new one
    await again.close();
    expect((await readCommitted(file))?.content).toEqual(again.data);
  });
  it('payload bytes equal a full serialization through a seeded mix of edits, non-ASCII text, trims, reboots and a smaller log limit', async () => {
    const file = path.join(await dirs.make(), 'nvram.img');
    const rnd = seededRandom(16);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const words = ['a', 'héllo', '日本語', '😀 emoji', 'q"uote\\', '\u2028x', 'tab\tnl\n', ''];
    const ev = () => ({ at: Math.floor(rnd() * 1000), kind: pick(words), message: pick(words) + pick(words), ...(rnd() < 0.3 ? { data: { x: pick(words), gone: undefined } } : {}) });
    const job = () => ({ id: `j${Math.floor(rnd() * 100)}`, messageId: '<m@x>', status: 'queued' as const, to: [pick(words)], subject: pick(words), contentPath: 'p', attempts: 0, reply: null, createdAt: 1, updatedAt: 2 });
    const edits: Parameters<Nvram['update']>[0][] = [
      (d) => void d.eventLog.push(ev()),
      (d) => void d.eventLog.push(ev(), ev(), ev()),
      (d) => void d.eventLog.reverse(),
      (d) => void d.eventLog.splice(Math.floor(rnd() * 4), 1),
      (d) => void d.eventLog.unshift(ev()),
      (d) => void (d.eventLog.length > 0 && (d.eventLog[0]!.message = pick(words))),
      (d) => void (d.eventLog.length > 0 && d.eventLog.push(d.eventLog.at(-1)!)), // the same item twice
      (d) => void d.spool.push(job()),
      (d) => void (d.spool.length > 0 && d.jobLog.push(d.spool.shift()!)), // an item moved to another part
      (d) => void (d.panel[pick(words) || 'k'] = pick(words)),
      (d) => void (d.snapshot = { value: pick(words), list: [1, undefined, pick(words)] }),
      (d) => void (d.settings.smtp.authUsername = pick(words)),
      (_, vault) => vault.set(pick(['s1', 's2']), `sealed ${pick(words)} value`),
      (_, vault) => vault.delete('s1'),
    ];
    let limit = 9;
    let nvram = await openNvram({ file, now: steppingNow(), eventLogLimit: limit });
    for (let step = 0; step < 150; step++) {
      const chosen = [pick(edits), pick(edits)];
      await nvram.update((d, vault) => chosen.forEach((edit) => edit(d, vault)));
      const image = await fs.readFile(file);
      expect(image.includes(Buffer.from(JSON.stringify(nvram.data))), `step ${step}`).toBe(true);
      expect(nvram.data.eventLog.length).toBeLessThanOrEqual(limit);
      if (step % 40 === 39) {
        await nvram.close();
        limit -= 2; // a reboot with a smaller log: the next commit trims the unchanged list too
        nvram = await openNvram({ file, now: steppingNow(), eventLogLimit: limit });
      }
    }
    expect((await readCommitted(file))?.content).toEqual(nvram.data);
    await nvram.close();
  });
  it('publishes what a commit prepares while its fsync runs only when the fsync succeeds; a failed update spoils no later one', async () => {
    const dir = await dirs.make();
    const file = path.join(dir, 'nvram.img');
    let failSync = false;
    const io = nodeIoWith((inner) => ({
      sync: () => (failSync ? Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })) : inner.sync()),
    }));
    const nvram = await openNvram({ file, now: steppingNow(), factoryDevice: TEST_DEVICE, io });
    await nvram.update((d) => void d.eventLog.push(event(1)));
    await nvram.update((d) => void d.eventLog.push(event(2)));
    const committed = nvram.data;

    failSync = true; // the payload and header are written, the fsync fails: nothing of this commit may show
    await expect(nvram.update((d) => void d.eventLog.push(event(3)))).rejects.toThrow(/EIO/);
    expect(nvram.data).toBe(committed);
    failSync = false;
    // The next update in the same turn, its mutator failing half-way: still nothing.
    await expect(
      nvram.update((d) => {
        d.eventLog.push(event(4));
        throw new Error('mutator failed');
      }),
    ).rejects.toThrow('mutator failed');
    expect(nvram.data).toBe(committed);

    const messages = () => nvram.data.eventLog.map((e) => e.message).filter((m) => m.startsWith('event'));
    await nvram.update((d) => void d.eventLog.push(event(5)));
    expect(messages()).toEqual(['event 1', 'event 2', 'event 5']);
    await new Promise((resolve) => setImmediate(resolve)); // a later turn: the drafts made ahead are gone
    await nvram.update((d) => void d.eventLog.push({ ...event(6), data: { nested: { deep: [1] } } }));
    expect(messages()).toEqual(['event 1', 'event 2', 'event 5', 'event 6']);
    expect(await payloadText(file)).toBe(JSON.stringify(nvram.data));
    // What the commits parsed anew was frozen before it was published, all the way down.
    expect(nvram.data.eventLog.every((e) => Object.isFrozen(e))).toBe(true);
    expect(Object.isFrozen(nvram.data.eventLog.at(-1)!.data!.nested)).toBe(true);
    await nvram.close();
    const again = await openNvram({ file, now: steppingNow() });
    expect(again.data).toEqual(nvram.data);
    await again.close();
  });

  it('images sharing one pool of spare buffers, committing at the same time, each write exactly their own content', async () => {
    const buffers = new PayloadBuffers(2); // fewer spares than images: some commits take a fresh buffer
    const files = await Promise.all([0, 1, 2].map(async () => path.join(await dirs.make(), 'nvram.img')));
    const images = await Promise.all(files.map((file) => openNvram({ file, now: steppingNow(), eventLogLimit: 12, payloadBuffers: buffers })));
    const rnd = seededRandom(7);
    for (let round = 0; round < 60; round++) {
      // All three commits in flight at once: each builds its payload while another's fsync runs.
      await Promise.all(
        images.map(async (nvram, i) => {
          const n = round * 3 + i;
          if (rnd() < 0.15) {
            await expect(nvram.update((d) => void ((d.settings.smtp as unknown as Record<string, unknown>).smtpPort = 'not a port'))).rejects.toThrow(NvramInvalidDataError);
          } else {
            await nvram.update((d) => {
              d.eventLog.push({ at: n, kind: `image ${i}`, message: `${'x'.repeat(Math.floor(rnd() * 300))} ${n}` });
              if (rnd() < 0.3) d.panel[`k${i}`] = `round ${round}`;
            });
          }
        }),
      );
      for (const [i, nvram] of images.entries()) {
        expect(await payloadText(files[i]!), `round ${round}, image ${i}`).toBe(JSON.stringify(nvram.data));
      }
    }
    for (const [i, nvram] of images.entries()) {
      expect(nvram.data.eventLog.every((e) => e.kind === `image ${i}`)).toBe(true);
      await nvram.close();
      expect((await readCommitted(files[i]!))?.content).toEqual(nvram.data);
    }
  });

  it('a pool keeps at most its number of spare buffers and hands each out once', () => {
    const pool = new PayloadBuffers(1);
    const [a, b] = [Buffer.alloc(16), Buffer.alloc(16)];
    pool.give(a);
    pool.give(b); // over the limit: left to the GC
    expect(pool.take()).toBe(a);
    expect(pool.take().length).toBe(0); // none left: the encoder grows an empty one
  });
});
