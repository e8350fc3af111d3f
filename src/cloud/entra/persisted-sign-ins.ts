/**
 * What Entra remembers of the sign-ins it issued, kept in a file: a twin embedded in the printer's process dies with
 * it (SIGKILL, restart), but Microsoft's cloud does not forget a printer's sign-in when the printer loses power. So the
 * refresh tokens issued before a restart still refresh after it, and those revoked (or made to need MFA) before it
 * stay dead. Only token hashes and the users' session counters are stored: nothing in the file is a credential.
 * Written whole after each change (temp file, rename; 0600 whatever the umask). An unreadable file is reported and
 * ignored (the twin starts with no sign-ins, as before), never fatal.
 */
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { PRIVATE_FILE_MODE } from '../../util/private-fs.ts';
import type { TenantDirectory } from '../directory.ts';
import type { RefreshTokenStore } from './refresh-tokens.ts';

const counter = z.number().int().min(0);
const recordSchema = z
  .object({
    id: z.string(),
    upn: z.string(),
    clientId: z.string(),
    scopes: z.object({ resource: z.array(z.string()), oidc: z.array(z.enum(['openid', 'profile', 'offline_access', 'email'])) }),
    issuedAt: z.number(),
    sessionGeneration: counter,
    mfaGeneration: counter,
    mfaDone: z.boolean(),
    rotatedAt: z.number().nullable(),
  })
  .strict();
const fileSchema = z
  .object({
    version: z.literal(1),
    refreshTokens: z.array(z.tuple([z.string().regex(/^[0-9a-f]{64}$/), recordSchema])),
    users: z.record(z.string(), z.object({ sessionGeneration: counter, tokensValidFrom: z.number(), mfaGeneration: counter }).strict()),
  })
  .strict();

export interface PersistedSignIns {
  /** Why the saved file could not be used at start (null: restored, or there was none). */
  problem: string | null;
  /** Refresh tokens restored from the file. */
  restored: number;
}

/** Restores what `file` holds into the store and the directory, then saves both after every change. */
export function persistSignIns(file: string, store: RefreshTokenStore, directory: TenantDirectory): PersistedSignIns {
  const result: PersistedSignIns = { problem: null, restored: 0 };
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') result.problem = `${file} unreadable (${(err as NodeJS.ErrnoException).code})`;
  }
  if (text !== null) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const saved = fileSchema.safeParse(parsed);
    if (saved.success) {
      store.restore(saved.data.refreshTokens as never);
      directory.restoreSessions(saved.data.users);
      result.restored = saved.data.refreshTokens.length;
    } else {
      result.problem = `${file} is not a sign-in file of this twin: ignored`;
    }
  }
  const save = () => {
    const content = JSON.stringify({ version: 1, refreshTokens: store.entries(), users: directory.sessions() });
    const temp = `${file}.tmp`;
    writeFileSync(temp, content, { mode: PRIVATE_FILE_MODE });
    chmodSync(temp, PRIVATE_FILE_MODE);
    renameSync(temp, file);
  };
  store.onChange = save;
  directory.onSessionsChanged = save;
  return result;
}
