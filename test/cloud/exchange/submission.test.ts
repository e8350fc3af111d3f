import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, RawSmtp, SCANNER, scanMail, startHarness, transportFor, type TwinHarness } from './fixture.ts';

let h: TwinHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('Exchange twin: accepted submission', () => {
  it('accepts an XOAUTH2 send from nodemailer and files SentItems and Inbox copies', async () => {
    const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER));
    const info = await transport.sendMail(scanMail(SCANNER, [ALICE, 'someone@elsewhere.example'], { cc: BOB }));
    transport.close();

    expect(info.response).toMatch(/^250 2\.0\.0 OK <[^>]+> \[Hostname=[A-Z0-9]+\.namprd\d\d\.prod\.outlook\.com\]$/);
    expect(info.accepted).toEqual([ALICE, 'someone@elsewhere.example', BOB]);

    const sent = h.twin.mailStore.list(SCANNER);
    expect(sent).toHaveLength(1);
    const copy = sent[0]!;
    expect(copy).toMatchObject({
      folder: 'SentItems',
      mailbox: SCANNER,
      messageId: info.messageId,
      from: SCANNER,
      to: [ALICE, 'someone@elsewhere.example'],
      subject: 'Scanned document',
      receivedAt: new Date(h.clock.now()).toISOString(),
    });
    expect(copy.attachments).toEqual([{ filename: 'scan-0001.pdf', contentType: 'application/pdf', size: 31 }]);

    // In-tenant recipients (To and Cc alike, they are envelope recipients) get an Inbox copy; outside ones do not.
    for (const who of [ALICE, BOB]) {
      const inbox = h.twin.mailStore.list(who);
      expect(inbox).toHaveLength(1);
      expect(inbox[0]).toMatchObject({ folder: 'Inbox', mailbox: who, messageId: info.messageId });
    }
    expect(h.twin.mailStore.list('someone@elsewhere.example')).toEqual([]);

    // The raw copy is the RFC 5322 message as submitted, and it parses back to the same headers.
    const raw = h.twin.mailStore.raw(SCANNER, copy.id);
    expect(raw).toBeInstanceOf(Buffer);
    expect(raw!.length).toBe(copy.size);
    const parsed = await simpleParser(raw!);
    expect(parsed.messageId).toBe(info.messageId);
    expect(parsed.subject).toBe('Scanned document');
    expect(parsed.attachments[0]?.content.toString()).toContain('%PDF-1.4');
    expect(h.twin.mailStore.raw(SCANNER, 'no-such-id')).toBeUndefined();
    expect(h.twin.mailStore.raw(ALICE, copy.id)).toBeUndefined();
  });

  it('matches the SASL user to the token upn case-insensitively', async () => {
    const before = h.twin.mailStore.list(SCANNER).length;
    const transport = transportFor(h, SCANNER.toUpperCase(), await h.tokenFor(SCANNER));
    await transport.sendMail(scanMail(SCANNER, ALICE));
    transport.close();
    expect(h.twin.mailStore.list(SCANNER)).toHaveLength(before + 1);
  });

  it('allows a From the mailbox has Send As rights for', async () => {
    h.directory.patch(SCANNER, { sendAs: ['scans@contoso.example'] });
    try {
      const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER));
      await transport.sendMail(scanMail('Scans <Scans@Contoso.example>', ALICE));
      transport.close();
      expect(h.twin.mailStore.list(SCANNER).at(-1)?.from).toBe('scans@contoso.example');
    } finally {
      h.directory.patch(SCANNER, { sendAs: [] });
    }
  });
});

describe('Exchange twin: greeting and capabilities', () => {
  it('greets like Exchange, offers STARTTLS but no AUTH before TLS, and AUTH LOGIN XOAUTH2 + SIZE after', async () => {
    const c = await RawSmtp.connect(h.twin.port);
    try {
      const greeting = await c.reply();
      expect(greeting).toMatch(/^220 [A-Z0-9]+\.namprd\d\d\.prod\.outlook\.com Microsoft ESMTP MAIL Service ready at Mon, 5 Jan 2026 08:00:00 \+0000$/);

      const plainEhlo = (await c.command('EHLO raw.test'))!;
      expect(plainEhlo).toMatch(/^250-\S+ Hello \[127\.0\.0\.1\]/);
      // Exchange's list and order, without BINARYMIME and CHUNKING (no BDAT: the documented deviation).
      expect(plainEhlo.split('\r\n').slice(1)).toEqual([
        '250-SIZE 157286400', '250-PIPELINING', '250-DSN', '250-ENHANCEDSTATUSCODES', '250-STARTTLS', '250-8BITMIME', '250 SMTPUTF8',
      ]);

      // AUTH is not accepted either: not an available command before TLS.
      expect(await c.command('AUTH LOGIN')).toBe('500 5.5.2 Error: command not recognized');
      expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('500 5.5.2 Error: command not recognized');

      const secureEhlo = (await c.startTls(h.ca))!;
      expect(secureEhlo.split('\r\n').slice(1)).toEqual([
        '250-SIZE 157286400', '250-PIPELINING', '250-DSN', '250-ENHANCEDSTATUSCODES', '250-AUTH LOGIN XOAUTH2', '250-8BITMIME', '250 SMTPUTF8',
      ]);

      expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('235 2.7.0 Authentication successful');
    } finally {
      await c.quit();
    }
  });

  it('refuses TLS below 1.2', async () => {
    const c = await RawSmtp.connect(h.twin.port);
    try {
      await c.reply();
      // The client offers TLS 1.0-1.1 only (security level lowered so OpenSSL lets it): the server must refuse.
      const attempt = c.startTls(h.ca, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
      await expect(attempt).rejects.toMatchObject({ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' });
    } finally {
      c.destroy();
    }
  });
});
