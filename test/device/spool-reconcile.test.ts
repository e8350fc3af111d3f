/**
 * Spool and NVRAM agree after a bank fallback (issue 13, item 4): a job a lost newer bank recorded as sent is not
 * re-sent nor failed, a job it acknowledged is not dropped, leftovers of an interrupted submission are not sent, and
 * content leaves the spool only once no valid bank can still point at it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { DeviceHarness } from '../support/deviceHarness.ts';
import { damageImage } from '../support/nvramFaults.ts';
import { protocolCode, SendFailure } from '../../src/device/failures.ts';
import { FaultyDisk } from '../../src/util/faulty-io.ts';
import { Spool } from '../../src/device/spool.ts';
import type { JobRecord } from '../../src/nvram/schema.ts';

let h: DeviceHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const spoolFile = (h: DeviceHarness, name: string) => path.join(h.dir, 'spool', name);
const reconciled = (h: DeviceHarness) => h.device.eventLog().filter((e) => e.kind === 'spool.reconciled');

/** Powers the device off right after the commit of the step that takes it to `to` (its after-step work still runs). */
function powerOffAfter(h: DeviceHarness, event: string): Promise<void> {
  return new Promise((resolve) => {
    const off = h.device.subscribe((n) => {
      if (n.event !== event) return;
      off();
      h.device.stop();
      resolve();
    });
  });
}

async function reboot(h: DeviceHarness): Promise<void> {
  h.device.stop();
  await h.device.idle();
  await h.nvram.close();
  await h.boot();
}

/**
 * Signed in, a mail on the wire and one waiting; the power goes right after the commit that records the first as
 * sent (its done record is written): the newer bank has it sent, the older one still sending.
 */
async function sentThenPowerCut(h: DeviceHarness, subjects: [string, string] = ['delivered', 'waiting']): Promise<[JobRecord, JobRecord]> {
  await h.signIn();
  const release = h.fake.gateSends();
  const sent = await h.device.submitJob({ to: ['bob@contoso.com'], subject: subjects[0] });
  for (let i = 0; i < 2000 && h.device.state() !== 'sending'; i++) await new Promise((r) => setTimeout(r, 5));
  const waiting = await h.device.submitJob({ to: ['bob@contoso.com'], subject: subjects[1] });
  const off = powerOffAfter(h, 'SENT');
  release();
  await off;
  await h.device.idle();
  return [sent, waiting];
}

/** Signed in, a mail refused for good and dismissed; the power goes right after the DISMISS commit. */
async function dismissedThenPowerCut(h: DeviceHarness): Promise<JobRecord> {
  await h.signIn();
  h.fake.sendResults.push(new SendFailure({ category: 'quota', transient: false, reply: '550 5.4.5 Daily user sending quota exceeded.', code: protocolCode('smtp', '5.4.5') }));
  const refused = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'refused' });
  await h.device.idle();
  expect(h.device.state()).toBe('sendFailure');
  const off = powerOffAfter(h, 'DISMISS');
  await h.device.send({ type: 'DISMISS' });
  await off;
  await h.device.idle();
  return refused;
}

describe('spool reconciliation at boot', () => {
  it('the newer bank (job sent) is damaged: the older bank still has the job pending; it is recorded as sent, not resent, and the queue moves', async () => {
    h = await DeviceHarness.create();
    const [delivered, waiting] = await sentThenPowerCut(h);
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['delivered']);
    // The done record follows the content in the job's own file: no file of its own.
    const [content, record] = (await fs.readFile(spoolFile(h, `${delivered.id}.json`), 'utf8')).split('\n');
    expect(JSON.parse(content!)).toMatchObject({ messageId: delivered.messageId });
    expect(JSON.parse(record!)).toMatchObject({ status: 'sent', messageId: delivered.messageId });
    expect(existsSync(spoolFile(h, `${delivered.id}.done`))).toBe(false);

    // The commit that recorded the job as sent is the newer bank; flip a byte of its payload.
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'flip-newer-payload');
    await h.boot();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['bank-invalid']);
    expect(h.device.job(delivered.id)).toMatchObject({ status: 'sent' });
    const report = h.device.bootReport();
    expect(report.outcome).toBe('recovered');
    expect(report.reasons.map((r) => r.code)).toEqual(['bank-invalid', 'spool-reconciled']);
    expect(reconciled(h)).toHaveLength(1);
    expect(reconciled(h)[0]!.data).toMatchObject({ finished: [{ id: delivered.id, status: 'sent' }], adopted: [], missing: [] });
    await h.device.idle();
    expect(h.device.state()).toBe('authorized');
    expect(h.device.job(waiting.id)).toMatchObject({ status: 'sent' });
    // Delivered once, never reported failed; the waiting job went out after it.
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['delivered', 'waiting']);
    expect(h.device.jobs().filter((j) => j.status === 'failed')).toEqual([]);
    // Two commits later neither bank can point at the delivered job: its files are gone.
    await h.device.saveSettings({ adminEmailAddress: '' });
    expect(existsSync(spoolFile(h, `${delivered.id}.json`))).toBe(false);
  });

  it('a done record torn by the cut counts as absent (it is written in place): the job the older bank has pending goes again, at least once', async () => {
    h = await DeviceHarness.create();
    const [delivered] = await sentThenPowerCut(h);
    const file = spoolFile(h, `${delivered.id}.json`);
    const content = (await fs.readFile(file, 'utf8')).split('\n')[0]!;
    await fs.writeFile(file, `${content}\n{"status":"sent","rep`);
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'flip-newer-payload');
    await h.boot();
    expect(reconciled(h).flatMap((e) => (e.data as { finished?: unknown[] }).finished ?? [])).toEqual([]);
    await h.device.idle();
    expect(h.device.job(delivered.id)).toMatchObject({ status: 'sent' });
    expect(h.fake.sent.filter((m) => m.subject === 'delivered')).toHaveLength(2);
  });

  it('the newer bank (job acknowledged) is lost: the job is taken back from the spool and sent with its own Message-ID', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const release = h.fake.gateSends();
    const first = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'first' });
    for (let i = 0; i < 2000 && h.device.state() !== 'sending'; i++) await new Promise((r) => setTimeout(r, 5));
    // While the first is sending, the second's record is the newest commit: acknowledged by that bank alone.
    const second = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'second' });
    h.device.stop(); // power off with the first submission still in flight
    await h.nvram.close();
    await damageImage(h.file, 'zero-newer-header');
    release(); // the first submission's answer comes too late for the device that asked: it is dropped
    await h.boot();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['bank-erased']);
    expect(reconciled(h)[0]!.data).toMatchObject({ adopted: [second.id] });
    await h.device.idle();
    expect(h.device.job(first.id)).toMatchObject({ status: 'sent' });
    expect(h.device.job(second.id)).toMatchObject({ status: 'sent' });
    expect(h.fake.sent.filter((m) => m.subject === 'second').map((m) => m.messageId)).toEqual([second.messageId]);
  });

  it('an image lost altogether: acknowledged jobs come back from the spool, held until the printer is set up and signed in', async () => {
    h = await DeviceHarness.create();
    const [first, second] = await sentThenPowerCut(h, ['first', 'second']);
    h.device.stop();
    await h.nvram.close();
    await fs.truncate(h.file, 0);
    await h.boot();
    await h.device.idle();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['image-lost']);
    expect(h.device.bootReport().reasons.map((r) => r.code)).toEqual(['image-lost', 'first-boot', 'spool-reconciled']);
    // The delivered one is back in the job log as sent; the pending one is held (no settings, no sign-in).
    expect(h.device.job(first.id)).toMatchObject({ status: 'sent', messageId: first.messageId });
    expect(h.device.job(second.id)).toMatchObject({ status: 'held', messageId: second.messageId, subject: 'second' });
    await h.signIn();
    expect(h.device.job(second.id)).toMatchObject({ status: 'sent' });
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['first', 'second']);
  });

  it('a clean boot does not send the leftover of an interrupted submission, and retires it after the next commit', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await fs.mkdir(path.join(h.dir, 'spool'), { recursive: true });
    await fs.writeFile(spoolFile(h, 'interrupted.json'), JSON.stringify({ to: ['bob@contoso.com'], subject: 'never acknowledged', text: '', attachments: [] }));
    await fs.writeFile(spoolFile(h, 'torn.json.tmp'), '{"to":');
    await reboot(h);
    await h.device.idle();
    expect(h.device.jobs()).toEqual([]);
    expect(reconciled(h)).toEqual([]);
    expect(h.device.bootReport().reasons).toEqual([]);
    expect(existsSync(spoolFile(h, 'torn.json.tmp'))).toBe(false);
    expect(existsSync(spoolFile(h, 'interrupted.json'))).toBe(true); // the older bank is older still: harmless, kept
    await h.device.saveSettings({ adminEmailAddress: '' });
    expect(existsSync(spoolFile(h, 'interrupted.json'))).toBe(false);
    expect(h.fake.sent).toEqual([]);
  });

  it('content torn by a cut (written in place) after a boot that lost the newer bank: not taken back, nothing sent or failed, retired', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await fs.mkdir(path.join(h.dir, 'spool'), { recursive: true });
    await fs.writeFile(spoolFile(h, 'torn.json'), '{"to":["bob@contoso.com"],"subj');
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'zero-newer-header');
    await h.boot();
    await h.device.idle();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['bank-erased']);
    expect(reconciled(h).map((e) => (e.data as { adopted?: unknown[] }).adopted)).toEqual([[]]);
    expect(h.device.jobs()).toEqual([]);
    await h.device.saveSettings({ adminEmailAddress: '' });
    expect(existsSync(spoolFile(h, 'torn.json'))).toBe(false);
    expect(h.fake.sent).toEqual([]);
  });

  it('a pending job whose content vanished fails at boot with the reason instead of holding the queue', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings({ authMethod: 'off' });
    const lost = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'lost' });
    await h.device.idle();
    await fs.rm(spoolFile(h, `${lost.id}.json`));
    await reboot(h);
    expect(h.device.job(lost.id)).toMatchObject({ status: 'failed', reply: 'the job content is missing from the spool' });
    expect(reconciled(h)[0]!.data).toMatchObject({ missing: [lost.id] });
    await h.signIn();
    const next = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'next' });
    await h.device.idle();
    expect(h.device.job(next.id)).toMatchObject({ status: 'sent' });
  });
});

describe('spool reconciliation: a dismissal the older bank never saw', () => {
  it('the newer bank (job dismissed) is damaged: the older bank parked the queue in sendFailure; the job stays failed as dismissed and the queue moves', async () => {
    h = await DeviceHarness.create();
    const refused = await dismissedThenPowerCut(h);
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'flip-newer-payload');
    await h.boot();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['bank-invalid']);
    expect(h.device.job(refused.id)).toMatchObject({ status: 'failed', reply: '550 5.4.5 Daily user sending quota exceeded.' });
    expect(h.device.state()).toBe('authorized');
    const next = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'next' });
    await h.device.idle();
    expect(h.device.job(next.id)).toMatchObject({ status: 'sent' });
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['next']);
  });
});

describe('spool reconciliation on a spool the disk cannot read at boot', () => {
  /** A harness whose spool is on a FaultyDisk (the NVRAM on real files, so the fallback boot itself works). */
  async function onSpoolDisk(): Promise<{ h: DeviceHarness; disk: FaultyDisk }> {
    const disk = new FaultyDisk();
    h = await DeviceHarness.create(undefined, { spoolIo: disk.spoolIo() });
    return { h, disk };
  }

  /** Damages the newer bank and boots with every spool read failing: the reconciliation must wait, not guess. */
  async function fallbackBootOnUnreadableSpool(h: DeviceHarness, disk: FaultyDisk): Promise<void> {
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'flip-newer-payload');
    disk.inject({ kind: 'read', at: 1, errno: 'EIO', persistent: true, area: 'spool' });
    await h.boot();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['bank-invalid']);
    expect(h.device.status().storageFault).toMatchObject({ reason: 'spool-read-failed', area: 'spool' });
  }

  it('a job the lost bank recorded as sent is neither resent nor failed while the spool cannot be read; reconciled once it can', async () => {
    const { h, disk } = await onSpoolDisk();
    const [delivered, waiting] = await sentThenPowerCut(h);
    h.fake.sendGate = null;
    await fallbackBootOnUnreadableSpool(h, disk);
    await h.advance(10 * 60_000);
    // The older bank still says pending; the queue waits for the spool instead of sending it again.
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['delivered']);
    expect(h.device.jobs().filter((j) => j.status === 'failed')).toEqual([]);
    expect(reconciled(h)).toEqual([]);
    disk.clear();
    await h.advance(2 * 60_000);
    expect(h.device.status().storageFault).toBeNull();
    expect(reconciled(h)).toHaveLength(1);
    expect(reconciled(h)[0]!.data).toMatchObject({ finished: [{ id: delivered.id, status: 'sent' }], missing: [] });
    expect(h.device.job(delivered.id)).toMatchObject({ status: 'sent' });
    expect(h.device.job(waiting.id)).toMatchObject({ status: 'sent' });
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['delivered', 'waiting']);
  });

  it('a dismissal the older bank never saw: the queue parked in sendFailure moves once the spool reads', async () => {
    const { h, disk } = await onSpoolDisk();
    const refused = await dismissedThenPowerCut(h);
    await fallbackBootOnUnreadableSpool(h, disk);
    expect(h.device.state()).toBe('sendFailure'); // as the older bank says, until the spool tells otherwise
    disk.clear();
    await h.advance(2 * 60_000);
    expect(h.device.job(refused.id)).toMatchObject({ status: 'failed', reply: '550 5.4.5 Daily user sending quota exceeded.' });
    expect(h.device.state()).toBe('authorized');
    const next = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'next' });
    await h.device.idle();
    expect(h.device.job(next.id)).toMatchObject({ status: 'sent' });
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['next']);
  });
});
