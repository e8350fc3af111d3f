/**
 * Fastify hooks that write one journal entry per request to the Entra half (OAuth endpoints and sign-in pages; the
 * /_twin control API is the tester's own traffic and is left out). Only non-secret fields of the form are read.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpJournalEntry, WireJournal } from './wire-journal.ts';

interface Seen {
  started: number;
  error?: string;
  aadsts?: number;
  interval?: number;
  expiresIn?: number;
  codeRef?: string;
  upn?: string;
}

export function peerAddress(addr: string | undefined): string {
  return (addr ?? 'unknown').replace(/^::ffff:(?=\d+\.)/, '');
}

export function journalHttp(app: FastifyInstance, journal: WireJournal): void {
  const seen = new WeakMap<FastifyRequest, Seen>();
  // Per twin, never stored: a codeRef cannot be used to confirm a guessed device code.
  const refKey = randomBytes(32);
  const codeRef = (code: string) => createHmac('sha256', refKey).update(code).digest('hex').slice(0, 12);
  const skip = (req: FastifyRequest) => req.url.startsWith('/_twin');

  app.addHook('onRequest', async (req) => {
    if (!skip(req)) seen.set(req, { started: performance.now() });
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const s = seen.get(req);
    if (!s || typeof payload !== 'string' || !String(reply.getHeader('content-type') ?? '').includes('json')) return payload;
    try {
      const body = JSON.parse(payload) as Record<string, unknown>;
      if (typeof body.error === 'string') s.error = body.error;
      if (Array.isArray(body.error_codes) && typeof body.error_codes[0] === 'number') s.aadsts = body.error_codes[0];
      if (typeof body.interval === 'number') s.interval = body.interval;
      if (typeof body.expires_in === 'number') s.expiresIn = body.expires_in;
      if (typeof body.device_code === 'string') s.codeRef = codeRef(body.device_code);
      // The account from the id token, or from the access token's claims when no id token was asked for.
      for (const jwt of [body.id_token, body.access_token]) if (!s.upn && typeof jwt === 'string') s.upn = accountOf(jwt);
    } catch {
      // not JSON after all: nothing to read
    }
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const s = seen.get(req);
    if (!s) return;
    const form = formOf(req);
    const ref = s.codeRef ?? (typeof form.device_code === 'string' ? codeRef(form.device_code) : undefined);
    const retryAfter = Number(reply.getHeader('retry-after'));
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
      ...(s.expiresIn !== undefined ? { expiresIn: s.expiresIn } : {}),
      ...(reply.hasHeader('retry-after') && Number.isFinite(retryAfter) ? { retryAfter } : {}),
      ...(ref ? { codeRef: ref } : {}),
      ...(s.upn ? { upn: s.upn } : {}),
    };
    journal.add(entry);
  });
}

/** The account a JWT the twin issued names (payload read, signature not needed here); undefined if unreadable. */
function accountOf(jwt: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { preferred_username?: unknown; upn?: unknown };
    const account = claims.preferred_username ?? claims.upn;
    return typeof account === 'string' ? account.slice(0, 320) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * grant_type, client_id and scope from the form body or the query; device_code only to derive its codeRef (it never
 * reaches the entry). Nothing else is read.
 */
function formOf(req: FastifyRequest): { grant_type?: string; client_id?: string; scope?: string; device_code?: string } {
  const out: Record<string, string> = {};
  for (const src of [req.query, req.body]) {
    if (!src || typeof src !== 'object') continue;
    for (const k of ['grant_type', 'client_id', 'scope', 'device_code'] as const) {
      const v = (src as Record<string, unknown>)[k];
      // (device_code whole: its codeRef must match the one made from the code answer)
      if (typeof v === 'string') out[k] = k === 'device_code' ? v : v.slice(0, 500);
    }
  }
  return out;
}
