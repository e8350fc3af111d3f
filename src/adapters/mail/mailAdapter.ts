/**
 * The device's mail port on nodemailer: one STARTTLS connection per job (TLS 1.2 minimum), SASL XOAUTH2 with the
 * cached access token, MAIL FROM = header From = the configured sender, a stable Message-ID from the job.
 * Failures come back as SendFailure, classified (classify.ts).
 */
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Logger } from '../../log/logger.ts';
import { SendFailure } from '../../device/failures.ts';
import type { MailPort, OutgoingMessage, SmtpTarget } from '../../device/ports.ts';
import { resolveEndpoint, type SimulatedNetwork } from '../network.ts';
import { classifySmtp, smtpFactsOf } from './classify.ts';

export interface MailAdapterOptions {
  network: SimulatedNetwork;
  logger: Logger;
  /** EHLO name (the printer's host name). */
  clientName?: string;
  /** ms; defaults suit a printer on a LAN talking to Exchange Online. */
  timeouts?: { connectionMs?: number; greetingMs?: number; socketMs?: number };
}

export class NodemailerMailAdapter implements MailPort {
  private readonly open = new Set<{ close(): void }>();
  private readonly log: Logger;
  /**
   * One TLS context per adapter, as a printer keeps one trust store: without it every submission would parse the CA
   * PEM into a fresh SecureContext (~3 ms of CPU per mail in the soak profile). Built on first use.
   */
  private secureContext: tls.SecureContext | undefined;

  constructor(private readonly opts: MailAdapterOptions) {
    this.log = opts.logger.child({ component: 'mail' });
  }

  /** nodemailer transport options for one submission (exported for tests and docs). */
  transportOptions(target: SmtpTarget, accessToken: string): SMTPTransport.Options {
    const to = resolveEndpoint(this.opts.network, target.host, target.port);
    const t = this.opts.timeouts ?? {};
    return {
      host: to.host,
      port: to.port,
      // Port 465 is implicit TLS; 587 and 25 start plain and must upgrade with STARTTLS.
      secure: to.port === 465,
      requireTLS: target.secure,
      tls: {
        minVersion: 'TLSv1.2',
        secureContext: this.tlsContext(),
        ...(to.servername ? { servername: to.servername } : {}),
      },
      auth: { type: 'OAuth2', user: target.user, accessToken },
      pool: false,
      name: this.opts.clientName,
      connectionTimeout: t.connectionMs ?? 30_000,
      greetingTimeout: t.greetingMs ?? 30_000,
      socketTimeout: t.socketMs ?? 120_000,
      logger: false,
      debug: false,
    };
  }

  /** TLS 1.2 minimum, trusting the network's CA when it names one (the twin's), else the system's roots. */
  private tlsContext(): tls.SecureContext {
    this.secureContext ??= tls.createSecureContext({
      minVersion: 'TLSv1.2',
      ...(this.opts.network.caPem ? { ca: this.opts.network.caPem } : {}),
    });
    return this.secureContext;
  }

  async submit(args: { target: SmtpTarget; accessToken: string; message: OutgoingMessage }): Promise<{ reply: string }> {
    const { target, accessToken, message } = args;
    const transport = nodemailer.createTransport(this.transportOptions(target, accessToken));
    this.open.add(transport);
    try {
      const info = await transport.sendMail({
        messageId: message.messageId,
        from: message.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        attachments: message.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, path: a.path })),
        // The Send As rule: envelope sender = header From = a mailbox the signed-in user may send as.
        envelope: { from: message.from, to: message.to },
      });
      this.log.info({ messageId: message.messageId, recipients: message.to.length, reply: info.response }, 'message accepted');
      return { reply: info.response };
    } catch (err) {
      const failure = err instanceof SendFailure ? err : classifySmtp(smtpFactsOf(err));
      this.log.info({ messageId: message.messageId, category: failure.category, transient: failure.transient, code: failure.code, reply: failure.reply }, 'submission failed');
      throw failure;
    } finally {
      this.open.delete(transport);
      transport.close();
    }
  }

  /** Power off: drop every connection in flight. */
  shutdown(): void {
    for (const t of this.open) t.close();
    this.open.clear();
  }
}
