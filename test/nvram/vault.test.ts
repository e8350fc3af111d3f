import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NvramInvalidDataError, NvramSecretError, openNvram } from '../../src/nvram/index.ts';
import { readCommitted } from '../../src/nvram/inspect.ts';
import { tempDirs, TEST_DEVICE } from './helpers.ts';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.refresh-token-for-vault-test.c2lnbmF0dXJl';
const PASSWORD = 'S3cret-SMTP-Password!';

async function setup() {
  const dir = await dirs.make();
  return { dir, file: path.join(dir, 'nvram.img'), keyFile: path.join(dir, 'secure-element.key') };
}

/** Every encoding of `plain` that could betray it in the raw image. */
function leaks(raw: Buffer, plain: string): string[] {
  const forms = { utf8: plain, base64: Buffer.from(plain).toString('base64'), hex: Buffer.from(plain).toString('hex') };
  return Object.entries(forms)
    .filter(([, f]) => raw.includes(Buffer.from(f)))
    .map(([k]) => k);
}

describe('SecretVault in the NVRAM', () => {
  it('keeps no plaintext secret in the image file, and reads it back after a restart', async () => {
    const { file, keyFile } = await setup();
    const nvram = await openNvram({ file, factoryDevice: TEST_DEVICE });
    await nvram.secrets.set('msal-cache', TOKEN);
    await nvram.secrets.set('smtp-password', PASSWORD);
    expect(nvram.secrets.get('msal-cache')).toBe(TOKEN);
    expect(nvram.data.secrets['msal-cache']).toMatchObject({ alg: 'A256GCM', kid: expect.any(String) });
    await nvram.close();
    const raw = await fs.readFile(file);
    expect(leaks(raw, TOKEN)).toEqual([]);
    expect(leaks(raw, PASSWORD)).toEqual([]);
    expect(leaks(raw, 'refresh-token-for-vault-test')).toEqual([]);
    expect((await fs.stat(keyFile)).mode & 0o777).toBe(0o600);
    const again = await openNvram({ file });
    expect(again.secrets.get('msal-cache')).toBe(TOKEN);
    expect(again.secrets.has('smtp-password')).toBe(true);
    expect(again.secrets.unreadable()).toEqual([]);
    await again.close();
  });

  it('seals with a fresh IV every time', async () => {
    const { file } = await setup();
    const nvram = await openNvram({ file });
    await nvram.secrets.set('a', TOKEN);
    const first = nvram.data.secrets.a!;
    await nvram.secrets.set('a', TOKEN);
    expect(nvram.data.secrets.a!.iv).not.toBe(first.iv);
    expect(nvram.data.secrets.a!.ct).not.toBe(first.ct);
    await nvram.close();
  });

  it('commits a secret and a state change in one write via the draft vault', async () => {
    const { file } = await setup();
    const nvram = await openNvram({ file });
    const seq = nvram.boot.seq;
    await nvram.update((draft, vault) => {
      vault.set('msal-cache', TOKEN);
      draft.snapshot = { value: 'authorized' };
    });
    expect(Math.max(...nvram.stats().banks.map((b) => b.seq))).toBe(seq + 1);
    await nvram.update((draft, vault) => {
      expect(vault.get('msal-cache')).toBe(TOKEN);
      vault.delete('msal-cache');
      draft.snapshot = { value: 'ready' };
    });
    expect(nvram.secrets.has('msal-cache')).toBe(false);
    await nvram.close();
  });

  it('with the wrong device key: secrets unreadable, reported, no crash, blobs kept', async () => {
    const { dir, file } = await setup();
    const nvram = await openNvram({ file });
    await nvram.secrets.set('msal-cache', TOKEN);
    await nvram.close();
    const other = await openNvram({ file, keyFile: path.join(dir, 'another-secure-element.key') });
    expect(other.secrets.get('msal-cache')).toBeUndefined();
    expect(other.secrets.has('msal-cache')).toBe(false);
    expect(other.secrets.unreadable()).toEqual([{ name: 'msal-cache', reason: expect.stringMatching(/sealed with device key \w+, this device has key \w+/), lost: true }]);
    await other.update((d) => void (d.panel.touched = true)); // the rest of the NVRAM still works
    expect(other.data.secrets['msal-cache']).toBeDefined();
    await other.close();
    const original = await openNvram({ file });
    expect(original.secrets.get('msal-cache')).toBe(TOKEN);
    await original.close();
  });

  it('with a damaged key file (wrong size): replaced at boot, said so, the old secrets reported unreadable, new ones sealed', async () => {
    const { file, keyFile } = await setup();
    const nvram = await openNvram({ file });
    await nvram.secrets.set('msal-cache', TOKEN);
    await nvram.close();
    await fs.writeFile(keyFile, Buffer.alloc(7));
    const broken = await openNvram({ file });
    expect(broken.boot.keyChanged).toBe(true);
    expect(broken.boot.findings.find((f) => f.code === 'device-key-changed')?.message).toMatch(/holds 7 bytes, expected 32: replaced with a new device key/);
    expect(broken.secrets.get('msal-cache')).toBeUndefined();
    expect(broken.secrets.unreadable()[0]?.reason).toMatch(/sealed with device key \w+, this device has key \w+/);
    await broken.secrets.set('msal-cache', 'new');
    expect(broken.secrets.get('msal-cache')).toBe('new');
    await broken.close();
    const key = await fs.stat(keyFile);
    expect(key.size).toBe(32);
    expect(key.mode & 0o777).toBe(0o600);
    await expect(fs.stat(`${keyFile}.new`)).rejects.toMatchObject({ code: 'ENOENT' });
    const again = await openNvram({ file });
    expect(again.secrets.get('msal-cache')).toBe('new');
    expect(again.boot.keyChanged).toBe(false);
    await again.close();
  });

  it('with a key file that cannot be read (not a file): reported, not replaced, and sealing refused without writing', async () => {
    const { file, keyFile } = await setup();
    const nvram = await openNvram({ file });
    await nvram.secrets.set('msal-cache', TOKEN);
    await nvram.close();
    await fs.rm(keyFile);
    await fs.mkdir(keyFile);
    const bytes = await fs.readFile(file);
    const broken = await openNvram({ file });
    expect(broken.secrets.get('msal-cache')).toBeUndefined();
    expect(broken.secrets.unreadable()[0]).toMatchObject({ reason: expect.stringMatching(/device key file .* unreadable \(EISDIR\)/), lost: false });
    const err = await broken.secrets.set('msal-cache', 'new').catch((e) => e);
    expect(err).toBeInstanceOf(NvramSecretError);
    expect(err.code).toBe('nvram_secret_unavailable');
    await broken.close();
    expect((await fs.readFile(file)).equals(bytes)).toBe(true);
    expect((await fs.stat(keyFile)).isDirectory()).toBe(true);
  });

  it('does not open a blob moved under another name (AAD binds the name)', async () => {
    const { file } = await setup();
    const nvram = await openNvram({ file });
    await nvram.secrets.set('msal-cache', TOKEN);
    await nvram.update((d) => void (d.secrets['smtp-password'] = d.secrets['msal-cache']!));
    expect(nvram.secrets.get('smtp-password')).toBeUndefined();
    expect(nvram.secrets.unreadable()).toEqual([{ name: 'smtp-password', reason: expect.stringMatching(/authentication failed/), lost: true }]);
    await nvram.close();
  });

  it('refuses a commit that would put a secret in plain text anywhere else in the image', async () => {
    const { file } = await setup();
    const nvram = await openNvram({ file });
    await nvram.secrets.set('smtp-password', PASSWORD);
    const bytes = await fs.readFile(file);
    const err = await nvram.update((d) => void (d.snapshot = { context: { debug: `pw=${PASSWORD}` } })).catch((e) => e);
    expect(err).toBeInstanceOf(NvramInvalidDataError);
    expect(err.message).toMatch(/plaintext of secret "smtp-password"/);
    expect(err.message).not.toContain(PASSWORD);
    expect((await fs.readFile(file)).equals(bytes)).toBe(true);
    expect((await readCommitted(file))?.content).toMatchObject({ snapshot: null });
    await nvram.close();
  });
});

describe('boot findings beside the vault (issue 13)', () => {
  async function signedIn() {
    const s = await setup();
    const nvram = await openNvram({ file: s.file, factoryDevice: TEST_DEVICE });
    await nvram.secrets.set('msal-cache', TOKEN);
    await nvram.close();
    return s;
  }

  it('an intact key reports nothing', async () => {
    const { file } = await signedIn();
    const again = await openNvram({ file });
    expect(again.boot).toMatchObject({ recovered: false, reason: null, findings: [] });
    await again.close();
  });

  it('an image deleted while its device key is there is image-lost, not a silent first boot', async () => {
    const { file } = await signedIn();
    await fs.rm(file);
    const again = await openNvram({ file });
    expect(again.boot.recovered).toBe(true);
    expect(again.boot.findings.map((f) => f.code)).toEqual(['image-lost']);
    expect(again.data.eventLog.map((e) => e.kind)).toEqual(['nvram.recovered']);
    await again.close();
  });
});
