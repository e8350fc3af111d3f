/**
 * The device's mail port on nodemailer: one STARTTLS connection per job (TLS 1.2 minimum), SASL XOAUTH2 with the
 * cached access token (or, for the "SMTP Authentication" method, AUTH LOGIN/PLAIN with the password), MAIL FROM = header From = the configured sender, a stable Message-ID from the job.
 * Failures come back as SendFailure, classified (classify.ts).
 */
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { Logger } from '../../log/logger.ts';
import { SendFailure } from '../../device/failures.ts';
import type { MailPort, OutgoingMessage, SmtpCredential, SmtpTarget } from '../../device/ports.ts';
import { resolveEndpoint, type SimulatedNetwork } from '../network.ts';
import { classifySmtp, smtpFactsOf } from './classify.ts';
import { DeviceTls, fixedTrust } from '../tls/deviceTls.ts';

export interface MailAdapterOptions {
  network: SimulatedNetwork;
  /** The device's TLS (trust store at the device clock); default: the network's CA on the host clock. */
  tls?: DeviceTls;
  logger: Logger;
  /** EHLO name (the printer's host name). */
  clientName?: string;
  /** ms; defaults suit a printer on a LAN talking to Exchange Online. */
  timeouts?: { connectionMs?: number; greetingMs?: number; socketMs?: number };
}

export class NodemailerMailAdapter implements MailPort {
  /** Submissions in flight: power off aborts them (nodemailer's close() of a non-pooled transport leaves its socket). */
  private readonly inFlight = new Set<AbortController>();
  private readonly log: Logger;
  /** The device's trust store at its clock; shares its SecureContext per store revision (see deviceTls.ts). */
  private readonly tls: DeviceTls;

  constructor(private readonly opts: MailAdapterOptions) {
    this.log = opts.logger.child({ component: 'mail' });
    this.tls = opts.tls ?? new DeviceTls(fixedTrust(opts.network.caPem));
  }

  /**
   * nodemailer transport options for one submission (exported for tests and docs). `dial`: the address a bench
   * resolver gave for the host (nodemailer then connects to it and verifies TLS against the host name).
   */
  transportOptions(target: SmtpTarget, credential: SmtpCredential, dial?: string): SMTPTransport.Options {
    const routed = resolveEndpoint(this.opts.network, target.host, target.port);
    const to = dial ? { host: dial, port: routed.port, servername: routed.servername ?? routed.host } : routed;
    const t = this.opts.timeouts ?? {};
    return {
      host: to.host,
      port: to.port,
      // Port 465 is implicit TLS; 587 and 25 start plain and must upgrade with STARTTLS.
      secure: to.port === 465,
      requireTLS: target.secure,
      // nodemailer hands these to tls.connect (also for the STARTTLS upgrade): the device's check runs in it.
      tls: {
        ...this.tls.connectOptions(),
        ...(to.servername ? { servername: to.servername } : {}),
      },
      // nodemailer picks AUTH PLAIN or LOGIN for a password by what EHLO lists (Exchange lists LOGIN).
      auth:
        credential.password !== undefined
          ? { type: 'login', user: target.user, pass: credential.password }
          : { type: 'OAuth2', user: target.user, accessToken: credential.accessToken },
      pool: false,
      name: this.opts.clientName,
      connectionTimeout: t.connectionMs ?? 30_000,
      greetingTimeout: t.greetingMs ?? 30_000,
      socketTimeout: t.socketMs ?? 120_000,
      logger: false,
      debug: false,
    };
  }

  async submit(args: { target: SmtpTarget; message: OutgoingMessage } & SmtpCredential): Promise<{ reply: string }> {
    const { target, message } = args;
    const credential: SmtpCredential = args.password !== undefined ? { password: args.password } : { accessToken: args.accessToken };
    const transport = nodemailer.createTransport(this.transportOptions(target, credential, await this.dialAddress(target)));
    const abort = new AbortController();
    this.inFlight.add(abort);
    try {
      // `signal` (nodemailer ≥ 8; not in @types/nodemailer): an abort closes the connection mid-transaction.
      const info = await transport.sendMail({
        signal: abort.signal,
        messageId: message.messageId,
        from: message.from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        attachments: message.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, path: a.path })),
        // The Send As rule: envelope sender = header From = a mailbox the signed-in user may send as.
        envelope: { from: message.from, to: message.to },
      } as Parameters<typeof transport.sendMail>[0]);
      this.log.info({ messageId: message.messageId, recipients: message.to.length, reply: info.response }, 'message accepted');
      return { reply: info.response };
    } catch (err) {
      const failure = err instanceof SendFailure ? err : classifySmtp(smtpFactsOf(err));
      this.log.info({ messageId: message.messageId, category: failure.category, transient: failure.transient, code: failure.code, reply: failure.reply }, 'submission failed');
      throw failure;
    } finally {
      this.inFlight.delete(abort);
      transport.close();
    }
  }

  /**
   * With a bench resolver, the address to dial for the (routed) host, resolved here because nodemailer asks the
   * process-wide DNS itself. A name that does not resolve fails the job as the system resolver would (ENOTFOUND).
   */
  private async dialAddress(target: SmtpTarget): Promise<string | undefined> {
    const resolver = this.opts.network.resolver;
    if (!resolver) return undefined;
    const host = resolveEndpoint(this.opts.network, target.host, target.port).host;
    try {
      return (await resolver.lookup(host))[0]!.address;
    } catch (err) {
      throw classifySmtp(smtpFactsOf(err));
    }
  }

  /**
   * Power off: cut every submission in flight, as a power cut would — before this, a submission that was waiting on
   * the server went on after the power-off and delivered a mail the rebooted device then sent again.
   */
  shutdown(): void {
    for (const a of this.inFlight) a.abort();
    this.inFlight.clear();
  }
}
