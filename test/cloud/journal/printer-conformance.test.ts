/**
 * Our own printer, seen only through the twin's wire journal: after the seed's steps (sign-in by device code, scans
 * sent with XOAUTH2, a refresh after a day) every rule passes, and the rules that can be judged are judged (not
 * "not applicable"). `mfp-sim cloud conformance` prints the same report from the outside and exits 0.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { conformanceReport } from '../../../src/cloud/journal/conformance.ts';
import { DAY, cachedTokens, signIn, startE2E, submitScan, type E2ESim } from '../../e2e/support.ts';

let sim: E2ESim | undefined;
afterAll(async () => {
  await sim?.close();
});

describe('our printer against the conformance rules', () => {
  it('passes every rule after signing in, sending, and sending again a day later', { timeout: 120_000 }, async () => {
    sim = await startE2E();
    const twin = sim.twin!;
    await signIn(sim);
    for (let i = 0; i < 2; i++) {
      await submitScan(sim, `Scan ${i}`);
      await sim.device.idle();
    }
    await sim.advance(DAY);
    await submitScan(sim, 'Scan after a day');
    await sim.device.idle();

    const report = conformanceReport(twin.journal.list(), twin.journal.dropped);
    const verdicts = Object.fromEntries(report.rules.map((r) => [r.id, r.verdict]));
    expect(report.rules.filter((r) => r.verdict === 'fail')).toEqual([]);
    expect(verdicts['device-code.poll-interval']).toBe('pass');
    expect(verdicts['smtp.starttls-before-auth']).toBe('pass');
    expect(verdicts['smtp.one-message-id-per-job']).toBe('pass');
    for (const id of ['device-code.stop-polling', 'device-code.offline-access', 'token.refresh-before-expiry', 'token.no-early-refresh', 'smtp.max-connections']) {
      expect(verdicts[id], id).toBe('pass');
    }
    // No token the device holds ever reached the journal.
    const journalText = JSON.stringify(twin.journal.list());
    const held = cachedTokens(sim);
    for (const t of [...held.accessTokens, ...held.refreshTokens, ...held.idTokens]) expect(journalText).not.toContain(t.slice(0, 40));
    expect(held.accessTokens.length + held.refreshTokens.length).toBeGreaterThan(0);
    const tls = twin.journal.list({ kind: 'smtp' }).filter((e) => e.kind === 'smtp' && e.command === 'TLS');
    expect(tls.length).toBeGreaterThan(0);

    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bin/mfp-sim.mjs', 'cloud', 'conformance', '--url', twin.entraUrl, '--ca', twin.caPath, '--format', 'text'],
      { timeout: 60_000 },
    ).catch((e: { stdout?: string; stderr?: string; code?: number }) => {
      throw new Error(`exit ${e.code}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
    });
    expect(stdout).toMatch(/^conformance: PASS/);
    expect(stdout).toContain('PASS           device-code.poll-interval');
  });
});
