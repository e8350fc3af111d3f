/**
 * The printer's SNTP client (RFC 4330 section 5): one request, one answer, the clock offset from the four
 * timestamps. Timestamps T1/T4 are read on the printer's own RTC, so the offset is how far that RTC is from the
 * server. The outcome is a value, never a throw, so the firmware can turn it into an event.
 *
 * The answer wait is in wall time (the UDP datagram travels on the real loopback whatever clock the world runs on),
 * bounded by `timeoutMs`.
 */
import { createSocket } from 'node:dgram';
import type { Clock } from '../time/clock.ts';
import { decodeSntp, encodeSntp, MODE_CLIENT, MODE_SERVER, SntpFormatError } from '../time/sntp-packet.ts';

export type SntpOutcome =
  | { ok: true; offsetMs: number; roundTripMs: number; serverTime: number; stratum: number }
  | { ok: false; reason: 'timeout' | 'kiss-of-death' | 'bad-reply' | 'socket'; message: string };

export interface SntpQuery {
  host: string;
  port: number;
  /** The printer's clock (its RTC). */
  clock: Clock;
  /** Default 2000 ms of wall time. */
  timeoutMs?: number;
}

export function querySntp(q: SntpQuery): Promise<SntpOutcome> {
  const timeoutMs = q.timeoutMs ?? 2000;
  const socket = createSocket(q.host.includes(':') ? 'udp6' : 'udp4');
  return new Promise<SntpOutcome>((resolve) => {
    let done = false;
    const finish = (o: SntpOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: 'timeout', message: `no SNTP answer from ${q.host}:${q.port} within ${timeoutMs} ms` }), timeoutMs);
    timer.unref?.();
    const t1 = q.clock.now();
    const request = encodeSntp({
      leap: 3, // "clock not synchronized", as RFC 4330 suggests for a client
      version: 4,
      mode: MODE_CLIENT,
      stratum: 0,
      poll: 0,
      precision: 0,
      rootDelay: 0,
      rootDispersion: 0,
      referenceId: '',
      referenceMs: null,
      originateMs: null,
      receiveMs: null,
      transmitMs: t1,
    });
    const sentRaw = request.subarray(40, 48);
    socket.on('error', (err) => finish({ ok: false, reason: 'socket', message: err.message }));
    socket.on('message', (msg) => {
      const t4 = q.clock.now();
      let reply;
      try {
        reply = decodeSntp(msg);
      } catch (err) {
        if (err instanceof SntpFormatError) return finish({ ok: false, reason: 'bad-reply', message: err.message });
        throw err;
      }
      // RFC 4330 section 5: check mode, the echo of our timestamp (else a stray or forged reply), and a usable server.
      if (reply.mode !== MODE_SERVER) return finish({ ok: false, reason: 'bad-reply', message: `reply mode ${reply.mode}, expected ${MODE_SERVER}` });
      if (!msg.subarray(24, 32).equals(sentRaw)) return finish({ ok: false, reason: 'bad-reply', message: 'reply does not echo our transmit timestamp' });
      if (reply.stratum === 0) return finish({ ok: false, reason: 'kiss-of-death', message: `server refused: kiss code ${reply.referenceId || '(none)'}` });
      if (reply.leap === 3 || reply.transmitMs === null || reply.receiveMs === null) {
        return finish({ ok: false, reason: 'bad-reply', message: 'server clock is not synchronized' });
      }
      const t2 = reply.receiveMs;
      const t3 = reply.transmitMs;
      finish({
        ok: true,
        offsetMs: Math.round((t2 - t1 + (t3 - t4)) / 2),
        roundTripMs: Math.max(0, t4 - t1 - (t3 - t2)),
        serverTime: t3,
        stratum: reply.stratum,
      });
    });
    socket.send(request, q.port, q.host, (err) => {
      if (err) finish({ ok: false, reason: 'socket', message: err.message });
    });
  });
}
