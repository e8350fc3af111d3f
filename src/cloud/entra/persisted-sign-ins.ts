/**
 * What Entra remembers of the sign-ins it issued, kept in a file: a twin embedded in the printer's process dies with
 * it (SIGKILL, restart), but Microsoft's cloud does not forget a printer's sign-in when the printer loses power. So the
 * refresh tokens issued before a restart still refresh after it, and those revoked (or made to need MFA) before it
 * stay dead. Only token hashes and the users' session counters are stored: nothing in the file is a credential.
 *
 * An append-only log of JSON lines: `{"version":2}`, then one line per change (`{"token":[hash, record]}` for a token
 * issued or rotated, `{"users":{…}}` for the session counters), a later line replacing an earlier one. Every refresh
 * issues a token and the old ones stay valid, so the store only grows: written whole per change (as version 1 was),
 * a 90-day soak rewrote hundreds of kilobytes per refresh. At start the log is compacted (temp file, rename; 0600
 * whatever the umask) and then appended to through one descriptor, one write per line: a process kill cannot tear a
 * line, and a last line torn by a host power loss is dropped. A version 1 file (one JSON object) is still read. An
 * unreadable file is reported and ignored (the twin starts with no sign-ins, as before), never fatal.
 */
import { chmodSync, closeSync, constants as fsc, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
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
const usersSchema = z.record(z.string(), z.object({ sessionGeneration: counter, tokensValidFrom: z.number(), mfaGeneration: counter }).strict());
const tokenEntry = z.tuple([z.string().regex(/^[0-9a-f]{64}$/), recordSchema]);
/** Version 1: the whole state as one object (read, never written). */
const v1Schema = z.object({ version: z.literal(1), refreshTokens: z.array(tokenEntry), users: usersSchema }).strict();
const v2Header = z.object({ version: z.literal(2) }).strict();
const v2Line = z.union([z.object({ token: tokenEntry }).strict(), z.object({ users: usersSchema }).strict()]);

type Saved = { refreshTokens: z.infer<typeof tokenEntry>[]; users: z.infer<typeof usersSchema> };

/** The state a file holds, or null when it is not a sign-in file of this twin. */
function parseSaved(text: string): Saved | null {
  const whole = v1Schema.safeParse(parseJson(text));
  if (whole.success) return whole.data;
  const lines = text.split('\n');
  // A line cut short by a power loss can only be the last one, and it has no newline after it.
  if (lines.at(-1) === '') lines.pop();
  else if (lines.length > 1 && parseJson(lines.at(-1)!) === undefined) lines.pop();
  if (!v2Header.safeParse(parseJson(lines[0] ?? '')).success) return null;
  const tokens = new Map<string, z.infer<typeof recordSchema>>();
  let users: Saved['users'] = {};
  for (const line of lines.slice(1)) {
    const entry = v2Line.safeParse(parseJson(line));
    if (!entry.success) return null;
    if ('token' in entry.data) tokens.set(entry.data.token[0], entry.data.token[1]);
    else users = entry.data.users;
  }
  return { refreshTokens: [...tokens], users };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface PersistedSignIns {
  /** Why the saved file could not be used at start (null: restored, or there was none). */
  problem: string | null;
  /** Refresh tokens restored from the file. */
  restored: number;
  /** Stops saving and lets the file go (the twin's close). */
  close(): void;
}

/** Restores what `file` holds into the store and the directory, then saves both after every change. */
export function persistSignIns(file: string, store: RefreshTokenStore, directory: TenantDirectory): PersistedSignIns {
  const result: PersistedSignIns = { problem: null, restored: 0, close: () => {} };
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') result.problem = `${file} unreadable (${(err as NodeJS.ErrnoException).code})`;
  }
  if (text !== null) {
    const saved = parseSaved(text);
    if (saved) {
      store.restore(saved.refreshTokens as never);
      directory.restoreSessions(saved.users);
      result.restored = saved.refreshTokens.length;
    } else {
      result.problem = `${file} is not a sign-in file of this twin: ignored`;
    }
  }
  // Compacted: what was restored, as a fresh log.
  const line = (entry: object) => `${JSON.stringify(entry)}\n`;
  let fd: number;
  try {
    const temp = `${file}.tmp`;
    writeFileSync(temp, [line({ version: 2 }), ...store.entries().map((e) => line({ token: e })), line({ users: directory.sessions() })].join(''), { mode: PRIVATE_FILE_MODE });
    chmodSync(temp, PRIVATE_FILE_MODE);
    renameSync(temp, file);
    fd = openSync(file, fsc.O_WRONLY | fsc.O_APPEND);
  } catch (err) {
    // Not fatal: this run's sign-ins are then not kept (the twin works as one without a file).
    result.problem = `${result.problem ? `${result.problem}; ` : ''}${file} cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): sign-ins of this run are not kept`;
    return result;
  }
  let closed = false;
  const append = (entry: object) => {
    if (!closed) writeSync(fd, line(entry));
  };
  store.onChange = (hash, record) => append({ token: [hash, record] });
  directory.onSessionsChanged = () => append({ users: directory.sessions() });
  result.close = () => {
    if (closed) return;
    closed = true;
    store.onChange = null;
    directory.onSessionsChanged = null;
    closeSync(fd);
  };
  return result;
}
