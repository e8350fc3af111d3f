/** A device over a FaultyDisk (NVRAM and spool on one failing disk), with boots that a failing disk may refuse. */
import { DeviceHarness } from './deviceHarness.ts';
import { FaultyDisk } from '../../src/util/faulty-io.ts';
import { isDiskError } from '../../src/device/storage-fault.ts';

export interface Run {
  h: DeviceHarness;
  disk: FaultyDisk;
  on: boolean;
  /** Acknowledged jobs: id → Message-ID. */
  acked: Map<string, string>;
  refused: number;
  bootFailures: number;
  /** Fault reasons the status showed, seen after each step. */
  reasons: Set<string>;
  /** Reason codes of every boot of the case, in order. */
  boots: string[][];
}

export async function newRun(dir: string): Promise<Run> {
  const disk = new FaultyDisk();
  const h = await DeviceHarness.create(dir, { io: disk.nvramIo(), spoolIo: disk.spoolIo(), boot: false });
  return { h, disk, on: false, acked: new Map(), refused: 0, bootFailures: 0, reasons: new Set(), boots: [] };
}

/** Boots; a disk that fails the boot leaves the printer off (it is tried again at the next power cycle). */
export async function boot(r: Run): Promise<void> {
  try {
    await r.h.boot();
    r.on = true;
    r.boots.push(r.h.device.bootReport().reasons.map((x) => x.code));
  } catch (err) {
    if (!isDiskError(err)) throw err;
    r.on = false;
    r.bootFailures++;
    await r.h.nvram?.close().catch(() => undefined);
  }
}

export async function powerCycle(r: Run, offMs: number): Promise<void> {
  if (r.on) {
    r.h.device.stop();
    await r.h.nvram.close();
  }
  r.on = false;
  await r.h.clock.advance(offMs);
  await boot(r);
}

