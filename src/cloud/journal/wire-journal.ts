/**
 * The wire journal: what the twin saw of each client on the wire — every OAuth/sign-in HTTP request to the Entra half
 * and every SMTP command and reply of the Exchange half — kept in a bounded ring (oldest entries dropped, and
 * counted). Entries hold no secrets: no passwords, tokens, codes, assertions or SASL payloads, only what a tester
 * needs to see how a device behaved (method, path, grant type, client_id, status, error, AADSTS; SMTP verb, reply
 * code, EHLO name, TLS version/cipher, AUTH mechanism, envelope, Message-ID, size).
 */

export interface JournalBase {
  /** 1, 2, 3… in the order the twin saw things; `since` filters on it. */
  seq: number;
  /** Twin clock, ISO 8601. */
  at: string;
  /** The peer's IP address. */
  client: string;
}

export interface HttpJournalEntry extends JournalBase {
  kind: 'http';
  method: string;
  /** Path without the query string (queries can carry codes). */
  path: string;
  /** The Host header the client sent (which name it reached the twin by). */
  host?: string;
  grantType?: string;
  clientId?: string;
  /** `scope` of a device-code or token request (not secret; rules read offline_access from it). */
  scope?: string;
  status: number;
  error?: string;
  aadsts?: number;
  /** `interval` of a device-code answer (seconds). */
  interval?: number;
  /** `expires_in` of a device-code answer (the code's life) or of a token answer (the access token's), seconds. */
  expiresIn?: number;
  /** `Retry-After` of the answer (seconds), when the twin sent one (429/503). */
  retryAfter?: number;
  /**
   * Which device code a code answer or a poll is about: a keyed digest (HMAC with a key that lives only in this
   * twin), so polls can be told apart per code while the code itself never reaches the journal.
   */
  codeRef?: string;
  /** The account a token answer is for (the id token's preferred_username), when the answer carries one. */
  upn?: string;
  /** Wall-clock milliseconds the twin took to answer. */
  durationMs: number;
}

export interface SmtpJournalEntry extends JournalBase {
  kind: 'smtp';
  /** smtp-server's session id (one TCP connection). */
  session: string;
  /**
   * CONNECT (greeting), TLS (handshake done), an SMTP verb, MESSAGE (end of data), SERVER (unprompted reply) or
   * CLOSE (the connection ended, whoever closed it).
   */
  command: string;
  /** The mailbox the session authenticated as (or tried to): the SASL user name, never the token or password. */
  upn?: string;
  /**
   * Of a MESSAGE: SHA-256 (hex, 16 digits) of the Subject and the body (text and attachments), without the headers a
   * resend changes (Date, Message-ID): the same job resent has the same digest.
   */
  digest?: string;
  reply?: number;
  enhanced?: string;
  ehlo?: string;
  tls?: { version: string; cipher: string; servername?: string };
  mechanism?: string;
  outcome?: 'accepted' | 'refused' | 'continue';
  mailFrom?: string;
  rcptTo?: string;
  messageId?: string;
  size?: number;
}

/** A hold at the boundary (src/cloud/holds.ts) caught a request, or let it go. */
export interface HoldJournalEntry extends JournalBase {
  kind: 'hold';
  event: 'hold.caught' | 'hold.released' | 'hold.timed-out' | 'hold.cancelled' | 'hold.abandoned';
  /** The hold's id (GET /_twin/holds/{id}). */
  hold: string;
  /** device-code, token, smtp-connect, smtp-auth or smtp-data. */
  target: string;
  grantType?: string;
  clientId?: string;
  /** SMTP mailbox (AUTH user name or the signed-in mailbox). */
  upn?: string;
  /** smtp-server's session id, for SMTP targets. */
  session?: string;
  /** What the request was let go with: "proceed", "error invalid_grant 50173", "reply 535 5.7.139 …", "drop"… */
  answer?: string;
  /** Wall-time milliseconds the request was held. */
  heldMs?: number;
}

export type JournalEntry = HttpJournalEntry | SmtpJournalEntry | HoldJournalEntry;
type Unnumbered<T> = T extends JournalEntry ? Omit<T, 'seq' | 'at'> : never;

export interface JournalFilter {
  /** A peer address, a client_id or a UPN (case-insensitive): entries of that client. */
  client?: string;
  kind?: JournalEntry['kind'];
  /** Entries with seq greater than this. */
  since?: number;
}

export const DEFAULT_JOURNAL_CAPACITY = 10_000;

export class WireJournal {
  /**
   * The entries, oldest at `oldest` once the ring is full (before that, in order from 0). Slots are overwritten in
   * place: a soak or a fleet fills the journal early, and an array shift()ed at every add from then on cost 0.13 ms
   * of CPU a fleet mail, the twin's largest own function in a fleet's profile (docs/benchmarks.md, soak, 19th pass).
   */
  private readonly ring: JournalEntry[] = [];
  private oldest = 0;
  private next = 1;
  private droppedCount = 0;
  private readonly listeners = new Set<(entry: JournalEntry) => void>();

  constructor(
    private readonly now: () => number,
    readonly capacity: number = DEFAULT_JOURNAL_CAPACITY,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`journal capacity must be a positive integer, got ${capacity}`);
  }

  add<E extends Unnumbered<JournalEntry>>(entry: E): JournalEntry {
    const full = { seq: this.next++, at: new Date(this.now()).toISOString(), ...entry } as JournalEntry;
    if (this.ring.length < this.capacity) {
      this.ring.push(full);
    } else {
      this.ring[this.oldest] = full;
      this.oldest = (this.oldest + 1) % this.capacity;
      this.droppedCount++;
    }
    for (const l of this.listeners) {
      try {
        l(full);
      } catch (err) {
        queueMicrotask(() => {
          throw err; // the listener's bug surfaces as an uncaught error, not as a failure of the twin's request
        });
      }
    }
    return full;
  }

  /**
   * Calls `listener` with every entry from now on, as it is added (a tester's event: "the twin answered DATA"),
   * until the returned function is called.
   */
  subscribe(listener: (entry: JournalEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Entries pushed out of the ring since the start. */
  get dropped(): number {
    return this.droppedCount;
  }

  list(f: JournalFilter = {}): JournalEntry[] {
    const who = f.client?.toLowerCase();
    const ofClient = (e: JournalEntry) =>
      who === undefined || e.client.toLowerCase() === who || upnOf(e)?.toLowerCase() === who || (e.kind === 'http' && e.clientId?.toLowerCase() === who);
    const out: JournalEntry[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const e = this.ring[(this.oldest + i) % this.ring.length]!;
      if (ofClient(e) && (f.kind === undefined || e.kind === f.kind) && (f.since === undefined || e.seq > f.since)) out.push(e);
    }
    return out;
  }

  /** The twin's clock now (what entries' `at` is read from). */
  clockNow(): number {
    return this.now();
  }
}

/** The account an entry names, whatever its kind (kinds added later need not carry one). */
export function upnOf(e: JournalEntry): string | undefined {
  const upn = (e as { upn?: unknown }).upn;
  return typeof upn === 'string' ? upn : undefined;
}
