/**
 * The wire journal as a page for people (/_twin/journal.html): the conformance verdicts first (each piece of
 * evidence links to its row), then one table per client address. Server-rendered with eta (auto-escaped), no script,
 * the sign-in pages' stylesheet.
 */
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { ConformanceReport } from './conformance.ts';
import { upnOf, type JournalEntry } from './wire-journal.ts';

const VIEWS = fileURLToPath(new URL('../signin/views', import.meta.url));

/** The page's headers: nothing but same-origin styles, never cached, never framed. */
export const JOURNAL_PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; frame-ancestors 'none'; form-action 'none'",
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

interface Row {
  seq: number;
  at: string;
  kind: string;
  request: string;
  answer: string;
  details: string;
  failed: boolean;
}

export function journalPage(eta: Eta, data: { entries: JournalEntry[]; capacity: number; dropped: number; now: number; report: ConformanceReport }): string {
  const byClient = new Map<string, JournalEntry[]>();
  for (const e of data.entries) byClient.set(e.client, [...(byClient.get(e.client) ?? []), e]);
  const clients = [...byClient].map(([client, list]) => ({
    client,
    clientIds: [...new Set(list.flatMap((e) => (e.kind === 'http' && e.clientId ? [e.clientId] : [])))],
    upns: [...new Set(list.flatMap((e) => upnOf(e) ?? []))],
    rows: list.map(row),
  }));
  return eta.render('./journal', { ...data, now: new Date(data.now).toISOString(), total: data.entries.length, clients });
}

export function journalEta(): Eta {
  return new Eta({ views: VIEWS, cache: true, autoEscape: true });
}

const join = (parts: (string | false | undefined)[]) => parts.filter(Boolean).join(' · ');

function row(e: JournalEntry): Row {
  const base = { seq: e.seq, at: e.at, kind: String(e.kind) };
  if (e.kind === 'http') {
    return {
      ...base,
      request: join([`${e.method} ${e.path}`, e.grantType && `grant ${e.grantType}`]),
      answer: join([String(e.status), e.error, e.aadsts !== undefined && `AADSTS${e.aadsts}`, e.retryAfter !== undefined && `Retry-After ${e.retryAfter} s`]),
      details: join([
        e.clientId && `client_id ${e.clientId}`,
        e.scope && `scope ${e.scope}`,
        e.upn && `UPN ${e.upn}`,
        e.interval !== undefined && `interval ${e.interval} s`,
        e.expiresIn !== undefined && `expires_in ${e.expiresIn} s`,
        e.codeRef && `code ${e.codeRef}`,
        `${e.durationMs} ms`,
      ]),
      failed: e.status >= 400 && e.error !== 'authorization_pending', // pending is the normal answer to a poll
    };
  }
  if (e.kind === 'smtp') {
    return {
      ...base,
      request: join([e.command, e.ehlo, e.mechanism, e.mailFrom && `FROM ${e.mailFrom}`, e.rcptTo && `TO ${e.rcptTo}`]),
      answer: join([e.reply !== undefined && String(e.reply), e.enhanced, e.outcome]),
      details: join([
        `session ${e.session}`,
        e.upn && `UPN ${e.upn}`,
        e.tls && `${e.tls.version} ${e.tls.cipher}${e.tls.servername ? ` SNI ${e.tls.servername}` : ''}`,
        e.messageId && `Message-ID ${e.messageId}`,
        e.size !== undefined && `${e.size} bytes`,
        e.digest && `digest ${e.digest}`,
      ]),
      failed: (e.reply ?? 0) >= 400,
    };
  }
  // A kind this page does not know (holds, later additions): shown as its fields.
  const other = e as unknown as Record<string, unknown>;
  const rest = Object.fromEntries(Object.entries(other).filter(([k]) => !['seq', 'at', 'client', 'kind'].includes(k)));
  return { seq: Number(other.seq), at: String(other.at), kind: String(other.kind), request: '', answer: '', details: JSON.stringify(rest), failed: false };
}
