/**
 * Power off cuts a submission in flight (src/adapters/mail/mailAdapter.ts shutdown): a submission waiting on the
 * server must not go on after the power-off and deliver a mail the rebooted device then sends again. nodemailer's
 * close() of a non-pooled transport leaves its socket alone, so this once delivered twice under a slow scenario run.
 * A plain-text smtp-server on loopback holds MAIL FROM until the test releases it (no timer stands in for that).
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodemailerMailAdapter } from '../../src/adapters/mail/mailAdapter.ts';
import { silentLogger } from '../../src/log/logger.ts';

let server: SMTPServer;
let port: number;
let releaseMailFrom: (() => void) | null = null;
let heldMailFrom: () => void = () => {};
const mailFromHeld = new Promise<void>((r) => (heldMailFrom = r));
let closedAfterAbort: () => void = () => {};
const connectionClosed = new Promise<void>((r) => (closedAfterAbort = r));
const delivered: string[] = [];

beforeAll(async () => {
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onMailFrom(_address, _session, callback) {
      releaseMailFrom = () => callback();
      heldMailFrom();
    },
    onData(stream, _session, callback) {
      let text = '';
      stream.on('data', (c: Buffer) => (text += c.toString()));
      stream.on('end', () => {
        delivered.push(text);
        callback();
      });
    },
    onClose() {
      closedAfterAbort();
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('mail adapter at power off', () => {
  it('cuts the submission waiting on MAIL FROM: nothing is delivered when the server answers afterwards', async () => {
    const adapter = new NodemailerMailAdapter({ network: { routes: [], caPem: null }, logger: silentLogger() });
    const submission = adapter.submit({
      target: { host: '127.0.0.1', port, secure: false, user: 'scanner@contoso.com' },
      password: 'not used: the server offers no AUTH',
      message: { messageId: '<cut@printer>', from: 'scanner@contoso.com', to: ['admin@contoso.com'], subject: 'cut', text: 'body', attachments: [] },
    });
    const outcome = submission.then(
      () => 'sent',
      () => 'failed',
    );
    await mailFromHeld;
    adapter.shutdown();
    expect(await outcome).toBe('failed');
    releaseMailFrom!(); // the server answers now, as Exchange did after its delay
    await connectionClosed;
    expect(delivered).toEqual([]);
  });
});
