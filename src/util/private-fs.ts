/**
 * A printer's state directory holds mail content, logs and keys: nothing in it is for other local users. Directories
 * are 0700 and files 0600, created that way and set explicitly afterwards, so the result does not depend on the
 * process's umask (a umask can only take bits away, and a strict one could take the owner's own away).
 */
import { chmodSync, mkdirSync, promises as fs } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** mkdir -p with 0700 on the directory itself (parents outside the state directory are left as they are). */
export async function makePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  await fs.chmod(dir, PRIVATE_DIR_MODE);
}

export function makePrivateDirSync(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Writes a whole file readable by its owner only. */
export async function writePrivateFile(file: string, data: string | Uint8Array): Promise<void> {
  await fs.writeFile(file, data, { mode: PRIVATE_FILE_MODE });
  await fs.chmod(file, PRIVATE_FILE_MODE);
}

/** Creates the file (empty) if missing and makes it private: for files another library then opens (the log). */
export async function touchPrivateFile(file: string): Promise<void> {
  const fh = await fs.open(file, 'a', PRIVATE_FILE_MODE);
  try {
    await fh.chmod(PRIVATE_FILE_MODE);
  } finally {
    await fh.close();
  }
}
