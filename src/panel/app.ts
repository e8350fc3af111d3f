/**
 * buildPanel: the Web Image Monitor as a Fastify instance (for app.inject() and for startPanel). Plugins, one concern
 * each: security (helmet, session, CSRF, rate limit), auth (login, Basic, lockout), static assets, views, OpenAPI,
 * the JSON API, server-sent events, the pages. No module-level state: each call builds an independent panel.
 */
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Eta } from 'eta';
import { createPanelContext } from './context.ts';
import { apiPlugin } from './plugins/api.ts';
import { registerAuth, requireAdminPage } from './plugins/auth.ts';
import { registerErrorHandling } from './plugins/errors.ts';
import { pagesPlugin } from './plugins/pages.ts';
import { registerSecurity } from './plugins/security.ts';
import { ssePlugin } from './plugins/sse.ts';
import { clockSettingsSchema, dispatchResultSchema, errorSchema, jobSchema, smtpSettingsSchema, statusSchema } from './schemas.ts';
import { trustedCertificateSchema, trustStoreSchema } from './trust/schemas.ts';
import type { PanelOptions } from './types.ts';

const VIEWS = fileURLToPath(new URL('./views', import.meta.url));
const PUBLIC = fileURLToPath(new URL('./public', import.meta.url));

export interface PanelInstanceInfo {
  /** The password generated on first boot (to print once), or null. */
  generatedPassword: string | null;
  /** Password checks (scrypt verifications) run since start: what the lockout bounds. */
  passwordChecks(): number;
}

declare module 'fastify' {
  interface FastifyInstance {
    panel: PanelInstanceInfo;
  }
}

export async function buildPanel(opts: PanelOptions): Promise<FastifyInstance> {
  const explicit = opts.adminPassword ?? process.env.MFP_ADMIN_PASSWORD;
  const { generatedPassword } = await opts.sim.printer.admin.ensure(explicit);
  const ctx = createPanelContext(opts.sim);

  const app = Fastify({
    // Fastify 5 takes an existing pino instance as `loggerInstance` (`logger` only takes options).
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    // Strict JSON: "587" is not a port, unknown fields are errors, not silently dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
    bodyLimit: 256 * 1024,
    ...(opts.schemaCompilers ? { schemaController: { compilersFactory: opts.schemaCompilers } } : {}),
    // Requests Fastify refuses before routing (an undecodable URL such as /api/%C0%AF) get the panel's error shape.
    frameworkErrors: (error, _request, reply) => {
      (reply as FastifyReply).code(400).send({ error: `bad request: ${error.message}` });
    },
  }) as unknown as FastifyInstance;
  app.decorate('panel', { generatedPassword, passwordChecks: () => ctx.lockout.verifications });

  registerErrorHandling(app);
  for (const schema of [errorSchema, statusSchema, smtpSettingsSchema, dispatchResultSchema, jobSchema, clockSettingsSchema, trustedCertificateSchema, trustStoreSchema]) app.addSchema(schema);

  await registerSecurity(app, { sessionKey: opts.sessionKey, allowedHosts: opts.allowedHosts });
  await app.register(fastifyStatic, { root: PUBLIC, prefix: '/assets/', index: false, cacheControl: true, maxAge: 60_000 });
  await app.register(view, {
    engine: { eta: new Eta({ views: VIEWS, autoEscape: true, cache: true }) },
    templates: VIEWS,
    layout: 'layout.eta',
    production: true,
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Web Image Monitor API (mfp-oauth-sim)',
        version: '1.0.0',
        description: 'The simulated printer panel. Times are ISO 8601 strings (UTC) on the device clock. See docs/panel.md.',
      },
      servers: opts.publicUrl ? [{ url: opts.publicUrl }] : [],
      components: {
        securitySchemes: {
          basicAuth: { type: 'http', scheme: 'basic', description: 'admin:<password>' },
          sessionCookie: { type: 'apiKey', in: 'cookie', name: 'wim_session', description: 'Login session; writes also need the x-csrf-token header' },
        },
      },
    },
  });
  await registerAuth(app, ctx, { loginRateLimit: opts.loginRateLimit ?? 10 });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    uiHooks: { onRequest: requireAdminPage },
  });

  await app.register(apiPlugin(ctx), { prefix: '/api' });
  await app.register(ssePlugin(ctx), { prefix: '/api' });
  await app.register(pagesPlugin(ctx));
  return app;
}
