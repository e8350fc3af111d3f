/**
 * Retry delays after transient failures (network, 4xx SMTP, 5xx/429 from Entra). Bounded: the statechart stops
 * retrying by itself after MAX_RETRIES and waits for the operator. A server's Retry-After wins when it is longer.
 */
export const RETRY_DELAYS_MS = [30_000, 120_000, 480_000] as const;

/**
 * Jitter, a device setting (off by default): a fleet that failed together (a site outage, a throttled tenant) would
 * otherwise retry together, in waves, on the same schedule. With jitter each delay is drawn uniformly from
 * [base × (1 − fraction), base], so retries never come sooner than (1 − fraction) of the schedule nor later than it.
 * `random` is injected (a seeded generator in simulations): no hidden state here.
 */
export interface RetryJitter {
  /** 0 (none) … 1 (full jitter: anywhere in [0, base]). */
  fraction: number;
  /** Uniform in [0, 1). */
  random: () => number;
}

export function retryDelayMs(attempt: number, retryAfterMs: number | null = null, jitter: RetryJitter | null = null): number {
  const base = RETRY_DELAYS_MS[Math.min(Math.max(attempt, 0), RETRY_DELAYS_MS.length - 1)]!;
  const delay = jitter ? base * (1 - checkedFraction(jitter.fraction) * jitter.random()) : base;
  // A server's Retry-After is a floor: jitter never brings a retry before the time the server asked for.
  return Math.max(Math.round(delay), retryAfterMs ?? 0);
}

function checkedFraction(f: number): number {
  if (!Number.isFinite(f) || f < 0 || f > 1) throw new RangeError(`retry jitter fraction must be within 0…1, got ${f}`);
  return f;
}
