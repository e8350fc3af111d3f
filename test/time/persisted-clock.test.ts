/** The simulator's virtual clock as a battery-backed RTC: it resumes after a restart instead of running backwards. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MARK_STEP_MS, persistedVirtualClock } from '../../src/time/persisted-clock.ts';
import { VirtualClock } from '../../src/time/clock.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
const tmp = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'mfp-rtc-'));
  dirs.push(d);
  return path.join(d, 'rtc.json');
};

describe('persistedVirtualClock', () => {
  it('starts at the origin without a file, and a second start resumes no earlier than the first one got', async () => {
    const file = await tmp();
    const first = persistedVirtualClock(file);
    expect(first.resumedFrom).toBeNull();
    expect(first.clock.now()).toBe(new VirtualClock().now());
    await first.clock.advance(90 * 24 * 3600_000 + 12_345);
    const reached = first.clock.now();
    // No stop(), no close: as after a SIGKILL.
    const second = persistedVirtualClock(file);
    expect(second.clock.now()).toBeGreaterThanOrEqual(reached);
    expect(second.clock.now() - reached).toBeLessThanOrEqual(MARK_STEP_MS);
    expect(second.resumedFrom).toBe(second.clock.now());
  });

  it('keeps the file ahead of the clock through timer-driven moves, writing once per mark step at most', async () => {
    const file = await tmp();
    const rtc = persistedVirtualClock(file);
    const saved = async () => (JSON.parse(await readFile(file, 'utf8')) as { now: number }).now;
    for (let i = 1; i <= 100; i++) rtc.clock.setTimer(rtc.clock.now() + i * 1000, () => undefined);
    await rtc.clock.advance(100_000);
    expect(await saved()).toBeGreaterThanOrEqual(rtc.clock.now());
    rtc.stop();
    await rtc.clock.advance(10 * MARK_STEP_MS);
    expect(await saved()).toBeLessThan(rtc.clock.now()); // stopped: no longer written
  });

  it('rewrites its mark in place: an older, longer file becomes one record that the next start reads', async () => {
    const file = await tmp();
    await writeFile(file, `${JSON.stringify({ now: new VirtualClock().now() + 5 * MARK_STEP_MS })}\n${' '.repeat(200)}\n`);
    const rtc = persistedVirtualClock(file);
    await rtc.clock.advance(30 * MARK_STEP_MS);
    const text = await readFile(file, 'utf8');
    expect(text.length).toBeLessThan(64);
    expect((JSON.parse(text) as { now: number }).now).toBeGreaterThanOrEqual(rtc.clock.now());
    rtc.stop();
    const next = persistedVirtualClock(file);
    expect(next.resumedFrom).toBeGreaterThanOrEqual(rtc.clock.now());
    next.stop();
  });

  it('a damaged file is reported and the clock starts at its origin rather than at a made-up time', async () => {
    const file = await tmp();
    await writeFile(file, '{"now": "yesterday"}');
    const rtc = persistedVirtualClock(file);
    expect(rtc.problem).toContain('no valid time');
    expect(rtc.clock.now()).toBe(new VirtualClock().now());
  });
});
