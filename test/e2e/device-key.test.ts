/**
 * A changed device key, end to end (issue 13): the key file of a signed-in printer with held jobs is deleted, replaced
 * or truncated while it is off. The boot must say so (status, event log, process log, boot report) and go to
 * reauthRequired with reason device-key-changed instead of claiming "Authenticated"; no token may leak and nothing may
 * crash on the sealed cache the new key cannot open; the jobs stay held and go out exactly once after a new sign-in.
 *
 * The key file is damaged while the old boot runs: the firmware reads its key once at boot, so this is the same as
 * damaging it while the power is off (the simulator's power cycle has no pause to do it in).
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifyImage } from '../../src/nvram/inspect.ts';
import { RECIPIENT, SCANNER, cachedTokens, jobOf, signIn, startE2E, submitScan, waitForState, type E2ESim } from './support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const KEY_FAULTS: [string, (keyFile: string) => Promise<void>][] = [
  ['deleted', (k) => rm(k)],
  ['replaced', (k) => writeFile(k, randomBytes(32), { mode: 0o600 })],
  ['truncated', (k) => truncate(k, 7)],
];

describe('a changed device key', () => {
  it.each(KEY_FAULTS)('%s: boots into reauthRequired (device-key-changed), jobs held, delivered once after a new sign-in', async (_name, damage) => {
    sim = await startE2E();
    await signIn(sim);
    // A held job: Exchange refuses it permanently (SMTP AUTH off for the tenant), and a second one queued behind it.
    sim.twin!.control.patchUser(SCANNER, { smtpAuthEnabled: null });
    sim.twin!.control.patchTenant({ smtpAuthEnabled: false });
    const first = await submitScan(sim, 'Scan before the key change');
    await sim.device.idle();
    expect(sim.device.state()).toBe('sendFailure');
    expect(jobOf(sim, first.id).status).toBe('held');
    const second = await submitScan(sim, 'Second scan');
    await sim.device.idle();
    expect(jobOf(sim, second.id).status).toBe('queued');
    const tokens = Object.values(cachedTokens(sim)).flat();
    expect(tokens.length).toBeGreaterThan(0);

    const nvramFile = path.join(sim.stateDir, 'nvram.json');
    const keyFile = path.join(sim.stateDir, 'secure-element.key');
    await damage(keyFile);
    // `mfp-sim nvram verify` sees it before the printer boots (read only: it creates or replaces nothing).
    const verdict = await verifyImage(nvramFile, undefined, keyFile);
    expect(verdict).toMatchObject({ ok: false, reason: expect.stringMatching(/device key changed/) });
    await sim.powerCycle(0);

    // Status, boot report, event log and process log all say what happened.
    const status = sim.device.status();
    expect(status).toMatchObject({ state: 'reauthRequired', account: SCANNER, jobId: null, tokenExpiresAt: null, lastError: { reason: 'device-key-changed' } });
    const report = sim.device.bootReport();
    expect(report.reasons.map((r) => r.code)).toContain('device-key-changed');
    expect(report.transitions.map((t) => `${t.from}→${t.to} ${t.reason}`)).toEqual(['sendFailure→reauthRequired device-key-changed']);
    const events = sim.device.eventLog();
    expect(events.some((e) => e.kind === 'nvram.recovered' && e.data?.reason === 'device-key-changed')).toBe(true);
    expect(events.some((e) => e.kind === 'transition' && e.message === 'sendFailure → reauthRequired on POWER_CYCLE' && e.data?.reason === 'device-key-changed')).toBe(true);
    expect(sim.logs.some((l) => /"level":40/.test(l) && /device key changed/.test(l))).toBe(true);
    // The jobs wait, both held for the sign-in; none is failed or lost.
    for (const j of [first, second]) expect(jobOf(sim, j.id)).toMatchObject({ status: 'held', reply: 'held: re-authentication required (device-key-changed)' });
    // The cache the new key cannot open is gone from the image (not carried to the next boot), and nothing leaked.
    expect(cachedTokens(sim).refreshTokens).toEqual([]);
    expect(sim.internals.nvram.data.secrets).toEqual({});
    const image = (await readFile(nvramFile)).toString('latin1');
    const logs = sim.logs.join('\n');
    for (const t of tokens) {
      expect(image.includes(t)).toBe(false);
      expect(logs.includes(t)).toBe(false);
    }
    expect((await verifyImage(nvramFile, undefined, keyFile)).ok).toBe(true);
    expect(sim.twin!.control.messages(RECIPIENT)).toHaveLength(0);

    // The admin signs in again; the tenant allows SMTP AUTH again: both jobs go out, once each.
    sim.twin!.control.patchTenant({ smtpAuthEnabled: true });
    await sim.device.send({ type: 'START_AUTH' });
    await sim.device.idle();
    expect(sim.device.state()).toBe('codePending');
    sim.twin!.control.approveDeviceCode(sim.device.status().userCode!, SCANNER);
    await waitForState(sim, 'authorized');
    await sim.device.idle();
    expect(jobOf(sim, first.id).status).toBe('sent');
    expect(jobOf(sim, second.id).status).toBe('sent');
    expect(sim.twin!.control.messages(RECIPIENT).map((m) => m.messageId).sort()).toEqual([first.messageId, second.messageId].sort());

    // The next boot is clean: the new sign-in opens with the key on disk, no key change is found again.
    await sim.powerCycle(0);
    expect(sim.device.state()).toBe('authorized');
    expect(sim.device.bootReport().reasons.map((r) => r.code)).not.toContain('device-key-changed');
    expect(cachedTokens(sim).refreshTokens).toHaveLength(1);
  });
});
