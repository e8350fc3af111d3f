import { defineConfig } from 'vitest/config';

// The statechart's static mutants (its setup(…).createMachine({…}) literals run once, when the module loads, so
// Stryker cannot trace them to single tests and would rerun every suite that imports machines/ for each one).
// This config runs only the statechart's own suites — test/machines/transitions.test.ts takes every event in
// every state against a table written from the reference, ~2 s — so each static mutant costs one short run.
// Used by stryker.machines.config.mjs (`npm run test:mutation:machines`).
export default defineConfig({
  test: {
    include: ['test/machines/**/*.test.ts', 'test/device/deadlines.test.ts'],
    testTimeout: 30_000,
  },
});
