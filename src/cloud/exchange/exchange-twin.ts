/**
 * The Exchange Online twin: SMTP client submission (smtp.office365.com:587 style) on smtp-server, wired to the Entra
 * twin's directory and token keys. Each handler below is one SMTP stage; the rules it applies live in their own
 * modules (bearer-token, auth-policy, mailbox-limits, mail-store, replies, smtp-faults).
 */
import { randomInt } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import type { Logger } from 'pino';
import type { SMTPServerAuthenticationResponse, SMTPServerSession } from 'smtp-server';
import type { Clock } from '../../time/clock.ts';
import type { CloudDirectory, FaultPlan, MailStore, TokenTrust } from '../contracts.ts';
import { evaluateSmtpAuth, maySendAs } from './auth-policy.ts';
import { authenticateBasic, BasicAuthPolicy, type PasswordCheck } from './basic-auth.ts';
import { createBearerTokenVerifier, TokenRejectedError } from './bearer-token.ts';
import { ExchangeSmtpServer } from './exchange-smtp-server.ts';
import { messageDigest } from '../journal/message-digest.ts';
import { addresses, InMemoryMailStore } from './mail-store.ts';
import { ConcurrentConnections, DailyRecipientQuota, SendAsDenials } from './mailbox-limits.ts';
import { createHostIdentity, exchangeReplies, SmtpReplyError } from './replies.ts';
import { ExchangeServicePrincipals, isAppOnlyToken, verifyAppOnlyLogin } from './service-principals.ts';
import { applySmtpFault, type SmtpFaultTarget } from './smtp-faults.ts';
import { HOLD_TARGET_OF, type HoldGate } from '../holds.ts';
import { peerAddress } from '../journal/http-journal.ts';

export interface ExchangeTwinOptions {
  host: string;
  port: number /* 0 = ephemeral */;
  tls: { key: string; cert: string };
  clock: Clock;
  /** Wire journal of every command and reply (absent: nothing is journalled). */
  journal?: import('../journal/wire-journal.ts').WireJournal;
  directory: CloudDirectory;
  trust: TokenTrust;
  faults: FaultPlan;
  logger?: import('pino').Logger;
  maxMessageBytes?: number /* default 157286400 */;
  /**
   * Wall-time pause before each connection's greeting (smtp-server's early-talker check); default 100 ms, the
   * library's and a real server's behaviour. Soaks and fleets pass 0: see docs/benchmarks.md.
   */
  smtpGreetingDelayMs?: number;
  /**
   * Wall time a session may wait for the client's next input before the twin closes it with Exchange's
   * `451 4.7.0 Timeout waiting for client input`; default 5 minutes (Exchange's ConnectionInactivityTimeout). The
   * tenant fixture's `exchange.connectionInactivityTimeoutSeconds` sets it.
   */
  idleTimeoutMs?: number;
  /**
   * Basic auth and app-only sending (issue 14). Absent: basic auth is refused as disabled and no app-only token is
   * accepted (no service principal is registered).
   */
  authMethods?: ExchangeAuthMethods;
  /** Holds at the boundary (holds.ts) for connect, AUTH and DATA (absent: nothing is held). */
  holds?: HoldGate;
  /** The tenant's throttling (throttling.ts): submissions per mailbox per minute; absent: none. */
  throttle?: import('../throttling.ts').TenantThrottle;
}

export interface ExchangeAuthMethods {
  basicAuth: BasicAuthPolicy;
  checkPassword: PasswordCheck;
  principals: ExchangeServicePrincipals;
}

export interface ExchangeTwin {
  host: string;
  port: number;
  mailStore: MailStore;
  /** Serves another certificate (chain PEM) from the next STARTTLS on (a root migration, src/cloud/pki.ts). */
  setCertificate(tls: { key: string; cert: string }): void;
  close(): Promise<void>;
}

/** Exchange Online's message size limit (150 MiB), advertised in EHLO as SIZE. */
export const DEFAULT_MAX_MESSAGE_BYTES = 157_286_400;

/** Exchange Server's receive connector default ConnectionInactivityTimeout (00:05:00); Exchange Online publishes none. */
export const DEFAULT_SMTP_IDLE_TIMEOUT_MS = 5 * 60_000;

/** What the twin keeps about one SMTP connection, beyond smtp-server's session. */
interface SessionState {
  closed: boolean;
  /** The envelope sender of the current transaction may not be used; refused after DATA (policy). */
  envelopeSendAsDenied: boolean;
  /** Aborted when the connection closes (a hold on the session then ends). */
  gone: AbortController;
}

/** smtp-server keeps whatever onAuth returns as `session.user`. */
interface SignedInMailbox {
  upn: string;
}

/** The `gone` of a session that has already closed. */
function alreadyGone(): AbortController {
  const c = new AbortController();
  c.abort();
  return c;
}

export async function startExchangeTwin(opts: ExchangeTwinOptions): Promise<ExchangeTwin> {
  const { clock, directory, faults } = opts;
  const log = opts.logger?.child({ service: 'exchange-twin' });
  const host = createHostIdentity((max) => randomInt(Math.max(1, max)));
  const replies = exchangeReplies(host);
  const verifier = createBearerTokenVerifier(opts.trust, clock);
  const connections = new ConcurrentConnections(3);
  const sendAs = new SendAsDenials(clock);
  const recipientQuota = new DailyRecipientQuota(clock);
  const mailStore = new InMemoryMailStore();
  const sessions = new Map<string, SessionState>();
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_SMTP_IDLE_TIMEOUT_MS;
  // 0 would mean "the library's 60 s" to smtp-server, not "never": refuse it with the rest.
  if (!Number.isFinite(idleTimeoutMs) || idleTimeoutMs <= 0) throw new RangeError(`idleTimeoutMs must be > 0, got ${idleTimeoutMs}`);
  const authMethods: ExchangeAuthMethods = opts.authMethods ?? {
    basicAuth: new BasicAuthPolicy({ disabledByDefaultFrom: 0, adminReEnabled: false, finalRemovalAt: null, tenantCreatedAt: 0 }),
    checkPassword: () => false,
    principals: new ExchangeServicePrincipals({ servicePrincipals: [], mailboxPermissions: [] }),
  };

  const signedIn = (session: SMTPServerSession): SignedInMailbox | undefined =>
    session.user && typeof session.user.upn === 'string' ? (session.user as SignedInMailbox) : undefined;
  /** Created in onConnect, removed in onClose; a session no longer in the map has closed. */
  const stateOf = (session: SMTPServerSession): SessionState =>
    sessions.get(session.id) ?? { closed: true, envelopeSendAsDenied: false, gone: alreadyGone() };
  /** A stage's boundary: a hold on it waits first (its outcome replaces the plan's), then the fault plan. */
  const fault = async (target: SmtpFaultTarget, session: SMTPServerSession, upn?: string) => {
    const holdTarget = HOLD_TARGET_OF[target];
    const request = { client: peerAddress(session.remoteAddress), session: session.id, ...(upn ? { upn } : {}) };
    const held = holdTarget && opts.holds ? await opts.holds.wait(holdTarget, request, stateOf(session).gone.signal) : null;
    return applySmtpFault(
      faults,
      target,
      () => server.dropSession(session.id),
      (msg) => log?.warn({ target }, msg),
      held,
    );
  };

  /**
   * Runs an async stage and answers smtp-server's callback: a SmtpReplyError is the reply; anything else is a bug in
   * the twin, logged and answered with a transient 451 so the client retries instead of giving up.
   */
  function stage<T>(name: string, work: () => Promise<T>, done: (err: Error | null, value?: T) => void): void {
    work().then(
      (value) => done(null, value),
      (err: unknown) => {
        if (err instanceof SmtpReplyError) return done(err);
        log?.error({ err, stage: name }, 'exchange twin stage failed');
        done(new SmtpReplyError(451, '4.3.0', 'Temporary server error. Please try again later'));
      },
    );
  }

  const server: ExchangeSmtpServer = new ExchangeSmtpServer(
    {
      name: host.name,
      key: opts.tls.key,
      cert: opts.tls.cert,
      minVersion: 'TLSv1.2',
      secure: false, // port 587 style: plain connect, then STARTTLS
      // Accepted mechanisms; EHLO lists the tenant's (basic-auth.ts: "AUTH LOGIN XOAUTH2" in this order).
      authMethods: ['LOGIN', 'PLAIN', 'XOAUTH2'],
      size: maxMessageBytes,
      // EHLO as Exchange lists it (ehlo.ts puts the lines in Exchange's order): DSN on, so MAIL FROM RET=/ENVID= and
      // RCPT NOTIFY=/ORCPT= are accepted; no REQUIRETLS, which Exchange does not list.
      hideENHANCEDSTATUSCODES: false,
      hideDSN: false,
      hideREQUIRETLS: true,
      hideSTARTTLS: false,
      socketTimeout: idleTimeoutMs,
      disableReverseLookup: true, // no DNS: the twin only ever talks to loopback
      heloResponse: '%s Hello %s',
      authRequiredMessage: replies.notAuthenticated().message,
      closeTimeout: 1_000,
      logger: log ? (log as unknown as import('nodemailer/lib/shared').Logger) : false,

      onConnect(session, callback) {
        sessions.set(session.id, { closed: false, envelopeSendAsDenied: false, gone: new AbortController() });
        // No AUTH before STARTTLS: not advertised in EHLO, and refused as an unknown command.
        session.disabledCommands = ['AUTH'];
        stage(
          'connect',
          async () => {
            const f = await fault('smtp.connect', session);
            if (f.kind === 'reply') throw f.error; // smtp-server sends it and closes the connection
          },
          (err) => callback(err),
        );
      },

      onSecure(socket, session, callback) {
        server.noteTls(session.id, socket as import('node:tls').TLSSocket);
        session.disabledCommands = undefined; // back to the server-wide list: AUTH is offered from now on
        callback();
      },

      onAuth(auth, session, callback) {
        server.noteAuthUser(session.id, auth.username);
        stage<SMTPServerAuthenticationResponse>(
          'auth',
          async () => {
            const f = await fault('smtp.auth', session, auth.username?.slice(0, 256));
            if (f.kind === 'reply') throw f.error;
            if (f.kind === 'dropped') throw replies.badToken(); // nobody is listening any more
            let upn: string;
            try {
              if (auth.method !== 'XOAUTH2') {
                upn = authenticateBasic(auth, { policy: authMethods.basicAuth, directory, checkPassword: authMethods.checkPassword, replies, now: clock.now() });
              } else if (isAppOnlyToken(auth.accessToken ?? '')) {
                ({ upn } = await verifyAppOnlyLogin(auth.username ?? '', auth.accessToken ?? '', { tokens: verifier, principals: authMethods.principals }));
              } else {
                ({ upn } = await verifier.verify(auth.username ?? '', auth.accessToken ?? ''));
              }
            } catch (err) {
              if (err instanceof TokenRejectedError) {
                log?.info({ reason: err.reason, cid: session.id }, 'XOAUTH2 token refused');
                throw replies.badToken();
              }
              throw err;
            }

            const outcome = evaluateSmtpAuth(directory.user(upn), directory.policy());
            if (!outcome.allowed) {
              log?.info({ reason: outcome.reason, cid: session.id }, 'SMTP AUTH refused by policy');
              switch (outcome.reason) {
                case 'unknown-user':
                case 'user-disabled':
                  throw replies.badToken();
                case 'smtp-auth-disabled-mailbox':
                  throw replies.smtpAuthDisabledForMailbox(clock.now());
                case 'smtp-auth-disabled-tenant':
                  throw replies.smtpAuthDisabledForTenant(clock.now());
                case 'security-defaults':
                  throw replies.securityDefaults(clock.now());
              }
            }

            if (!connections.tryAcquire(upn)) throw replies.concurrentConnections();
            if (stateOf(session).closed) {
              connections.release(upn); // the client left while we were verifying
              throw replies.badToken();
            }
            const user: SignedInMailbox = { upn };
            return { user };
          },
          (err, response) => callback(err, response),
        );
      },

      onMailFrom(address, session, callback) {
        stage(
          'mail',
          async () => {
            const f = await fault('smtp.mail', session);
            if (f.kind === 'reply') throw f.error;
            const mailbox = signedIn(session);
            const user = mailbox && directory.user(mailbox.upn);
            if (!mailbox || !user) throw replies.notAuthenticated();
            if (sendAs.isThrottled(mailbox.upn)) throw replies.sendAsThrottled();
            const rate = opts.throttle?.admitSubmission(mailbox.upn);
            if (rate) throw rate;
            const state = stateOf(session);
            state.envelopeSendAsDenied = false;
            if (!maySendAs(user, address.address)) {
              if (directory.policy().sendAsDeniedAfterData) {
                state.envelopeSendAsDenied = true; // accepted now, refused once the message is in
              } else {
                sendAs.recordDenial(mailbox.upn);
                throw replies.sendAsDeniedAtMailFrom();
              }
            }
          },
          (err) => callback(err),
        );
      },

      onRcptTo(_address, session, callback) {
        const mailbox = signedIn(session);
        if (mailbox && !recipientQuota.allows(mailbox.upn, session.envelope.rcptTo.length + 1)) {
          return callback(replies.dailyRecipientQuota());
        }
        callback();
      },

      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        let buffered = 0;
        stream.on('data', (chunk: Buffer) => {
          // Keep nothing past the limit: the message is refused anyway, and memory stays bounded.
          if (buffered + chunk.length <= maxMessageBytes) {
            chunks.push(chunk);
            buffered += chunk.length;
          }
        });
        stream.on('error', () => {
          // The client went away mid-message; smtp-server cleans up the connection, nothing is stored.
        });
        stream.on('end', () => {
          stage(
            'data',
            async () => {
              const f = await fault('smtp.data', session, signedIn(session)?.upn);
              // A scripted refusal still journals the message's Message-ID: the rules judge the resend against it.
              if (f.kind === 'reply') {
                await noteMessage(session, Buffer.concat(chunks));
                throw f.error;
              }
              if (f.kind === 'dropped') throw replies.badToken(); // not sent: the socket is gone
              if (stream.sizeExceeded) throw replies.messageTooBig();
              return await accept(session, Buffer.concat(chunks));
            },
            (err, reply) => callback(err, reply),
          );
        });
      },

      onClose(session) {
        const state = sessions.get(session.id);
        if (state) state.closed = true;
        state?.gone.abort();
        sessions.delete(session.id);
        const mailbox = signedIn(session);
        if (mailbox) connections.release(mailbox.upn);
      },
    },
    clock,
    opts.smtpGreetingDelayMs,
    () => authMethods.basicAuth.advertised(clock.now()),
    opts.journal,
  );

  /** Parses the message and puts what the journal keeps of it (Message-ID, size, digest) on the session's next entry. */
  async function noteMessage(session: SMTPServerSession, raw: Buffer) {
    // Nothing reads an HTML rendering of a text body: the journal's digest, Send As and the mail store use the
    // headers, the text and the attachments. Skipping it saves the linkify and HTML work on every mail.
    const parsed = await simpleParser(raw, { skipTextToHtml: true, skipTextLinks: true, skipImageLinks: true });
    server.noteMessage(session.id, { messageId: parsed.messageId, size: raw.length, digest: messageDigest(parsed) });
    return parsed;
  }

  /** After DATA: Send As on the header From (and on the envelope when policy defers it), quota, then filing. */
  async function accept(session: SMTPServerSession, raw: Buffer): Promise<string> {
    const mailbox = signedIn(session);
    const user = mailbox && directory.user(mailbox.upn);
    if (!mailbox || !user) throw replies.notAuthenticated();
    const parsed = await noteMessage(session, raw);

    const headerFrom = addresses(parsed.from);
    const headerDenied = headerFrom.some((a) => !maySendAs(user, a));
    if (stateOf(session).envelopeSendAsDenied || headerDenied) {
      sendAs.recordDenial(mailbox.upn);
      throw replies.sendAsDeniedAfterData();
    }
    if (user.mailboxFull) throw replies.mailboxFull();

    const recipients = session.envelope.rcptTo.map((r) => r.address);
    const stored = mailStore.deliver({
      raw,
      parsed,
      sender: mailbox.upn,
      inboxes: recipients.filter((a) => directory.user(a) !== undefined),
      receivedAt: clock.now(),
    });
    sendAs.recordSuccess(mailbox.upn);
    recipientQuota.record(mailbox.upn, recipients.length);
    log?.info({ cid: session.id, mailbox: mailbox.upn, id: stored.id, size: raw.length }, 'message accepted');
    return `2.0.0 OK <${stored.id}@${host.name}> [Hostname=${host.name}]`;
  }

  server.on('error', (err) => log?.warn({ err }, 'smtp connection error'));

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address() as AddressInfo;

  return {
    host: opts.host,
    port: address.port,
    mailStore,
    setCertificate: (tls) => server.updateSecureContext({ key: tls.key, cert: tls.cert }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
