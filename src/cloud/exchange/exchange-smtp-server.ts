/**
 * smtp-server, made to talk like the Exchange Online front end in two places the library does not let options reach:
 *
 * 1. Enhanced status codes. With ENHANCEDSTATUSCODES on (Exchange advertises it) the library puts its own default
 *    code in front of every reply, so a handler error "5.7.3 Authentication unsuccessful" would go out as
 *    "535 5.7.8 5.7.3 …". A reply whose text already starts with an enhanced code is sent as is.
 * 2. The greeting: "220 <host> Microsoft ESMTP MAIL Service ready at <date>" (the library puts "ESMTP" right after
 *    the name), with the date from the twin's clock.
 * 3. The EHLO list in Exchange's order (ehlo.ts), and the library's own replies that Exchange words differently
 *    (STARTTLS, the idle timeout) in Exchange's words (replies.ts `inExchangeWords`).
 *
 * It also lets the twin find the socket of a session, so a `drop` fault can cut the connection, and makes the pause
 * before the greeting configurable: smtp-server waits a fixed 100 ms (wall time) on every connection to catch "early
 * talkers" (clients that send before the greeting, as spam bots do). That is the library's and a real server's
 * behaviour and stays the default; a simulation that opens thousands of connections (a soak, a fleet) may set 0.
 */
import type net from 'node:net';
import type tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SMTPConnection, type SMTPConnectionOptions } from 'smtp-server/lib/smtp-connection.js';
import type { Clock } from '../../time/clock.ts';
import { inExchangeOrder } from './ehlo.ts';
import { ENHANCED_CODE_PREFIX, inExchangeWords } from './replies.ts';
import { peerAddress } from '../journal/http-journal.ts';
import type { SmtpJournalEntry, WireJournal } from '../journal/wire-journal.ts';

/** The command a reply answers, as the journal shows it (arguments only where they are not secret). */
interface PendingCommand {
  command: string;
  fields: Partial<SmtpJournalEntry>;
}

/** Verbs whose argument is an address or a name (never a credential). */
const ADDRESS_ARGUMENT = /^(MAIL FROM|RCPT TO):\s*<?([^>\s]{0,320})>?/i;

class ExchangeSmtpConnection extends SMTPConnection {
  /** The accepted TCP socket; destroying it also ends a TLS session running on top of it. */
  readonly tcpSocket: net.Socket | tls.TLSSocket;

  constructor(
    server: ExchangeSmtpServer,
    socket: net.Socket | tls.TLSSocket,
    options: SMTPConnectionOptions | null | undefined,
  ) {
    super(server, socket, options);
    this.tcpSocket = socket;
  }

  private pending: PendingCommand | null = null;
  private authMechanism = '';
  /** Fields the twin learnt about the message (Message-ID, size), put on the next journal entry. */
  notes: Partial<SmtpJournalEntry> = {};
  /** The SASL user name of the session's AUTH (put on every later entry: the rules judge per mailbox). */
  upn: string | undefined;

  /** Journals the verb (and only non-secret arguments) before smtp-server handles the line. */
  override _onCommand(command: Buffer, callback: () => void): void {
    if ((this._server as ExchangeSmtpServer).journal && !this._upgrading) this.pending = this.describe(String(command ?? ''));
    super._onCommand(command, callback);
  }

  private describe(line: string): PendingCommand {
    // A line inside an AUTH exchange is a SASL payload: a secret, never recorded.
    if (this._nextHandler) return { command: 'AUTH', fields: { mechanism: this.authMechanism } };
    const [verb = '', arg = ''] = line.split(/ (.*)/s, 2);
    const command = verb.toUpperCase().slice(0, 16);
    if (command === 'EHLO' || command === 'HELO') return { command, fields: { ehlo: arg.trim().slice(0, 255) } };
    if (command === 'AUTH') {
      this.authMechanism = (arg.split(' ')[0] ?? '').toUpperCase().slice(0, 32);
      return { command, fields: { mechanism: this.authMechanism } };
    }
    const m = ADDRESS_ARGUMENT.exec(line);
    if (m) return { command, fields: m[1]!.toUpperCase().startsWith('MAIL') ? { mailFrom: m[2] } : { rcptTo: m[2] } };
    return { command, fields: {} };
  }

  /** Called once TLS is up (onSecure). */
  journalTls(socket: tls.TLSSocket): void {
    const servername = (socket as tls.TLSSocket & { servername?: string | false }).servername;
    this.record({
      command: 'TLS',
      tls: { version: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher()?.name ?? 'unknown', ...(servername ? { servername } : {}) },
    });
  }

  private record(fields: Partial<SmtpJournalEntry> & { command: string }): void {
    const journal = (this._server as ExchangeSmtpServer).journal;
    const upn = this.upn ? { upn: this.upn } : {};
    journal?.add({ kind: 'smtp', client: peerAddress(this.remoteAddress), session: this.id, ...upn, ...this.notes, ...fields });
    this.notes = {};
  }

  /** The connection ended (either side), journalled once: the rules count open connections per mailbox. */
  override _onClose(): void {
    const first = !this._closed;
    super._onClose();
    if (first && (this._server as ExchangeSmtpServer).journal) this.record({ command: 'CLOSE' });
  }

  private journalReply(code: number, data: string | string[] | null | undefined): void {
    if (!(this._server as ExchangeSmtpServer).journal) return;
    const text = Array.isArray(data) ? (data[0] ?? '') : String(data ?? '');
    const enhanced = /^(\d\.\d{1,3}\.\d{1,3})\b/.exec(text)?.[1];
    const p = this.pending ?? { command: code === 220 && !this.greeted ? 'CONNECT' : 'SERVER', fields: {} };
    this.greeted = true;
    this.pending = code === 354 ? { command: 'MESSAGE', fields: {} } : null;
    const outcome = p.command === 'AUTH' ? (code === 235 ? 'accepted' : code === 334 ? 'continue' : 'refused') : undefined;
    this.record({ ...p.fields, command: p.command, reply: code, ...(enhanced ? { enhanced } : {}), ...(outcome ? { outcome } : {}) });
  }

  private greeted = false;

  /**
   * SMTPConnection.init with the early-talker pause taken from the server (smtp-server 3.x hard-codes 100 ms). A
   * client that talks during the pause is still refused ("You talk too soon"): the pause only gets shorter.
   */
  override init(): void {
    const server = this._server as ExchangeSmtpServer;
    this._setListeners(() => {
      if (server.options.maxClients && server.connections.size > server.options.maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      // Unref'd like the library's timer: a connection waiting for its greeting does not keep the process alive.
      setTimeout(() => this.connectionReady(), server.greetingDelayMs).unref();
    });
  }

  /** EHLO with the mechanisms the tenant offers now (the server's list stays what AUTH accepts). */
  override handler_EHLO(command: Buffer, callback: () => void): void {
    const server = this._server as ExchangeSmtpServer;
    const accepted = server.options.authMethods;
    if (server.advertisedAuthMethods) server.options.authMethods = server.advertisedAuthMethods();
    this.answeringEhlo = true;
    try {
      super.handler_EHLO(command, callback); // reads the list and sends the reply synchronously
    } finally {
      server.options.authMethods = accepted;
      this.answeringEhlo = false;
    }
  }

  /** True while the library composes an EHLO reply, whose extension lines send() puts in Exchange's order. */
  private answeringEhlo = false;

  override send(code: number, data?: string | string[] | null, context?: string | false): void {
    if (this.answeringEhlo && code === 250 && Array.isArray(data)) data = [data[0] ?? '', ...inExchangeOrder(data.slice(1))];
    const exchange = typeof data === 'string' ? inExchangeWords(code, data) : undefined;
    if (exchange) [code, data] = [exchange.code, exchange.text];
    const carriesOwnCode = typeof data === 'string' && ENHANCED_CODE_PREFIX.test(data);
    super.send(code, data, carriesOwnCode ? false : context);
    // A reply to a connection that has closed (a `drop` cut it while a stage was held) never reached the wire; and
    // journalled after the session's CLOSE it would count the session as open again (smtp.max-connections).
    if (!this._closed) this.journalReply(code, carriesOwnCode ? data : (data ?? null));
    if (exchange?.closes && code !== 421) this.close(); // the library closes after a 421 only
  }

  override _sendGreeting(): void {
    const server = this._server as ExchangeSmtpServer;
    this.send(220, `${this.name} Microsoft ESMTP MAIL Service ready at ${rfc5322Date(server.clock.now())}`, false);
  }
}

/** smtp-server's own pause before the greeting (ms of wall time), which a real server also makes. */
export const DEFAULT_SMTP_GREETING_DELAY_MS = 100;

export class ExchangeSmtpServer extends SMTPServer {
  constructor(
    options: SMTPServerOptions,
    readonly clock: Clock,
    /** Wall-time pause before the greeting of each connection (early-talker check). */
    readonly greetingDelayMs: number = DEFAULT_SMTP_GREETING_DELAY_MS,
    /** SASL mechanisms EHLO lists, when they depend on the tenant (basic-auth.ts); default: options.authMethods. */
    readonly advertisedAuthMethods?: () => string[],
    /** Where every command and reply is journalled (absent: nothing is). */
    readonly journal?: WireJournal,
  ) {
    super(options);
    if (!Number.isFinite(greetingDelayMs) || greetingDelayMs < 0) throw new RangeError(`greetingDelayMs must be ≥ 0, got ${greetingDelayMs}`);
  }

  /** Same as SMTPServer.connect, with the Exchange-flavoured connection class. */
  override connect(socket: net.Socket | tls.TLSSocket, socketOptions?: SMTPConnectionOptions | null): void {
    const connection = new ExchangeSmtpConnection(this, socket, socketOptions);
    this.connections.add(connection);
    connection.on('error', (err) => this._onError(err));
    connection.on('connect', (data) => this._onClientConnect(data));
    connection.init();
  }

  private connectionOf(sessionId: string): ExchangeSmtpConnection | undefined {
    for (const c of this.connections) if (c.id === sessionId && c instanceof ExchangeSmtpConnection) return c;
    return undefined;
  }

  /** Journal fields learnt about a session's message (Message-ID, size, digest), attached to its next reply's entry. */
  noteMessage(sessionId: string, notes: { messageId?: string; size: number; digest?: string }): void {
    const c = this.connectionOf(sessionId);
    if (c) c.notes = { ...(notes.messageId ? { messageId: notes.messageId.slice(0, 998) } : {}), size: notes.size, ...(notes.digest ? { digest: notes.digest } : {}) };
  }

  /** The user name a session's AUTH names (before it is judged): its reply and later entries carry it. */
  noteAuthUser(sessionId: string, user: string | undefined): void {
    const c = this.connectionOf(sessionId);
    if (c && user) c.upn = user.toLowerCase().slice(0, 320);
  }

  /** Journals the TLS parameters of a session once STARTTLS completed. */
  noteTls(sessionId: string, socket: tls.TLSSocket): void {
    this.connectionOf(sessionId)?.journalTls(socket);
  }

  /** Cuts the connection of a session at the TCP level (a `drop` fault). Returns false if it is already gone. */
  dropSession(sessionId: string): boolean {
    for (const c of this.connections) {
      if (c.id === sessionId && c instanceof ExchangeSmtpConnection) {
        c.tcpSocket.destroy();
        c._socket.destroy();
        return true;
      }
    }
    return false;
  }
}

/** "Mon, 5 Jan 2026 08:00:00 +0000", as Exchange prints its greeting date (UTC). */
function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const hms = [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${hms} +0000`;
}
