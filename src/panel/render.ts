/** Renders a page inside the panel layout with what every page shows: header identity, navigation, CSRF token, flash. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PanelContext } from './context.ts';
import { browserWordingJson, METHOD_LABELS, STATE_TITLES, STATE_TONE } from './wording.ts';

export type Flash = { kind: 'info' | 'ok' | 'warn' | 'error'; text: string };

export const NAV = [
  { href: '/status', label: 'Status', key: 'status' },
  { href: '/settings/smtp', label: 'SMTP', key: 'smtp' },
  { href: '/oauth', label: 'OAuth 2.0 Authentication', key: 'oauth' },
  { href: '/mail/test', label: 'Send Test E-mail', key: 'mail' },
  { href: '/jobs', label: 'Job Log', key: 'jobs' },
  { href: '/events', label: 'Event Log', key: 'events' },
  { href: '/statechart', label: 'Statechart', key: 'statechart' },
  { href: '/nvram', label: 'NVRAM', key: 'nvram' },
  { href: '/settings/clock', label: 'Date/Time', key: 'clock' },
  { href: '/settings/certificates', label: 'Certificates', key: 'certificates' },
  { href: '/maintenance', label: 'Maintenance', key: 'maintenance' },
] as const;

export function setFlash(request: FastifyRequest, flash: Flash): void {
  request.session.set('flash', flash);
}

export async function renderPage(
  ctx: PanelContext,
  request: FastifyRequest,
  reply: FastifyReply,
  view: string,
  data: Record<string, unknown> & { title: string; nav?: string },
  status = 200,
): Promise<FastifyReply> {
  const printer = ctx.sim.printer;
  const [{ state }, identity] = await Promise.all([printer.status(), printer.identity()]);
  const flash = request.session.get('flash') ?? null;
  if (flash) request.session.set('flash', undefined);
  return reply
    .code(status)
    .header('Cache-Control', 'no-store')
    .view(view, {
      ...data,
      nav: data.nav ?? null,
      navItems: NAV,
      loggedIn: request.adminVia !== null,
      csrfToken: reply.generateCsrf(),
      flash,
      product: ctx.productName,
      serial: identity.serial,
      deviceId: identity.id,
      headerState: { state, title: STATE_TITLES[state], tone: STATE_TONE[state] },
      wordingJson: browserWordingJson(),
      methodLabels: METHOD_LABELS,
      cloud: ctx.sim.twin ? 'Microsoft twin (offline)' : 'Microsoft',
    });
}
