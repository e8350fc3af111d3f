/**
 * What each printer of a fleet keeps (docs/scaling.md, "Where a printer's memory goes"): one fleet slice in this
 * thread, N printers through boot, sign-in and the day, a full GC after each phase (heap per printer over the slice
 * before its printers), and with --snapshot FILE a V8 heap snapshot at the end of the day, while every printer is
 * still on. Read the snapshot in Chrome DevTools (Memory, Summary: retained size by constructor) or with
 * bench/heapByConstructor.mjs. `node bin/run-ts.mjs bench/fleetHeap.ts --devices 200 --snapshot /tmp/fleet.heapsnapshot`
 * (not part of `npm run bench`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { parseArgs } from 'node:util';
import { FleetSlice } from '../src/fleet/slice.ts';
import { prepareStateDir } from '../src/fleet/run.ts';
import { sampleMemory } from '../src/fleet/memory.ts';
import type { Phase } from '../src/fleet/types.ts';

const { values } = parseArgs({
  options: { devices: { type: 'string', default: '200' }, mails: { type: 'string', default: '8' }, snapshot: { type: 'string' }, keep: { type: 'boolean', default: false } },
});
const devices = Number(values.devices);
const mails = Number(values.mails);
if (!Number.isSafeInteger(devices) || devices < 1) throw new Error(`--devices must be a positive integer, got ${values.devices}`);
if (!Number.isSafeInteger(mails) || mails < 0 || mails > 12) throw new Error(`--mails must be an integer 0…12, got ${values.mails}`);

// The state directory as the fleet prepares it.
const stateDir = await mkdtemp(path.join(os.tmpdir(), 'fleet-heap-'));
await prepareStateDir(stateDir);

const before = sampleMemory();
const slice = new FleetSlice({ slice: 0, first: 0, count: devices, stateDir, seed: 7, mailsPerDay: mails, concurrency: 64 });
const kib = (bytes: number) => Math.round(bytes / devices / 102.4) / 10;
const mib = (bytes: number) => Math.round(bytes / 2 ** 20 / 0.1) / 10;
try {
  for (const phase of ['boot', 'sign-in', 'day'] as Phase[]) {
    const t0 = performance.now();
    const result = await slice.runPhase(phase);
    const m = sampleMemory();
    const errors = result.rows.reduce((n, r) => n + r.errors.length, 0);
    const sent = result.rows.reduce((n, r) => n + r.mailsSent, 0);
    console.log(`${phase.padEnd(8)} ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s  heap/printer ${kib(m.heapUsed - before.heapUsed)} KiB  external/printer ${kib(m.external - before.external)} KiB  RSS ${mib(m.rss)} MiB  mails ${sent}  errors ${errors}`);
  }
  const { memory } = await slice.report();
  console.log(`slice heap per printer (the fleet's figure: twin up → signed in): ${kib(memory.heapWithDevices - memory.heapBeforeDevices)} KiB; peak RSS ${mib(process.resourceUsage().maxRSS * 1024)} MiB; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  if (values.snapshot) console.log(`snapshot: ${v8.writeHeapSnapshot(values.snapshot)}`);
} finally {
  await slice.close();
  if (values.keep) console.log(`state kept in ${stateDir}`);
  else await rm(stateDir, { recursive: true, force: true });
}
