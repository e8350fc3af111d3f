import { describe, expect, it } from 'vitest';
import { RETRY_DELAYS_MS, retryDelayMs } from '../../src/device/backoff.ts';

/** A small seeded generator (mulberry32), so the draws are repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('retry backoff', () => {
  it('without jitter follows the schedule, and the last step repeats', () => {
    expect([0, 1, 2, 3, 9].map((n) => retryDelayMs(n))).toEqual([...RETRY_DELAYS_MS, RETRY_DELAYS_MS[2], RETRY_DELAYS_MS[2]]);
  });

  it('a longer Retry-After wins, a shorter one does not shorten the schedule', () => {
    expect(retryDelayMs(0, 90_000)).toBe(90_000);
    expect(retryDelayMs(1, 5_000)).toBe(RETRY_DELAYS_MS[1]);
  });

  it('with jitter every delay lies in [base × (1 − fraction), base] and the delays spread out', () => {
    const jitter = { fraction: 0.5, random: seeded(42) };
    const delays = Array.from({ length: 200 }, () => retryDelayMs(0, null, jitter));
    const base = RETRY_DELAYS_MS[0];
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(base * 0.5);
      expect(d).toBeLessThanOrEqual(base);
    }
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  it('jitter never brings a retry before the Retry-After the server asked for', () => {
    const jitter = { fraction: 1, random: seeded(7) };
    for (let i = 0; i < 50; i++) expect(retryDelayMs(0, 25_000, jitter)).toBeGreaterThanOrEqual(25_000);
  });

  it('fraction 0 is no jitter; a fraction outside 0…1 is refused', () => {
    expect(retryDelayMs(2, null, { fraction: 0, random: () => 0.99 })).toBe(RETRY_DELAYS_MS[2]);
    for (const fraction of [-0.1, 1.5, Number.NaN]) {
      expect(() => retryDelayMs(0, null, { fraction, random: () => 0.5 })).toThrow(RangeError);
    }
    expect(() => retryDelayMs(0, null, { fraction: 1.5, random: () => 0.5 })).toThrow('retry jitter fraction must be within 0…1, got 1.5');
  });
});
