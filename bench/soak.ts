/** The 90-day soak (one mail an hour, refreshes as they fall due, real sockets to the twin) through the scenario runner. */
import { fileURLToPath } from 'node:url';
import { runScenario } from '../src/scenario/runner.ts';
import { row, type BenchRow } from './support.ts';

const SOAK = fileURLToPath(new URL('../fixtures/scenarios/soak-90-days.json', import.meta.url));

export async function soakRow(credentials: string): Promise<BenchRow> {
  const result = await runScenario(SOAK, { twinCertsFrom: credentials });
  if (!result.passed) throw new Error(`soak failed at ${result.failure?.where}: ${result.failure?.message}`);
  const ratio = result.simElapsedMs / result.wallMs;
  return row({
    id: 'soak-90-days',
    name: '90-day soak: simulated time / wall time',
    measured: { value: result.simElapsedMs / 86_400_000, unit: 'simulated days' },
    baseline: { value: result.wallMs / 1000, unit: 's wall' },
    ratio,
    target: { op: '>=', value: 100_000, text: '≥ 100,000×' },
    note: `runScenario(soak-90-days.json): ${result.mailsSent} mails, ${result.transitions} transitions, every one over real loopback sockets`,
  });
}
