/**
 * The coverage report of a black-box run: every row of the machine (the rows `mfp-sim machine --format json`
 * prints) as covered (a step on the printer took it), skipped (a step that would take it was skipped, with the
 * capability that would let it run and why) or uncovered (neither). Covered wins over skipped: a row one path skipped
 * and another took is covered. Hits are counted by the in-process CoverageTracker, from the steps the printer was
 * observed to make.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { oauthDeviceMachine } from '../../../machines/oauthDevice.ts';
import { transitionTable } from '../../model/transitionTable.ts';
import { UNREACHABLE_ROWS } from '../unreachable.ts';
import type { CoverageTracker } from '../coverage.ts';

export type RowStatus = 'covered' | 'skipped' | 'uncovered';

export interface RemoteCoverageRow {
  id: string;
  source: string;
  event: string;
  guard: string | null;
  target: string;
  status: RowStatus;
  hits: number;
  /** skipped: the capability that would cover the row; uncovered: set when the row is declared unreachable. */
  capability?: string;
  reason?: string;
}

export interface RemoteCoverageReport {
  kind: 'mfp-sim/remote-coverage';
  version: 1;
  totals: { rows: number; covered: number; skipped: number; uncovered: number };
  /** Skipped rows per capability that would cover them. */
  skippedBy: Record<string, number>;
  rows: RemoteCoverageRow[];
}

export class RemoteCoverage {
  private readonly skips = new Map<string, { capability: string; reason: string }>();
  constructor(readonly tracker: CoverageTracker) {}

  /** The first reason a row was skipped is kept. */
  skip(rowId: string, capability: string, reason: string): void {
    if (!this.skips.has(rowId)) this.skips.set(rowId, { capability, reason });
  }

  report(): RemoteCoverageReport {
    const rows = transitionTable(oauthDeviceMachine).transitions.map(({ id, source, event, guard, target }): RemoteCoverageRow => {
      const hits = this.tracker.hitCount(id);
      const base = { id, source, event, guard, target, hits };
      if (hits > 0) return { ...base, status: 'covered' };
      const s = this.skips.get(id);
      if (s) return { ...base, status: 'skipped', capability: s.capability, reason: s.reason };
      return { ...base, status: 'uncovered', ...(id in UNREACHABLE_ROWS ? { reason: `declared unreachable: ${UNREACHABLE_ROWS[id]}` } : {}) };
    });
    const count = (st: RowStatus) => rows.filter((r) => r.status === st).length;
    const skippedBy: Record<string, number> = {};
    for (const r of rows) if (r.status === 'skipped') skippedBy[r.capability!] = (skippedBy[r.capability!] ?? 0) + 1;
    return {
      kind: 'mfp-sim/remote-coverage',
      version: 1,
      totals: { rows: rows.length, covered: count('covered'), skipped: count('skipped'), uncovered: count('uncovered') },
      skippedBy,
      rows,
    };
  }
}

export async function writeRemoteCoverage(report: RemoteCoverageReport, file: string): Promise<string> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
  return file;
}

export function formatRemoteCoverage(r: RemoteCoverageReport): string {
  const by = Object.entries(r.skippedBy).map(([c, n]) => `${n} need ${c}`).join(', ');
  return `rows ${r.totals.rows}: covered ${r.totals.covered}, skipped ${r.totals.skipped}${by ? ` (${by})` : ''}, uncovered ${r.totals.uncovered}`;
}
