/**
 * What a dying disk or a tampered key did without a word (issue 13): each fault is now recognised at boot and
 * reported as a coded finding (boot report, nvram.recovered event) and by `nvram verify`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openNvram } from '../../src/nvram/index.ts';
import { HEADER_SIZE, headerOffset } from '../../src/nvram/banks.ts';
import { verifyImage } from '../../src/nvram/inspect.ts';
import { steppingNow, tempDirs, TEST_DEVICE } from './helpers.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

/** An image written many times, with a sealed secret, closed cleanly. Returns its paths and the newer bank. */
async function wornImage(): Promise<{ file: string; keyFile: string; newer: 'A' | 'B' }> {
  const dir = await dirs.make();
  const file = path.join(dir, 'nvram.json');
  const keyFile = path.join(dir, 'secure-element.key');
  const nv = await openNvram({ file, keyFile, now: steppingNow(), factoryDevice: TEST_DEVICE });
  await nv.secrets.set('msal-cache', '{"refresh":"sealed-token-material"}');
  for (let i = 0; i < 22; i++) await nv.update((d) => void d.eventLog.push({ at: i, kind: 'test', message: `write ${i}` }));
  const newer = nv.boot.bank === null ? 'A' : (nv.stats().banks.reduce((a, b) => (b.seq > a.seq ? b : a)).name as 'A' | 'B');
  await nv.close();
  return { file, keyFile, newer };
}

const open = (file: string, keyFile: string) => openNvram({ file, keyFile, now: steppingNow(), factoryDevice: { id: 'new-identity', serial: 'SIMNEW' } });

describe('boot findings', () => {
  it('a zeroed newer header: fallback reported as bank-erased, and verify exits non-OK', async () => {
    const { file, keyFile, newer } = await wornImage();
    const fh = await fs.open(file, 'r+');
    await fh.write(Buffer.alloc(HEADER_SIZE), 0, HEADER_SIZE, headerOffset(newer));
    await fh.close();
    const verdict = await verifyImage(file, undefined, keyFile);
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/header blank although bank [AB] had been written \d+ times/);
    const nv = await open(file, keyFile);
    expect(nv.boot.recovered).toBe(true);
    expect(nv.boot.findings.map((f) => f.code)).toEqual(['bank-erased']);
    expect(nv.data.eventLog.at(-1)).toMatchObject({ kind: 'nvram.recovered' });
    expect(nv.data.device.id).toBe(TEST_DEVICE.id);
    await nv.close();
  });

  it('an image truncated to 0 bytes beside an existing key: image-lost, not a silent new printer', async () => {
    const { file, keyFile } = await wornImage();
    await fs.truncate(file, 0);
    expect((await verifyImage(file, undefined, keyFile)).reason).toMatch(/image was lost/);
    const nv = await open(file, keyFile);
    expect(nv.boot.recovered).toBe(true);
    expect(nv.boot.findings.map((f) => f.code)).toEqual(['image-lost']);
    expect(nv.data.eventLog.some((e) => e.kind === 'nvram.recovered' && /image was lost/.test(e.message))).toBe(true);
    await nv.close();
  });

  it.each([
    ['deleted', async (k: string) => fs.rm(k)],
    ['replaced', async (k: string) => fs.writeFile(k, randomBytes(32))],
    ['truncated', async (k: string) => fs.truncate(k, 7)],
  ])('a %s device key: device-key-changed at boot and in verify', async (_name, damage) => {
    const { file, keyFile } = await wornImage();
    await damage(keyFile);
    const verdict = await verifyImage(file, undefined, keyFile);
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/device key changed/);
    const nv = await open(file, keyFile);
    expect(nv.boot.keyChanged).toBe(true);
    expect(nv.boot.findings.map((f) => f.code)).toContain('device-key-changed');
    // A key file of the wrong size opens and seals nothing: the boot replaces it, and says so.
    if (_name === 'truncated') expect(nv.boot.reason).toMatch(/holds 7 bytes, expected 32: replaced with a new device key/);
    expect(nv.data.eventLog.at(-1)).toMatchObject({ kind: 'nvram.recovered', data: { reason: 'device-key-changed' } });
    await nv.secrets.set('msal-cache', 'sealed-with-the-new-key');
    expect(nv.secrets.get('msal-cache')).toBe('sealed-with-the-new-key');
    await nv.close();
  });

  it.each([
    ['deleted', async (k: string) => fs.rm(k)],
    ['replaced', async (k: string) => fs.writeFile(k, randomBytes(32))],
  ])('a %s device key on a printer with nothing sealed: the image names its key, so the change is still reported', async (_name, damage) => {
    const dir = await dirs.make();
    const file = path.join(dir, 'nvram.json');
    const keyFile = path.join(dir, 'secure-element.key');
    const first = await openNvram({ file, keyFile, now: steppingNow(), factoryDevice: TEST_DEVICE });
    await first.update((d) => void d.eventLog.push({ at: 1, kind: 'test', message: 'a write under the first key' }));
    expect(first.data.deviceKeyId).toMatch(/^[0-9a-f]{16}$/);
    await first.close();
    expect((await verifyImage(file, undefined, keyFile)).ok).toBe(true);
    await damage(keyFile);
    const verdict = await verifyImage(file, undefined, keyFile);
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/device key changed: .*written under device key [0-9a-f]{16}/);
    const nv = await open(file, keyFile);
    expect(nv.boot.keyChanged).toBe(true);
    expect(nv.boot.findings.map((f) => f.code)).toEqual(['device-key-changed']);
    expect(nv.data.eventLog.at(-1)).toMatchObject({ kind: 'nvram.recovered', data: { reason: 'device-key-changed' } });
    // The next commit records the new key: the boot after it is clean again.
    await nv.update((d) => void d.eventLog.push({ at: 2, kind: 'test', message: 'a write under the new key' }));
    await nv.close();
    const again = await open(file, keyFile);
    expect(again.boot).toMatchObject({ keyChanged: false, findings: [] });
    await again.close();
    expect((await verifyImage(file, undefined, keyFile)).ok).toBe(true);
  });

  it('a replaced key with two secrets sealed: the finding names each secret with its reason, and the event lists them', async () => {
    const { file, keyFile } = await wornImage();
    const first = await open(file, keyFile);
    await first.secrets.set('smtp-password', 'Sealed-Passw0rd-1');
    await first.close();
    await fs.writeFile(keyFile, randomBytes(32));
    const nv = await open(file, keyFile);
    const sealedWith = 'sealed with device key [0-9a-f]{16}, this device has key [0-9a-f]{16} \\(secure element replaced or key file lost\\)';
    expect(nv.boot.findings).toHaveLength(1);
    expect(nv.boot.findings[0]!.message).toMatch(new RegExp(`^device key changed: msal-cache: ${sealedWith}; smtp-password: ${sealedWith}$`));
    expect(nv.data.eventLog.at(-1)).toMatchObject({ kind: 'nvram.recovered', data: { reason: 'device-key-changed', secrets: ['msal-cache', 'smtp-password'] } });
    await nv.close();
  });

  it('a truncated key on a printer with nothing sealed: its replacement is the one reason given', async () => {
    const dir = await dirs.make();
    const file = path.join(dir, 'nvram.json');
    const keyFile = path.join(dir, 'secure-element.key');
    const first = await openNvram({ file, keyFile, now: steppingNow(), factoryDevice: TEST_DEVICE });
    await first.update((d) => void d.eventLog.push({ at: 1, kind: 'test', message: 'a write under the first key' }));
    await first.close();
    await fs.truncate(keyFile, 7);
    const nv = await open(file, keyFile);
    expect(nv.boot.keyChanged).toBe(true);
    expect(nv.boot.findings.map((f) => f.code)).toEqual(['device-key-changed']);
    expect(nv.boot.findings[0]!.message).toMatch(/^device key changed: device key file .* holds 7 bytes, expected 32: replaced with a new device key$/);
    await nv.close();
  });

  it('an image truncated to 0 bytes beside a truncated key: still image-lost (the key had existed), said with the file size', async () => {
    const { file, keyFile } = await wornImage();
    await fs.truncate(file, 0);
    await fs.truncate(keyFile, 7);
    const nv = await open(file, keyFile);
    expect(nv.boot.findings.map((f) => f.code)).toContain('image-lost');
    expect(nv.data.eventLog.find((e) => e.kind === 'nvram.recovered')).toMatchObject({ data: { reason: 'image-lost', fileSize: 0 } });
    await nv.close();
  });

  it('a first boot and a lost image are not a changed key', async () => {
    const { file, keyFile } = await wornImage();
    await fs.truncate(file, 0);
    const lost = await open(file, keyFile);
    expect(lost.boot).toMatchObject({ recovered: true, keyChanged: false });
    await lost.close();
    const dir = await dirs.make();
    const fresh = await open(path.join(dir, 'nvram.json'), path.join(dir, 'secure-element.key'));
    expect(fresh.boot).toMatchObject({ recovered: false, keyChanged: false, findings: [] });
    await fresh.close();
  });

  it('a clean image has no findings and verifies OK', async () => {
    const { file, keyFile } = await wornImage();
    expect((await verifyImage(file, undefined, keyFile)).ok).toBe(true);
    const nv = await open(file, keyFile);
    expect(nv.boot).toMatchObject({ recovered: false, findings: [], keyChanged: false });
    await nv.close();
  });
});
