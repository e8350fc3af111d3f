/**
 * `mfp-sim`: one command line for the simulator. Each subcommand lives next to the code it drives and is mounted
 * here; commander does the parsing, help and errors. Only the module of the subcommand named on the command line is
 * loaded (all of them for help or an unknown name): loading every one costs seconds of CPU at each start, and the
 * test suites start `mfp-sim machine` and `mfp-sim mbt` as child processes.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** Each subcommand's factory, by name, in the order help lists them. */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  start: () => import('./app/start.ts').then((m) => m.startCommand()),
  machine: () => import('./model/cli.ts').then((m) => m.machineCommand()),
  nvram: () => import('./nvram/cli.ts').then((m) => m.nvramCommand()),
  cloud: () => import('./cloud/cli.ts').then((m) => m.cloudCommand()),
  scenario: () => import('./scenario/cli.ts').then((m) => m.scenarioCommand()),
  paths: () => import('./mbt/cli.ts').then((m) => m.pathsCommand()),
  replay: () => import('./mbt/cli.ts').then((m) => m.replayCommand()),
  fleet: () => import('./fleet/cli.ts').then((m) => m.fleetCommand()),
  driver: () => import('./driver/cli.ts').then((m) => m.driverCommand()),
  mbt: () => import('./mbt/remote/cli.ts').then((m) => m.mbtCommand()),
};

/** The subcommands `argv` can reach: the one it names, or every one (help, version, an unknown or missing name). */
export async function loadSubcommands(argv: readonly string[]): Promise<Command[]> {
  const named = argv[2];
  const names = named !== undefined && Object.hasOwn(SUBCOMMANDS, named) ? [named] : Object.keys(SUBCOMMANDS);
  return Promise.all(names.map((n) => SUBCOMMANDS[n]!()));
}

export function buildCli(subcommands: readonly Command[]): Command {
  const program = new Command('mfp-sim')
    .description(
      'Simulator of a multifunction printer\'s OAuth 2.0 sign-in for scan-to-email through Exchange Online, ' +
        'with an offline twin of Entra ID and Exchange Online.',
    )
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  for (const c of subcommands) program.addCommand(c);
  return program;
}

// `mfp-sim paths | head`: a reader that hangs up early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

try {
  await buildCli(await loadSubcommands(process.argv)).parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else {
    console.error(`mfp-sim: ${(err as Error)?.message ?? String(err)}`);
    process.exitCode = 1;
  }
}
