/**
 * TLS judged on the printer's clock and trust store, over real sockets: a dead RTC battery makes the twin's
 * certificates "not yet valid" for sign-in and sending; setting the date or NTP heals it without a restart and the
 * held job goes out; a root missing from the store is `unknown-ca` until it is imported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FIRMWARE_EPOCH } from '../../src/device/clockService.ts';
import { conformanceReport } from '../../src/cloud/journal/conformance.ts';
import { MINUTE, RECIPIENT, SETTINGS, jobOf, signIn, startE2E, submitScan, waitForState, type E2ESim } from './support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** Power cut with a dead RTC battery and NTP off: the printer boots believing it is 2024-01-01. */
async function bootAtEpoch(s: E2ESim): Promise<void> {
  s.deviceClock.rtc.setBattery(false);
  await s.deviceClock.idle();
  await s.powerCycle(MINUTE);
  expect(s.deviceClock.now()).toBe(FIRMWARE_EPOCH);
}

const tlsEvents = (s: E2ESim) => s.device.eventLog().filter((e) => e.data?.reason === 'cert-not-yet-valid');

describe('TLS on the device clock', () => {
  it('clock at the firmware epoch, NTP off: the send fails cert-not-yet-valid; setting the date sends the held job, no restart', async () => {
    sim = await startE2E();
    await signIn(sim);
    await bootAtEpoch(sim);
    const job = await submitScan(sim);
    await sim.device.idle();
    const status = sim.device.status();
    expect(status.state).toBe('sendFailure');
    expect(status.lastError).toMatchObject({ reason: 'cert-not-yet-valid', code: { kind: 'socket', value: 'CERT_NOT_YET_VALID' } });
    expect(status.lastError!.reply).toMatch(/valid from 2025-01-01.*clock says 2024-01-01/);
    expect(jobOf(sim, job.id).status).not.toBe('sent');
    expect(tlsEvents(sim).length).toBeGreaterThan(0);
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(0);

    // The twin's conformance report notes the client that gave up on TLS after STARTTLS (a note, not a failed rule).
    const report = conformanceReport(sim.twin!.journal.list({}));
    expect(report.tlsRefusals).toEqual([expect.objectContaining({ client: '127.0.0.1', sessions: 1 })]);
    expect(report.passed).toBe(true);

    await sim.deviceClock.setDateTime(sim.clock.now());
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
    expect(sim.device.state()).toBe('authorized');
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(1);
  });

  it('clock at the epoch: the sign-in fails cert-not-yet-valid (CODE_FAILED); after the date is set it succeeds', async () => {
    sim = await startE2E();
    await bootAtEpoch(sim);
    await sim.device.saveSettings(SETTINGS);
    await sim.device.send({ type: 'START_AUTH' });
    await sim.device.idle();
    expect(sim.device.status()).toMatchObject({ state: 'authFailed', lastError: { reason: 'cert-not-yet-valid' } });
    await sim.deviceClock.setDateTime(sim.clock.now());
    await sim.device.send({ type: 'START_AUTH' });
    await sim.device.idle();
    expect(sim.device.state()).toBe('codePending');
  });

  it('clock at the epoch, then NTP turned on: the printer corrects its clock and sends the held job by itself', async () => {
    sim = await startE2E();
    await signIn(sim);
    await bootAtEpoch(sim);
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status().lastError?.reason).toBe('cert-not-yet-valid');
    await sim.deviceClock.saveTimeSettings({ ntpEnabled: true });
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
  });

  it('a clock ten years ahead: the refresh fails cert-expired (transient, tokens kept); setting the date renews', async () => {
    sim = await startE2E();
    await signIn(sim);
    sim.deviceClock.rtc.step(10 * 365 * 24 * 60 * MINUTE);
    await sim.device.idle();
    await sim.advance(MINUTE); // the access deadline passed on the device's clock: the next send must refresh
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status().lastError?.reason).toBe('cert-expired');
    expect(sim.device.status().account).not.toBeNull();
    await sim.deviceClock.setDateTime(sim.clock.now());
    await sim.device.idle();
    await waitForState(sim, 'authorized');
    expect(jobOf(sim, job.id).status).toBe('sent');
  });
});

describe('the trust store', () => {
  it('the factory root is the twin\'s; without it the printer says unknown-ca; importing it back lets the job go', async () => {
    sim = await startE2E();
    await signIn(sim);
    const [root] = sim.trustStore.list();
    expect(root).toMatchObject({ origin: 'factory', subject: 'mfp-oauth-sim twin CA', selfSigned: true });
    await sim.trustStore.remove(root!.fingerprint);
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status().lastError?.reason).toBe('unknown-ca');
    await sim.trustStore.importPem(sim.twin!.caPem);
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
    // Deleted as a factory root, imported by the admin: it stays after a reboot, and only once.
    await sim.powerCycle(MINUTE);
    expect(sim.trustStore.list().map((c) => c.origin)).toEqual(['imported']);
  });

  it('refuses a server certificate (not a CA) and malformed PEM with a reason, and changes nothing', async () => {
    sim = await startE2E();
    const before = structuredClone(sim.device.nvram.data.trust);
    const { readFile } = await import('node:fs/promises');
    const serverPem = await readFile(`${sim.dir}/cloud/server.pem`, 'utf8');
    await expect(sim.trustStore.importPem(serverPem)).rejects.toMatchObject({ reason: 'not-a-ca' });
    await expect(sim.trustStore.importPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')).rejects.toMatchObject({ reason: 'malformed' });
    await expect(sim.trustStore.importPem('hello')).rejects.toMatchObject({ reason: 'malformed' });
    await expect(sim.trustStore.importPem(sim.twin!.caPem)).rejects.toMatchObject({ reason: 'duplicate' });
    await expect(sim.trustStore.remove('AA:BB')).rejects.toMatchObject({ reason: 'not-found' });
    expect(sim.device.nvram.data.trust).toEqual(before);
  });
});

describe('the twin\'s root migration', () => {
  it('without cross-signing: a printer without the new root fails unknown-ca; importing the root sends the held job', async () => {
    sim = await startE2E();
    await signIn(sim);
    const before = sim.twin!.pki.status().root;
    const migrated = await sim.twin!.pki.migrate();
    expect(migrated.root.fingerprint).not.toBe(before.fingerprint);
    expect(migrated.previous.map((r) => r.fingerprint)).toEqual([before.fingerprint]);
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'unknown-ca' } });
    expect(conformanceReport(sim.twin!.journal.list({})).tlsRefusals).toEqual([expect.objectContaining({ sessions: 1 })]);
    await sim.trustStore.importPem(sim.twin!.pki.rootPem());
    await sim.device.idle();
    expect(jobOf(sim, job.id).status).toBe('sent');
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(1);
  });

  it('cross-signed, scheduled at a virtual time: old-root printers keep working through the switch', async () => {
    sim = await startE2E();
    await signIn(sim);
    const at = sim.clock.now() + 60 * MINUTE;
    const scheduled = await sim.twin!.pki.migrate({ at, crossSign: true });
    expect(scheduled.scheduled).toMatchObject({ at: new Date(at).toISOString(), crossSign: true });
    await sim.advance(60 * MINUTE);
    expect(sim.twin!.pki.status()).toMatchObject({ scheduled: null, crossSigned: true });
    const job = await submitScan(sim);
    await sim.device.idle();
    await waitForState(sim, ['authorized', 'tokenExpired']);
    expect(jobOf(sim, job.id).status).toBe('sent');
    // The refresh after the switch went through the cross-certificate as well.
    expect(sim.device.status().lastError).toBeNull();
  });

  it('refuses a second migration while one is scheduled, changing nothing', async () => {
    sim = await startE2E();
    const at = sim.clock.now() + 60 * MINUTE;
    await sim.twin!.pki.migrate({ at });
    const status = sim.twin!.pki.status();
    await expect(sim.twin!.pki.migrate()).rejects.toThrow(/already scheduled/);
    expect(sim.twin!.pki.status()).toEqual(status);
    expect(sim.twin!.pki.cancel().scheduled).toBeNull();
  });
});
