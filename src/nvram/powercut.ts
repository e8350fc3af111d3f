/**
 * Power-loss injection for the NVRAM (littlefs style): wrap the real I/O in a `PowerCutIo`, run a scripted
 * sequence once to count its bank writes, then re-run it with the power cut at every write k and at every point
 * inside that write. A bank write is, in order: data write(s) (the payload, then any zero fill of an older tail),
 * the commit (header) write, one fsync.
 *
 * The disk is simulated over the real file: every write since the last fsync is remembered with the bytes it
 * replaced, and at the cut those un-fsync'ed writes are either kept (the disk happened to flush them) or rolled back
 * (lost in the drive's cache). A disk may also flush them out of order: `header-first` is the cut where the header
 * reached the disk and the payload did not (model `lost`) or only its first half did (model `kept`). Nothing at all
 * is applied after the cut; every later call throws `PowerCut`. Exported for the device-level sweep as well.
 */
import type { NvramFile, NvramIo, WritePhase } from './io.ts';
import { nodeIo } from './io.ts';

/**
 * Where in a bank write the power goes: before the payload, half-way through it, after it but before the header,
 * half-way through the header, after both but before the fsync, and at the fsync with the header on the disk ahead
 * of the payload (reordered by the disk). Only `before-fsync` with un-fsynced data `kept` completes the write.
 */
export const POWER_CUT_POINTS = ['before-data', 'mid-data', 'before-commit', 'mid-commit', 'before-fsync', 'header-first'] as const;
export type PowerCutPoint = (typeof POWER_CUT_POINTS)[number];
/** What happens to bytes written but not yet fsync'ed when the power goes. */
export const UNSYNCED_MODELS = ['kept', 'lost'] as const;
export type UnsyncedModel = (typeof UNSYNCED_MODELS)[number];

export interface PowerCutPlan {
  /** 1-based index of the bank write to interrupt. */
  atWrite: number;
  point: PowerCutPoint;
  unsynced: UnsyncedModel;
}

export class PowerCut extends Error {
  readonly code = 'power_cut';
  constructor(readonly plan: PowerCutPlan) {
    super(`simulated power cut at write ${plan.atWrite}, ${plan.point} (un-fsynced data ${plan.unsynced})`);
    this.name = 'PowerCut';
  }
}

export function isPowerCut(err: unknown): err is PowerCut {
  return err instanceof PowerCut;
}

interface Undo {
  file: NvramFile;
  position: number;
  old: Buffer;
  oldSize: number;
  /** Bytes the write put at `position`. */
  length: number;
  phase: WritePhase;
}

export class PowerCutIo implements NvramIo {
  /** Bank writes begun so far (a data-phase write starts one). */
  writes = 0;
  /** True once the power has been cut. */
  cut = false;
  /** Called after each completed bank write (commit record fsync'ed), e.g. to record the content per write. */
  onCommitted: ((write: number) => Promise<void>) | null = null;
  private phase: WritePhase | null = null;
  private undo: Undo[] = [];

  constructor(
    private readonly inner: NvramIo = nodeIo,
    readonly plan: PowerCutPlan | null = null,
  ) {}

  async open(file: string, mode: 'read' | 'readwrite') {
    this.alive();
    const opened = await this.inner.open(file, mode);
    return { file: this.wrap(opened.file), created: opened.created };
  }

  async syncDir(dir: string): Promise<void> {
    this.alive();
    await this.inner.syncDir(dir);
  }

  private alive(): void {
    if (this.cut) throw new PowerCut(this.plan!);
  }

  private targeted(): boolean {
    return this.plan !== null && this.writes === this.plan.atWrite;
  }

  /** Cuts the power: un-fsync'ed writes are kept or rolled back per the plan, then everything stops. */
  private async powerOff(): Promise<never> {
    this.cut = true;
    const pending = this.undo.reverse();
    this.undo = [];
    if (this.plan!.point === 'header-first') {
      // The header is on the disk; of the payload (and zero fill) nothing, or (`kept`) the first half of the payload.
      const data = pending.filter((u) => u.phase === 'data');
      const headerEnd = Math.max(0, ...pending.filter((u) => u.phase === 'commit').map((u) => u.position + u.length));
      for (const u of data) {
        const keep = this.plan!.unsynced === 'kept' && u === data.at(-1) ? Math.floor(u.length / 2) : 0;
        await rollBack(u, keep, headerEnd);
      }
    } else if (this.plan!.unsynced === 'lost') {
      for (const u of pending) await rollBack(u, 0, 0);
    }
    throw new PowerCut(this.plan!);
  }

  private wrap(file: NvramFile): NvramFile {
    const write = async (data: Buffer, position: number, phase: WritePhase) => {
      const oldSize = await file.size();
      this.undo.push({ file, position, old: await file.read(position, data.length), oldSize, length: data.length, phase });
      await file.write(data, position, phase);
    };
    return {
      size: () => (this.alive(), file.size()),
      read: (position, length) => (this.alive(), file.read(position, length)),
      truncate: (size) => (this.alive(), file.truncate(size)),
      write: async (data, position, phase) => {
        this.alive();
        if (phase === 'data' && this.phase !== 'data') this.writes++; // a bank write starts with its first data write
        this.phase = phase;
        if (this.targeted()) {
          const p = this.plan!.point;
          if ((phase === 'data' && p === 'before-data') || (phase === 'commit' && p === 'before-commit')) return this.powerOff();
          if ((phase === 'data' && p === 'mid-data') || (phase === 'commit' && p === 'mid-commit')) {
            await write(data.subarray(0, Math.floor(data.length / 2)), position, phase);
            return this.powerOff();
          }
        }
        await write(data, position, phase);
      },
      sync: async () => {
        this.alive();
        if (this.targeted()) {
          const p = this.plan!.point;
          if (this.phase === 'commit' && (p === 'before-fsync' || p === 'header-first')) return this.powerOff();
        }
        await file.sync();
        this.undo = this.undo.filter((u) => u.file !== file);
        if (this.phase === 'commit') {
          this.phase = null;
          await this.onCommitted?.(this.writes);
        }
      },
      // Releasing the handle is not a disk operation: allowed after the cut so the test can reopen the image.
      close: () => file.close(),
    };
  }
}

/**
 * Puts back what an un-fsynced write replaced, except its first `keep` bytes (a torn write). The file shrinks back to
 * its size before the write, but never below `floor` (the end of a write the disk did keep).
 */
async function rollBack(u: Undo, keep: number, floor: number): Promise<void> {
  if (keep < u.old.length) await u.file.write(u.old.subarray(keep), u.position + keep, 'data');
  const size = await u.file.size();
  const target = Math.max(u.oldSize, u.position + keep, floor);
  if (size > target) await u.file.truncate(target);
  // Bytes the write put past the old end of file that must stay (the file cannot shrink under a kept write): a hole.
  const holeFrom = Math.max(u.position + keep, u.oldSize);
  const holeTo = Math.min(u.position + u.length, target);
  if (holeTo > holeFrom) await u.file.write(Buffer.alloc(holeTo - holeFrom), holeFrom, 'data');
}

export interface SweepCase extends PowerCutPlan {}

/** Runs `run` with a counting (never cutting) PowerCutIo and returns how many bank writes it made. */
export async function countNvramWrites(run: (io: NvramIo) => Promise<void>, inner: NvramIo = nodeIo): Promise<number> {
  const io = new PowerCutIo(inner);
  await run(io);
  return io.writes;
}

export interface SweepOptions<Ctx> {
  /** N from countNvramWrites: cuts happen at writes 1..N. */
  writes: number;
  points?: readonly PowerCutPoint[];
  models?: readonly UnsyncedModel[];
  /** Fresh state for one case (e.g. a new temp directory). */
  setup: (c: SweepCase) => Promise<Ctx>;
  /** The scripted sequence on the cutting io; PowerCut errors may propagate, they are expected. */
  run: (ctx: Ctx, io: PowerCutIo, c: SweepCase) => Promise<void>;
  /** After the cut, with power back (real io): open, verify, compare. Throw to fail. */
  check: (ctx: Ctx, c: SweepCase) => Promise<void>;
  teardown?: (ctx: Ctx) => Promise<void>;
  /** The disk under the cut. Default: real files. */
  io?: NvramIo;
}

/** Every write × every point × every disk model. Fails if a planned cut never happened (the sweep must bite). */
export async function powerLossSweep<Ctx>(opts: SweepOptions<Ctx>): Promise<{ cases: number }> {
  let cases = 0;
  for (let atWrite = 1; atWrite <= opts.writes; atWrite++) {
    for (const point of opts.points ?? POWER_CUT_POINTS) {
      for (const unsynced of opts.models ?? UNSYNCED_MODELS) {
        const c: SweepCase = { atWrite, point, unsynced };
        const ctx = await opts.setup(c);
        try {
          const io = new PowerCutIo(opts.io ?? nodeIo, c);
          try {
            await opts.run(ctx, io, c);
          } catch (err) {
            if (!isPowerCut(err)) throw err;
          }
          if (!io.cut) throw new Error(`planned power cut at write ${atWrite} (${point}, ${unsynced}) never happened: the script made ${io.writes} writes`);
          await opts.check(ctx, c);
          cases++;
        } catch (err) {
          if (err instanceof Error && !isPowerCut(err)) err.message = `[cut at write ${atWrite}, ${point}, un-fsynced ${unsynced}] ${err.message}`;
          throw err;
        } finally {
          await opts.teardown?.(ctx);
        }
      }
    }
  }
  return { cases };
}
