/**
 * The model-based suite's wall time: `npx vitest run test/mbt` as a child process, timed from outside, and the
 * share of the suite's time spent outside the system under test (graph building, path generation, prediction,
 * assertions) from the suite's own stopwatch: each test file writes its part and the run's sum lands in
 * reports/model-timing.json `{ wallMs, systemMs, outsideMs }` (src/mbt/timing.ts). The note says whether the model graph
 * was read from its cache or explored in this run. Test files run in parallel
 * workers, so the suite's wallMs is the sum of the files' wall times; the share is outsideMs / wallMs.
 * The note also lists each test file's wall time (vitest's JSON report), longest first: the suite ends no sooner than
 * its longest file, and the list shows whether the files are balanced.
 * Three workers on two cores (`npm run test:model`, the same command): the longest file, the Python printer, spends
 * most of its ~43 s waiting on that printer's wall-clock timers, so a third worker runs the CPU-bound files beside it
 * (idle, 2 December 20:06 UTC: 51.5 s with three, 62.7 s with two, 48 tests green in both).
 */
export const MODEL_SUITE_WORKERS = 3;
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelGraphFile } from '../src/mbt/graphCache.ts';
import { TEST_RUN_GRAPH_CACHE_DIR } from '../src/mbt/graphCacheDir.ts';
import { MODEL_TIMING_FILE, MODEL_TIMING_PARTS_DIR, type ModelTiming } from '../src/mbt/timing.ts';
import { row, type BenchRow } from './support.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

export async function modelSuiteRow(): Promise<BenchRow> {
  // Parts of an earlier run must not be summed into this one.
  await rm(MODEL_TIMING_PARTS_DIR, { recursive: true, force: true });
  await rm(MODEL_TIMING_FILE, { force: true });
  // The model graph is explored once per change of the model's sources (src/mbt/graphCache.ts): say which this run was.
  const graphCached = existsSync(modelGraphFile(TEST_RUN_GRAPH_CACHE_DIR));
  const reportDir = await mkdtemp(path.join(tmpdir(), 'mfp-model-suite-'));
  const jsonReport = path.join(reportDir, 'vitest.json');
  const started = performance.now();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn('npx', ['vitest', 'run', 'test/mbt', `--maxWorkers=${MODEL_SUITE_WORKERS}`, '--reporter=dot', '--reporter=json', `--outputFile.json=${jsonReport}`], { cwd: REPO, env: { ...process.env, CI: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, output }));
  });
  const wallMs = performance.now() - started;
  const files = await fileWallTimes(jsonReport);
  await rm(reportDir, { recursive: true, force: true });
  const tests = /Tests\s+(\d+) passed/.exec(output.replace(/\x1b\[[0-9;]*m/g, ""))?.[1];
  const timing = await readFile(MODEL_TIMING_FILE, 'utf8').then((t) => JSON.parse(t) as ModelTiming & { files?: string[] }, () => null);
  const share = timing && timing.wallMs > 0 ? timing.outsideMs / timing.wallMs : null;
  const split = timing
    ? `outside the system ${(timing.outsideMs / 1000).toFixed(1)} s of ${(timing.wallMs / 1000).toFixed(1)} s summed over ${timing.files?.length ?? '?'} files (waiting on the system ${(timing.systemMs / 1000).toFixed(1)} s)`
    : 'share outside the system not measured (no reports/model-timing.json written)';
  return row({
    id: 'model-suite',
    name: 'Model-based suite (test/mbt) wall time',
    measured: { value: wallMs / 1000, unit: 's wall' },
    baseline: timing ? { value: timing.outsideMs / 1000, unit: 's outside the SUT' } : null,
    ratio: share,
    target: null,
    note:
      code === 0
        ? `${tests ?? '?'} tests passed (${MODEL_SUITE_WORKERS} vitest workers); model graph ${graphCached ? 'read from the cache' : 'explored (no cache for these sources yet)'}; ratio = share of the suite's time outside the system under test: ${split}; ${files}`
        : `vitest exited with ${code}: the suite failed or did not run (${output.trim().split('\n').slice(-3).join(' | ')}); ${split}; ${files}`,
  });
}

/**
 * "files (wall s): python-printer 41.2, walks 30.1, …" from vitest's JSON report, longest first, and the tests that
 * failed with the first line of their message (the dot reporter's output is not kept).
 */
async function fileWallTimes(jsonReport: string): Promise<string> {
  type Report = { testResults?: { name: string; startTime: number; endTime: number; assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[] }[] };
  const report = await readFile(jsonReport, 'utf8').then((t) => JSON.parse(t) as Report, () => null);
  if (!report?.testResults?.length) return 'per-file wall times not measured (no vitest JSON report)';
  const short = (file: string) => path.basename(file).replace(/\.test\.ts$/, '');
  const files = report.testResults.map((f) => ({ name: short(f.name), s: (f.endTime - f.startTime) / 1000 })).sort((a, b) => b.s - a.s);
  const failed = report.testResults.flatMap((f) =>
    (f.assertionResults ?? []).filter((t) => t.status === 'failed').map((t) => `${short(f.name)} > ${t.fullName}: ${(t.failureMessages?.[0] ?? '').split('\n')[0]!.slice(0, 300)}`),
  );
  return `files (wall s): ${files.map((f) => `${f.name} ${f.s.toFixed(1)}`).join(', ')}${failed.length ? `; failed: ${failed.join(' | ')}` : ''}`;
}
