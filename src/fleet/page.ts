/**
 * The fleet page (`mfp-sim fleet --serve`): a small Fastify app over a FleetBoard, during or after the run.
 *   GET /fleet                    every printer and its state, and requests/s at the twins over simulated time (an
 *                                 SVG drawn on the server, as the storm report's), HTML refreshing itself while it runs
 *   GET /fleet/api/devices        the same as JSON
 *   GET /fleet/devices/:id        one printer's status view (HTML); /fleet/api/devices/:id as JSON
 * It reuses the panel's stylesheet by path. Rows hold states, counts and error reasons only: no token, no password.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { Eta } from 'eta';
import type { FleetBoard, FleetBoardView } from './board.ts';
import { kib } from './memory.ts';
import { codeText } from '../device/failures.ts';
import { VIRTUAL_CLOCK_START } from '../time/clock.ts';
import { stormChartSvg } from './storm.ts';
import type { DeviceRow } from './types.ts';

const VIEWS = fileURLToPath(new URL('./views', import.meta.url));
const PANEL_CSS = fileURLToPath(new URL('../panel/public/panel.css', import.meta.url));

const TONES: Record<string, string> = {
  authorized: 'ok',
  sending: 'busy',
  refreshing: 'busy',
  requestingCode: 'busy',
  codePending: 'busy',
  tokenExpired: 'warn',
  sendFailure: 'warn',
  authFailed: 'error',
  reauthRequired: 'error',
};
const tone = (state: string) => TONES[state] ?? 'idle';

export async function buildFleetPage(board: FleetBoard): Promise<FastifyInstance> {
  const eta = new Eta({ views: VIEWS, autoEscape: true, cache: true });
  const css = await readFile(PANEL_CSS, 'utf8');
  const app = Fastify({ logger: false });

  const common = (view: FleetBoardView, title: string) => ({
    title,
    board: view,
    running: view.running,
    tone,
    kib,
    codeText,
    simTime: view.simulatedAt ? `Simulated time ${new Date(view.simulatedAt).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'Starting',
    statusText: view.running ? `Running: ${view.phase ?? 'starting'}` : view.report?.ok ? 'Done: all authorized' : 'Done',
  });
  const rowOr404 = (id: string, reply: { code(n: number): unknown }): DeviceRow | null => {
    const row = board.row(id);
    if (!row) reply.code(404);
    return row ?? null;
  };

  app.get('/fleet/assets/panel.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=60').send(css));

  app.get('/fleet', async (_req, reply) => {
    const view = board.current();
    const counts = new Map<string, number>();
    for (const r of view.rows) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
    const states = [...counts].sort((a, b) => b[1] - a[1]).map(([state, count]) => ({ state, count, tone: tone(state) }));
    // The slices' clocks start at the VirtualClock origin (Monday 08:00): seconds of simulated time since then.
    const perSecond = view.traffic.map((t) => ({ second: Math.round((t.at - VIRTUAL_CLOCK_START) / 1000), tokenRequests: t.tokenRequests, smtpSubmissions: t.smtpSubmissions, throttled: t.throttled }));
    const chartSvg = perSecond.length
      ? stormChartSvg([{ label: 'token + SMTP requests', perSecond }], { xLabel: (s) => `${(s / 3600).toFixed(1)} h of simulated time`, ariaLabel: 'Requests per second at the twins over simulated time' })
      : null;
    return reply.type('text/html; charset=utf-8').send(eta.render('./fleet', { ...common(view, 'Fleet'), states, chartSvg }));
  });

  app.get('/fleet/api/devices', async () => {
    const view = board.current();
    return {
      devices: view.devices,
      phase: view.phase,
      running: view.running,
      progress: view.progress,
      simulatedAt: view.simulatedAt === null ? null : new Date(view.simulatedAt).toISOString(),
      items: view.rows.map((r) => ({ ...r, href: `/fleet/devices/${r.id}` })),
    };
  });

  app.get<{ Params: { id: string } }>('/fleet/api/devices/:id', async (req, reply) => {
    const row = rowOr404(req.params.id, reply);
    return row ?? { error: 'not_found', message: `no printer ${req.params.id}` };
  });

  app.get<{ Params: { id: string } }>('/fleet/devices/:id', async (req, reply) => {
    const row = rowOr404(req.params.id, reply);
    reply.type('text/html; charset=utf-8');
    if (!row) return `<!doctype html><title>Not found</title><p>No printer ${escapeHtml(req.params.id)}. <a href="/fleet">Fleet</a></p>`;
    return eta.render('./device', { ...common(board.current(), row.id), row });
  });

  app.get('/', async (_req, reply) => reply.redirect('/fleet'));
  return app;
}

export async function startFleetPage(board: FleetBoard, opts: { host?: string; port?: number } = {}): Promise<{ url: string; close(): Promise<void> }> {
  const app = await buildFleetPage(board);
  const host = opts.host ?? '127.0.0.1';
  await app.listen({ host, port: opts.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  return { url: `http://${host}:${port}/fleet`, close: () => app.close() };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
