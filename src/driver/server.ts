/**
 * Our simulated printer behind the driver protocol (`mfp-sim start --driver-port P`), with every capability, so the
 * black-box path runs in CI against a printer we know. A thin translation of the printer interface: requests are
 * checked with the protocol's schemas, refusals are RFC 7807 problems, and nothing here knows the printer's insides.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import type { DeviceKeyLoss, JobRecord, Printer, PrinterStatus, TransitionNotice } from '../device/printer.ts';
import { lastErrorWire } from '../device/failures.ts';
import { requireCapability } from '../device/printer.ts';
import { DeviceInputError } from '../device/validation.ts';
import { StorageFaultError } from '../device/storage-fault.ts';
import {
  DRIVER_BASE,
  DRIVER_PROTOCOL,
  DRIVER_PROTOCOL_VERSION,
  DRIVER_ROUTES,
  type DriverCall,
  type DriverCapability,
  type DriverJob,
  type DriverStatus,
  type DriverTransition,
} from './protocol.ts';

export interface DriverServerOptions {
  printer: Printer;
  name: string;
  host?: string;
  port?: number;
  /** Transitions kept for `GET /events` (oldest dropped first). */
  eventLimit?: number;
}

export interface DriverServer {
  url: string;
  close(): Promise<void>;
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
  ) {
    super(title);
  }
}

const MAX_BODY = 2_000_000;

export const publicJob = (j: JobRecord): DriverJob => ({
  id: j.id,
  messageId: j.messageId,
  status: j.status,
  to: j.to,
  subject: j.subject,
  attempts: j.attempts,
  reply: j.reply,
  createdAt: j.createdAt,
  updatedAt: j.updatedAt,
});

/** The status as v1 carries it: the last error's code as text plus its kind. */
export const publicStatus = (s: PrinterStatus): DriverStatus => ({ ...s, lastError: s.lastError ? { ...lastErrorWire(s.lastError) } : null });

export async function startDriverServer(opts: DriverServerOptions): Promise<DriverServer> {
  const { printer } = opts;
  const limit = opts.eventLimit ?? 1000;
  const capabilities: Record<DriverCapability, boolean> = {
    clock: printer.capabilities.clock,
    nvram: printer.capabilities.nvramImage,
    power: printer.capabilities.power,
    events: true,
  };
  const deviceKey = printer.capabilities.power && printer.power?.deviceKeyLoss === true;
  const transitions: DriverTransition[] = [];
  let seq = 0;
  const record = (n: Pick<TransitionNotice, 'at' | 'from' | 'to' | 'event'>) => {
    transitions.push({ seq: seq++, at: n.at, from: n.from, to: n.to, event: n.event });
    if (transitions.length > limit) transitions.shift();
  };
  const unsubscribe = printer.subscribe(record);

  const handlers: { [C in DriverCall]: (body: unknown, query: URLSearchParams) => Promise<unknown> } = {
    hello: async () => ({ protocol: DRIVER_PROTOCOL, version: DRIVER_PROTOCOL_VERSION, name: opts.name, capabilities: { ...capabilities, deviceKey, smtpAuth: true, oauth2AppOnly: true } }),
    status: async () => publicStatus(await printer.status()),
    saveSettings: (b) => printer.saveSettings(b),
    operator: (b) => printer.send(b as { type: 'START_AUTH' }),
    submitJob: async (b) => publicJob(await printer.submitJob(b)),
    jobs: async () => (await printer.jobs()).map(publicJob),
    idle: async () => {
      await printer.idle();
      return { ok: true };
    },
    powerCycle: async (b) => {
      const { offMs, deviceKey: loss } = b as { offMs: number; deviceKey?: DeviceKeyLoss };
      if (loss && !deviceKey) throw new Problem(501, 'capability not offered', 'this printer cannot lose its device key on a power cycle');
      const report = await requireCapability(printer, 'power').powerCycle(offMs, loss ? { deviceKey: loss } : undefined);
      // The boot's own transitions are not sent to subscribers: the event stream gets them from the report.
      report.transitions.forEach(record);
      return { stateAfter: report.stateAfter, outcome: report.outcome };
    },
    clock: async () => ({ now: await requireCapability(printer, 'clock').now() }),
    advanceClock: async (b) => {
      const clock = requireCapability(printer, 'clock');
      await clock.advance((b as { ms: number }).ms);
      return { now: await clock.now() };
    },
    nvram: async () => ({ content: await requireCapability(printer, 'nvramImage').content() }),
    events: async (_b, q) => {
      const after = Number(q.get('after') ?? '0');
      if (!Number.isInteger(after) || after < 0) throw new Problem(400, 'bad query', 'after must be a non-negative integer');
      return { next: seq, events: transitions.filter((t) => t.seq >= after) };
    },
  };
  const byRoute = new Map<string, DriverCall>(
    (Object.keys(DRIVER_ROUTES) as DriverCall[]).map((c) => [`${DRIVER_ROUTES[c].method} ${DRIVER_BASE}${DRIVER_ROUTES[c].path}`, c]),
  );

  const server = http.createServer((req, res) => {
    void (async () => {
      const send = (status: number, body: unknown, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(JSON.stringify(body));
      };
      try {
        const url = new URL(req.url ?? '/', 'http://driver');
        const call = byRoute.get(`${req.method} ${url.pathname}`);
        if (!call) throw new Problem(404, 'no such driver route', `${req.method} ${url.pathname}`);
        const route = DRIVER_ROUTES[call] as { request?: z.ZodType; capability?: DriverCapability };
        if (route.capability && !capabilities[route.capability]) throw new Problem(501, 'capability not offered', route.capability);
        const raw = await readBody(req);
        let body: unknown = undefined;
        if (route.request) {
          let json: unknown;
          try {
            json = JSON.parse(raw || 'null');
          } catch {
            throw new Problem(400, 'body is not JSON');
          }
          const parsed = route.request.safeParse(json);
          if (!parsed.success) throw new Problem(400, 'body does not match the protocol', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
          body = parsed.data;
        }
        send(200, await handlers[call](body, url.searchParams));
      } catch (err) {
        const p =
          err instanceof Problem
            ? err
            : err instanceof DeviceInputError
              ? new Problem(400, 'refused by the printer', err.message)
              : err instanceof StorageFaultError
                ? new Problem(503, 'refused by the printer: storage fault', err.message)
                : new Problem(500, 'driver error', (err as Error).message);
        send(p.status, { type: 'about:blank', title: p.title, status: p.status, ...(p.detail ? { detail: p.detail } : {}) }, 'application/problem+json');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const a = server.address() as AddressInfo;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    close: async () => {
      unsubscribe();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Problem(413, 'body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
