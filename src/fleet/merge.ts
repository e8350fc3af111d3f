/**
 * `mfp-sim fleet merge REPORT…`: the JSON reports of the N shards of one fleet (`fleet --shard i/N --report FILE`)
 * summed into one fleet report. Counts are added; latency percentiles are read from the shards' HDR histograms added
 * together (latency.ts), never averaged; wall times are the slowest shard's (the shards run side by side).
 * Every report is checked first (JSON, shape, histogram) and the set must be exactly shards 0…N−1 of one fleet.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { mergeHistograms, summarizeLatency } from './latency.ts';
import { shardRange } from './run.ts';
import type { DeviceRow, FleetReport } from './types.ts';

const count = z.number().int().nonnegative();
const shardSchema = z.object({ index: count, count: z.number().int().positive(), first: count, devices: z.number().int().positive() });
const rowSchema = z.looseObject({
  id: z.string(),
  index: count,
  state: z.string(),
  signIns: count,
  refreshes: count,
  mailsSent: count,
  failures: count,
  errors: z.array(z.string()),
});
/** What merging reads of a shard's report; the rest of each row is carried over as it is. */
const reportSchema = z.looseObject({
  options: z.looseObject({ devices: z.number().int().positive(), workers: z.number().int().positive(), seed: count, mailsPerDay: count, stateDir: z.string() }),
  shard: shardSchema.nullable(),
  rows: z.array(rowSchema),
  states: z.record(z.string(), count),
  totals: z.object({ mailsSent: count, mailsExpected: count, refreshes: count, signIns: count, failures: count, errors: count }),
  ok: z.boolean(),
  wallMs: count,
  simulatedMs: count,
  phaseWallMs: z.record(z.string(), count),
  phaseCpuMs: z.record(z.string(), count).optional(),
  mailLatency: z.looseObject({ histogram: z.string() }),
  memory: z.object({ rssBefore: count, rssAfter: count, rssPeak: count, heapPerDevice: count, rssPerDevice: count }),
});

export class FleetMergeError extends Error {}

/** Reads and checks one shard report file; the error names the file and what is wrong with it. */
export async function readShardReport(file: string): Promise<FleetReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new FleetMergeError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FleetMergeError(`${file}: not JSON (${(err as Error).message})`);
  }
  const parsed = reportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new FleetMergeError(`${file}: not a fleet report (${issue.path.join('.') || 'top level'}: ${issue.message})`);
  }
  const report = parsed.data as unknown as FleetReport;
  if (!report.shard) throw new FleetMergeError(`${file}: a whole-fleet report, not a shard's (run each shard with --shard i/N --report FILE)`);
  const expected = shardRange(report.options.devices, report.shard);
  if (report.shard.index >= report.shard.count || expected.first !== report.shard.first || expected.devices !== report.shard.devices) {
    throw new FleetMergeError(`${file}: shard ${report.shard.index}/${report.shard.count} of ${report.options.devices} printers does not cover the printers it should`);
  }
  const outside = report.rows.find((r) => r.index < report.shard!.first || r.index >= report.shard!.first + report.shard!.devices);
  if (outside) throw new FleetMergeError(`${file}: ${outside.id} is not one of shard ${report.shard.index}'s printers`);
  try {
    mergeHistograms([report.mailLatency.histogram]);
  } catch (err) {
    throw new FleetMergeError(`${file}: mailLatency.histogram is ${(err as Error).message}`);
  }
  return report;
}

/** The shards 0…N−1 of one fleet into one report (throws FleetMergeError on a set that is not exactly that). */
export function mergeShardReports(named: { file: string; report: FleetReport }[]): FleetReport {
  if (named.length === 0) throw new FleetMergeError('no reports to merge');
  const [first] = named;
  const fleetOf = (r: FleetReport) => `${r.options.devices} printers, ${r.shard!.count} shards, seed ${r.options.seed}, ${r.options.mailsPerDay} mails a day`;
  const byIndex = new Map<number, string>();
  for (const { file, report } of named) {
    if (fleetOf(report) !== fleetOf(first.report)) {
      throw new FleetMergeError(`${file} is a shard of another fleet (${fleetOf(report)}) than ${first.file} (${fleetOf(first.report)})`);
    }
    const seen = byIndex.get(report.shard!.index);
    if (seen !== undefined) throw new FleetMergeError(`shard ${report.shard!.index} given twice: ${seen} and ${file}`);
    byIndex.set(report.shard!.index, file);
  }
  const n = first.report.shard!.count;
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0) throw new FleetMergeError(`shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${n} missing`);

  const reports = named.map((x) => x.report).sort((a, b) => a.shard!.index - b.shard!.index);
  const rows: DeviceRow[] = reports.flatMap((r) => r.rows).sort((a, b) => a.index - b.index);
  const sum = (f: (r: FleetReport) => number) => reports.reduce((acc, r) => acc + f(r), 0);
  const max = (f: (r: FleetReport) => number) => Math.max(...reports.map(f));
  const states: Record<string, number> = {};
  const phaseWallMs: Record<string, number> = {};
  for (const r of reports) {
    for (const [s, c] of Object.entries(r.states)) states[s] = (states[s] ?? 0) + c;
    for (const [p, ms] of Object.entries(r.phaseWallMs)) phaseWallMs[p] = Math.max(phaseWallMs[p] ?? 0, ms);
  }
  // Wall time is the slowest shard's; CPU adds up over the shards' processes (known only if every shard measured it).
  let phaseCpuMs: Record<string, number> | undefined;
  if (reports.every((r) => r.phaseCpuMs)) {
    phaseCpuMs = {};
    for (const r of reports) for (const [p, ms] of Object.entries(r.phaseCpuMs!)) phaseCpuMs[p] = (phaseCpuMs[p] ?? 0) + ms;
  }
  const totalKeys = ['mailsSent', 'mailsExpected', 'refreshes', 'signIns', 'failures', 'errors'] as const;
  const totals = Object.fromEntries(totalKeys.map((k) => [k, sum((r) => r.totals[k])])) as FleetReport['totals'];
  // Per-device means weighted by each shard's printers; RSS figures are per process, so the largest shard's.
  const perDevice = (f: (r: FleetReport) => number) => Math.round(sum((r) => f(r) * r.rows.length) / Math.max(1, rows.length));
  const devices = first.report.options.devices;
  return {
    options: {
      ...first.report.options,
      shard: null,
      workers: sum((r) => r.options.workers),
      stateDir: reports.map((r) => r.options.stateDir).join(', '),
    },
    shard: null,
    mergedFrom: reports.map((r) => r.shard!),
    rows,
    states,
    totals,
    ok: reports.every((r) => r.ok) && rows.length === devices && new Set(rows.map((r) => r.index)).size === devices,
    wallMs: max((r) => r.wallMs),
    simulatedMs: max((r) => r.simulatedMs),
    phaseWallMs,
    ...(phaseCpuMs && { phaseCpuMs }),
    mailLatency: summarizeLatency(mergeHistograms(reports.map((r) => r.mailLatency.histogram))),
    memory: {
      rssBefore: max((r) => r.memory.rssBefore),
      rssAfter: max((r) => r.memory.rssAfter),
      rssPeak: max((r) => r.memory.rssPeak),
      heapPerDevice: perDevice((r) => r.memory.heapPerDevice),
      rssPerDevice: perDevice((r) => r.memory.rssPerDevice),
    },
  };
}

export async function mergeShardFiles(files: string[]): Promise<FleetReport> {
  const named = [];
  for (const file of files) named.push({ file, report: await readShardReport(file) });
  return mergeShardReports(named);
}
