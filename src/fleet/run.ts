/**
 * The fleet coordinator: splits N printers into K slices, runs each slice in this thread (K = 1) or in a piscina
 * worker thread (K > 1), and keeps the slices in step — every slice finishes a phase of the scripted day before any
 * starts the next. Each slice owns a twin and a virtual clock; the phases are the synchronisation points
 * (docs/scaling.md discusses the trade-off against one shared twin).
 */
import os from 'node:os';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ensureCertificates } from '../cloud/entra/certs.ts';
import { ensureSigningKey } from '../cloud/entra/signing-key.ts';
import { DEFAULT_TENANT_FILE } from '../cloud/tenant-fixture.ts';
import type { TrafficSecond } from '../cloud/throttling.ts';
import { mailsPerPrinter } from './day.ts';
import { peakRss, sampleMemory } from './memory.ts';
import { processCpuMs } from '../util/process-cpu.ts';
import { FleetSlice, fleetPaths, type SliceSpec } from './slice.ts';
import { mergeHistograms, summarizeLatency } from './latency.ts';
import { PHASES, type DeviceRow, type FleetOptions, type FleetShard, type FleetReport, type Phase, type PhaseResult, type SliceReport } from './types.ts';
import type { SliceMessage, CoordinatorMessage } from './protocol.ts';

export const DEFAULT_FLEET_OPTIONS = { seed: 7, mailsPerDay: 8, concurrency: 64 } as const;

/** Worker threads by default: one per core the process may use (each slice is CPU-bound), within the CLI's 1…64. */
export function defaultFleetWorkers(): number {
  return Math.min(64, Math.max(1, os.availableParallelism()));
}

export interface FleetRunHooks {
  /** Progress units done (see progressUnitsPerDevice). */
  onProgress?: (units: number) => void;
  /** After each phase, with every device's row and the twins' traffic so far (the fleet page reads these while the run goes on). */
  onPhase?: (phase: Phase, rows: DeviceRow[], simulatedAt: number, traffic: TrafficSecond[]) => void;
}

/** A slice as the coordinator sees it, wherever it runs. */
interface SliceDriver {
  runPhase(phase: Phase): Promise<PhaseResult>;
  finish(): Promise<SliceReport>;
  abort(): Promise<void>;
}

export async function runFleet(options: FleetOptions, hooks: FleetRunHooks = {}): Promise<FleetReport> {
  validate(options);
  const wallStart = performance.now();
  const rssBefore = sampleMemory(false).rss;
  let rssPeak = rssBefore;
  const samplePeak = () => (rssPeak = Math.max(rssPeak, peakRss()));
  await prepareStateDir(options.stateDir);

  const specs = slices(options);
  const pool = options.workers > 1 ? new Piscina({ filename: new URL('./worker.mjs', import.meta.url).href, minThreads: specs.length, maxThreads: specs.length, idleTimeout: 1000 }) : null;
  const drivers: SliceDriver[] = specs.map((spec) => (pool ? remoteSlice(pool, spec, hooks) : localSlice(spec, hooks)));
  const phaseWallMs: Record<string, number> = {};
  const phaseCpuMs: Record<string, number> = {};
  let reports: SliceReport[];
  try {
    for (const phase of PHASES) {
      const t0 = performance.now();
      const cpu0 = processCpuMs();
      const results = await Promise.all(drivers.map((d) => d.runPhase(phase)));
      phaseWallMs[phase] = Math.round(performance.now() - t0);
      phaseCpuMs[phase] = Math.round(processCpuMs() - cpu0);
      samplePeak();
      hooks.onPhase?.(phase, results.flatMap((r) => r.rows), Math.max(...results.map((r) => r.simulatedAt)), sumTraffic(results.map((r) => r.traffic)));
    }
    reports = await Promise.all(drivers.map((d) => d.finish()));
  } catch (err) {
    await Promise.allSettled(drivers.map((d) => d.abort()));
    throw err;
  } finally {
    await pool?.destroy();
  }
  samplePeak();
  const rssAfter = sampleMemory().rss;
  return summarize(options, reports, { wallMs: performance.now() - wallStart, phaseWallMs, phaseCpuMs, rssBefore, rssAfter, rssPeak });
}

function validate(o: FleetOptions): void {
  const positive = (name: string, v: number, min = 1) => {
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
  };
  positive('devices', o.devices);
  positive('workers', o.workers);
  positive('mailsPerDay', o.mailsPerDay, 0);
  positive('concurrency', o.concurrency);
  if (o.devices > 99999) throw new RangeError('devices must be <= 99999 (printer-0001 … printer-99999)');
  if (o.shard) {
    const { index, count } = o.shard;
    if (!Number.isSafeInteger(count) || count < 1 || count > o.devices) throw new RangeError(`shard count must be an integer from 1 to the ${o.devices} devices, got ${count}`);
    if (!Number.isSafeInteger(index) || index < 0 || index >= count) throw new RangeError(`shard index must be an integer from 0 to ${count - 1}, got ${index}`);
  }
}

/** Part `part` of `parts` of the range [first, first + total), as even as possible (earlier parts take the remainder). */
function evenPart(first: number, total: number, part: number, parts: number): { first: number; count: number } {
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return { first: first + part * base + Math.min(part, extra), count: base + (part < extra ? 1 : 0) };
}

/**
 * The printers shard i of n runs: a contiguous range of fleet indices, the same for every process that asks, so
 * the shards of one fleet partition it exactly (each printer in one shard, none left out).
 */
export function shardRange(devices: number, shard: { index: number; count: number } | null | undefined): FleetShard {
  if (!shard) return { index: 0, count: 1, first: 0, devices };
  const { first, count } = evenPart(0, devices, shard.index, shard.count);
  return { index: shard.index, count: shard.count, first, devices: count };
}

/**
 * Splits this run's printers (the whole fleet, or its shard) as evenly as possible; never more slices than printers.
 * Slice numbers are fleet-wide (shard i's slices follow shard i − 1's), so every slice's seed and log are its own.
 */
export function slices(o: FleetOptions): SliceSpec[] {
  const range = shardRange(o.devices, o.shard);
  const k = Math.min(o.workers, range.devices);
  const out: SliceSpec[] = [];
  for (let s = 0; s < k; s++) {
    const { first, count } = evenPart(range.first, range.devices, s, k);
    out.push({ slice: range.index * o.workers + s, first, count, stateDir: o.stateDir, seed: o.seed, mailsPerDay: o.mailsPerDay, concurrency: o.concurrency });
  }
  return out;
}

/**
 * The twins' certificates and signing key are made once here (key generation is slow) and read by every slice;
 * the tenant file is the default tenant with a 1 s polling interval (msal-node polls on wall time).
 */
/** A fleet's state directory: twin certificates, signing key, the tenant with 0.1 s polls; refuses an earlier fleet's. */
export async function prepareStateDir(stateDir: string): Promise<void> {
  const paths = fleetPaths(stateDir);
  const existing = await readdir(paths.devicesDir).catch(() => [] as string[]);
  if (existing.length > 0) {
    throw new Error(`${paths.devicesDir} holds printers of an earlier fleet (their tokens belong to a twin that is gone); use an empty --state-dir`);
  }
  await mkdir(paths.devicesDir, { recursive: true });
  await ensureCertificates(paths.cloudDir);
  await ensureSigningKey(paths.cloudDir);
  const tenant = JSON.parse(await readFile(DEFAULT_TENANT_FILE, 'utf8')) as { deviceCode: { intervalSeconds: number } };
  tenant.deviceCode.intervalSeconds = 0.1;
  await writeFile(paths.tenantFile, JSON.stringify(tenant, null, 2));
}

function localSlice(spec: SliceSpec, hooks: FleetRunHooks): SliceDriver {
  const slice = new FleetSlice(spec);
  return {
    runPhase: (phase) => slice.runPhase(phase, (n) => hooks.onProgress?.(n)),
    finish: async () => {
      const report = await slice.report();
      await slice.close();
      return report;
    },
    abort: () => slice.close(),
  };
}

/** A slice in a worker thread, driven over a MessagePort (protocol.ts); the piscina task ends with its report. */
function remoteSlice(pool: Piscina, spec: SliceSpec, hooks: FleetRunHooks): SliceDriver {
  const { port1, port2 } = new MessageChannel();
  let waiting: { resolve: (r: PhaseResult) => void; reject: (e: Error) => void } | null = null;
  let failure: Error | null = null;
  port1.on('message', (msg: SliceMessage) => {
    if (msg.type === 'progress') hooks.onProgress?.(msg.units);
    else if (msg.type === 'phase-done') {
      waiting?.resolve(msg.result);
      waiting = null;
    } else if (msg.type === 'phase-failed') {
      waiting?.reject(new Error(`slice ${spec.slice}, phase ${msg.phase}: ${msg.message}`));
      waiting = null;
    }
  });
  const task: Promise<SliceReport> = pool.run({ spec, port: port2 }, { transferList: [port2 as unknown as MessagePort] });
  // A dead worker fails the phase it was in.
  task.catch((err: Error) => {
    failure = err;
    waiting?.reject(err);
    waiting = null;
  });
  const send = (msg: CoordinatorMessage) => port1.postMessage(msg);
  return {
    runPhase: (phase) =>
      new Promise<PhaseResult>((resolve, reject) => {
        if (failure) return reject(failure);
        waiting = { resolve, reject };
        send({ type: 'run', phase });
      }),
    finish: async () => {
      send({ type: 'finish' });
      const report = await task;
      port1.close();
      return report;
    },
    abort: async () => {
      if (!failure) send({ type: 'finish' });
      await task.catch(() => undefined);
      port1.close();
    },
  };
}

function summarize(
  options: FleetOptions,
  reports: SliceReport[],
  m: { wallMs: number; phaseWallMs: Record<string, number>; phaseCpuMs: Record<string, number>; rssBefore: number; rssAfter: number; rssPeak: number },
): FleetReport {
  const rows = reports.flatMap((r) => r.rows).sort((a, b) => a.index - b.index);
  const states: Record<string, number> = {};
  for (const r of rows) states[r.state] = (states[r.state] ?? 0) + 1;
  const sum = (f: (r: DeviceRow) => number) => rows.reduce((n, r) => n + f(r), 0);
  const perPrinter = mailsPerPrinter(options.mailsPerDay);
  const totals = {
    mailsSent: sum((r) => r.mailsSent),
    mailsExpected: rows.length * perPrinter,
    refreshes: sum((r) => r.refreshes),
    signIns: sum((r) => r.signIns),
    failures: sum((r) => r.failures),
    errors: sum((r) => r.errors.length),
  };
  const shard = options.shard ? shardRange(options.devices, options.shard) : null;
  const ok =
    rows.length === (shard?.devices ?? options.devices) &&
    rows.every(
      (r) =>
        r.state === 'authorized' &&
        r.mailsSent === perPrinter &&
        r.failures === 0 &&
        r.errors.length === 0 &&
        r.mailbox !== null &&
        r.mailbox.sentItems === perPrinter &&
        r.mailbox.inbox === perPrinter &&
        r.mailbox.messageIdsMatch,
    );
  const heapAdded = reports.reduce((n, r) => n + Math.max(0, r.memory.heapWithDevices - r.memory.heapBeforeDevices), 0);
  return {
    options,
    shard,
    rows,
    states,
    totals,
    ok,
    wallMs: Math.round(m.wallMs),
    simulatedMs: Math.max(...reports.map((r) => r.simulatedMs)),
    phaseWallMs: m.phaseWallMs,
    phaseCpuMs: m.phaseCpuMs,
    mailLatency: summarizeLatency(mergeHistograms(reports.map((r) => r.mailLatency))),
    memory: {
      rssBefore: m.rssBefore,
      rssAfter: m.rssAfter,
      rssPeak: m.rssPeak,
      heapPerDevice: Math.round(heapAdded / Math.max(1, rows.length)),
      rssPerDevice: Math.round(Math.max(0, m.rssPeak - m.rssBefore) / Math.max(1, rows.length)),
    },
  };
}

/** The slices' traffic as the whole fleet's: their clocks start at the same instant, so equal seconds add up. */
export function sumTraffic(perSlice: TrafficSecond[][]): TrafficSecond[] {
  const bySecond = new Map<number, TrafficSecond>();
  for (const t of perSlice.flat()) {
    const sum = bySecond.get(t.at) ?? { at: t.at, tokenRequests: 0, smtpSubmissions: 0, throttled: 0 };
    sum.tokenRequests += t.tokenRequests;
    sum.smtpSubmissions += t.smtpSubmissions;
    sum.throttled += t.throttled;
    bySecond.set(t.at, sum);
  }
  return [...bySecond.values()].sort((a, b) => a.at - b.at);
}
