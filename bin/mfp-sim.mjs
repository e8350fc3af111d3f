#!/usr/bin/env node
// Runs the TypeScript CLI directly (no build step), so `npx mfp-sim` works right after `npm install`.
import { registerTypeScript } from './ts-loader.mjs';
registerTypeScript();
await import('../src/cli.ts');
