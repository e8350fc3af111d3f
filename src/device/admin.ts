/**
 * The administrator password, an operation of the device. Only a salted scrypt hash is kept, in the NVRAM section
 * reserved for the panel (`data.panel.adminPassword`); the plaintext exists only in the operator's hands (and, once,
 * in the CLI output when it was generated on first boot). Changes go through the device's queue (`createDevice`
 * passes its `commit`), so they are serialized with every other write.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { NvramData } from '../nvram/schema.ts';

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

export function storedHash(data: Readonly<NvramData>): StoredPasswordHash | null {
  const v = data.panel.adminPassword as Partial<StoredPasswordHash> | undefined;
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

/** What the device offers faces about its administrator password. */
export interface AdminCredentialOps {
  /** The stored hash (plain data; null when none is stored): for a face that caches verified credentials. */
  stored(): StoredPasswordHash | null;
  check(password: string): Promise<boolean>;
  change(password: string): Promise<void>;
  /**
   * Makes sure a hash is stored. An explicit password (option or MFP_ADMIN_PASSWORD) replaces a different stored one;
   * with none, the stored hash stays; with neither, a password is generated, stored as a hash and returned once.
   */
  ensure(explicit: string | undefined): Promise<{ generatedPassword: string | null }>;
}

/** The admin operations over a device's data and its serialized write (`write` runs in the device's queue). */
export function adminCredential(
  data: () => Readonly<NvramData>,
  write: (mutate: (draft: NvramData) => void) => Promise<void>,
): AdminCredentialOps {
  const store = (hash: StoredPasswordHash) =>
    write((draft) => {
      draft.panel = { ...draft.panel, adminPassword: hash };
    });
  const ops: AdminCredentialOps = {
    stored: () => storedHash(data()),
    check: async (password) => {
      const current = ops.stored();
      return current !== null && (await verifyPassword(password, current));
    },
    change: async (password) => {
      if (typeof password !== 'string' || password === '') throw new Error('the administrator password must be a non-empty string');
      await store(await hashPassword(password));
    },
    ensure: async (explicit) => {
      const current = ops.stored();
      if (explicit !== undefined && explicit !== '') {
        if (current && (await verifyPassword(explicit, current))) return { generatedPassword: null };
        await store(await hashPassword(explicit));
        return { generatedPassword: null };
      }
      if (current) return { generatedPassword: null };
      const generated = generatePassword();
      await store(await hashPassword(generated));
      return { generatedPassword: generated };
    },
  };
  return ops;
}
