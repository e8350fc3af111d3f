/**
 * GET /api/events: server-sent events. On connect a `status` event; then a `transition` event per device transition
 * (`{ at, from, to, event, status }`), and a `boot` event when a power cycle replaced the device (the stream follows
 * the new one). Comment pings keep proxies and browsers from timing the stream out.
 */
import type { FastifyInstance } from 'fastify';
import type { TransitionNotice } from '../../device/printer.ts';
import { deviceNow, type PanelContext } from '../context.ts';
import { statusView, transitionView } from '../presenters.ts';
import { requireAdminApi } from './auth.ts';

const PING_MS = 15_000;

export function ssePlugin(ctx: PanelContext) {
  return async function sse(app: FastifyInstance): Promise<void> {
    const open = new Set<() => void>();
    app.addHook('onRequest', requireAdminApi);
    // Open streams would keep close() waiting forever: end them first.
    app.addHook('preClose', async () => {
      for (const end of [...open]) end();
    });

    app.get('/events', {
      schema: {
        tags: ['device'],
        summary: 'Server-sent events: status on connect, then one "transition" event per transition, "boot" after a power cycle',
        security: [{ basicAuth: [] }, { sessionCookie: [] }],
        produces: ['text/event-stream'],
      },
    }, (request, reply) => {
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        ...(reply.getHeaders() as Record<string, string>),
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      let seq = 0;
      const send = (event: string, data: unknown) => {
        raw.write(`id: ${++seq}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const onTransition = (t: TransitionNotice) => send('transition', transitionView(t, deviceNow(ctx)));
      // The printer's subscription outlives power cycles; a boot is announced with the status it came back in.
      const unsubscribe = ctx.sim.printer.subscribe(onTransition);
      const offBoot = ctx.sim.printer.onBoot(() => {
        void ctx.sim.printer.status().then((s) => {
          if (!ended) send('boot', statusView(s, deviceNow(ctx)));
        });
      });
      const ping = setInterval(() => raw.write(': ping\n\n'), PING_MS);
      ping.unref();
      let ended = false;
      const end = () => {
        if (ended) return;
        ended = true;
        clearInterval(ping);
        unsubscribe();
        offBoot();
        open.delete(end);
        raw.end();
      };
      open.add(end);
      request.raw.on('close', end);
      raw.write('retry: 2000\n\n');
      void ctx.sim.printer.status().then((s) => {
        if (!ended) send('status', statusView(s, deviceNow(ctx)));
      });
    });
  };
}
