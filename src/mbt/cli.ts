/**
 * `mfp-sim paths` and `mfp-sim replay`, as commander factories for src/cli.ts to mount.
 *  - paths: the generated test paths as JSON (each step: event, expected state, rows, what to check), for teams that
 *    run them on real hardware.
 *  - replay: runs a saved scenario (reports/mbt-failures/*.json) on a fresh simulated system and says where it fails.
 */
import { Command, Option } from 'commander';
import { buildModelGraph, generatePaths } from './generator.ts';
import { UNREACHABLE_ROWS } from './unreachable.ts';
import { machineTable } from './systemModel.ts';
import { loadScenario, replayLabels } from './scenario.ts';

export function pathsCommand(): Command {
  return new Command('paths')
    .description('print the model-based test paths generated from the statechart (transition coverage)')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'text']).default('json'))
    .option('--max-steps <n>', 'start a new path after this many steps', (v) => Number.parseInt(v, 10), 40)
    .action((opts: { format: 'json' | 'text'; maxSteps: number }) => {
      const graph = buildModelGraph();
      const paths = generatePaths(graph, { maxSteps: opts.maxSteps, skipRows: new Set(Object.keys(UNREACHABLE_ROWS)) });
      if (opts.format === 'text') {
        for (const p of paths) {
          process.stdout.write(`${p.id} (${p.steps.length} steps)\n`);
          p.steps.forEach((s, i) => process.stdout.write(`  ${String(i + 1).padStart(2)}. ${s.label.padEnd(28)} → ${s.expectedState}\n`));
        }
        return;
      }
      const out = {
        generator: 'chained walk to the nearest uncovered row (xstate/graph adjacency map)',
        graph: { states: graph.nodes.size, edges: graph.edgeCount },
        rows: { total: machineTable().transitions.length, unreachable: UNREACHABLE_ROWS },
        paths: paths.map((p) => ({
          id: p.id,
          steps: p.steps.map((s) => ({ event: s.label, statechartEvent: s.event, expectedState: s.expectedState, rows: s.rows, expect: s.expect })),
        })),
      };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });
}

export function replayCommand(): Command {
  return new Command('replay')
    .description('replay a saved model-based test scenario (e.g. reports/mbt-failures/*.json) on a fresh simulated system')
    .argument('<file>', 'scenario JSON file')
    .action(async (file: string) => {
      const scenario = await loadScenario(file);
      const result = await replayLabels(scenario.labels);
      for (const [i, s] of result.steps.entries()) process.stdout.write(`${String(i + 1).padStart(3)}. ${s.label.padEnd(28)} → ${s.actual}\n`);
      if (result.failure) {
        process.stdout.write(`FAILED ${result.failure.message}\n`);
        process.exitCode = 1;
      } else {
        process.stdout.write(`passed: ${result.steps.length} steps, every state as the model predicts\n`);
      }
    });
}
