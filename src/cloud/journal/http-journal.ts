/**
 * Fastify hooks that write one journal entry per request to the Entra half (OAuth endpoints and sign-in pages; the
 * /_twin control API is the tester's own traffic and is left out). Only non-secret fields of the form are read.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpJournalEntry, WireJournal } from './wire-journal.ts';

interface Seen {
  started: number;
  error?: string;
  aadsts?: number;
  interval?: number;
}

export function peerAddress(addr: string | undefined): string {
  return (addr ?? 'unknown').replace(/^::ffff:(?=\d+\.)/, '');
}

export function journalHttp(app: FastifyInstance, journal: WireJournal): void {
  const seen = new WeakMap<FastifyRequest, Seen>();
  const skip = (req: FastifyRequest) => req.url.startsWith('/_twin');

  app.addHook('onRequest', async (req) => {
    if (!skip(req)) seen.set(req, { started: performance.now() });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const s = seen.get(req);
    if (!s || typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').includes('json')) return payload;
    try {
      const body = JSON.parse(payload) as { error?: unknown; error_codes?: unknown; interval?: unknown };
      if (typeof body.error === 'string') s.error = body.error;
      if (Array.isArray(body.error_codes) && typeof body.error_codes[0] === 'number') s.aadsts = body.error_codes[0];
      if (typeof body.interval === 'number') s.interval = body.interval;
    } catch {
      // not JSON after all: nothing to read
    }
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const s = seen.get(req);
    if (!s) return;
    const form = formOf(req);
    const entry: Omit<HttpJournalEntry, 'seq' | 'at'> = {
      kind: 'http',
      client: peerAddress(req.socket.remoteAddress),
      method: req.method,
      path: req.url.split('?')[0]!.slice(0, 300),
      ...(req.headers.host ? { host: String(req.headers.host).slice(0, 300) } : {}),
      status: reply.statusCode,
      durationMs: Math.round((performance.now() - s.started) * 10) / 10,
      ...(form.grant_type ? { grantType: form.grant_type } : {}),
      ...(form.client_id ? { clientId: form.client_id } : {}),
      ...(form.scope ? { scope: form.scope } : {}),
      ...(s.error ? { error: s.error } : {}),
      ...(s.aadsts !== undefined ? { aadsts: s.aadsts } : {}),
      ...(s.interval !== undefined ? { interval: s.interval } : {}),
    };
    journal.add(entry);
  });
}

/** grant_type, client_id and scope from the form body or the query; nothing else is read. */
function formOf(req: FastifyRequest): { grant_type?: string; client_id?: string; scope?: string } {
  const out: Record<string, string> = {};
  for (const src of [req.query, req.body]) {
    if (!src || typeof src !== 'object') continue;
    for (const k of ['grant_type', 'client_id', 'scope'] as const) {
      const v = (src as Record<string, unknown>)[k];
      if (typeof v === 'string') out[k] = v.slice(0, 500);
    }
  }
  return out;
}
