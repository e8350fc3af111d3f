/**
 * The trust store over a real NVRAM image: factory roots added at power-on (a firmware that ships one more root brings
 * it in), a deleted factory root stays deleted, imports validated, and the NVRAM budget refuses what does not fit —
 * every refusal leaves the image as it was.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generate } from 'selfsigned';
import { openNvram, type Nvram } from '../../src/nvram/index.ts';
import { TrustStore, microsoftFactoryRoots } from '../../src/device/trustStore.ts';
import { VirtualClock } from '../../src/time/clock.ts';

const ca = [{ name: 'basicConstraints' as const, cA: true, critical: true }];
const root = (cn: string) => generate([{ name: 'commonName', value: cn }], { keyType: 'ec', algorithm: 'sha256', extensions: ca });
let a: string;
let b: string;
let c: string;
let leaf: string;
beforeAll(async () => {
  [a, b, c] = (await Promise.all(['Root A', 'Root B', 'Root C'].map(root))).map((r) => r.cert);
  leaf = (await generate([{ name: 'commonName', value: 'server' }], { keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'basicConstraints', cA: false }] })).cert;
});

const clock = new VirtualClock();
async function image(capacityBytes?: number): Promise<{ file: string; open: () => Promise<Nvram> }> {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'mfp-trust-')), 'nvram.json');
  return { file, open: () => openNvram({ file, now: () => clock.now(), ...(capacityBytes ? { capacityBytes } : {}) }) };
}

describe('trust store', () => {
  it('adds the firmware\'s factory roots at power-on; a firmware with one more root adds it; a deleted one stays deleted', async () => {
    const img = await image();
    let nvram = await img.open();
    let store = await TrustStore.powerOn({ nvram, clock, factoryRoots: [a] });
    expect(store.list().map((x) => [x.subject, x.origin])).toEqual([['Root A', 'factory']]);
    await store.remove(store.list()[0]!.fingerprint);
    await nvram.close();

    nvram = await img.open();
    store = await TrustStore.powerOn({ nvram, clock, factoryRoots: [a, b] }); // the update ships Root B
    expect(store.list().map((x) => x.subject)).toEqual(['Root B']);
    expect(nvram.data.eventLog.map((e) => e.kind)).toEqual(expect.arrayContaining(['trust.factory-added', 'trust.deleted']));
    await nvram.close();
  });

  it('refuses a non-CA, a bundle, garbage and a duplicate, changing nothing', async () => {
    const img = await image();
    const nvram = await img.open();
    const store = await TrustStore.powerOn({ nvram, clock, factoryRoots: [a] });
    const before = JSON.stringify(nvram.data);
    await expect(store.importPem(leaf)).rejects.toMatchObject({ reason: 'not-a-ca' });
    await expect(store.importPem(`${b}\n${c}`)).rejects.toMatchObject({ reason: 'malformed', message: expect.stringMatching(/one certificate at a time/) });
    await expect(store.importPem(42)).rejects.toMatchObject({ reason: 'malformed' });
    await expect(store.importPem(a)).rejects.toMatchObject({ reason: 'duplicate' });
    expect(JSON.stringify(nvram.data)).toBe(before);
    await nvram.close();
  });

  it('counts in the NVRAM budget: an import that does not fit is refused as full and nothing is written', async () => {
    const img = await image(4096);
    const nvram = await img.open();
    const store = await TrustStore.powerOn({ nvram, clock, factoryRoots: [a] });
    const extra = await Promise.all(Array.from({ length: 12 }, (_, i) => root(`Extra root ${i}`)));
    let refused: unknown = null;
    let before = '';
    for (const r of extra) {
      before = JSON.stringify(nvram.data);
      try {
        await store.importPem(r.cert);
      } catch (err) {
        refused = err;
        break;
      }
    }
    expect(refused).toMatchObject({ reason: 'full', message: expect.stringMatching(/no room in NVRAM/) });
    expect(JSON.stringify(nvram.data)).toBe(before);
    await nvram.close();
  });

  it('factory roots that do not fit do not stop the boot: the store stays as it was', async () => {
    const img = await image(4096);
    const nvram = await img.open();
    const many = (await Promise.all(Array.from({ length: 12 }, (_, i) => root(`Factory root ${i}`)))).map((r) => r.cert);
    const before = JSON.stringify(nvram.data);
    const store = await TrustStore.powerOn({ nvram, clock, factoryRoots: many });
    expect(store.list()).toEqual([]);
    expect(JSON.stringify(nvram.data)).toBe(before);
    await nvram.close();
  });

  it('Microsoft mode names the real roots (DigiCert Global Root G2 among them)', () => {
    const names = microsoftFactoryRoots().map((pem) => /CN=([^\n]+)/.exec(new X509Certificate(pem).subject)?.[1]);
    expect(names).toContain('DigiCert Global Root G2');
  });
});
