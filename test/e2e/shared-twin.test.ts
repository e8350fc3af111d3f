/** Two printers, one twin and one clock (the fleet's shape): independent devices, and the twin outlives them. */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator } from '../../src/sim/simulator.ts';
import { silentLogger } from '../../src/log/logger.ts';
import { RECIPIENT, SETTINGS, signIn, startE2E, submitScan, type E2ESim } from './support.ts';

let owner: E2ESim | undefined;
afterAll(async () => {
  await owner?.close();
});

describe('a shared twin', () => {
  it('serves two devices signed in as different users; closing a guest leaves the twin running', async () => {
    owner = await startE2E();
    const guestDir = await mkdtemp(path.join(tmpdir(), 'mfp-e2e-guest-'));
    const guest = Object.assign(
      await startSimulator({ stateDir: guestDir, clock: owner.clock, twin: owner.twin!, logger: silentLogger() }),
      { logs: [] as string[], dir: guestDir },
    );
    expect(guest.twin).toBe(owner.twin);
    expect(guest.device.id).not.toBe(owner.device.id);

    await signIn(owner);
    await signIn(guest, { ...SETTINGS, authEmailAddress: 'frontdesk@contoso.com', authUsername: 'frontdesk@contoso.com', adminEmailAddress: 'frontdesk@contoso.com' });
    expect(owner.device.status().account).toBe(SETTINGS.authUsername);
    expect(guest.device.status().account).toBe('frontdesk@contoso.com');

    await submitScan(guest, 'From the front desk');
    await guest.device.idle();
    await guest.close();

    await submitScan(owner, 'From the scanner');
    await owner.device.idle();
    const inbox = owner.twin!.control.messages(RECIPIENT).map((m) => [m.from, m.subject]);
    expect(inbox).toHaveLength(2);
    expect(inbox.map(([, s]) => s).sort()).toEqual(['From the front desk', 'From the scanner']);
  });
});
