/**
 * One slice of a fleet: a range of printers, each a whole simulator (its own NVRAM file, identity, spool, msal-node
 * and nodemailer adapters), all against one embedded twin on one virtual clock. The slice runs the scripted day
 * (day.ts) phase by phase when told to; the coordinator (run.ts) keeps several slices in step, in this thread or in
 * worker threads. Nothing here is module-level: a process can hold many slices.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { PayloadBuffers, startSimulator, type Simulator } from '../sim/simulator.ts';
import { localPrinter } from '../sim/printer.ts';
import type { Printer as PrinterInterface } from '../device/printer.ts';
import { startTwin, type Twin } from '../cloud/twin.ts';
import { VirtualClock } from '../time/clock.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { TrustContextCache } from '../adapters/tls/deviceTls.ts';
import type { DeviceEventType } from '../../machines/oauthDevice.ts';
import { codeText } from '../device/failures.ts';
import { DeviceClock } from './deviceClock.ts';
import { forEachLimited } from './limit.ts';
import { processLimitHit } from './processLimit.ts';
import { encodeHistogram, newLatencyHistogram, recordMs } from './latency.ts';
import { sampleMemory } from './memory.ts';
import {
  FIRST_MAIL_AFTER_MS,
  MAIL_EVERY_MS,
  MORNING_MAIL_AFTER_MS,
  NIGHT_OFF_MS,
  POWER_OFF_AFTER_MS,
  printerId,
  printerSettings,
  printerUpn,
} from './day.ts';
import type { DeviceRow, Phase, PhaseResult, SliceMemory, SliceReport } from './types.ts';

/**
 * A simulation choice: no 100 ms early-talker pause before each SMTP greeting (smtp-server's default). With one
 * connection per mail it is pure wall-time waiting that the virtual clock never sees. The day limit (dayLimit.ts)
 * gives its bare submissions the same pause.
 */
export const FLEET_SMTP_GREETING_DELAY_MS = 0;

export const SCAN_PDF = fileURLToPath(new URL('../../fixtures/scans/scan-0001.pdf', import.meta.url));

/** Where a fleet keeps what its slices share: the twins' TLS material and signing key, the tenant file. */
export const fleetPaths = (stateDir: string) => ({
  cloudDir: path.join(stateDir, 'cloud'),
  tenantFile: path.join(stateDir, 'tenant.json'),
  devicesDir: path.join(stateDir, 'devices'),
  logsDir: path.join(stateDir, 'logs'),
});

export interface SliceSpec {
  slice: number;
  /** Index of the slice's first printer in the fleet, and how many it runs. */
  first: number;
  count: number;
  stateDir: string;
  seed: number;
  mailsPerDay: number;
  concurrency: number;
}

/** Outcomes that mean something went wrong (transient or not). */
const FAILURE_EVENTS = new Set<DeviceEventType>(['CODE_FAILED', 'AUTH_DECLINED', 'CODE_EXPIRED', 'POLL_FAILED', 'REFRESH_FAILED', 'SEND_FAILED']);
/** Where a sign-in stops when it does not end authorized. */
const SIGN_IN_DEAD_ENDS = new Set(['authFailed', 'ready', 'unconfigured', 'reauthRequired']);
/** Wall-time guard for one printer's sign-in (msal-node polls on wall time, once a second on the fleet's tenant). */
const SIGN_IN_WALL_LIMIT_MS = 180_000;

interface Printer {
  index: number;
  id: string;
  upn: string;
  dir: string;
  clock: DeviceClock;
  sim: Simulator | null;
  /** The powered-on printer, reached only through the one printer interface (null while off). */
  device: PrinterInterface | null;
  row: DeviceRow;
  /** Message-IDs of every job this printer submitted, to find them again in the twin. */
  messageIds: string[];
}

export type ProgressListener = (units: number) => void;

export class FleetSlice {
  private readonly clock = new VirtualClock();
  private readonly start = this.clock.now();
  /** Printers whose timer fired since the clock last settled. */
  private readonly dirty = new Set<Printer>();
  private twin: Twin | null = null;
  private printers: Printer[] = [];
  private memory: SliceMemory = { heapBeforeDevices: 0, heapWithDevices: 0, devices: 0 };
  private readonly logger: Logger;
  /** Wall time of every mail this slice's printers sent (submit → idle), merged by the coordinator. */
  private readonly mailLatency = newLatencyHistogram();
  private readonly logStream: pino.DestinationStream & { flushSync?: () => void; end?: () => void };
  /** One TLS context per trust store content for all of this slice's printers (each keeps its own store and check). */
  readonly tlsContexts = new TrustContextCache();
  /** Spare NVRAM payload buffers for all of them (each keeps its own last payload): about one per commit in flight. */
  private readonly payloadBuffers: PayloadBuffers;

  constructor(readonly spec: SliceSpec) {
    this.payloadBuffers = new PayloadBuffers(spec.concurrency);
    const paths = fleetPaths(spec.stateDir);
    // Warnings and errors of every device and the twin, one file per slice (a progress bar owns the terminal).
    this.logStream = pino.destination({ dest: path.join(paths.logsDir, `slice-${spec.slice}.log`), mkdir: true, sync: false });
    this.logger = createLogger({ name: `fleet-slice-${spec.slice}`, level: 'warn', destination: this.logStream });
  }

  async runPhase(phase: Phase, progress: ProgressListener = () => {}): Promise<PhaseResult> {
    switch (phase) {
      case 'boot':
        await this.boot(progress);
        break;
      case 'sign-in':
        await this.signIn(progress);
        break;
      case 'day':
        await this.day(progress);
        break;
      case 'night':
        await this.night(progress);
        break;
      case 'morning':
        await this.mailRound('morning', MORNING_MAIL_AFTER_MS, progress);
        break;
      case 'check':
        this.check(progress);
        break;
    }
    return { phase, rows: await this.rows(), simulatedAt: this.clock.now(), traffic: this.twin?.throttle.traffic() ?? [] };
  }

  async rows(): Promise<DeviceRow[]> {
    await Promise.all(this.printers.map((p) => this.refreshRow(p)));
    return this.printers.map((p) => structuredClone(p.row));
  }

  async report(): Promise<SliceReport> {
    return {
      slice: this.spec.slice,
      rows: await this.rows(),
      memory: { ...this.memory },
      simulatedAt: this.clock.now(),
      simulatedMs: this.clock.now() - this.start,
      mailLatency: encodeHistogram(this.mailLatency),
    };
  }

  async close(): Promise<void> {
    await forEachLimited(this.printers, this.spec.concurrency, (p) => this.powerOff(p));
    await this.twin?.close();
    this.twin = null;
    await new Promise<void>((resolve) => {
      const s = this.logStream as unknown as { flushSync?: () => void; end?: () => void; once?: (e: string, f: () => void) => void };
      try {
        s.flushSync?.();
      } catch {
        // not ready yet (nothing was written): nothing to flush
      }
      if (s.end && s.once) {
        s.once('close', () => resolve());
        s.end();
        setTimeout(resolve, 1000).unref();
      } else resolve();
    });
  }

  // ---------------------------------------------------------------- phases

  /** The twin, one mailbox per printer (through the control API), then every printer's first boot. */
  private async boot(progress: ProgressListener): Promise<void> {
    const { spec } = this;
    const paths = fleetPaths(spec.stateDir);
    this.twin = await startTwin({
      stateDir: paths.cloudDir,
      clock: this.clock,
      tenantFile: paths.tenantFile,
      seed: spec.seed + spec.slice,
      logger: this.logger,
      smtpGreetingDelayMs: FLEET_SMTP_GREETING_DELAY_MS,
    });
    this.memory.heapBeforeDevices = sampleMemory().heapUsed;
    for (let i = spec.first; i < spec.first + spec.count; i++) {
      const id = printerId(i);
      const upn = printerUpn(i);
      this.twin.control.addUser({
        upn,
        displayName: `Printer ${String(i + 1).padStart(4, '0')}`,
        // Test data: nobody signs in with it (approvals go through the control API); never printed.
        password: randomBytes(12).toString('base64url'),
        mfa: 'none',
        smtpAuthEnabled: true,
      });
      const printer: Printer = {
        index: i,
        id,
        upn,
        dir: path.join(paths.devicesDir, id),
        clock: null as unknown as DeviceClock,
        sim: null,
        device: null,
        messageIds: [],
        row: {
          id,
          index: i,
          slice: spec.slice,
          upn,
          deviceId: '',
          serial: '',
          state: 'off',
          since: new Date(this.clock.now()).toISOString(),
          signIns: 0,
          refreshes: 0,
          mailsSent: 0,
          mailsFailed: 0,
          mailsHeld: 0,
          failures: 0,
          lastError: null,
          mailbox: null,
          errors: [],
        },
      };
      printer.clock = new DeviceClock(this.clock, () => this.dirty.add(printer));
      this.printers.push(printer);
    }
    await forEachLimited(this.printers, this.spec.concurrency, async (p) => {
      await this.step(p, () => this.powerOn(p));
      progress(1);
    });
  }

  /**
   * Settings, START_AUTH, the user approves the code at once; then the printer's msal-node polls to a token. A lane
   * waits for its printer to land before it takes the next, so at most --concurrency printers poll at once: each
   * poll holds a connection (both ends in this process), and 5,000 printers polling together ran out of descriptors.
   */
  private async signIn(progress: ProgressListener): Promise<void> {
    const twin = this.twin!;
    await forEachLimited(this.printers, this.spec.concurrency, async (p) => {
      await this.step(p, async () => {
        const device = this.deviceOf(p);
        await device.saveSettings(printerSettings(p.upn));
        await device.send({ type: 'START_AUTH' });
        await device.idle();
        const status = await device.status();
        if (status.state !== 'codePending' || !status.userCode) {
          const why = status.lastError ? `, ${status.lastError.reason}${status.lastError.code ? ` ${codeText(status.lastError.code)}` : ''}` : '';
          throw new Error(`no user code (state ${status.state}${why})`);
        }
        const approval = twin.control.approveDeviceCode(status.userCode, p.upn);
        if (approval.state !== 'approved') throw new Error(`approval refused: ${approval.error?.error ?? approval.state}`);
        // Polling runs on wall time outside device.idle(): wait for the printer to land, authorized or not.
        const deadline = Date.now() + SIGN_IN_WALL_LIMIT_MS;
        for (;;) {
          const { state } = await device.status();
          if (state === 'authorized' || SIGN_IN_DEAD_ENDS.has(state)) return;
          if (Date.now() >= deadline) throw new Error(`sign-in still ${state} after ${SIGN_IN_WALL_LIMIT_MS / 1000} s of wall time`);
          await new Promise((r) => setTimeout(r, 25));
        }
      });
      progress(1);
    });
    await this.settleAll();
    this.memory = { ...this.memory, heapWithDevices: sampleMemory().heapUsed, devices: this.printers.length };
  }

  private async day(progress: ProgressListener): Promise<void> {
    for (let m = 0; m < this.spec.mailsPerDay; m++) {
      await this.mailRound(`day-${m + 1}`, FIRST_MAIL_AFTER_MS + m * MAIL_EVERY_MS, progress);
    }
  }

  /** Power off at 21:00, ten hours with every printer off, power on (boot from NVRAM) at 07:00. */
  private async night(progress: ProgressListener): Promise<void> {
    await this.advanceTo(this.start + POWER_OFF_AFTER_MS);
    await forEachLimited(this.printers, this.spec.concurrency, (p) => this.powerOff(p));
    await this.advanceTo(this.start + POWER_OFF_AFTER_MS + NIGHT_OFF_MS);
    await forEachLimited(this.printers, this.spec.concurrency, async (p) => {
      await this.step(p, () => this.powerOn(p));
      progress(1);
    });
  }

  /** At `afterMs` into the day every printer scans one page to its own mailbox; the device refreshes first if due. */
  private async mailRound(label: string, afterMs: number, progress: ProgressListener): Promise<void> {
    await this.advanceTo(this.start + afterMs);
    const when = new Date(this.clock.now()).toISOString().slice(0, 16).replace('T', ' ');
    await forEachLimited(this.printers, this.spec.concurrency, async (p) => {
      const t0 = performance.now();
      const ok = await this.step(p, async () => {
        const device = this.deviceOf(p);
        const job = await device.submitJob({
          to: [p.upn],
          subject: `${p.id} scan ${label} (${when} UTC)`,
          body: 'Scanned document attached.',
          attachments: [{ filename: 'scan-0001.pdf', contentType: 'application/pdf', path: SCAN_PDF }],
        });
        p.messageIds.push(job.messageId);
        await device.idle();
      });
      if (ok) recordMs(this.mailLatency, performance.now() - t0);
      progress(1);
    });
  }

  /** Reads every printer's mailbox back from the twin: its mails in Sent Items and in its Inbox, by Message-ID. */
  private check(progress: ProgressListener): void {
    const twin = this.twin!;
    for (const p of this.printers) {
      const messages = twin.control.messages(p.upn);
      const sent = messages.filter((m) => m.folder === 'SentItems');
      const inbox = messages.filter((m) => m.folder === 'Inbox');
      const ids = (list: typeof messages) => list.map((m) => m.messageId ?? '').sort();
      const expected = [...p.messageIds].sort();
      p.row.mailbox = {
        sentItems: sent.length,
        inbox: inbox.length,
        messageIdsMatch: JSON.stringify(ids(sent)) === JSON.stringify(expected) && JSON.stringify(ids(inbox)) === JSON.stringify(expected),
      };
      progress(1);
    }
  }

  // ---------------------------------------------------------------- one printer

  private async powerOn(p: Printer): Promise<void> {
    const sim = await startSimulator({
      stateDir: p.dir,
      clock: p.clock,
      cloud: { mode: 'twin' },
      twin: this.twin!,
      tlsContexts: this.tlsContexts,
      payloadBuffers: this.payloadBuffers,
      logger: this.logger,
    });
    p.sim = sim;
    const device = localPrinter(sim);
    p.device = device;
    const identity = await device.identity();
    p.row.deviceId = identity.id;
    p.row.serial = identity.serial;
    device.subscribe((t) => {
      if (t.event === 'TOKEN_GRANTED') p.row.signIns++;
      if (t.event === 'REFRESHED') p.row.refreshes++;
      if (FAILURE_EVENTS.has(t.event)) p.row.failures++;
    });
  }

  private async powerOff(p: Printer): Promise<void> {
    if (!p.sim) return;
    await this.refreshRow(p);
    const sim = p.sim;
    p.sim = null;
    p.device = null;
    this.dirty.delete(p);
    await sim.close().catch((err: unknown) => p.row.errors.push(`power off: ${(err as Error).message}`));
    p.row.state = 'off';
    p.row.since = new Date(this.clock.now()).toISOString();
  }

  private async refreshRow(p: Printer): Promise<void> {
    if (!p.device) return;
    const [status, jobs] = await Promise.all([p.device.status(), p.device.jobs()]);
    Object.assign(p.row, {
      state: status.state,
      since: new Date(status.since).toISOString(),
      mailsSent: jobs.filter((j) => j.status === 'sent').length,
      mailsFailed: jobs.filter((j) => j.status === 'failed').length,
      mailsHeld: jobs.filter((j) => j.status === 'held').length,
      lastError: status.lastError ? { reason: status.lastError.reason, code: status.lastError.code } : null,
    });
  }

  /** Runs one scripted step for one printer; an error is the printer's, recorded on its row, and the fleet goes on. */
  private async step(p: Printer, fn: () => Promise<void>): Promise<boolean> {
    try {
      await fn();
      return true;
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      const limit = processLimitHit(message);
      p.row.errors.push(limit ? `${limit} (${message})` : message);
      return false;
    }
  }

  private deviceOf(p: Printer): PrinterInterface {
    if (!p.device) throw new Error(`${p.id} is powered off`);
    return p.device;
  }

  // ---------------------------------------------------------------- time

  /** Moves the shared clock; after each fired timer, waits for the printers it woke (their effects use real sockets). */
  private async advanceTo(at: number): Promise<void> {
    if (at > this.clock.now()) await this.clock.advanceTo(at, () => this.settleDirty());
    await this.settleAll();
  }

  private async settleDirty(): Promise<void> {
    while (this.dirty.size > 0) {
      const woken = [...this.dirty];
      this.dirty.clear();
      await Promise.all(woken.map((p) => p.device?.idle()));
    }
  }

  private async settleAll(): Promise<void> {
    await Promise.all(this.printers.map((p) => p.device?.idle()));
    await this.settleDirty();
  }
}
