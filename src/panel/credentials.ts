/**
 * The administrator password. Only a salted scrypt hash is kept, in the NVRAM section reserved for the panel
 * (`data.panel.adminPassword`); the plaintext exists only in the operator's hands (and, once, in the CLI output when
 * it was generated on first boot).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Nvram } from '../nvram/index.ts';

const KEY_LENGTH = 32;
const PARAMS = { N: 16384, r: 8, p: 1 } as const;

export interface StoredPasswordHash {
  alg: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  hash: string;
}

function scrypt(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEY_LENGTH, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string): Promise<StoredPasswordHash> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, PARAMS);
  return { alg: 'scrypt', ...PARAMS, salt: salt.toString('base64'), hash: key.toString('base64') };
}

export async function verifyPassword(candidate: string, stored: StoredPasswordHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64');
  const key = await scrypt(candidate, Buffer.from(stored.salt, 'base64'), { N: stored.N, r: stored.r, p: stored.p });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export function storedHash(nvram: Nvram): StoredPasswordHash | null {
  const v = nvram.data.panel.adminPassword as Partial<StoredPasswordHash> | undefined;
  if (!v || v.alg !== 'scrypt' || typeof v.salt !== 'string' || typeof v.hash !== 'string') return null;
  if (!Number.isSafeInteger(v.N) || !Number.isSafeInteger(v.r) || !Number.isSafeInteger(v.p)) return null;
  return v as StoredPasswordHash;
}

/** 16 characters from an alphabet without look-alikes (printed once, typed by a person). */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(16);
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

/**
 * Makes sure a hash is stored. An explicit password (option or MFP_ADMIN_PASSWORD) replaces a different stored one;
 * with none, the stored hash stays; with neither, a password is generated, stored as a hash and returned once.
 */
export async function ensureAdminCredential(
  nvram: Nvram,
  explicit: string | undefined,
): Promise<{ generatedPassword: string | null }> {
  const current = storedHash(nvram);
  if (explicit !== undefined && explicit !== '') {
    if (current && (await verifyPassword(explicit, current))) return { generatedPassword: null };
    await writeHash(nvram, await hashPassword(explicit));
    return { generatedPassword: null };
  }
  if (current) return { generatedPassword: null };
  const generated = generatePassword();
  await writeHash(nvram, await hashPassword(generated));
  return { generatedPassword: generated };
}

/** Replaces the stored hash with one of `password`. */
export async function setAdminPassword(nvram: Nvram, password: string): Promise<void> {
  await writeHash(nvram, await hashPassword(password));
}

async function writeHash(nvram: Nvram, hash: StoredPasswordHash): Promise<void> {
  await nvram.update((draft) => {
    draft.panel = { ...draft.panel, adminPassword: hash };
  });
}
