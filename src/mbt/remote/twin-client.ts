/**
 * The twin's control API (/_twin) reached over HTTPS, as a black-box harness sees it: a base URL, the twin's CA
 * (its certificate is self-issued) and an optional bearer token. Every call has a timeout; a refusal throws a
 * TwinCallError naming the route with the RFC 7807 detail. Only the routes the remote executor needs are wrapped.
 */
import https from 'node:https';
import http from 'node:http';
import type { FaultAction, FaultTarget } from '../../cloud/contracts.ts';

export interface TwinClientOptions {
  /** The twin's HTTPS base URL (the Entra listener), e.g. https://127.0.0.1:8443; a trailing /_twin is accepted. */
  url: string;
  /** PEM of the CA that issued the twin's certificate (the twin's ca.pem); system CAs when absent. */
  ca?: string | Buffer;
  /** Sent as `Authorization: Bearer …` when the twin sits behind a proxy that asks for one. */
  token?: string;
  timeoutMs?: number;
}

export class TwinCallError extends Error {
  constructor(
    readonly route: string,
    message: string,
    readonly status: number | null,
  ) {
    super(`twin control ${route}: ${message}`);
    this.name = 'TwinCallError';
  }
}

export type HoldTarget = 'device-code' | 'token' | 'smtp-connect' | 'smtp-auth' | 'smtp-data';
export interface Hold {
  id: string;
  state: 'armed' | 'holding' | 'released' | 'timed-out' | 'cancelled' | 'abandoned';
  target: HoldTarget;
  [k: string]: unknown;
}
export interface ConformanceRule {
  id: string;
  title: string;
  source: string;
  verdict: 'pass' | 'fail' | 'not-applicable';
  findings: string[];
  evidence: number[];
}
export interface ConformanceResult {
  entries: number;
  passed: boolean;
  rules: ConformanceRule[];
}

export class TwinControlClient {
  private readonly base: URL;
  constructor(private readonly opts: TwinClientOptions) {
    const u = new URL(opts.url);
    u.pathname = u.pathname.replace(/\/?(_twin\/?)?$/, '/');
    this.base = u;
  }

  get url(): string {
    return this.base.origin;
  }

  /** `waitMs`: how long the twin may wait on purpose before it answers (a long poll), on top of the call's timeout. */
  async call<T = unknown>(method: string, route: string, body?: unknown, waitMs = 0): Promise<T> {
    const url = new URL(`_twin${route}`, this.base);
    const label = `${method} /_twin${route.split('?')[0]}`;
    const timeoutMs = (this.opts.timeoutMs ?? 15_000) + waitMs;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const send = (fresh: boolean) => new Promise<{ status: number; text: string }>((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        {
          method,
          ca: this.opts.ca,
          ...(fresh ? { agent: false } : {}),
          headers: {
            accept: 'application/json',
            ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}),
          },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new TwinCallError(label, `no answer within ${timeoutMs} ms`, null)));
      req.on('error', (err) => {
        // A kept-alive connection the twin closed as idle (its keep-alive ends as the agent's does) just as this request
        // went out on it: the twin never read the request, so it is sent again once, on a new connection (Node's
        // documented pattern for `reusedSocket`).
        if (!fresh && req.reusedSocket && (err as NodeJS.ErrnoException).code === 'ECONNRESET') return resolve(send(true));
        reject(err instanceof TwinCallError ? err : new TwinCallError(label, `cannot reach the twin at ${this.base.origin} (${(err as NodeJS.ErrnoException).code ?? err.message})`, null));
      });
      req.end(payload);
    });
    const { status, text } = await send(false);
    let json: unknown = undefined;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: judged below */
    }
    if (status < 200 || status >= 300) {
      const p = json as { detail?: string; title?: string; message?: string } | undefined;
      throw new TwinCallError(label, `HTTP ${status}: ${p?.detail ?? p?.message ?? p?.title ?? text.slice(0, 200)}`, status);
    }
    return json as T;
  }

  clock(): Promise<{ now: number; kind: string }> {
    return this.call('GET', '/clock');
  }
  addFault(target: FaultTarget, action: FaultAction, count = 1): Promise<unknown> {
    return this.call('POST', '/faults', { target, action, count });
  }
  clearFaults(): Promise<unknown> {
    return this.call('DELETE', '/faults');
  }
  approve(userCode: string, upn: string): Promise<unknown> {
    return this.call('POST', `/device-codes/${encodeURIComponent(userCode)}/approve`, { upn });
  }
  decline(userCode: string): Promise<unknown> {
    return this.call('POST', `/device-codes/${encodeURIComponent(userCode)}/decline`, {});
  }
  async messages(upn: string): Promise<{ folder?: string }[]> {
    const body = await this.call<unknown>('GET', `/mailboxes/${encodeURIComponent(upn)}/messages`);
    if (Array.isArray(body)) return body as { folder?: string }[];
    const wrapped = (body as { messages?: unknown })?.messages;
    if (Array.isArray(wrapped)) return wrapped as { folder?: string }[];
    throw new TwinCallError(`GET /_twin/mailboxes/${upn}/messages`, 'answer is not a list of messages', 200);
  }
  armHold(target: HoldTarget, opts: { grantType?: string; timeoutMs?: number } = {}): Promise<Hold> {
    return this.call('POST', '/holds', { target, ...(opts.grantType ? { grantType: opts.grantType } : {}), timeoutMs: opts.timeoutMs ?? 600_000 });
  }
  hold(id: string, until?: 'holding' | 'finished', waitMs?: number): Promise<Hold> {
    const wait = until ? Math.min(60_000, Math.max(0, Math.round(waitMs ?? 10_000))) : 0;
    const q = until ? `?until=${until}&waitMs=${wait}` : '';
    return this.call('GET', `/holds/${encodeURIComponent(id)}${q}`, undefined, wait);
  }
  holds(): Promise<Hold[]> {
    return this.call<Hold[] | { holds: Hold[] }>('GET', '/holds').then((b) => (Array.isArray(b) ? b : (b?.holds ?? [])));
  }
  release(id: string, outcome?: FaultAction | 'proceed'): Promise<Hold> {
    return this.call('POST', `/holds/${encodeURIComponent(id)}/release`, outcome === undefined ? {} : { outcome });
  }
  cancelHolds(): Promise<unknown> {
    return this.call('DELETE', '/holds');
  }
  conformance(query = ''): Promise<ConformanceResult> {
    return this.call('GET', `/conformance${query}`);
  }
}
