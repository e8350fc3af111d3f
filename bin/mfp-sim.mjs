#!/usr/bin/env node
// Runs the TypeScript CLI directly (no build step), so `npx mfp-sim` works right after `npm install`.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');
