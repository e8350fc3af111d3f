/** Messages between the coordinator (run.ts) and a slice in a worker thread (sliceWorker.ts), over a MessagePort. */
import type { Phase, PhaseResult } from './types.ts';

export type CoordinatorMessage = { type: 'run'; phase: Phase } | { type: 'finish' };

export type SliceMessage =
  | { type: 'progress'; units: number }
  | { type: 'phase-done'; result: PhaseResult }
  | { type: 'phase-failed'; phase: Phase; message: string };
