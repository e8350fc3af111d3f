/**
 * What a scenario run shows while it runs. On a terminal: a cli-progress bar (steps done, simulated time reached,
 * transitions, mails sent) with transition lines printed above it. Elsewhere (CI logs, pipes): plain lines only,
 * plus a progress line every 10 % of a long run.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import { formatElapsed } from './duration.ts';
import type { ScenarioProgress } from './runner.ts';

export interface ProgressView {
  line(text: string): void;
  progress(p: ScenarioProgress): void;
  done(): void;
}

/** Runs with at least this many steps get plain progress lines when there is no terminal. */
const LONG_RUN_STEPS = 500;

export function createProgressView(out: Writable & { isTTY?: boolean }, opts: { showLines: boolean }): ProgressView {
  if (out.isTTY) return ttyView(out, opts.showLines);
  let lastTenth = 0;
  return {
    line: (text) => {
      if (opts.showLines) out.write(`${text}\n`);
    },
    progress: (p) => {
      if (p.stepsTotal < LONG_RUN_STEPS) return;
      const tenth = Math.floor((p.stepsDone / p.stepsTotal) * 10);
      if (tenth <= lastTenth) return;
      lastTenth = tenth;
      out.write(`${p.name}: ${tenth * 10}% of steps, sim ${formatElapsed(p.simElapsedMs)}, ${p.transitions} transitions, ${p.mailsSent} mails sent\n`);
    },
    done: () => {},
  };
}

function ttyView(out: Writable, showLines: boolean): ProgressView {
  const bars = new cliProgress.MultiBar(
    {
      stream: out as NodeJS.WritableStream,
      format: '{name} |{bar}| {percentage}% | sim {sim} | {transitions} transitions | {mails} mails',
      hideCursor: true,
      clearOnComplete: false,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | null = null;
  return {
    line: (text) => {
      if (showLines) bars.log(`${text}\n`);
    },
    progress: (p) => {
      const payload = { name: p.name, sim: formatElapsed(p.simElapsedMs), transitions: p.transitions, mails: p.mailsSent };
      if (!bar) bar = bars.create(p.stepsTotal, p.stepsDone, payload);
      else bar.update(p.stepsDone, payload);
    },
    done: () => {
      bars.update(); // flushes lines logged since the last redraw, which stop() would drop
      bars.stop();
    },
  };
}
