/**
 * The three ways a printer's device key goes while the power is off, as a simulator fault on its state directory:
 * the key file deleted (the next boot makes a new key), replaced by another key, or truncated. The running firmware
 * read its key at boot and does not read it again, so doing this before a power cycle is doing it while off.
 */
import { randomBytes } from 'node:crypto';
import { rm, truncate } from 'node:fs/promises';
import { defaultKeyFile, DEVICE_KEY_BYTES } from '../nvram/vault.ts';
import { writePrivateFile } from '../util/private-fs.ts';

export const DEVICE_KEY_FAULTS = ['deleted', 'replaced', 'truncated'] as const;
export type DeviceKeyFault = (typeof DEVICE_KEY_FAULTS)[number];

/** Applies `fault` to the key beside the NVRAM image `nvramFile`. */
export async function damageDeviceKey(nvramFile: string, fault: DeviceKeyFault): Promise<void> {
  const keyFile = defaultKeyFile(nvramFile);
  if (fault === 'deleted') await rm(keyFile, { force: true });
  else if (fault === 'replaced') await writePrivateFile(keyFile, randomBytes(DEVICE_KEY_BYTES));
  else await truncate(keyFile, 7);
}
