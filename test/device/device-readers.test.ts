/**
 * What the device hands its readers and what its boot owes them (src/device/device.ts): the NVRAM's health and the
 * read-back of the image, copies no reader can change, a boot report that follows the boot until it settles, the
 * token cache as MSAL reads it, idle() that waits for the network, the device's name on its log lines, a spool
 * reconciliation that fails for a reason other than the disk, and the spool probe of a failing disk.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { DeviceHarness, OAUTH_SETTINGS } from '../support/deviceHarness.ts';
import { boot, newRun } from '../support/faultyDevice.ts';
import { openNvram } from '../../src/nvram/index.ts';
import { createDevice, TOKEN_CACHE_SECRET } from '../../src/device/device.ts';
import { createLogger } from '../../src/log/logger.ts';
import { nodeSpoolIo, type SpoolIo } from '../../src/device/spool-io.ts';
import { protocolCode, SendFailure, SignInFailure } from '../../src/device/failures.ts';
import { damageImage } from '../support/nvramFaults.ts';

let h: DeviceHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const JOB = { to: ['bob@contoso.com'], subject: 'scan' };
/** Lets queued callbacks and I/O run a few rounds (no wall-clock time is measured). */
const turns = async (n = 20) => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Boots the harness's NVRAM and device like DeviceHarness.boot(), but hands the device over before it settles. */
async function bootUnsettled(h: DeviceHarness): Promise<void> {
  h.nvram = await openNvram({ file: h.file, now: () => h.clock.now(), factoryDevice: { id: 'dev-test-0001', serial: 'SIM0001' } });
  h.device = await createDevice({ nvram: h.nvram, clock: h.clock, ports: h.fake.ports, spoolDir: path.join(h.dir, 'spool') });
}

describe('NVRAM health and the image read back', () => {
  it('health names the banks, the capacity and the sealed secrets by name only', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const health = h.device.nvramHealth();
    expect(health).toMatchObject({ file: 'nvram.json', capacityBytes: 64 * 1024 });
    expect(health.banks.map((b) => b.name)).toEqual(['A', 'B']);
    expect(health.banks.some((b) => b.valid && b.seq > 0)).toBe(true);
    expect(health.secrets.map((s) => s.name)).toContain(TOKEN_CACHE_SECRET);
    expect(JSON.stringify(health)).not.toContain('at-secret-1');
  });

  it('says whether the stored image holds a token cache: not before the sign-in, yes after it', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    expect(await h.device.inspectImage()).toMatchObject({ valid: true, tokenCache: false });
    await h.signIn();
    expect(await h.device.inspectImage()).toMatchObject({ valid: true, tokenCache: true });
  });

  it('an image gone from under the running device reads back as invalid, without a token cache, not as an error', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await rm(h.file);
    const image = await h.device.inspectImage();
    expect(image).toMatchObject({ valid: false, content: null, tokenCache: false });
    expect(image.reason).toMatch(/no image file/);
  });
});

describe('copies handed to readers', () => {
  it('a nested field of the status or the boot report cannot be changed by a reader, so the next reader sees the device', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    await h.device.send({ type: 'START_AUTH' });
    await h.device.idle();
    h.fake.lastSignIn().fail(new SignInFailure({ kind: 'declined', reason: 'authorization_declined' }));
    await h.device.idle();
    const status = h.device.status();
    expect(status.lastError?.reason).toBe('authorization_declined');
    expect(() => ((status.lastError as { reason: string }).reason = 'tampered')).toThrow(TypeError);
    expect(h.device.status().lastError?.reason).toBe('authorization_declined');
    const report = h.device.bootReport();
    expect(() => (report.reasons as unknown[]).push({ code: 'tampered' })).toThrow(TypeError);
    expect(h.device.bootReport().reasons.map((r) => r.code)).toEqual(['first-boot']);
  });
});

describe('the boot report before the device settles', () => {
  it('read while the boot’s refresh is on the wire, it follows the boot to the state it settles in', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.advance(56 * 60_000); // the access token lapses: a job now needs a refresh first
    h.fake.gateRefreshes();
    await h.device.submitJob(JOB);
    await turns();
    expect(h.device.state()).toBe('refreshing');
    h.device.stop(); // the power goes with the refresh on the wire
    await h.nvram.close();
    await h.clock.advance(1_000);
    const open = h.fake.gateRefreshes();
    await bootUnsettled(h);
    await turns();
    const early = h.device.bootReport();
    open();
    await h.device.idle();
    const settled = h.device.bootReport();
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['scan']);
    expect(settled.stateAfter).toBe(h.device.state());
    expect(settled.stateAfter).not.toBe(early.stateAfter);
    expect(settled.transitions.length).toBeGreaterThan(early.transitions.length);
    expect(settled.transitions.slice(0, early.transitions.length)).toEqual(early.transitions);
  });
});

describe('the token cache as MSAL reads it', () => {
  it('after a sign-out MSAL finds no tokens (the cache opened before is not handed out again)', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    expect(h.fake.tokenCache!.load()).toContain('at-secret-1');
    await h.device.send({ type: 'SIGN_OUT' });
    await h.device.idle();
    expect(h.fake.tokenCache!.load()).toBeUndefined();
    expect(h.device.heldTokenTexts()).toEqual([]);
  });

  it('within a refresh, MSAL reads back the cache it just wrote, before the device has committed it', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    const committed = h.fake.tokenCache!.load();
    await h.advance(56 * 60_000); // the access token lapses
    const open = h.fake.gateRefreshes();
    await h.device.submitJob(JOB); // the job needs a refresh first: it starts and waits at the gate
    await turns();
    expect(h.device.state()).toBe('refreshing');
    const written = JSON.stringify({ fakeRefreshToken: 'rt-written-mid-call', fakeAccessToken: 'at-written-mid-call' });
    h.fake.tokenCache!.stage(written);
    expect(h.fake.tokenCache!.load()).toBe(written);
    expect(h.fake.tokenCache!.load()).not.toBe(committed);
    open();
    await h.device.idle();
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['scan']);
  });
});

describe('idle()', () => {
  it('waits for a refresh on the wire, not only for queued events', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    await h.advance(56 * 60_000);
    const open = h.fake.gateRefreshes();
    await h.device.submitJob(JOB);
    await turns();
    expect(h.device.state()).toBe('refreshing');
    let settled = false;
    const idle = h.device.idle().then(() => (settled = true));
    await turns();
    expect(settled).toBe(false);
    open();
    await idle;
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['scan']); // idle() came once the job was out
  });
});

describe('the process log', () => {
  it('every line the device writes names the device, so a fleet’s shared log tells printers apart', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    h = await DeviceHarness.create();
    await h.device.saveSettings(OAUTH_SETTINGS);
    h.device.stop();
    await h.nvram.close();
    h.nvram = await openNvram({ file: h.file, now: () => h!.clock.now() });
    // A snapshot the statechart cannot take: the device says so in its log (a warning) and boots from the settings.
    await h.nvram.update((d) => {
      d.snapshot = { value: 'noSuchState', context: {}, since: 0 } as never;
    });
    h.device = await createDevice({ nvram: h.nvram, clock: h.clock, ports: h.fake.ports, spoolDir: path.join(h.dir, 'spool'), logger: createLogger({ level: 'debug', destination: sink }) });
    await h.device.idle();
    await turns();
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.device).toBe('dev-test-0001');
  });
});

describe('a spool reconciliation that fails for a reason other than the disk', () => {
  it('is logged and done with: the queue does not wait for it for ever', async () => {
    h = await DeviceHarness.create();
    await h.signIn();
    // A spool whose listing breaks with a plain error (no errno: not the disk) at every boot from now on.
    const broken: SpoolIo = { ...nodeSpoolIo, readdir: () => Promise.reject(new Error('listing broke')) };
    h.spoolIo = broken;
    await h.powerCycle(1_000);
    await h.device.submitJob(JOB);
    await h.advance(2 * 60_000);
    expect(h.fake.sent.map((m) => m.subject)).toEqual(['scan']);
  });
});

describe('the spool probe of a failing disk', () => {
  it('counts each failed probe in the status, and leaves no probe file behind once the disk works', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mfp-probe-'));
    const r = await newRun(dir);
    try {
      await boot(r);
      await r.h.signIn();
      r.disk.inject({ kind: 'write', at: 1, errno: 'ENOSPC', persistent: true, area: 'spool' });
      await expect(r.h.device.submitJob(JOB)).rejects.toMatchObject({ code: 'storage-full' });
      expect(r.h.device.status().storageFault).toMatchObject({ failures: 1, operation: 'write', area: 'spool' });
      await r.h.advance(30_000); // probes at 1 s, 6 s and 21 s, each refused
      expect(r.h.device.status().storageFault).toMatchObject({ reason: 'storage-full', area: 'spool', failures: 4 });
      r.disk.clear();
      await r.h.advance(90_000);
      expect(r.h.device.status().storageFault).toBeNull();
      const names = readdirSync(path.join(dir, 'spool'));
      expect(names.filter((n) => n.includes('probe'))).toEqual([]);
    } finally {
      await r.h.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('saving settings that seal two secrets at once', () => {
  it('the event log names both, apart', async () => {
    h = await DeviceHarness.create();
    await h.device.saveSettings({
      ...OAUTH_SETTINGS,
      authMethod: 'oauth2AppOnly',
      appTenantId: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b',
      appClientId: '5d7e9f1a-2b3c-4d5e-8f6a-7b8c9d0e1f2a',
      clientSecret: 'Xq8~AppOnly.Secret-Contoso-2026',
      smtpPassword: 'Basic-Passw0rd-for-scanner',
    });
    const saved = h.device.eventLog().filter((e) => e.kind === 'settings').map((e) => e.message);
    expect(saved).toEqual(['SMTP settings saved (method oauth2AppOnly; sealed smtp-password, app-client-secret)']);
  });
});

/** A signed-in printer whose first job Exchange refused for good: the queue is parked on it (sendFailure). */
async function parkedOnARefusal(h: DeviceHarness) {
  await h.signIn();
  h.fake.sendResults.push(new SendFailure({ category: 'other', transient: false, reply: '550 5.7.1 refused', code: protocolCode('smtp', '5.7.1') }));
  const failed = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'refused' });
  await h.device.idle();
  expect(h.device.state()).toBe('sendFailure');
  return failed;
}

describe('a boot from an older bank that parked the queue on a job dismissed since', () => {
  it('does the operator’s dismissal again instead of showing a failure that is over, and the queue moves on', async () => {
    h = await DeviceHarness.create();
    const failed = await parkedOnARefusal(h);
    await h.device.send({ type: 'DISMISS' }); // the newest bank: dismissed, and the spool has its done record
    await h.device.idle();
    expect(h.device.job(failed.id)?.status).toBe('failed');
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'flip-newer-payload'); // the dismissal's bank is torn: the boot reads the parked one
    await h.boot();
    expect(h.nvram.boot.findings.map((f) => f.code)).toEqual(['bank-invalid']);
    expect(h.device.job(failed.id)?.status).toBe('failed');
    expect(h.device.state()).not.toBe('sendFailure');
    const next = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'next' });
    await h.device.idle();
    expect(h.device.job(next.id)?.status).toBe('sent');
  });
});

describe('a boot from an older bank that parked the queue on a job still failed', () => {
  it('keeps the failure for the operator even when the boot reconciled the spool for another job', async () => {
    h = await DeviceHarness.create();
    const failed = await parkedOnARefusal(h);
    const later = await h.device.submitJob({ to: ['bob@contoso.com'], subject: 'behind it' }); // acknowledged by the newest bank only
    await h.device.idle();
    h.device.stop();
    await h.nvram.close();
    await damageImage(h.file, 'flip-newer-payload');
    await h.boot();
    expect(h.device.bootReport().reasons.map((r) => r.code)).toContain('spool-reconciled'); // the later job came back from the spool
    expect(h.device.state()).toBe('sendFailure'); // the parked job is still the operator's to retry or dismiss
    expect(h.device.job(failed.id)?.status).toBe('held');
    expect(h.device.job(later.id)?.status).toBe('queued');
  });
});
