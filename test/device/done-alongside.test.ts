/**
 * A mail's done record is written alongside the SENT commit (started just before it: their waits for the disk overlap), so a power
 * cut can now leave the done record without that commit: the booted bank still has the job sending. The boot must
 * then record it as sent from the spool — the server accepted it — and never send it again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DeviceHarness } from '../support/deviceHarness.ts';
import { Spool } from '../../src/device/spool.ts';
import { PowerCutIo, type PowerCutPoint } from '../../src/nvram/powercut.ts';

const harnesses: DeviceHarness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close().catch(() => undefined);
});

/** Signed in, one mail held on the wire; returns the job and the NVRAM writes made so far. */
async function mailOnTheWire(h: DeviceHarness, io: PowerCutIo) {
  await h.signIn();
  const release = h.fake.gateSends();
  const job = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'delivered' });
  for (let i = 0; i < 2000 && h.device.state() !== 'sending'; i++) await new Promise((r) => setTimeout(r, 5));
  expect(h.device.state()).toBe('sending');
  return { job, release, writes: io.writes };
}

describe('done record alongside the SENT commit', () => {
  it.each<PowerCutPoint>(['before-data', 'mid-commit', 'before-fsync'])('a cut in the SENT commit (%s, un-fsynced data lost) after the server accepted: recorded as sent from the done record, not resent', async (point) => {
    // Reference run: which bank write is the SENT commit.
    const refIo = new PowerCutIo();
    const ref = await DeviceHarness.create(undefined, { io: refIo });
    harnesses.push(ref);
    const r = await mailOnTheWire(ref, refIo);
    r.release();
    await ref.device.idle();
    expect(ref.device.job(r.job.id)).toMatchObject({ status: 'sent' });
    const sentWrite = r.writes + 1;
    expect(refIo.writes).toBeGreaterThanOrEqual(sentWrite);

    const io = new PowerCutIo(undefined, { atWrite: sentWrite, point, unsynced: 'lost' });
    const h = await DeviceHarness.create(undefined, { io });
    harnesses.push(h);
    const { job, release, writes } = await mailOnTheWire(h, io);
    expect(writes).toBe(r.writes);
    release();
    for (let i = 0; i < 2000 && !io.cut; i++) await new Promise((res) => setTimeout(res, 5));
    expect(io.cut).toBe(true);
    await h.device.idle();
    expect(await new Spool(path.join(h.dir, 'spool')).done(job.id)).toMatchObject({ status: 'sent', messageId: job.messageId });
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['delivered']);

    // Power back on, on a healthy disk.
    h.device.stop();
    await h.nvram.close().catch(() => undefined);
    h.io = undefined;
    await h.boot();
    await h.device.idle();
    expect(h.device.job(job.id)).toMatchObject({ status: 'sent', messageId: job.messageId });
    const reconciled = h.device.eventLog().filter((e) => e.kind === 'spool.reconciled');
    expect(reconciled.at(-1)?.data).toMatchObject({ finished: [{ id: job.id, status: 'sent' }] });
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['delivered']);
    expect(h.device.state()).toBe('authorized');
  });
});
