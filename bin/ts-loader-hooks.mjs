// Module hooks (node:module register) that compile our TypeScript with esbuild, without esbuild's keepNames.
//
// Why not tsx's own compile: tsx hard-codes `keepNames: true` (not an option: privatenumber/tsx#659 was declined), so
// every named function and arrow created at run time goes through `__name`, an Object.defineProperty of its `name`.
// Each such closure then carries a property array of its own, and in a loop of boots each powered-off device lived
// on through the young generation's collections until the next full GC: a third less of it without the `__name`
// calls, and ~30 KiB less heap per fleet printer (docs/benchmarks.md, "NVRAM speed", fourteenth pass).
// Names are not lost without keepNames: esbuild's transform renames nothing, and JavaScript names a function or
// class assigned to a binding or a property by itself.
// tsx stays registered under these hooks for everything else (resolution, CommonJS, anything not .ts/.mts).
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform, version as esbuildVersion } from 'esbuild';

const options = {
  loader: 'ts',
  format: 'esm',
  target: `node${process.versions.node}`,
  sourcemap: 'inline', // stack traces name the .ts lines (tsx's register() turns source maps on)
  sourcesContent: false,
  minifyWhitespace: true, // as tsx does: less for V8 to parse at each start
  keepNames: false,
  // The compiler options esbuild reads from a tsconfig; ours (tsconfig.json) have no paths, JSX or decorators.
  tsconfigRaw: { compilerOptions: { target: 'ES2022', verbatimModuleSyntax: false, useDefineForClassFields: true } },
};

/**
 * Compiled files by the hash of what goes in, as tsx caches its own: a start does not compile ~200 files again. A
 * cache that cannot be written, or a directory this user does not own alone, is only slower. `MFP_TS_CACHE_DIR`
 * puts it elsewhere.
 */
const cacheDir = process.env.MFP_TS_CACHE_DIR || path.join(tmpdir(), `mfp-ts-${userInfo().uid}`);
const recipe = JSON.stringify({ esbuildVersion, options, hooks: 1 });
let cacheUsable = null;

/** Code run from the cache must be ours: a directory in the shared temp dir could have been made by someone else. */
function ownCacheDir() {
  if (cacheUsable !== null) return cacheUsable;
  try {
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    const st = lstatSync(cacheDir);
    cacheUsable = st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0;
  } catch {
    cacheUsable = false;
  }
  return cacheUsable;
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !/\.m?ts$/.test(url)) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  const key = createHash('sha256').update(recipe).update('\0').update(file).update('\0').update(source).digest('hex');
  const cached = path.join(cacheDir, `${key}.mjs`);
  const useCache = ownCacheDir();
  let code;
  try {
    if (!useCache) throw new Error('no cache');
    code = readFileSync(cached, 'utf8');
  } catch {
    ({ code } = await transform(source, { ...options, sourcefile: file }));
    if (useCache) {
      try {
        const partial = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
        writeFileSync(partial, code, { mode: 0o600 });
        renameSync(partial, cached); // whole or not at all, for another process reading it meanwhile
      } catch {
        // not cached: compiled again next time
      }
    }
  }
  return { format: 'module', source: code, shortCircuit: true };
}
