/**
 * The fault-injecting disk (src/util/faulty-io.ts) and the device on it (src/device/storage-fault.ts): a refused
 * request says why and changes nothing, the status reports the fault, deferred work catches up when the disk works.
 * The sweep over every call of a whole scenario is test/device/iofault.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FaultyDisk, errnoError } from '../../src/util/faulty-io.ts';
import { StorageFaultError } from '../../src/device/storage-fault.ts';
import { verifyImage } from '../../src/nvram/inspect.ts';
import { boot, newRun, powerCycle, type Run } from '../support/faultyDevice.ts';

describe('the fault-injecting disk', () => {
  it('fails the n-th call of a kind with a real errno error, one-shot or until cleared', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-faulty-'));
    try {
      const disk = new FaultyDisk();
      const io = disk.spoolIo();
      await io.makeDir(dir);
      disk.inject({ kind: 'write', at: 2, errno: 'ENOSPC', persistent: false });
      const f = await io.create(path.join(dir, 'a'));
      await f.write(Buffer.from('one'));
      const err = await f.write(Buffer.from('two')).then(() => null, (e: unknown) => e as NodeJS.ErrnoException);
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code: 'ENOSPC', syscall: 'write', errno: errnoError('ENOSPC', 'write').errno });
      expect(err!.errno).toBeLessThan(0);
      await f.write(Buffer.from('three')); // one-shot: the next call works
      await f.close();
      disk.inject({ kind: 'unlink', at: 1, errno: 'EROFS', persistent: true });
      for (let i = 0; i < 3; i++) await expect(io.unlink(path.join(dir, 'a'))).rejects.toMatchObject({ code: 'EROFS' });
      expect(existsSync(path.join(dir, 'a'))).toBe(true); // a failed call did nothing
      disk.clear();
      await io.unlink(path.join(dir, 'a'));
      expect(existsSync(path.join(dir, 'a'))).toBe(false);
      expect(disk.injected.map((x) => x.kind)).toEqual(['write', 'unlink', 'unlink', 'unlink']);
      expect(disk.calls.unlink).toBe(4);
      expect(() => disk.inject({ kind: 'chmod' as never, at: 1, errno: 'EIO', persistent: false })).toThrow(RangeError);
      expect(() => disk.inject({ kind: 'any', at: 0, errno: 'EIO', persistent: false })).toThrow(RangeError);
      expect(() => disk.inject({ kind: 'any', at: 1, errno: 'EPERM' as never, persistent: false })).toThrow(RangeError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A device over a FaultyDisk in a fresh directory, closed and removed after `fn`. */
async function onFailingDisk(fn: (r: Run, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mfp-iofault-'));
  const r = await newRun(dir);
  try {
    await fn(r, dir);
  } finally {
    await r.h.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('device on a failing disk', () => {
  it('a full spool refuses the job with the reason, reports it, and clears by itself when the disk has room', () =>
    onFailingDisk(async (r) => {
      await boot(r);
      await r.h.signIn();
      r.disk.inject({ kind: 'write', at: 1, errno: 'ENOSPC', persistent: true });
      const refused = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'full' }).then(() => null, (e: unknown) => e);
      expect(refused).toBeInstanceOf(StorageFaultError);
      expect(refused).toMatchObject({ code: 'storage-full', errno: 'ENOSPC', area: 'spool' });
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'storage-full', area: 'spool', code: 'ENOSPC' });
      expect(r.h.device.jobs()).toEqual([]);
      await r.h.advance(30_000);
      expect(r.h.device.status().storageFault?.reason).toBe('storage-full'); // still full: still said
      r.disk.clear();
      await r.h.advance(60_000);
      expect(r.h.device.status().storageFault).toBeNull();
      const kinds = r.h.device.eventLog().map((e) => e.kind);
      expect(kinds).toContain('storage.fault');
      expect(kinds).toContain('storage.recovered');
      const job = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'room again' });
      await r.h.device.idle();
      expect(r.h.device.job(job.id)?.status).toBe('sent');
    }));

  it('an NVRAM that cannot commit holds queued jobs with the reason, keeps a delivered mail as sent, and catches up', () =>
    onFailingDisk(async (r) => {
      await boot(r);
      await r.h.signIn();
      const gate = r.h.fake.gateSends();
      const first = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'one' });
      const second = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'two' });
      expect(r.h.device.state()).toBe('sending');
      // The disk fills up while the first mail is on the wire: its SENT cannot be recorded.
      r.disk.inject({ kind: 'fsync', at: 1, errno: 'EIO', persistent: true, area: 'nvram' });
      gate();
      await r.h.device.idle();
      expect(r.h.fake.sent.map((m) => m.subject)).toEqual(['one']);
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'nvram-write-failed', area: 'nvram', code: 'EIO' });
      expect(r.h.device.status().storageFault?.retryAt).toBeGreaterThan(r.h.clock.now());
      expect(r.h.device.job(second.id)).toMatchObject({ status: 'held', reply: 'held: nvram-write-failed (EIO)' });
      const refused = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'three' }).then(() => null, (e: unknown) => e);
      expect(refused).toMatchObject({ code: 'nvram-write-failed', area: 'nvram' });
      await r.h.advance(5 * 60_000); // retries keep failing; nothing is re-sent meanwhile
      expect(r.h.fake.sent.map((m) => m.subject)).toEqual(['one']);
      r.disk.clear();
      await r.h.advance(2 * 60_000);
      expect(r.h.device.status().storageFault).toBeNull();
      expect(r.h.device.job(first.id)?.status).toBe('sent');
      expect(r.h.device.job(second.id)?.status).toBe('sent');
      expect(r.h.fake.sent.map((m) => m.subject)).toEqual(['one', 'two']); // the delivered one was not sent again
      const fault = r.h.device.eventLog().find((e) => e.kind === 'storage.fault');
      expect(fault?.data).toMatchObject({ area: 'nvram', reason: 'nvram-write-failed', code: 'EIO' });
      await powerCycle(r, 1000);
      expect(r.h.device.bootReport().reasons).toEqual([]);
      expect((await verifyImage(r.h.file)).ok).toBe(true);
    }));

  it('a deadline that falls due while the disk fails is applied once it works', () =>
    onFailingDisk(async (r) => {
      await boot(r);
      await r.h.signIn();
      r.disk.inject({ kind: 'write', at: 1, errno: 'EROFS', persistent: true, area: 'nvram' });
      await r.h.advance(56 * 60_000); // the access token's deadline (55 min) passes on a read-only disk
      expect(r.h.device.state()).toBe('authorized'); // the step could not be recorded: it did not happen
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'storage-read-only', code: 'EROFS' });
      r.disk.clear();
      await r.h.advance(2 * 60_000);
      expect(r.h.device.state()).toBe('tokenExpired');
      expect(r.h.device.status().storageFault).toBeNull();
      expect(r.h.device.eventLog().filter((e) => e.kind.startsWith('storage.')).map((e) => e.kind)).toEqual(['storage.fault', 'storage.recovered']);
    }));

  it('a submit whose commit failed at its fsync is refused; its content is not removed at once (that commit may be on the disk)', () =>
    onFailingDisk(async (r, dir) => {
      await boot(r);
      await r.h.signIn();
      r.disk.inject({ kind: 'fsync', at: 1, errno: 'EIO', persistent: false, area: 'nvram' });
      const refused = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'maybe' }).then(() => null, (e: unknown) => e);
      expect(refused).toMatchObject({ code: 'nvram-write-failed', errno: 'EIO' });
      expect(r.h.device.jobs()).toEqual([]);
      const spooled = () => readdirSync(path.join(dir, 'spool')).filter((n) => n.endsWith('.json'));
      // The failed commit's bytes may be on the disk (only its fsync failed): the content must not go yet.
      expect(spooled()).toHaveLength(1);
      await r.h.advance(2_000); // the storage retry commits the fault's event-log lines
      expect(r.h.device.status().storageFault).toBeNull();
      await r.h.device.idle();
      // The content is retired later by the spool's rule (spoolKeeper: once no bank can point at it); never sent.
      expect(r.h.device.jobs()).toEqual([]);
      expect(r.h.fake.sent).toEqual([]);
    }));

  it('a spool that cannot read a job is a lasting fault, not a loop: said while it lasts, retried ever more slowly, and the job goes when the disk reads', () =>
    // Regression (issue 13): a read fault used to be ended by the probe's successful write, and the resend failed it
    // again at the same instant, for ever (the sweep's [read #3 EIO persistent] never finished).
    onFailingDisk(async (r) => {
      await boot(r);
      await r.h.signIn();
      r.disk.inject({ kind: 'read', at: 1, errno: 'EIO', persistent: true, area: 'spool' });
      const job = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'unreadable' });
      await r.h.device.idle();
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'spool-read-failed', area: 'spool', operation: 'read', code: 'EIO' });
      await r.h.advance(30 * 60_000);
      // Still said, in the status and (the NVRAM works) in the event log while it lasts; the job waits, unfailed.
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'spool-read-failed' });
      const storageLines = () => r.h.device.eventLog().filter((e) => e.kind.startsWith('storage.'));
      expect(storageLines().map((e) => e.kind)).toEqual(['storage.fault']);
      expect(storageLines()[0]!.data).toMatchObject({ area: 'spool', operation: 'read', reason: 'spool-read-failed' });
      expect(r.h.device.job(job.id)?.status).toBe('sending'); // the submission waits for the disk, no send retry used
      expect(r.h.device.status().lastError).toBeNull();
      expect(r.h.fake.sent).toEqual([]);
      // 1 s, 5 s, 15 s, then once a minute: about 33 rounds in 30 minutes, each a probe and the content read.
      expect(r.disk.injected.length).toBeLessThan(100);
      // A spool write that works (another submission) says nothing of the read fault.
      await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'written' });
      await r.h.device.idle();
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'spool-read-failed' });
      r.disk.clear();
      await r.h.advance(2 * 60_000);
      expect(r.h.device.status().storageFault).toBeNull();
      expect(r.h.device.job(job.id)?.status).toBe('sent');
      expect(r.h.fake.sent.map((m) => m.subject)).toEqual(['unreadable', 'written']);
      expect(storageLines().map((e) => e.kind)).toEqual(['storage.fault', 'storage.recovered']);
    }));

  it('a boot that cannot list the spool reconciles nothing on half the facts: pending jobs wait, unfailed, until the disk reads', () =>
    onFailingDisk(async (r) => {
      await boot(r);
      await r.h.signIn();
      r.h.fake.gateSends(); // the mail is on the wire when the power goes
      const job = await r.h.device.submitJob({ to: ['bob@contoso.com'], subject: 'pending at the cut' });
      r.h.fake.sendGate = null;
      r.disk.inject({ kind: 'read', at: 1, errno: 'EIO', persistent: true, area: 'spool' });
      await powerCycle(r, 1000);
      expect(r.on).toBe(true); // the NVRAM reads: the printer is up, and says what fails
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'spool-read-failed', area: 'spool' });
      // Read as "no files", the spool would have made the job's content look gone and failed it.
      expect(r.h.device.job(job.id)?.status).toBe('queued');
      await r.h.advance(10 * 60_000);
      expect(r.h.device.job(job.id)?.status).toBe('queued');
      r.disk.clear();
      await r.h.advance(2 * 60_000);
      expect(r.h.device.status().storageFault).toBeNull();
      expect(r.h.device.job(job.id)?.status).toBe('sent');
      expect(r.h.fake.sent.map((m) => m.subject)).toContain('pending at the cut');
    }));

  it('a first boot whose format was written but not fsynced leaves neither key nor image: the next boot is a first boot, not a changed key', () =>
    onFailingDisk(async (r) => {
      // fsync #1 is the new image's directory, #2 the format's: its writes are in the file, its fsync fails.
      r.disk.inject({ kind: 'fsync', at: 2, errno: 'EIO', persistent: false, area: 'nvram' });
      await boot(r);
      expect(r.on).toBe(false);
      expect(r.disk.injected.map((x) => x.syscall)).toEqual(['fsync']);
      await boot(r);
      expect(r.on).toBe(true);
      expect(r.h.device.bootReport().reasons.map((x) => x.code)).toEqual(['first-boot']);
    }));

  it('a first boot that the disk failed leaves no device key: the next boot is a first boot, not a lost image', () =>
    onFailingDisk(async (r, dir) => {
      r.disk.inject({ kind: 'fsync', at: 1, errno: 'EIO', persistent: true, area: 'nvram' });
      await boot(r);
      expect(r.on).toBe(false);
      expect(existsSync(path.join(dir, 'secure-element.key'))).toBe(false);
      r.disk.clear();
      await boot(r);
      expect(r.on).toBe(true);
      expect(r.h.device.bootReport().reasons.map((x) => x.code)).toEqual(['first-boot']);
      expect((await verifyImage(r.h.file)).ok).toBe(true);
    }));
});
