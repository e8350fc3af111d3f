/**
 * A failing disk for tests, like SQLite's I/O-error tests: wraps the real file layers of the NVRAM (`NvramIo`) and
 * of the spool (`SpoolIo`) — one disk under both — counts every call by kind, and makes the n-th call of a chosen
 * kind (or of any kind) fail with ENOSPC, EIO or EROFS, as a real `NodeJS.ErrnoException`. One-shot: that call alone
 * fails. Persistent: from that call on, every call of that kind fails until `clear()` (the disk stays full).
 *
 * A failing call does nothing (no byte written, nothing removed). Writes that succeeded before a failing
 * fsync stay in the file, as they do in the page cache of a real disk: the harder case for the device, since a
 * commit it was told failed may still be read back after a restart. Closing a handle never fails (the handle must
 * be released). The kinds, per call:
 *   open   NvramIo.open, SpoolIo.create, SpoolIo.open, SpoolIo.makeDir
 *   read   NvramFile.read and size, SpoolIo.readFile and readdir
 *   write  NvramFile.write and truncate, SpoolFile.write and truncate
 *   fsync  NvramFile.sync, NvramIo.syncDir, SpoolFile.sync, SpoolIo.syncDir
 *   unlink SpoolIo.unlink
 */
import { constants as os } from 'node:os';
import { nodeIo, type NvramFile, type NvramIo } from '../nvram/io.ts';
import { nodeSpoolIo, type SpoolFile, type SpoolIo } from '../device/spool-io.ts';

export const FAULT_KINDS = ['open', 'read', 'write', 'fsync', 'unlink'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export const FAULT_ERRNOS = ['ENOSPC', 'EIO', 'EROFS'] as const;
export type FaultErrno = (typeof FAULT_ERRNOS)[number];
export type FaultArea = 'nvram' | 'spool';

export interface FaultPlan {
  /** Which calls are counted for `at` and fail: one kind, or every call. */
  kind: FaultKind | 'any';
  /** 1-based: the at-th call of that kind (counted from when the plan was set) fails. */
  at: number;
  errno: FaultErrno;
  /** true: every later call of the kind fails too, until clear(). */
  persistent: boolean;
  /** Only calls of the NVRAM's or of the spool's file layer count and fail. Default: both. */
  area?: FaultArea;
}

export interface InjectedFault {
  kind: FaultKind;
  area: FaultArea;
  syscall: string;
  path: string;
  errno: FaultErrno;
}

const DESCRIPTIONS: Record<FaultErrno, string> = {
  ENOSPC: 'no space left on device',
  EIO: 'i/o error',
  EROFS: 'read-only file system',
};

/** An error shaped like the one node:fs throws (code, errno, syscall, path). */
export function errnoError(code: FaultErrno, syscall: string, path?: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: ${DESCRIPTIONS[code]}, ${syscall}${path ? ` '${path}'` : ''}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -os.errno[code];
  err.syscall = syscall;
  if (path) err.path = path;
  return err;
}

function checkPlan(plan: FaultPlan): void {
  if (plan.kind !== 'any' && !FAULT_KINDS.includes(plan.kind)) throw new RangeError(`unknown fault kind ${JSON.stringify(plan.kind)}`);
  if (!FAULT_ERRNOS.includes(plan.errno)) throw new RangeError(`unknown errno ${JSON.stringify(plan.errno)}`);
  if (plan.area !== undefined && plan.area !== 'nvram' && plan.area !== 'spool') throw new RangeError(`unknown fault area ${JSON.stringify(plan.area)}`);
  if (!Number.isSafeInteger(plan.at) || plan.at < 1) throw new RangeError(`fault call index must be an integer >= 1, got ${plan.at}`);
}

export class FaultyDisk {
  /** Calls made so far, by kind (every call, whether or not a plan was set). */
  readonly calls: Record<FaultKind, number> = { open: 0, read: 0, write: 0, fsync: 0, unlink: 0 };
  /** Every call that was made to fail, in order. */
  readonly injected: InjectedFault[] = [];
  private plan: FaultPlan | null = null;
  /** Calls of the plan's kind seen since the plan was set. */
  private seen = 0;
  private failing = false;

  /** Total calls of every kind. */
  get total(): number {
    return FAULT_KINDS.reduce((n, k) => n + this.calls[k], 0);
  }

  /** True while a persistent fault is in force (or a one-shot one has not yet fired). */
  get armed(): boolean {
    return this.plan !== null;
  }

  inject(plan: FaultPlan): void {
    checkPlan(plan);
    this.plan = { ...plan };
    this.seen = 0;
    this.failing = false;
  }

  /** The disk works again. */
  clear(): void {
    this.plan = null;
    this.failing = false;
  }

  /** The NVRAM's file layer over this disk. */
  nvramIo(inner: NvramIo = nodeIo): NvramIo {
    return {
      open: async (file, mode) => {
        this.call('open', 'nvram', 'open', file);
        const opened = await inner.open(file, mode);
        return { file: this.wrapNvramFile(opened.file, file), created: opened.created };
      },
      syncDir: async (dir) => {
        this.call('fsync', 'nvram', 'fsync', dir);
        await inner.syncDir(dir);
      },
    };
  }

  /** The spool's file layer over this disk. */
  spoolIo(inner: SpoolIo = nodeSpoolIo): SpoolIo {
    const at = <T>(kind: FaultKind, syscall: string, path: string, fn: () => Promise<T>): Promise<T> => {
      try {
        this.call(kind, 'spool', syscall, path);
      } catch (err) {
        return Promise.reject(err);
      }
      return fn();
    };
    return {
      makeDir: (dir) => at('open', 'mkdir', dir, () => inner.makeDir(dir)),
      create: (file) => at('open', 'open', file, async () => this.wrapSpoolFile(await inner.create(file), file)),
      open: (file) => at('open', 'open', file, async () => this.wrapSpoolFile(await inner.open(file), file)),
      readFile: (file) => at('read', 'read', file, () => inner.readFile(file)),
      unlink: (file) => at('unlink', 'unlink', file, () => inner.unlink(file)),
      readdir: (dir) => at('read', 'scandir', dir, () => inner.readdir(dir)),
      syncDir: (dir) => at('fsync', 'fsync', dir, () => inner.syncDir(dir)),
    };
  }

  private wrapNvramFile(file: NvramFile, path: string): NvramFile {
    return {
      size: async () => (this.call('read', 'nvram', 'fstat', path), file.size()),
      read: async (position, length) => (this.call('read', 'nvram', 'read', path), file.read(position, length)),
      write: async (data, position, phase) => (this.call('write', 'nvram', 'write', path), file.write(data, position, phase)),
      truncate: async (size) => (this.call('write', 'nvram', 'ftruncate', path), file.truncate(size)),
      sync: async () => (this.call('fsync', 'nvram', 'fsync', path), file.sync()),
      close: () => file.close(),
    };
  }

  private wrapSpoolFile(file: SpoolFile, path: string): SpoolFile {
    return {
      write: async (data, position) => (this.call('write', 'spool', 'write', path), file.write(data, position)),
      truncate: async (size) => (this.call('write', 'spool', 'ftruncate', path), file.truncate(size)),
      sync: async () => (this.call('fsync', 'spool', 'fsync', path), file.sync()),
      close: () => file.close(),
    };
  }

  /** Counts one call; throws the planned fault when this call is the one (or the disk is still failing). */
  private call(kind: FaultKind, area: FaultArea, syscall: string, path: string): void {
    this.calls[kind]++;
    const plan = this.plan;
    if (!plan || (plan.kind !== 'any' && plan.kind !== kind) || (plan.area !== undefined && plan.area !== area)) return;
    if (!this.failing) {
      this.seen++;
      if (this.seen !== plan.at) return;
      this.failing = plan.persistent;
      if (!plan.persistent) this.plan = null;
    }
    this.injected.push({ kind, area, syscall, path, errno: plan.errno });
    throw errnoError(plan.errno, syscall, path);
  }
}
