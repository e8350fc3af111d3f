/**
 * The conformance report: rules a well-behaved device follows, each checked from the wire journal alone and each
 * citing where the rule comes from. A rule either passes, fails (with the journal entries that show it) or is not
 * applicable (nothing in the journal it could judge).
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

export interface ConformanceReport {
  entries: number;
  /** Journal entries dropped from the ring before the report (the report may miss what they showed). */
  dropped: number;
  passed: boolean;
  rules: RuleResult[];
}

interface Rule {
  id: string;
  title: string;
  source: string;
  check(entries: JournalEntry[]): { applicable: boolean; failures: { finding: string; evidence: number[] }[] };
}

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const isDevicePoll = (e: JournalEntry): e is HttpJournalEntry =>
  e.kind === 'http' && e.method === 'POST' && e.path.endsWith('/oauth2/v2.0/token') && (e.grantType === DEVICE_CODE_GRANT || e.grantType === 'device_code');
const isCodeRequest = (e: JournalEntry): e is HttpJournalEntry => e.kind === 'http' && e.path.endsWith('/oauth2/v2.0/devicecode') && e.status === 200;
const ms = (e: JournalEntry) => Date.parse(e.at);

/**
 * Device-code polling runs per client address and client_id: from one code request to the next. Polls of a run are
 * the token requests with the device-code grant in between.
 */
function pollRuns(entries: JournalEntry[]): { code: HttpJournalEntry; polls: HttpJournalEntry[] }[] {
  const runs = new Map<string, { code: HttpJournalEntry; polls: HttpJournalEntry[] }>();
  const out: { code: HttpJournalEntry; polls: HttpJournalEntry[] }[] = [];
  for (const e of entries) {
    if (e.kind !== 'http') continue;
    const key = `${e.client} ${e.clientId ?? ''}`;
    if (isCodeRequest(e)) {
      const run = { code: e, polls: [] as HttpJournalEntry[] };
      runs.set(key, run);
      out.push(run);
    } else if (isDevicePoll(e)) runs.get(key)?.polls.push(e);
  }
  return out;
}

/** Slack for the twin's and the device's clocks (1 s; RFC 8628 counts whole seconds). */
const SLACK_MS = 1000;

const RULES: Rule[] = [
  {
    id: 'device-code.poll-interval',
    title: 'Polls the token endpoint no faster than the interval (plus 5 s after each slow_down)',
    source: 'RFC 8628 §3.5 (interval; slow_down: "the interval MUST be increased by 5 seconds for this and all subsequent requests")',
    check(entries) {
      const failures: { finding: string; evidence: number[] }[] = [];
      let applicable = false;
      for (const run of pollRuns(entries)) {
        let interval = (run.code.interval ?? 5) * 1000;
        let prev: JournalEntry = run.code;
        for (const poll of run.polls) {
          applicable = true;
          const gap = ms(poll) - ms(prev);
          if (gap + SLACK_MS < interval) {
            failures.push({ finding: `polled ${gap / 1000} s after seq ${prev.seq}, interval is ${interval / 1000} s`, evidence: [prev.seq, poll.seq] });
          }
          if (poll.error === 'slow_down') interval += 5000;
          prev = poll;
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'device-code.stop-polling',
    title: 'Stops polling after authorization_declined, expired_token or code_expired',
    source: 'RFC 8628 §3.5 (access_denied / expired_token end the flow); Microsoft identity platform device code flow docs (authorization_declined, expired_token, code_expired)',
    check(entries) {
      const failures: { finding: string; evidence: number[] }[] = [];
      let applicable = false;
      const terminal = new Set(['authorization_declined', 'expired_token', 'code_expired', 'access_denied']);
      for (const run of pollRuns(entries)) {
        const end = run.polls.findIndex((p) => p.error !== undefined && terminal.has(p.error));
        if (end < 0) continue;
        applicable = true;
        const after = run.polls.slice(end + 1);
        if (after.length) failures.push({ finding: `${after.length} poll(s) after ${run.polls[end]!.error}`, evidence: [run.polls[end]!.seq, ...after.map((p) => p.seq)] });
      }
      return { applicable, failures };
    },
  },
  {
    id: 'smtp.starttls-before-auth',
    title: 'Sends STARTTLS before AUTH, and negotiates TLS 1.2 or later',
    source: 'Microsoft Learn, "Authenticate an IMAP, POP or SMTP connection using OAuth" and "How to set up a multifunction device to send email using Microsoft 365" (smtp.office365.com:587, STARTTLS, TLS 1.2+); RFC 3207 §4',
    check(entries) {
      const failures: { finding: string; evidence: number[] }[] = [];
      let applicable = false;
      const tlsSeen = new Map<string, SmtpJournalEntry>();
      for (const e of entries) {
        if (e.kind !== 'smtp') continue;
        if (e.command === 'TLS') {
          applicable = true;
          tlsSeen.set(e.session, e);
          if (!/^TLSv1\.[23]$/.test(e.tls?.version ?? '')) failures.push({ finding: `session ${e.session} negotiated ${e.tls?.version}`, evidence: [e.seq] });
        }
        if (e.command === 'AUTH' && e.outcome !== 'continue') {
          applicable = true;
          if (!tlsSeen.has(e.session)) failures.push({ finding: `session ${e.session} sent AUTH ${e.mechanism ?? ''} before STARTTLS`.trim(), evidence: [e.seq] });
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'smtp.no-retry-5.7.139',
    title: 'Never retries AUTH for a mailbox after 5.7.139 (SMTP AUTH disabled / basic auth off) without a change',
    source: 'Microsoft Learn, "Enable or disable SMTP AUTH in Exchange Online" and Exchange Online error 5.7.139 (a permanent 5xx, RFC 5321 §4.2.1: do not repeat the same command)',
    check(entries) {
      const failures: { finding: string; evidence: number[] }[] = [];
      let applicable = false;
      const refusedAt = new Map<string, SmtpJournalEntry>();
      for (const e of entries) {
        if (e.kind !== 'smtp' || e.command !== 'AUTH' || e.outcome === 'continue') continue;
        if (e.enhanced === '5.7.139') {
          applicable = true;
          const earlier = refusedAt.get(e.client);
          if (earlier) failures.push({ finding: `AUTH retried after 5.7.139 (seq ${earlier.seq})`, evidence: [earlier.seq, e.seq] });
          else refusedAt.set(e.client, e);
        } else if (refusedAt.has(e.client)) {
          const earlier = refusedAt.get(e.client)!;
          failures.push({ finding: `AUTH retried after 5.7.139 (seq ${earlier.seq})`, evidence: [earlier.seq, e.seq] });
        }
      }
      return { applicable, failures };
    },
  },
  {
    id: 'smtp.one-message-id-per-job',
    title: 'Keeps one Message-ID for one job across resends',
    source: 'RFC 5322 §3.6.4 (a Message-ID identifies one message, "each new message"); a resend of the same job is the same message',
    check(entries) {
      // A "job" as the wire shows it: the same envelope (sender and recipients) resent after a refused or cut
      // delivery; an accepted delivery ends the job.
      const failures: { finding: string; evidence: number[] }[] = [];
      let applicable = false;
      const envelope = new Map<string, { from?: string; rcpt: string[] }>();
      const openJob = new Map<string, { key: string; messageId: string; seq: number }>();
      for (const e of entries) {
        if (e.kind !== 'smtp') continue;
        const env = envelope.get(e.session) ?? { rcpt: [] };
        envelope.set(e.session, env);
        if (e.command === 'MAIL' && e.mailFrom !== undefined) {
          env.from = e.mailFrom;
          env.rcpt = [];
        }
        if (e.command === 'RCPT' && e.rcptTo && e.reply !== undefined && e.reply < 300) env.rcpt.push(e.rcptTo);
        if (e.command !== 'MESSAGE' || !e.messageId) continue;
        applicable = true;
        const key = `${e.client} ${env.from ?? ''} ${[...env.rcpt].sort().join(',')}`;
        const job = openJob.get(key);
        if (job && job.messageId !== e.messageId) {
          failures.push({ finding: `resend of the job of seq ${job.seq} carries a new Message-ID ${e.messageId} (was ${job.messageId})`, evidence: [job.seq, e.seq] });
        }
        if ((e.reply ?? 500) < 300) openJob.delete(key);
        else openJob.set(key, job ?? { key, messageId: e.messageId, seq: e.seq });
      }
      return { applicable, failures };
    },
  },
];

export const CONFORMANCE_RULE_IDS = RULES.map((r) => r.id);

export function conformanceReport(entries: JournalEntry[], dropped = 0): ConformanceReport {
  const rules = RULES.map((rule): RuleResult => {
    const { applicable, failures } = rule.check(entries);
    return {
      id: rule.id,
      title: rule.title,
      source: rule.source,
      verdict: failures.length ? 'fail' : applicable ? 'pass' : 'not-applicable',
      findings: failures.map((f) => f.finding),
      evidence: [...new Set(failures.flatMap((f) => f.evidence))],
    };
  });
  return { entries: entries.length, dropped, passed: rules.every((r) => r.verdict !== 'fail'), rules };
}
