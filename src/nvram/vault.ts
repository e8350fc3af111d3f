/**
 * Sealed secrets. The device key (32 random bytes) lives in a separate file standing in for a secure element; the
 * image only ever holds AES-256-GCM blobs. Each seal uses a fresh 12-byte IV and binds the blob to its place with
 * AAD "secrets/<name>", so a blob copied under another name does not open.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { promises as fs, constants as fsc, readFileSync } from 'node:fs';
import path from 'node:path';
import { NvramSecretError } from './errors.ts';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../util/private-fs.ts';
import { syncDirectory } from '../util/fsync.ts';
import type { SealedBlob } from './schema.ts';

export const DEVICE_KEY_BYTES = 32;

export type DeviceKeyState =
  /** `replaced`: why a damaged key file was replaced by a new key at this boot (absent when it was not). */
  | { ok: true; key: Buffer; kid: string; created: boolean; replaced?: string }
  /** `damaged`: the file is there but cannot be a key (wrong size); unreadable files (EACCES, EIO…) are not. */
  | { ok: false; reason: string; damaged?: boolean };

export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** Default key location: `secure-element.key` next to the image. */
export function defaultKeyFile(imageFile: string): string {
  return path.join(path.dirname(imageFile), 'secure-element.key');
}

/**
 * Reads the device key, creating it (mode 0600, fsync'ed) when the file does not exist. A key file that exists but
 * is not 32 bytes is reported as damaged and left alone here: only the image's owner, holding its lock, may replace
 * it (replaceDamagedDeviceKey), and says so at boot.
 */
export async function loadOrCreateDeviceKey(keyFile: string): Promise<DeviceKeyState> {
  try {
    // Synchronous: 32 bytes read once per boot; a thread-pool round trip costs more than the read.
    const key = readFileSync(keyFile);
    if (key.length !== DEVICE_KEY_BYTES) return { ok: false, damaged: true, reason: `device key file ${keyFile} holds ${key.length} bytes, expected ${DEVICE_KEY_BYTES}` };
    return { ok: true, key, kid: keyId(key), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { ok: false, reason: `device key file ${keyFile} unreadable (${(err as NodeJS.ErrnoException).code})` };
  }
  const key = randomBytes(DEVICE_KEY_BYTES);
  await makePrivateDir(path.dirname(keyFile));
  try {
    await writeKeyFile(keyFile, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, key);
  } catch (err) {
    // Another opener created it between our read and our create: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateDeviceKey(keyFile);
    throw err;
  }
  await syncDirectory(path.dirname(keyFile));
  return { ok: true, key, kid: keyId(key), created: true };
}

/**
 * A damaged key (wrong size) opens nothing and seals nothing: a printer that kept it could never sign in again. Its
 * secrets are lost either way, so the booting device makes a new key (written beside it, fsync'ed, renamed over it)
 * and reports the change; the sealed secrets of the old key are then reported as unreadable by the new one.
 */
export async function replaceDamagedDeviceKey(keyFile: string, damage: string): Promise<DeviceKeyState> {
  const key = randomBytes(DEVICE_KEY_BYTES);
  const temp = `${keyFile}.new`;
  await writeKeyFile(temp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, key);
  await fs.rename(temp, keyFile);
  await syncDirectory(path.dirname(keyFile));
  return { ok: true, key, kid: keyId(key), created: true, replaced: `${damage}: replaced with a new device key` };
}

/** A key into its file: owner-only whatever the umask, written, fsync'ed, closed also when a step fails. */
async function writeKeyFile(file: string, flags: number, key: Buffer): Promise<void> {
  const fh = await fs.open(file, flags, PRIVATE_FILE_MODE);
  try {
    await fh.chmod(PRIVATE_FILE_MODE);
    await fh.writeFile(key);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class SecretVault {
  constructor(private readonly keyState: DeviceKeyState) {}

  get available(): boolean {
    return this.keyState.ok;
  }

  get kid(): string | null {
    return this.keyState.ok ? this.keyState.kid : null;
  }

  seal(name: string, value: string): SealedBlob {
    if (!this.keyState.ok) throw new NvramSecretError(name, this.keyState.reason);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keyState.key, iv);
    cipher.setAAD(aad(name));
    const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return { alg: 'A256GCM', kid: this.keyState.kid, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
  }

  /** Opens a blob or throws NvramSecretError saying why (wrong key, tampered blob, moved blob). */
  open(name: string, blob: SealedBlob): string {
    if (!this.keyState.ok) throw new NvramSecretError(name, this.keyState.reason);
    if (blob.kid !== this.keyState.kid) {
      throw new NvramSecretError(name, `sealed with device key ${blob.kid}, this device has key ${this.keyState.kid} (secure element replaced or key file lost)`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.keyState.key, Buffer.from(blob.iv, 'base64'));
      decipher.setAAD(aad(name));
      decipher.setAuthTag(Buffer.from(blob.tag, 'base64'));
      return Buffer.concat([decipher.update(Buffer.from(blob.ct, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new NvramSecretError(name, 'authentication failed (blob damaged or stored under another name)');
    }
  }
}

function aad(name: string): Buffer {
  return Buffer.from(`secrets/${name}`, 'utf8');
}
