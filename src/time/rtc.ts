/**
 * A printer's real-time clock. The world (the cloud, the twin, the scenario) runs on one shared clock, virtual or
 * real; each printer reads its own RTC, which is that shared time plus the printer's own offset, plus a drift of
 * `driftPpm` parts per million accumulated since the offset was last set. A wrong printer clock is therefore a
 * property of one printer, never of the world.
 *
 * Timers are armed as firmware arms them, on a monotonic tick: `setTimer(at)` turns `at - now()` into a delay once,
 * so a later step of the RTC (an NTP correction, the admin setting the date) does not move a timer already armed.
 * Deadlines the firmware keeps in its state (token expiry, retry times) are device times and do see the step.
 *
 * `RtcState` is what the battery-backed chip keeps across power cuts; with a dead battery the chip forgets it and
 * restarts at the firmware's epoch at each power-on.
 */
import type { Clock, TimerHandle } from './clock.ts';

export interface RtcState {
  /** Device time minus shared time at `anchorMs`, in ms. */
  offsetMs: number;
  /** Rate error of the oscillator, parts per million (positive = runs fast). */
  driftPpm: number;
  /** Shared time at which `offsetMs` was last set; drift accumulates from here. */
  anchorMs: number;
  /** A dead battery makes the chip reset to the firmware epoch at every power-on. */
  batteryOk: boolean;
}

/** The RTC of a fresh printer: no offset, no drift, battery fine. */
export function factoryRtcState(sharedNow: number): RtcState {
  return { offsetMs: 0, driftPpm: 0, anchorMs: sharedNow, batteryOk: true };
}

/** Drift rates beyond this are not a quartz oscillator (typical parts are 10–100 ppm); refused as bad input. */
export const MAX_DRIFT_PPM = 100_000;

export function validateRtcState(input: unknown): RtcState {
  if (typeof input !== 'object' || input === null) throw new RangeError('RTC state must be an object');
  const s = input as Record<string, unknown>;
  for (const k of ['offsetMs', 'driftPpm', 'anchorMs'] as const) {
    if (typeof s[k] !== 'number' || !Number.isFinite(s[k])) throw new RangeError(`RTC state: ${k} must be a finite number`);
  }
  if (typeof s.batteryOk !== 'boolean') throw new RangeError('RTC state: batteryOk must be a boolean');
  if (Math.abs(s.driftPpm as number) > MAX_DRIFT_PPM) throw new RangeError(`RTC state: driftPpm must be within ±${MAX_DRIFT_PPM}`);
  return { offsetMs: s.offsetMs as number, driftPpm: s.driftPpm as number, anchorMs: s.anchorMs as number, batteryOk: s.batteryOk };
}

export class DeviceRtc implements Clock {
  private state: RtcState;
  private readonly listeners = new Set<(state: RtcState) => void>();

  constructor(
    private readonly shared: Clock,
    state: RtcState = factoryRtcState(shared.now()),
  ) {
    this.state = validateRtcState(state);
  }

  now(): number {
    return this.deviceTimeAt(this.shared.now());
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const deviceDelay = Math.max(0, at - this.now());
    // A fast oscillator reaches a device-time deadline sooner in shared time.
    const sharedDelay = deviceDelay / (1 + this.state.driftPpm / 1e6);
    return this.shared.setTimer(this.shared.now() + Math.ceil(sharedDelay), fn);
  }

  clearTimer(handle: TimerHandle): void {
    this.shared.clearTimer(handle);
  }

  /** A copy of what the chip keeps (to persist it). */
  snapshot(): RtcState {
    return { ...this.state };
  }

  /** Called after every change of the chip's state, with the new state (the owner persists it). */
  onChange(listener: (state: RtcState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Device time minus shared time, now (for status pages and tests). */
  skewMs(): number {
    return this.now() - this.shared.now();
  }

  /** Sets the device time (panel, API, NTP); drift restarts accumulating from here. */
  set(deviceTime: number): void {
    if (!Number.isFinite(deviceTime)) throw new RangeError(`RTC time must be a finite number of ms, got ${deviceTime}`);
    const sharedNow = this.shared.now();
    this.replace({ ...this.state, offsetMs: deviceTime - sharedNow, anchorMs: sharedNow });
  }

  /** Fault: the clock jumps by `deltaMs` (either sign). */
  step(deltaMs: number): void {
    if (!Number.isFinite(deltaMs)) throw new RangeError(`RTC step must be a finite number of ms, got ${deltaMs}`);
    this.set(this.now() + deltaMs);
  }

  /** Fault: the oscillator's rate error from now on; the drift accumulated so far is kept. */
  setDrift(ppm: number): void {
    if (!Number.isFinite(ppm) || Math.abs(ppm) > MAX_DRIFT_PPM) throw new RangeError(`RTC drift must be within ±${MAX_DRIFT_PPM} ppm, got ${ppm}`);
    const sharedNow = this.shared.now();
    this.replace({ ...this.state, offsetMs: this.deviceTimeAt(sharedNow) - sharedNow, anchorMs: sharedNow, driftPpm: ppm });
  }

  /** Fault: the backup battery dies (or is replaced). */
  setBattery(ok: boolean): void {
    this.replace({ ...this.state, batteryOk: ok });
  }

  /**
   * Power-on: a chip with a dead battery lost its count and starts again at `firmwareEpoch`. Returns whether it did
   * (the firmware logs it).
   */
  powerOn(firmwareEpoch: number): boolean {
    if (this.state.batteryOk) return false;
    this.set(firmwareEpoch);
    return true;
  }

  private deviceTimeAt(sharedTime: number): number {
    const { offsetMs, driftPpm, anchorMs } = this.state;
    return Math.round(sharedTime + offsetMs + ((sharedTime - anchorMs) * driftPpm) / 1e6);
  }

  private replace(next: RtcState): void {
    this.state = next;
    for (const l of this.listeners) l(this.snapshot());
  }
}
