/**
 * Transition-pair coverage, an opt-in criterion beside row coverage (MBT_CRITERION=pairs): every pair of rows the
 * system can take one right after the other. Rows follow each other within a step (the stimulus's row, then the
 * pump's SEND or a deadline raised at boot) and from one step to the next; a new path is a fresh system, so no pair
 * spans two paths.
 *
 * The reachable pairs are derived from the model graph, not from the generated paths: the rows a walk can have last
 * taken on arriving at each graph state are propagated to a fixpoint, and every outgoing edge pairs each of them with
 * its first row. Pair paths come from the same chained walk as row paths, over (graph state, last row) so that the
 * BFS knows which pair an edge would take.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { materialize, type GeneratedPath, type ModelGraph, type ModelGraphEdge } from './generator.ts';
import type { EventLabel } from './vocabulary.ts';

/** "from-row → to-row": the key of a pair in the sets and in the report. */
export const pairKey = (first: string, second: string): string => `${first} → ${second}`;

/** The pairs a step's rows make, given the row taken just before the step (null at the start of a path). */
export function pairsOfStep(lastRow: string | null, rows: readonly string[]): string[] {
  const sequence = lastRow === null ? rows : [lastRow, ...rows];
  return sequence.slice(1).map((row, i) => pairKey(sequence[i]!, row));
}

/** The row that comes last after a step: the step's last row, or the one before it when the step took none. */
export const lastRowAfter = (lastRow: string | null, rows: readonly string[]): string | null => rows.at(-1) ?? lastRow;

/** The pairs a generated path takes according to the model, step after step from a fresh system. */
export function pairsOfPath(path: GeneratedPath): Set<string> {
  const taken = new Set<string>();
  let last: string | null = null;
  for (const step of path.steps) {
    for (const p of pairsOfStep(last, step.rows)) taken.add(p);
    last = lastRowAfter(last, step.rows);
  }
  return taken;
}

/** Every pair a walk on the model can take, with the rows that can have come last on arriving at each state. */
export function reachablePairs(graph: ModelGraph): Set<string> {
  const pairs = new Set<string>();
  const lastRows = new Map<string, Set<string | null>>([[graph.initial, new Set([null])]]);
  const work = [graph.initial];
  while (work.length > 0) {
    const key = work.pop()!;
    const arriving = [...lastRows.get(key)!];
    for (const edge of graph.nodes.get(key)!.edges) {
      const leaving = new Set<string | null>();
      for (const last of arriving) {
        for (const p of pairsOfStep(last, edge.rows)) pairs.add(p);
        leaving.add(lastRowAfter(last, edge.rows));
      }
      const known = lastRows.get(edge.to) ?? new Set();
      const grown = [...leaving].filter((l) => !known.has(l));
      if (grown.length === 0) continue;
      for (const l of grown) known.add(l);
      lastRows.set(edge.to, known);
      work.push(edge.to);
    }
  }
  return pairs;
}

/**
 * Chained walk to the nearest uncovered pair (BFS over state × last row), a new path at `maxSteps` (default 40);
 * `maxPaths` stops early (a bounded check needs only the first).
 */
export function generatePairPaths(graph: ModelGraph, opts: { maxSteps?: number; maxPaths?: number } = {}): GeneratedPath[] {
  const maxSteps = opts.maxSteps ?? 40;
  const maxPaths = opts.maxPaths ?? Infinity;
  const uncovered = reachablePairs(graph);
  const inner = new Map<ModelGraphEdge, string[]>();
  const paths: GeneratedPath[] = [];
  let labels: EventLabel[] = [];
  let at: WalkPoint = { key: graph.initial, last: null };
  const flush = () => {
    if (labels.length > 0) paths.push(materialize(`pairs-${paths.length + 1}`, labels));
    labels = [];
    at = { key: graph.initial, last: null };
  };
  while (paths.length < maxPaths) {
    const route = nearestUncoveredPair(graph, at, uncovered, inner);
    if (!route) {
      if (at.key === graph.initial && at.last === null) break;
      flush();
      continue;
    }
    if (labels.length > 0 && labels.length + route.length > maxSteps) {
      flush();
      continue;
    }
    for (const edge of route) {
      for (const p of pairsOfStep(at.last, edge.rows)) uncovered.delete(p);
      labels.push(edge.label);
      at = { key: edge.to, last: lastRowAfter(at.last, edge.rows) };
    }
  }
  if (paths.length < maxPaths) flush();
  return paths;
}

interface WalkPoint {
  key: string;
  last: string | null;
}

/** Whether taking `edge` after `last` takes a pair still uncovered (the edge's own pairs are computed once). */
function takesUncovered(edge: ModelGraphEdge, last: string | null, uncovered: Set<string>, inner: Map<ModelGraphEdge, string[]>): boolean {
  if (last !== null && edge.rows.length > 0 && uncovered.has(pairKey(last, edge.rows[0]!))) return true;
  let own = inner.get(edge);
  if (!own) inner.set(edge, (own = pairsOfStep(null, edge.rows)));
  return own.some((p) => uncovered.has(p));
}

function nearestUncoveredPair(graph: ModelGraph, from: WalkPoint, uncovered: Set<string>, inner: Map<ModelGraphEdge, string[]>): ModelGraphEdge[] | null {
  const id = (p: WalkPoint) => `${p.key}\u0000${p.last ?? ''}`;
  const prev = new Map<string, { point: WalkPoint; edge: ModelGraphEdge } | null>([[id(from), null]]);
  const queue: WalkPoint[] = [from];
  for (let head = 0; head < queue.length; head++) {
    const point = queue[head]!;
    for (const edge of graph.nodes.get(point.key)!.edges) {
      if (takesUncovered(edge, point.last, uncovered, inner)) {
        const route = [edge];
        for (let k = id(point); prev.get(k); k = id(prev.get(k)!.point)) route.unshift(prev.get(k)!.edge);
        return route;
      }
      const next = { key: edge.to, last: lastRowAfter(point.last, edge.rows) };
      if (!prev.has(id(next))) {
        prev.set(id(next), { point, edge });
        queue.push(next);
      }
    }
  }
  return null;
}

export interface PairCoverageReport {
  criterion: 'transition-pairs';
  covered: number;
  reachable: number;
  percentOfReachable: number;
  /** Reachable pairs no step took. */
  uncovered: string[];
  /** Pairs the system took that the model graph says cannot happen (the model or the derivation is wrong). */
  notReachable: string[];
  /** Wall time of the run that produced the coverage, when the caller measured it. */
  wallMs?: number;
  paths?: number;
  steps?: number;
}

/** Pairs taken on the running system, counted against the pairs the model graph makes reachable. */
export class PairCoverageTracker {
  private readonly taken = new Set<string>();
  constructor(private readonly reachable: ReadonlySet<string>) {}

  /** The rows one step took, after `lastRow` (null: the step starts a path). */
  recordStep(lastRow: string | null, rows: readonly string[]): void {
    for (const p of pairsOfStep(lastRow, rows)) this.taken.add(p);
  }

  report(): PairCoverageReport {
    const covered = [...this.reachable].filter((p) => this.taken.has(p)).length;
    return {
      criterion: 'transition-pairs',
      covered,
      reachable: this.reachable.size,
      percentOfReachable: this.reachable.size === 0 ? 100 : Math.round((covered / this.reachable.size) * 10_000) / 100,
      uncovered: [...this.reachable].filter((p) => !this.taken.has(p)).sort(),
      notReachable: [...this.taken].filter((p) => !this.reachable.has(p)).sort(),
    };
  }
}

export async function writePairCoverageReport(report: PairCoverageReport, file = path.join('reports', 'model-pair-coverage.json')): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

export function formatPairCoverage(r: PairCoverageReport): string {
  const head = `transition pairs: ${r.covered}/${r.reachable} reachable pairs covered (${r.percentOfReachable}%)`;
  const lines = [r.wallMs !== undefined ? `${head} in ${(r.wallMs / 1000).toFixed(1)} s wall, ${r.paths} paths, ${r.steps} steps` : head];
  if (r.uncovered.length) lines.push(`  uncovered (${r.uncovered.length}): ${r.uncovered.slice(0, 20).join(', ')}${r.uncovered.length > 20 ? ', …' : ''}`);
  if (r.notReachable.length) lines.push(`  taken but not reachable in the model: ${r.notReachable.join(', ')}`);
  return lines.join('\n');
}
