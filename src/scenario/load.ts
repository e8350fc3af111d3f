/**
 * Reading a scenario: JSON syntax, the header, then every step on its own, so each problem names the step, the
 * field and the line. Nothing runs unless the whole file is valid.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { JsonSyntaxError, jsonValueLines, lineOf, type LineMap } from './jsonLines.ts';
import {
  STEP_ARGS,
  STEP_KINDS,
  scenarioHeaderSchema,
  type Scenario,
  type SimpleStep,
  type Step,
  type StepOrigin,
} from './schema.ts';

export interface FormatProblem {
  /** "steps[3].expect.state" */
  where: string;
  line: number | undefined;
  message: string;
}

/** A scenario file that cannot run. Carries every problem found, each with its place in the file. */
export class ScenarioFormatError extends Error {
  readonly code = 'SCENARIO_INVALID';
  constructor(
    readonly file: string | null,
    readonly problems: FormatProblem[],
  ) {
    const name = file ?? '(scenario)';
    super(
      `invalid scenario ${name}:\n` +
        problems.map((p) => `  ${name}${p.line !== undefined ? `:${p.line}` : ''} ${p.where || '(top level)'}: ${p.message}`).join('\n'),
    );
    this.name = 'ScenarioFormatError';
  }
}

/** "steps[3].expect.state" from ["steps", 3, "expect", "state"]. */
export function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`;
  return out;
}

export async function loadScenarioFile(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ScenarioFormatError(file, [{ where: '', line: undefined, message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return parseScenarioText(text, file);
}

export function parseScenarioText(text: string, file: string | null): Scenario {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // Our scanner follows the same grammar and knows the line; JSON.parse's own words are the fallback.
    let located: JsonSyntaxError | null = null;
    try {
      jsonValueLines(text);
    } catch (e) {
      if (e instanceof JsonSyntaxError) located = e;
    }
    throw new ScenarioFormatError(file, [
      { where: '', line: located?.line, message: `not valid JSON: ${located?.message ?? (err as Error).message}` },
    ]);
  }
  return parseScenario(json, { file, lines: jsonValueLines(text) });
}

export function parseScenario(input: unknown, opts: { file?: string | null; lines?: LineMap } = {}): Scenario {
  const file = opts.file ?? null;
  const lines = opts.lines ?? new Map<string, number>();
  const problems: FormatProblem[] = [];
  const report = (p: readonly PropertyKey[], message: string) =>
    problems.push({ where: formatPath(p), line: lineOf(lines, p.map((k) => (typeof k === 'number' ? k : String(k)))), message });
  const reportZod = (base: readonly PropertyKey[], error: z.ZodError) => {
    for (const issue of error.issues) report([...base, ...issue.path], issue.message);
  };

  const header = scenarioHeaderSchema.safeParse(input);
  if (!header.success) {
    reportZod([], header.error);
    throw new ScenarioFormatError(file, problems);
  }
  const labels = new Set<string>();
  const steps = parseSteps(header.data.steps, ['steps'], lines, report, reportZod, labels);
  if (problems.length > 0) throw new ScenarioFormatError(file, problems);
  const { steps: _raw, ...rest } = header.data;
  return { ...rest, steps, file, baseDir: file ? path.dirname(path.resolve(file)) : process.cwd() };
}

type Report = (p: readonly PropertyKey[], message: string) => void;
type ReportZod = (base: readonly PropertyKey[], error: z.ZodError) => void;

function parseSteps(
  raw: unknown[],
  base: (string | number)[],
  lines: LineMap,
  report: Report,
  reportZod: ReportZod,
  labels: Set<string>,
): Step[] {
  const steps: Step[] = [];
  raw.forEach((item, index) => {
    const at = [...base, index];
    const origin: StepOrigin = { path: at, line: lineOf(lines, at) };
    const entry = typeof item === 'string' ? { [item]: {} } : item;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      return report(at, `must be an object with one key, the step kind (${STEP_KINDS.join(', ')})`);
    }
    const keys = Object.keys(entry);
    if (keys.length !== 1) {
      return report(at, `must have exactly one key, the step kind; found ${keys.length ? keys.map((k) => `"${k}"`).join(', ') : 'none'}`);
    }
    const kind = keys[0]!;
    const value = (entry as Record<string, unknown>)[kind];
    if (kind === 'repeat') {
      const r = value as { times?: unknown; steps?: unknown } | null;
      const ok = typeof r === 'object' && r !== null && !Array.isArray(r);
      const extra = ok ? Object.keys(r).filter((k) => k !== 'times' && k !== 'steps') : [];
      if (!ok) return report([...at, 'repeat'], 'must be { "times": N, "steps": [...] }');
      if (extra.length) report([...at, 'repeat'], `unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}`);
      if (!Number.isSafeInteger(r.times) || (r.times as number) < 1) report([...at, 'repeat', 'times'], 'must be an integer >= 1');
      if (!Array.isArray(r.steps) || r.steps.length === 0) return report([...at, 'repeat', 'steps'], 'must be a non-empty array of steps');
      const inner = parseSteps(r.steps, [...at, 'repeat', 'steps'], lines, report, reportZod, labels);
      steps.push({ kind: 'repeat', args: { times: r.times as number, steps: inner }, origin });
      return;
    }
    if (!(kind in STEP_ARGS)) {
      return report(at, `unknown step kind "${kind}"; expected one of ${STEP_KINDS.join(', ')}`);
    }
    const schema = STEP_ARGS[kind as keyof typeof STEP_ARGS];
    const parsed = schema.safeParse(value);
    if (!parsed.success) return reportZod([...at, kind], parsed.error);
    const step = { kind, args: parsed.data, origin } as SimpleStep;
    checkLabels(step, at, labels, report);
    steps.push(step);
  });
  return steps;
}

/** Jobs are named by label; a later step may only name a label an earlier submitJob gave. */
function checkLabels(step: SimpleStep, at: (string | number)[], labels: Set<string>, report: Report): void {
  if (step.kind === 'submitJob' && step.args.label) labels.add(step.args.label);
  const named = step.kind === 'expect' ? step.args.jobs : step.kind === 'waitFor' ? step.args.jobs : undefined;
  for (const name of Object.keys(named ?? {})) {
    if (!labels.has(name)) report([...at, step.kind, 'jobs', name], `no earlier submitJob step has the label "${name}"`);
  }
}
