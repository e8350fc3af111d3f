/**
 * /_twin/journal and /_twin/conformance: the wire journal (JSON or NDJSON) and the conformance report judged from it.
 * Registered inside the /_twin plugin (loopback check, OpenAPI document); refusals are RFC 7807 problem documents.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { conformanceReport, CONFORMANCE_RULE_IDS } from '../journal/conformance.ts';
import { CONFORMANCE_FORMATS, formatConformance, type ConformanceFormat } from '../journal/conformance-format.ts';
import type { JournalFilter, WireJournal } from '../journal/wire-journal.ts';
import { JOURNAL_PAGE_HEADERS, journalEta, journalPage } from '../journal/journal-page.ts';
import { problemErrorHandler, problemSchema } from './problem.ts';

const filterProperties = {
  client: { type: 'string', maxLength: 64, description: 'Peer IP address, e.g. 127.0.0.1' },
  kind: { type: 'string', enum: ['http', 'smtp', 'hold'] },
  since: { type: 'integer', minimum: 0, description: 'Only entries with a greater seq' },
} as const;

/** `client` matches an address, a client_id or a UPN (wire-journal.ts), so it is as long as a UPN may be. */
const clientProperty = { type: 'string', minLength: 1, maxLength: 320, description: 'A client: peer IP address (127.0.0.1), client_id or UPN (case-insensitive)' } as const;

const entrySchema = {
  type: 'object',
  additionalProperties: true,
  required: ['seq', 'at', 'kind', 'client'],
  properties: {
    seq: { type: 'integer' },
    at: { type: 'string', format: 'date-time' },
    kind: { type: 'string', enum: ['http', 'smtp', 'hold'] },
    client: { type: 'string' },
    method: { type: 'string' },
    path: { type: 'string' },
    host: { type: 'string', description: 'Host header the client sent (HTTP)' },
    grantType: { type: 'string' },
    clientId: { type: 'string' },
    scope: { type: 'string' },
    status: { type: 'integer' },
    error: { type: 'string' },
    aadsts: { type: 'integer' },
    interval: { type: 'number' },
    expiresIn: { type: 'number', description: 'expires_in of a device-code or token answer (s)' },
    retryAfter: { type: 'number', description: 'Retry-After of the answer (s)' },
    codeRef: { type: 'string', description: 'Keyed digest of the device code a code answer or poll is about (never the code)' },
    upn: { type: 'string', description: 'Account of a token answer, the SASL user of an SMTP session, or (kind hold) the SMTP mailbox' },
    digest: { type: 'string', description: 'Of a MESSAGE: SHA-256 (16 hex) of Subject and body, the same across resends of one job' },
    durationMs: { type: 'number' },
    session: { type: 'string' },
    command: { type: 'string', description: 'CONNECT, TLS, an SMTP verb, MESSAGE, SERVER or CLOSE' },
    reply: { type: 'integer' },
    enhanced: { type: 'string' },
    ehlo: { type: 'string' },
    tls: { type: 'object', properties: { version: { type: 'string' }, cipher: { type: 'string' }, servername: { type: 'string' } } },
    mechanism: { type: 'string' },
    outcome: { type: 'string', enum: ['accepted', 'refused', 'continue'] },
    mailFrom: { type: 'string' },
    rcptTo: { type: 'string' },
    messageId: { type: 'string' },
    size: { type: 'integer' },
    event: { type: 'string', enum: ['hold.caught', 'hold.released', 'hold.timed-out', 'hold.cancelled', 'hold.abandoned'], description: 'kind hold (POST /_twin/holds)' },
    hold: { type: 'string', description: 'kind hold: the hold id' },
    target: { type: 'string', description: 'kind hold: device-code, token, smtp-connect, smtp-auth, smtp-data' },
    answer: { type: 'string', description: 'kind hold: what the request was let go with (proceed, error …, reply …, drop)' },
    heldMs: { type: 'number', description: 'kind hold: wall-time milliseconds the request was held' },
  },
} as const;

const ruleSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', enum: CONFORMANCE_RULE_IDS },
    title: { type: 'string' },
    source: { type: 'string' },
    verdict: { type: 'string', enum: ['pass', 'fail', 'not-applicable'] },
    findings: { type: 'array', items: { type: 'string' } },
    evidence: { type: 'array', items: { type: 'integer' }, description: 'journal seq of the entries that show the failures' },
  },
} as const;

type Query = JournalFilter & { format?: string };

export function journalRoutes(journal: WireJournal) {
  return async function plugin(app: FastifyInstance): Promise<void> {
    app.setErrorHandler(problemErrorHandler({ logMessage: 'twin journal failure', failureDetail: 'the journal could not be read' }));

    const eta = journalEta();
    const page = (reply: FastifyReply, filter: JournalFilter) => {
      const entries = journal.list(filter);
      const html = journalPage(eta, { entries, capacity: journal.capacity, dropped: journal.dropped, now: journal.clockNow(), report: conformanceReport(entries, journal.dropped) });
      return reply.type('text/html; charset=utf-8').headers(JOURNAL_PAGE_HEADERS).serializer((x: unknown) => String(x)).send(html);
    };

    app.get<{ Querystring: Query }>(
      '/journal',
      {
        schema: {
          tags: ['journal'],
          summary: 'The wire journal: every OAuth/sign-in request and SMTP command the twin served (secrets redacted)',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { ...filterProperties, client: clientProperty, format: { type: 'string', enum: ['json', 'ndjson'], default: 'json' } },
          },
          response: {
            200: {
              type: 'object',
              properties: { capacity: { type: 'integer' }, dropped: { type: 'integer' }, entries: { type: 'array', items: entrySchema } },
              description: 'JSON; with format=ndjson: application/x-ndjson, one entry per line; with Accept: text/html and no format: the page of /_twin/journal.html',
            },
            400: problemSchema,
          },
        },
      },
      (req, reply) => {
        const { format, ...filter } = req.query;
        // A browser (Accept: text/html, no format asked for) gets the page, as /_twin/phone does.
        if (!/[?&]format=/.test(req.url) && /\btext\/html\b/.test(req.headers.accept ?? '')) return page(reply, filter);
        const entries = journal.list(filter);
        if (format === 'ndjson') {
          return reply
            .type('application/x-ndjson')
            .header('content-disposition', 'attachment; filename="twin-journal.ndjson"')
            .serializer((x: unknown) => String(x))
            .send(entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length ? '\n' : ''));
        }
        return { capacity: journal.capacity, dropped: journal.dropped, entries };
      },
    );

    app.get<{ Querystring: JournalFilter }>(
      '/journal.html',
      {
        schema: {
          tags: ['journal'],
          summary: 'The wire journal as a page: conformance verdicts (evidence linked to rows), then a table per client',
          querystring: { type: 'object', additionalProperties: false, properties: { ...filterProperties, client: clientProperty } },
          response: { 200: { type: 'string', description: 'text/html; no script (CSP default-src none)' }, 400: problemSchema },
        },
      },
      (req, reply) => page(reply, req.query),
    );

    app.get<{ Querystring: Query }>(
      '/conformance',
      {
        schema: {
          tags: ['journal'],
          summary: 'Conformance report judged from the journal (one verdict per rule, each with its source and evidence)',
          querystring: {
            type: 'object',
            additionalProperties: false,
            properties: { ...filterProperties, client: clientProperty, format: { type: 'string', enum: [...CONFORMANCE_FORMATS], default: 'json' } },
          },
          response: {
            200: {
              type: 'object',
              description: 'JSON; format=text: text/plain; format=junit: application/xml (JUnit, one testcase per rule)',
              properties: {
                entries: { type: 'integer' },
                dropped: { type: 'integer' },
                passed: { type: 'boolean' },
                rules: { type: 'array', items: ruleSchema },
                tlsRefusals: {
                  type: 'array',
                  description: 'Per client: SMTP sessions that ended after STARTTLS without a command over TLS (the client refused the certificate: its clock, its trust store); a note, not a rule',
                  items: { type: 'object', properties: { client: { type: 'string' }, sessions: { type: 'integer' }, evidence: { type: 'array', items: { type: 'integer' } } } },
                },
              },
            },
            400: problemSchema,
          },
        },
      },
      (req, reply) => {
        const { format = 'json', ...filter } = req.query;
        const report = conformanceReport(journal.list(filter), journal.dropped);
        if (format === 'json') return report;
        return reply
          .type(format === 'junit' ? 'application/xml' : 'text/plain; charset=utf-8')
          .serializer((x: unknown) => String(x))
          .send(formatConformance(report, format as ConformanceFormat));
      },
    );
  };
}
