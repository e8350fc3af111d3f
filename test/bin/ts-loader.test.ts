/**
 * The TypeScript loader of the entry points (bin/ts-loader.mjs): esbuild without keepNames, inline source maps, a
 * cache keyed by content. What a newcomer relies on: names and stack traces as written, and an edit seen at once.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module without types
import { load } from '../../bin/ts-loader-hooks.mjs';

const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.mjs', import.meta.url));
const run = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ts-loader-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const notForUs = () => {
  throw new Error('nextLoad called');
};

describe('bin/ts-loader-hooks.mjs', () => {
  it('compiles .ts without keepNames wrappers, as an ES module with an inline source map', async () => {
    const file = path.join(dir, 'named.ts');
    await writeFile(file, 'export const arrow = (n: number): number => n + 1;\nexport function plain(): void {}\n');
    const out = await load(pathToFileURL(file).href, {}, notForUs);
    expect(out).toMatchObject({ format: 'module', shortCircuit: true });
    expect(out.source).not.toContain('__name');
    expect(out.source).not.toContain(': number');
    expect(out.source).toMatch(/\/\/# sourceMappingURL=data:application\/json;base64,/);
  });

  it('hands anything that is not .ts or .mts to the next loader', async () => {
    const next = async (url: string) => ({ format: 'module', source: `// ${url}`, shortCircuit: true });
    const out = await load('file:///x/y.mjs', {}, next);
    expect(out.source).toBe('// file:///x/y.mjs');
    expect((await load('node:fs', {}, next)).source).toBe('// node:fs');
  });

  it('compiles an edited file again (the cache is keyed by the content)', async () => {
    const file = path.join(dir, 'edited.ts');
    await writeFile(file, 'export const value: string = "first";\n');
    expect((await load(pathToFileURL(file).href, {}, notForUs)).source).toContain('"first"');
    await writeFile(file, 'export const value: string = "second";\n');
    const again = await load(pathToFileURL(file).href, {}, notForUs);
    expect(again.source).toContain('"second"');
    expect(again.source).not.toContain('"first"');
  });
});

describe('the compile cache', () => {
  const runWithCache = async (cacheDir: string) => {
    const file = path.join(dir, 'cached.ts');
    await writeFile(file, 'const n: number = 1;\nconsole.log(n);\n');
    const { stdout } = await run(process.execPath, [RUN_TS, file], { timeout: 60_000, env: { ...process.env, MFP_TS_CACHE_DIR: cacheDir } });
    return stdout.trim();
  };
  /** A cache directory holding the entry for cached.ts with other code in it: what someone could plant. */
  const poisoned = async (name: string) => {
    const cacheDir = path.join(dir, name);
    expect(await runWithCache(cacheDir)).toBe('1');
    const files = (await readdir(cacheDir)).filter((f) => f.endsWith('.mjs'));
    for (const f of files) await writeFile(path.join(cacheDir, f), 'console.log("planted");\n');
    return cacheDir;
  };

  it('keeps compiled files private, in a directory of this user only, and runs what it finds there', async () => {
    const cacheDir = await poisoned('cache-private');
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    const files = await readdir(cacheDir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect((await stat(path.join(cacheDir, f))).mode & 0o777).toBe(0o600);
    // The cache is read: in a directory only this user can write, what is there is what runs.
    expect(await runWithCache(cacheDir)).toBe('planted');
  });

  it('neither reads nor writes a cache directory that others can write to', async () => {
    const cacheDir = await poisoned('cache-shared');
    await chmod(cacheDir, 0o777);
    const before = await readdir(cacheDir);
    expect(await runWithCache(cacheDir)).toBe('1');
    expect(await readdir(cacheDir)).toEqual(before);
  });
});

describe('bin/run-ts.mjs', () => {
  it('runs a .ts entry with the names and stack lines it was written with', async () => {
    const file = path.join(dir, 'entry.ts');
    await writeFile(
      file,
      [
        'const arrow = (): void => {};',
        'class Named {}',
        'const holder = { method: (): void => {} };',
        'function where(): string { return new Error("here").stack!.split("\\n")[1]!; }',
        'console.log(JSON.stringify({ names: [arrow.name, Named.name, holder.method.name], at: where() }));',
        '',
      ].join('\n'),
    );
    const { stdout } = await run(process.execPath, [RUN_TS, file], { timeout: 60_000 });
    const printed = JSON.parse(stdout.trim()) as { names: string[]; at: string };
    expect(printed.names).toEqual(['arrow', 'Named', 'method']);
    // The source map is honoured: the frame names the .ts file and the line `where` is on.
    expect(printed.at).toContain(`${file}:4:`);
  });
});
