/**
 * Retry delays after transient failures (network, 4xx SMTP, 5xx/429 from Entra). Bounded: the statechart stops
 * retrying by itself after MAX_RETRIES and waits for the operator. A server's Retry-After wins when it is longer.
 */
export const RETRY_DELAYS_MS = [30_000, 120_000, 480_000] as const;

export function retryDelayMs(attempt: number, retryAfterMs: number | null = null): number {
  const base = RETRY_DELAYS_MS[Math.min(Math.max(attempt, 0), RETRY_DELAYS_MS.length - 1)]!;
  return Math.max(base, retryAfterMs ?? 0);
}
