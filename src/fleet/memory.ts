/**
 * Memory measurements for the fleet and the benchmarks: a best-effort full GC before reading the heap, and the heap
 * cost of one msal-node PublicClientApplication (each simulated printer holds one per boot).
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PublicClientApplication } from '@azure/msal-node';

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
}

/** A full collection when the runtime allows one (the flag is set at run time; no `--expose-gc` needed). */
export function collectGarbage(): boolean {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) {
    existing();
    return true;
  }
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    gc?.();
    return typeof gc === 'function';
  } catch {
    return false;
  }
}

export function sampleMemory(gc = true): MemorySample {
  if (gc) collectGarbage();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

/**
 * Heap bytes per PublicClientApplication, configured as a device configures it (authority known, cache plugin),
 * measured as the heap growth while `count` of them are alive, divided by `count`. No network is touched.
 */
export async function measurePcaBytes(count = 200): Promise<number> {
  const authority = 'https://127.0.0.1:9/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
  const before = sampleMemory().heapUsed;
  const live: PublicClientApplication[] = [];
  for (let i = 0; i < count; i++) {
    live.push(
      new PublicClientApplication({
        auth: { clientId: '3c5f0d8a-7b1e-4e2a-9f6d-2b8c4a1e7d90', authority, knownAuthorities: ['127.0.0.1:9'] },
        cache: { cachePlugin: { beforeCacheAccess: async () => {}, afterCacheAccess: async () => {} } },
      }),
    );
  }
  const after = sampleMemory().heapUsed;
  const perInstance = Math.max(0, (after - before) / count);
  live.length = 0;
  return Math.round(perInstance);
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
