/**
 * The harness's side of the driver protocol: a printer reached over HTTP. Every call has a timeout; an answer that
 * is not JSON, does not match its schema, names an unknown state, or comes from another protocol version throws a
 * DriverError naming the call, so a run ends with a message a tester can act on instead of hanging or guessing.
 * Answers are validated with the same zod schemas the JSON Schemas are generated from (zod is already ours; ajv
 * would validate the generated JSON Schemas instead, a second path to the same rules).
 */
import type { z } from 'zod';
import {
  DRIVER_BASE,
  DRIVER_PROTOCOL,
  DRIVER_PROTOCOL_VERSION,
  DRIVER_ROUTES,
  problemSchema,
  type DriverCall,
  type DriverCapability,
  type DriverDispatchResult,
  type DriverJob,
  type DriverJobRequest,
  type DriverStatus,
  type DriverTransition,
  type Hello,
} from './protocol.ts';
import type { OperatorEventType, SmtpSettings } from '../device/printer.ts';

export class DriverError extends Error {
  constructor(
    readonly call: DriverCall,
    message: string,
    /** 'timeout' | 'unreachable' | 'malformed' | 'refused' | 'version' | 'capability' */
    readonly kind: string,
  ) {
    super(`driver call ${call} (${DRIVER_ROUTES[call].method} ${DRIVER_BASE}${DRIVER_ROUTES[call].path}): ${message}`);
    this.name = 'DriverError';
  }
}

export interface DriverClientOptions {
  /** Base URL of the driver, e.g. http://127.0.0.1:9100 */
  url: string;
  /** Per-call timeout (ms). */
  timeoutMs?: number;
}

export const DEFAULT_DRIVER_TIMEOUT_MS = 10_000;

/** A printer behind a driver. Create with `connectDriver`, which checks the protocol version first. */
export interface DriverClient {
  readonly hello: Hello;
  readonly capabilities: Record<DriverCapability, boolean> & { deviceKey?: boolean; smtpAuth?: boolean; oauth2AppOnly?: boolean };
  status(): Promise<DriverStatus>;
  /** The settings, with the method's write-only secret when it has one (`smtpPassword`, `clientSecret`). */
  saveSettings(settings: SmtpSettings & { smtpPassword?: string; clientSecret?: string }): Promise<DriverDispatchResult>;
  send(event: { type: OperatorEventType }): Promise<DriverDispatchResult>;
  submitJob(job: DriverJobRequest): Promise<DriverJob>;
  jobs(): Promise<DriverJob[]>;
  idle(): Promise<void>;
  /** `deviceKey`: the key is lost while off (only when hello declares capabilities.deviceKey). */
  powerCycle(offMs: number, deviceKey?: 'deleted' | 'replaced' | 'truncated'): Promise<{ stateAfter: DriverStatus['state'] }>;
  now(): Promise<number>;
  advance(ms: number): Promise<number>;
  nvram(): Promise<Record<string, unknown>>;
  events(after: number): Promise<{ next: number; events: DriverTransition[] }>;
}

/** One call: request, timeout, RFC 7807 refusals, JSON and schema check of the answer. */
export async function callDriver<C extends DriverCall>(
  opts: DriverClientOptions,
  call: C,
  body?: unknown,
  query = '',
  /** Runs on the parsed JSON before the schema check (hello: the version is judged before the shape). */
  precheck?: (json: unknown) => void,
): Promise<z.infer<(typeof DRIVER_ROUTES)[C]['answer']>> {
  const route = DRIVER_ROUTES[call];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DRIVER_TIMEOUT_MS;
  const url = new URL(`${DRIVER_BASE}${route.path}${query}`, opts.url);
  let res: Response;
  let text: string;
  try {
    // One signal covers connect, headers and body: a driver that sends headers and then stalls still times out.
    const signal = AbortSignal.timeout(timeoutMs);
    res = await fetch(url, {
      method: route.method,
      signal,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new DriverError(call, `no answer within ${timeoutMs} ms`, 'timeout');
    throw new DriverError(call, `cannot reach the driver at ${opts.url} (${e.cause?.code ?? e.message})`, 'unreachable');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DriverError(call, `answer is not JSON (HTTP ${res.status}: ${JSON.stringify(text.slice(0, 120))})`, 'malformed');
  }
  if (!res.ok) {
    const p = problemSchema.safeParse(json);
    throw new DriverError(call, `refused with HTTP ${res.status}: ${p.success ? (p.data.detail ?? p.data.title) : text.slice(0, 200)}`, 'refused');
  }
  precheck?.(json);
  const parsed = route.answer.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new DriverError(call, `answer does not match the protocol: ${issues.join('; ')}`, 'malformed');
  }
  return parsed.data as z.infer<(typeof DRIVER_ROUTES)[C]['answer']>;
}

export async function connectDriver(opts: DriverClientOptions): Promise<DriverClient> {
  // Version first, before the schema: a driver of another version may have another hello shape too.
  const hello = await callDriver(opts, 'hello', undefined, '', (json) => {
    const j = (json ?? {}) as { protocol?: unknown; version?: unknown };
    if (j.protocol !== DRIVER_PROTOCOL || j.version !== DRIVER_PROTOCOL_VERSION) {
      throw new DriverError(
        'hello',
        `driver speaks ${String(j.protocol)} version ${String(j.version)}; this harness speaks ${DRIVER_PROTOCOL} version ${DRIVER_PROTOCOL_VERSION}`,
        'version',
      );
    }
  });
  const need = (call: DriverCall) => {
    const cap = (DRIVER_ROUTES[call] as { capability?: DriverCapability }).capability;
    if (cap && !hello.capabilities[cap]) throw new DriverError(call, `the printer does not declare the ${cap} capability`, 'capability');
  };
  const c = async <C extends DriverCall>(call: C, body?: unknown, query?: string) => {
    need(call);
    return callDriver(opts, call, body, query);
  };
  return {
    hello,
    capabilities: hello.capabilities,
    status: () => c('status'),
    saveSettings: (settings) => c('saveSettings', settings),
    send: (event) => c('operator', { type: event.type }),
    submitJob: (job) => c('submitJob', job),
    jobs: () => c('jobs'),
    idle: async () => {
      await c('idle', {});
    },
    powerCycle: async (offMs, deviceKey) => {
      need('powerCycle');
      // A printer without a virtual clock stays off for offMs of wall time before it answers: that is not a hang.
      const timeoutMs = (opts.timeoutMs ?? DEFAULT_DRIVER_TIMEOUT_MS) + (hello.capabilities.clock ? 0 : offMs);
      return callDriver({ ...opts, timeoutMs }, 'powerCycle', deviceKey ? { offMs, deviceKey } : { offMs });
    },
    now: async () => (await c('clock')).now,
    advance: async (ms) => (await c('advanceClock', { ms })).now,
    nvram: async () => (await c('nvram')).content,
    events: (after) => c('events', undefined, `?after=${after}`),
  };
}
