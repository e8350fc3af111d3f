/**
 * `scenario run --driver URL --twin URL`: the same scenario files, the same step interpreter (interpreter.ts) and the
 * same checks (expectations.ts), on a stage whose printer is any printer behind the driver protocol and whose twin is
 * a running one reached over its control API. This file is that stage: `driverPrinter` (the part of the printer
 * interface the protocol carries) and `controlledTwin`; what v1 cannot carry is declared, so the interpreter skips it
 * with the reason instead of passing it.
 */
import type { LeafState } from '../../machines/oauthDevice.ts';
import { codeFromWire } from '../device/failures.ts';
import { defaultSmtpSettings, type Deadlines, type PrinterStatus, type SmtpSettings } from '../device/printer.ts';
import { DeviceInputError } from '../device/validation.ts';
import type { DriverClient } from '../driver/client.ts';
import type { DriverJob } from '../driver/protocol.ts';
import type { RemoteTarget } from '../mbt/remote/executor.ts';
import type { TwinControlClient } from '../mbt/remote/twin-client.ts';
import type { Difference } from './expectations.ts';
import { countSteps, ScenarioRun, StepFailure, StepSkipped, type SkippedStep } from './interpreter.ts';
import { loadScenarioFile } from './load.ts';
import type { Scenario } from './schema.ts';
import type { ScenarioJob, ScenarioPrinter, ScenarioStage, ScenarioTwin } from './stage.ts';

export type { SkippedStep };

export interface RemoteScenarioOptions {
  /** Without clock control: wait on wall time for an `advance`/`advanceUntil`/power cut up to this long (ms). */
  wallWaitMs?: number;
  /** Bound of each wall-time wait for the printer (approve, waitFor without timeout). */
  stepTimeoutMs?: number;
  onNote?: (line: string) => void;
}

export interface RemoteScenarioResult {
  name: string;
  file: string | null;
  outcome: 'passed' | 'failed' | 'skipped';
  failure: { where: string; line: number | undefined; step: string; message: string; differences: Difference[] } | null;
  /** Steps and checks not run, each with its reason; the first world-changing one ends the scenario. */
  skipped: SkippedStep[];
  stepsRun: number;
  stepsTotal: number;
  wallMs: number;
}

/** Each wall-time wait for a remote printer (its sign-in polls on its own schedule, not on the scenario's). */
const DEFAULT_STEP_TIMEOUT_MS = 20_000;

export async function runScenarioRemote(input: string | Scenario, target: RemoteTarget, opts: RemoteScenarioOptions = {}): Promise<RemoteScenarioResult> {
  const scenario = typeof input === 'string' ? await loadScenarioFile(input) : input;
  const started = performance.now();
  const note = (text: string) => opts.onNote?.(text);
  let run: ScenarioRun | null = null;
  let outcome: RemoteScenarioResult['outcome'] = 'passed';
  let failure: RemoteScenarioResult['failure'] = null;
  try {
    const stage = await prepareRemoteStage(scenario, target, note);
    run = new ScenarioRun(scenario, stage, {
      onNote: note,
      stepTimeoutMs: opts.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
      wallWaitMs: opts.wallWaitMs,
      pollMs: 50,
    });
    await run.start();
    await run.steps(scenario.steps);
  } catch (err) {
    const { where, line, step } = run?.place() ?? { where: '(start)', line: undefined, step: '(start)' };
    if (err instanceof StepSkipped) {
      outcome = 'skipped';
      run?.skipped.push({ where, line, step, reason: err.reason, ...(err.capability ? { capability: err.capability } : {}) });
    } else {
      outcome = 'failed';
      const e = err as Error;
      failure = { where, line, step, message: `${step === '(start)' ? 'start' : step}: ${e?.message ?? String(err)}`, differences: err instanceof StepFailure ? err.differences : [] };
    }
  } finally {
    run?.detach();
  }
  return {
    name: scenario.name,
    file: scenario.file,
    outcome,
    failure,
    skipped: run?.skipped ?? [],
    stepsRun: run?.stepsDone ?? 0,
    stepsTotal: countSteps(scenario.steps),
    wallMs: Math.round(performance.now() - started),
  };
}

/** A scenario starts from a new printer and a twin without faults, as the in-process runner's fresh simulator. */
async function prepareRemoteStage(scenario: Scenario, t: RemoteTarget, note: (text: string) => void): Promise<ScenarioStage> {
  if (scenario.tenant || scenario.nvramImage || scenario.startAt) {
    note('the scenario names a tenant, NVRAM image or start time: a running twin and printer keep their own');
  }
  await t.twin.clearFaults();
  const { state } = await t.driver.status();
  if (state !== 'unconfigured') {
    note(`printer in ${state}: factory reset first`);
    const r = await t.driver.send({ type: 'FACTORY_RESET' });
    if (!r.accepted) throw new StepFailure('refused', `the printer refused FACTORY_RESET: ${r.reason ?? `not handled in ${r.state}`}`);
    await t.driver.idle();
  }
  const caps = t.driver.capabilities;
  return {
    // Made after the reset: its event log starts with this scenario.
    printer: await driverPrinter(t.driver),
    twin: controlledTwin(t.twin),
    noAttachments: { reason: 'the driver protocol sends a job as text' },
    ...(caps.events ? {} : { noEventLog: { reason: 'the printer offers no event stream', capability: 'events' } }),
  };
}

/**
 * The part of the printer interface driver protocol v1 carries, over a driver client. What v1 does not carry is
 * absent (no device clock, no secret audit); the event log is the printer's transitions since this object was made
 * (`a → b on EVENT`), the NVRAM "image" the redacted content the driver shows. Transition notices are not pushed
 * (v1 is polled): `subscribe` hears nothing.
 */
export async function driverPrinter(driver: DriverClient): Promise<ScenarioPrinter> {
  const caps = driver.capabilities;
  // v1 takes whole settings: a partial save changes the last ones, from a fresh printer's (the device keeps the rest).
  let settings: SmtpSettings = defaultSmtpSettings();
  const eventsFrom = caps.events ? (await driver.events(0)).next : 0;
  const job = (j: DriverJob): ScenarioJob => ({ id: j.id, status: j.status, attempts: j.attempts, reply: j.reply });
  const status = async (): Promise<PrinterStatus> => {
    const s = await driver.status();
    const e = s.lastError;
    return {
      ...s,
      since: s.since ?? 0, // a printer that cannot say when it entered the state
      lastError: e ? { reason: e.reason, code: codeFromWire(e.code, e.codeKind), reply: e.reply } : null,
      storageFault: s.storageFault ?? null,
    } as PrinterStatus;
  };
  return {
    status,
    saveSettings: async (input) => {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new DeviceInputError('invalid SMTP settings: expected an object', { '(body)': 'must be an object' });
      }
      settings = { ...settings, ...(input as Partial<SmtpSettings>) };
      return driver.saveSettings(settings);
    },
    send: (event) => driver.send(event),
    submitJob: async (input) => {
      const { to, subject, body } = input as { to: string[]; subject?: string; body?: string };
      return job(await driver.submitJob({ to, subject, body }));
    },
    jobs: async () => (await driver.jobs()).map(job),
    job: async (id) => {
      const found = (await driver.jobs()).find((j) => j.id === id);
      return found ? job(found) : undefined;
    },
    eventLog: async () =>
      caps.events ? (await driver.events(eventsFrom)).events.map((x) => ({ at: x.at, kind: 'transition', message: `${x.from} → ${x.to} on ${x.event}` })) : [],
    idle: () => driver.idle(),
    subscribe: () => () => {},
    ...(caps.clock
      ? {
          clock: {
            now: () => driver.now(),
            advance: async (ms: number) => void (await driver.advance(ms)),
            // As the status shows them: a remote printer does not say how long before the token's expiry it renews,
            // so its access deadline is the expiry (time moved there passes the printer's own, earlier one).
            deadlines: async (): Promise<Deadlines> => {
              const s = await driver.status();
              const d: Deadlines = {};
              if (s.expiresAt !== null) d.CODE_DEADLINE = s.expiresAt;
              if (s.tokenExpiresAt !== null) d.ACCESS_TOKEN_DEADLINE = s.tokenExpiresAt;
              if (s.retryAt !== null) d.RETRY_DUE = s.retryAt;
              return d;
            },
          },
        }
      : {}),
    ...(caps.nvram ? { nvramImage: { image: async () => JSON.stringify(await driver.nvram()) } } : {}),
    ...(caps.power
      ? {
          power: {
            // Not offered to scenarios even where hello declares it: what the key-loss story checks (the boot's
            // nvram.recovered line) is not in v1's event stream. The model-based executor drives the key loss.
            deviceKeyLoss: false,
            powerCycle: async (offMs = 0) => {
              const { stateAfter } = await driver.powerCycle(offMs);
              // v1 answers the state after the boot only: the report has no transitions and no reasons.
              return { at: 0, outcome: 'restored', bank: null, seq: 0, migratedFrom: null, stateBefore: null, stateAfter: stateAfter as LeafState, transitions: [], reasons: [] };
            },
          },
        }
      : {}),
  };
}

/** The running twin's control API as a scenario scripts it. */
export function controlledTwin(twin: TwinControlClient): ScenarioTwin {
  return {
    approve: async (code, upn) => ((await twin.approve(code, upn)) ?? {}) as { error?: { error: string; aadsts?: number } },
    decline: async (code) => void (await twin.decline(code)),
    patchTenant: async (patch) => void (await twin.call('PATCH', '/tenant', patch)),
    patchUser: async (upn, patch) => void (await twin.call('PATCH', `/users/${encodeURIComponent(upn)}`, patch)),
    resetPassword: async (upn, password) => void (await twin.call('POST', `/users/${encodeURIComponent(upn)}/password`, { password })),
    revokeSessions: async (upn) => void (await twin.call('POST', `/users/${encodeURIComponent(upn)}/revoke`, {})),
    addFault: async (rule) => void (await twin.call('POST', '/faults', rule)),
    clearFaults: async () => void (await twin.clearFaults()),
    messages: async (upn) => (await twin.messages(upn)) as { folder?: string; subject?: string | null }[],
    migrateRoot: async ({ inMs, ...rest }) => {
      const at = inMs === undefined ? undefined : new Date((await twin.clock()).now + inMs).toISOString();
      await twin.call('POST', '/pki/migrate', { ...rest, ...(at ? { at } : {}) });
    },
    rootPem: async () => ((await twin.call('GET', '/pki')) as { root: { pem: string } }).root.pem,
  };
}
