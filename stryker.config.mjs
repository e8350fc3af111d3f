// Mutation testing (issue 6): does the fast suite notice when the runtime, the statechart
// or the error classifiers are subtly wrong? `npm run test:mutation`; the HTML report lands
// in reports/mutation/ (git-ignored). Reading the results: docs/mutation.md.

/**
 * Mutants inside the runtime's log statements (`log.debug(…)`, `log.info(…)`, …) are not tested: the logs are
 * diagnostics for people, the tests run with a silent logger, and a changed log message changes no behaviour.
 * Loaded as a plugin from this same file (see `plugins`); this is what declareValuePlugin(PluginKind.Ignore, …)
 * from @stryker-mutator/api/plugin returns, written out to avoid importing a package we do not depend on directly.
 */
const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
export const strykerPlugins = [
  {
    kind: 'Ignore',
    name: 'log-statements',
    value: {
      shouldIgnore(path) {
        const call = path.isExpressionStatement() ? path.node.expression : null;
        // `log.warn(…)`, and the same logger reached through a deps object (`d.log.debug(…)` in effects.ts).
        const receiver = call?.type === 'CallExpression' && call.callee.type === 'MemberExpression' ? call.callee.object : null;
        const isLogger =
          (receiver?.type === 'Identifier' && receiver.name === 'log') ||
          (receiver?.type === 'MemberExpression' && receiver.property.type === 'Identifier' && receiver.property.name === 'log');
        if (isLogger && call.callee.property.type === 'Identifier' && LOG_LEVELS.has(call.callee.property.name)) {
          return 'a log statement: diagnostics, not behaviour (the tests use a silent logger)';
        }
        return undefined;
      },
    },
  },
];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  plugins: ['@stryker-mutator/vitest-runner', './stryker.config.mjs'],
  ignorers: ['log-statements'],
  mutate: [
    // The statechart.
    'machines/oauthDevice.ts',
    // The firmware runtime, split by concern (issue 10), and its deadline rule.
    'src/device/device.ts',
    // Job intake, the job pump and the job views (split out of device.ts on 2 December 2026).
    'src/device/jobs.ts',
    'src/device/dispatch.ts',
    'src/device/records.ts',
    'src/device/effects.ts',
    'src/device/boot.ts',
    'src/device/deadlines.ts',
    'src/device/scheduler.ts',
    'src/device/backoff.ts',
    'src/device/validation.ts',
    // The two error classifiers.
    'src/adapters/mail/classify.ts',
    'src/adapters/msal/classify.ts',
    // NVRAM: the commit (two banks, one fsync) and the boot path.
    'src/nvram/banks.ts',
    'src/nvram/index.ts',
    // The twin's policy modules.
    'src/cloud/exchange/auth-policy.ts',
    'src/cloud/entra/refresh-tokens.ts',
    'src/cloud/entra/device-codes.ts',
  ],
  // Only the tests that cover a mutant run against it.
  coverageAnalysis: 'perTest',
  // Static mutants — code that runs once, when a module loads: the statechart's transition table (setup(…).
  // createMachine(…) literals, ~420 mutants), the zod schemas and the classifiers' lookup tables (~90) — cannot be
  // traced to single tests, so each would rerun every suite that imports the module: together they more than double
  // the run (measured: 19 min without them under load, well over 40 with). They are left out of the score and
  // listed as "Ignored"; MUTATION_STATIC=1 npm run test:mutation includes them. docs/mutation.md has the numbers.
  ignoreStatic: process.env.MUTATION_STATIC !== '1',
  // Two cores on this machine.
  concurrency: 2,
  // A mutant that loops (e.g. a retry counter that never grows) is a timeout, counted as detected.
  timeoutMS: 10_000,
  // The initial (unmutated) run of every suite above: Stryker's default of 5 minutes killed a run at load ~50 on two
  // cores (2 December 2026, docs/mutation.md); half an hour only matters on such a machine.
  dryRunTimeoutMinutes: 30,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Kept in the repository (not in the git-ignored reports/): with --incremental, a run on a fresh clone re-tests
  // only the mutants whose code or covering tests changed since the last full run (docs/mutation.md).
  incrementalFile: 'test/mutation/stryker-incremental.json',
  // Stryker's sandbox rewrites tsconfig.json's `extends`/`references` through TypeScript's JS
  // API (ts.parseConfigFileTextToJson), which TypeScript 7 (the native compiler installed here)
  // no longer ships: the run dies with "ts.parseConfigFileTextToJson is not a function". Our
  // tsconfig.json has neither extends nor references, so there is nothing to rewrite: pointing
  // the option at a file that does not exist makes the preprocessor skip it. Vitest (esbuild)
  // still reads the real tsconfig.json, which is copied into the sandbox as is.
  tsconfigFile: 'tsconfig.stryker-has-nothing-to-rewrite.json',
};
