/** The simulator behind the one printer interface: plain data, declared capabilities, the structured boot report. */
import { afterEach, describe, expect, it } from 'vitest';
import { localPrinter } from '../../src/sim/printer.ts';
import { requireCapability } from '../../src/device/printer.ts';
import { DAY, SCANNER, signIn, startE2E, type E2ESim } from '../e2e/support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('localPrinter', () => {
  it('declares what it offers, answers in plain data, and reports a power cycle as a structured boot report', async () => {
    sim = await startE2E();
    const printer = localPrinter(sim);
    expect(printer.capabilities).toEqual({ clock: true, nvramImage: true, effectHolds: false, power: true, secretAudit: true, trustStore: true });
    expect(() => requireCapability(printer, 'effectHolds')).toThrow(/does not offer effectHolds/);
    expect((await printer.bootReport()).reasons.map((r) => r.code)).toContain('first-boot');
    expect(await printer.can('START_AUTH')).toBe(false); // unconfigured: nothing to sign in with yet

    await signIn(sim);
    const status = await printer.status();
    expect(status).toMatchObject({ state: 'authorized', account: SCANNER });
    expect(JSON.parse(JSON.stringify(status))).toEqual(status);
    // Handed out frozen, the same object until something changes: no reader can change the printer through it.
    expect(await printer.status()).toBe(status);
    expect(() => Object.assign(status, { state: 'ready' })).toThrow(TypeError);
    const firstBoot = await printer.bootReport();
    expect(() => Object.assign(firstBoot.reasons[0]!, { code: 'forged' })).toThrow(TypeError);
    expect((await printer.bootReport()).reasons.map((r) => r.code)).toContain('first-boot');
    expect(await printer.can('SIGN_OUT')).toBe(true);

    const seen: string[] = [];
    printer.subscribe((n) => seen.push(`${n.from}→${n.to}`));
    const report = await requireCapability(printer, 'power').powerCycle(2 * DAY);
    // Off for two days: the access token's deadline passed while off, so the boot itself leaves authorized.
    expect(report).toMatchObject({ outcome: 'restored', stateBefore: 'authorized', stateAfter: 'tokenExpired' });
    expect(report.transitions.map((t) => `${t.from}→${t.to} on ${t.event}`)).toEqual(['authorized→tokenExpired on POWER_CYCLE']);
    expect(seen).toEqual([]); // the boot's own steps are in the report, not sent to subscribers
    // After the boot, notices reach subscribers of the printer (it follows the new runtime).
    await printer.send({ type: 'SIGN_OUT' });
    expect(seen).toEqual([`tokenExpired→${(await printer.status()).state}`]);
    expect((await printer.status()).state).toBe('ready');
    expect(status.state).toBe('authorized'); // the object handed out earlier still says what was true then
    expect(await printer.admin.check('not the password')).toBe(false);
  });

  it('offers the test-bench observations as data: armed deadlines, the image read back, a secret audit that answers counts', async () => {
    sim = await startE2E();
    const printer = localPrinter(sim);
    const audit = requireCapability(printer, 'secretAudit');
    await audit.watch();
    expect(await audit.check()).toEqual({ tokens: 0, inImage: 0 }); // nothing held yet
    await signIn(sim);
    const clock = requireCapability(printer, 'clock');
    const status = await printer.status();
    // The access deadline is the token's expiry less the skew, as the runtime armed it.
    expect(await clock.deadlines()).toEqual({ ACCESS_TOKEN_DEADLINE: status.tokenExpiresAt! - 5 * 60_000 });
    const back = await requireCapability(printer, 'nvramImage').readBack();
    expect(back).toMatchObject({ valid: true, reason: null, tokenCache: true });
    const found = await audit.check();
    expect(found.tokens).toBeGreaterThan(0);
    expect(found.inImage).toBe(0); // sealed: no token in plain text
    await printer.send({ type: 'SIGN_OUT' });
    expect((await requireCapability(printer, 'nvramImage').readBack()).tokenCache).toBe(false);
    // Signed out, the tokens held earlier are still looked for: the audit remembers them.
    expect((await audit.check()).tokens).toBe(found.tokens);
  });
});
