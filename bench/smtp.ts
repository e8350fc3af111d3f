/**
 * Mail row: one submission through the device's mail adapter (nodemailer, STARTTLS, SASL XOAUTH2 with the cached
 * access token) to the Exchange twin, against nodemailer → a bare smtp-server with AUTH PLAIN over the same TLS
 * (the twin's certificate), one connection per message in both.
 */
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { opsPerSecond, row, SCANNER, type BenchRow, type BenchSim } from './support.ts';

const SCAN_PDF = fileURLToPath(new URL('../fixtures/scans/scan-0001.pdf', import.meta.url));
const BASELINE_USER = 'bench@example.test';
const BASELINE_PASS = 'bench-password';

/** The baseline: smtp-server as a plain submission server (STARTTLS, AUTH PLAIN), the message read and dropped. */
async function startPlainSmtpServer(tls: { key: string; cert: string }): Promise<{ port: number; close(): Promise<void> }> {
  const server = new SMTPServer({
    ...tls,
    secure: false,
    minVersion: 'TLSv1.2',
    authMethods: ['PLAIN'],
    disableReverseLookup: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === BASELINE_USER && auth.password === BASELINE_PASS) callback(null, { user: auth.username });
      else callback(new Error('Invalid credentials'));
    },
    onData(stream, _session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => callback(null, `2.0.0 OK ${Buffer.concat(chunks).length} bytes`));
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function smtpRow(sim: BenchSim, credentials: string): Promise<BenchRow> {
  const mail = sim.internals.adapters.mail!;
  const accessToken = await sim.internals.adapters.oauth!.accessToken({ account: SCANNER });
  let n = 0;
  const message = () => ({
    messageId: `<bench-${++n}@mfp-sim.bench>`,
    from: SCANNER,
    to: [SCANNER],
    subject: `bench ${n}`,
    text: 'Scanned document attached.',
    attachments: [{ filename: 'scan-0001.pdf', contentType: 'application/pdf', path: SCAN_PDF }],
  });
  const target = { host: 'smtp.office365.com', port: 587, secure: true, user: SCANNER };
  const xoauth2 = await opsPerSecond('XOAUTH2 via the device adapter', () => mail.submit({ target, accessToken, message: message() }));

  const tls = { key: await readFile(path.join(credentials, 'server-key.pem'), 'utf8'), cert: await readFile(path.join(credentials, 'server.pem'), 'utf8') };
  const ca = await readFile(path.join(credentials, 'ca.pem'), 'utf8');
  const plain = await startPlainSmtpServer(tls);
  try {
    const plainRate = await opsPerSecond('AUTH PLAIN via nodemailer', async () => {
      const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: plain.port,
        secure: false,
        requireTLS: true,
        tls: { minVersion: 'TLSv1.2', ca },
        auth: { user: BASELINE_USER, pass: BASELINE_PASS },
        pool: false,
      });
      const m = message();
      try {
        await transport.sendMail({ messageId: m.messageId, from: m.from, to: m.to, subject: m.subject, text: m.text, attachments: m.attachments, envelope: { from: m.from, to: m.to } });
      } finally {
        transport.close();
      }
    });
    return row({
      id: 'smtp-xoauth2',
      name: 'XOAUTH2 submission (device adapter → twin) vs AUTH PLAIN',
      measured: { value: xoauth2, unit: 'mails/s' },
      baseline: { value: plainRate, unit: 'mails/s' },
      ratio: xoauth2 / plainRate,
      target: { op: '>=', value: 0.8, text: '≥ 80%' },
      note: 'one STARTTLS connection per mail in both; the twin also verifies the JWT, parses the MIME and files two copies',
    });
  } finally {
    await plain.close();
  }
}
