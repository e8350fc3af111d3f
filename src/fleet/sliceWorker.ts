/**
 * The piscina task of a worker thread: one slice of the fleet, run phase by phase as the coordinator says over the
 * MessagePort it was handed, its report as the task's result. Progress is batched (one message per 25 units).
 */
import type { MessagePort } from 'node:worker_threads';
import { FleetSlice, type SliceSpec } from './slice.ts';
import type { CoordinatorMessage, SliceMessage } from './protocol.ts';
import type { SliceReport } from './types.ts';

export async function runSliceTask({ spec, port }: { spec: SliceSpec; port: MessagePort }): Promise<SliceReport> {
  const slice = new FleetSlice(spec);
  const post = (msg: SliceMessage) => port.postMessage(msg);
  let pending = 0;
  const flush = () => {
    if (pending > 0) post({ type: 'progress', units: pending });
    pending = 0;
  };
  const progress = (units: number) => {
    pending += units;
    if (pending >= 25) flush();
  };
  const inbox = messageQueue(port);
  try {
    for (;;) {
      const msg = await inbox.next();
      if (msg.type === 'finish') break;
      try {
        const result = await slice.runPhase(msg.phase, progress);
        flush();
        post({ type: 'phase-done', result });
      } catch (err) {
        flush();
        post({ type: 'phase-failed', phase: msg.phase, message: (err as Error)?.message ?? String(err) });
      }
    }
    return await slice.report();
  } finally {
    await slice.close();
    port.close();
  }
}

/** Every message of the port, in order, one `next()` at a time (none is lost between two awaits). */
function messageQueue(port: MessagePort): { next(): Promise<CoordinatorMessage> } {
  const queued: CoordinatorMessage[] = [];
  const waiters: ((m: CoordinatorMessage) => void)[] = [];
  port.on('message', (m: CoordinatorMessage) => {
    const waiter = waiters.shift();
    if (waiter) waiter(m);
    else queued.push(m);
  });
  return {
    next: () => {
      const m = queued.shift();
      return m ? Promise.resolve(m) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}
