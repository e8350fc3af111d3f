/** House rule: tokens and passwords never reach a log. Runs the twin with a trace-level pino logger and reads it all. */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ALICE, RawSmtp, SCANNER, scanMail, sendExpectingError, startHarness, transportFor, type TwinHarness } from './fixture.ts';

let h: TwinHarness;
const lines: string[] = [];
beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  h = await startHarness({ logger: pino({ level: 'trace' }, sink) });
});
afterAll(async () => {
  await h.close();
});

it('logs the SMTP conversation without the bearer token, the XOAUTH2 blob or a LOGIN password', async () => {
  const token = await h.tokenFor(SCANNER);
  const transport = transportFor(h, SCANNER, token);
  await transport.sendMail(scanMail(SCANNER, ALICE));
  transport.close();

  const expired = await h.tokenFor(SCANNER, { exp: Math.floor(h.clock.now() / 1000) - 10 });
  expect((await sendExpectingError(transportFor(h, SCANNER, expired), scanMail(SCANNER, ALICE))).responseCode).toBe(535);

  const c = await RawSmtp.connect(h.twin.port);
  await c.reply();
  await c.startTls(h.ca);
  await c.command('AUTH LOGIN');
  await c.command(Buffer.from(SCANNER).toString('base64'));
  await c.command(Buffer.from('Sup3rSecret!').toString('base64'));
  await c.command('AUTH XOAUTH2');
  await c.command(Buffer.from(`user=${SCANNER}\x01auth=Bearer ${token}\x01\x01`).toString('base64'));
  await c.quit();

  const log = lines.join('');
  expect(log).toContain('XOAUTH2 token refused'); // the log is really being written
  expect(log).toContain('message accepted');
  const signature = token.split('.')[2]!;
  for (const secret of [token, signature, expired.split('.')[2]!, 'Sup3rSecret!', Buffer.from('Sup3rSecret!').toString('base64')]) {
    expect(log).not.toContain(secret);
  }
  expect(log).not.toContain(Buffer.from(`user=${SCANNER}\x01auth=Bearer ${token}`).toString('base64').slice(0, 40));
});
