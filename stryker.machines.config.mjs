// The statechart alone, static mutants included, against its own fast suites only (vitest.mutation.machines.config.ts).
// `npm run test:mutation:machines`. The main run (stryker.config.mjs) still scores the statechart's non-static
// mutants against every fast suite; this run is how its ~420 static mutants are counted. docs/mutation.md.
import base from './stryker.config.mjs';

export { strykerPlugins } from './stryker.config.mjs';

export default {
  ...base,
  plugins: ['@stryker-mutator/vitest-runner', './stryker.machines.config.mjs'],
  vitest: { configFile: 'vitest.mutation.machines.config.ts' },
  mutate: ['machines/oauthDevice.ts'],
  ignoreStatic: false,
  concurrency: 1,
  htmlReporter: { fileName: 'reports/mutation-machines/index.html' },
  jsonReporter: { fileName: 'reports/mutation-machines/mutation.json' },
  incrementalFile: 'reports/stryker-machines-incremental.json',
};
