import nodemailer, { type SendMailOptions } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, RawSmtp, SCANNER, scanMail, sendExpectingError, startHarness, transportFor, type TwinHarness } from './fixture.ts';

let h: TwinHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const NOT_AUTHENTICATED = '530 5.7.57 Client not authenticated to send mail.';
const SEND_AS_AT_MAIL = '550 5.7.60 SMTP; Client does not have permissions to send as this sender';
const SEND_AS_AFTER_DATA =
  '554 5.2.0 STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message Cannot submit message.';
const THROTTLED = '550 5.2.252 Sender throttled due to continuous send as denied errors.';

const sentCount = (upn: string) => h.twin.mailStore.list(upn).filter((m) => m.folder === 'SentItems').length;

async function send(user: string, mail: SendMailOptions) {
  const transport = transportFor(h, user, await h.tokenFor(user));
  try {
    return await transport.sendMail(mail);
  } finally {
    transport.close();
  }
}
async function refused(user: string, mail: SendMailOptions) {
  return sendExpectingError(transportFor(h, user, await h.tokenFor(user)), mail);
}

describe('MAIL before AUTH', () => {
  it('answers 530 5.7.57 in clear text and after STARTTLS, for MAIL and RCPT alike', async () => {
    const c = await RawSmtp.connect(h.twin.port);
    try {
      await c.reply();
      await c.command('EHLO raw.test');
      expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toBe(NOT_AUTHENTICATED);
      await c.startTls(h.ca);
      expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toBe(NOT_AUTHENTICATED);
      expect(await c.command(`RCPT TO:<${ALICE}>`)).toBe(NOT_AUTHENTICATED);
      expect(await c.command('DATA')).toBe(NOT_AUTHENTICATED);
    } finally {
      await c.quit();
    }
  });

  it('is what nodemailer reports when it sends without credentials', async () => {
    const transport = nodemailer.createTransport({
      host: h.twin.host,
      port: h.twin.port,
      secure: false,
      requireTLS: true,
      tls: { ca: h.ca, minVersion: 'TLSv1.2' },
    });
    const err = await sendExpectingError(transport, scanMail(SCANNER, ALICE));
    expect(err).toMatchObject({ code: 'EENVELOPE', responseCode: 530, response: NOT_AUTHENTICATED });
  });
});

describe('Send As', () => {
  it('refuses a MAIL FROM that is neither the mailbox nor a Send As grant with 550 5.7.60', async () => {
    const before = sentCount(SCANNER);
    const err = await refused(SCANNER, scanMail(ALICE, BOB));
    expect(err).toMatchObject({ code: 'EENVELOPE', responseCode: 550, response: SEND_AS_AT_MAIL });
    expect(sentCount(SCANNER)).toBe(before);
    expect(h.twin.mailStore.list(BOB)).toEqual([]);
    await send(SCANNER, scanMail(SCANNER, ALICE)); // reset the streak for the tests below
  });

  it('checks the header From after DATA too (MAIL FROM right, From wrong): 554 5.2.0', async () => {
    const before = sentCount(SCANNER);
    const err = await refused(SCANNER, scanMail(ALICE, BOB, { envelope: { from: SCANNER, to: [BOB] } }));
    expect(err).toMatchObject({ code: 'EMESSAGE', responseCode: 554, response: SEND_AS_AFTER_DATA });
    expect(sentCount(SCANNER)).toBe(before);
    await send(SCANNER, scanMail(SCANNER, ALICE));
  });

  it('with sendAsDeniedAfterData the envelope refusal comes after DATA as 554 5.2.0', async () => {
    h.directory.tenant.sendAsDeniedAfterData = true;
    try {
      const before = sentCount(SCANNER);
      const err = await refused(SCANNER, scanMail(ALICE, BOB, { envelope: { from: ALICE, to: [BOB] }, from: SCANNER }));
      expect(err).toMatchObject({ code: 'EMESSAGE', responseCode: 554, response: SEND_AS_AFTER_DATA });
      expect(sentCount(SCANNER)).toBe(before);
    } finally {
      h.directory.tenant.sendAsDeniedAfterData = false;
    }
    await send(SCANNER, scanMail(SCANNER, ALICE));
  });

  it('throttles a mailbox after 3 refusals in a row (5.2.252), until 15 minutes pass on the twin clock', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await refused(BOB, scanMail(ALICE, SCANNER))).response).toBe(SEND_AS_AT_MAIL);
    }
    // Now even a legitimate sender address is throttled.
    const err = await refused(BOB, scanMail(BOB, SCANNER));
    expect(err).toMatchObject({ code: 'EENVELOPE', responseCode: 550, response: THROTTLED });
    await h.clock.advance(14 * 60_000);
    expect((await refused(BOB, scanMail(BOB, SCANNER))).response).toBe(THROTTLED);
    await h.clock.advance(60_000);
    await expect(send(BOB, scanMail(BOB, SCANNER))).resolves.toMatchObject({ response: expect.stringMatching(/^250 2\.0\.0 OK/) });
  });

  it('an accepted message breaks the streak', async () => {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 2; i++) expect((await refused(BOB, scanMail(ALICE, SCANNER))).response).toBe(SEND_AS_AT_MAIL);
      await send(BOB, scanMail(BOB, SCANNER));
    }
    expect((await refused(BOB, scanMail(ALICE, SCANNER))).response).toBe(SEND_AS_AT_MAIL);
    await send(BOB, scanMail(BOB, SCANNER));
  });
});

describe('mailbox state', () => {
  it('a mailbox over quota gets 554 5.2.2 after DATA and nothing is filed', async () => {
    h.directory.patch(SCANNER, { mailboxFull: true });
    try {
      const before = sentCount(SCANNER);
      const err = await refused(SCANNER, scanMail(SCANNER, ALICE));
      expect(err).toMatchObject({
        code: 'EMESSAGE',
        responseCode: 554,
        response: '554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded',
      });
      expect(sentCount(SCANNER)).toBe(before);
    } finally {
      h.directory.patch(SCANNER, { mailboxFull: false });
    }
  });
});

describe('concurrent connections', () => {
  it('the 4th authenticated connection of a mailbox gets 432 4.3.2; closing one frees a slot', async () => {
    const held: RawSmtp[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await RawSmtp.connect(h.twin.port);
        await c.reply();
        await c.startTls(h.ca);
        expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('235 2.7.0 Authentication successful');
        held.push(c);
      }
      const err = await refused(SCANNER, scanMail(SCANNER, ALICE));
      expect(err).toMatchObject({
        code: 'EAUTH',
        responseCode: 432,
        response: '432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.',
      });
      // Counted per mailbox: another mailbox is not affected.
      await send(ALICE, scanMail(ALICE, SCANNER));

      // The refused login took no slot: closing one of the three held connections is enough.
      await held.pop()!.quit();
      await expect.poll(() => send(SCANNER, scanMail(SCANNER, ALICE)).then(() => 'sent', () => 'refused')).toBe('sent');
    } finally {
      await Promise.all(held.map((c) => c.quit()));
    }
    // All released: three more connections can authenticate again.
    const again: RawSmtp[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await RawSmtp.connect(h.twin.port);
        await c.reply();
        await c.startTls(h.ca);
        again.push(c);
        await expect.poll(async () => c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('235 2.7.0 Authentication successful');
      }
    } finally {
      await Promise.all(again.map((c) => c.quit()));
    }
  });

  it('abrupt disconnects release the slot too', async () => {
    for (let i = 0; i < 3; i++) {
      const c = await RawSmtp.connect(h.twin.port);
      await c.reply();
      await c.startTls(h.ca);
      expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('235 2.7.0 Authentication successful');
      c.destroy();
    }
    await expect.poll(() => send(SCANNER, scanMail(SCANNER, ALICE)).then(() => 'sent', (e: { response?: string }) => e.response)).toBe('sent');
  });
});

describe('message size', () => {
  let small: TwinHarness;
  beforeAll(async () => {
    small = await startHarness({ maxMessageBytes: 4096 });
  });
  afterAll(async () => {
    await small.close();
  });

  it('advertises the configured SIZE and refuses a larger message with 552 5.3.4', async () => {
    const c = await RawSmtp.connect(small.twin.port);
    await c.reply();
    expect((await c.startTls(small.ca))!.split('\r\n')).toContain('250-SIZE 4096');
    await c.quit();

    const big = scanMail(SCANNER, ALICE, { attachments: [{ filename: 'big.pdf', content: Buffer.alloc(8192, 0x41) }] });
    const err = await sendExpectingError(transportFor(small, SCANNER, await small.tokenFor(SCANNER)), big);
    expect(err).toMatchObject({ code: 'EMESSAGE', responseCode: 552, response: '552 5.3.4 Message size exceeds fixed maximum message size' });
    expect(small.twin.mailStore.list(SCANNER)).toEqual([]);

    const transport = transportFor(small, SCANNER, await small.tokenFor(SCANNER));
    await transport.sendMail(scanMail(SCANNER, ALICE));
    transport.close();
    expect(small.twin.mailStore.list(SCANNER)).toHaveLength(1);
  });
});
