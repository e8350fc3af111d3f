import { defineConfig } from 'vitest/config';

// The suites Stryker runs against each mutant of the runtime, the statechart and the
// classifiers (stryker.config.mjs). Only fast, in-process suites: no browser, no servers
// beyond loopback fakes. test/device/powerloss.test.ts is left out on purpose: its
// every-write × every-cut sweep takes ~8 s a run and would be re-run for most mutants of
// device.ts; runtime.test.ts and boot.test.ts cover the same code paths far faster. The I/O-fault
// sweep (iofault.test.ts, a sample of whole scenarios) is left out for the same reason; storage-fault.test.ts
// covers the storage-fault rule directly.
export default defineConfig({
  test: {
    include: [
      'test/machines/**/*.test.ts',
      'test/device/**/*.test.ts',
      'test/time/**/*.test.ts',
      'test/adapters/classify-smtp.test.ts',
      'test/adapters/classify-entra.test.ts',
      // The twin's policy modules (in-process rules; the Entra protocol suite talks to a loopback twin).
      'test/cloud/exchange/rules.test.ts',
      'test/cloud/entra/device-codes.test.ts',
      'test/cloud/entra/refresh-tokens.test.ts',
      'test/cloud/entra-protocol.test.ts',
      'test/cloud/msal-device-code.test.ts',
      // NVRAM without its child-process sweeps (powerloss, sigkill, cli: seconds a run, kept in npm test).
      'test/nvram/store.test.ts',
      'test/nvram/banks.test.ts',
      'test/nvram/open.test.ts',
      'test/nvram/boot-findings.test.ts',
      'test/nvram/migration.test.ts',
      'test/nvram/vault.test.ts',
      // The incremental commit (only changed parts encoded, sealed blobs opened once) and the image's descriptors:
      // in-process and fast, and the only suites that count the commit's work (stats().work).
      'test/nvram/incremental.test.ts',
      'test/nvram/descriptors.test.ts',
    ],
    exclude: ['test/device/powerloss.test.ts', 'test/device/iofault.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
