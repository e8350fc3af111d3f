import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Several suites start servers on loopback; two cores are all we have.
    maxWorkers: 2,
    env: {
      // The model graph, explored once and kept while the model's sources are unchanged (src/mbt/graphCache.ts), for
      // the model suite's files and the `mfp-sim mbt` processes they start; next to vitest's own cache.
      MFP_MODEL_GRAPH_CACHE: fileURLToPath(new URL('node_modules/.vite/vitest/mfp-model-graph', import.meta.url)),
    },
  },
});
