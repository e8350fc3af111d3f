import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/time/clock.ts';
import { DeviceRtc, factoryRtcState, validateRtcState } from '../../src/time/rtc.ts';

const START = Date.UTC(2026, 0, 5, 8, 0, 0);
const HOUR = 3_600_000;
const EPOCH_2020 = Date.UTC(2020, 0, 1);

describe('DeviceRtc', () => {
  it('reads the shared time when factory-fresh', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    await world.advance(HOUR);
    expect(rtc.now()).toBe(START + HOUR);
  });

  it('keeps its own offset after a step, while the world does not move', () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    rtc.step(-2 * HOUR);
    expect(rtc.now()).toBe(START - 2 * HOUR);
    expect(world.now()).toBe(START);
    expect(rtc.skewMs()).toBe(-2 * HOUR);
  });

  it('accumulates drift in ppm: 100 ppm over a year is about 52.6 minutes fast', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    rtc.setDrift(100);
    const year = 365 * 24 * HOUR;
    await world.advance(year);
    expect(rtc.skewMs()).toBe(Math.round(year * 100e-6));
  });

  it('keeps drift accumulated so far when the rate changes', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    rtc.setDrift(1000);
    await world.advance(1000 * 1000); // 1000 s at 1000 ppm = +1 s
    rtc.setDrift(0);
    await world.advance(1000 * 1000);
    expect(rtc.skewMs()).toBe(1000);
  });

  it('set() puts the device at the given time and restarts drift from there', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world, { offsetMs: 5 * HOUR, driftPpm: 50, anchorMs: START, batteryOk: true });
    rtc.set(world.now());
    expect(rtc.skewMs()).toBe(0);
    await world.advance(1e6);
    expect(rtc.skewMs()).toBe(50);
  });

  it('a dead battery resets to the firmware epoch at power-on; a good one keeps counting', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    expect(rtc.powerOn(EPOCH_2020)).toBe(false);
    expect(rtc.now()).toBe(START);
    rtc.setBattery(false);
    expect(rtc.powerOn(EPOCH_2020)).toBe(true);
    expect(rtc.now()).toBe(EPOCH_2020);
    await world.advance(HOUR);
    expect(rtc.now()).toBe(EPOCH_2020 + HOUR);
  });

  it('survives a restart through its snapshot, as the battery-backed chip does', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    rtc.setDrift(-20);
    rtc.step(90_000);
    const kept = JSON.parse(JSON.stringify(rtc.snapshot()));
    await world.advance(1e6);
    const again = new DeviceRtc(world, kept);
    expect(again.now()).toBe(rtc.now());
    expect(again.skewMs()).toBe(90_000 - 20);
  });

  it('arms timers as delays on the device clock: a 2-hour skew does not delay a deadline', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    rtc.step(-2 * HOUR);
    let firedAtWorld: number | null = null;
    rtc.setTimer(rtc.now() + HOUR, () => (firedAtWorld = world.now()));
    await world.advance(HOUR - 1);
    expect(firedAtWorld).toBeNull();
    await world.advance(1);
    expect(firedAtWorld).toBe(START + HOUR);
  });

  it('a fast oscillator reaches a device deadline sooner in world time', async () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    rtc.setDrift(100_000); // 10 % fast
    let fired = false;
    rtc.setTimer(rtc.now() + 1100, () => (fired = true));
    await world.advance(999);
    expect(fired).toBe(false);
    await world.advance(1);
    expect(fired).toBe(true);
  });

  it('tells listeners of every change (so the owner can persist it)', () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    const seen: number[] = [];
    rtc.onChange((s) => seen.push(s.offsetMs));
    rtc.step(10);
    rtc.step(10);
    expect(seen).toEqual([10, 20]);
  });

  it('refuses bad input and changes nothing', () => {
    const world = new VirtualClock(START);
    const rtc = new DeviceRtc(world);
    expect(() => rtc.step(Number.NaN)).toThrow(RangeError);
    expect(() => rtc.setDrift(1e7)).toThrow(/ppm/);
    expect(() => rtc.set(Number.POSITIVE_INFINITY)).toThrow(RangeError);
    expect(rtc.snapshot()).toEqual(factoryRtcState(START));
    expect(() => validateRtcState({ offsetMs: 0, driftPpm: 0, anchorMs: 0 })).toThrow(/batteryOk/);
    expect(() => validateRtcState(null)).toThrow(/object/);
  });
});
