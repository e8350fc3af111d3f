/**
 * The firmware's time keeping: it owns the printer's RTC (src/time/rtc.ts), keeps the chip's state and the date/time
 * settings in NVRAM, and runs NTP: at power-on and then every `NTP_POLL_MS` of device time while NTP is on, one SNTP
 * exchange through the time-sync port whose outcome becomes an event (`clock.ntp-synced` / `clock.ntp-failed` in the
 * event log, and the listeners of `onSync`). A successful sync steps the RTC by the measured offset.
 *
 * Power-on with a dead backup battery restarts the RTC at `FIRMWARE_EPOCH` (`clock.reset` in the event log); without
 * NTP the printer then believes it is that date until the admin sets the time.
 */
import type { Logger } from '../log/logger.ts';
import type { Nvram } from '../nvram/index.ts';
import type { DeviceClockRecord } from '../nvram/schema.ts';
import { isTimeZone } from '../time/zone.ts';
import type { Clock, TimerHandle } from '../time/clock.ts';
import { DeviceRtc, factoryRtcState, type RtcState } from '../time/rtc.ts';

/** Where an RTC without its battery restarts: the build date of firmware 2. */
export const FIRMWARE_EPOCH = Date.UTC(2024, 0, 1);
/** Device time between two NTP exchanges while NTP is on (a printer is not a time server: hourly is plenty). */
export const NTP_POLL_MS = 3_600_000;

export type TimeSyncOutcome =
  | { ok: true; offsetMs: number; roundTripMs: number; serverTime: number; stratum: number }
  | { ok: false; reason: string; message: string };

/** One SNTP exchange timed on `clock` (the adapter is src/adapters/sntp.ts). */
export type TimeSyncPort = (clock: Clock) => Promise<TimeSyncOutcome>;

export interface TimeSettings {
  ntpEnabled: boolean;
  timeZone: string;
}

export interface ClockStatus {
  /** What the printer believes the time is (ms since the epoch, UTC). */
  now: number;
  ntpEnabled: boolean;
  timeZone: string;
  lastSync: { at: number; ok: boolean; offsetMs?: number; reason?: string; message?: string } | null;
}

export interface ClockServiceOptions {
  /** The world's clock (virtual or real) the RTC counts from. */
  shared: Clock;
  nvram: Nvram;
  /** null = no NTP server configured (e.g. against real Microsoft without a lab time server). */
  timeSync: TimeSyncPort | null;
  logger?: Logger;
  /** NTP setting for a printer whose NVRAM has no clock record yet (factory default: off, as many printers ship). */
  defaultNtpEnabled?: boolean;
}

export class ClockService {
  readonly rtc: DeviceRtc;
  private settings: TimeSettings;
  private lastSync: ClockStatus['lastSync'] = null;
  private pollTimer: TimerHandle | null = null;
  private inFlight = new Set<Promise<unknown>>();
  private stopped = false;
  private readonly syncListeners = new Set<(o: TimeSyncOutcome) => void>();

  private constructor(
    private readonly opts: ClockServiceOptions,
    record: DeviceClockRecord,
  ) {
    this.rtc = new DeviceRtc(opts.shared, record.rtc);
    this.settings = { ntpEnabled: record.ntpEnabled, timeZone: record.timeZone };
    this.rtc.onChange(() => this.track(this.persist()));
  }

  /** Power-on: restores the RTC from NVRAM, applies a dead battery's reset, then syncs once if NTP is on. */
  static async powerOn(opts: ClockServiceOptions): Promise<ClockService> {
    const stored = opts.nvram.data.clock;
    const record: DeviceClockRecord = stored ?? {
      rtc: factoryRtcState(opts.shared.now()),
      ntpEnabled: opts.defaultNtpEnabled ?? false,
      timeZone: 'UTC',
    };
    const service = new ClockService(opts, record);
    const reset = service.rtc.powerOn(FIRMWARE_EPOCH); // persists through onChange when it resets
    if (reset) {
      await service.log('clock.reset', `RTC battery dead: clock restarted at ${new Date(FIRMWARE_EPOCH).toISOString()}`, { to: FIRMWARE_EPOCH });
    }
    // A fresh printer's record is written at its first change, so an untouched clock costs no NVRAM write.
    await service.idle();
    if (service.settings.ntpEnabled) await service.syncNow();
    service.armPoll();
    return service;
  }

  now(): number {
    return this.rtc.now();
  }

  status(): ClockStatus {
    return { now: this.rtc.now(), ...this.settings, lastSync: this.lastSync ? { ...this.lastSync } : null };
  }

  timeSettings(): TimeSettings {
    return { ...this.settings };
  }

  /** The admin sets the date and time (panel, API). */
  async setDateTime(deviceTime: number): Promise<void> {
    if (!Number.isFinite(deviceTime)) throw new RangeError('date/time must be a finite number of ms since the epoch');
    const before = this.rtc.now();
    this.rtc.set(deviceTime);
    await this.log('clock.set', `date/time set to ${new Date(deviceTime).toISOString()} (was ${new Date(before).toISOString()})`, { from: before, to: deviceTime });
  }

  /** Validates both fields before changing either; bad input changes nothing. */
  async saveTimeSettings(input: Partial<TimeSettings>): Promise<TimeSettings> {
    const next = { ...this.settings };
    if (input.ntpEnabled !== undefined) {
      if (typeof input.ntpEnabled !== 'boolean') throw new RangeError('ntpEnabled must be a boolean');
      next.ntpEnabled = input.ntpEnabled;
    }
    if (input.timeZone !== undefined) {
      if (typeof input.timeZone !== 'string' || !isTimeZone(input.timeZone)) throw new RangeError(`timeZone must be an IANA time zone name, got ${JSON.stringify(input.timeZone)}`);
      next.timeZone = input.timeZone;
    }
    const turnedOn = next.ntpEnabled && !this.settings.ntpEnabled;
    this.settings = next;
    await this.log('clock.settings', `NTP ${next.ntpEnabled ? 'on' : 'off'}, time zone ${next.timeZone}`, { ...next });
    if (turnedOn) await this.syncNow();
    this.armPoll();
    return { ...next };
  }

  /** One NTP exchange now; its outcome is logged, told to `onSync` listeners and, when good, applied to the RTC. */
  async syncNow(): Promise<TimeSyncOutcome> {
    const port = this.opts.timeSync;
    const outcome: TimeSyncOutcome = port ? await port(this.rtc) : { ok: false, reason: 'no-server', message: 'no NTP server configured' };
    if (this.stopped) return outcome;
    if (outcome.ok) {
      if (outcome.offsetMs !== 0) this.rtc.step(outcome.offsetMs);
      this.lastSync = { at: this.rtc.now(), ok: true, offsetMs: outcome.offsetMs };
      await this.log('clock.ntp-synced', `NTP sync: clock corrected by ${outcome.offsetMs} ms`, { offsetMs: outcome.offsetMs, roundTripMs: outcome.roundTripMs });
    } else {
      this.lastSync = { at: this.rtc.now(), ok: false, reason: outcome.reason, message: outcome.message };
      await this.log('clock.ntp-failed', `NTP sync failed (${outcome.reason}): ${outcome.message}`, { reason: outcome.reason });
    }
    for (const l of this.syncListeners) l(outcome);
    return outcome;
  }

  onSync(listener: (o: TimeSyncOutcome) => void): () => void {
    this.syncListeners.add(listener);
    return () => this.syncListeners.delete(listener);
  }

  /** Resolves when no NVRAM write or NTP exchange this service started is still running. */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Power off: no more polls; writes nothing more. */
  stop(): void {
    this.stopped = true;
    if (this.pollTimer) this.rtc.clearTimer(this.pollTimer);
    this.pollTimer = null;
  }

  private armPoll(): void {
    if (this.pollTimer) this.rtc.clearTimer(this.pollTimer);
    this.pollTimer = null;
    if (this.stopped || !this.settings.ntpEnabled) return;
    this.pollTimer = this.rtc.setTimer(this.rtc.now() + NTP_POLL_MS, () => {
      this.pollTimer = null;
      this.track(
        this.syncNow()
          .catch((err) => this.opts.logger?.warn({ err }, 'NTP poll failed'))
          .finally(() => this.armPoll()),
      );
    });
  }

  private record(): DeviceClockRecord {
    return { rtc: this.rtc.snapshot(), ...this.settings };
  }

  private persist(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const record = this.record();
    return this.opts.nvram.update((draft) => {
      draft.clock = record;
    }).then(() => undefined);
  }

  private async log(kind: string, message: string, data: Record<string, unknown>): Promise<void> {
    if (this.stopped) return;
    const record = this.record();
    const at = this.rtc.now();
    this.opts.logger?.info({ kind, ...data }, message);
    await this.opts.nvram.update((draft) => {
      draft.clock = record;
      draft.eventLog.push({ at, kind, message, data });
    });
  }

  private track<T>(p: Promise<T>): void {
    const tracked = p.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}

export type { RtcState };
