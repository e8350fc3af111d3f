/**
 * Bad input over raw sockets: every case gets a protocol error reply (or a close, where SMTP has nothing better),
 * and afterwards the twin still serves a normal nodemailer submission.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, RawSmtp, SCANNER, scanMail, startHarness, transportFor, type TwinHarness } from './fixture.ts';

let h: TwinHarness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');

/** A connection that is past STARTTLS, not yet authenticated. */
async function secureSession(): Promise<RawSmtp> {
  const c = await RawSmtp.connect(h.twin.port);
  await c.reply();
  await c.startTls(h.ca);
  return c;
}

async function sendStillWorks() {
  const before = h.twin.mailStore.list(SCANNER).length;
  const transport = transportFor(h, SCANNER, await h.tokenFor(SCANNER));
  await transport.sendMail(scanMail(SCANNER, ALICE));
  transport.close();
  expect(h.twin.mailStore.list(SCANNER)).toHaveLength(before + 1);
}

describe('bad AUTH input', () => {
  const cases: [string, string, RegExp][] = [
    ['XOAUTH2 with invalid base64', 'AUTH XOAUTH2 %%%not-base64%%%', /^501 5\.5\.4 /],
    ['XOAUTH2 without the auth field', `AUTH XOAUTH2 ${b64(`user=${SCANNER}\x01\x01`)}`, /^501 5\.5\.4 /],
    ['XOAUTH2 with a non-bearer scheme', `AUTH XOAUTH2 ${b64(`user=${SCANNER}\x01auth=Basic abc\x01\x01`)}`, /^501 5\.5\.4 /],
    ['XOAUTH2 with a garbage bearer token', `AUTH XOAUTH2 ${b64(`user=${SCANNER}\x01auth=Bearer a.b.c\x01\x01`)}`, /^535 5\.7\.3 Authentication unsuccessful \[/],
    ['XOAUTH2 with control characters in the user', `AUTH XOAUTH2 ${b64(`user=a\r\nb@x\x01auth=Bearer x\x01\x01`)}`, /^501 5\.5\.4 /],
    ['XOAUTH2 with two arguments', 'AUTH XOAUTH2 abc def', /^501 5\.5\.4 /],
    ['AUTH without a mechanism', 'AUTH', /^504 5\.5\.4 /],
    // PLAIN is accepted unadvertised since issue 14 (basic-auth.ts); CRAM-MD5 is known to smtp-server, never offered.
    ['an unoffered mechanism', 'AUTH CRAM-MD5', /^504 5\.5\.4 /],
    ['an unknown mechanism', 'AUTH GSSAPI', /^504 5\.5\.4 /],
  ];
  it.each(cases)('%s', async (_name, line, expected) => {
    const c = await secureSession();
    try {
      expect(await c.command(line)).toMatch(expected);
      // Still usable afterwards: a proper login succeeds on the same connection.
      expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toBe('235 2.7.0 Authentication successful');
    } finally {
      await c.quit();
    }
  });

  it('XOAUTH2 without initial response: an empty 334 prompt (no JSON challenge), then the token', async () => {
    const c = await secureSession();
    try {
      expect(await c.command('AUTH XOAUTH2')).toBe('334');
      expect(await c.command('*')).toMatch(/^501 /); // client aborts
      expect(await c.command('AUTH XOAUTH2')).toBe('334');
      expect(await c.command(b64(`user=${SCANNER}\x01auth=Bearer ${await h.tokenFor(SCANNER)}\x01\x01`))).toBe('235 2.7.0 Authentication successful');
      expect(await c.command('AUTH XOAUTH2')).toMatch(/^503 /); // no second identity
    } finally {
      await c.quit();
    }
  });

  it('AUTH LOGIN with garbage continuation lines', async () => {
    const c = await secureSession();
    try {
      expect(await c.command('AUTH LOGIN')).toBe('334 VXNlcm5hbWU6');
      expect(await c.command('@@@@')).toMatch(/^501 /); // not base64 of anything
      expect(await c.command('AUTH LOGIN')).toBe('334 VXNlcm5hbWU6');
      expect(await c.command(b64(SCANNER))).toBe('334 UGFzc3dvcmQ6');
      expect(await c.command(b64('\x00\xff garbage'))).toMatch(/^535 5\.7\.139 Authentication unsuccessful, basic authentication is disabled\. /);
    } finally {
      await c.quit();
    }
  });
});

describe('bad commands and transport abuse', () => {
  it('out-of-order and malformed envelope commands get 5xx replies', async () => {
    const c = await secureSession();
    try {
      expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toMatch(/^235 /);
      expect(await c.command(`RCPT TO:<${ALICE}>`)).toMatch(/^503 /);
      expect(await c.command('DATA')).toMatch(/^503 /);
      expect(await c.command('MAIL FROM:not-an-address')).toMatch(/^501 /);
      expect(await c.command('MAIL FROM:<a@b@c>')).toMatch(/^501 /);
      expect(await c.command(`MAIL FROM:<${SCANNER}> SIZE=abc`)).toMatch(/^501 /);
      expect(await c.command(`MAIL FROM:<${SCANNER}> SIZE=999999999999`)).toMatch(/^552 5\.3\.4 /);
      expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toMatch(/^250 /);
      expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toMatch(/^503 /);
      expect(await c.command('RCPT TO:<>')).toMatch(/^501 /);
      expect(await c.command('NOOP')).toMatch(/^250 /);
      expect(await c.command('RSET')).toMatch(/^250 /);
    } finally {
      await c.quit();
    }
  });

  it('pipelined garbage: 500s, then a 421 and a close after too many unknown commands', async () => {
    const c = await secureSession();
    const junk = Array.from({ length: 12 }, (_, i) => `XYZZY${i} \x01\x02\xff binary`).join('\r\n') + '\r\n';
    c.write(Buffer.from(junk, 'latin1'));
    const replies: string[] = [];
    for (;;) {
      const r = await c.reply();
      if (r === null) break;
      replies.push(r);
    }
    expect(replies.slice(0, 9).every((r) => r.startsWith('500 '))).toBe(true);
    expect(replies.at(-1)).toMatch(/^421 /);
    c.destroy();
  });

  it('a huge line without CRLF gets 421 and a close', async () => {
    const c = await secureSession();
    c.write('EHLO ' + 'x'.repeat(200_000));
    expect(await c.reply()).toMatch(/^421 /);
    expect(await c.reply()).toBeNull();
    c.destroy();
  });

  it('talking before the greeting, and an HTTP request, get 421', async () => {
    const early = await RawSmtp.connect(h.twin.port);
    early.write('EHLO too.soon\r\n');
    expect(await early.reply()).toMatch(/^421 /);
    early.destroy();

    const http = await RawSmtp.connect(h.twin.port);
    await http.reply();
    expect(await http.command('GET / HTTP/1.1')).toMatch(/^421 /);
    http.destroy();
  });

  it('abrupt disconnects: mid-handshake, mid-AUTH, mid-DATA; nothing half-received is stored', async () => {
    const before = h.twin.mailStore.list(SCANNER).length;

    // STARTTLS accepted, then garbage instead of a ClientHello
    const a = await RawSmtp.connect(h.twin.port);
    await a.reply();
    await a.command('EHLO raw.test');
    expect(await a.command('STARTTLS')).toMatch(/^220 /);
    a.write('this is not TLS\r\n');
    expect(await a.reply()).toBeNull();
    a.destroy();

    // plain TCP connect and immediate reset
    const b = net.connect({ port: h.twin.port, host: '127.0.0.1' });
    b.on('error', () => {});
    await new Promise((r) => b.once('connect', r));
    b.resetAndDestroy();

    // half an AUTH LOGIN exchange
    const c = await secureSession();
    expect(await c.command('AUTH LOGIN')).toMatch(/^334 /);
    c.destroy();

    // half a message
    const d = await secureSession();
    expect(await d.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toMatch(/^235 /);
    expect(await d.command(`MAIL FROM:<${SCANNER}>`)).toMatch(/^250 /);
    expect(await d.command(`RCPT TO:<${ALICE}>`)).toMatch(/^250 /);
    expect(await d.command('DATA')).toMatch(/^354 /);
    d.write(`From: ${SCANNER}\r\nTo: ${ALICE}\r\nSubject: cut\r\n\r\nhalf a mess`);
    d.destroy();

    expect(h.twin.mailStore.list(SCANNER)).toHaveLength(before);
    await sendStillWorks();
  });

  it('a message that is not RFC 5322 at all is still handled (no From header means no Send As mismatch)', async () => {
    const c = await secureSession();
    try {
      expect(await c.authXoauth2(SCANNER, await h.tokenFor(SCANNER))).toMatch(/^235 /);
      expect(await c.command(`MAIL FROM:<${SCANNER}>`)).toMatch(/^250 /);
      expect(await c.command(`RCPT TO:<${ALICE}>`)).toMatch(/^250 /);
      expect(await c.command('DATA')).toMatch(/^354 /);
      c.write(Buffer.from('\x00\x01\x02 no headers here \xff\xfe\r\n..leading dot\r\n', 'latin1'));
      expect(await c.command('.')).toMatch(/^250 2\.0\.0 OK /);
      const stored = h.twin.mailStore.list(SCANNER).at(-1)!;
      expect(stored).toMatchObject({ from: null, to: [], subject: null, messageId: null });
      // dot-unstuffed on the way in
      expect(h.twin.mailStore.raw(SCANNER, stored.id)!.toString('latin1')).toContain('\r\n.leading dot');
    } finally {
      await c.quit();
    }
  });

  it('after all of the above, a normal send still works', async () => {
    await sendStillWorks();
  });
});
