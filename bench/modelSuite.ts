/**
 * The model-based suite's wall time: `npx vitest run test/model` as a child process, timed from outside. The suite
 * does not report how much of its time is spent inside the system under test, so that share is recorded as not
 * measured (with the reason) rather than guessed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { row, type BenchRow } from './support.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

export async function modelSuiteRow(): Promise<BenchRow> {
  const started = performance.now();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn('npx', ['vitest', 'run', 'test/model', '--reporter=dot'], { cwd: REPO, env: { ...process.env, CI: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, output }));
  });
  const wallMs = performance.now() - started;
  const tests = /Tests\s+(\d+) passed/.exec(output)?.[1];
  const sutShare = /sut[- ]time[^\d]*(\d+(?:\.\d+)?)\s*ms/i.exec(output)?.[1];
  return row({
    id: 'model-suite',
    name: 'Model-based suite (test/model) wall time',
    measured: { value: wallMs / 1000, unit: 's wall' },
    baseline: null,
    ratio: sutShare ? 1 - Number(sutShare) / wallMs : null,
    target: null,
    note:
      code === 0
        ? `${tests ?? '?'} tests passed; share outside the SUT: ${sutShare ? 'from the suite\'s own SUT time' : 'not measured (the suite does not report its time inside the system under test)'}`
        : `vitest exited with ${code}: the suite failed or did not run (${output.trim().split('\n').slice(-3).join(' | ')})`,
  });
}
