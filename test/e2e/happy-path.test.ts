/**
 * The seed end to end over real sockets: panel settings with Microsoft's names → START_AUTH → code from the Entra
 * twin → the user approves → authorized → a scan with a PDF goes out through the Exchange twin with XOAUTH2.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { simpleParser } from 'mailparser';
import { HOUR, RECIPIENT, SCANNER, SCAN_PDF, signIn, startE2E, submitScan, type E2ESim } from './support.ts';

let sim: E2ESim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

describe('happy path', () => {
  it('signs in with the device code and delivers a scan with its PDF, a stable Message-ID and From = sender', async () => {
    sim = await startE2E();
    const twin = sim.twin!;
    expect(sim.internals.nvram.data.settings.cloud).toEqual({
      mode: 'twin',
      authority: `https://login.microsoftonline.com/${twin.tenantId}`,
      clientId: twin.clientId,
    });
    await signIn(sim);
    const status = sim.device.status();
    expect(status.account).toBe(SCANNER);
    // The twin's access tokens live 60–90 minutes; the device put that on its own clock.
    const lifetime = status.tokenExpiresAt! - sim.clock.now();
    expect(lifetime).toBeGreaterThanOrEqual(HOUR);
    expect(lifetime).toBeLessThanOrEqual(1.5 * HOUR);

    const job = await submitScan(sim);
    await sim.device.idle();
    expect(sim.device.job(job.id)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(sim.device.job(job.id)!.reply).toMatch(/^250 2\.0\.0 OK/);
    expect(sim.device.state()).toBe('authorized');

    const inbox = twin.control.messages(RECIPIENT);
    expect(inbox).toHaveLength(1);
    expect(inbox[0]).toMatchObject({ folder: 'Inbox', messageId: job.messageId, subject: 'Scan 0001' });
    expect(inbox[0]!.from).toContain(SCANNER);
    const sent = twin.control.messages(SCANNER);
    expect(sent.map((m) => m.folder)).toEqual(['SentItems']);

    const parsed = await simpleParser(twin.control.rawMessage(RECIPIENT, inbox[0]!.id));
    expect(parsed.messageId).toBe(job.messageId);
    expect(parsed.from?.value[0]?.address).toBe(SCANNER);
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]!.filename).toBe('scan-0001.pdf');
    expect(parsed.attachments[0]!.contentType).toBe('application/pdf');
    expect(parsed.attachments[0]!.content.equals(await readFile(SCAN_PDF))).toBe(true);
  });
});
