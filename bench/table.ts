/** The bench report as one plain-text (Markdown-compatible) table, with the machine and the date above it. */
import type { BenchRow, Measure } from './support.ts';

export interface BenchReport {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string; loadAverage: number };
  wallSeconds: number;
  rows: BenchRow[];
}

function num(v: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toPrecision(3);
}

function measure(m: Measure | null): string {
  return m ? `${num(m.value)} ${m.unit}` : '—';
}

function ratio(r: BenchRow): string {
  if (r.ratio === null) return 'not measured';
  // Shares are percentages: the rows with a % target, and the model suite's share of time outside the system.
  if (r.target?.text.includes('%') || r.id === 'model-suite') return `${(r.ratio * 100).toFixed(1)}%`;
  return `${num(r.ratio)}${r.id.startsWith('nvram-writes') ? '' : '×'}`;
}

export function formatTable(report: BenchReport): string {
  const m = report.machine;
  const header = ['Row', 'Simulator', 'Baseline', 'Ratio', 'Target', 'Met'];
  const lines = report.rows.map((r) => [r.name, measure(r.measured), measure(r.baseline), ratio(r), r.target?.text ?? '—', r.met === null ? '—' : r.met ? 'yes' : 'NO']);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform} (load average ${m.loadAverage.toFixed(2)} at start)`,
    `Date: ${report.date}   Bench wall time: ${report.wallSeconds} s`,
    '',
    fmt(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...lines.map(fmt),
    '',
    ...report.rows.map((r) => `- ${r.name}: ${r.note}`),
  ].join('\n');
}
