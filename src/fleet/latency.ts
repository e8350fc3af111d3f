/**
 * Per-mail wall latency (submit → device idle again, a refresh included when one fell due), kept as an HDR histogram
 * (hdr-histogram-js) so reports of slices and of shards merge exactly: histograms add bucket by bucket, and the
 * merged percentiles are read from the merged buckets, never averaged from the parts' percentiles.
 * Recorded in microseconds, 3 significant digits (±0.1 %), up to one hour per mail.
 */
import * as hdr from 'hdr-histogram-js';

const HIGHEST_US = 3_600_000_000;

export interface LatencySummary {
  /** The histogram itself, HdrHistogram's compressed base64 encoding (what merging reads). */
  histogram: string;
  count: number;
  /** Milliseconds, read from the histogram. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function newLatencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });
}

export function recordMs(h: hdr.Histogram, ms: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
}

export function encodeHistogram(h: hdr.Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Throws on anything that is not an encoded histogram (a report edited by hand, truncated, from elsewhere). */
export function decodeHistogram(encoded: string): hdr.Histogram {
  try {
    return hdr.decodeFromCompressedBase64(encoded);
  } catch (err) {
    throw new Error(`not an encoded HDR histogram (${(err as Error).message})`);
  }
}

/** Adds encoded histograms into one (slices into a fleet, shards into a merged fleet). */
export function mergeHistograms(encoded: string[]): hdr.Histogram {
  const total = newLatencyHistogram();
  for (const e of encoded) total.add(decodeHistogram(e));
  return total;
}

export function summarizeLatency(h: hdr.Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    histogram: encodeHistogram(h),
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
  };
}
