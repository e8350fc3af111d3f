/**
 * The conformance report: rules a well-behaved device follows, each checked from the wire journal alone and each
 * citing where the rule comes from. A rule either passes, fails (with the journal entries that show it) or is not
 * applicable (nothing in the journal it could judge). Each rule reads only the kinds and commands it knows, so entries
 * of other kinds (holds, future ones) pass through unjudged. The exact definitions (and the heuristics where the wire
 * cannot show intent) are in docs/cloud-twin.md, "Conformance rules".
 */
import type { HttpJournalEntry, JournalEntry, SmtpJournalEntry } from './wire-journal.ts';

export type Verdict = 'pass' | 'fail' | 'not-applicable';

export interface RuleResult {
  id: string;
  title: string;
  source: string;
  verdict: Verdict;
  /** Why it failed (one line per finding). */
  findings: string[];
  /** seq of the journal entries that show each failure. */
  evidence: number[];
}

/**
 * Not a rule: SMTP sessions in which a client sent STARTTLS and then no command over TLS (no handshake, or a handshake
 * and a hang-up) — how a device that refuses the twin's certificate looks on the wire (its clock, its trust store:
 * docs/clock-and-trust.md). Per client; the Entra half's HTTPS refusals do not reach the journal.
 */
export interface TlsRefusal {
  client: string;
  sessions: number;
  /** seq of each session's STARTTLS entry. */
  evidence: number[];
}

export interface ConformanceReport {
  entries: number;
  /** Journal entries dropped from the ring before the report (the report may miss what they showed). */
  dropped: number;
  passed: boolean;
  rules: RuleResult[];
  /** Clients that gave up on TLS after STARTTLS, which no rule judges (refusing a certificate is the client's right). */
  tlsRefusals: TlsRefusal[];
}

interface Failure {
  finding: string;
  evidence: number[];
}

interface Rule {
  id: string;
  title: string;
  source: string;
  check(j: Journal): { applicable: boolean; failures: Failure[] };
}

/** Slack for the twin's and the device's clocks (1 s; RFC 8628 counts whole seconds). */
const SLACK_MS = 1000;
/** A refresh while the last access token has more than this share of its life left is early. */
export const EARLY_REFRESH_LIFE_LEFT = 0.5;
/** An attempt within this time of a permanent refusal is a retry (later ones count only if refused the same way). */
export const RETRY_WINDOW_MS = 10 * 60_000;
/** The least back-off after 4.3.2, or after 429/503 without Retry-After. */
export const MIN_BACKOFF_MS = 10_000;
/** Exchange Online's limit of concurrent SMTP connections per mailbox. */
export const MAX_CONNECTIONS_PER_MAILBOX = 3;

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** Polling answers after which RFC 8628 §3.5 lets a client poll again; any other answer ends the code. */
const KEEP_POLLING = new Set(['authorization_pending', 'slow_down']);

const ms = (e: JournalEntry) => Date.parse(e.at);
const secs = (n: number) => `${Math.round(n) / 1000} s`;

/** A device-code request and the polls of that code. */
interface CodeRun {
  code: HttpJournalEntry;
  polls: HttpJournalEntry[];
}

/** The journal, indexed once for all rules. */
class Journal {
  readonly http: HttpJournalEntry[] = [];
  readonly smtp: SmtpJournalEntry[] = [];
  readonly codeRuns: CodeRun[] = [];

  constructor(readonly entries: JournalEntry[]) {
    const byRef = new Map<string, CodeRun>();
    const latestByClient = new Map<string, CodeRun>();
    for (const e of entries) {
      if (e.kind === 'smtp') this.smtp.push(e);
      if (e.kind !== 'http') continue;
      this.http.push(e);
      if (isCodeAnswer(e)) {
        const run = { code: e, polls: [] };
        this.codeRuns.push(run);
        if (e.codeRef) byRef.set(e.codeRef, run);
        latestByClient.set(appKey(e), run);
      } else if (isDevicePoll(e)) {
        // By code where the journal names it; otherwise (entries without codeRef) the client's latest code.
        const run = e.codeRef ? byRef.get(e.codeRef) : latestByClient.get(appKey(e));
        run?.polls.push(e);
      }
    }
  }

  /**
   * Successful token answers (any grant) to this address between two seqs (exclusive); of this app and account when
   * given (an answer that names no account matches any: devices behind one address are told apart where the wire
   * allows).
   */
  tokensBetween(client: string, afterSeq: number, beforeSeq: number, of: { clientId?: string; upn?: string } = {}): HttpJournalEntry[] {
    const upn = of.upn?.toLowerCase();
    return this.http.filter(
      (e) =>
        isTokenAnswer(e) &&
        e.client === client &&
        (of.clientId === undefined || e.clientId === of.clientId) &&
        (upn === undefined || e.upn === undefined || e.upn.toLowerCase() === upn) &&
        e.seq > afterSeq &&
        e.seq < beforeSeq,
    );
  }
}

const appKey = (e: HttpJournalEntry) => `${e.client} ${e.clientId ?? ''}`;
const isCodeRequest = (e: JournalEntry): e is HttpJournalEntry => e.kind === 'http' && e.path.endsWith('/oauth2/v2.0/devicecode');
const isCodeAnswer = (e: HttpJournalEntry): boolean => isCodeRequest(e) && e.status === 200;
const isTokenRequest = (e: JournalEntry): e is HttpJournalEntry => e.kind === 'http' && e.method === 'POST' && e.path.endsWith('/oauth2/v2.0/token');
const isDevicePoll = (e: HttpJournalEntry): boolean => isTokenRequest(e) && (e.grantType === DEVICE_CODE_GRANT || e.grantType === 'device_code');
const isTokenAnswer = (e: HttpJournalEntry): boolean => isTokenRequest(e) && e.status === 200;
const endsCode = (p: HttpJournalEntry) => p.status === 200 || (p.status === 400 && !KEEP_POLLING.has(p.error ?? ''));
/** An SMTP command that was answered (an AUTH still exchanging SASL lines is not yet). */
const isAuthAttempt = (e: SmtpJournalEntry) => e.command === 'AUTH' && e.outcome !== undefined && e.outcome !== 'continue';
/** Who an SMTP entry speaks for: the mailbox of its session's AUTH, or the address before any AUTH. */
const mailboxOf = (e: SmtpJournalEntry) => e.upn ?? `address ${e.client}`;

/** Seconds a code answer gives for polling: the interval, or 5 (RFC 8628 §3.2's default). */
const intervalMs = (run: CodeRun) => (run.code.interval ?? 5) * 1000;

/**
 * Walks the polls of each code with the interval required at each (5 s more after every slow_down) and hands each
 * poll but the first with its gap to the previous poll to `judge`. The interval is "between polling requests"
 * (RFC 8628 §3.2): the first poll may follow the code answer at once (MSAL for Python polls straight away).
 */
function eachPoll(j: Journal, judge: (poll: HttpJournalEntry, prev: HttpJournalEntry, gap: number, base: number, required: number) => void): void {
  for (const run of j.codeRuns) {
    let required = intervalMs(run);
    let prev: HttpJournalEntry | undefined;
    for (const poll of run.polls) {
      if (prev) judge(poll, prev, ms(poll) - ms(prev), intervalMs(run), required);
      if (poll.error === 'slow_down') required += 5000;
      prev = poll;
    }
  }
}

/**
 * A permanent refusal must not be retried: an attempt with the same key within RETRY_WINDOW_MS of the refusal, or
 * any later one that is refused the same way again (a blind retry), fails the rule.
 */
/** Basic (a password: LOGIN, PLAIN) or a bearer token (XOAUTH2): the two kinds of credential an AUTH carries. */
const authFamily = (mechanism: string | undefined): 'basic' | 'token' => ((mechanism ?? '').toUpperCase() === 'XOAUTH2' ? 'token' : 'basic');

function noRetryRule(code: string, spec: { id: string; title: string; source: string; refusedOn: string; retryOn: string; key: (e: SmtpJournalEntry) => string; what: string }): Rule {
  return {
    id: spec.id,
    title: spec.title,
    source: spec.source,
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      const refused = new Map<string, SmtpJournalEntry>();
      const flagged = new Set<string>(); // one finding per retrying session
      for (const e of j.smtp) {
        if (e.reply === undefined || (e.command !== spec.refusedOn && e.command !== spec.retryOn) || (e.command === 'AUTH' && !isAuthAttempt(e))) continue;
        const key = spec.key(e);
        const earlier = refused.get(key);
        const sameAgain = e.command === spec.refusedOn && e.enhanced === code;
        const within = earlier !== undefined && e.command === spec.retryOn && ms(e) - ms(earlier) < RETRY_WINDOW_MS;
        if (earlier && (within || sameAgain) && !flagged.has(`${e.session} ${key}`)) {
          flagged.add(`${e.session} ${key}`);
          failures.push({ finding: `${spec.what} retried ${secs(ms(e) - ms(earlier))} after ${code} (seq ${earlier.seq})${sameAgain ? `, refused with ${code} again` : ''}`, evidence: [earlier.seq, e.seq] });
        }
        if (sameAgain) {
          applicable = true;
          refused.set(key, e);
        } else if (earlier && e.command === spec.refusedOn && e.reply < 400) refused.delete(key);
      }
      return { applicable, failures };
    },
  };
}

const RULES: Rule[] = [
  {
    id: 'device-code.poll-interval',
    title: 'Polls the token endpoint no faster than the interval of the device-code answer',
    source: 'RFC 8628 §3.2 (interval: "the minimum amount of time in seconds that the client SHOULD wait between polling requests") and §3.5; Microsoft identity platform, "OAuth 2.0 device authorization grant" (interval)',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      eachPoll(j, (poll, prev, gap, base) => {
        applicable = true;
        if (gap + SLACK_MS < base) failures.push({ finding: `polled ${secs(gap)} after seq ${prev.seq}, interval is ${secs(base)}`, evidence: [prev.seq, poll.seq] });
      });
      return { applicable, failures };
    },
  },
  {
    id: 'device-code.slow-down',
    title: 'Adds 5 s to the polling interval after each slow_down, for that and all later polls',
    source: 'RFC 8628 §3.5 (slow_down: "the interval MUST be increased by 5 seconds for this and all subsequent requests")',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      eachPoll(j, (poll, prev, gap, base, required) => {
        if (required === base) return; // no slow_down yet in this code
        applicable = true;
        // Faster than the base interval is the poll-interval rule's finding, not this one's.
        if (gap + SLACK_MS >= base && gap + SLACK_MS < required) {
          failures.push({ finding: `polled ${secs(gap)} after seq ${prev.seq}; after slow_down the interval is ${secs(required)}`, evidence: [prev.seq, poll.seq] });
        }
      });
      return { applicable, failures };
    },
  },
  {
    id: 'device-code.stop-polling',
    title: 'Stops polling a code once it is declined, expired or otherwise ended, and after its expires_in',
    source: 'RFC 8628 §3.2 (expires_in) and §3.5 (only authorization_pending and slow_down allow another poll; access_denied and expired_token end it); Microsoft identity platform, "OAuth 2.0 device authorization grant" (authorization_declined, expired_token/code_expired, bad_verification_code)',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      for (const run of j.codeRuns) {
        const end = run.polls.find(endsCode);
        const expiry = run.code.expiresIn !== undefined ? ms(run.code) + run.code.expiresIn * 1000 : undefined;
        if (end || (expiry !== undefined && run.polls.length)) applicable = true;
        const afterEnd = end ? run.polls.filter((p) => p.seq > end.seq) : [];
        if (end && afterEnd.length) {
          failures.push({ finding: `${afterEnd.length} poll(s) after the code ended (${end.error ?? `HTTP ${end.status}`}, seq ${end.seq})`, evidence: [end.seq, ...afterEnd.map((p) => p.seq)] });
        }
        const late = expiry === undefined ? [] : run.polls.filter((p) => ms(p) > expiry + SLACK_MS && !afterEnd.includes(p));
        if (late.length) {
          failures.push({ finding: `${late.length} poll(s) after the code's expires_in (${run.code.expiresIn} s from seq ${run.code.seq})`, evidence: [run.code.seq, ...late.map((p) => p.seq)] });
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'device-code.no-new-code-while-pending',
    title: 'Asks for no new device code while the one shown is still pending (unless the sign-in was cancelled)',
    source: 'RFC 8628 §3.2–3.3 (the user enters the one code shown, valid for expires_in) and §5.2 (device-code requests are rate-limited); Microsoft identity platform, "OAuth 2.0 device authorization grant"',
    check(j) {
      // The twin cannot see a cancel on the panel: a pending code never polled again after the new request reads as
      // cancelled; one still polled afterwards was not, so two codes were in flight.
      const failures: Failure[] = [];
      let applicable = false;
      const runs = j.codeRuns;
      for (const [i, next] of runs.entries()) {
        const prev = runs.slice(0, i).reverse().find((r) => appKey(r.code) === appKey(next.code));
        if (!prev) continue;
        applicable = true;
        const at = ms(next.code);
        const expired = prev.code.expiresIn !== undefined && at >= ms(prev.code) + prev.code.expiresIn * 1000;
        const ended = prev.polls.some((p) => p.seq < next.code.seq && endsCode(p));
        if (expired || ended) continue;
        const polledOn = prev.polls.find((p) => p.seq > next.code.seq);
        if (polledOn) {
          failures.push({ finding: `asked for a new code (seq ${next.code.seq}) while the code of seq ${prev.code.seq} was pending, and went on polling that one (seq ${polledOn.seq})`, evidence: [prev.code.seq, next.code.seq, polledOn.seq] });
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'device-code.offline-access',
    title: 'Asks for offline_access with the device code (so that it gets a refresh token)',
    source: 'Microsoft identity platform, "Scopes and permissions" (offline_access: without it no refresh token is issued) and "Authenticate an IMAP, POP or SMTP connection using OAuth" (scopes https://outlook.office.com/SMTP.Send offline_access)',
    check(j) {
      const failures: Failure[] = [];
      const requests = j.http.filter(isCodeRequest);
      for (const r of requests) {
        const scopes = (r.scope ?? '').toLowerCase().split(/\s+/);
        if (!scopes.includes('offline_access')) failures.push({ finding: `device-code request seq ${r.seq} asked for "${r.scope ?? ''}" without offline_access`, evidence: [r.seq] });
      }
      return { applicable: requests.length > 0, failures };
    },
  },
  {
    id: 'token.refresh-before-expiry',
    title: 'Refreshes before the access token expires: never presents an expired token to SMTP AUTH',
    source: 'Microsoft identity platform, "Access tokens" (lifetime 60–90 min, expires_in) and MSAL token caching (refresh within 5 minutes of expiry); Exchange Online answers an expired token with 535 5.7.3',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      for (const e of j.smtp) {
        if (!isAuthAttempt(e) || e.mechanism !== 'XOAUTH2') continue;
        const last = j.tokensBetween(e.client, 0, e.seq, { upn: e.upn }).filter((t) => t.expiresIn !== undefined).at(-1);
        if (!last) continue;
        applicable = true;
        const expiry = ms(last) + last.expiresIn! * 1000;
        if (ms(e) > expiry + SLACK_MS) {
          failures.push({ finding: `AUTH ${secs(ms(e) - expiry)} after the last access token (seq ${last.seq}) expired, with no refresh in between`, evidence: [last.seq, e.seq] });
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'token.no-early-refresh',
    title: `Does not refresh while the access token has more than ${EARLY_REFRESH_LIFE_LEFT * 100} % of its life left (not before every send)`,
    source: 'Microsoft identity platform, "Access tokens" and "Throttling and service limits" (cache tokens and reuse them until they near expiry; MSAL refreshes within 5 minutes of expiry)',
    check(j) {
      // Exempt: a refresh after Exchange refused the token (5.7.3: the one retry with a fresh token), and a refresh
      // for other scopes (another resource's token).
      const failures: Failure[] = [];
      let applicable = false;
      for (const r of j.http) {
        if (!isTokenRequest(r) || r.grantType !== 'refresh_token') continue;
        const last = j.tokensBetween(r.client, 0, r.seq, { clientId: r.clientId, upn: r.upn }).filter((t) => t.expiresIn !== undefined).at(-1);
        if (!last) continue;
        applicable = true;
        if (last.grantType === 'refresh_token' && last.scope !== undefined && r.scope !== undefined && last.scope !== r.scope) continue;
        const life = last.expiresIn! * 1000;
        const left = ms(last) + life - ms(r);
        const refusedSince = j.smtp.some((s) => s.client === r.client && s.enhanced === '5.7.3' && s.seq > last.seq && s.seq < r.seq);
        if (left > life * EARLY_REFRESH_LIFE_LEFT && !refusedSince) {
          failures.push({ finding: `refreshed (seq ${r.seq}) with ${Math.round((left / life) * 100)} % of the access token of seq ${last.seq} left`, evidence: [last.seq, r.seq] });
        }
      }
      return { applicable, failures };
    },
  },
  noRetryRule('5.7.139', {
    id: 'smtp.no-retry-5.7.139',
    title: 'Does not retry AUTH for a mailbox after 5.7.139 (SMTP AUTH disabled, basic auth off, security defaults)',
    source: 'Microsoft Learn, "Enable or disable SMTP AUTH in Exchange Online" (5.7.139 until an admin changes the setting); RFC 5321 §4.2.1 (5yz: do not repeat the same request)',
    refusedOn: 'AUTH',
    retryOn: 'AUTH',
    // The same request is the same mailbox with the same kind of credential: after "basic auth is off" a printer that
    // switches to XOAUTH2 (the remedy the reply names) is not retrying.
    key: (e) => `${mailboxOf(e)} ${authFamily(e.mechanism)}`,
    what: 'AUTH',
  }),
  noRetryRule('5.7.60', {
    id: 'smtp.no-retry-5.7.60',
    title: 'Does not retry MAIL FROM the same sender after 5.7.60 (no Send As right)',
    source: 'Microsoft Learn, "Fix email delivery issues for error code 5.7.60 in Exchange Online" (the mailbox lacks Send As; an admin must grant it); RFC 5321 §4.2.1',
    refusedOn: 'MAIL',
    retryOn: 'MAIL',
    key: (e) => `${mailboxOf(e)} ${(e.mailFrom ?? '').toLowerCase()}`,
    what: 'MAIL FROM',
  }),
  noRetryRule('5.2.2', {
    id: 'smtp.no-retry-5.2.2',
    title: 'Does not resubmit from a mailbox after 5.2.2 (mailbox over quota)',
    source: 'Microsoft Learn, "Fix email delivery issues for error code 5.2.2 in Exchange Online" (mailbox full until space is freed); RFC 5321 §4.2.1',
    refusedOn: 'MESSAGE',
    retryOn: 'MAIL',
    key: mailboxOf,
    what: 'submission',
  }),
  {
    id: 'smtp.no-retry-5.7.3',
    title: 'After 5.7.3 retries AUTH only with a new token, and not again after a fresh token was refused too',
    source: 'Microsoft Learn, "Authenticate an IMAP, POP or SMTP connection using OAuth" (535 5.7.3 for a token Exchange does not accept); RFC 5321 §4.2.1; RFC 6750 §3.1 (invalid_token: get a new token)',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      const refused = new Map<string, { e: SmtpJournalEntry; fresh: boolean }>();
      for (const e of j.smtp) {
        if (!isAuthAttempt(e)) continue;
        const key = mailboxOf(e);
        const prev = refused.get(key);
        const tokens = prev ? j.tokensBetween(e.client, prev.e.seq, e.seq, { upn: e.upn }) : [];
        const signedInAgain = tokens.some((t) => t.grantType === DEVICE_CODE_GRANT || t.grantType === 'device_code');
        const again = e.enhanced === '5.7.3';
        if (prev && !prev.fresh && tokens.length === 0) {
          failures.push({ finding: `AUTH retried after 5.7.3 (seq ${prev.e.seq}) without a new token`, evidence: [prev.e.seq, e.seq] });
        } else if (prev && prev.fresh && !signedInAgain && (again || ms(e) - ms(prev.e) < RETRY_WINDOW_MS)) {
          failures.push({ finding: `AUTH retried after 5.7.3 with a fresh token (seq ${prev.e.seq}) without a new sign-in`, evidence: [prev.e.seq, e.seq] });
        }
        if (again) {
          applicable = true;
          refused.set(key, { e, fresh: prev !== undefined && tokens.length > 0 && !signedInAgain });
        } else refused.delete(key);
      }
      return { applicable, failures };
    },
  },
  {
    id: 'smtp.backoff-4.3.2',
    title: `Backs off after 432 4.3.2 (at least ${MIN_BACKOFF_MS / 1000} s before the next connection, AUTH or MAIL of that mailbox)`,
    source: 'Microsoft Learn, "Exchange Online limits" (3 concurrent connections per mailbox; 432 4.3.2 Concurrent connections limit exceeded) and https://aka.ms/concurrent_sending; RFC 5321 §4.2.1 and §4.5.4.1 (4yz: retry later, after a delay)',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      const throttled: SmtpJournalEntry[] = [];
      const connectedAt = new Map<string, number>(); // session → seq of its CONNECT
      // Too soon after a 4.3.2: a new connection from the address, or an AUTH or MAIL of the mailbox in the refused
      // session or in one opened after the refusal (sessions already open may finish what they were doing).
      const tooSoon = (x: SmtpJournalEntry, e: SmtpJournalEntry) =>
        x.seq < e.seq &&
        ms(e) - ms(x) < MIN_BACKOFF_MS &&
        (e.command === 'CONNECT' ? x.client === e.client : mailboxOf(x) === mailboxOf(e) && (x.session === e.session || (connectedAt.get(e.session) ?? 0) > x.seq));
      for (const e of j.smtp) {
        if (e.command === 'CONNECT') connectedAt.set(e.session, e.seq);
        if (e.command === 'CONNECT' || e.command === 'MAIL' || isAuthAttempt(e)) {
          const t = throttled.find((x) => tooSoon(x, e));
          if (t) failures.push({ finding: `${e.command} ${secs(ms(e) - ms(t))} after 4.3.2 (seq ${t.seq})`, evidence: [t.seq, e.seq] });
        }
        if (e.enhanced === '4.3.2') {
          applicable = true;
          throttled.push(e);
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'http.retry-after',
    title: `Honours Retry-After on 429 and 503 (at least ${MIN_BACKOFF_MS / 1000} s when the answer names none)`,
    source: 'Microsoft identity platform, "Throttling and service limits" and MSAL throttling (wait for Retry-After after 429/5xx); RFC 9110 §10.2.3; RFC 6585 §4',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      const waits: HttpJournalEntry[] = [];
      for (const e of j.http) {
        const w = waits.find((x) => x.client === e.client && x.clientId === e.clientId && x.path === e.path && ms(e) < ms(x) + (x.retryAfter ?? MIN_BACKOFF_MS / 1000) * 1000 - SLACK_MS);
        if (w) failures.push({ finding: `asked again ${secs(ms(e) - ms(w))} after HTTP ${w.status} with Retry-After ${w.retryAfter ?? 'none'} (seq ${w.seq})`, evidence: [w.seq, e.seq] });
        if (e.status === 429 || e.status === 503) {
          applicable = true;
          waits.push(e);
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'smtp.starttls-before-auth',
    title: 'Sends STARTTLS before AUTH, and negotiates TLS 1.2 or later',
    source: 'Microsoft Learn, "Authenticate an IMAP, POP or SMTP connection using OAuth" and "How to set up a multifunction device to send email using Microsoft 365" (smtp.office365.com:587, STARTTLS, TLS 1.2+); RFC 3207 §4',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      const tlsSeen = new Set<string>();
      for (const e of j.smtp) {
        if (e.command === 'TLS') {
          applicable = true;
          tlsSeen.add(e.session);
          if (!/^TLSv1\.[23]$/.test(e.tls?.version ?? '')) failures.push({ finding: `session ${e.session} negotiated ${e.tls?.version}`, evidence: [e.seq] });
        }
        if (isAuthAttempt(e)) {
          applicable = true;
          if (!tlsSeen.has(e.session)) failures.push({ finding: `session ${e.session} sent AUTH ${e.mechanism ?? ''} before STARTTLS`.trim(), evidence: [e.seq] });
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'smtp.max-connections',
    title: `Keeps at most ${MAX_CONNECTIONS_PER_MAILBOX} SMTP connections open per mailbox`,
    source: 'Microsoft Learn, "Exchange Online limits" (client submission: 3 concurrent connections per mailbox) and https://aka.ms/concurrent_sending',
    check(j) {
      const failures: Failure[] = [];
      let applicable = false;
      const open = new Map<string, SmtpJournalEntry | null>(); // session → its AUTH (null before AUTH)
      for (const e of j.smtp) {
        if (e.command === 'CONNECT') open.set(e.session, null);
        else if (e.command === 'CLOSE') open.delete(e.session);
        else if (isAuthAttempt(e)) {
          applicable = true;
          open.set(e.session, e);
          const same = [...open.values()].filter((a): a is SmtpJournalEntry => a !== null && mailboxOf(a) === mailboxOf(e));
          if (same.length > MAX_CONNECTIONS_PER_MAILBOX) {
            failures.push({ finding: `${same.length} connections open for ${mailboxOf(e)} at seq ${e.seq}`, evidence: same.map((a) => a.seq) });
          }
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'smtp.one-message-id-per-job',
    title: 'Keeps one Message-ID for one job across resends',
    source: 'RFC 5322 §3.6.4 (a Message-ID identifies one message: a resend of the same message keeps it)',
    check(j) {
      // A job as the wire shows it: the same mailbox, envelope and content digest (Subject and body) resent after a
      // refused or cut delivery; an accepted delivery ends the job (the same content sent again later is a new job).
      const failures: Failure[] = [];
      let applicable = false;
      const envelope = new Map<string, { from?: string; rcpt: string[] }>();
      const openJob = new Map<string, { messageId: string; seq: number }>();
      for (const e of j.smtp) {
        const env = envelope.get(e.session) ?? { rcpt: [] };
        envelope.set(e.session, env);
        if (e.command === 'MAIL' && e.mailFrom !== undefined) {
          env.from = e.mailFrom;
          env.rcpt = [];
        }
        if (e.command === 'RCPT' && e.rcptTo && e.reply !== undefined && e.reply < 300) env.rcpt.push(e.rcptTo);
        if (e.command !== 'MESSAGE' || !e.messageId) continue;
        applicable = true;
        const key = `${e.client} ${mailboxOf(e)} ${env.from ?? ''} ${[...env.rcpt].sort().join(',')} ${e.digest ?? ''}`;
        const job = openJob.get(key);
        if (job && job.messageId !== e.messageId) {
          failures.push({ finding: `resend of the job of seq ${job.seq} carries a new Message-ID ${e.messageId} (was ${job.messageId})`, evidence: [job.seq, e.seq] });
        }
        if ((e.reply ?? 500) < 300) openJob.delete(key);
        else openJob.set(key, job ?? { messageId: e.messageId, seq: e.seq });
      }
      return { applicable, failures };
    },
  },
];

export const CONFORMANCE_RULE_IDS = RULES.map((r) => r.id);

export function conformanceReport(entries: JournalEntry[], dropped = 0): ConformanceReport {
  const journal = new Journal(entries);
  const rules = RULES.map((rule): RuleResult => {
    const { applicable, failures } = rule.check(journal);
    return {
      id: rule.id,
      title: rule.title,
      source: rule.source,
      verdict: failures.length ? 'fail' : applicable ? 'pass' : 'not-applicable',
      findings: failures.map((f) => f.finding),
      evidence: [...new Set(failures.flatMap((f) => f.evidence))],
    };
  });
  return { entries: entries.length, dropped, passed: rules.every((r) => r.verdict !== 'fail'), rules, tlsRefusals: tlsRefusals(journal.smtp) };
}

/** Sessions that sent STARTTLS and said nothing more over TLS, grouped by client. */
function tlsRefusals(smtp: readonly SmtpJournalEntry[]): TlsRefusal[] {
  const bySession = new Map<string, { client: string; starttls: number | null; handshake: boolean; spokeOverTls: boolean }>();
  for (const e of smtp) {
    const s = bySession.get(e.session) ?? { client: e.client, starttls: null, handshake: false, spokeOverTls: false };
    bySession.set(e.session, s);
    if (e.command === 'STARTTLS') s.starttls = e.seq;
    else if (e.command === 'TLS') s.handshake = true;
    else if (s.handshake && e.command !== 'CLOSE' && e.command !== 'SERVER') s.spokeOverTls = true;
  }
  const byClient = new Map<string, TlsRefusal>();
  for (const s of bySession.values()) {
    if (s.starttls === null || s.spokeOverTls) continue;
    const r = byClient.get(s.client) ?? { client: s.client, sessions: 0, evidence: [] };
    byClient.set(s.client, r);
    r.sessions++;
    r.evidence.push(s.starttls);
  }
  return [...byClient.values()];
}
