/**
 * Transition coverage, counted on the rows of `transitionTable(oauthDeviceMachine)` — the same rows
 * `mfp-sim machine --format json` prints — and never on the generated paths: the total is re-derived from the
 * machine, and a row counts as covered only when a step on the running system took it (known exactly from
 * `machine.getTransitionData` + `rowFor`, computed by the system model for the step the system was observed to make).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { oauthDeviceMachine } from '../../machines/oauthDevice.ts';
import { transitionTable, type TransitionRow } from '../model/transitionTable.ts';
import { UNREACHABLE_ROWS } from './unreachable.ts';

export interface CoverageReport {
  states: { covered: number; total: number };
  transitions: { covered: number; total: number };
  /** Rows not covered and not declared unreachable. */
  uncovered: string[];
  /** Rows declared unreachable (with reasons) and not covered. */
  unreachable: { id: string; reason: string }[];
  /** Rows declared unreachable that a step nevertheless took: the declaration is wrong. */
  declaredUnreachableButCovered: string[];
  /** Reachable rows covered / reachable rows (100 is the bar). */
  percentOfReachable: number;
}

export class CoverageTracker {
  private readonly rows: TransitionRow[];
  private readonly states: string[];
  private readonly hits = new Map<string, number>();
  private readonly visited = new Set<string>(['unconfigured']);

  constructor() {
    // Independent of the generator: a fresh table of the machine itself.
    const table = transitionTable(oauthDeviceMachine);
    this.rows = table.transitions;
    this.states = table.states;
  }

  record(rowId: string, target?: string): void {
    if (!this.rows.some((r) => r.id === rowId)) throw new Error(`not a row of the statechart: ${rowId}`);
    this.hits.set(rowId, (this.hits.get(rowId) ?? 0) + 1);
    const row = this.rows.find((r) => r.id === rowId)!;
    this.visited.add(row.source);
    this.visited.add(target ?? row.target);
  }

  merge(other: CoverageTracker): void {
    for (const [id, n] of other.hits) this.hits.set(id, (this.hits.get(id) ?? 0) + n);
    for (const s of other.visited) this.visited.add(s);
  }

  hitCount(rowId: string): number {
    return this.hits.get(rowId) ?? 0;
  }

  report(): CoverageReport {
    const covered = this.rows.filter((r) => this.hits.has(r.id)).map((r) => r.id);
    const notCovered = this.rows.filter((r) => !this.hits.has(r.id)).map((r) => r.id);
    const reachableTotal = this.rows.length - notCovered.filter((id) => id in UNREACHABLE_ROWS).length;
    return {
      states: { covered: this.states.filter((s) => this.visited.has(s)).length, total: this.states.length },
      transitions: { covered: covered.length, total: this.rows.length },
      uncovered: notCovered.filter((id) => !(id in UNREACHABLE_ROWS)),
      unreachable: notCovered.filter((id) => id in UNREACHABLE_ROWS).map((id) => ({ id, reason: UNREACHABLE_ROWS[id]! })),
      declaredUnreachableButCovered: covered.filter((id) => id in UNREACHABLE_ROWS),
      percentOfReachable: Math.round((covered.length / reachableTotal) * 10_000) / 100,
    };
  }
}

/** Declared rows must exist in the machine, or the declaration has gone stale. */
export function staleUnreachableDeclarations(): string[] {
  const ids = new Set(transitionTable(oauthDeviceMachine).transitions.map((r) => r.id));
  return Object.keys(UNREACHABLE_ROWS).filter((id) => !ids.has(id));
}

export async function writeCoverageReport(report: CoverageReport, file = path.join('reports', 'model-coverage.json')): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

export function formatCoverage(r: CoverageReport): string {
  const lines = [
    `model coverage: states ${r.states.covered}/${r.states.total}, transitions ${r.transitions.covered}/${r.transitions.total} ` +
      `(${r.percentOfReachable}% of reachable; ${r.unreachable.length} declared unreachable)`,
  ];
  if (r.uncovered.length) lines.push(`  uncovered: ${r.uncovered.join(', ')}`);
  if (r.declaredUnreachableButCovered.length) lines.push(`  declared unreachable but covered: ${r.declaredUnreachableButCovered.join(', ')}`);
  return lines.join('\n');
}
