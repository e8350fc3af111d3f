/**
 * The NVRAM faults of issue 13, done to an image (and its key) on disk while the printer is off: what a dying disk,
 * a bad flash block or a careless technician leaves behind. Each is named as the issue names it.
 */
import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { decodeHeader, HEADER_SIZE, headerOffset, type BankHeader, type BankName } from '../../src/nvram/banks.ts';

export const IMAGE_FAULTS = ['flip-newer-payload', 'flip-newer-header', 'zero-newer-header', 'truncate-inside-newer', 'truncate-to-zero'] as const;
export const KEY_FAULTS = ['delete-key', 'replace-key', 'truncate-key'] as const;
export type ImageFault = (typeof IMAGE_FAULTS)[number];
export type KeyFault = (typeof KEY_FAULTS)[number];

/** The bank with the highest sequence number whose header decodes, and its header. */
export function newerBank(image: Buffer): { bank: BankName; header: BankHeader } | null {
  let best: { bank: BankName; header: BankHeader } | null = null;
  for (const bank of ['A', 'B'] as const) {
    const h = decodeHeader(image.subarray(headerOffset(bank), headerOffset(bank) + HEADER_SIZE), bank);
    if (typeof h === 'object' && (!best || h.seq > best.header.seq)) best = { bank, header: h };
  }
  return best;
}

export async function damageImage(file: string, fault: ImageFault): Promise<{ bank: BankName | null }> {
  const image = await fs.readFile(file);
  const newer = newerBank(image);
  if (!newer) throw new Error(`${file}: no bank to damage`);
  const { bank, header } = newer;
  const fh = await fs.open(file, 'r+');
  try {
    switch (fault) {
      case 'flip-newer-payload': {
        const at = header.offset + Math.floor(header.length / 2);
        await fh.write(Buffer.from([image[at]! ^ 0x01]), 0, 1, at);
        break;
      }
      case 'flip-newer-header': {
        // A digit of the sequence number: still JSON, so the header CRC (not the parser) must catch it.
        const text = image.subarray(headerOffset(bank), headerOffset(bank) + HEADER_SIZE).toString('latin1');
        const at = headerOffset(bank) + text.indexOf('"seq":') + 6;
        await fh.write(Buffer.from([image[at]! ^ 0x01]), 0, 1, at);
        break;
      }
      case 'zero-newer-header':
        await fh.write(Buffer.alloc(HEADER_SIZE), 0, HEADER_SIZE, headerOffset(bank));
        break;
      case 'truncate-inside-newer':
        await fh.truncate(header.offset + Math.floor(header.length / 2));
        break;
      case 'truncate-to-zero':
        await fh.truncate(0);
        break;
    }
  } finally {
    await fh.close();
  }
  return { bank: fault === 'truncate-to-zero' ? null : bank };
}

export async function damageKey(keyFile: string, fault: KeyFault): Promise<void> {
  if (fault === 'delete-key') await fs.rm(keyFile);
  else if (fault === 'replace-key') await fs.writeFile(keyFile, randomBytes((await fs.stat(keyFile)).size));
  else await fs.truncate(keyFile, 7);
}
