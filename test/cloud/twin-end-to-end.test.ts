/**
 * The assembled twin end to end: msal-node signs in through the pages, nodemailer sends over SMTP with XOAUTH2 using
 * that token, and the message shows up through the control API's mailbox routes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { VirtualClock } from '../../src/time/clock.ts';
import { SMTP_SCOPE, api, msalFor, signInThroughPages, startDeviceCodeFlow, startTestTwin, type TestTwin } from './helpers.ts';

let twin: TestTwin;

beforeAll(async () => {
  twin = await startTestTwin({ clock: new VirtualClock(Date.now()) });
});
afterAll(async () => {
  await twin?.close();
});

describe('twin end to end', () => {
  it('device code sign-in → XOAUTH2 submission → Sent Items and Inbox copies readable through /_twin', async () => {
    const { pca } = msalFor(twin);
    const flow = startDeviceCodeFlow(pca, [SMTP_SCOPE]);
    const { userCode } = await flow.code;
    await signInThroughPages(twin, userCode, { upn: 'scanner@contoso.com', password: 'Scan-to-Email-2026!' });
    const result = await flow.result;

    const transport = nodemailer.createTransport({
      host: twin.smtp.host,
      port: twin.smtp.port,
      secure: false,
      requireTLS: true,
      auth: { type: 'OAuth2', user: 'scanner@contoso.com', accessToken: result!.accessToken },
      tls: { ca: twin.caPem, minVersion: 'TLSv1.2' },
    } as SMTPTransport.Options);
    try {
      const info = await transport.sendMail({
        from: 'scanner@contoso.com',
        to: 'admin@contoso.com',
        subject: 'Scan 0001',
        text: 'Scanned document attached.',
        attachments: [{ filename: 'scan.pdf', content: Buffer.from('%PDF-1.4 twin') }],
      });
      expect(info.response).toMatch(/^250/);
    } finally {
      transport.close();
    }

    const sent = await api(twin, 'GET', '/_twin/mailboxes/scanner@contoso.com/messages');
    expect(sent.json).toHaveLength(1);
    expect(sent.json[0]).toMatchObject({ folder: 'SentItems', subject: 'Scan 0001' });
    const inbox = await api(twin, 'GET', '/_twin/mailboxes/admin@contoso.com/messages');
    expect(inbox.json[0]).toMatchObject({ folder: 'Inbox', subject: 'Scan 0001' });
    const raw = await api(twin, 'GET', `/_twin/mailboxes/admin@contoso.com/messages/${inbox.json[0].id}`);
    expect(raw.headers['content-type']).toContain('message/rfc822');
    expect(raw.text).toContain('Subject: Scan 0001');
  });
});
