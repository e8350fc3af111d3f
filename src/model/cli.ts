/** `mfp-sim machine --format json|mermaid`: the statechart as testers and diagrams consume it. */
import { Command, Option } from 'commander';
import { oauthDeviceMachine } from '../../machines/oauthDevice.ts';
import { toMermaid, transitionTable } from './transitionTable.ts';

export function machineCommand(out: (text: string) => void = (t) => process.stdout.write(t)): Command {
  return new Command('machine')
    .description('print the statechart: one row per leaf state and branch it can take (inherited transitions expanded)')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'mermaid']).default('json'))
    .action((o: { format: 'json' | 'mermaid' }) => {
      const table = transitionTable(oauthDeviceMachine);
      if (o.format === 'mermaid') return out(toMermaid(table));
      const { states, transitions } = table;
      out(
        JSON.stringify(
          { states, transitions: transitions.map(({ source, event, guard, target, id }) => ({ id, source, event, guard, target })) },
          null,
          2,
        ) + '\n',
      );
    });
}
