/**
 * `mfp-sim`: one command line for the simulator. Each subcommand lives next to the code it drives and is mounted
 * here; commander does the parsing, help and errors.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { machineCommand } from './model/cli.ts';
import { nvramCommand } from './nvram/cli.ts';
import { cloudCommand } from './cloud/cli.ts';
import { startCommand } from './app/start.ts';
import { scenarioCommand } from './scenario/cli.ts';
import { pathsCommand, replayCommand } from './mbt/cli.ts';
import { fleetCommand } from './fleet/cli.ts';
import { driverCommand } from './driver/cli.ts';
import { mbtCommand } from './mbt/remote/cli.ts';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildCli(): Command {
  const program = new Command('mfp-sim')
    .description(
      'Simulator of a multifunction printer\'s OAuth 2.0 sign-in for scan-to-email through Exchange Online, ' +
        'with an offline twin of Entra ID and Exchange Online.',
    )
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(startCommand());
  program.addCommand(machineCommand());
  program.addCommand(nvramCommand());
  program.addCommand(cloudCommand());
  program.addCommand(scenarioCommand());
  program.addCommand(pathsCommand());
  program.addCommand(replayCommand());
  program.addCommand(fleetCommand());
  program.addCommand(driverCommand());
  program.addCommand(mbtCommand());
  return program;
}

// `mfp-sim paths | head`: a reader that hangs up early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

try {
  await buildCli().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else {
    console.error(`mfp-sim: ${(err as Error)?.message ?? String(err)}`);
    process.exitCode = 1;
  }
}
