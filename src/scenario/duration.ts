/**
 * Durations as people write them in scenario files: "90d", "10h", "61m", "30s", "500ms", or a sum ("1h30m").
 * Simulated time for `advance`/`powerCycle`, wall time for `waitFor` timeouts.
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART_SOURCE = String.raw`(\d+(?:\.\d+)?)(ms|s|m|h|d)`;

/** Milliseconds in `text`, or null when it is not a duration. */
export function parseDuration(text: string): number | null {
  const s = text.trim();
  if (s === '') return null;
  let total = 0;
  const part = new RegExp(PART_SOURCE, 'y'); // a fresh sticky regex per call: no shared lastIndex
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (!m) return null;
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
    at = part.lastIndex;
  }
  return Number.isFinite(total) ? Math.round(total) : null;
}

/** "2d 03:04:05" for elapsed simulated time (progress lines, summaries). */
export function formatElapsed(ms: number): string {
  const d = Math.floor(ms / UNIT_MS.d);
  const rest = ms - d * UNIT_MS.d;
  const hh = Math.floor(rest / UNIT_MS.h);
  const mm = Math.floor((rest % UNIT_MS.h) / UNIT_MS.m);
  const ss = Math.floor((rest % UNIT_MS.m) / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d}d ${pad(hh)}:${pad(mm)}:${pad(ss)}`;
}

/** "2026-01-05 08:00:00" (UTC) for transition lines. */
export function formatSimTime(at: number): string {
  return new Date(at).toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}
