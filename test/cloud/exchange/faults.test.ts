import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { entries, isSmtp } from '../journal/events.ts';
import { ALICE, RawSmtp, SCANNER, scanMail, sendExpectingError, startHarness, transportFor, type TwinHarness } from './fixture.ts';

let h: TwinHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});
afterEach(() => h.faults.clear());

const sentCount = () => h.twin.mailStore.list(SCANNER).length;
async function attempt() {
  return sendExpectingError(transportFor(h, SCANNER, await h.tokenFor(SCANNER)), scanMail(SCANNER, ALICE));
}
async function sendOk() {
  const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER));
  try {
    return await transport.sendMail(scanMail(SCANNER, ALICE));
  } finally {
    transport.close();
  }
}

describe('smtp.connect faults', () => {
  it('reply: the greeting is the given reply and the connection closes', async () => {
    h.faults.add({ target: 'smtp.connect', action: { kind: 'reply', reply: '421 4.3.2 Service not available, closing transmission channel' } });
    const c = await RawSmtp.connect(h.twin.port);
    expect(await c.reply()).toBe('421 4.3.2 Service not available, closing transmission channel');
    expect(await c.reply()).toBeNull(); // closed
    c.destroy();
    // one use only: the next connection is normal
    await sendOk();
  });

  it('reply: nodemailer sees the code and text', async () => {
    h.faults.add({ target: 'smtp.connect', action: { kind: 'reply', reply: '554 5.7.1 Service unavailable; client host blocked' } });
    const err = await attempt();
    expect(err.responseCode).toBe(554);
    expect(err.response).toBe('554 5.7.1 Service unavailable; client host blocked');
  });

  it('drop: the connection is cut before any greeting', async () => {
    h.faults.add({ target: 'smtp.connect', action: { kind: 'drop' } });
    const err = await attempt();
    expect(err.code).toBe('ECONNECTION');
    expect(err.responseCode).toBeUndefined();
  });

  it('delay: the greeting comes late but the session is normal', async () => {
    h.faults.add({ target: 'smtp.connect', action: { kind: 'delay', ms: 400 } });
    const c = await RawSmtp.connect(h.twin.port);
    const started = Date.now();
    expect(await c.reply()).toMatch(/^220 /);
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    await c.quit();
  });
});

describe('smtp.auth faults', () => {
  it('reply: nodemailer gets EAUTH with the given reply', async () => {
    h.faults.add({ target: 'smtp.auth', action: { kind: 'reply', reply: '454 4.7.0 Temporary authentication failure' } });
    expect(await attempt()).toMatchObject({ code: 'EAUTH', responseCode: 454, response: '454 4.7.0 Temporary authentication failure' });
  });

  it('a reply rule with count 2 applies twice, then the twin behaves normally', async () => {
    h.faults.add({ target: 'smtp.auth', count: 2, action: { kind: 'reply', reply: '535 5.7.3 Authentication unsuccessful [FAULT]' } });
    expect((await attempt()).response).toBe('535 5.7.3 Authentication unsuccessful [FAULT]');
    expect((await attempt()).response).toBe('535 5.7.3 Authentication unsuccessful [FAULT]');
    await sendOk();
  });

  it('drop: the connection is cut at AUTH and no slot is kept', async () => {
    h.faults.add({ target: 'smtp.auth', count: 3, action: { kind: 'drop' } });
    for (let i = 0; i < 3; i++) expect((await attempt()).code).toBe('ECONNECTION');
    await sendOk();
  });

  it('delay: the login is slow but succeeds', async () => {
    h.faults.add({ target: 'smtp.auth', action: { kind: 'delay', ms: 300 } });
    const started = Date.now();
    await sendOk();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });
});

describe('a client that leaves while its login is being checked', () => {
  it('takes no connection slot with it', async () => {
    h.faults.add({ target: 'smtp.auth', count: 3, action: { kind: 'delay', ms: 200 } });
    // Each abandoned session ends in the journal with its CLOSE. A login answer due after the close never reaches the
    // wire and is not journalled (it would count the session as open again after its CLOSE).
    const closed = entries(h.journal, 3, (e) => isSmtp(e) && e.command === 'CLOSE', 'closes of the abandoned sessions');
    for (let i = 0; i < 3; i++) {
      const c = await RawSmtp.connect(h.twin.port);
      await c.reply();
      await c.startTls(h.ca);
      c.write(`AUTH XOAUTH2 ${Buffer.from(`user=${SCANNER}\x01auth=Bearer ${await h.tokenFor(SCANNER)}\x01\x01`).toString('base64')}\r\n`);
      c.destroy(); // gone before the twin has answered
    }
    const abandoned = new Set((await closed).map((e) => (isSmtp(e) ? e.session : '')));
    const held: RawSmtp[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await RawSmtp.connect(h.twin.port);
        held.push(c);
        await c.reply();
        await c.startTls(h.ca);
        expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('235 2.7.0 Authentication successful');
      }
    } finally {
      await Promise.all(held.map((c) => c.quit()));
    }
    // An answer the twin wrote before it saw the close is journalled before that CLOSE, never after it.
    for (const session of abandoned) {
      const mine = h.journal.list({ kind: 'smtp' }).filter((e) => isSmtp(e) && e.session === session);
      expect(mine.at(-1)).toMatchObject({ command: 'CLOSE' });
    }
  });
});

describe('smtp.mail and smtp.data faults', () => {
  it('mail reply: nodemailer gets EENVELOPE with the given reply', async () => {
    h.faults.add({ target: 'smtp.mail', action: { kind: 'reply', reply: '451 4.4.0 Primary target IP address responded with: "421 4.4.2 Connection dropped."' } });
    expect(await attempt()).toMatchObject({
      code: 'EENVELOPE',
      responseCode: 451,
      response: '451 4.4.0 Primary target IP address responded with: "421 4.4.2 Connection dropped."',
    });
  });

  it('mail drop: cut after AUTH, nothing stored', async () => {
    const before = sentCount();
    h.faults.add({ target: 'smtp.mail', action: { kind: 'drop' } });
    expect((await attempt()).code).toBe('ECONNECTION');
    expect(sentCount()).toBe(before);
  });

  it('data reply: the whole message is sent, then refused with the given reply and not stored', async () => {
    const before = sentCount();
    h.faults.add({ target: 'smtp.data', action: { kind: 'reply', reply: '451 4.7.500 Server busy. Please try again later.' } });
    expect(await attempt()).toMatchObject({ code: 'EMESSAGE', responseCode: 451, response: '451 4.7.500 Server busy. Please try again later.' });
    expect(sentCount()).toBe(before);
    // The journal keeps the refused message's Message-ID: a resend is judged against it.
    const refused = h.journal.list().filter((e) => isSmtp(e) && e.command === 'MESSAGE').at(-1);
    expect(refused).toMatchObject({ reply: 451, messageId: expect.stringMatching(/^<.+@.+>$/) });
  });

  it('data drop: the connection is cut after the message, before the reply; nothing is stored', async () => {
    const before = sentCount();
    h.faults.add({ target: 'smtp.data', action: { kind: 'drop' } });
    expect((await attempt()).code).toBe('ECONNECTION');
    expect(sentCount()).toBe(before);
    await sendOk();
    expect(sentCount()).toBe(before + 1);
  });

  it('data delay: the reply is late but the message is accepted', async () => {
    const before = sentCount();
    h.faults.add({ target: 'smtp.data', action: { kind: 'delay', ms: 300 } });
    const started = Date.now();
    await sendOk();
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(sentCount()).toBe(before + 1);
  });

  it('actions meant for HTTP targets do nothing to SMTP', async () => {
    h.faults.add({ target: 'smtp.mail', action: { kind: 'http', status: 503 } });
    await sendOk();
  });
});
