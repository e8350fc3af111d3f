// Mutation testing (issue 6): does the fast suite notice when the runtime, the statechart
// or the error classifiers are subtly wrong? `npm run test:mutation`; the HTML report lands
// in reports/mutation/ (git-ignored). Reading the results: docs/mutation.md.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'machines/oauthDevice.ts',
    'src/device/device.ts',
    'src/device/scheduler.ts',
    'src/device/backoff.ts',
    'src/device/validation.ts',
    'src/adapters/mail/classify.ts',
    'src/adapters/msal/classify.ts',
  ],
  // Only the tests that cover a mutant run against it.
  coverageAnalysis: 'perTest',
  // Two cores on this machine.
  concurrency: 2,
  // A mutant that loops (e.g. a retry counter that never grows) is a timeout, counted as detected.
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Stryker's sandbox rewrites tsconfig.json's `extends`/`references` through TypeScript's JS
  // API (ts.parseConfigFileTextToJson), which TypeScript 7 (the native compiler installed here)
  // no longer ships: the run dies with "ts.parseConfigFileTextToJson is not a function". Our
  // tsconfig.json has neither extends nor references, so there is nothing to rewrite: pointing
  // the option at a file that does not exist makes the preprocessor skip it. Vitest (esbuild)
  // still reads the real tsconfig.json, which is copied into the sandbox as is.
  tsconfigFile: 'tsconfig.stryker-has-nothing-to-rewrite.json',
};
