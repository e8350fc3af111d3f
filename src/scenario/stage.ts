/**
 * What a scenario runs on: a printer behind the one interface (src/device/printer.ts), the twin's control, and what
 * only some stages have. The in-process runner's stage is a simulator with its embedded twin (`simulatorStage`); the
 * `--driver` stage is any printer behind a driver with a running twin reached over its control API (remote.ts).
 * One step interpreter (runner.ts) and one set of checks (expectations.ts) run on either.
 */
import type { Twin } from '../cloud/twin.ts';
import type { ClockService } from '../device/clockService.ts';
import type { JobRecord, NvramImageInspection, Printer } from '../device/printer.ts';
import { localPrinter } from '../sim/printer.ts';
import type { Simulator } from '../sim/types.ts';
import type { SimpleStep } from './schema.ts';

type ArgsOf<K extends SimpleStep['kind']> = Extract<SimpleStep, { kind: K }>['args'];

/** A message in a twin mailbox, as far as the checks read it. */
export interface MailboxMessage {
  folder?: string;
  subject?: string | null;
}

/** The twin as a scenario scripts it: outcomes the printer meets on the wire, and the mailboxes it delivers to. */
export interface ScenarioTwin {
  /** Approves a user code as `upn`; a refusal by the tenant's policy comes back as `error` (the step goes on). */
  approve(userCode: string, upn: string): Promise<{ error?: { error: string; aadsts?: number } }>;
  decline(userCode: string): Promise<void>;
  patchTenant(patch: ArgsOf<'patchTenant'>): Promise<void>;
  patchUser(upn: string, patch: Omit<ArgsOf<'patchUser'>, 'upn'>): Promise<void>;
  resetPassword(upn: string, password: string): Promise<void>;
  revokeSessions(upn: string): Promise<void>;
  addFault(rule: ArgsOf<'fault'>): Promise<void>;
  clearFaults(): Promise<void>;
  messages(upn: string): Promise<MailboxMessage[]>;
  /** Whether the twin's NTP server answers (absent: a stage whose printer's NTP is out of reach). */
  setNtpReachable?(reachable: boolean): Promise<void>;
  /** A root migration (src/cloud/pki.ts): now, or `inMs` later on the twin's clock. */
  migrateRoot(req: { inMs?: number; crossSign?: boolean; name?: string }): Promise<void>;
  /** The PEM of the root the twin's chain leads to now (what an admin downloads and imports). */
  rootPem(): Promise<string>;
}

/** A job as a scenario reads it. */
export type ScenarioJob = Pick<JobRecord, 'id' | 'status' | 'attempts' | 'reply'>;

/**
 * The part of the printer interface a scenario drives and reads: every `Printer` is one, and so is a printer behind
 * a driver (remote.ts), whose protocol carries no more than this.
 */
export interface ScenarioPrinter extends Pick<Printer, 'status' | 'saveSettings' | 'send' | 'eventLog' | 'idle' | 'subscribe' | 'clock' | 'power' | 'secretAudit' | 'trustStore'> {
  submitJob(input: unknown): Promise<ScenarioJob>;
  jobs(): Promise<ScenarioJob[]>;
  job(id: string): Promise<ScenarioJob | undefined>;
  readonly nvramImage?: Pick<NvramImageInspection, 'image'>;
}

/** Something a stage cannot carry: the reason a step or check is skipped, and the capability that would carry it. */
export interface Unsupported {
  reason: string;
  capability?: string;
}

export interface ScenarioStage {
  readonly printer: ScenarioPrinter;
  /** null: no twin to script (a simulator against real Microsoft); twin steps fail saying so. */
  readonly twin: ScenarioTwin | null;
  /** The printer's time keeping (RTC, NTP, time zone) for `clock` steps and checks; absent: they are skipped. */
  readonly deviceClock?: ClockService;
  /** The world's time (the twin's clock): `clock.set: "world"`, the clock checks' skew, the time stamps of notes. */
  readonly worldNow?: () => number;
  /** Jobs cannot carry attachment files here (they go without). */
  readonly noAttachments?: Unsupported;
  /** The printer's event log cannot be read here. */
  readonly noEventLog?: Unsupported;
}

/** The embedded twin's control, in process. */
export function embeddedTwin(twin: Twin): ScenarioTwin {
  const c = twin.control;
  return {
    approve: async (code, upn) => c.approveDeviceCode(code, upn),
    decline: async (code) => void c.declineDeviceCode(code),
    patchTenant: async (patch) => void c.patchTenant(patch),
    patchUser: async (upn, patch) => void c.patchUser(upn, patch),
    resetPassword: async (upn, password) => c.resetPassword(upn, password),
    revokeSessions: async (upn) => c.revokeSessions(upn),
    addFault: async (rule) => void c.addFault(rule),
    clearFaults: async () => c.clearFaults(),
    messages: async (upn) => c.messages(upn),
    setNtpReachable: async (reachable) => twin.ntp.setReachable(reachable),
    migrateRoot: async ({ inMs, ...rest }) => void (await twin.pki.migrate({ ...rest, ...(inMs !== undefined ? { at: twin.clock.now() + inMs } : {}) })),
    rootPem: async () => twin.pki.rootPem(),
  };
}

/**
 * A simulator as a stage. Its printer's clock advance waits until the printer is quiet after each fired deadline
 * (nothing is held at the twin here), as `sim.advance` does.
 */
export function simulatorStage(sim: Simulator): ScenarioStage {
  return {
    printer: localPrinter(sim, { advanceSettles: 'full' }),
    twin: sim.twin ? embeddedTwin(sim.twin) : null,
    get deviceClock() {
      return sim.deviceClock; // replaced at each boot
    },
    worldNow: () => sim.clock.now(),
  };
}
