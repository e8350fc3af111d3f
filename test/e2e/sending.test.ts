/** Submissions that Exchange refuses or that the network breaks, end to end, and a power cut in the middle of one. */
import { afterEach, describe, expect, it } from 'vitest';
import { faultTaken } from '../cloud/journal/events.ts';
import { RECIPIENT, SCANNER, SETTINGS, cachedTokens, jobOf, signIn, startE2E, submitScan, type E2ESim } from './support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('sending', () => {
  it('SMTP AUTH disabled for the tenant: sendFailure 5.7.139, permanent, no retry scheduled', async () => {
    sim = await startE2E();
    await signIn(sim);
    sim.twin!.control.patchUser(SCANNER, { smtpAuthEnabled: null }); // follow the tenant
    sim.twin!.control.patchTenant({ smtpAuthEnabled: false });
    const job = await submitScan(sim);
    await sim.device.idle();
    const status = sim.device.status();
    expect(status).toMatchObject({ state: 'sendFailure', retryAt: null, lastError: { reason: 'smtp-auth-disabled', code: { kind: 'smtp', value: '5.7.139' } } });
    expect(status.lastError!.reply).toMatch(/^535 5\.7\.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant/);
    // No retry is coming: the job waits for the operator (RETRY or DISMISS), held.
    expect(jobOf(sim, job.id).status).toBe('held');
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(0);
  });

  it('Send As denied at MAIL FROM (550 5.7.60) and after DATA (554 5.2.0 SendAsDenied)', async () => {
    sim = await startE2E();
    await signIn(sim, { ...SETTINGS, adminEmailAddress: 'megan@contoso.com' });
    const first = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'send-as-denied', code: { kind: 'smtp', value: '5.7.60' } } });
    await sim.device.send({ type: 'DISMISS' });
    expect(jobOf(sim, first.id).status).toBe('failed');

    sim.twin!.control.patchTenant({ sendAsDeniedAfterData: true });
    await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'send-as-denied', code: { kind: 'smtp', value: '5.2.0' } } });
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(0);
  });

  it('432 4.3.2 throttling is transient: the job goes out on the retry deadline', async () => {
    sim = await startE2E();
    await signIn(sim);
    sim.twin!.faults.add({
      target: 'smtp.auth',
      action: { kind: 'reply', reply: '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.' },
    });
    const job = await submitScan(sim);
    await sim.device.idle();
    const status = sim.device.status();
    expect(status).toMatchObject({ state: 'sendFailure', lastError: { reason: 'throttled', code: { kind: 'smtp', value: '4.3.2' } } });
    expect(status.retryAt).toBe(sim.clock.now() + 30_000);
    await sim.advance(29_999);
    expect(jobOf(sim, job.id).status).toBe('queued');
    await sim.advance(1);
    expect(jobOf(sim, job.id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('the network drops during a send (connect and DATA), then recovers', async () => {
    sim = await startE2E();
    await signIn(sim);
    sim.twin!.faults.add({ target: 'smtp.data', action: { kind: 'drop' } });
    sim.twin!.faults.add({ target: 'smtp.connect', action: { kind: 'drop' } });
    const job = await submitScan(sim);
    await sim.device.idle();
    // Which fault hits first does not matter: each is a transient network failure with a retry on the clock.
    expect(sim.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'network' } });
    await sim.advance(sim.device.status().retryAt! - sim.clock.now());
    expect(sim.device.status()).toMatchObject({ state: 'sendFailure', lastError: { reason: 'network' } });
    await sim.advance(sim.device.status().retryAt! - sim.clock.now());
    expect(jobOf(sim, job.id)).toMatchObject({ status: 'sent', attempts: 3 });
    expect(sim.twin!.control.messages(RECIPIENT).map((m) => m.messageId)).toEqual([job.messageId]);
  });

  it('535 5.7.3 once: the device forces a refresh and resends with the new token', async () => {
    sim = await startE2E();
    await signIn(sim);
    const before = cachedTokens(sim).accessTokens[0];
    sim.twin!.faults.add({ target: 'smtp.auth', action: { kind: 'reply', reply: '535 5.7.3 Authentication unsuccessful [SN2PR00CA0018.namprd00.prod.outlook.com]' } });
    const transitions: string[] = [];
    sim.device.subscribe((t) => transitions.push(t.to));
    const job = await submitScan(sim);
    await sim.device.idle();
    expect(transitions).toEqual(['sending', 'refreshing', 'sending', 'authorized']);
    expect(jobOf(sim, job.id)).toMatchObject({ status: 'sent', attempts: 2 });
    expect(cachedTokens(sim).accessTokens[0]).not.toBe(before);
  });

  it('a power cut while sending loses no acknowledged job: delivered after the reboot, same Message-ID', async () => {
    sim = await startE2E();
    await signIn(sim);
    const twin = sim.twin!;
    // A slow answer to the first message (wall time), so the plug can be pulled while the twin holds it.
    twin.faults.add({ target: 'smtp.data', action: { kind: 'delay', ms: 1500 } });
    const messageIn = faultTaken(twin.faults, 'smtp.data');
    const job = await submitScan(sim);
    await messageIn; // the whole message is at the twin, which has not answered yet
    expect(sim.device.state()).toBe('sending');
    await sim.powerCycle(60_000); // the power cut drops the connection (src/adapters/mail shutdown)
    await sim.device.idle();
    expect(jobOf(sim, job.id)).toMatchObject({ status: 'sent', attempts: 2 });
    // At least once: the twin files the held copy too when its 1.5 s of wall time are over (it had all of it; its
    // answer goes to a closed connection and is not journalled), and both carry the job's Message-ID.
    const filed = () => sim!.twin!.control.messages(RECIPIENT).length >= 2;
    for (const bound = Date.now() + 10_000; !filed() && Date.now() < bound; ) await new Promise((r) => setTimeout(r, 20));
    const copies = sim.twin!.control.messages(RECIPIENT);
    expect(copies).toHaveLength(2);
    expect(new Set(copies.map((m) => m.messageId))).toEqual(new Set([job.messageId]));
  });
});
