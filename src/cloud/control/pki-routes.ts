/**
 * /_twin/pki: the twin's root and a root migration (src/cloud/pki.ts). Registered inside the /_twin plugin (its access
 * check and OpenAPI document); a refused request (a migration already scheduled, no key to cross-sign with) is a 409
 * and changes nothing.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { PkiError, type TwinPki } from '../pki.ts';

const rootSchema = {
  type: 'object',
  properties: {
    subject: { type: 'string' },
    fingerprint: { type: 'string', description: 'SHA-256, AA:BB:…' },
    validFrom: { type: 'string', format: 'date-time' },
    validTo: { type: 'string', format: 'date-time' },
    pem: { type: 'string', description: 'The root certificate (what a printer admin imports)' },
  },
} as const;

const statusSchema = {
  type: 'object',
  properties: {
    root: rootSchema,
    previous: { type: 'array', items: rootSchema },
    crossSigned: { type: 'boolean', description: 'The served chain carries a cross-certificate signed by the previous root' },
    scheduled: {
      type: ['object', 'null'],
      properties: { at: { type: 'string', format: 'date-time' }, root: rootSchema, crossSign: { type: 'boolean' } },
    },
  },
} as const;

const refusal = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } } } as const;

export function pkiRoutes(pki: () => TwinPki | null) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const tags = ['pki'];
    const refuse = (reply: FastifyReply, err: unknown) => {
      if (err instanceof PkiError) return reply.code(409).send({ error: 'pki_refused', message: err.message });
      throw err;
    };
    const the = (reply: FastifyReply): TwinPki | null => {
      const p = pki();
      if (!p) void reply.code(409).send({ error: 'pki_refused', message: 'the twin is still starting' });
      return p;
    };

    app.get('/pki', { schema: { tags, summary: "The root the twin's certificate chain leads to now, earlier roots, a scheduled migration", response: { 200: statusSchema, 409: refusal } } }, (_req, reply) => the(reply)?.status() ?? reply);

    app.post<{ Body: { at?: string; crossSign?: boolean; name?: string } }>(
      '/pki/migrate',
      {
        schema: {
          tags,
          summary: 'Root migration: re-issue the server certificates (Entra and Exchange) under a new root at a twin-clock time; printers without the new root then fail unknown-ca',
          body: {
            type: 'object',
            additionalProperties: false,
            properties: {
              at: { type: 'string', format: 'date-time', description: "Twin clock time to switch at (absent or past: at once)" },
              crossSign: { type: 'boolean', description: 'Serve the new root cross-signed by the old one too (a transition period: old-root printers keep working)' },
              name: { type: 'string', minLength: 1, maxLength: 64, description: 'Common name of the new root' },
            },
          },
          response: { 200: statusSchema, 409: refusal },
        },
      },
      async (req, reply) => {
        const p = the(reply);
        if (!p) return reply;
        const { at, crossSign, name } = req.body ?? {};
        try {
          return await p.migrate({ ...(at !== undefined ? { at: Date.parse(at) } : {}), ...(crossSign !== undefined ? { crossSign } : {}), ...(name !== undefined ? { name } : {}) });
        } catch (err) {
          return refuse(reply, err);
        }
      },
    );

    app.delete('/pki/migrate', { schema: { tags, summary: 'Cancel a scheduled migration (nothing was served yet)', response: { 200: statusSchema, 409: refusal } } }, (_req, reply) => the(reply)?.cancel() ?? reply);
  };
}
