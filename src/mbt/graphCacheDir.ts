/**
 * Where the test run keeps the model graph (src/mbt/graphCache.ts): next to vitest's own cache. A module of its own
 * so that vitest.config.ts can name it without loading the statechart.
 */
import { fileURLToPath } from 'node:url';

export const TEST_RUN_GRAPH_CACHE_DIR = fileURLToPath(new URL('../../node_modules/.vite/vitest/mfp-model-graph', import.meta.url));
