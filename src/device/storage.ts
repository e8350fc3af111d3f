/**
 * What the device shows of its storage, as plain data: NVRAM health (banks, wear, capacity, sections, sealed
 * secrets by name) and the content with secrets redacted — faces read these instead of the NVRAM object — and the
 * token strings a secrecy check looks for (never shown: the secret audit answers counts).
 */
import path from 'node:path';
import type { Nvram } from '../nvram/index.ts';
import { redactSecrets } from '../nvram/inspect.ts';
import type { NvramHealth } from './printer.ts';

export function nvramHealth(nvram: Nvram): NvramHealth {
  const stats = nvram.stats();
  return {
    file: path.basename(stats.file),
    capacityBytes: stats.capacityBytes,
    usedBytes: Buffer.byteLength(JSON.stringify(nvram.data)),
    banks: stats.banks.map((b) => ({ ...b })),
    image: { ...nvram.boot },
    sections: Object.entries(nvram.data).map(([name, value]) => ({ name, bytes: Buffer.byteLength(JSON.stringify(value) ?? '') })),
    secrets: Object.entries(nvram.data.secrets).map(([name, blob]) => ({
      name,
      sealedBytes: Buffer.from(blob.ct, 'base64').length,
      kid: blob.kid,
    })),
  };
}

/** The content with sealed secrets redacted and the admin hash replaced by a placeholder (nobody needs to see it). */
export function redactedContent(nvram: Nvram): Record<string, unknown> {
  const content = redactSecrets(nvram.data);
  const panel = content.panel as Record<string, unknown> | undefined;
  if (panel && panel.adminPassword) panel.adminPassword = '<scrypt hash>';
  return content;
}

/** The secret strings of a serialized MSAL token cache (access, refresh and id tokens). */
export function tokenTexts(raw: string | undefined): string[] {
  if (!raw) return [];
  try {
    const cache = JSON.parse(raw) as Record<string, Record<string, { secret?: unknown }>>;
    const out: string[] = [];
    for (const section of ['AccessToken', 'RefreshToken', 'IdToken']) {
      for (const entry of Object.values(cache[section] ?? {})) if (typeof entry.secret === 'string' && entry.secret.length >= 16) out.push(entry.secret);
    }
    return out;
  } catch {
    return [];
  }
}
