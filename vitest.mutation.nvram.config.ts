import { defineConfig } from 'vitest/config';
import base from './vitest.mutation.config.ts';

// NVRAM's commit and boot (src/nvram/{banks,index}.ts) against the NVRAM suites only. With the full
// vitest.mutation.config.ts every mutant of these two files reruns every device suite (each opens an NVRAM), ~10 s a
// mutant on a loaded 2-core machine; the NVRAM suites state the rules of these files directly. Narrowing can only
// lose kills, so a score from this run is a lower bound. `npx stryker run --mutate src/nvram/banks.ts,src/nvram/index.ts`
// with `vitest: { configFile: 'vitest.mutation.nvram.config.ts' }` (docs/mutation.md).
export default defineConfig({
  test: {
    ...base.test,
    include: (base.test?.include ?? []).filter((p) => p.startsWith('test/nvram/')),
  },
});
