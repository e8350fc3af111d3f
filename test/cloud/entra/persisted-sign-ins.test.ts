// The twin's sign-ins across a restart of its process: refresh tokens it issued still work, revoked ones stay dead,
// and the file holds no credential, is private, and is ignored (with a reason) when it cannot be used.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TenantDirectory } from '../../../src/cloud/directory.ts';
import { RefreshTokenStore } from '../../../src/cloud/entra/refresh-tokens.ts';
import { persistSignIns } from '../../../src/cloud/entra/persisted-sign-ins.ts';
import { DEFAULT_TENANT_FILE, loadTenantFixture } from '../../../src/cloud/tenant-fixture.ts';

const UPN = 'scanner@contoso.com';
let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** One run of the twin's sign-in half: a fresh directory from the fixture and a fresh store, over `file`. */
async function run(file: string, now = () => 1_000) {
  const directory = new TenantDirectory(await loadTenantFixture(DEFAULT_TENANT_FILE), now);
  const store = new RefreshTokenStore();
  const kept = persistSignIns(file, store, directory);
  return { directory, store, kept };
}

const grant = (directory: TenantDirectory) => ({
  upn: UPN,
  clientId: 'client-a',
  scopes: { resource: ['SMTP.Send'], oidc: ['openid' as const, 'offline_access' as const] },
  issuedAt: 500,
  sessionGeneration: directory.record(UPN)!.sessionGeneration,
  mfaGeneration: 0,
  mfaDone: true,
});

describe('persisted sign-ins', () => {
  it('a refresh token issued before a restart is found after it; a revocation before it still holds after it', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sign-ins-'));
    const file = path.join(dir, 'sign-ins.json');
    const first = await run(file);
    expect(first.kept).toEqual({ problem: null, restored: 0, close: expect.any(Function) });
    const kept = first.store.issue(grant(first.directory));
    first.directory.revokeSessions(UPN);
    const after = first.store.issue(grant(first.directory)); // a sign-in after the revocation

    const second = await run(file);
    expect(second.kept).toEqual({ problem: null, restored: 2, close: expect.any(Function) });
    expect(second.store.find(kept.token)).toEqual(kept.record);
    expect(second.store.find(after.token)).toEqual(after.record);
    // The revocation survived: the old token's generation is behind the user's, the new one's is not.
    const user = second.directory.record(UPN)!;
    expect(user.sessionGeneration).toBe(1);
    expect(second.store.find(kept.token)!.sessionGeneration).toBeLessThan(user.sessionGeneration);
    expect(second.store.find(after.token)!.sessionGeneration).toBe(user.sessionGeneration);
    expect(user.tokensValidFrom).toBe(1_000);
  });

  it('keeps no token text, and the file is private whatever the umask', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sign-ins-'));
    const file = path.join(dir, 'sign-ins.json');
    const old = process.umask(0o000);
    try {
      const { store, directory } = await run(file);
      const { token } = store.issue(grant(directory));
      const text = await readFile(file, 'utf8');
      expect(text).not.toContain(token.slice(4, 60));
      expect((await stat(file)).mode & 0o077).toBe(0);
    } finally {
      process.umask(old);
    }
  });

  it.each([
    ['not JSON', '{"version":1,'],
    ['another shape', JSON.stringify({ version: 2, refreshTokens: [], users: {} })],
    ['a record with a wrong field', JSON.stringify({ version: 1, refreshTokens: [['ab', {}]], users: {} })],
  ])('a file that is %s is ignored with a reason, and the twin starts with no sign-ins', async (_what, content) => {
    dir = await mkdtemp(path.join(tmpdir(), 'sign-ins-'));
    const file = path.join(dir, 'sign-ins.json');
    await writeFile(file, content);
    const { kept, store, directory } = await run(file);
    expect(kept).toEqual({ problem: expect.stringMatching(/is not a sign-in file of this twin: ignored/), restored: 0, close: expect.any(Function) });
    expect(store.all()).toEqual([]);
    // It is replaced by a fresh log at once, not kept broken.
    store.issue(grant(directory));
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ version: 2 });
    expect(lines.at(-1)).toMatchObject({ token: [expect.stringMatching(/^[0-9a-f]{64}$/), expect.objectContaining({ upn: UPN })] });
  });

  it('each change is one line appended (the file is not rewritten per refresh); a rotation survives a restart', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sign-ins-'));
    const file = path.join(dir, 'sign-ins.json');
    const first = await run(file);
    const issued = Array.from({ length: 50 }, () => first.store.issue(grant(first.directory)));
    first.store.markRotated(issued[0]!.token, 2_000);
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(1 + 1 + 50 + 1); // header, users, 50 issued, 1 rotated
    const second = await run(file);
    expect(second.kept).toEqual({ problem: null, restored: 50, close: expect.any(Function) });
    expect(second.store.find(issued[0]!.token)!.rotatedAt).toBe(2_000);
    expect(second.store.find(issued[49]!.token)).toEqual(issued[49]!.record);
    // The restart compacted the log: one line per token again.
    expect((await readFile(file, 'utf8')).trimEnd().split('\n')).toHaveLength(1 + 50 + 1);
  });

  it('a last line cut short (a host power loss mid-append) is dropped; the lines before it are restored', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sign-ins-'));
    const file = path.join(dir, 'sign-ins.json');
    const first = await run(file);
    const kept = first.store.issue(grant(first.directory));
    first.kept.close();
    await writeFile(file, `${await readFile(file, 'utf8')}{"token":["ab`);
    const second = await run(file);
    expect(second.kept.problem).toBeNull();
    expect(second.store.find(kept.token)).toEqual(kept.record);
  });

  it('counters of a user the fixture no longer has are dropped, not invented', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sign-ins-'));
    const file = path.join(dir, 'sign-ins.json');
    await writeFile(file, JSON.stringify({ version: 1, refreshTokens: [], users: { 'gone@contoso.com': { sessionGeneration: 3, tokensValidFrom: 1, mfaGeneration: 0 } } }));
    const { kept, directory } = await run(file);
    expect(kept.problem).toBeNull();
    expect(directory.record('gone@contoso.com')).toBeUndefined();
  });
});
