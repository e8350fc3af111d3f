/**
 * MSAL's network module on undici. Every connection is judged by the device's TLS (src/adapters/tls: its trust store at
 * its clock) — functionally MSAL's default client otherwise, which we cannot wrap because msal-node does not export it.
 * We bring our own for two reasons MSAL cannot serve:
 *  - the device needs the AADSTS code of a polling error (65001 consent vs 53003 policy...), and MSAL's device code
 *    client throws `post_request_failed` with only the `error` word: the client keeps each error body by
 *    correlation id so the adapter can read it back;
 *  - 429/5xx and transport failures are thrown as typed errors (see errors.ts) instead of being blurred.
 * One instance per device (no shared state between devices).
 */
import type { LookupFunction } from 'node:net';
import { Agent, buildConnector, request, type Dispatcher } from 'undici';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { EntraHttpError, EntraTransportError, isTlsErrorCode, type EntraErrorBody } from './errors.ts';
import type { DeviceTls } from '../tls/deviceTls.ts';

const KEEP_BODIES = 16;
/** Long enough to carry a sign-in's device-code polls (1 s apart on the fleet's tenant) on one connection; the
 * connection is let go as soon as the exchange ends (endExchange). */
const IDLE_CONNECTION_MS = 5_000;

export interface EntraNetworkClientOptions {
  /** The device's TLS judgement (its trust store, its clock), read at every new connection. */
  tls: DeviceTls;
  /** ms for connect, headers and body each (MSAL passes no timeouts for POSTs). */
  timeoutMs?: number;
  /** Name → address for the sockets (a bench resolver); absent = the system's. URLs and TLS names are unchanged. */
  lookup?: LookupFunction;
}

export class EntraNetworkClient implements INetworkModule {
  /** Built on the first request: a device that boots and never talks to Entra parses no CA and opens no pool. */
  private pool: Agent | null = null;
  private readonly makeAgent: () => Agent;
  /** Last 4xx error body per correlation id (bounded). */
  private readonly errorBodies = new Map<string, EntraErrorBody>();
  /** `expires_in` of the last token response per correlation id (bounded). */
  private readonly lifetimes = new Map<string, number>();
  /** Why the last GET (OpenID discovery) failed; MSAL reports such failures only as `endpoints_resolution_error`. */
  lastDiscoveryFailure: EntraTransportError | EntraHttpError | null = null;

  constructor(opts: EntraNetworkClientOptions) {
    const timeout = opts.timeoutMs ?? 30_000;
    // A connector per connection, so a store imported or a clock set since the last one is what the next one sees;
    // no session cache (a resumed session skips the device's check).
    const connect: buildConnector.connector = (o, cb) =>
      buildConnector({ ...opts.tls.connectOptions(), ...(opts.lookup ? { lookup: opts.lookup } : {}), timeout, maxCachedSessions: 0 })(o, cb);
    // One connection per origin (undici then builds a Client, not a Pool): a printer talks to one Entra host, one
    // request at a time but for MSAL's two discovery GETs. A Pool costs ~20 KiB of heap per printer (its 2,048-slot
    // queue) and opened a second keep-alive TLS connection for those GETs (both ends live in a fleet's process).
    // An idle connection is closed after IDLE_CONNECTION_MS of wall time whatever keep-alive the server offers (the
    // twin's Fastify offers 72 s): a printer talks to Entra once an hour, and a fleet's process would otherwise hold
    // both ends of every printer's idle connection (EMFILE at 10,000 printers).
    this.makeAgent = () =>
      new Agent({ connect, connections: 1, headersTimeout: timeout, bodyTimeout: timeout, keepAliveTimeout: IDLE_CONNECTION_MS, keepAliveMaxTimeout: IDLE_CONNECTION_MS });
  }

  private get agent(): Agent {
    return (this.pool ??= this.makeAgent());
  }

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options).then(
      (r) => {
        this.lastDiscoveryFailure = null;
        return r;
      },
      (err: unknown) => {
        if (err instanceof EntraTransportError || err instanceof EntraHttpError) this.lastDiscoveryFailure = err;
        throw err;
      },
    );
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    return this.send<T>('POST', url, options);
  }

  /** The error body Entra sent on the last failed request of this correlation id. */
  errorBody(correlationId: string): EntraErrorBody | null {
    return this.errorBodies.get(correlationId) ?? null;
  }

  /**
   * The access token lifetime (ms) of the last token response of this correlation id, as the server said it.
   * MSAL's `expiresOn` counts from when polling started, which is minutes off after a slow sign-in.
   */
  expiresInMs(correlationId: string): number | null {
    const s = this.lifetimes.get(correlationId);
    return s === undefined ? null : s * 1000;
  }

  /**
   * The exchange (a sign-in, a refresh, an app-only request) is over: forget its bodies and let its connection go once
   * nothing is in flight on it. A printer talks to Entra about once an hour, and a fleet's process holds both ends of
   * every lingering connection: sign-ins finishing faster than the keep-alive window ran 200 printers out of 192
   * descriptors on an idle machine. The next exchange opens a new connection.
   */
  endExchange(correlationId: string): void {
    this.errorBodies.delete(correlationId);
    this.lifetimes.delete(correlationId);
    const pool = this.pool;
    this.pool = null;
    // close() waits for requests still in flight (none in the device's serialized use) and never rejects on idle sockets.
    pool?.close().catch(() => undefined);
  }

  close(): Promise<void> {
    return this.pool?.close() ?? Promise.resolve();
  }

  /** Abandons every request in flight (power off). */
  destroy(): Promise<void> {
    return this.pool?.destroy() ?? Promise.resolve();
  }

  private async send<T>(method: 'GET' | 'POST', url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const correlationId = options?.correlationId ?? '';
    let res: Dispatcher.ResponseData;
    let text: string;
    try {
      res = await request(url, { method, headers: options?.headers, body: options?.body, dispatcher: this.agent });
      text = await res.body.text();
    } catch (err) {
      throw transportError(err, url, correlationId);
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
    const body = parseJson(text);
    const status = res.statusCode;
    if (status === 429 || status >= 500) {
      throw new EntraHttpError(status, retryAfterMs(headers['retry-after']), isErrorBody(body) ? body : null, correlationId);
    }
    if (correlationId && status >= 400 && isErrorBody(body)) remember(this.errorBodies, correlationId, body);
    const expiresIn = Number((body as { expires_in?: unknown } | null)?.expires_in);
    if (correlationId && status < 300 && Number.isFinite(expiresIn) && expiresIn > 0) remember(this.lifetimes, correlationId, expiresIn);
    return { status, headers, body: (body ?? {}) as T };
  }
}

function remember<T>(map: Map<string, T>, key: string, value: T): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > KEEP_BODIES) map.delete(map.keys().next().value!);
}

function transportError(err: unknown, url: string, correlationId: string): EntraTransportError {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  // undici puts the socket's own error (ECONNREFUSED, a TLS verification code) in `cause` when it wraps it.
  const code = e?.cause?.code ?? e?.code ?? 'UNKNOWN';
  const message = e?.cause?.message ?? e?.message ?? String(err);
  return new EntraTransportError(isTlsErrorCode(code, message) ? 'tls' : 'network', code, url, message, correlationId);
}

function parseJson(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isErrorBody(v: unknown): v is EntraErrorBody {
  return typeof v === 'object' && v !== null && typeof (v as EntraErrorBody).error === 'string';
}

/** Retry-After: delta-seconds or an HTTP date (against the wall clock: it is the server's, not the device's). */
export function retryAfterMs(value: string | undefined): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
