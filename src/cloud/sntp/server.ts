/**
 * The twin's time server: SNTP (RFC 4330) over UDP, answering with the shared clock's time (the world's time, which
 * a printer's own RTC may disagree with). Stratum 1 with reference "LOCL": the twin is its own reference.
 * Requests that are not well-formed client packets (mode 3, version 1–4, 48 bytes or more) get no answer, as a
 * server does with garbage. `setReachable(false)` is the "NTP unreachable" fault: requests are dropped silently.
 */
import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from 'pino';
import type { Clock } from '../../time/clock.ts';
import { decodeSntp, encodeSntp, MODE_CLIENT, MODE_SERVER, SntpFormatError } from '../../time/sntp-packet.ts';

export interface SntpServerOptions {
  clock: Clock;
  host?: string;
  /** 0 (default) = ephemeral. */
  port?: number;
  logger?: Logger;
}

export interface SntpServer {
  readonly host: string;
  readonly port: number;
  /** Requests answered so far (diagnostics). */
  answered(): number;
  /** The "NTP unreachable" fault when false: requests are dropped. */
  setReachable(reachable: boolean): void;
  reachable(): boolean;
  close(): Promise<void>;
}

/** Replies a server builds for one request; null = no answer. Exported for tests of the packet logic. */
export function answerSntp(request: Buffer, now: number): Buffer | null {
  let req;
  try {
    req = decodeSntp(request);
  } catch (err) {
    if (err instanceof SntpFormatError) return null;
    throw err;
  }
  if (req.mode !== MODE_CLIENT || req.version < 1 || req.version > 4) return null;
  const reply = encodeSntp({
    leap: 0,
    version: req.version,
    mode: MODE_SERVER,
    stratum: 1,
    poll: req.poll,
    precision: -20, // about a microsecond
    rootDelay: 0,
    rootDispersion: 0,
    referenceId: 'LOCL',
    referenceMs: now,
    originateMs: null,
    receiveMs: now,
    transmitMs: now,
  });
  // RFC 4330 section 5: the originate field is the request's transmit timestamp, copied unchanged.
  req.transmitRaw.copy(reply, 24);
  return reply;
}

export async function startSntpServer(opts: SntpServerOptions): Promise<SntpServer> {
  const host = opts.host ?? '127.0.0.1';
  const socket: Socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let reachable = true;
  let answered = 0;
  socket.on('message', (msg, rinfo) => {
    if (!reachable) return;
    const reply = answerSntp(msg, opts.clock.now());
    if (!reply) {
      opts.logger?.debug({ from: rinfo.address, bytes: msg.length }, 'sntp: ignored a malformed request');
      return;
    }
    answered++;
    socket.send(reply, rinfo.port, rinfo.address);
  });
  socket.on('error', (err) => opts.logger?.warn({ err }, 'sntp: socket error'));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port ?? 0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const port = socket.address().port;
  return {
    host,
    port,
    answered: () => answered,
    setReachable(r) {
      reachable = r;
    },
    reachable: () => reachable,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
