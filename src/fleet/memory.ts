/**
 * Memory measurements for the fleet and the benchmarks: a best-effort full GC before reading the heap, and the heap
 * cost of msal-node per printer (each simulated printer holds one PublicClientApplication per boot).
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { PublicClientApplication } from '@azure/msal-node';
import { MICROSOFT_LOGIN_HOST, twinCloud } from '../adapters/config.ts';
import { MsalOAuthAdapter } from '../adapters/msal/oauthAdapter.ts';
import { silentLogger } from '../log/logger.ts';

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
  try {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
  } catch {
    // The RSS comes from /proc/self/stat, which needs a descriptor: with none left (EMFILE, a fleet at its `ulimit -n`)
    // the sample falls back to V8's own figures and the process's high-water mark instead of failing the run.
    const h = v8.getHeapStatistics();
    return { rss: peakRss(), heapUsed: h.used_heap_size, external: h.external_memory };
  }
}

/** The process's peak RSS so far (getrusage: no descriptor needed, and no peak missed between two samples). */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

export interface MsalMemory {
  /** Heap per PublicClientApplication as a device configures it (authority known, cache plugin), just built. */
  pcaBytes: number;
  /** Heap per OAuth adapter: the PublicClientApplication plus the device's own undici Agent for Entra. */
  adapterBytes: number;
}

/**
 * msal-node's share of one printer: heap growth while `count` instances are alive, divided by `count`. Nothing is
 * signed in and no network is touched; a signed-in printer adds its token cache (see the fleet's heap per device).
 */
export async function measureMsalBytes(count = 200): Promise<MsalMemory> {
  const authority = `https://${MICROSOFT_LOGIN_HOST}/6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b`;
  const clientId = '3c5f0d8a-7b1e-4e2a-9f6d-2b8c4a1e7d90';
  const pcaBytes = perInstance(count, () => new PublicClientApplication({ auth: { clientId, authority }, cache: { cachePlugin: { beforeCacheAccess: async () => {}, afterCacheAccess: async () => {} } } }));
  const cloud = twinCloud({ entraUrl: 'https://127.0.0.1:9', tenantId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b', clientId, caPem: '', smtp: { host: '127.0.0.1', port: 9 } });
  const logger = silentLogger();
  const adapterBytes = perInstance(count, () => new MsalOAuthAdapter({ cloud, logger, tokenCache: { load: () => undefined, stage: () => {} } }));
  return { pcaBytes, adapterBytes };
}

function perInstance(count: number, make: () => unknown): number {
  const before = sampleMemory().heapUsed;
  const live: unknown[] = [];
  for (let i = 0; i < count; i++) live.push(make());
  const after = sampleMemory().heapUsed;
  const bytes = Math.max(0, (after - before) / live.length);
  live.length = 0;
  return Math.round(bytes);
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
