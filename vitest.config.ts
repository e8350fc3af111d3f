import { defineConfig } from 'vitest/config';
import { TEST_RUN_GRAPH_CACHE_DIR } from './src/mbt/graphCacheDir.ts';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Several suites start servers on loopback; two cores are all we have.
    maxWorkers: 2,
    env: {
      // The model graph, explored once and kept while the model's sources are unchanged (src/mbt/graphCache.ts), for
      // the model suite's files and the `mfp-sim mbt` processes they start.
      MFP_MODEL_GRAPH_CACHE: TEST_RUN_GRAPH_CACHE_DIR,
    },
  },
});
