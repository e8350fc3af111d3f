// Registers the TypeScript loader of every entry point (bin/*, the fleet's worker threads, which do not inherit it):
// tsx for resolution and the rest, and on top of it our compile of .ts files (bin/ts-loader-hooks.mjs says why).
import { register as registerModuleHooks } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

export function registerTypeScript() {
  registerTsx();
  // Registered last, so its load hook runs first.
  registerModuleHooks('./ts-loader-hooks.mjs', import.meta.url);
}
