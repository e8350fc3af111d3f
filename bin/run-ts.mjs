#!/usr/bin/env node
// Runs a TypeScript entry point given as the first argument (used by npm scripts such as `npm run bench`).
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { registerTypeScript } from './ts-loader.mjs';
registerTypeScript();
const [entry, ...rest] = process.argv.slice(2);
if (!entry) { console.error('usage: run-ts.mjs FILE.ts [args…]'); process.exit(2); }
process.argv = [process.argv[0], entry, ...rest];
await import(pathToFileURL(path.resolve(entry)).href);
