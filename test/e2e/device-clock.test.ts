/** The printer's own clock end to end: RTC skew, a dead battery, NTP against the twin's SNTP server. */
import { afterEach, describe, expect, it } from 'vitest';
import { FIRMWARE_EPOCH, NTP_POLL_MS } from '../../src/device/clockService.ts';
import { HOUR, MINUTE, RECIPIENT, jobOf, signIn, startE2E, submitScan, type E2ESim } from './support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const kinds = (s: E2ESim) => s.device.nvram.data.eventLog.map((e) => e.kind).filter((k) => k.startsWith('clock.'));

describe('device clock', () => {
  it('a clock two hours behind still refreshes on time: deadlines are device time + the server lifetime', async () => {
    sim = await startE2E();
    sim.deviceClock.rtc.step(-2 * HOUR);
    expect(sim.deviceClock.now()).toBe(sim.clock.now() - 2 * HOUR);
    await signIn(sim);
    const rtcAtSignIn = sim.deviceClock.now();
    const worldAtSignIn = sim.clock.now();
    const deadline = sim.device.deadlines().ACCESS_TOKEN_DEADLINE!;
    // On the device's clock, not the world's: 60–90 min from the device's now.
    expect(deadline - rtcAtSignIn).toBeGreaterThanOrEqual(55 * MINUTE);
    expect(deadline - rtcAtSignIn).toBeLessThanOrEqual(85 * MINUTE);
    await sim.advance(deadline - rtcAtSignIn - 1);
    expect(sim.device.state()).toBe('authorized');
    await sim.advance(1);
    expect(sim.device.state()).toBe('tokenExpired');
    expect(sim.clock.now() - worldAtSignIn).toBe(deadline - rtcAtSignIn); // on time in the world, not 2 h late
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
    expect(sim.device.state()).toBe('authorized');
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(1);
  });

  it('the RTC keeps its offset across a power cycle while its battery is good (kept in NVRAM)', async () => {
    sim = await startE2E();
    sim.deviceClock.rtc.step(90_000);
    await sim.deviceClock.idle();
    await sim.powerCycle(10 * MINUTE);
    expect(sim.deviceClock.now() - sim.clock.now()).toBe(90_000);
    expect(sim.device.nvram.data.clock?.rtc.offsetMs).toBe(90_000);
  });

  it('battery dead, NTP off: the clock restarts at the firmware epoch at each power cut until the admin sets it', async () => {
    sim = await startE2E();
    await signIn(sim);
    sim.deviceClock.rtc.setBattery(false);
    await sim.deviceClock.idle();
    await sim.powerCycle(MINUTE);
    expect(sim.deviceClock.now()).toBe(FIRMWARE_EPOCH);
    expect(kinds(sim)).toContain('clock.reset');
    expect(sim.device.status().account).not.toBeNull(); // the sign-in itself survives
    await sim.deviceClock.setDateTime(sim.clock.now());
    expect(sim.deviceClock.now()).toBe(sim.clock.now());
    await sim.powerCycle(MINUTE);
    expect(sim.deviceClock.now()).toBe(FIRMWARE_EPOCH); // battery still dead
  });

  it('battery dead, NTP on: the boot resets the clock, then the NTP exchange with the twin puts it right', async () => {
    sim = await startE2E();
    await sim.deviceClock.saveTimeSettings({ ntpEnabled: true, timeZone: 'Europe/Berlin' });
    sim.deviceClock.rtc.setBattery(false);
    await sim.deviceClock.idle();
    await sim.powerCycle(MINUTE);
    expect(sim.deviceClock.now()).toBe(sim.clock.now());
    expect(kinds(sim).slice(-2)).toEqual(['clock.reset', 'clock.ntp-synced']);
    expect(sim.deviceClock.status()).toMatchObject({ ntpEnabled: true, timeZone: 'Europe/Berlin', lastSync: { ok: true, offsetMs: sim.clock.now() - FIRMWARE_EPOCH } });
    expect(sim.twin!.ntp.answered()).toBe(2); // once when NTP was turned on, once at the boot
  });

  it('NTP polls hourly on the device clock and takes back the drift of a fast oscillator', async () => {
    sim = await startE2E();
    sim.deviceClock.rtc.setDrift(1000); // 3.6 s per hour
    await sim.deviceClock.saveTimeSettings({ ntpEnabled: true });
    expect(sim.twin!.ntp.answered()).toBe(1);
    const worldDelay = Math.ceil(NTP_POLL_MS / 1.001); // a device hour passes sooner on a fast oscillator
    await sim.advance(worldDelay - 1);
    expect(sim.twin!.ntp.answered()).toBe(1);
    await sim.advance(1);
    expect(sim.twin!.ntp.answered()).toBe(2);
    expect(sim.deviceClock.now()).toBe(sim.clock.now());
  });

  it('NTP unreachable: the outcome is a clock.ntp-failed event and the clock stays as it was', async () => {
    sim = await startE2E();
    sim.twin!.ntp.setReachable(false);
    sim.deviceClock.rtc.step(-HOUR);
    await sim.deviceClock.saveTimeSettings({ ntpEnabled: true });
    expect(sim.deviceClock.status().lastSync).toMatchObject({ ok: false, reason: 'timeout' });
    expect(kinds(sim)).toContain('clock.ntp-failed');
    expect(sim.deviceClock.now()).toBe(sim.clock.now() - HOUR);
    sim.twin!.ntp.setReachable(true);
    expect((await sim.deviceClock.syncNow()).ok).toBe(true);
    expect(sim.deviceClock.now()).toBe(sim.clock.now());
  });

  it('bad settings are refused and change nothing', async () => {
    sim = await startE2E();
    const before = sim.deviceClock.timeSettings();
    await expect(sim.deviceClock.saveTimeSettings({ ntpEnabled: true, timeZone: 'Mars/Olympus' })).rejects.toThrow(/IANA/);
    await expect(sim.deviceClock.saveTimeSettings({ ntpEnabled: 'yes' as never })).rejects.toThrow(/boolean/);
    await expect(sim.deviceClock.setDateTime(Number.NaN)).rejects.toThrow(RangeError);
    expect(sim.deviceClock.timeSettings()).toEqual(before);
    expect(sim.twin!.ntp.answered()).toBe(0);
  });
});
