/** The `mfp-sim` bin as users call it (`npx mfp-sim …` in the repository): parsing, help, exit codes. */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LEAF_STATES } from '../../machines/oauthDevice.ts';
import { transitionTable } from '../../src/model/transitionTable.ts';
import { oauthDeviceMachine } from '../../machines/oauthDevice.ts';

const run = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)('npx', ['mfp-sim', ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
};

// Each case spawns `npx mfp-sim` (tsx compiles on the fly): seconds each, more on a loaded 2-core machine.
describe('mfp-sim', { timeout: 180_000 }, () => {
  it('prints its version and help', async () => {
    const v = await run('--version');
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = await run('--help');
    for (const cmd of ['start', 'machine', 'nvram', 'cloud']) expect(h.stdout).toContain(cmd);
  });

  it('refuses an unknown command and a bad option value with a clear error and a non-zero exit', async () => {
    const r = await run('frobnicate');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
    const f = await run('machine', '--format', 'xml');
    expect(f.code).not.toBe(0);
    expect(f.stderr).toMatch(/Allowed choices are json, mermaid/);
  });

  it('machine --format json lists the eleven states and one row per leaf and branch', async () => {
    const r = await run('machine', '--format', 'json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { states: string[]; transitions: { source: string; event: string; target: string }[] };
    expect([...out.states].sort()).toEqual([...LEAF_STATES].sort());
    expect(out.transitions.length).toBe(transitionTable(oauthDeviceMachine).transitions.length);
    // inherited transitions are expanded onto each leaf: FACTORY_RESET once per state
    expect(out.transitions.filter((t) => t.event === 'FACTORY_RESET').map((t) => t.source).sort()).toEqual([...LEAF_STATES].sort());
    const m = await run('machine', '--format', 'mermaid');
    expect(m.stdout).toMatch(/^stateDiagram-v2/);
    expect(m.stdout).toContain('codePending --> authorized : TOKEN_GRANTED [grantedForConfiguredAccount]');
  });

  it('nvram verify: exit 0 on a valid image, 1 with the reason on a damaged one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-cli-'));
    await copyFile('fixtures/nvram/firmware-2.img', path.join(dir, 'ok.img'));
    await copyFile('fixtures/nvram/firmware-2.key', path.join(dir, 'secure-element.key'));
    const ok = await run('nvram', 'verify', '--file', path.join(dir, 'ok.img'));
    expect(ok.code).toBe(0);
    const badDir = await mkdtemp(path.join(tmpdir(), 'mfp-cli-'));
    await copyFile('fixtures/nvram/garbage.img', path.join(badDir, 'bad.img'));
    const bad = await run('nvram', 'verify', '--file', path.join(badDir, 'bad.img'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/INVALID: .+/);
  });
});
