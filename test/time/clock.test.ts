import { describe, expect, it } from 'vitest';
import { RealClock, VirtualClock } from '../../src/time/clock.ts';
import { Scheduler } from '../../src/device/scheduler.ts';
import { RETRY_DELAYS_MS, retryDelayMs } from '../../src/device/backoff.ts';

describe('VirtualClock', () => {
  it('fires due timers in deadline order, ties in the order they were set, each at its own time', async () => {
    const clock = new VirtualClock(0);
    const fired: string[] = [];
    const at = (name: string) => () => fired.push(`${name}@${clock.now()}`);
    clock.setTimer(300, at('c'));
    clock.setTimer(100, at('a1'));
    clock.setTimer(100, at('a2'));
    clock.setTimer(200, at('b'));
    clock.setTimer(5000, at('late'));
    await clock.advance(1000);
    expect(fired).toEqual(['a1@100', 'a2@100', 'b@200', 'c@300']);
    expect(clock.now()).toBe(1000);
    expect(clock.pendingTimers()).toBe(1);
  });

  it('fires a timer set by a callback inside the same window, and never a cleared one', async () => {
    const clock = new VirtualClock(0);
    const fired: number[] = [];
    const h = clock.setTimer(50, () => fired.push(-1));
    clock.setTimer(10, () => {
      fired.push(clock.now());
      clock.setTimer(clock.now() + 20, () => fired.push(clock.now()));
    });
    clock.clearTimer(h);
    await clock.advance(100);
    expect(fired).toEqual([10, 30]);
  });

  it('awaits the settle step after each timer before moving on', async () => {
    const clock = new VirtualClock(0);
    const log: string[] = [];
    clock.setTimer(10, () => log.push('t10'));
    clock.setTimer(20, () => log.push('t20'));
    await clock.advance(30, async () => {
      await new Promise((r) => setTimeout(r, 5));
      log.push(`settled@${clock.now()}`);
    });
    expect(log).toEqual(['t10', 'settled@10', 't20', 'settled@20']);
  });

  it('rejects a negative or non-finite advance', async () => {
    const clock = new VirtualClock(0);
    await expect(clock.advance(-1)).rejects.toThrow(RangeError);
    await expect(clock.advance(Number.NaN)).rejects.toThrow(RangeError);
  });
});

describe('VirtualClock: many timers', () => {
  it('fires thousands of timers, most of them cleared or set by callbacks, in the same order as a sort would', async () => {
    const clock = new VirtualClock(0);
    let seed = 7;
    const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const fired: number[] = [];
    const expected: { at: number; order: number; name: number }[] = [];
    let order = 0;
    const set = (at: number, name: number) => {
      const mine = { at, order: order++, name };
      const handle = clock.setTimer(at, () => {
        fired.push(name);
        // Like a device rescheduling: a callback sets a later timer inside the window, which fires in the same call.
        if (name % 7 === 0 && at + 500 <= 10_000) set(at + 500, name + 1_000_000);
      });
      return { mine, handle };
    };
    const live: ReturnType<typeof set>[] = [];
    for (let i = 0; i < 5000; i++) live.push(set(Math.floor(rnd() * 20_000), i));
    // Clear three in four: the heap keeps them until compacted or skipped, and none of them may fire.
    const cleared = new Set<number>();
    for (const t of live) if (t.mine.name % 4 !== 0) (clock.clearTimer(t.handle), cleared.add(t.mine.name));
    await clock.advanceTo(10_000);
    for (const t of live) if (!cleared.has(t.mine.name) && t.mine.at <= 10_000) expected.push(t.mine);
    const firstWave = fired.filter((n) => n < 1_000_000);
    expect(firstWave).toEqual(expected.sort((x, y) => x.at - y.at || x.order - y.order).map((e) => e.name));
    // Every rescheduled one fired, 500 ms after its parent, none of the cleared ones.
    expect(fired.filter((n) => n >= 1_000_000).sort((a, b) => a - b)).toEqual(
      expected.filter((e) => e.name % 7 === 0 && e.at + 500 <= 10_000).map((e) => e.name + 1_000_000).sort((a, b) => a - b),
    );
    expect(fired.some((n) => cleared.has(n))).toBe(false);
    expect(clock.nextDeadline()).toBe(Math.min(...live.filter((t) => !cleared.has(t.mine.name) && t.mine.at > 10_000).map((t) => t.mine.at)));
  });
});

describe('Scheduler', () => {
  it('raises a deadline that already passed at once, and re-arms only what changed', async () => {
    const clock = new VirtualClock(1_000);
    const raised: string[] = [];
    const s = new Scheduler(clock, (e) => raised.push(`${e}@${clock.now()}`));
    s.arm({ RETRY_DUE: 500, CODE_DEADLINE: 2_000 });
    await Promise.resolve();
    expect(raised).toEqual(['RETRY_DUE@1000']);
    s.arm({ CODE_DEADLINE: 2_000, ACCESS_TOKEN_DEADLINE: 1_500 });
    await clock.advance(5_000);
    expect(raised).toEqual(['RETRY_DUE@1000', 'ACCESS_TOKEN_DEADLINE@1500', 'CODE_DEADLINE@2000']);
    s.arm({ CODE_DEADLINE: 9_000 });
    s.arm({});
    await clock.advance(10_000);
    expect(raised).toHaveLength(3);
  });
});

describe('Scheduler: edges', () => {
  it('a deadline due exactly now is raised without the clock moving', async () => {
    const clock = new VirtualClock(1_000);
    const raised: string[] = [];
    const s = new Scheduler(clock, (e) => raised.push(e));
    s.arm({ RETRY_DUE: 1_000 });
    await Promise.resolve();
    expect(raised).toEqual(['RETRY_DUE']);
    expect(s.pending()).toEqual({});
  });

  it('a past deadline disarmed in the same tick is never raised', async () => {
    const clock = new VirtualClock(1_000);
    const raised: string[] = [];
    const s = new Scheduler(clock, (e) => raised.push(e));
    s.arm({ CODE_DEADLINE: 500 });
    s.arm({});
    await Promise.resolve();
    await clock.advance(1_000);
    expect(raised).toEqual([]);
  });

  it('pending() lists what is armed; a moved deadline fires only at its new time; stop() disarms everything', async () => {
    const clock = new VirtualClock(0);
    const raised: string[] = [];
    const s = new Scheduler(clock, (e) => raised.push(`${e}@${clock.now()}`));
    s.arm({ CODE_DEADLINE: 100, RETRY_DUE: 200 });
    expect(s.pending()).toEqual({ CODE_DEADLINE: 100, RETRY_DUE: 200 });
    s.arm({ CODE_DEADLINE: 150, RETRY_DUE: 200 });
    expect(s.pending()).toEqual({ CODE_DEADLINE: 150, RETRY_DUE: 200 });
    await clock.advance(160);
    expect(raised).toEqual(['CODE_DEADLINE@150']);
    expect(s.pending()).toEqual({ RETRY_DUE: 200 });
    s.stop();
    expect(s.pending()).toEqual({});
    expect(clock.pendingTimers()).toBe(0);
    await clock.advance(1_000);
    expect(raised).toEqual(['CODE_DEADLINE@150']);
  });
});

describe('backoff', () => {
  it('waits 30 s, 2 min, then 8 min, and never longer or shorter whatever the attempt number', () => {
    expect(RETRY_DELAYS_MS).toEqual([30_000, 120_000, 480_000]);
    expect([-1, 0, 1, 2, 3, 10].map((n) => retryDelayMs(n))).toEqual([30_000, 30_000, 120_000, 480_000, 480_000, 480_000]);
  });

  it("a server's Retry-After wins only when it is longer", () => {
    expect(retryDelayMs(0, 600_000)).toBe(600_000);
    expect(retryDelayMs(1, 5_000)).toBe(120_000);
    expect(retryDelayMs(2, null)).toBe(480_000);
  });
});

describe('RealClock', () => {
  it('fires a timer on wall time and can clear one', async () => {
    const clock = new RealClock();
    const fired: string[] = [];
    const h = clock.setTimer(clock.now() + 10, () => fired.push('cleared'));
    clock.clearTimer(h);
    await new Promise<void>((resolve) => clock.setTimer(clock.now() + 15, () => (fired.push('ok'), resolve())));
    expect(fired).toEqual(['ok']);
  });
});
