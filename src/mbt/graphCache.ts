/**
 * The model graph (2,621 states, 33,498 edges since issue 14) costs seconds of CPU to explore, and every test file
 * and `mfp-sim mbt` child process of the model suite needs it. With a cache directory (`MFP_MODEL_GRAPH_CACHE`, set
 * by vitest.config.ts for the test run) the graph is explored once and kept as JSON under a key that hashes the
 * source of every module the model is built from (generator.ts and what it imports, followed to the statechart) and
 * the xstate version: any change to them explores it again from the statechart. Without a cache directory (the CLI
 * run by hand, the mutation runs) nothing is read or written.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { oauthDeviceMachine as machine } from '../../machines/oauthDevice.ts';
import type { ModelGraph, ModelGraphEdge } from './generator.ts';
import type { SystemState } from './systemModel.ts';

/** Bumped when the file's layout changes. */
const FORMAT = 1;
const GENERATOR = fileURLToPath(new URL('./generator.ts', import.meta.url));

interface CachedNode {
  key: string;
  /** The statechart snapshot as value + context (the machine is pure: no history, no children to keep). */
  value: unknown;
  context: unknown;
  rest: Omit<SystemState, 'snapshot'>;
  edges: ModelGraphEdge[];
}
interface CachedGraph {
  format: number;
  key: string;
  initial: string;
  edgeCount: number;
  nodes: CachedNode[];
}

/** The files the model is built from: generator.ts and every relative import it reaches. */
export function modelSourceFiles(entry = GENERATOR): string[] {
  const seen = new Set<string>();
  const pending = [entry];
  while (pending.length) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const m of source.matchAll(/(?:from|import)\s*['"](\.{1,2}\/[^'"]+)['"]/g)) pending.push(path.resolve(path.dirname(file), m[1]!));
  }
  return [...seen].sort();
}

/** The cache key: the model's sources (content, not dates) and the xstate that runs them. */
export function modelGraphKey(files = modelSourceFiles()): string {
  const hash = createHash('sha256');
  const root = path.dirname(path.dirname(path.dirname(GENERATOR)));
  for (const f of files) hash.update(`${path.relative(root, f)}\0`).update(readFileSync(f)).update('\0');
  const xstate = createRequire(import.meta.url)('xstate/package.json') as { version: string };
  hash.update(`xstate ${xstate.version}\0format ${FORMAT}`);
  return hash.digest('hex').slice(0, 32);
}

export function serializeModelGraph(graph: ModelGraph, key: string): string {
  const nodes: CachedNode[] = [...graph.nodes].map(([k, n]) => {
    const { snapshot, ...rest } = n.state;
    return { key: k, value: snapshot.value, context: snapshot.context, rest, edges: n.edges };
  });
  return JSON.stringify({ format: FORMAT, key, initial: graph.initial, edgeCount: graph.edgeCount, nodes } satisfies CachedGraph);
}

/** The graph back from its JSON; null when the text is not a graph of this key and format. */
export function reviveModelGraph(text: string, key: string): ModelGraph | null {
  let cached: CachedGraph;
  try {
    cached = JSON.parse(text) as CachedGraph;
  } catch {
    return null;
  }
  if (cached?.format !== FORMAT || cached.key !== key || !Array.isArray(cached.nodes)) return null;
  const nodes: ModelGraph['nodes'] = new Map();
  for (const n of cached.nodes) {
    const snapshot = machine.resolveState({ value: n.value as never, context: n.context as never });
    nodes.set(n.key, { state: { snapshot, ...n.rest }, edges: n.edges });
  }
  return { initial: cached.initial, nodes, edgeCount: cached.edgeCount };
}

export function modelGraphFile(dir: string, key = modelGraphKey()): string {
  return path.join(dir, `model-graph-${key}.json`);
}

/**
 * Reads the graph of this key from `dir`, or explores it and writes it there. Synchronous, as exploring is: test
 * files build their paths at import. Written to a temporary name and renamed, so concurrent runs race safely.
 */
export function cachedModelGraph(dir: string, explore: () => ModelGraph): ModelGraph {
  const key = modelGraphKey();
  const file = modelGraphFile(dir, key);
  let text: string | null = null;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // not cached yet
  }
  const hit = text === null ? null : reviveModelGraph(text, key);
  if (hit) return hit;
  const graph = explore();
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${randomUUID()}.tmp`;
  writeFileSync(tmp, serializeModelGraph(graph, key));
  renameSync(tmp, file);
  return graph;
}
