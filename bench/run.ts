/**
 * `npm run bench`: each row is the simulator against a baseline measured in the same run (the physical limit or the
 * plain library doing the same job), printed as one table and written to reports/bench.json with the machine and
 * the date. A row that fails is reported as such; the harness always runs to the end. See docs/benchmarks.md.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { coldBootRow, nvramCommitRow, writesPerTransitionRows } from './nvram.ts';
import { modelSuiteRow } from './modelSuite.ts';
import { panelRow } from './panel.ts';
import { smtpRow } from './smtp.ts';
import { soakRow } from './soak.ts';
import { formatTable } from './table.ts';
import { machine, row, signedInSimulator, twinCredentials, type BenchRow } from './support.ts';

const REPORT = fileURLToPath(new URL('../reports/bench.json', import.meta.url));
/** `BENCH_ONLY=nvram,boot,panel,smtp,soak,model`: run only those groups (unset: all). A partial run prints its table
 * but does not overwrite reports/bench.json. */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim()).filter(Boolean)) : null;
const wanted = (group: string) => ONLY === null || ONLY.has(group);

async function attempt(id: string, name: string, fn: () => Promise<BenchRow | BenchRow[]>): Promise<BenchRow[]> {
  const started = performance.now();
  process.stderr.write(`bench: ${name} …`);
  try {
    const rows = await fn();
    process.stderr.write(` ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    return Array.isArray(rows) ? rows : [rows];
  } catch (err) {
    process.stderr.write(` failed: ${(err as Error).message}\n`);
    return [row({ id, name, measured: null, baseline: null, ratio: null, target: null, note: `failed: ${(err as Error).message}` })];
  }
}

const startedAt = new Date();
const started = performance.now();
const host = machine();
const credentials = await twinCredentials();
const rows: BenchRow[] = [];

if (wanted('nvram')) rows.push(...(await attempt('nvram-commits', 'NVRAM commits vs raw fsync', () => nvramCommitRow())));
if (wanted('nvram') || wanted('boot')) {
  rows.push(
    ...(await attempt('nvram-writes-per-transition', 'NVRAM writes per transition, cold boot', async () => {
      const w = await writesPerTransitionRows(credentials);
      return [w.row, w.noOpRow, await coldBootRow(w.sim)];
    })),
  );
}
const sim =
  wanted('panel') || wanted('smtp')
    ? await signedInSimulator(credentials).catch((err: Error) => {
        process.stderr.write(`bench: could not sign a simulator in: ${err.message}\n`);
        return null;
      })
    : null;
if (sim) {
  if (wanted('panel')) rows.push(...(await attempt('panel-status', 'Panel vs bare Fastify (autocannon)', () => panelRow(sim))));
  if (wanted('smtp')) rows.push(...(await attempt('smtp-xoauth2', 'XOAUTH2 vs AUTH PLAIN', () => smtpRow(sim, credentials))));
  await sim.close();
}
if (wanted('soak')) rows.push(...(await attempt('soak-90-days', '90-day soak', () => soakRow(credentials))));
if (wanted('model')) rows.push(...(await attempt('model-suite', 'Model-based suite', () => modelSuiteRow())));
await rm(credentials, { recursive: true, force: true });

const report = {
  date: startedAt.toISOString(),
  machine: host,
  wallSeconds: Math.round((performance.now() - started) / 100) / 10,
  rows,
};
if (ONLY === null) {
  await mkdir(path.dirname(REPORT), { recursive: true });
  await writeFile(REPORT, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${formatTable(report)}\n\nWritten to ${path.relative(process.cwd(), REPORT)}\n`);
} else {
  process.stdout.write(`${formatTable(report)}\n\nBENCH_ONLY=${[...ONLY].join(',')}: partial run, reports/bench.json not written\n`);
}
