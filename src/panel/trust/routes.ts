/**
 * The trust store on the panel: the "Certificates" page (list with subject, fingerprint and validity; import a PEM;
 * delete) and the JSON API under /api/settings/certificates. Both reach the store through the printer interface
 * (`printer.trustStore`), never the NVRAM. Registered inside the pages and API plugins, so their authentication,
 * CSRF and schema rules apply unchanged.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireCapability, type TrustedCertificate, type TrustStoreControl } from '../../device/printer.ts';
import type { PanelContext } from '../context.ts';
import { iso } from '../presenters.ts';
import { renderPage, setFlash } from '../render.ts';
import { fingerprintParams, importCertificateSchema, trustRefusalSchema } from './schemas.ts';

const REFUSALS = ['malformed', 'not-a-ca', 'duplicate', 'full', 'not-found'] as const;

/** A change the store refused (bad input, no room): `{reason, message}` from the local store or a remote printer. */
function refusalOf(err: unknown): { reason: (typeof REFUSALS)[number]; message: string } | null {
  const e = err as { reason?: unknown; message?: unknown } | null;
  return e && (REFUSALS as readonly unknown[]).includes(e.reason) ? { reason: e.reason as (typeof REFUSALS)[number], message: String(e.message) } : null;
}

export const certificateView = (c: TrustedCertificate) => ({ ...c, validFrom: iso(c.validFrom), validTo: iso(c.validTo), addedAt: iso(c.addedAt) });

const store = (ctx: PanelContext): TrustStoreControl => requireCapability(ctx.sim.printer, 'trustStore');
const NO_STORE = 'this printer does not offer its trust store';

export function trustApiRoutes(ctx: PanelContext, security: { [label: string]: string[] }[], errors: Record<number, unknown>) {
  return async function trustApi(app: FastifyInstance): Promise<void> {
    const refused = { 400: trustRefusalSchema, 404: trustRefusalSchema, 507: trustRefusalSchema };
    const send = async <T>(reply: FastifyReply, work: () => Promise<T>): Promise<T | FastifyReply> => {
      if (!ctx.sim.printer.capabilities.trustStore) return reply.code(409).send({ error: NO_STORE });
      try {
        return await work();
      } catch (err) {
        const r = refusalOf(err);
        if (!r) throw err;
        return reply.code(r.reason === 'not-found' ? 404 : r.reason === 'full' ? 507 : 400).send({ error: r.message, reason: r.reason });
      }
    };

    app.get('/settings/certificates', {
      schema: { tags: ['settings'], summary: "The TLS trust store: the roots the printer accepts Microsoft's (or the twin's) chain from", security, response: { 200: { $ref: 'TrustStore#' }, ...errors } },
    }, async (_request, reply) => send(reply, async () => ({ certificates: (await store(ctx).list()).map(certificateView) })));

    app.post<{ Body: { pem: string } }>('/settings/certificates', {
      schema: {
        tags: ['settings'],
        summary: 'Import one CA certificate (PEM); a non-CA, malformed or duplicate certificate is refused with its reason and nothing changes',
        security,
        body: importCertificateSchema,
        response: { 201: { $ref: 'TrustedCertificate#' }, ...errors, ...refused },
      },
    }, async (request, reply) => send(reply, async () => reply.code(201).send(certificateView(await store(ctx).importPem(request.body.pem)))));

    app.delete<{ Params: { fingerprint: string } }>('/settings/certificates/:fingerprint', {
      schema: {
        tags: ['settings'],
        summary: 'Delete a certificate by its SHA-256 fingerprint (a deleted factory root stays deleted across boots and firmware updates)',
        security,
        params: fingerprintParams,
        response: { 200: { $ref: 'TrustStore#' }, ...errors, ...refused },
      },
    }, async (request, reply) =>
      send(reply, async () => {
        await store(ctx).remove(request.params.fingerprint);
        return { certificates: (await store(ctx).list()).map(certificateView) };
      }),
    );
  };
}

export function trustPageRoutes(ctx: PanelContext, post: object) {
  return async function trustPages(app: FastifyInstance): Promise<void> {
    const page = async (req: FastifyRequest, reply: FastifyReply, error: string | null, pem = '', status = 200) =>
      renderPage(ctx, req, reply, 'certificates.eta', {
        title: 'Certificates',
        nav: 'certificates',
        certificates: ctx.sim.printer.capabilities.trustStore ? (await store(ctx).list()).map(certificateView) : null,
        error,
        pem,
      }, status);

    app.get('/settings/certificates', { schema: { hide: true } }, async (req, reply) => page(req, reply, null));

    app.post<{ Body: Record<string, string | undefined> }>('/settings/certificates', post, async (req, reply) => {
      const pem = req.body.pem ?? '';
      try {
        const added = await store(ctx).importPem(pem);
        setFlash(req, { kind: 'ok', text: `Imported "${added.subject}" (SHA-256 ${added.fingerprint}).` });
        return reply.redirect('/settings/certificates');
      } catch (err) {
        const r = refusalOf(err);
        if (!r) throw err;
        return page(req, reply, r.message, pem, r.reason === 'full' ? 507 : 400);
      }
    });

    app.post<{ Body: Record<string, string | undefined> }>('/settings/certificates/delete', post, async (req, reply) => {
      try {
        await store(ctx).remove(req.body.fingerprint ?? '');
        setFlash(req, { kind: 'ok', text: 'The certificate was deleted.' });
        return reply.redirect('/settings/certificates');
      } catch (err) {
        const r = refusalOf(err);
        if (!r) throw err;
        return page(req, reply, r.message, '', 404);
      }
    });
  };
}
