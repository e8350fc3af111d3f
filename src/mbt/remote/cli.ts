/**
 * `mfp-sim mbt --driver URL --twin URL`: the model-based tests against any printer behind a driver
 * (docs/driver-protocol.md), with the twin as its Microsoft. Exit code 1 when a path, walk, scenario or conformance
 * rule fails or the run cannot proceed (a driver that hangs, dies, answers garbage or speaks another version).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { ACCESS_TOKEN_SKEW_MS } from '../../device/deadlines.ts';
import { loadScenario } from '../scenario.ts';
import { CoverageTracker } from '../coverage.ts';
import { RemoteExecutor } from './executor.ts';
import { RemoteCoverage, formatRemoteCoverage, writeRemoteCoverage } from './coverage.ts';
import { openRemote, runLabels, runRemote, type RunCase } from './run.ts';
import { writeJunit } from './junit.ts';

const int = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`an integer from ${min} to ${max}`);
  return n;
};
const collect = (v: string, prev: string[]) => [...prev, v];

interface MbtOptions {
  driver: string;
  twin: string;
  twinCa?: string;
  twinToken?: string;
  paths?: boolean;
  path: string[];
  walks?: number;
  walkSteps: number;
  seed?: number;
  replay?: string;
  reporter: 'json' | 'junit';
  output?: string;
  coverageOutput?: string;
  stepTimeout: number;
  settleTimeout: number;
  wallWait: number;
  tokenSkew: number;
  conformance: boolean;
  failuresDir?: string;
}

export function mbtCommand(): Command {
  return new Command('mbt')
    .description('run the model-based tests (generated paths, random walks) against a printer behind a driver, with the twin as its Microsoft')
    .requiredOption('--driver <url>', 'the printer\'s driver, e.g. http://127.0.0.1:9100 (mfp-sim start --driver-port P serves ours)')
    .requiredOption('--twin <url>', 'the twin\'s HTTPS URL (its Entra listener; the control API is under /_twin), e.g. https://127.0.0.1:8443')
    .option('--twin-ca <file>', 'the CA that issued the twin\'s certificate (PEM; mfp-sim start prints its path)')
    .addOption(new Option('--twin-token <token>', 'bearer token for the twin\'s control API (when a proxy asks for one)').env('MFP_TWIN_TOKEN'))
    .option('--paths', 'run the generated paths (the default unless --walks is given)')
    .option('--path <id>', 'run only this generated path (repeatable), e.g. --path path-1', collect, [])
    .option('--walks <n>', 'random walks to run (fast-check; a failing walk is shrunk)', int(1, 10_000))
    .option('--walk-steps <n>', 'steps per random walk', int(1, 200), 20)
    .option('--seed <n>', 'seed of the random walks', int(-2_147_483_648, 2_147_483_647))
    .option('--replay <file>', 'run one saved scenario (reports/mbt-failures/*.json) instead of paths and walks')
    .addOption(new Option('--reporter <reporter>', 'format of the report written to --output: JUnit XML or JSON (the cases); a summary always goes to stdout').choices(['json', 'junit']).default('json'))
    .option('--output <file>', 'write the report here (JUnit XML with --reporter junit)')
    .option('--coverage-output <file>', 'write the JSON coverage report (covered / skipped / uncovered rows) here')
    .option('--step-timeout <ms>', 'timeout of each driver and twin call', int(100, 600_000), 10_000)
    .option('--settle-timeout <ms>', 'how long the printer may take to show the expected state after a step', int(100, 600_000), 10_000)
    .option('--wall-wait <ms>', 'without the clock capability: wait on wall time for a deadline this near, skip farther ones', int(0, 600_000), 20_000)
    .option('--token-skew <ms>', "the printer's refresh lead: how long before the access token expires it raises its access-token deadline (the status shows only the expiry; default ours, 5 min)", int(0, 86_400_000), ACCESS_TOKEN_SKEW_MS)
    .option('--no-conformance', 'do not judge the twin\'s conformance rules at the end')
    .option('--failures-dir <dir>', 'where failing paths and walks are saved as replayable scenarios', 'reports/mbt-failures')
    .addHelpText(
      'after',
      `
What it does
  Connects to the driver (GET /driver/v1/hello: protocol version and capabilities) and to the twin's control API,
  then for each generated path (or walk) factory-resets the printer and applies the model's steps: operator stimuli
  through the driver, outcomes scripted on the twin (approve/decline, fault rules, holds that keep the printer in
  requestingCode, refreshing and sending), deadlines by advancing the shared clock (capability clock) or by waiting
  on wall time up to --wall-wait. After each step the driver's status must show the model's state.
  Paths are generated without the steps the printer's capabilities rule out (no power, no deviceKey); the rows only
  those steps reach are reported skipped with the capability. A step that cannot be taken when it comes (a deadline
  beyond --wall-wait without clock control) ends its path as skipped, its rows skipped, never covered.
  At the end the twin's conformance rules are judged over the run's wire journal.

Examples
  mfp-sim start --clock virtual --driver-port 9100          # our printer; prints the twin URL and CA path
  mfp-sim mbt --driver http://127.0.0.1:9100 --twin https://127.0.0.1:8443 --twin-ca var/cloud/ca.pem \\
      --reporter junit --output reports/mbt.xml --coverage-output reports/mbt-coverage.json
  mfp-sim mbt --driver http://127.0.0.1:9100 --twin https://127.0.0.1:8443 --twin-ca var/cloud/ca.pem --walks 20 --seed 7

Exit code 0 when every path, walk and rule passed (skipped ones do not fail the run), 1 otherwise.
See docs/model-based-testing.md ("Put your own printer under test") and docs/driver-protocol.md.`,
    )
    .action(async (o: MbtOptions) => {
      const out = (s: string) => process.stdout.write(s + '\n');
      const onCase = (c: RunCase) => {
        const mark = c.outcome === 'passed' ? 'ok  ' : c.outcome === 'skipped' ? 'skip' : 'FAIL';
        const why = c.failure ? `: ${c.failure.message.split('\n')[0]}${c.failure.replayFile ? ` (replay ${c.failure.replayFile})` : ''}` : c.skipped ? `: ${c.skipped.reason}` : '';
        out(`${mark} ${c.kind} ${c.name}${c.labels.length ? ` (${c.steps}/${c.labels.length} steps)` : ''}${why}`);
      };
      try {
        const target = await openRemote({ driverUrl: o.driver, twinUrl: o.twin, twinCaFile: o.twinCa, twinToken: o.twinToken, stepTimeoutMs: o.stepTimeout });
        const caps = Object.entries(target.driver.capabilities).filter(([, v]) => v).map(([k]) => k);
        out(`printer: ${target.driver.hello.name} (capabilities: ${caps.join(', ') || 'none'})`);
        const execOpts = { settleTimeoutMs: o.settleTimeout, wallWaitMs: o.wallWait, accessTokenSkewMs: o.tokenSkew };
        let cases: RunCase[];
        let coverage;
        if (o.replay) {
          const scenario = await loadScenario(o.replay);
          const tracker = new CoverageTracker();
          const cov = new RemoteCoverage(tracker);
          const executor = new RemoteExecutor(target, { ...execOpts, coverage: tracker });
          try {
            const c = await runLabels(executor, cov, 'scenario', scenario.name, scenario.labels, o.failuresDir);
            onCase(c);
            cases = [c];
          } finally {
            await executor.letGoAllHolds().catch(() => undefined);
          }
          coverage = cov.report();
        } else {
          const result = await runRemote(target, {
            ...execOpts,
            paths: o.paths ?? (o.path.length > 0 || !o.walks),
            pathIds: o.path,
            walks: o.walks,
            walkSteps: o.walkSteps,
            seed: o.seed,
            conformance: o.conformance,
            failuresDir: o.failuresDir,
            onCase,
          });
          cases = result.cases;
          coverage = result.coverage;
        }
        const n = (k: RunCase['outcome']) => cases.filter((c) => c.outcome === k).length;
        out(`${cases.length} cases: ${n('passed')} passed, ${n('failed')} failed, ${n('skipped')} skipped`);
        out(`coverage: ${formatRemoteCoverage(coverage)}`);
        if (o.coverageOutput) out(`coverage report: ${await writeRemoteCoverage(coverage, o.coverageOutput)}`);
        if (o.output) {
          if (o.reporter === 'junit') out(`JUnit report: ${await writeJunit(cases, o.output, { printer: target.driver.hello.name })}`);
          else {
            const { writeFile } = await import('node:fs/promises');
            await writeFile(o.output, JSON.stringify({ cases, coverage: coverage.totals }, null, 2) + '\n');
            out(`report: ${o.output}`);
          }
        }
        if (n('failed') > 0) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`mfp-sim mbt: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
